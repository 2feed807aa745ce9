#include "linebuf.h"

#include <stdlib.h>
#include <string.h>

void ibd_linebuf_init(ibd_linebuf *lb, size_t max)
{
    memset(lb, 0, sizeof *lb);
    lb->max = max;
}

void ibd_linebuf_free(ibd_linebuf *lb)
{
    free(lb->buf);
    lb->buf = NULL;
    lb->len = lb->cap = 0;
}

static bool append(ibd_linebuf *lb, const char *data, size_t n)
{
    if (lb->len + n + 1 > lb->cap) {
        size_t cap = lb->cap ? lb->cap : 256;
        while (cap < lb->len + n + 1)
            cap *= 2;
        if (cap > lb->max + 1)
            cap = lb->max + 1;
        char *nb = realloc(lb->buf, cap);
        if (!nb)
            return false;
        lb->buf = nb;
        lb->cap = cap;
    }
    memcpy(lb->buf + lb->len, data, n);
    lb->len += n;
    lb->buf[lb->len] = '\0';
    return true;
}

bool ibd_linebuf_feed(ibd_linebuf *lb, const char *data, size_t n, ibd_line_cb cb, void *ctx)
{
    while (n > 0) {
        const char *nl = memchr(data, '\n', n);
        size_t chunk = nl ? (size_t)(nl - data) : n;
        if (!lb->overflow) {
            if (lb->len + chunk > lb->max || !append(lb, data, chunk)) {
                lb->overflow = true;
                lb->len = 0;
                if (!cb(ctx, NULL, 0, true))
                    return false;
            }
        }
        if (!nl)
            return true;
        data += chunk + 1;
        n -= chunk + 1;
        if (lb->overflow) {
            lb->overflow = false; /* the long line ended here */
            continue;
        }
        size_t len = lb->len;
        lb->len = 0;
        if (!lb->buf && !append(lb, "", 0))
            return cb(ctx, NULL, 0, true);
        lb->buf[len] = '\0';
        if (!cb(ctx, lb->buf, len, false))
            return false;
    }
    return true;
}

/* Bounded so that one read never holds more than a request line's worth. */
#define READ_CHUNK_MAX 65536

void ibd_linebuf_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    if (suggested > READ_CHUNK_MAX)
        suggested = READ_CHUNK_MAX;
    buf->base = malloc(suggested);
    buf->len = buf->base ? suggested : 0;
}

bool ibd_linebuf_read(ibd_linebuf *lb, ssize_t n, const uv_buf_t *buf, bool skip, ibd_line_cb cb,
                      void *ctx)
{
    bool go_on = true;
    if (n > 0 && !skip)
        go_on = ibd_linebuf_feed(lb, buf->base, (size_t)n, cb, ctx);
    free(buf->base);
    return go_on;
}
