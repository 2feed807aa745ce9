/* Fuzz target: the control socket's framing (daemon/linebuf.c), which
 * splits what a client sends into bounded request lines before the daemon
 * parses each as JSON. Parsing and validating a request line
 * (daemon/control_parse.c) is fuzz_control's target.
 *
 * Input: byte 0 picks the line limit (small ones make over-long lines
 * reachable; 0 picks the daemon's own IBD_CONTROL_LINE_MAX), byte 1 seeds
 * the sizes of the chunks the stream arrives in and whether the callback
 * stops at an over-long line (as the daemon does), the rest is the stream.
 * The lines and over-long reports must be exactly those of a plain
 * reference split, in order, however the stream is chunked. */
#include "fuzz_util.h"

#include "control.h"
#include "linebuf.h"

#include <cjson/cJSON.h>

typedef struct event {
    size_t off, len; /* the line in the stream; too_long: len is unused */
    bool too_long;
} event;

typedef struct expect {
    const char *stream;
    event *ev;
    size_t n, next;
    bool stop_on_too_long;
} expect;

/* The reference: every '\n'-terminated line up to max bytes is delivered,
 * a longer one (terminated or not) is reported once. */
static size_t reference_split(const char *s, size_t len, size_t max, event *ev)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        bool end = i == len;
        if (!end && s[i] != '\n')
            continue;
        size_t l = i - start;
        if (l > max)
            ev[n++] = (event){start, 0, true};
        else if (!end)
            ev[n++] = (event){start, l, false};
        start = i + 1;
    }
    return n;
}

static bool on_line(void *ctx, char *line, size_t len, bool too_long)
{
    expect *x = ctx;
    FUZZ_CHECK(x->next < x->n);
    const event *e = &x->ev[x->next++];
    FUZZ_CHECK(e->too_long == too_long);
    if (too_long) {
        FUZZ_CHECK(line == NULL);
        return !x->stop_on_too_long;
    }
    FUZZ_CHECK(line != NULL && len == e->len);
    FUZZ_CHECK(memcmp(line, x->stream + e->off, len) == 0 && line[len] == '\0');
    /* What the daemon does next with a request line. */
    cJSON_Delete(cJSON_ParseWithLength(line, len));
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = data[0] ? data[0] % 64 : IBD_CONTROL_LINE_MAX;
    uint32_t rng = data[1] * 2654435761u + 1;
    const char *stream = (const char *)data + 2;
    size_t len = size - 2;
    expect x = {.stream = stream, .stop_on_too_long = data[1] & 1};
    x.ev = malloc((len + 1) * sizeof *x.ev);
    FUZZ_CHECK(x.ev != NULL);
    x.n = reference_split(stream, len, max, x.ev);

    ibd_linebuf lb;
    ibd_linebuf_init(&lb, max);
    bool stopped = false;
    for (size_t off = 0; off < len && !stopped;) {
        rng = rng * 1103515245u + 12345u;
        size_t chunk = 1 + (rng >> 16) % 97;
        if (chunk > len - off)
            chunk = len - off;
        stopped = !ibd_linebuf_feed(&lb, stream + off, chunk, on_line, &x);
        off += chunk;
    }
    if (stopped) {
        FUZZ_CHECK(x.stop_on_too_long && x.ev[x.next - 1].too_long);
    } else {
        FUZZ_CHECK(x.next == x.n); /* every line, no more, no fewer */
    }
    ibd_linebuf_free(&lb);
    free(x.ev);
    return 0;
}
