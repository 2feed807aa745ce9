/* Runs: acceptance (store record, policy), the FIFO queue bounded by
 * max_parallel_runs, one worker process per run (uv_spawn of our own binary
 * with --worker), its event lines, and the recorded outcome. */
#ifndef IBD_RUNS_H
#define IBD_RUNS_H

#include "daemon.h"
#include "ib_error.h"

/* Accept a run of t: decide the type (type_override < 0: the task's policy),
 * record it in the store, queue it. Refused with IB_E_TASK_RUNNING while t
 * has a queued or running run. Call ibd_runs_pump afterwards to start it. */
int ibd_run_submit(ibd *d, ibd_task *t, ib_trigger trigger, int type_override, ibd_run **out,
                   ib_err *err);

/* Start queued runs while fewer than max_parallel_runs are running. */
void ibd_runs_pump(ibd *d);

/* The queued or running run of a task named name, or NULL. */
ibd_run *ibd_runs_find_active(const ibd *d, const char *name);

/* Record a queued run as interrupted (never started) with reason. */
void ibd_run_cancel_queued(ibd_run *run, const char *reason);

/* Shutdown: cancel every queued run, send sig to every running worker. */
void ibd_runs_stop(ibd *d, int sig);

void ibd_run_add_waiter(ibd_run *run, ibd_run_waiter *w);
void ibd_run_remove_waiter(ibd_run *run, ibd_run_waiter *w);

/* Worker-reported result name to enum ("succeeded", "failed", "interrupted"). */
int ibd_result_parse(const char *s, ib_result *out);

/* Implemented by main.c: called after a run started or finished. */
void ibd_on_runs_changed(ibd *d);

#endif
