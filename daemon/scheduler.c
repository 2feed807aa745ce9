#include "scheduler.h"

#include "history.h"
#include "ib_sched.h"
#include "log.h"
#include "msgid.h"
#include "runs.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* Nothing due: wake up once a year anyway (and on clock changes). */
#define IDLE_REARM_S (365 * 24 * 3600)

static ibd_task *task_of(ibd_heap_node *n)
{
    return (ibd_task *)((char *)n - offsetof(ibd_task, node));
}

static bool is_periodic(const ibd_task *t)
{
    return t->def->mode == IB_MODE_PERIODIC && t->def->has_schedule;
}

char *ibd_task_started_text(const ib_task *def)
{
    cJSON *j = cJSON_Parse(def->canonical_json);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "started");
    char *out = cJSON_IsString(s) ? strdup(s->valuestring) : NULL;
    cJSON_Delete(j);
    return out;
}

ibd_task *ibd_task_new(ib_task *def, int64_t created_at)
{
    ibd_task *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->def = def;
    t->created_at = created_at;
    t->started_text = ibd_task_started_text(def);
    t->node.pos = IBD_HEAP_NONE;
    ibd_history_init(&t->hist);
    return t;
}

void ibd_task_free(ibd_task *t)
{
    if (!t)
        return;
    if (t->def)
        ib_task_free(t->def);
    free(t->started_text);
    ibd_history_clear(&t->hist);
    free(t);
}

ibd_task *ibd_find_task(const ibd *d, const char *name)
{
    size_t lo = 0, hi = d->n_tasks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->tasks[mid]->def->name, name);
        if (c == 0)
            return d->tasks[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

ibd_task *ibd_sched_next(const ibd *d)
{
    ibd_heap_node *n = ibd_heap_top(&d->heap);
    return n ? task_of(n) : NULL;
}

static void save_last_slot(ibd *d, ibd_task *t, int64_t slot)
{
    t->last_slot = slot;
    ib_err err;
    ib_err_clear(&err);
    if (ib_store_set_last_slot(d->store, t->def->name, slot, &err) != 0)
        ibd_log_err("task %s: cannot record its last slot: %s", t->def->name, err.msg);
}

/* Queue the next slot after t->last_slot. */
static void schedule_next(ibd *d, ibd_task *t)
{
    ibd_heap_remove(&d->heap, &t->node);
    time_t due = ib_sched_next_after(&t->def->schedule, (time_t)t->last_slot);
    if (due == (time_t)-1) {
        ibd_log_warning("task %s: no further slot can be computed; it will not run again",
                        t->def->name);
        return;
    }
    t->node.due = due;
    if (ibd_heap_push(&d->heap, &t->node) != 0)
        ibd_log_err("task %s: out of memory scheduling it", t->def->name);
}

/* The latest slot at or before now, or -1 if slot 0 is still ahead. */
static time_t latest_slot(const ib_schedule *s, time_t now)
{
    int64_t k = ib_sched_next_index(s, now);
    return k > 0 ? ib_sched_slot_time(s, k - 1) : (time_t)-1;
}

static void submit(ibd *d, ibd_task *t, ib_trigger trigger)
{
    ib_err err;
    ib_err_clear(&err);
    if (ibd_run_submit(d, t, trigger, -1, NULL, &err) != 0) {
        ibd_log_fields f = {.task = t->def->name,
                            .trigger = ib_trigger_name(trigger),
                            .error_code = ib_code_name(err.code)};
        ibd_log(LOG_ERR, &f, "task %s: cannot start its %s run: %s", t->def->name,
                ib_trigger_name(trigger), err.msg);
    }
}

static void catch_up(ibd *d, ibd_task *t, int64_t missed, time_t now)
{
    char since[64];
    ib_format_local_time((time_t)t->last_slot, since, sizeof since);
    ibd_log_fields f = {.task = t->def->name, .trigger = ib_trigger_name(IB_TRIGGER_CATCH_UP)};
    if (t->def->catch_up == IB_CATCH_UP_SKIP) {
        f.msgid = IBD_MSGID_RUN_SKIPPED;
        f.result = ib_result_name(IB_RESULT_SKIPPED);
        ibd_log(LOG_NOTICE, &f,
                "task %s: skipped %" PRId64 " missed run(s) since %s (catch_up is \"skip\")",
                t->def->name, missed, since);
    } else {
        ibd_log(LOG_NOTICE, &f,
                "task %s: %" PRId64 " run(s) missed since %s; running once now (catch-up)",
                t->def->name, missed, since);
        submit(d, t, IB_TRIGGER_CATCH_UP);
    }
    save_last_slot(d, t, latest_slot(&t->def->schedule, now));
}

/* A last slot later than now means the wall clock was stepped back after
 * that slot was handled (it ran ahead, then NTP corrected it). Scheduling
 * from it would keep the task silent until the clock catches up, possibly
 * years. Unless it is just the next slot after now (a small step: that slot
 * has run, the one after it is at most a period away), move it back to the
 * latest slot at or before now: the next run is the first slot after now,
 * with no catch-up, since no slot was missed. Returns true if it moved. */
static bool rewind_future_slot(ibd *d, ibd_task *t, time_t now)
{
    const ib_schedule *s = &t->def->schedule;
    if (t->last_slot <= (int64_t)now || ib_sched_next_after(s, now) == (time_t)t->last_slot)
        return false;
    char was[64];
    ib_format_local_time((time_t)t->last_slot, was, sizeof was);
    ibd_log_fields f = {.task = t->def->name};
    ibd_log(LOG_WARNING, &f,
            "task %s: its last handled slot %s is later than now (the system clock was "
            "stepped back); rescheduling from now without a catch-up run",
            t->def->name, was);
    /* As for a new task when slot 0 is still ahead: now, so slot 0 is next. */
    time_t latest = latest_slot(s, now);
    save_last_slot(d, t, latest != (time_t)-1 ? latest : now);
    return true;
}

void ibd_sched_task_added(ibd *d, ibd_task *t, const ib_task_record *rec, time_t now)
{
    if (!is_periodic(t))
        return;
    const ib_schedule *s = &t->def->schedule;
    if (!rec || !rec->has_last_slot) {
        /* New: only future slots count; catch-up is about downtime. */
        time_t latest = latest_slot(s, now);
        save_last_slot(d, t, latest != (time_t)-1 ? latest : now);
    } else {
        t->last_slot = rec->last_slot;
        int64_t missed = ib_sched_count_between(s, (time_t)rec->last_slot, now);
        if (missed > 0)
            catch_up(d, t, missed, now);
        else
            rewind_future_slot(d, t, now);
    }
    schedule_next(d, t);
}

void ibd_sched_task_changed(ibd *d, ibd_task *t, time_t now)
{
    ibd_heap_remove(&d->heap, &t->node);
    if (!is_periodic(t))
        return;
    ib_task_record rec;
    bool found = false;
    memset(&rec, 0, sizeof rec);
    ib_err err;
    ib_err_clear(&err);
    if (ib_store_get_task(d->store, t->def->name, &rec, &found, &err) != 0)
        ibd_log_err("task %s: %s", t->def->name, err.msg);
    if (!found || !rec.has_last_slot) {
        ibd_sched_task_added(d, t, NULL, now);
    } else {
        time_t latest = latest_slot(&t->def->schedule, now);
        t->last_slot = rec.last_slot;
        if (latest != (time_t)-1 && latest > (time_t)rec.last_slot)
            save_last_slot(d, t, latest);
        else
            rewind_future_slot(d, t, now);
        schedule_next(d, t);
    }
    ib_task_record_clear(&rec);
}

void ibd_sched_task_removed(ibd *d, ibd_task *t)
{
    ibd_heap_remove(&d->heap, &t->node);
}

/* A slot of t is due. A run still active means this slot is skipped. */
static void handle_due(ibd *d, ibd_task *t, time_t now)
{
    const ib_schedule *s = &t->def->schedule;
    time_t slot = latest_slot(s, now);
    int64_t passed = ib_sched_count_between(s, (time_t)t->last_slot, now);
    if (t->run) {
        char reason[128];
        snprintf(reason, sizeof reason, "previous run %" PRId64 " still %s", t->run->id,
                 t->run->state == IBD_RUN_RUNNING ? "running" : "queued");
        int64_t id = 0;
        ib_err err;
        ib_err_clear(&err);
        if (ib_store_run_skipped(d->store, t->def->name, IB_TRIGGER_SCHEDULE, now, reason, &id,
                                 &err) != 0)
            ibd_log_err("task %s: cannot record a skipped run: %s", t->def->name, err.msg);
        ibd_log_fields f = {.msgid = IBD_MSGID_RUN_SKIPPED,
                            .task = t->def->name,
                            .run_id = id,
                            .trigger = ib_trigger_name(IB_TRIGGER_SCHEDULE),
                            .result = ib_result_name(IB_RESULT_SKIPPED)};
        ibd_log(LOG_WARNING, &f, "task %s: scheduled run skipped: %s", t->def->name, reason);
    } else {
        if (passed > 1)
            ibd_log_notice("task %s: %" PRId64 " slots passed at once (clock step or suspend); "
                           "running once",
                           t->def->name, passed);
        submit(d, t, IB_TRIGGER_SCHEDULE);
    }
    if (slot != (time_t)-1)
        save_last_slot(d, t, slot);
    schedule_next(d, t);
}

void ibd_sched_rearm(ibd *d)
{
    if (d->stopping || d->clock.fd < 0)
        return;
    ibd_heap_node *top = ibd_heap_top(&d->heap);
    time_t when = top ? top->due : time(NULL) + IDLE_REARM_S;
    ib_err err;
    ib_err_clear(&err);
    if (ibd_clockwatch_arm(&d->clock, when, &err) != 0)
        ibd_log_err("%s", err.msg);
}

/* After a clock step: tasks whose last slot is now in the future. */
static void rewind_future_slots(ibd *d, time_t now)
{
    for (size_t i = 0; i < d->n_tasks; i++) {
        ibd_task *t = d->tasks[i];
        if (is_periodic(t) && rewind_future_slot(d, t, now))
            schedule_next(d, t);
    }
}

void ibd_sched_wake(ibd *d, time_t now, bool clock_changed)
{
    if (d->stopping)
        return;
    if (clock_changed) {
        ibd_log_notice("the system clock changed; rechecking due times");
        rewind_future_slots(d, now);
    }
    ibd_heap_node *top;
    while ((top = ibd_heap_top(&d->heap)) && top->due <= now) {
        ibd_task *t = task_of(top);
        ibd_heap_remove(&d->heap, top);
        handle_due(d, t, now);
    }
    ibd_runs_pump(d);
    ibd_sched_rearm(d);
    ibd_on_runs_changed(d);
}

static void on_wake(void *ctx, bool clock_changed)
{
    /* Wall time is re-read on every wake-up: the timer may fire early or late
     * relative to it after clock changes. */
    ibd_sched_wake(ctx, time(NULL), clock_changed);
}

static int sync_task(ibd *d, ib_task *def, time_t now, ibd_task **out, ib_task_record *rec,
                     ib_err *err)
{
    if (ib_store_sync_task(d->store, def->name, def->canonical_json, now, rec, err) != 0)
        return -1;
    *out = ibd_task_new(def, rec->created_at);
    if (!*out)
        return ib_err_set(err, IB_E_NOMEM, "out of memory loading task %s", def->name);
    return 0;
}

/* The store side of start-up: one transaction for every task, since
 * thousands of separate commits take seconds. */
static int sync_tasks(ibd *d, ib_taskset *set, const char **names, ib_task_record *recs, time_t now,
                      ib_err *err)
{
    if (ib_store_batch_begin(d->store, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < set->len; i++) {
        rc = sync_task(d, set->items[i], now, &d->tasks[i], &recs[i], err);
        if (rc == 0) {
            set->items[i] = NULL; /* owned by d->tasks[i] now */
            names[i] = d->tasks[i]->def->name;
            d->n_tasks++;
        }
    }
    if (rc == 0)
        rc = ib_store_disable_tasks_except(d->store, names, d->n_tasks, err);
    if (rc == 0)
        rc = ibd_clockwatch_init(d->loop, &d->clock, on_wake, d, err);
    for (size_t i = 0; rc == 0 && i < d->n_tasks; i++)
        ibd_sched_task_added(d, d->tasks[i], &recs[i], now);
    if (rc == 0)
        return ib_store_batch_commit(d->store, err);
    ib_store_batch_rollback(d->store);
    return -1;
}

int ibd_sched_start(ibd *d, ib_taskset *set, ib_err *err)
{
    time_t now = time(NULL);
    d->tasks = calloc(set->len ? set->len : 1, sizeof *d->tasks);
    const char **names = calloc(set->len ? set->len : 1, sizeof *names);
    ib_task_record *recs = calloc(set->len ? set->len : 1, sizeof *recs);
    if (!d->tasks || !names || !recs) {
        free(names);
        free(recs);
        return ib_err_set(err, IB_E_NOMEM, "out of memory loading tasks");
    }
    int rc = sync_tasks(d, set, names, recs, now, err);
    if (rc == 0)
        rc = ibd_history_load_all(d, err);
    for (size_t i = 0; i < set->len; i++) {
        ib_task_record_clear(&recs[i]);
        if (set->items[i])
            ib_task_free(set->items[i]); /* those not taken over */
        set->items[i] = NULL;
    }
    set->len = 0;
    free(recs);
    free(names);
    ibd_sched_rearm(d);
    return rc;
}

void ibd_sched_stop(ibd *d)
{
    ibd_clockwatch_close(&d->clock);
}
