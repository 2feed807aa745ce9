/* The scheduler: the enabled tasks, their next due slots in a min-heap and
 * one wall-clock timer for the earliest (clockwatch.h); catch-up after
 * downtime and skipping of slots that fall due while a run is active. */
#ifndef IBD_SCHEDULER_H
#define IBD_SCHEDULER_H

#include "daemon.h"

/* Wrap a parsed task (ownership taken; NULL on allocation failure). */
ibd_task *ibd_task_new(ib_task *def, int64_t created_at);
void ibd_task_free(ibd_task *t);
/* "started" exactly as written in the file (for status), or NULL. */
char *ibd_task_started_text(const ib_task *def);

/* Start-up: write every task of set into the store (disabling those not in
 * it), take the tasks into d->tasks, catch up on missed slots, arm the timer.
 * set is left empty. */
int ibd_sched_start(ibd *d, ib_taskset *set, ib_err *err);

/* A task that (re)appears: schedule it from the store's record, catching up
 * on slots missed since its last handled slot; a last slot later than now
 * (clock stepped back) is moved back to the latest slot at or before now. */
void ibd_sched_task_added(ibd *d, ibd_task *t, const ib_task_record *rec, time_t now);
/* A task whose definition changed while the daemon ran: new schedule from
 * now on, without catch-up. */
void ibd_sched_task_changed(ibd *d, ibd_task *t, time_t now);
/* A task leaving the scheduler (removed, or daemon exit). */
void ibd_sched_task_removed(ibd *d, ibd_task *t);

/* A wake-up of the timer at wall time now: after a clock step
 * (clock_changed), first move back the last slots that are now in the
 * future; then start the due tasks and re-arm. */
void ibd_sched_wake(ibd *d, time_t now, bool clock_changed);

/* Arm the timer for the earliest due task. */
void ibd_sched_rearm(ibd *d);
/* Stop scheduling (shutdown): close the timer. */
void ibd_sched_stop(ibd *d);

/* The task due first, or NULL. */
ibd_task *ibd_sched_next(const ibd *d);

#endif
