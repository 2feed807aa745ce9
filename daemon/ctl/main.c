/* iotdb-backupctl: control and inspect iotdb-backupd. */
#include "ctl.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct ctl_command {
    const char *name;
    int (*fn)(const ctl_opts *o, int argc, char **argv);
    const char *args; /* usage after the name */
    const char *what; /* one line */
} ctl_command;

static const ctl_command commands[] = {
    {"status", ctl_cmd_status, "[--json]", "tasks, last results and next runs"},
    {"run", ctl_cmd_run, "TASK [--full|--incremental] [--wait] [--json]",
     "Back Up Now: start a run of TASK"},
    {"reload", ctl_cmd_reload, "", "re-read the configuration (all or nothing)"},
    {"check-config", ctl_cmd_check_config, "[--config-dir DIR] [--json]",
     "validate the settings and every task file (no daemon needed)"},
    {"copies", ctl_cmd_copies, "TASK [--json]", "list the backup copies on TASK's target"},
    {"restore", ctl_cmd_restore,
     "TASK [--copy NAME] --to DIR [--database DB]... [--force] [--load]",
     "restore a copy (default: the newest) into DIR"},
    {"verify", ctl_cmd_verify, "TASK", "Verify: check TASK's source and target"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const ctl_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void ctl_print_usage(FILE *out, const char *cmd)
{
    const ctl_command *c = cmd ? find_command(cmd) : NULL;
    if (c) {
        fprintf(out, "Usage: iotdb-backupctl [OPTIONS] %s%s%s\n  %s\n", c->name,
                *c->args ? " " : "", c->args, c->what);
        return;
    }
    fputs("Usage: iotdb-backupctl [OPTIONS] COMMAND [ARGS]\n"
          "Control and inspect iotdb-backupd, the IoTDB backup scheduler.\n\n"
          "Commands that talk to the running daemon:\n",
          out);
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (i == 3)
            fputs("Commands that work without the daemon:\n", out);
        fprintf(out, "  %s%s%s\n      %s\n", commands[i].name, *commands[i].args ? " " : "",
                commands[i].args, commands[i].what);
    }
    fputs("\nOptions:\n"
          "  --runtime-dir DIR  where control.sock is ($RUNTIME_DIRECTORY or /run/iotdb-backupd)\n"
          "  --config-dir DIR   settings and tasks.d/ ($CONFIGURATION_DIRECTORY or "
          "/etc/iotdb-backupd)\n"
          "  --state-dir DIR    the state store ($STATE_DIRECTORY or /var/lib/iotdb-backupd)\n"
          "  -h, --help         this help; COMMAND --help for one command\n"
          "  --version          print the version\n\n"
          "Exit status: 0 success, 1 failure, 2 usage error.\n",
          out);
}

static void vprint_error(const char *fmt, va_list ap)
{
    fputs("iotdb-backupctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void ctl_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprint_error(fmt, ap);
    va_end(ap);
}

int ctl_usage_error(const char *cmd, const char *fmt, ...)
{
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vprint_error(fmt, ap);
        va_end(ap);
    }
    const ctl_command *c = cmd ? find_command(cmd) : NULL;
    if (c)
        fprintf(stderr, "usage: iotdb-backupctl [OPTIONS] %s%s%s\n", c->name, *c->args ? " " : "",
                c->args);
    else
        fputs("usage: iotdb-backupctl [OPTIONS] COMMAND [ARGS]\n", stderr);
    fputs("Try 'iotdb-backupctl --help' for more information.\n", stderr);
    return CTL_EXIT_USAGE;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    /* systemd may list several directories separated by ':'; the first is ours. */
    return v && *v && !strchr(v, ':') ? v : fallback;
}

static void set_defaults(ctl_opts *o)
{
    memset(o, 0, sizeof *o);
    o->runtime_dir = env_or("RUNTIME_DIRECTORY", "/run/iotdb-backupd");
    o->config_dir = env_or("CONFIGURATION_DIRECTORY", "/etc/iotdb-backupd");
    o->state_dir = env_or("STATE_DIRECTORY", "/var/lib/iotdb-backupd");
}

enum { OPT_RUNTIME = 256, OPT_CONFIG, OPT_STATE, OPT_VERSION };

/* Global options before COMMAND. Returns -1 to continue, else an exit code. */
static int parse_global(ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"runtime-dir", required_argument, NULL, OPT_RUNTIME},
        {"config-dir", required_argument, NULL, OPT_CONFIG},
        {"state-dir", required_argument, NULL, OPT_STATE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    int c;
    /* '+': stop at COMMAND, its options are its own. */
    while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_RUNTIME:
            o->runtime_dir = optarg;
            break;
        case OPT_CONFIG:
            o->config_dir = optarg;
            break;
        case OPT_STATE:
            o->state_dir = optarg;
            break;
        case 'h':
            ctl_print_usage(stdout, NULL);
            return CTL_EXIT_OK;
        case OPT_VERSION:
            printf("iotdb-backupctl %s\n", IB_VERSION);
            return CTL_EXIT_OK;
        default:
            return ctl_usage_error(NULL, NULL);
        }
    }
    return -1;
}

int main(int argc, char **argv)
{
    ctl_opts o;
    set_defaults(&o);
    int rc = parse_global(&o, argc, argv);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return ctl_usage_error(NULL, "missing COMMAND");
    const ctl_command *cmd = find_command(argv[optind]);
    if (!cmd)
        return ctl_usage_error(NULL, "unknown command '%s'", argv[optind]);
    snprintf(o.socket_path, sizeof o.socket_path, "%s/control.sock", o.runtime_dir);

    /* The command's argv, with argv[0] naming program and command so that
     * getopt's messages read "iotdb-backupctl run: unrecognized option". */
    int sub_argc = argc - optind;
    char **sub_argv = calloc((size_t)sub_argc + 1, sizeof *sub_argv);
    char prog[64];
    if (!sub_argv) {
        ctl_error("out of memory");
        return CTL_EXIT_FAIL;
    }
    snprintf(prog, sizeof prog, "iotdb-backupctl %s", cmd->name);
    sub_argv[0] = prog;
    for (int i = 1; i < sub_argc; i++)
        sub_argv[i] = argv[optind + i];
    optind = 0; /* GNU getopt: full re-initialisation for the command's options */
    rc = cmd->fn(&o, sub_argc, sub_argv);
    free(sub_argv);
    return rc;
}
