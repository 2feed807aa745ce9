#include "rate.h"

#include <string.h>

/* Samples closer together than this replace the newest one, so that the
 * ring spans the whole window however often the worker reports. */
#define SPACING_NS (IBD_RATE_WINDOW_NS / (IBD_RATE_SAMPLES - 1))
#define MIN_SPAN_NS 1000000000ull

void ibd_rate_reset(ibd_rate *r)
{
    memset(r, 0, sizeof *r);
}

static ibd_rate_sample *nth(ibd_rate *r, unsigned i)
{
    return &r->s[(r->head + i) % IBD_RATE_SAMPLES];
}

static const ibd_rate_sample *at(const ibd_rate *r, unsigned i)
{
    return &r->s[(r->head + i) % IBD_RATE_SAMPLES];
}

void ibd_rate_add(ibd_rate *r, uint64_t t_ns, int64_t bytes)
{
    if (r->n > 0 && bytes < nth(r, r->n - 1)->bytes)
        ibd_rate_reset(r);
    if (r->n >= 2 && t_ns - nth(r, r->n - 2)->t_ns < SPACING_NS) {
        *nth(r, r->n - 1) = (ibd_rate_sample){t_ns, bytes};
        return;
    }
    if (r->n == IBD_RATE_SAMPLES) {
        r->head = (r->head + 1) % IBD_RATE_SAMPLES;
        r->n--;
    }
    *nth(r, r->n) = (ibd_rate_sample){t_ns, bytes};
    r->n++;
}

bool ibd_rate_get(const ibd_rate *r, uint64_t now_ns, double *bytes_per_s)
{
    if (r->n == 0)
        return false;
    const ibd_rate_sample *newest = at(r, r->n - 1);
    uint64_t end = now_ns > newest->t_ns ? now_ns : newest->t_ns;
    const ibd_rate_sample *oldest = newest;
    for (unsigned i = 0; i < r->n; i++) {
        const ibd_rate_sample *s = at(r, i);
        if (end - s->t_ns <= IBD_RATE_WINDOW_NS || i == r->n - 1) {
            oldest = s;
            break;
        }
    }
    uint64_t span = end - oldest->t_ns;
    if (span < MIN_SPAN_NS)
        return false;
    *bytes_per_s = (double)(newest->bytes - oldest->bytes) * 1e9 / (double)span;
    return true;
}

bool ibd_rate_eta(const ibd_rate *r, uint64_t now_ns, int64_t bytes_done, int64_t bytes_total,
                  double *eta_s)
{
    double rate;
    if (bytes_total <= 0 || bytes_done > bytes_total || !ibd_rate_get(r, now_ns, &rate) ||
        rate <= 0)
        return false;
    *eta_s = (double)(bytes_total - bytes_done) / rate;
    return true;
}
