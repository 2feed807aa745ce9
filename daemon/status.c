#include "status.h"

#include "ib_sched.h"
#include "log.h"
#include "notify.h"
#include "reload.h"
#include "scheduler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void add_time(cJSON *o, const char *key, int64_t t)
{
    char buf[64];
    if (t <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    ib_format_local_time((time_t)t, buf, sizeof buf);
    cJSON_AddStringToObject(o, key, buf);
}

static void add_str(cJSON *o, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(o, key, s);
    else
        cJSON_AddNullToObject(o, key);
}

static cJSON *daemon_json(const ibd *d)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", IB_VERSION);
    cJSON_AddNumberToObject(o, "pid", (double)getpid());
    add_time(o, "started", d->started_at);
    cJSON_AddNumberToObject(o, "running", d->n_running);
    cJSON_AddNumberToObject(o, "queued", d->n_queued);
    cJSON_AddNumberToObject(o, "max_parallel_runs", d->cfg.max_parallel_runs);
    cJSON_AddStringToObject(o, "config_dir", d->config_dir);
    cJSON_AddStringToObject(o, "state_dir", d->state_dir);
    return o;
}

static cJSON *target_json(const ib_target *t)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path_type", ib_target_type_name(t->type));
    add_str(o, "target_path", t->target_path);
    cJSON_AddNumberToObject(o, "max_copies", t->max_copies);
    add_str(o, "nameservice", t->type == IB_TARGET_REMOTEHDFS ? t->nameservice : NULL);
    if (t->type == IB_TARGET_REMOTEHDFS)
        cJSON_AddNumberToObject(o, "namenode_rpc_port", t->namenode_rpc_port);
    else
        cJSON_AddNullToObject(o, "namenode_rpc_port");
    return o;
}

void ibd_status_add_rate(cJSON *o, const ibd_run *run)
{
    uint64_t now = uv_hrtime();
    double rate, eta;
    if (run->state == IBD_RUN_RUNNING && ibd_rate_get(&run->rate, now, &rate))
        cJSON_AddNumberToObject(o, "rate_bytes_per_s", rate < 0 ? 0 : (double)(int64_t)rate);
    else
        cJSON_AddNullToObject(o, "rate_bytes_per_s");
    if (run->state == IBD_RUN_RUNNING &&
        ibd_rate_eta(&run->rate, now, run->bytes_done, run->bytes_total, &eta))
        cJSON_AddNumberToObject(o, "eta_s", (double)(int64_t)(eta + 0.5));
    else
        cJSON_AddNullToObject(o, "eta_s");
}

void ibd_status_add_progress(cJSON *o, const ibd_run *run)
{
    cJSON_AddNumberToObject(o, "run_id", (double)run->id);
    cJSON_AddStringToObject(o, "type", ib_backup_type_name(run->type));
    cJSON_AddStringToObject(o, "trigger", ib_trigger_name(run->trigger));
    add_time(o, "started", run->accepted);
    cJSON_AddStringToObject(o, "phase", run->phase);
    cJSON_AddNumberToObject(o, "files_done", (double)run->files_done);
    cJSON_AddNumberToObject(o, "files_total", (double)run->files_total);
    cJSON_AddNumberToObject(o, "bytes_done", (double)run->bytes_done);
    cJSON_AddNumberToObject(o, "bytes_total", (double)run->bytes_total);
    ibd_status_add_rate(o, run);
}

static cJSON *run_record_json(const ib_run_record *r, double duration_s)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "run_id", (double)r->id);
    cJSON_AddStringToObject(o, "trigger", ib_trigger_name(r->trigger));
    cJSON_AddStringToObject(o, "type", ib_backup_type_name(r->type));
    cJSON_AddStringToObject(o, "result", ib_result_name(r->result));
    add_time(o, "start", r->start);
    add_time(o, "end", r->end);
    cJSON_AddNumberToObject(o, "duration_s", (double)(int64_t)(duration_s * 10 + 0.5) / 10);
    add_str(o, "copy", r->copy);
    cJSON_AddNumberToObject(o, "files_total", (double)r->files_total);
    cJSON_AddNumberToObject(o, "files_sent", (double)r->files_sent);
    cJSON_AddNumberToObject(o, "bytes_sent", (double)r->bytes_sent);
    cJSON_AddNumberToObject(o, "files_deleted", (double)r->files_deleted);
    add_str(o, "error_code", r->error_code);
    add_str(o, "error", r->error);
    return o;
}

static cJSON *task_json(const ibd_task *t)
{
    const ib_task *def = t->def;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", def->name);
    cJSON_AddStringToObject(o, "mode", ib_mode_name(def->mode));
    cJSON_AddStringToObject(o, "policy", ib_policy_name(def->policy));
    cJSON_AddBoolToObject(o, "enabled", true);
    if (def->has_schedule) {
        char period[64];
        snprintf(period, sizeof period, "%lld %s", (long long)def->schedule.every,
                 ib_unit_name(def->schedule.unit));
        cJSON_AddStringToObject(o, "period", period);
    } else {
        cJSON_AddNullToObject(o, "period");
    }
    add_str(o, "started", t->started_text);
    cJSON_AddItemToObject(o, "target", target_json(&def->target));
    bool scheduled = ibd_heap_contains(&t->node);
    add_time(o, "next_run", scheduled ? t->node.due : 0);
    if (scheduled)
        cJSON_AddNumberToObject(o, "next_run_unix", (double)t->node.due);
    else
        cJSON_AddNullToObject(o, "next_run_unix");
    if (t->run) {
        cJSON_AddStringToObject(o, "state",
                                t->run->state == IBD_RUN_RUNNING ? "running" : "queued");
        cJSON *r = cJSON_CreateObject();
        ibd_status_add_progress(r, t->run);
        cJSON_AddItemToObject(o, "running", r);
    } else {
        cJSON_AddStringToObject(o, "state", "idle");
        cJSON_AddNullToObject(o, "running");
    }
    if (t->hist.has_last_run)
        cJSON_AddItemToObject(o, "last_run",
                              run_record_json(&t->hist.last_run, t->hist.last_duration_s));
    else
        cJSON_AddNullToObject(o, "last_run");
    add_time(o, "last_success", t->hist.last_success);
    if (t->hist.copies_kept >= 0)
        cJSON_AddNumberToObject(o, "copies_kept", (double)t->hist.copies_kept);
    else
        cJSON_AddNullToObject(o, "copies_kept");
    return o;
}

/* item (deleted here) printed compactly; NULL without memory. */
static char *print_json(cJSON *item)
{
    char *text = item ? cJSON_PrintUnformatted(item) : NULL;
    cJSON_Delete(item);
    return text;
}

/* parts[0..n) joined between head, separators and tail into one buffer. */
static char *join(char **parts, size_t n, const char *const *glue, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(parts[i]) + strlen(glue[i]);
    total += strlen(glue[n]);
    char *out = malloc(total + 1);
    if (!out)
        return NULL;
    char *p = out;
    for (size_t i = 0; i <= n; i++) {
        p = stpcpy(p, glue[i]);
        if (i < n)
            p = stpcpy(p, parts[i]);
    }
    *len = total;
    return out;
}

/* Each task is printed on its own (a tree of every task at once would take
 * many times the memory of the text), then everything is joined with one
 * allocation: growing one buffer as it goes copied and faulted in the text
 * many times over. */
char *ibd_status_text(const ibd *d, size_t *len)
{
    size_t n = d->n_tasks + 2; /* daemon, tasks, config errors */
    char **parts = calloc(n, sizeof *parts);
    const char **glue = calloc(n + 1, sizeof *glue);
    bool ok = parts && glue;
    for (size_t i = 0; ok && i < n; i++) {
        if (i == 0)
            parts[i] = print_json(daemon_json(d));
        else if (i == n - 1)
            parts[i] = print_json(ibd_config_errors_json(d));
        else
            parts[i] = print_json(task_json(d->tasks[i - 1]));
        ok = parts[i] != NULL;
        glue[i] = i == 0 ? "{\"v\":1,\"ok\":true,\"daemon\":" : i == 1 ? ",\"tasks\":[" : ",";
    }
    char *text = NULL;
    if (ok) {
        glue[n - 1] = d->n_tasks ? "],\"config_errors\":" : ",\"tasks\":[],\"config_errors\":";
        glue[n] = "}\n";
        text = join(parts, n, glue, len);
    }
    for (size_t i = 0; parts && i < n; i++)
        cJSON_free(parts[i]);
    free(parts);
    free(glue);
    return text;
}

void ibd_status_line(const ibd *d, char *buf, size_t n)
{
    int used = snprintf(buf, n, "%zu task%s, %d running", d->n_tasks, d->n_tasks == 1 ? "" : "s",
                        d->n_running);
    if (used < 0 || (size_t)used >= n)
        return;
    if (d->n_queued > 0) {
        used += snprintf(buf + used, n - (size_t)used, ", %d queued", d->n_queued);
        if ((size_t)used >= n)
            return;
    }
    const ibd_task *next = ibd_sched_next(d);
    if (!next || d->stopping) {
        snprintf(buf + used, n - (size_t)used, d->stopping ? ", stopping" : ", next: none");
        return;
    }
    char when[64];
    ib_format_local_time(next->node.due, when, sizeof when);
    snprintf(buf + used, n - (size_t)used, ", next: %s at %s", next->def->name, when);
}

void ibd_status_notify(ibd *d)
{
    char line[sizeof d->last_status];
    ibd_status_line(d, line, sizeof line);
    if (strcmp(line, d->last_status) == 0)
        return;
    memcpy(d->last_status, line, sizeof line);
    ibd_notify_status(line);
}
