/* The scheduler's wake-up: a CLOCK_REALTIME timerfd armed at an absolute
 * wall-clock instant, watched by a uv_poll. It fires at wall time even
 * across suspend, and with TFD_TIMER_CANCEL_ON_SET it also reports clock
 * steps (settimeofday, NTP steps, resume), after which due times must be
 * rechecked. */
#ifndef IBD_CLOCKWATCH_H
#define IBD_CLOCKWATCH_H

#include "ib_error.h"
#include <stdbool.h>
#include <time.h>
#include <uv.h>

typedef struct ibd_clockwatch {
    uv_poll_t poll;
    int fd;
    /* Called on the loop thread; clock_changed true after a clock step. */
    void (*on_wake)(void *ctx, bool clock_changed);
    void *ctx;
} ibd_clockwatch;

int ibd_clockwatch_init(uv_loop_t *loop, ibd_clockwatch *cw,
                        void (*on_wake)(void *ctx, bool clock_changed), void *ctx, ib_err *err);
/* Fire at wall-clock time when (immediately if it has passed). */
int ibd_clockwatch_arm(ibd_clockwatch *cw, time_t when, ib_err *err);
/* Stop watching and close; the fd is closed in the close callback. */
void ibd_clockwatch_close(ibd_clockwatch *cw);

#endif
