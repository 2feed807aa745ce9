#include "history.h"

#include <stdlib.h>
#include <string.h>

void ibd_history_init(ibd_history *h)
{
    memset(h, 0, sizeof *h);
    h->copies_kept = -1;
}

void ibd_history_clear(ibd_history *h)
{
    ib_run_record_clear(&h->last_run);
    ibd_history_init(h);
}

/* Take over from (its strings move). A success recorded before the store
 * kept copies_kept leaves what this process knows. */
static void take_stored(ibd_history *h, ib_task_history *from)
{
    int64_t copies_kept = from->has_copies_kept ? from->copies_kept : h->copies_kept;
    ibd_history_clear(h);
    h->copies_kept = copies_kept;
    h->has_last_run = true;
    h->last_run = from->last_run;
    memset(&from->last_run, 0, sizeof from->last_run);
    const ib_run_record *r = &h->last_run;
    h->last_duration_s = r->end >= r->start ? (double)(r->end - r->start) : 0;
    h->last_success = from->last_success;
}

int ibd_history_load_all(ibd *d, ib_err *err)
{
    ib_task_history *hs = NULL;
    size_t n = 0;
    if (ib_store_last_runs_per_task(d->store, NULL, &hs, &n, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        ibd_task *t = ibd_find_task(d, hs[i].last_run.task);
        if (t)
            take_stored(&t->hist, &hs[i]);
    }
    ib_task_histories_free(hs, n);
    return 0;
}

int ibd_history_load_task(ibd *d, ibd_task *t, ib_err *err)
{
    ib_task_history *hs = NULL;
    size_t n = 0;
    if (ib_store_last_runs_per_task(d->store, t->def->name, &hs, &n, err) != 0)
        return -1;
    if (n == 1)
        take_stored(&t->hist, &hs[0]);
    ib_task_histories_free(hs, n);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

void ibd_history_record_run(ibd_task *t, const ibd_run *run)
{
    ibd_history *h = &t->hist;
    ib_run_record r = {
        .id = run->id,
        .task = strdup(run->task),
        .trigger = run->trigger,
        .type = run->done_type,
        .result = run->result,
        .start = run->accepted,
        .end = run->ended,
        .files_total = run->files_total_r,
        .files_sent = run->files_sent,
        .bytes_sent = run->bytes_sent,
        .files_deleted = run->files_deleted,
        .copy = dup_or_null(run->copy),
        .error_code = dup_or_null(run->error_code),
        .error = dup_or_null(run->error),
        .has_copies_kept = run->result == IB_RESULT_SUCCEEDED && run->copies_kept >= 0,
        .copies_kept = run->copies_kept,
    };
    ib_run_record_clear(&h->last_run);
    h->last_run = r; /* a string that did not fit in memory is left out */
    h->has_last_run = true;
    h->last_duration_s = run->duration_s;
    if (run->result == IB_RESULT_SUCCEEDED) {
        h->last_success = run->ended;
        h->copies_kept = r.has_copies_kept ? r.copies_kept : -1;
    }
}
