#include "reload.h"

#include "history.h"
#include "ib_diag_json.h"
#include "ib_storage.h"
#include "log.h"
#include "metrics.h"
#include "msgid.h"
#include "notify.h"
#include "runs.h"
#include "scheduler.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ibd_config_read(const char *config_dir, ib_config *cfg, ib_taskset *set, ib_diags *diags,
                    bool *settings_ok)
{
    *settings_ok = ib_config_load(config_dir, cfg, diags) == 0;
    int bad = ib_taskset_load(config_dir, set, diags);
    if (bad < 0 && ib_diags_errors(diags) == 0)
        ib_diags_add(diags, IB_SEV_ERROR, IB_E_TASK_FILE, "tasks.d", NULL, 0, 0,
                     "cannot read the task directory");
    return bad;
}

/* The task a diagnostic of "tasks.d/<name>.json" is about, into buf; NULL
 * for other files and for names that are no task name (E_TASK_NAME). */
static const char *diag_task(const ib_diag *dg, char *buf, size_t n)
{
    static const char dir[] = "tasks.d/", ext[] = ".json";
    const char *file = dg->file ? dg->file : "";
    size_t len = strlen(file);
    if (strncmp(file, dir, sizeof dir - 1) != 0 || len < sizeof dir - 1 + sizeof ext - 1 ||
        strcmp(file + len - (sizeof ext - 1), ext) != 0)
        return NULL;
    int w = snprintf(buf, n, "%.*s", (int)(len - (sizeof dir - 1) - (sizeof ext - 1)),
                     file + sizeof dir - 1);
    return w > 0 && (size_t)w < n && ib_task_name_valid(buf) ? buf : NULL;
}

void ibd_log_diags(const ib_diags *diags)
{
    char line[2048], task[IB_TASK_NAME_MAX + 1];
    for (size_t i = 0; i < diags->len; i++) {
        const ib_diag *dg = &diags->items[i];
        ib_diag_format(dg, line, sizeof line);
        ibd_log_fields f = {.error_code = ib_code_name(dg->code),
                            .task = diag_task(dg, task, sizeof task)};
        ibd_log(dg->severity == IB_SEV_ERROR ? LOG_ERR : LOG_WARNING, &f, "%s", line);
    }
}

void ibd_free_config_errors(ibd *d)
{
    for (size_t i = 0; i < d->n_config_errors; i++)
        free(d->config_errors[i]);
    free(d->config_errors);
    d->config_errors = NULL;
    d->n_config_errors = 0;
}

/* Kept as the protocol's JSON text: status answers embed them as they are. */
void ibd_set_config_errors(ibd *d, const ib_diags *diags)
{
    ibd_free_config_errors(d);
    if (diags->len == 0)
        return;
    d->config_errors = calloc(diags->len, sizeof *d->config_errors);
    if (!d->config_errors)
        return;
    for (size_t i = 0; i < diags->len; i++) {
        if (diags->items[i].severity != IB_SEV_ERROR)
            continue;
        cJSON *o = ib_diag_to_json(&diags->items[i]);
        char *s = o ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (s)
            d->config_errors[d->n_config_errors++] = s;
    }
}

cJSON *ibd_config_errors_json(const ibd *d)
{
    cJSON *errors = cJSON_CreateArray();
    for (size_t i = 0; errors && i < d->n_config_errors; i++) {
        cJSON *raw = cJSON_CreateRaw(d->config_errors[i]);
        if (!raw || !cJSON_AddItemToArray(errors, raw)) {
            cJSON_Delete(raw);
            cJSON_Delete(errors);
            return NULL;
        }
    }
    return errors;
}

int ibd_apply_settings(ibd *d, ib_config *cfg, ib_err *err)
{
    char *staging =
        cfg->staging_dir ? strdup(cfg->staging_dir) : ib_path_join(d->state_dir, "staging");
    if (!staging)
        return ib_err_set(err, IB_E_NOMEM, "out of memory applying the daemon settings");
    free(d->staging_root);
    d->staging_root = staging;
    ib_config_free(&d->cfg);
    d->cfg = *cfg;
    memset(cfg, 0, sizeof *cfg);
    ibd_log_set_level(d->cfg.log_level);
    return 0;
}

/* What a reload did, for the answer and the log. */
typedef struct reload_diff {
    cJSON *added, *changed, *removed;
    int unchanged;
} reload_diff;

static void store_upsert(ibd *d, const ib_task *def, int64_t *created_at, ib_task_record *rec)
{
    ib_err err;
    ib_err_clear(&err);
    bool found = false;
    if (ib_store_upsert_task(d->store, def->name, def->canonical_json, time(NULL), created_at,
                             &err) != 0 ||
        (rec && ib_store_get_task(d->store, def->name, rec, &found, &err) != 0))
        ibd_log_err("task %s: %s", def->name, err.msg);
}

static ibd_task *take_added(ibd *d, ib_task *def, time_t now)
{
    int64_t created_at = now;
    ib_task_record rec;
    memset(&rec, 0, sizeof rec);
    store_upsert(d, def, &created_at, &rec);
    ibd_task *t = ibd_task_new(def, created_at);
    if (!t) {
        ib_task_free(def);
        ib_task_record_clear(&rec);
        return NULL;
    }
    /* A run of an earlier incarnation of this task may still be going. */
    t->run = ibd_runs_find_active(d, def->name);
    ib_err err;
    ib_err_clear(&err);
    if (ibd_history_load_task(d, t, &err) != 0)
        ibd_log_err("task %s: %s", def->name, err.msg);
    ibd_sched_task_added(d, t, &rec, now);
    ib_task_record_clear(&rec);
    return t;
}

static ibd_task *take_changed(ibd *d, ibd_task *t, ib_task *def, time_t now)
{
    store_upsert(d, def, &t->created_at, NULL);
    ib_task_free(t->def);
    t->def = def;
    free(t->started_text);
    t->started_text = ibd_task_started_text(def);
    ibd_sched_task_changed(d, t, now);
    return t;
}

static void drop_removed(ibd *d, ibd_task *t)
{
    ibd_sched_task_removed(d, t);
    if (t->run && t->run->state == IBD_RUN_QUEUED)
        ibd_run_cancel_queued(t->run, "the task was removed before the run started");
    ibd_task_free(t); /* a running run finishes on its own */
}

/* Merge the sorted old tasks with the sorted new set into a new array. */
static ibd_task **merge_tasks(ibd *d, ib_taskset *set, size_t *n_out, reload_diff *diff)
{
    time_t now = time(NULL);
    ibd_task **out = calloc(set->len ? set->len : 1, sizeof *out);
    if (!out)
        return NULL;
    size_t i = 0, j = 0, n = 0;
    while (i < d->n_tasks || j < set->len) {
        ibd_task *old = i < d->n_tasks ? d->tasks[i] : NULL;
        ib_task *def = j < set->len ? set->items[j] : NULL;
        int c = !old ? 1 : !def ? -1 : strcmp(old->def->name, def->name);
        ibd_task *t = NULL;
        if (c < 0) {
            cJSON_AddItemToArray(diff->removed, cJSON_CreateString(old->def->name));
            drop_removed(d, old);
            i++;
            continue;
        }
        set->items[j++] = NULL;
        if (c > 0) {
            cJSON_AddItemToArray(diff->added, cJSON_CreateString(def->name));
            t = take_added(d, def, now);
        } else if (strcmp(old->def->canonical_json, def->canonical_json) != 0) {
            cJSON_AddItemToArray(diff->changed, cJSON_CreateString(def->name));
            t = take_changed(d, old, def, now);
            i++;
        } else {
            diff->unchanged++;
            ib_task_free(def); /* keeps its timer and its run */
            t = old;
            i++;
        }
        if (t)
            out[n++] = t;
    }
    *n_out = n;
    return out;
}

static void disable_missing(ibd *d)
{
    const char **names = calloc(d->n_tasks ? d->n_tasks : 1, sizeof *names);
    if (!names)
        return;
    for (size_t i = 0; i < d->n_tasks; i++)
        names[i] = d->tasks[i]->def->name;
    ib_err err;
    ib_err_clear(&err);
    if (ib_store_disable_tasks_except(d->store, names, d->n_tasks, &err) != 0)
        ibd_log_err("%s", err.msg);
    free(names);
}

static cJSON *failed_answer(ibd *d, const ib_diags *diags)
{
    size_t n = ib_diags_errors(diags);
    char msg[256];
    snprintf(msg, sizeof msg,
             "configuration has %zu error(s); the running configuration is unchanged", n);
    ibd_log_diags(diags);
    ibd_log_fields f = {.msgid = IBD_MSGID_RELOAD_FAILED, .error_code = "E_CONFIG"};
    ibd_log(LOG_ERR, &f, "reload failed: %s", msg);
    ibd_set_config_errors(d, diags);
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "v", 1);
    cJSON_AddBoolToObject(a, "ok", false);
    cJSON_AddStringToObject(a, "error_code", ib_code_name(IB_E_CONFIG));
    cJSON_AddStringToObject(a, "error", msg);
    cJSON *errors = ibd_config_errors_json(d);
    if (!errors || !cJSON_AddItemToObject(a, "errors", errors))
        cJSON_Delete(errors);
    return a;
}

static char *join_names(const cJSON *arr)
{
    char *s = cJSON_PrintUnformatted(arr);
    return s ? s : strdup("[]");
}

static cJSON *apply(ibd *d, ib_config *cfg, ib_taskset *set, const ib_diags *diags)
{
    reload_diff diff = {cJSON_CreateArray(), cJSON_CreateArray(), cJSON_CreateArray(), 0};
    size_t n = 0;
    ib_err err;
    ib_err_clear(&err);
    /* One transaction for the store writes of every added or changed task;
     * without it (store busy), each write is its own. */
    bool batch = ib_store_batch_begin(d->store, &err) == 0;
    if (!batch)
        ibd_log_warning("reload: %s", err.msg);
    ibd_task **tasks = merge_tasks(d, set, &n, &diff);
    if (!tasks || ibd_apply_settings(d, cfg, &err) != 0) {
        /* out of memory: answer so, the old state is partly gone */
        ibd_log_err("reload: out of memory");
    }
    if (tasks) {
        set->len = 0; /* every item was taken over or freed */
        free(d->tasks);
        d->tasks = tasks;
        d->n_tasks = n;
    }
    disable_missing(d);
    if (batch && ib_store_batch_commit(d->store, &err) != 0)
        ibd_log_err("reload: %s", err.msg);
    ibd_metrics_configure(d);
    ibd_log_diags(diags); /* warnings */
    ibd_set_config_errors(d, diags);
    ibd_runs_pump(d);
    ibd_sched_rearm(d);
    char *a = join_names(diff.added), *c = join_names(diff.changed), *r = join_names(diff.removed);
    ibd_log_fields f = {.msgid = IBD_MSGID_RELOAD_OK};
    ibd_log(LOG_INFO, &f, "configuration reloaded: added %s, changed %s, removed %s, %d unchanged",
            a ? a : "?", c ? c : "?", r ? r : "?", diff.unchanged);
    free(a);
    free(c);
    free(r);
    cJSON *ans = cJSON_CreateObject();
    cJSON_AddNumberToObject(ans, "v", 1);
    cJSON_AddBoolToObject(ans, "ok", true);
    cJSON_AddItemToObject(ans, "added", diff.added);
    cJSON_AddItemToObject(ans, "changed", diff.changed);
    cJSON_AddItemToObject(ans, "removed", diff.removed);
    cJSON_AddNumberToObject(ans, "unchanged", diff.unchanged);
    return ans;
}

cJSON *ibd_reload(ibd *d)
{
    ibd_notify_reloading();
    ibd_log_info("reloading the configuration from %s", d->config_dir);
    ib_config cfg;
    memset(&cfg, 0, sizeof cfg);
    ib_taskset set = {NULL, 0};
    ib_diags diags;
    ib_diags_init(&diags);
    bool settings_ok = false;
    int bad = ibd_config_read(d->config_dir, &cfg, &set, &diags, &settings_ok);
    cJSON *answer;
    if (!settings_ok || bad != 0 || ib_diags_errors(&diags) > 0)
        answer = failed_answer(d, &diags);
    else
        answer = apply(d, &cfg, &set, &diags);
    ib_config_free(&cfg);
    ib_taskset_free(&set);
    ib_diags_free(&diags);
    ibd_status_line(d, d->last_status, sizeof d->last_status);
    ibd_notify_ready(d->last_status);
    ibd_on_runs_changed(d);
    return answer;
}
