/* Splitting a byte stream into bounded lines (control requests, worker
 * events). */
#ifndef IBD_LINEBUF_H
#define IBD_LINEBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct ibd_linebuf {
    char *buf;
    size_t len, cap;
    size_t max;    /* longest accepted line, without its '\n' */
    bool overflow; /* inside a line longer than max: discarding until '\n' */
} ibd_linebuf;

/* A complete line (NUL-terminated, without '\n'), or with too_long set the
 * report of an over-long line (line NULL). Return false to stop feeding. */
typedef bool (*ibd_line_cb)(void *ctx, char *line, size_t len, bool too_long);

void ibd_linebuf_init(ibd_linebuf *lb, size_t max);
void ibd_linebuf_free(ibd_linebuf *lb);

/* Feed bytes; calls cb per complete line. Returns false when cb asked to
 * stop or memory ran out (reported once as too_long). */
bool ibd_linebuf_feed(ibd_linebuf *lb, const char *data, size_t n, ibd_line_cb cb, void *ctx);

/* uv_alloc_cb for a stream read through a linebuf: a malloc'd buffer of at
 * most 64 KiB (len 0 when out of memory: libuv then reports UV_ENOBUFS). */
void ibd_linebuf_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* For a uv_read_cb: feeds the n > 0 bytes read into lb (unless skip) and
 * frees buf->base (allocated by ibd_linebuf_alloc). Returns false when cb
 * asked to stop. n < 0 (EOF, error) is left to the caller. */
bool ibd_linebuf_read(ibd_linebuf *lb, ssize_t n, const uv_buf_t *buf, bool skip, ibd_line_cb cb,
                      void *ctx);

#endif
