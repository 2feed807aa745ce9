/* reload (through the daemon) and check-config (local). */
#include "client.h"
#include "ctl.h"
#include "ib_config.h"
#include "ib_diag.h"

#include <getopt.h>
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

int ctl_cmd_check_config(const ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {{"config-dir", required_argument, NULL, 'c'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *config_dir = o->config_dir;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'c') {
            config_dir = optarg;
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
    ib_check_config_print(&diags, n_tasks, errors == 0 ? stdout : stderr);
    ib_diags_free(&diags);
    return errors == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
