/* What the daemon reports about itself: the control protocol's status
 * answer and the one-line STATUS= for the service manager. */
#ifndef IBD_STATUS_H
#define IBD_STATUS_H

#include "daemon.h"
#include <cjson/cJSON.h>

/* The complete status answer (see docs/control-protocol.md) as one line
 * ending in '\n' (*len bytes, malloc'd), or NULL without memory. */
char *ibd_status_text(const ibd *d, size_t *len);

/* "3 tasks, 1 running, next: nightly at 2026-11-24T02:00:00+01:00" */
void ibd_status_line(const ibd *d, char *buf, size_t n);

/* Send STATUS= when the line changed. */
void ibd_status_notify(ibd *d);

/* The "running" object of a run. */
void ibd_status_add_progress(cJSON *o, const ibd_run *run);
/* "rate_bytes_per_s" and "eta_s" of a run (null while unknown); also in
 * the progress events of run --wait. */
void ibd_status_add_rate(cJSON *o, const ibd_run *run);

#endif
