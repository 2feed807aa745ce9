/* Each task's last run, last success and the copies it kept, kept in
 * memory: loaded from the store at start-up with one query, then updated as
 * runs finish, so that status and metrics read no store at all. */
#ifndef IBD_HISTORY_H
#define IBD_HISTORY_H

#include "daemon.h"

void ibd_history_init(ibd_history *h);
void ibd_history_clear(ibd_history *h);

/* Fill every task's history (start-up). */
int ibd_history_load_all(ibd *d, ib_err *err);
/* Fill one task's history (a task added by a reload). */
int ibd_history_load_task(ibd *d, ibd_task *t, ib_err *err);

/* A run of t has finished with the outcome recorded in run. */
void ibd_history_record_run(ibd_task *t, const ibd_run *run);

#endif
