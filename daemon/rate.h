/* A run's transfer rate over a sliding window of its progress samples, and
 * the time left at that rate. */
#ifndef IBD_RATE_H
#define IBD_RATE_H

#include <stdbool.h>
#include <stdint.h>

#define IBD_RATE_SAMPLES 16
/* The rate covers about this much of the recent past. */
#define IBD_RATE_WINDOW_NS (20ull * 1000000000ull)

typedef struct ibd_rate_sample {
    uint64_t t_ns; /* monotonic */
    int64_t bytes;
} ibd_rate_sample;

typedef struct ibd_rate {
    ibd_rate_sample s[IBD_RATE_SAMPLES]; /* ring, oldest at head */
    unsigned head, n;
} ibd_rate;

void ibd_rate_reset(ibd_rate *r);

/* A progress report: bytes done at t_ns. Bytes going backwards restart the
 * window (a phase that counts anew). */
void ibd_rate_add(ibd_rate *r, uint64_t t_ns, int64_t bytes);

/* Bytes per second from the oldest sample in the window to now_ns (a run
 * that stalls slows down). False while less than a second is covered. */
bool ibd_rate_get(const ibd_rate *r, uint64_t now_ns, double *bytes_per_s);

/* Seconds until bytes_total at the current rate; false when unknown (no
 * rate, rate 0, or no total). */
bool ibd_rate_eta(const ibd_rate *r, uint64_t now_ns, int64_t bytes_done, int64_t bytes_total,
                  double *eta_s);

#endif
