/* Daemon logging: the journal's native protocol with structured fields when
 * stderr is connected to the journal, otherwise one line per message on
 * stderr ("<6>" prefixes for a supervisor, plain text on a terminal).
 * Modeled on knot-resolver's lib/log.c. */
#ifndef IBD_LOG_H
#define IBD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

/* Optional structured fields of one message; zero-initialise and set what
 * applies. They become journal fields (TASK=, RUN_ID=, ...) or are appended
 * to the text as " TASK=x RUN_ID=3" so non-journal setups can read them. */
typedef struct ibd_log_fields {
    const char *msgid; /* IBD_MSGID_* */
    const char *task;
    int64_t run_id; /* 0: none */
    const char *backup_type;
    const char *trigger;
    const char *result;
    const char *error_code;
    const char *copy; /* COPY=: the snapshot a succeeded run made */
    bool has_counts;  /* a finished run: FILES_TOTAL= FILES_SENT= BYTES_SENT= FILES_DELETED= */
    int64_t files_sent, bytes_sent, files_deleted; /* FILES_TOTAL= is files_total below */
    bool has_duration;
    double duration_s;
    /* FILES_DONE= FILES_TOTAL= BYTES_DONE= BYTES_TOTAL=; not with has_counts
     * (both send files_total as FILES_TOTAL=) */
    bool has_progress;
    int64_t files_done, files_total, bytes_done, bytes_total;
} ibd_log_fields;

/* Choose the sink from $JOURNAL_STREAM and fd 2. */
void ibd_log_init(void);
/* Messages less important than level (syslog priority) are dropped. */
void ibd_log_set_level(int level);
bool ibd_log_to_journal(void);

void ibd_log_at(const char *file, int line, const char *func, int priority,
                const ibd_log_fields *fields, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define ibd_log(prio, fields, ...)                                                                 \
    ibd_log_at(__FILE__, __LINE__, __func__, prio, fields, __VA_ARGS__)
#define ibd_log_err(...) ibd_log(LOG_ERR, NULL, __VA_ARGS__)
#define ibd_log_warning(...) ibd_log(LOG_WARNING, NULL, __VA_ARGS__)
#define ibd_log_notice(...) ibd_log(LOG_NOTICE, NULL, __VA_ARGS__)
#define ibd_log_info(...) ibd_log(LOG_INFO, NULL, __VA_ARGS__)
#define ibd_log_debug(...) ibd_log(LOG_DEBUG, NULL, __VA_ARGS__)

#endif
