/* Storage: driver selection and helpers shared by every driver. */
#include "ib_storage.h"
#include "ib_webhdfs.h"

#include <errno.h>
#include <fcntl.h>
#include <krb5.h>
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
 * keytab owned by root with the daemon's group). */
static int check_keytab(const char *keytab, ib_err *err)
{
    int fd = open(keytab, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return ib_err_set(err, IB_E_TARGET_AUTH,
                          "kerberos: keytab %s does not exist. HINT: export the principal's keys "
                          "into it (kadmin: ktadd -k %s PRINCIPAL) or fix target.auth.keytab",
                          keytab, keytab);
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

/* Get new tickets when the cache's TGT has less than this left, so that a
 * run starts with time for its SPNEGO exchange; within a run GSSAPI itself
 * refreshes from the client keytab (within 30 s of the end). A cache still
 * good for longer is used as is: no KDC request per run. */
#define KRB_REFRESH_MARGIN_S (5 * 60)

/* One use of MIT krb5 for a task: the names for messages and the handles. */
typedef struct krb {
    const char *principal, *keytab, *cache;
    krb5_context ctx;
    krb5_principal princ;
    krb5_keytab kt;
    krb5_ccache cc;
} krb;

/* Fill err with what failed, krb5's own reason for code and a hint; -1.
 * Call right after the failing krb5 call: its extended message (naming
 * the realm, the KDC's answer) is only kept until the next one. */
static int krb_fail(krb *k, krb5_error_code code, const char *what, const char *hint, ib_err *err)
{
    const char *why = krb5_get_error_message(k->ctx, code);
    ib_err_set(err, IB_E_TARGET_AUTH, "kerberos: %s: %s. HINT: %s", what, why, hint);
    krb5_free_error_message(k->ctx, why);
    return -1;
}

static int krb_open(krb *k, ib_err *err)
{
    char what[1536];
    krb5_error_code rc = krb5_init_context(&k->ctx);
    if (rc != 0) {
        k->ctx = NULL; /* krb5_get_error_message takes NULL: the code's text */
        return krb_fail(k, rc, "cannot start MIT krb5 (krb5.conf or KRB5_CONFIG)",
                        "krb5.conf (or KRB5_CONFIG) must parse; kinit as the daemon's user "
                        "shows the same error",
                        err);
    }
    snprintf(what, sizeof what, "target.auth.principal %s is not a principal name", k->principal);
    if ((rc = krb5_parse_name(k->ctx, k->principal, &k->princ)) != 0)
        return krb_fail(k, rc, what, "write it as primary/instance@REALM", err);
    snprintf(what, sizeof what, "cannot open keytab %s for principal %s", k->keytab, k->principal);
    if ((rc = krb5_kt_resolve(k->ctx, k->keytab, &k->kt)) != 0)
        return krb_fail(k, rc, what, "target.auth.keytab must name a keytab file", err);
    snprintf(what, sizeof what, "cannot open the credential cache %s", k->cache);
    if ((rc = krb5_cc_resolve(k->ctx, k->cache, &k->cc)) != 0)
        return krb_fail(k, rc, what, "the state directory must be writable", err);
    return 0;
}

static void krb_close(krb *k)
{
    if (!k->ctx)
        return;
    if (k->cc)
        krb5_cc_close(k->ctx, k->cc);
    if (k->kt)
        krb5_kt_close(k->ctx, k->kt);
    krb5_free_principal(k->ctx, k->princ);
    krb5_free_context(k->ctx);
}

/* The keytab must hold the principal: krb5 would otherwise fall back on
 * its first principal when GSSAPI refreshes, and the message for a
 * missing entry is clearer here than after a KDC exchange. Local only. */
static int krb_keytab_holds(krb *k, ib_err *err)
{
    krb5_keytab_entry entry;
    krb5_error_code rc = krb5_kt_get_entry(k->ctx, k->kt, k->princ, 0, 0, &entry);
    if (rc == 0) {
        krb5_free_keytab_entry_contents(k->ctx, &entry);
        return 0;
    }
    char what[1536], hint[1536];
    snprintf(what, sizeof what, "keytab %s has no key for principal %s", k->keytab, k->principal);
    snprintf(hint, sizeof hint,
             "klist -k %s lists the principals it holds; set target.auth.principal to one of "
             "them, or add this one's keys (kadmin: ktadd -k %s %s)",
             k->keytab, k->keytab, k->principal);
    if (rc != KRB5_KT_NOTFOUND)
        snprintf(what, sizeof what, "cannot read keytab %s for principal %s", k->keytab,
                 k->principal);
    return krb_fail(k, rc, what, hint, err);
}

/* Seconds left on the cache's TGT for the task's principal; -1 when the
 * cache is missing, belongs to another principal or has no TGT. */
static long krb_tgt_left(krb *k)
{
    krb5_principal owner = NULL, tgs = NULL;
    if (krb5_cc_get_principal(k->ctx, k->cc, &owner) != 0)
        return -1;
    krb5_boolean same = krb5_principal_compare(k->ctx, owner, k->princ);
    krb5_free_principal(k->ctx, owner);
    const krb5_data *realm = krb5_princ_realm(k->ctx, k->princ);
    if (!same ||
        krb5_build_principal_ext(k->ctx, &tgs, realm->length, realm->data, KRB5_TGS_NAME_SIZE,
                                 KRB5_TGS_NAME, realm->length, realm->data, 0) != 0)
        return -1;
    krb5_creds match, tgt;
    memset(&match, 0, sizeof match);
    memset(&tgt, 0, sizeof tgt);
    match.client = k->princ;
    match.server = tgs;
    krb5_timestamp now = 0;
    long left = -1;
    if (krb5_cc_retrieve_cred(k->ctx, k->cc, 0, &match, &tgt) == 0) {
        /* krb5 times are unsigned 32-bit seconds: subtract as krb5 does. */
        if (krb5_timeofday(k->ctx, &now) == 0)
            left = (int32_t)((uint32_t)tgt.times.endtime - (uint32_t)now);
        krb5_free_cred_contents(k->ctx, &tgt);
    }
    krb5_free_principal(k->ctx, tgs);
    return left;
}

/* kinit -k -t KEYTAB -c CACHE PRINCIPAL: initial tickets from the keytab
 * into the private cache, which then names the principal for GSSAPI. The
 * KDC is asked before the cache is touched, so a failure keeps the old. */
static int krb_refresh(krb *k, ib_err *err)
{
    krb5_creds creds;
    memset(&creds, 0, sizeof creds);
    char what[1536], hint[1536];
    krb5_error_code rc = krb5_get_init_creds_keytab(k->ctx, &creds, k->princ, k->kt, 0, NULL, NULL);
    if (rc != 0) {
        snprintf(what, sizeof what, "cannot get tickets for principal %s with keytab %s",
                 k->principal, k->keytab);
        snprintf(hint, sizeof hint,
                 "run 'kinit -k -t %s %s' as the daemon's user to retry; 'klist -k %s' "
                 "lists its principals and key versions (a re-export makes older copies stale); "
                 "krb5.conf must name the realm's KDCs",
                 k->keytab, k->principal, k->keytab);
        return krb_fail(k, rc, what, hint, err);
    }
    rc = krb5_cc_initialize(k->ctx, k->cc, k->princ);
    if (rc == 0)
        rc = krb5_cc_store_cred(k->ctx, k->cc, &creds);
    krb5_free_cred_contents(k->ctx, &creds);
    if (rc != 0) {
        snprintf(what, sizeof what, "cannot store the tickets of %s in %s", k->principal, k->cache);
        return krb_fail(k, rc, what, "the daemon's user must be able to write the state directory",
                        err);
    }
    return 0;
}

/* Tickets for target.auth.principal in the private cache before the first
 * request. Without this, krb5 would take the keytab's FIRST principal for
 * an empty cache, whatever the task names. */
static int krb_ensure_tickets(const ib_target *target, const char *cache, ib_err *err)
{
    krb k = {.principal = target->auth_principal, .keytab = target->auth_keytab, .cache = cache};
    int rc = krb_open(&k, err);
    if (rc == 0)
        rc = krb_keytab_holds(&k, err);
    if (rc == 0 && krb_tgt_left(&k) < KRB_REFRESH_MARGIN_S)
        rc = krb_refresh(&k, err);
    krb_close(&k);
    return rc;
}

int ib_storage_kerberos_env(const ib_target *target, const char *state_dir, const char *task_name,
                            ib_err *err)
{
    if (target->type != IB_TARGET_REMOTEHDFS || target->auth_mode != IB_AUTH_KERBEROS)
        return 0;
    char cc[4096];
    int n = snprintf(cc, sizeof cc, "FILE:%s/krb5cc_%s", state_dir, task_name);
    if (n < 0 || (size_t)n >= sizeof cc)
        return ib_err_set(err, IB_E_TASK_FIELD,
                          "kerberos: state dir too long for a credential cache path: %s",
                          state_dir);
    if (!target->auth_principal || !target->auth_keytab)
        return ib_err_set(err, IB_E_TASK_FIELD,
                          "kerberos: target.auth needs a principal and a keytab");
    if (check_keytab(target->auth_keytab, err) != 0)
        return -1;
    if (setenv("KRB5CCNAME", cc, 1) != 0 ||
        setenv("KRB5_CLIENT_KTNAME", target->auth_keytab, 1) != 0)
        return ib_err_set(err, IB_E_NOMEM, "kerberos: cannot set the environment: out of memory");
    return krb_ensure_tickets(target, cc, err);
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
