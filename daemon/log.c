#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#define IBD_SYSLOG_IDENTIFIER "iotdb-backupd"

typedef enum log_sink { SINK_PREFIXED, SINK_TERMINAL, SINK_JOURNAL } log_sink;

/* Process-wide logging state: set once at start (and the level on reload). */
static log_sink g_sink = SINK_PREFIXED;
static int g_level = LOG_INFO;

/* True when $JOURNAL_STREAM names the device:inode of our stderr, i.e.
 * systemd connected stderr to the journal (see systemd.exec(5)). */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    if (!js)
        return false;
    unsigned long long dev, ino;
    if (sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void ibd_log_init(void)
{
    if (stderr_is_journal())
        g_sink = SINK_JOURNAL;
    else if (isatty(STDERR_FILENO))
        g_sink = SINK_TERMINAL;
    else
        g_sink = SINK_PREFIXED;
}

void ibd_log_set_level(int level)
{
    if (level < LOG_EMERG)
        level = LOG_EMERG;
    if (level > LOG_DEBUG)
        level = LOG_DEBUG;
    g_level = level;
}

bool ibd_log_to_journal(void)
{
    return g_sink == SINK_JOURNAL;
}

static const char *level_name(int priority)
{
    static const char *const names[] = {"EMERG", "ALERT",  "CRIT", "ERROR",
                                        "WARN",  "NOTICE", "INFO", "DEBUG"};
    if (priority < 0 || priority > LOG_DEBUG)
        return "INFO";
    return names[priority];
}

/* The structured fields as " KEY=value" pairs, for the text sinks. */
static void append_fields_text(FILE *out, const ibd_log_fields *f)
{
    if (!f)
        return;
    if (f->task)
        fprintf(out, " TASK=%s", f->task);
    if (f->run_id)
        fprintf(out, " RUN_ID=%" PRId64, f->run_id);
    if (f->backup_type)
        fprintf(out, " BACKUP_TYPE=%s", f->backup_type);
    if (f->trigger)
        fprintf(out, " TRIGGER=%s", f->trigger);
    if (f->result)
        fprintf(out, " RESULT=%s", f->result);
    if (f->error_code)
        fprintf(out, " ERROR_CODE=%s", f->error_code);
    if (f->copy)
        fprintf(out, " COPY=%s", f->copy);
    if (f->has_counts)
        fprintf(out,
                " FILES_TOTAL=%" PRId64 " FILES_SENT=%" PRId64 " BYTES_SENT=%" PRId64
                " FILES_DELETED=%" PRId64,
                f->files_total, f->files_sent, f->bytes_sent, f->files_deleted);
    if (f->has_duration)
        fprintf(out, " DURATION_S=%.1f", f->duration_s);
    if (f->has_progress)
        fprintf(out,
                " FILES_DONE=%" PRId64 " FILES_TOTAL=%" PRId64 " BYTES_DONE=%" PRId64
                " BYTES_TOTAL=%" PRId64,
                f->files_done, f->files_total, f->bytes_done, f->bytes_total);
}

/* One line: newlines inside the message would split it, so they become spaces. */
static void write_text_line(int priority, const ibd_log_fields *f, const char *msg)
{
    char *line = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&line, &len);
    if (!out)
        return;
    if (g_sink == SINK_TERMINAL)
        fprintf(out, "%-6s ", level_name(priority));
    else
        fprintf(out, "<%d>", priority);
    for (const char *p = msg; *p; p++)
        fputc(*p == '\n' ? ' ' : *p, out);
    if (g_sink == SINK_TERMINAL && f && (f->task || f->run_id || f->result)) {
        fputs(" (", out);
        append_fields_text(out, f);
        fputs(")", out);
    } else {
        append_fields_text(out, f);
    }
    fputc('\n', out);
    if (fclose(out) != 0) {
        free(line);
        return;
    }
    /* One write so that lines of the daemon and its children never interleave. */
    ssize_t ignored = write(STDERR_FILENO, line, len);
    (void)ignored;
    free(line);
}

typedef struct iov_list {
    struct iovec iov[32];
    int n;
} iov_list;

__attribute__((format(printf, 2, 3))) static void iov_add(iov_list *l, const char *fmt, ...)
{
    if (l->n >= (int)(sizeof l->iov / sizeof l->iov[0]))
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    l->iov[l->n].iov_base = s;
    l->iov[l->n].iov_len = (size_t)n;
    l->n++;
}

static void write_journal(const char *file, int line, const char *func, int priority,
                          const ibd_log_fields *f, const char *msg)
{
    iov_list l = {.n = 0};
    iov_add(&l, "MESSAGE=%s", msg);
    iov_add(&l, "PRIORITY=%d", priority);
    iov_add(&l, "SYSLOG_IDENTIFIER=%s", IBD_SYSLOG_IDENTIFIER);
    iov_add(&l, "CODE_FILE=%s", file);
    iov_add(&l, "CODE_LINE=%d", line);
    iov_add(&l, "CODE_FUNC=%s", func);
    if (f) {
        if (f->msgid)
            iov_add(&l, "MESSAGE_ID=%s", f->msgid);
        if (f->task)
            iov_add(&l, "TASK=%s", f->task);
        if (f->run_id)
            iov_add(&l, "RUN_ID=%" PRId64, f->run_id);
        if (f->backup_type)
            iov_add(&l, "BACKUP_TYPE=%s", f->backup_type);
        if (f->trigger)
            iov_add(&l, "TRIGGER=%s", f->trigger);
        if (f->result)
            iov_add(&l, "RESULT=%s", f->result);
        if (f->error_code)
            iov_add(&l, "ERROR_CODE=%s", f->error_code);
        if (f->copy)
            iov_add(&l, "COPY=%s", f->copy);
        if (f->has_counts) {
            iov_add(&l, "FILES_TOTAL=%" PRId64, f->files_total);
            iov_add(&l, "FILES_SENT=%" PRId64, f->files_sent);
            iov_add(&l, "BYTES_SENT=%" PRId64, f->bytes_sent);
            iov_add(&l, "FILES_DELETED=%" PRId64, f->files_deleted);
        }
        if (f->has_duration)
            iov_add(&l, "DURATION_S=%.1f", f->duration_s);
        if (f->has_progress) {
            iov_add(&l, "FILES_DONE=%" PRId64, f->files_done);
            iov_add(&l, "FILES_TOTAL=%" PRId64, f->files_total);
            iov_add(&l, "BYTES_DONE=%" PRId64, f->bytes_done);
            iov_add(&l, "BYTES_TOTAL=%" PRId64, f->bytes_total);
        }
    }
    if (sd_journal_sendv(l.iov, l.n) < 0)
        write_text_line(priority, f, msg); /* journal gone: keep the message */
    for (int i = 0; i < l.n; i++)
        free(l.iov[i].iov_base);
}

void ibd_log_at(const char *file, int line, const char *func, int priority,
                const ibd_log_fields *fields, const char *fmt, ...)
{
    if (priority > g_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    int n = vasprintf(&msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (g_sink == SINK_JOURNAL)
        write_journal(file, line, func, priority, fields, msg);
    else
        write_text_line(priority, fields, msg);
    free(msg);
}
