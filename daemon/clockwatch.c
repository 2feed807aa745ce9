#include "clockwatch.h"

#include <errno.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <unistd.h>

static void on_poll(uv_poll_t *poll, int status, int events)
{
    (void)events;
    ibd_clockwatch *cw = poll->data;
    if (status < 0)
        return;
    uint64_t expirations;
    ssize_t n = read(cw->fd, &expirations, sizeof expirations);
    if (n == (ssize_t)sizeof expirations)
        cw->on_wake(cw->ctx, false);
    else if (n < 0 && errno == ECANCELED)
        cw->on_wake(cw->ctx, true); /* the caller re-arms, which resets the cancel state */
}

int ibd_clockwatch_init(uv_loop_t *loop, ibd_clockwatch *cw,
                        void (*on_wake)(void *ctx, bool clock_changed), void *ctx, ib_err *err)
{
    cw->on_wake = on_wake;
    cw->ctx = ctx;
    cw->fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
    if (cw->fd < 0)
        return ib_err_errno(err, IB_E_INTERNAL, errno, "cannot create the scheduler's timerfd");
    int rc = uv_poll_init(loop, &cw->poll, cw->fd);
    if (rc == 0)
        rc = uv_poll_start(&cw->poll, UV_READABLE, on_poll);
    if (rc != 0) {
        close(cw->fd);
        cw->fd = -1;
        return ib_err_set(err, IB_E_INTERNAL, "cannot watch the scheduler's timerfd: %s",
                          uv_strerror(rc));
    }
    cw->poll.data = cw;
    return 0;
}

int ibd_clockwatch_arm(ibd_clockwatch *cw, time_t when, ib_err *err)
{
    /* An expiration of 0 would disarm the timer (and clock-change detection). */
    struct itimerspec its = {.it_value = {.tv_sec = when > 0 ? when : 1, .tv_nsec = 0}};
    if (timerfd_settime(cw->fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) != 0)
        return ib_err_errno(err, IB_E_INTERNAL, errno, "cannot arm the scheduler's timerfd");
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    ibd_clockwatch *cw = h->data;
    close(cw->fd);
    cw->fd = -1;
}

void ibd_clockwatch_close(ibd_clockwatch *cw)
{
    if (cw->fd < 0 || uv_is_closing((uv_handle_t *)&cw->poll))
        return;
    uv_close((uv_handle_t *)&cw->poll, on_closed);
}
