/* Daemon settings (iotdb-backupd.conf) and the whole configuration check. */
#include "ib_config.h"
#include "ib_task.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_FILE "iotdb-backupd.conf"
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* syslog priorities by name, index = priority */
static const char *const LEVEL_NAMES[] = {"emerg",   "alert",  "crit", "err",
                                          "warning", "notice", "info", "debug"};

static void config_defaults(ib_config *cfg)
{
    *cfg = (ib_config){
        .max_parallel_runs = 2,
        .log_level = 6,
        .staging_dir = NULL,
        .max_bandwidth_mbps = 0,
        .shutdown_timeout_s = 30,
        .progress_log_interval_s = 30,
        .metrics_file = NULL,
    };
}

/* log_level: a name ("info") or the syslog number (6). */
static void check_log_level(ib_jcheck *c, const cJSON *root, ib_config *cfg)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "log_level");
    int level = 0;
    int64_t n = 0;
    if (!item)
        return;
    if (cJSON_IsNumber(item)) {
        if (ib_jcheck_int(c, root, "", "log_level", false, 0, 7, &n) > 0)
            cfg->log_level = (int)n;
    } else if (cJSON_IsString(item)) {
        if (ib_jcheck_enum(c, root, "", "log_level", false, LEVEL_NAMES, ARRAY_LEN(LEVEL_NAMES),
                           &level) > 0)
            cfg->log_level = level;
    } else {
        ib_jcheck_error(c, "/log_level", "must be a level name (\"err\" .. \"debug\") or 0..7");
    }
}

/* metrics_file: an absolute path of a file (the textfile collector reads
 * "*.prom" files of one directory). */
static void check_metrics_file(ib_jcheck *c, const cJSON *root, ib_config *cfg)
{
    const char *path = NULL;
    if (ib_jcheck_abs_path(c, root, "", "metrics_file", false, &path) <= 0)
        return;
    size_t len = strlen(path);
    if (path[len - 1] == '/') {
        ib_jcheck_error(c, "/metrics_file", "must name a file, not a directory: \"%s\"", path);
        return;
    }
    if (!(cfg->metrics_file = strdup(path)))
        ib_jcheck_error(c, "/metrics_file", "out of memory");
}

static void check_settings(ib_jcheck *c, const cJSON *root, ib_config *cfg)
{
    static const char *const keys[] = {"max_parallel_runs",  "log_level",
                                       "staging_dir",        "max_bandwidth_mbps",
                                       "shutdown_timeout_s", "progress_log_interval_s",
                                       "metrics_file"};
    ib_jcheck_keys(c, root, "", keys, ARRAY_LEN(keys));
    int64_t n = 0;
    if (ib_jcheck_int(c, root, "", "max_parallel_runs", false, 1, 64, &n) > 0)
        cfg->max_parallel_runs = (int)n;
    check_log_level(c, root, cfg);
    const char *dir = NULL;
    if (ib_jcheck_abs_path(c, root, "", "staging_dir", false, &dir) > 0 &&
        !(cfg->staging_dir = strdup(dir)))
        ib_jcheck_error(c, "/staging_dir", "out of memory");
    ib_jcheck_number(c, root, "", "max_bandwidth_mbps", false, 0, &cfg->max_bandwidth_mbps);
    if (ib_jcheck_int(c, root, "", "shutdown_timeout_s", false, 1, 3600, &n) > 0)
        cfg->shutdown_timeout_s = (int)n;
    if (ib_jcheck_int(c, root, "", "progress_log_interval_s", false, 0, 86400, &n) > 0)
        cfg->progress_log_interval_s = (int)n;
    check_metrics_file(c, root, cfg);
}

int ib_config_load(const char *config_dir, ib_config *out, ib_diags *diags)
{
    config_defaults(out);
    ib_jcheck c;
    ib_jcheck_init(&c, diags, CONFIG_FILE, IB_E_CONFIG, IB_E_CONFIG);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", config_dir, CONFIG_FILE);
    char *text = NULL;
    size_t len = 0;
    bool missing = false;
    ib_err err;
    if (ib_read_small_file(path, IB_TASK_FILE_MAX, &text, &len, &missing, &err) != 0) {
        if (missing)
            return 0; /* the file is optional */
        ib_jcheck_error(&c, NULL, "%s", err.msg);
        return -1;
    }
    cJSON *root = ib_jcheck_parse(&c, text, len);
    free(text);
    ib_config cfg;
    config_defaults(&cfg);
    if (root)
        check_settings(&c, root, &cfg);
    cJSON_Delete(root);
    if (c.errors) {
        ib_config_free(&cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

void ib_config_free(ib_config *cfg)
{
    free(cfg->staging_dir);
    cfg->staging_dir = NULL;
    free(cfg->metrics_file);
    cfg->metrics_file = NULL;
}

int ib_check_config(const char *config_dir, ib_diags *diags, size_t *n_tasks)
{
    size_t before = ib_diags_errors(diags);
    *n_tasks = 0;
    ib_config cfg;
    ib_config_load(config_dir, &cfg, diags);
    ib_config_free(&cfg);
    ib_taskset set;
    ib_taskset_load(config_dir, &set, diags);
    *n_tasks = set.len;
    ib_taskset_free(&set);
    return (int)(ib_diags_errors(diags) - before);
}

void ib_check_config_print(const ib_diags *diags, size_t n_tasks, FILE *out)
{
    char line[2 * IB_ERR_MSG_MAX];
    for (size_t i = 0; i < diags->len; i++) {
        ib_diag_format(&diags->items[i], line, sizeof line);
        fprintf(out, "%s\n", line);
    }
    size_t errors = ib_diags_errors(diags);
    if (errors)
        fprintf(out, "configuration has %zu error(s)\n", errors);
    else
        fprintf(out, "configuration OK: %zu task(s)\n", n_tasks);
}
