/* systemd notifications (Type=notify) and the watchdog. */
#ifndef IBD_NOTIFY_H
#define IBD_NOTIFY_H

#include "daemon.h"

void ibd_notify_ready(const char *status);
void ibd_notify_status(const char *status);
/* RELOADING=1 with MONOTONIC_USEC, as systemd's Type=notify-reload expects. */
void ibd_notify_reloading(void);
void ibd_notify_stopping(void);

/* If the service manager asked for a watchdog, ping it at half its interval
 * while the loop runs and the store answers. */
void ibd_watchdog_start(ibd *d);
void ibd_watchdog_stop(ibd *d);

#endif
