/* What the daemon reports about itself: the control protocol's status
 * answer and the one-line STATUS= for the service manager. */
#ifndef IBD_STATUS_H
#define IBD_STATUS_H

#include "daemon.h"
#include <cjson/cJSON.h>

/* The complete status answer (see docs/control-protocol.md), or NULL
 * without memory. */
cJSON *ibd_status_answer(ibd *d);

/* "3 tasks, 1 running, next: nightly at 2026-11-24T02:00:00+01:00" */
void ibd_status_line(const ibd *d, char *buf, size_t n);

/* Send STATUS= when the line changed. */
void ibd_status_notify(ibd *d);

/* The "running" object of a run (also used for progress events). */
void ibd_status_add_progress(cJSON *o, const ibd_run *run);

#endif
