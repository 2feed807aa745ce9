/* The daemon's state, owned by main.c and used by the loop-thread modules
 * (scheduler, runs, control, reload, status). Everything here is touched
 * only on the loop thread. */
#ifndef IBD_DAEMON_H
#define IBD_DAEMON_H

#include "clockwatch.h"
#include "ib_config.h"
#include "ib_store.h"
#include "ib_task.h"
#include "linebuf.h"
#include "rate.h"
#include "taskheap.h"
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <uv.h>

typedef struct ibd_run ibd_run;

/* What a task's runs left behind, kept in memory (history.h) so that status
 * and metrics need no store queries. */
typedef struct ibd_history {
    bool has_last_run;
    ib_run_record last_run; /* the newest run that ran (not skipped); strings owned */
    double last_duration_s; /* exact for runs of this process, else end - start */
    int64_t last_success;   /* unix seconds of the newest success; 0: none */
    int64_t copies_kept;    /* valid copies after the newest success (store); -1: unknown */
} ibd_history;

/* One enabled task. */
typedef struct ibd_task {
    ib_task *def; /* owned */
    int64_t created_at;
    char *started_text; /* "started" as written in the file; NULL for manual tasks */
    int64_t last_slot;  /* periodic: slots up to here are handled (mirrors the store) */
    ibd_heap_node node; /* due time of the next slot; in the heap for periodic tasks */
    ibd_run *run;       /* its queued or running run, or NULL */
    ibd_history hist;
} ibd_task;

/* Someone (a control client) following a run with `run --wait`. */
typedef struct ibd_run_waiter {
    struct ibd_run_waiter *next;
    void (*on_progress)(struct ibd_run_waiter *w, const ibd_run *run);
    void (*on_finished)(struct ibd_run_waiter *w, const ibd_run *run);
} ibd_run_waiter;

typedef enum ibd_run_state { IBD_RUN_QUEUED, IBD_RUN_RUNNING } ibd_run_state;

/* A run from acceptance to its recorded result. */
struct ibd_run {
    struct ibd *d;
    ibd_run *next; /* acceptance order */
    int64_t id;
    char task[IB_TASK_NAME_MAX + 1];
    char *task_json; /* the definition it runs with (kept if the task changes) */
    int64_t created_at;
    double bandwidth_mbps;
    ib_trigger trigger;
    ib_backup_type type;
    ibd_run_state state;
    time_t accepted;
    uint64_t accepted_ns; /* uv_hrtime */
    /* live progress */
    char phase[32];
    int64_t files_done, files_total, bytes_done, bytes_total;
    ibd_rate rate;             /* bytes per second over a sliding window */
    uv_timer_t progress_timer; /* the journal's progress line */
    /* worker process */
    uv_process_t proc;
    uv_pipe_t in, out;
    bool handles_inited; /* in, out and proc need closing */
    int open_handles;
    bool exited, out_done, killed, completed;
    int64_t exit_status;
    int term_signal;
    ibd_linebuf lines;
    /* outcome */
    bool has_result;
    ib_result result;
    ib_backup_type done_type;
    char copy[96];
    int64_t files_total_r, files_sent, bytes_sent, files_deleted, copies_kept;
    time_t ended;
    char *error_code;
    char *error;
    double duration_s;
    ibd_run_waiter *waiters;
};

typedef struct ibd_control ibd_control;
typedef struct ibd_metrics ibd_metrics;

typedef struct ibd {
    uv_loop_t *loop;
    char *config_dir, *state_dir, *runtime_dir;
    char *exe_path;
    char *staging_root;
    ib_config cfg;
    ib_store *store;
    /* enabled tasks, sorted by name */
    ibd_task **tasks;
    size_t n_tasks;
    /* problems found in the configuration files by the latest load */
    char **config_errors;
    size_t n_config_errors;
    /* scheduling */
    ibd_heap heap;
    ibd_clockwatch clock;
    /* runs: queued and running, in acceptance order */
    ibd_run *runs;
    int n_running, n_queued;
    ibd_control *control;
    ibd_metrics *metrics; /* the metrics file writer (metrics.h), from start-up on */
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t watchdog, shutdown_timer;
    bool watchdog_on;
    bool stopping;
    bool closed;
    int stop_signals;
    time_t started_at;
    char last_status[512];
} ibd;

/* Tasks */
ibd_task *ibd_find_task(const ibd *d, const char *name);

#endif
