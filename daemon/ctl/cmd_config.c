/* reload (through the daemon) and check-config (local). */
#include "client.h"
#include "ctl.h"
#include "ib_config.h"
#include "ib_diag.h"
#include "ib_diag_json.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Commands whose only option is --help. Returns -1 to go on, else an exit code. */
static int parse_no_options(const char *cmd, int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c != 'h')
            return ctl_usage_error(cmd, NULL);
        ctl_print_usage(stdout, cmd);
        return CTL_EXIT_OK;
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* "a, b" from a JSON array of strings into buf. */
static void join_names(const cJSON *arr, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e) || used >= n)
            continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", e->valuestring);
        used += w > 0 ? (size_t)w : 0;
    }
}

static void print_reload_changes(const cJSON *a)
{
    static const char *const keys[] = {"added", "changed", "removed"};
    char line[4096] = "", names[2048];
    size_t used = 0;
    for (size_t i = 0; i < 3; i++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(a, keys[i]);
        if (cJSON_GetArraySize(arr) == 0 || used >= sizeof line)
            continue;
        join_names(arr, names, sizeof names);
        int w =
            snprintf(line + used, sizeof line - used, "%s%s %s", used ? "; " : "", keys[i], names);
        used += w > 0 ? (size_t)w : 0;
    }
    const cJSON *unchanged = cJSON_GetObjectItemCaseSensitive(a, "unchanged");
    int n_unchanged = cJSON_IsNumber(unchanged) ? unchanged->valueint : 0;
    if (used == 0)
        printf("configuration reloaded: no changes (%d task(s) unchanged)\n", n_unchanged);
    else
        printf("configuration reloaded: %s; %d unchanged\n", line, n_unchanged);
}

int ctl_cmd_reload(const ctl_opts *o, int argc, char **argv)
{
    int rc = parse_no_options("reload", argc, argv);
    if (rc >= 0)
        return rc;
    cJSON *req = ctl_new_request("reload"), *answer = NULL;
    ib_err err;
    ib_err_clear(&err);
    rc = req ? ctl_request(o->socket_path, req, CTL_TIMEOUT_MS, &answer, &err)
             : ib_err_set(&err, IB_E_NOMEM, "out of memory");
    cJSON_Delete(req);
    if (rc < 0) {
        ctl_error("%s", err.msg);
        return CTL_EXIT_FAIL;
    }
    if (ctl_answer_ok(answer)) {
        print_reload_changes(answer);
        rc = CTL_EXIT_OK;
    } else {
        ctl_print_answer_error(answer);
        rc = CTL_EXIT_FAIL;
    }
    cJSON_Delete(answer);
    return rc;
}

/* The diagnostics of severity sev as an array of objects under key. */
static bool add_diags(cJSON *o, const char *key, const ib_diags *diags, ib_severity sev)
{
    cJSON *arr = ib_diags_to_json(diags, sev);
    if (arr && cJSON_AddItemToObject(o, key, arr))
        return true;
    cJSON_Delete(arr);
    return false;
}

/* {"ok":bool,"tasks":n,"errors":[...],"warnings":[...]}, the diagnostics as
 * objects (ib_diag_json.h). Returns -1 when out of memory. */
static int print_check_json(const ib_diags *diags, size_t n_tasks, size_t errors)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddBoolToObject(o, "ok", errors == 0) &&
              cJSON_AddNumberToObject(o, "tasks", (double)n_tasks) &&
              add_diags(o, "errors", diags, IB_SEV_ERROR) &&
              add_diags(o, "warnings", diags, IB_SEV_WARNING);
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text)
        return -1;
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

int ctl_cmd_check_config(const ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {{"config-dir", required_argument, NULL, 'c'},
                                             {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *config_dir = o->config_dir;
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'c') {
            config_dir = optarg;
        } else if (c == 'j') {
            json = true;
        } else if (c == 'h') {
            ctl_print_usage(stdout, "check-config");
            return CTL_EXIT_OK;
        } else {
            return ctl_usage_error("check-config", NULL);
        }
    }
    if (optind < argc)
        return ctl_usage_error("check-config", "unexpected argument '%s'", argv[optind]);

    /* The same code path as `iotdb-backupd --check-config`. */
    ib_diags diags;
    size_t n_tasks = 0;
    ib_diags_init(&diags);
    int errors = ib_check_config(config_dir, &diags, &n_tasks);
    int rc = errors == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    if (!json) {
        ib_check_config_print(&diags, n_tasks, errors == 0 ? stdout : stderr);
    } else if (print_check_json(&diags, n_tasks, (size_t)errors) != 0) {
        ctl_error("out of memory formatting the result");
        rc = CTL_EXIT_FAIL;
    }
    ib_diags_free(&diags);
    return rc;
}
