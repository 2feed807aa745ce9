/* Storage: driver selection and helpers shared by every driver. */
#include "ib_storage.h"
#include "ib_webhdfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ib_storage_open(const ib_target *target, double bandwidth_mbps, ib_storage **out, ib_err *err)
{
    *out = NULL;
    switch (target->type) {
    case IB_TARGET_LOCALDIR:
        return ib_storage_local_new(target->target_path, bandwidth_mbps, out, err);
    case IB_TARGET_REMOTEHDFS:
        /* Kerberos credentials come from the worker's environment
         * (KRB5CCNAME, KRB5_CLIENT_KTNAME), so no state dir is needed here. */
        return ib_storage_webhdfs_new(target, bandwidth_mbps, NULL, out, err);
    }
    return ib_err_set(err, IB_E_INTERNAL, "target: unknown type %d", (int)target->type);
}

/* A keytab holds the principal's long-term keys: whoever reads it can act
 * as the principal, so other users must not read it, nor anyone but its
 * owner write it (ssh's rule for private keys; the group may read, for a
 * keytab owned by root with the daemon's group). A missing keytab is left
 * to krb5: authentication then fails with an error naming it. */
static int check_keytab(const char *keytab, ib_err *err)
{
    int fd = open(keytab, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    if (fd < 0)
        return ib_err_set(err, IB_E_TARGET_AUTH,
                          "kerberos: keytab %s cannot be read: %s. HINT: the user running the "
                          "backup must be able to read it (e.g. chgrp iotdb-backupd and chmod 640)",
                          keytab, strerror(errno));
    struct stat st;
    int rc = fstat(fd, &st);
    int saved = errno;
    close(fd);
    if (rc != 0)
        return ib_err_errno(err, IB_E_TARGET_AUTH, saved, "kerberos: keytab %s", keytab);
    if (!S_ISREG(st.st_mode))
        return ib_err_set(err, IB_E_TARGET_AUTH, "kerberos: keytab %s is not a regular file",
                          keytab);
    if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP))
        return ib_err_set(err, IB_E_TARGET_AUTH,
                          "kerberos: keytab %s is %s by other users (mode %04o): whoever reads "
                          "it can act as the task's principal. HINT: chmod 600 %s (or chmod 640 "
                          "with the daemon's group)",
                          keytab, (st.st_mode & S_IROTH) ? "readable" : "writable",
                          (unsigned)(st.st_mode & 07777), keytab);
    return 0;
}

int ib_storage_kerberos_env(const ib_target *target, const char *state_dir, const char *task_name,
                            ib_err *err)
{
    if (target->type != IB_TARGET_REMOTEHDFS || target->auth_mode != IB_AUTH_KERBEROS)
        return 0;
    if (target->auth_keytab && check_keytab(target->auth_keytab, err) != 0)
        return -1;
    char cc[4096];
    int n = snprintf(cc, sizeof cc, "FILE:%s/krb5cc_%s", state_dir, task_name);
    if (n < 0 || (size_t)n >= sizeof cc)
        return ib_err_set(err, IB_E_TASK_FIELD,
                          "kerberos: state dir too long for a credential cache path: %s",
                          state_dir);
    if (setenv("KRB5CCNAME", cc, 1) != 0 ||
        (target->auth_keytab && setenv("KRB5_CLIENT_KTNAME", target->auth_keytab, 1) != 0))
        return ib_err_set(err, IB_E_NOMEM, "kerberos: cannot set the environment: out of memory");
    return 0;
}

void ib_storage_entries_free(ib_storage_entry *entries, size_t n)
{
    if (!entries)
        return;
    for (size_t i = 0; i < n; i++)
        free(entries[i].name);
    free(entries);
}

typedef struct buffer_reader {
    const unsigned char *buf;
    size_t len;
    size_t pos;
} buffer_reader;

static ssize_t buffer_read(void *ctx, void *buf, size_t cap, ib_err *err)
{
    (void)err;
    buffer_reader *r = ctx;
    size_t n = r->len - r->pos < cap ? r->len - r->pos : cap;
    if (n)
        memcpy(buf, r->buf + r->pos, n);
    r->pos += n;
    return (ssize_t)n;
}

int ib_storage_put_buffer(ib_storage *s, const char *path, const void *buf, size_t len, ib_err *err)
{
    buffer_reader r = {.buf = buf, .len = len, .pos = 0};
    ib_reader reader = {.ctx = &r, .read = buffer_read};
    return s->drv->put(s, path, (int64_t)len, &reader, err);
}

typedef struct buffer_writer {
    const char *path;
    char *buf;
    size_t len;
    size_t cap;
    size_t max;
} buffer_writer;

static int buffer_write(void *ctx, const void *data, size_t len, ib_err *err)
{
    buffer_writer *w = ctx;
    if (len > w->max - w->len)
        return ib_err_set(err, IB_E_TARGET_IO, "get %s: file is larger than %zu bytes", w->path,
                          w->max);
    if (w->len + len + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + len + 1)
            cap *= 2;
        char *grown = realloc(w->buf, cap);
        if (!grown)
            return ib_err_set(err, IB_E_NOMEM, "get %s: out of memory", w->path);
        w->buf = grown;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, len);
    w->len += len;
    return 0;
}

int ib_storage_get_buffer(ib_storage *s, const char *path, size_t max, char **out, size_t *len,
                          ib_err *err)
{
    buffer_writer w = {.path = path, .max = max};
    ib_writer writer = {.ctx = &w, .write = buffer_write};
    *out = NULL;
    if (s->drv->get(s, path, &writer, err) < 0) {
        free(w.buf);
        return -1;
    }
    if (!w.buf && !(w.buf = malloc(1))) /* an empty file */
        return ib_err_set(err, IB_E_NOMEM, "get %s: out of memory", path);
    w.buf[w.len] = '\0';
    *out = w.buf;
    if (len)
        *len = w.len;
    return 0;
}

void ib_storage_notice(ib_storage *s, const char *kind, const char *fmt, ...)
{
    if (!s || !s->notice)
        return;
    char msg[IB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->notice(s->notice_ctx, kind, msg);
}

char *ib_path_join(const char *a, const char *b)
{
    size_t alen = strlen(a);
    while (alen > 1 && a[alen - 1] == '/') /* keep "/" itself */
        alen--;
    while (*b == '/')
        b++;
    size_t blen = strlen(b);
    bool sep = alen > 0 && blen > 0 && a[alen - 1] != '/';
    char *out = malloc(alen + sep + blen + 1);
    if (!out)
        return NULL;
    memcpy(out, a, alen);
    if (sep)
        out[alen] = '/';
    memcpy(out + alen + sep, b, blen);
    out[alen + sep + blen] = '\0';
    return out;
}
