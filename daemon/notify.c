#include "notify.h"

#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

void ibd_notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void ibd_notify_status(const char *status)
{
    sd_notifyf(0, "STATUS=%s", status);
}

void ibd_notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, usec);
}

void ibd_notify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

static void on_watchdog(uv_timer_t *timer)
{
    ibd *d = timer->data;
    ib_err err;
    ib_err_clear(&err);
    /* The loop runs (this callback is proof); the store must answer too. */
    if (ib_store_ping(d->store, &err) != 0) {
        ibd_log_err("watchdog: the state store does not answer: %s", err.msg);
        return;
    }
    sd_notify(0, "WATCHDOG=1");
}

void ibd_watchdog_start(ibd *d)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    uint64_t ms = usec / 2000u;
    if (ms == 0)
        ms = 1;
    uv_timer_init(d->loop, &d->watchdog);
    d->watchdog.data = d;
    d->watchdog_on = true;
    uv_timer_start(&d->watchdog, on_watchdog, 0, ms);
    ibd_log_debug("watchdog enabled: ping every %" PRIu64 " ms", ms);
}

void ibd_watchdog_stop(ibd *d)
{
    if (!d->watchdog_on)
        return;
    d->watchdog_on = false;
    uv_close((uv_handle_t *)&d->watchdog, NULL);
}
