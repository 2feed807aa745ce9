/* RemoteHDFS driver: the storage interface over WebHDFS with libcurl.
 *
 * Every NameNode request goes through nn_call, which owns high
 * availability: a StandbyException, a refused connection or a timeout
 * switches to the other NameNode (remembered for later calls), a
 * RetriableException or SafeModeException waits and retries the same one,
 * and proxy errors (5xx without a RemoteException) are retried; waits grow
 * exponentially with jitter, up to a bounded number of attempts. A request
 * that may have been applied although no answer came back is "ambiguous":
 * the non-idempotent operations (RENAME, CREATESNAPSHOT, DELETESNAPSHOT)
 * then interpret a refusal on the retry by checking the resulting state.
 *
 * Uploads are two explicit steps: CREATE at the NameNode without a body
 * (307 with the DataNode's URL), then the body to the DataNode only. libcurl
 * never follows a PUT redirect here, so it can never send the body to the
 * NameNode. Files are written to <path>._COPYING_ and renamed into place.
 * A DataNode failing mid-body restarts both steps from the first byte
 * (rewinding the source, see wh_upload). Every retry, wait and failover is
 * told to the handle's user (ib_storage_notice, "retrying").
 *
 * A handle may be shared by threads: NameNode choice, capabilities learnt
 * from the server, the bandwidth bucket, the jitter generator and the pool
 * of curl handles (each keeps its connections alive between requests) are
 * under a mutex; a curl handle is used by one thread at a time; names and
 * tuning do not change after set-up. */
#include "ib_webhdfs.h"

#include "ib_hdfs_checksum.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define POOL_MAX 17
#define JSON_MAX ((size_t)256 << 20) /* a LISTSTATUS of a huge directory */
#define ERROR_BODY_MAX ((size_t)64 << 10)
#define DEFAULT_BLOCK_SIZE ((int64_t)128 << 20)
#define TRASH ".Trash"

typedef struct webhdfs {
    ib_storage base;
    char *nn_base[2]; /* "http://host:port" */
    char *nn_name[2]; /* "host:port" for messages */
    int n_nn;
    char *user; /* user.name (simple auth), NULL with kerberos */
    bool kerberos;
    char *principal, *keytab;    /* kerberos: named in authentication errors */
    CURLSH *cookies;             /* kerberos: the hadoop.auth cookie, for every handle */
    pthread_mutex_t cookie_lock; /* recursive: libcurl's share lock */
    char *ca_file;
    char *state_dir;
    long ipresolve;
    double rate; /* bytes per second, 0 = unlimited */
    ib_webhdfs_tuning tune;
    pthread_mutex_t lock;
    int active;
    double tokens;   /* bandwidth bucket: bytes that may be sent now */
    double refilled; /* monotonic seconds of the last refill */
    bool no_batch;
    bool no_rename_options;
    int64_t block_size; /* the cluster's, learnt from uploaded files */
    uint64_t rng;
    CURL *idle[POOL_MAX];
    int n_idle;
    int pool_cap;
} webhdfs;

/* ---- small helpers ---- */

static int no_memory(ib_err *err, const char *what)
{
    return ib_err_set(err, IB_E_NOMEM, "webhdfs %s: out of memory", what);
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Exponential backoff with jitter: a wait in [d/2, d], d = base * 2^retry. */
static int backoff_ms(webhdfs *w, int retry)
{
    int64_t d = w->tune.backoff_base_ms;
    for (int i = 0; i < retry && d < w->tune.backoff_cap_ms; i++)
        d *= 2;
    if (d > w->tune.backoff_cap_ms)
        d = w->tune.backoff_cap_ms;
    pthread_mutex_lock(&w->lock);
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    uint64_t r = w->rng;
    pthread_mutex_unlock(&w->lock);
    int64_t half = d / 2;
    return (int)(half + (half > 0 ? (int64_t)(r % (uint64_t)(half + 1)) : 0));
}

/* ---- path and URL building ---- */

char *ib_webhdfs_encode_path(const char *path)
{
    size_t len = strlen(path);
    size_t cap = 3 * len + 2;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = path;
    while (*p) {
        if (*p == '/') {
            out[o++] = '/';
            p++;
            continue;
        }
        size_t seg = strcspn(p, "/");
        char *esc = curl_easy_escape(NULL, p, (int)seg);
        if (!esc) {
            free(out);
            return NULL;
        }
        size_t el = strlen(esc);
        memcpy(out + o, esc, el); /* at most 3 bytes per input byte */
        o += el;
        curl_free(esc);
        p += seg;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

/* "&name=value" with the value percent-encoded (a '+' would be a space to
 * the NameNode's query decoding). */
static int add_param(char *q, size_t n, const char *name, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    if (!esc)
        return -1;
    size_t used = strlen(q);
    int w = snprintf(q + used, n - used, "&%s=%s", name, esc);
    curl_free(esc);
    return w < 0 || (size_t)w >= n - used ? -1 : 0;
}

/* A request to the NameNode. */
typedef struct wh_req {
    const char *method; /* GET, PUT, DELETE */
    const char *op;
    const char *path;
    char query[1536]; /* extra parameters, "&a=b..." */
    bool fresh;       /* on a new connection, which libcurl never replays */
} wh_req;

static void req_init(wh_req *rq, const char *method, const char *op, const char *path)
{
    rq->method = method;
    rq->op = op;
    rq->path = path;
    rq->query[0] = '\0';
    rq->fresh = false;
}

static char *nn_url(webhdfs *w, int nn, const wh_req *rq)
{
    char *enc = ib_webhdfs_encode_path(rq->path);
    if (!enc)
        return NULL;
    char *user = NULL;
    if (w->user)
        user = curl_easy_escape(NULL, w->user, 0);
    char *url = dup_printf("%s/webhdfs/v1%s?op=%s%s%s%s", w->nn_base[nn], enc, rq->op,
                           user ? "&user.name=" : "", user ? user : "", rq->query);
    curl_free(user);
    free(enc);
    return url;
}

/* ---- the curl handle pool ---- */

static CURL *take_handle(webhdfs *w)
{
    CURL *h = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->n_idle > 0)
        h = w->idle[--w->n_idle];
    pthread_mutex_unlock(&w->lock);
    return h ? h : curl_easy_init();
}

static void give_handle(webhdfs *w, CURL *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&w->lock);
    if (w->n_idle < w->pool_cap) {
        w->idle[w->n_idle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    if (h)
        curl_easy_cleanup(h);
}

/* ---- one HTTP exchange ---- */

typedef struct wh_resp {
    long status;
    char *body; /* NUL-terminated */
    size_t len, cap, max;
    char *location;
    time_t date; /* the Date header, -1 or 0 when absent */
    CURLcode cc;
    char curl_msg[CURL_ERROR_SIZE];
    long os_errno;  /* of a failed connect, send or receive */
    bool connected; /* a connection was made (the request may have arrived) */
} wh_resp;

static void resp_reset(wh_resp *rs)
{
    free(rs->body);
    free(rs->location);
    memset(rs, 0, sizeof *rs);
}

/* Keep a body: a JSON answer up to JSON_MAX (more fails the transfer); with
 * rs->max set (the answer can only be an error there), the first rs->max
 * bytes, enough to report it. */
static bool resp_append(wh_resp *rs, const char *data, size_t len)
{
    if (rs->max && rs->len + len > rs->max)
        len = rs->max - rs->len;
    if (!rs->max && rs->len + len > JSON_MAX)
        return false;
    if (len == 0)
        return true;
    if (rs->len + len + 1 > rs->cap) {
        size_t cap = rs->cap ? rs->cap : 1024;
        while (cap < rs->len + len + 1)
            cap *= 2;
        char *grown = realloc(rs->body, cap);
        if (!grown)
            return false;
        rs->body = grown;
        rs->cap = cap;
    }
    memcpy(rs->body + rs->len, data, len);
    rs->len += len;
    rs->body[rs->len] = '\0';
    return true;
}

/* The body source of an upload. A transfer that failed part way (a
 * DataNode refusing or dying mid-body) is sent again from its first byte:
 * by rewinding the source when it can (src->rewind), else from the first
 * REPLAY_MAX bytes read from it, which are kept for that; a failure after
 * more than those cannot be restarted then. */
#define REPLAY_MAX ((size_t)1 << 20)

typedef struct wh_upload {
    struct webhdfs *w;
    ib_reader *src;
    int64_t size;     /* expected, -1 unknown */
    int64_t src_read; /* bytes taken from src */
    int64_t sent;     /* bytes given to curl in this attempt */
    uint8_t *replay;  /* the first bytes of src */
    size_t replay_len, replay_cap, replay_pos;
    bool replay_overflow; /* nothing kept: src went past REPLAY_MAX or rewinds itself */
    int64_t block_size;   /* for the checksum, restarted with the data */
    ib_hdfs_checksum *sum;
    ib_err *err; /* the reader's error, or a size mismatch */
    bool failed;
    const char *path;
} wh_upload;

/* Serve the body from its first byte again; false when that is not
 * possible (with up->failed set when the source's rewind failed). */
static bool upload_rewind(wh_upload *up)
{
    bool through_source = up->replay_overflow && up->src_read > 0;
    if (through_source && !up->src->rewind)
        return false;
    ib_hdfs_checksum *fresh = NULL;
    if (up->sum && !(fresh = ib_hdfs_checksum_new(up->block_size)))
        return false;
    if (through_source) {
        if (up->src->rewind(up->src->ctx, up->err) != 0) {
            ib_hdfs_checksum_free(fresh);
            up->failed = true;
            return false;
        }
        up->src_read = 0;
    }
    if (fresh) {
        ib_hdfs_checksum_free(up->sum);
        up->sum = fresh;
    }
    up->replay_pos = 0;
    up->sent = 0;
    return true;
}

static void replay_keep(wh_upload *up, const void *buf, size_t n)
{
    if (up->replay_overflow || n == 0)
        return;
    if (up->replay_len + n > REPLAY_MAX || up->replay_len + n > up->replay_cap) {
        size_t cap = up->replay_cap ? up->replay_cap : 65536;
        while (cap < up->replay_len + n)
            cap *= 2;
        uint8_t *grown = up->replay_len + n <= REPLAY_MAX ? realloc(up->replay, cap) : NULL;
        if (!grown) { /* too much to keep: no restart from here on */
            up->replay_overflow = true;
            free(up->replay);
            up->replay = NULL;
            up->replay_len = up->replay_cap = up->replay_pos = 0;
            return;
        }
        up->replay = grown;
        up->replay_cap = cap;
    }
    memcpy(up->replay + up->replay_len, buf, n);
    up->replay_len += n;
    up->replay_pos = up->replay_len;
}

/* The sink of a download, fed only with a 200 answer's body. */
typedef struct wh_download {
    ib_writer *dst;
    int64_t written;
    ib_err *err;
    bool failed;
} wh_download;

typedef struct wh_xfer {
    CURL *h;
    wh_resp *rs;
    wh_upload *up;
    wh_download *down;
} wh_xfer;

/* The value of header name in the header line buf, trimmed; NULL if the
 * line is another header. */
static char *header_value(const char *buf, size_t len, const char *name)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(buf, name, nl) != 0 || buf[nl] != ':')
        return NULL;
    const char *v = buf + nl + 1;
    size_t vl = len - nl - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
        vl--;
    return strndup(v, vl);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    wh_xfer *x = ud;
    size_t len = size * nitems;
    char *v;
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        free(x->rs->location); /* a new response (after 100 Continue) */
        x->rs->location = NULL;
    } else if ((v = header_value(buf, len, "Location"))) {
        free(x->rs->location);
        x->rs->location = v;
    } else if ((v = header_value(buf, len, "Date"))) {
        x->rs->date = curl_getdate(v, NULL);
        free(v);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    wh_xfer *x = ud;
    size_t len = size * nmemb;
    long status = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
    if (x->down && status == 200) {
        if (x->down->dst->write(x->down->dst->ctx, data, len, x->down->err) != 0) {
            x->down->failed = true;
            return CURL_WRITEFUNC_ERROR;
        }
        x->down->written += (int64_t)len;
        return len;
    }
    if (!resp_append(x->rs, data, len))
        return CURL_WRITEFUNC_ERROR;
    return len;
}

/* Bytes from the source itself, checked against the expected size. */
static ssize_t read_source(wh_upload *up, char *buf, size_t cap)
{
    if (up->size >= 0 && (int64_t)cap > up->size - up->src_read + 1)
        cap = (size_t)(up->size - up->src_read + 1); /* one byte more reveals a long source */
    ssize_t n = up->src->read(up->src->ctx, buf, cap, up->err);
    if (n < 0)
        return -1;
    if (up->size >= 0 && up->src_read + n > up->size)
        return ib_err_set(up->err, IB_E_SOURCE_READ,
                          "put %s: the source is longer than the expected %" PRId64 " bytes",
                          up->path, up->size);
    if (n == 0 && up->size >= 0 && up->src_read < up->size)
        return ib_err_set(up->err, IB_E_SOURCE_READ,
                          "put %s: the source ended after %" PRId64 " of %" PRId64 " bytes",
                          up->path, up->src_read, up->size);
    up->src_read += n;
    replay_keep(up, buf, (size_t)n);
    return n;
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The bandwidth cap: one token bucket for every upload of the handle, so
 * that parallel streams together stay under it. Returns how many of want
 * bytes may go, after waiting for them; slices of 1/8 s keep it smooth. */
static size_t throttle(webhdfs *w, size_t want)
{
    if (w->rate <= 0)
        return want;
    double slice = w->rate / 8;
    if ((double)want > slice)
        want = (size_t)slice + 1;
    pthread_mutex_lock(&w->lock);
    double now = monotonic_s();
    w->tokens += (now - w->refilled) * w->rate;
    if (w->tokens > slice)
        w->tokens = slice; /* no bursts after idle time */
    w->refilled = now;
    w->tokens -= (double)want;
    double debt = -w->tokens;
    pthread_mutex_unlock(&w->lock);
    if (debt > 0)
        sleep_ms((int)(debt / w->rate * 1000.0) + 1);
    return want;
}

/* Give back the tokens of bytes taken but not sent. */
static void unthrottle(webhdfs *w, size_t unused)
{
    if (w->rate <= 0 || unused == 0)
        return;
    pthread_mutex_lock(&w->lock);
    w->tokens += (double)unused;
    pthread_mutex_unlock(&w->lock);
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    wh_upload *up = ud;
    size_t cap = throttle(up->w, size * nitems);
    ssize_t n;
    if (up->replay_pos < up->replay_len) {
        size_t left = up->replay_len - up->replay_pos;
        n = (ssize_t)(left < cap ? left : cap);
        memcpy(buf, up->replay + up->replay_pos, (size_t)n);
        up->replay_pos += (size_t)n;
    } else {
        n = read_source(up, buf, cap ? cap : 1);
    }
    if (n < 0) {
        up->failed = true;
        return CURL_READFUNC_ABORT;
    }
    unthrottle(up->w, cap - (size_t)n);
    if (up->sum && n > 0)
        ib_hdfs_checksum_update(up->sum, buf, (size_t)n);
    up->sent += n;
    return (size_t)n;
}

/* libcurl rewinds to resend a request on a connection found dead. */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    wh_upload *up = ud;
    if (offset != 0 || origin != SEEK_SET)
        return CURL_SEEKFUNC_CANTSEEK;
    return upload_rewind(up) ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_CANTSEEK;
}

static size_t read_nothing(char *buf, size_t size, size_t nitems, void *ud)
{
    (void)buf, (void)size, (void)nitems, (void)ud;
    return 0;
}

static void set_common(webhdfs *w, CURL *h, const char *url, wh_xfer *x)
{
    /* libcurl 7.88 (Debian 12) leaks the cookie file list on reset
     * (curl#10694): drop it first; the share keeps the cookies. */
    if (w->cookies)
        curl_easy_setopt(h, CURLOPT_COOKIEFILE, NULL);
    curl_easy_reset(h); /* keeps the connections alive */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->rs->curl_msg);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)w->tune.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)w->tune.stall_timeout_s);
    curl_easy_setopt(h, CURLOPT_IPRESOLVE, w->ipresolve);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "iotdb-backupd/" IB_VERSION);
    if (w->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, w->ca_file);
    if (w->kerberos) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_NEGOTIATE);
        curl_easy_setopt(h, CURLOPT_USERPWD, ":");
        /* The hadoop.auth cookie spares later requests, of every handle,
         * the SPNEGO round trip. */
        curl_easy_setopt(h, CURLOPT_SHARE, w->cookies);
        curl_easy_setopt(h, CURLOPT_COOKIEFILE, "");
    }
}

/* False only when the request certainly did not reach the server: no
 * connection, or a timeout before anything was sent. */
static bool request_may_have_arrived(CURLcode cc, long status, curl_off_t pretransfer_us)
{
    if (cc == CURLE_OK || status > 0)
        return true;
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return false;
    case CURLE_OPERATION_TIMEDOUT:
        return pretransfer_us > 0;
    default:
        return true;
    }
}

/* Perform one request; rs receives status, Location and (error) body. */
static void transfer(webhdfs *w, wh_xfer *x, const char *method, const char *url, bool fresh)
{
    CURL *h = x->h;
    set_common(w, h, url, x);
    if (fresh)
        curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    struct curl_slist *hdr = NULL;
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        if (x->up) {
            curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(h, CURLOPT_READDATA, x->up);
            curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
            curl_easy_setopt(h, CURLOPT_SEEKDATA, x->up);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->up->size);
            hdr = curl_slist_append(hdr, "Content-Type: application/octet-stream");
        } else {
            curl_easy_setopt(h, CURLOPT_READFUNCTION, read_nothing);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)0);
        }
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    if (hdr)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    x->rs->cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->rs->status);
    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &x->rs->os_errno);
    curl_off_t pretransfer_us = 0;
    curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
    x->rs->connected = request_may_have_arrived(x->rs->cc, x->rs->status, pretransfer_us);
    curl_slist_free_all(hdr);
}

/* ---- errors ---- */

static ib_code code_for_exception(const char *ex)
{
    static const struct {
        const char *name;
        ib_code code;
    } map[] = {
        {"FileNotFoundException", IB_E_TARGET_NOT_FOUND},
        {"AccessControlException", IB_E_TARGET_AUTH},
        {"AuthorizationException", IB_E_TARGET_AUTH},
        {"SecurityException", IB_E_TARGET_AUTH},
        {"InvalidToken", IB_E_TARGET_AUTH},
        {"DSQuotaExceededException", IB_E_TARGET_SPACE},
        {"NSQuotaExceededException", IB_E_TARGET_SPACE},
        {"QuotaExceededException", IB_E_TARGET_SPACE},
        {"QuotaByStorageTypeExceededException", IB_E_TARGET_SPACE},
        {"SnapshotException", IB_E_TARGET_SNAPSHOT},
        {"SnapshotAccessControlException", IB_E_TARGET_SNAPSHOT},
        {"StandbyException", IB_E_TARGET_UNREACHABLE},
        {"RetriableException", IB_E_TARGET_UNREACHABLE},
        {"SafeModeException", IB_E_TARGET_UNREACHABLE},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(ex, map[i].name) == 0)
            return map[i].code;
    return IB_E_TARGET_IO;
}

static const char *hint_for(ib_code code)
{
    switch (code) {
    case IB_E_TARGET_SPACE:
        return " HINT: raise the quota (hdfs dfsadmin -setSpaceQuota / -setQuota), free space "
               "or lower max_copies";
    case IB_E_TARGET_AUTH:
        return " HINT: check the target's auth user and the permissions of the target path";
    default:
        return "";
    }
}

int ib_webhdfs_parse_remote_exception(const char *body, size_t len, char *exception,
                                      size_t exception_size, char *message, size_t message_size)
{
    if (!body)
        return -1;
    cJSON *doc = cJSON_ParseWithLength(body, len);
    cJSON *re = cJSON_GetObjectItemCaseSensitive(doc, "RemoteException");
    cJSON *ex = cJSON_GetObjectItemCaseSensitive(re, "exception");
    cJSON *msg = cJSON_GetObjectItemCaseSensitive(re, "message");
    int rc = -1;
    if (cJSON_IsString(ex) && ex->valuestring[0]) {
        snprintf(exception, exception_size, "%s", ex->valuestring);
        snprintf(message, message_size, "%s", cJSON_IsString(msg) ? msg->valuestring : "");
        rc = 0;
    }
    cJSON_Delete(doc);
    return rc;
}

/* The first line of a non-JSON body (an HTML page from a proxy), with tags
 * stripped so the title shows. */
static void first_line(const char *body, size_t len, char *out, size_t n)
{
    size_t o = 0;
    bool in_tag = false;
    for (size_t i = 0; i < len && o + 1 < n; i++) {
        char c = body[i];
        if (c == '<') {
            in_tag = true;
            if (o > 0)
                break; /* the first text run, e.g. the <title> */
            continue;
        }
        if (c == '>') {
            in_tag = false;
            continue;
        }
        if (in_tag)
            continue;
        if (c == '\n' || c == '\r') {
            if (o > 0)
                break;
            continue;
        }
        out[o++] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }
    out[o] = '\0';
}

static void lower_op(const char *op, char *out, size_t n)
{
    size_t i = 0;
    for (; op[i] && i + 1 < n; i++)
        out[i] = (char)(op[i] >= 'A' && op[i] <= 'Z' ? op[i] - 'A' + 'a' : op[i]);
    out[i] = '\0';
}

/* Fill err from an HTTP answer that is an error. */
static int answer_error(const wh_req *rq, const wh_resp *rs, const char *server, ib_err *err)
{
    char op[32], ex[128], msg[640];
    lower_op(rq->op, op, sizeof op);
    if (ib_webhdfs_parse_remote_exception(rs->body, rs->len, ex, sizeof ex, msg, sizeof msg) == 0) {
        ib_code code = code_for_exception(ex);
        return ib_err_set(err, code, "webhdfs %s %s: %s: %s (%s, http %ld).%s", op, rq->path, ex,
                          msg, server, rs->status, hint_for(code));
    }
    char line[200];
    first_line(rs->body ? rs->body : "", rs->len, line, sizeof line);
    ib_code code = rs->status == 401 || rs->status == 403 ? IB_E_TARGET_AUTH : IB_E_TARGET_IO;
    if (rs->status == 401)
        return ib_err_set(err, code,
                          "webhdfs %s %s: http 401 from %s: %s. HINT: the cluster requires "
                          "Kerberos: set the target's auth to kerberos",
                          op, rq->path, server, line[0] ? line : "authentication required");
    return ib_err_set(err, code, "webhdfs %s %s: http %ld from %s: %s", op, rq->path, rs->status,
                      server, line[0] ? line : "(empty body)");
}

static int network_error(const wh_req *rq, const wh_resp *rs, const char *server, ib_err *err)
{
    char op[32];
    lower_op(rq->op, op, sizeof op);
    const char *detail = rs->curl_msg[0] ? rs->curl_msg : curl_easy_strerror(rs->cc);
    if (rs->cc == CURLE_PEER_FAILED_VERIFICATION || rs->cc == CURLE_SSL_CACERT_BADFILE ||
        rs->cc == CURLE_SSL_CONNECT_ERROR)
        return ib_err_set(err, IB_E_TARGET_UNREACHABLE,
                          "webhdfs %s %s: tls with %s failed: %s. HINT: set the target's "
                          "ca_file to the CA that signed the NameNode and DataNode certificates",
                          op, rq->path, server, detail);
    bool datanode = strncmp(server, "datanode", 8) == 0;
    if (datanode && (rs->cc == CURLE_COULDNT_CONNECT || rs->cc == CURLE_OPERATION_TIMEDOUT))
        return ib_err_set(err, IB_E_TARGET_UNREACHABLE,
                          "webhdfs %s %s: %s: %s. HINT: the namenode sends data to and from this "
                          "datanode: check that it runs and that this machine may reach it",
                          op, rq->path, server, detail);
    if (rs->cc == CURLE_COULDNT_CONNECT || rs->cc == CURLE_COULDNT_RESOLVE_HOST ||
        rs->cc == CURLE_OPERATION_TIMEDOUT)
        return ib_err_set(err, IB_E_TARGET_UNREACHABLE,
                          "webhdfs %s %s: %s: %s. HINT: check the namenode addresses and "
                          "namenode_http_port (the WebHDFS port, 9870 by default, not the RPC "
                          "port) and that this machine may reach them",
                          op, rq->path, server, detail);
    return ib_err_set(err, IB_E_TARGET_UNREACHABLE, "webhdfs %s %s: %s: %s", op, rq->path, server,
                      detail);
}

/* Every attempt got a server error without a RemoteException (a proxy's
 * page): the NameNode side is unavailable, not the request wrong. */
static int storm_error(const wh_req *rq, const wh_resp *rs, const char *server, int attempts,
                       ib_err *err)
{
    char op[32], line[200];
    lower_op(rq->op, op, sizeof op);
    first_line(rs->body ? rs->body : "", rs->len, line, sizeof line);
    return ib_err_set(err, IB_E_TARGET_UNREACHABLE,
                      "webhdfs %s %s: %s answered http %ld (%s) to all %d attempts. HINT: the "
                      "namenode, or a proxy in front of it, is overloaded or restarting; the "
                      "next run retries (raise target.retry_attempts to wait longer)",
                      op, rq->path, server, rs->status, line[0] ? line : "empty body", attempts);
}

static bool exception_is(const wh_resp *rs, const char *name)
{
    char ex[128], msg[8];
    if (ib_webhdfs_parse_remote_exception(rs->body, rs->len, ex, sizeof ex, msg, sizeof msg) != 0)
        return false;
    return strcmp(ex, name) == 0;
}

static bool has_remote_exception(const wh_resp *rs)
{
    char ex[128], msg[8];
    return ib_webhdfs_parse_remote_exception(rs->body, rs->len, ex, sizeof ex, msg, sizeof msg) ==
           0;
}

static bool exception_message_has(const wh_resp *rs, const char *needle)
{
    char ex[128], msg[640];
    if (ib_webhdfs_parse_remote_exception(rs->body, rs->len, ex, sizeof ex, msg, sizeof msg) != 0)
        return false;
    return strstr(msg, needle) != NULL;
}

static bool fatal_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_WRITE_ERROR:
    case CURLE_READ_ERROR:
        return true;
    default:
        return false;
    }
}

/* ---- retry notices ---- */

/* What went wrong with an attempt, in a few words naming the server:
 * "connection refused by 127.0.0.1:9870", "StandbyException (http 403)
 * from 127.0.0.1:9870". */
static void attempt_cause(const wh_resp *rs, const char *server, char *out, size_t n)
{
    char ex[128], msg[8];
    if (rs->cc == CURLE_OK) {
        if (ib_webhdfs_parse_remote_exception(rs->body, rs->len, ex, sizeof ex, msg, sizeof msg) ==
            0)
            snprintf(out, n, "%s (http %ld) from %s", ex, rs->status, server);
        else
            snprintf(out, n, "http %ld from %s", rs->status, server);
        return;
    }
    bool reset = rs->os_errno == ECONNRESET || rs->os_errno == EPIPE;
    const char *what;
    switch (rs->cc) {
    case CURLE_COULDNT_CONNECT:
        what = rs->os_errno == ECONNREFUSED ? "connection refused by" : "cannot connect to";
        break;
    case CURLE_OPERATION_TIMEDOUT:
        what = "timed out talking to";
        break;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
        what = reset ? "connection reset by" : "connection lost to";
        break;
    case CURLE_GOT_NOTHING:
        what = "connection closed without an answer by";
        break;
    case CURLE_PARTIAL_FILE:
        what = "answer cut short by";
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        what = "cannot resolve";
        break;
    default:
        snprintf(out, n, "%s with %s", curl_easy_strerror(rs->cc), server);
        return;
    }
    snprintf(out, n, "%s %s", what, server);
}

/* Tell the handle's user of a retry, a wait or a failover, in one line:
 * "<OP> <path>: <cause> (attempt k/n), <action>[ in <wait> s]".
 * wait_ms < 0: no wait. */
static void notice_retry(webhdfs *w, const char *op, const char *path, const char *cause,
                         int attempt, const char *action, int wait_ms)
{
    if (!w->base.notice)
        return;
    char wait[48] = "";
    if (wait_ms >= 0)
        snprintf(wait, sizeof wait, " in %.1f s", (double)wait_ms / 1000.0);
    ib_storage_notice(&w->base, "retrying", "%s %s: %s (attempt %d/%d), %s%s", op, path, cause,
                      attempt, w->tune.max_attempts, action, wait);
}

/* "datanode host:port" of a DataNode URL, for messages. */
static void datanode_name(const char *url, char *out, size_t n)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        snprintf(out, n, "datanode %s:%s", host, port);
    else
        snprintf(out, n, "datanode (%s)", url);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
}

/* ---- the NameNode call with HA, retries and backoff ---- */

static int active_nn(webhdfs *w)
{
    pthread_mutex_lock(&w->lock);
    int nn = w->active;
    pthread_mutex_unlock(&w->lock);
    return nn;
}

static void set_active(webhdfs *w, int nn)
{
    pthread_mutex_lock(&w->lock);
    w->active = nn;
    pthread_mutex_unlock(&w->lock);
}

/* A 401 although libcurl speaks SPNEGO: GSSAPI had no ticket to offer
 * (the keytab lacks the principal's current keys, the KDC does not know the
 * principal or cannot be reached) or the NameNode wants another. libcurl
 * does not pass GSSAPI's reason on; kinit with the same keytab shows it. */
static int kerberos_refused(const webhdfs *w, const wh_req *rq, const char *server, ib_err *err)
{
    char op[32];
    lower_op(rq->op, op, sizeof op);
    return ib_err_set(err, IB_E_TARGET_AUTH,
                      "webhdfs %s %s: http 401 from %s: kerberos authentication as %s with keytab "
                      "%s failed. HINT: run 'kinit -k -t %s %s' as the daemon's user to see "
                      "krb5's reason (keys older than the KDC's, a principal the KDC does not "
                      "know, no KDC for the realm in krb5.conf); the namenodes' principals must be "
                      "HTTP/<host name as in the task>",
                      op, rq->path, server, w->principal, w->keytab, w->keytab, w->principal);
}

/* Send rq to the active NameNode until a final answer: 0 with rs holding it
 * (any status: the caller judges it), or -1 when no NameNode gave one.
 * *ambiguous is set when an earlier attempt may have been applied. */
static int nn_call(webhdfs *w, CURL *h, const wh_req *rq, wh_resp *rs, bool *ambiguous, ib_err *err)
{
    int nn = active_nn(w);
    int retries = 0;
    bool switched_since_wait = false;
    *ambiguous = false;
    for (int attempt = 1;; attempt++) {
        char *url = nn_url(w, nn, rq);
        if (!url)
            return no_memory(err, rq->op);
        resp_reset(rs);
        wh_xfer x = {.h = h, .rs = rs};
        transfer(w, &x, rq->method, url, rq->fresh);
        free(url);
        bool failover = false;
        if (rs->cc == CURLE_OK) {
            if (exception_is(rs, "StandbyException")) {
                failover = true;
            } else if (exception_is(rs, "RetriableException") ||
                       exception_is(rs, "SafeModeException")) {
                /* not applied: wait and ask the same NameNode again */
            } else if (rs->status >= 500 && !has_remote_exception(rs)) {
                *ambiguous = true; /* a proxy's error page: the request may have passed */
            } else if (rs->status == 401 && w->kerberos) {
                return kerberos_refused(w, rq, w->nn_name[nn], err);
            } else {
                /* A 307 proves nothing: a NameNode redirects CREATE and OPEN
                 * without an HA check, even in standby. The caller follows
                 * it; the next answer of another kind tells who is active. */
                if (rs->status != 307)
                    set_active(w, nn);
                return 0;
            }
        } else if (fatal_curl(rs->cc)) {
            return network_error(rq, rs, w->nn_name[nn], err);
        } else {
            if (rs->connected)
                *ambiguous = true;
            failover = !rs->connected || rs->cc == CURLE_OPERATION_TIMEDOUT;
        }
        if (attempt >= w->tune.max_attempts) {
            if (rs->cc != CURLE_OK)
                return network_error(rq, rs, w->nn_name[nn], err);
            answer_error(rq, rs, w->nn_name[nn], err);
            if (rs->status >= 500 && !has_remote_exception(rs))
                storm_error(rq, rs, w->nn_name[nn], attempt, err);
            if (exception_is(rs, "StandbyException") && w->n_nn > 1)
                ib_err_set(err, IB_E_TARGET_UNREACHABLE,
                           "webhdfs %s %s: no active namenode: %s and %s answer as standby "
                           "or cannot be reached. HINT: check the cluster's HA state "
                           "(hdfs haadmin -getAllServiceState)",
                           rq->op, rq->path, w->nn_name[0], w->nn_name[1]);
            return -1;
        }
        char cause[400], action[340];
        attempt_cause(rs, w->nn_name[nn], cause, sizeof cause);
        snprintf(action, sizeof action, "retrying");
        if (failover && w->n_nn > 1) {
            nn = 1 - nn;
            snprintf(action, sizeof action, "failing over to namenode %s", w->nn_name[nn]);
            if (!switched_since_wait) {
                switched_since_wait = true; /* try the other one at once */
                notice_retry(w, rq->op, rq->path, cause, attempt, action, -1);
                continue;
            }
        }
        switched_since_wait = false;
        int wait = backoff_ms(w, retries++);
        notice_retry(w, rq->op, rq->path, cause, attempt, action, wait);
        sleep_ms(wait);
    }
}

/* nn_call, then judge the status: 0 only for expect_status. */
static int nn_expect(webhdfs *w, CURL *h, const wh_req *rq, long expect_status, wh_resp *rs,
                     bool *ambiguous, ib_err *err)
{
    bool amb = false;
    if (nn_call(w, h, rq, rs, &amb, err) != 0)
        return -1;
    if (ambiguous)
        *ambiguous = amb;
    if (rs->status != expect_status)
        return answer_error(rq, rs, w->nn_name[active_nn(w)], err);
    return 0;
}

static cJSON *parse_json(const wh_req *rq, const wh_resp *rs, ib_err *err)
{
    cJSON *doc = rs->body ? cJSON_ParseWithLength(rs->body, rs->len) : NULL;
    if (!doc) {
        char line[120];
        first_line(rs->body ? rs->body : "", rs->len, line, sizeof line);
        ib_err_set(err, IB_E_TARGET_IO, "webhdfs %s %s: the answer is not JSON: %s", rq->op,
                   rq->path, line[0] ? line : "(empty body)");
    }
    return doc;
}

/* {"boolean": true|false} */
static int parse_boolean(const wh_req *rq, const wh_resp *rs, bool *value, ib_err *err)
{
    cJSON *doc = parse_json(rq, rs, err);
    if (!doc)
        return -1;
    cJSON *b = cJSON_GetObjectItemCaseSensitive(doc, "boolean");
    int rc = 0;
    if (cJSON_IsBool(b))
        *value = cJSON_IsTrue(b);
    else
        rc = ib_err_set(err, IB_E_TARGET_IO, "webhdfs %s %s: no \"boolean\" in the answer", rq->op,
                        rq->path);
    cJSON_Delete(doc);
    return rc;
}

/* ---- parsers ---- */

static int64_t json_int(const cJSON *obj, const char *name, int64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    /* Casting a double outside int64_t's range is undefined: such a value
     * (1e400, 1e19) is as good as absent. */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -9.2e18 && v->valuedouble <= 9.2e18))
        return dflt;
    return (int64_t)v->valuedouble;
}

static const char *json_str(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int ib_webhdfs_parse_file_status(const char *body, size_t len, ib_storage_info *info, ib_err *err)
{
    memset(info, 0, sizeof *info);
    cJSON *doc = body ? cJSON_ParseWithLength(body, len) : NULL;
    cJSON *fs = cJSON_GetObjectItemCaseSensitive(doc, "FileStatus");
    const char *type = json_str(fs, "type");
    if (!cJSON_IsObject(fs) || !type) {
        cJSON_Delete(doc);
        return ib_err_set(err, IB_E_TARGET_IO,
                          "webhdfs getfilestatus: answer has no FileStatus with a type");
    }
    info->exists = true;
    info->is_dir = strcmp(type, "DIRECTORY") == 0;
    info->size = json_int(fs, "length", 0);
    info->mtime_ms = json_int(fs, "modificationTime", 0);
    cJSON_Delete(doc);
    return 0;
}

static int add_listing_entry(const cJSON *st, const char *path, ib_storage_entry **entries,
                             size_t *n, size_t *cap, bool *is_file, ib_err *err)
{
    const char *name = json_str(st, "pathSuffix");
    const char *type = json_str(st, "type");
    if (!name || !type)
        return ib_err_set(err, IB_E_TARGET_IO, "webhdfs list %s: an entry lacks pathSuffix or type",
                          path);
    if (name[0] == '\0') {
        *is_file = true;
        return 0;
    }
    if (strcmp(name, TRASH) == 0)
        return 0; /* a snapshot trash root, not ours */
    /* Names are joined to paths for listing, pruning and restore: a server
     * answering ".", ".." or a name with '/' could point them elsewhere. */
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/'))
        return ib_err_set(err, IB_E_TARGET_IO,
                          "webhdfs list %s: the server answered an unsafe entry name", path);
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        ib_storage_entry *grown = realloc(*entries, nc * sizeof *grown);
        if (!grown)
            return no_memory(err, "list");
        *entries = grown;
        *cap = nc;
    }
    ib_storage_entry *e = &(*entries)[*n];
    e->name = strdup(name);
    if (!e->name)
        return no_memory(err, "list");
    e->is_dir = strcmp(type, "DIRECTORY") == 0;
    e->size = json_int(st, "length", 0);
    e->mtime_ms = json_int(st, "modificationTime", 0);
    (*n)++;
    return 0;
}

int ib_webhdfs_parse_listing(const char *body, size_t len, const char *path,
                             ib_storage_entry **entries, size_t *n, size_t *cap, int64_t *remaining,
                             bool *is_file, ib_err *err)
{
    *remaining = 0;
    *is_file = false;
    cJSON *doc = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *statuses = cJSON_GetObjectItemCaseSensitive(doc, "FileStatuses");
    const cJSON *dl = cJSON_GetObjectItemCaseSensitive(doc, "DirectoryListing");
    if (dl) {
        const cJSON *partial = cJSON_GetObjectItemCaseSensitive(dl, "partialListing");
        statuses = cJSON_GetObjectItemCaseSensitive(partial, "FileStatuses");
        *remaining = json_int(dl, "remainingEntries", -1);
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(statuses, "FileStatus");
    if (!cJSON_IsArray(arr) || *remaining < 0) {
        cJSON_Delete(doc);
        return ib_err_set(err, IB_E_TARGET_IO, "webhdfs list %s: answer is not a listing", path);
    }
    const cJSON *st;
    int rc = 0;
    cJSON_ArrayForEach(st, arr)
    {
        if (add_listing_entry(st, path, entries, n, cap, is_file, err) != 0) {
            rc = -1;
            break;
        }
    }
    cJSON_Delete(doc);
    return rc;
}

int ib_webhdfs_parse_checksum(const char *body, size_t len, char *out, size_t n, ib_err *err)
{
    cJSON *doc = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *fc = cJSON_GetObjectItemCaseSensitive(doc, "FileChecksum");
    const char *alg = json_str(fc, "algorithm");
    const char *hex = json_str(fc, "bytes");
    int64_t length = json_int(fc, "length", -1);
    int rc = 0;
    /* Hadoop 3.2 prints 4 bytes more than length: keep the first length. */
    if (!alg || !hex || length < 0 || strlen(hex) < (size_t)length * 2)
        rc = ib_err_set(err, IB_E_TARGET_IO, "webhdfs getfilechecksum: malformed FileChecksum");
    else if (snprintf(out, n, "%s:%.*s", alg, (int)(length * 2), hex) >= (int)n)
        rc = ib_err_set(err, IB_E_TARGET_IO, "webhdfs getfilechecksum: checksum too long");
    cJSON_Delete(doc);
    return rc;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const ib_storage_entry *)a)->name, ((const ib_storage_entry *)b)->name);
}

/* ---- driver operations ---- */

static int wh_stat_h(webhdfs *w, CURL *h, const char *path, ib_storage_info *info, ib_err *err)
{
    wh_req rq;
    req_init(&rq, "GET", "GETFILESTATUS", path);
    wh_resp rs = {0};
    bool amb;
    int rc = nn_call(w, h, &rq, &rs, &amb, err);
    if (rc == 0) {
        if (rs.status == 200)
            rc = ib_webhdfs_parse_file_status(rs.body, rs.len, info, err);
        else if (rs.status == 404 && exception_is(&rs, "FileNotFoundException"))
            memset(info, 0, sizeof *info);
        else
            rc = answer_error(&rq, &rs, w->nn_name[active_nn(w)], err);
    }
    resp_reset(&rs);
    return rc;
}

static int wh_stat(ib_storage *s, const char *path, ib_storage_info *info, ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "stat");
    int rc = wh_stat_h(w, h, path, info, err);
    give_handle(w, h);
    return rc;
}

static int wh_mkdirs(ib_storage *s, const char *path, ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "mkdirs");
    wh_req rq;
    req_init(&rq, "PUT", "MKDIRS", path);
    wh_resp rs = {0};
    bool ok = false;
    int rc = nn_expect(w, h, &rq, 200, &rs, NULL, err);
    if (rc == 0)
        rc = parse_boolean(&rq, &rs, &ok, err);
    if (rc == 0 && !ok)
        rc =
            ib_err_set(err, IB_E_TARGET_IO, "webhdfs mkdirs %s: the namenode answered false", path);
    resp_reset(&rs);
    give_handle(w, h);
    return rc;
}

static int delete_h(webhdfs *w, CURL *h, const char *path, bool recursive, ib_err *err)
{
    wh_req rq;
    req_init(&rq, "DELETE", "DELETE", path);
    if (add_param(rq.query, sizeof rq.query, "recursive", recursive ? "true" : "false") != 0)
        return no_memory(err, "delete");
    wh_resp rs = {0};
    bool gone = false;
    /* false means nothing was there, also after a replay: the goal holds. */
    int rc = nn_expect(w, h, &rq, 200, &rs, NULL, err);
    if (rc == 0)
        rc = parse_boolean(&rq, &rs, &gone, err);
    resp_reset(&rs);
    return rc;
}

static int wh_remove(ib_storage *s, const char *path, bool recursive, ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "delete");
    int rc = delete_h(w, h, path, recursive, err);
    give_handle(w, h);
    return rc;
}

/* After RENAME refused: did an earlier attempt do it? Callers made sure
 * that to did not exist before, and libcurl itself may replay a request on a
 * fresh connection when a kept-alive one died without an answer, so the
 * state decides: from gone and to present (with the expected size when
 * known, else -1) means done. */
static int rename_outcome(webhdfs *w, CURL *h, const char *from, const char *to,
                          int64_t expect_size, ib_err *err)
{
    ib_storage_info fi, ti;
    if (wh_stat_h(w, h, from, &fi, err) != 0 || wh_stat_h(w, h, to, &ti, err) != 0)
        return -1;
    if (!fi.exists && ti.exists && (expect_size < 0 || ti.size == expect_size))
        return 0;
    if (!fi.exists)
        return ib_err_set(err, IB_E_TARGET_NOT_FOUND, "webhdfs rename %s to %s: %s does not exist",
                          from, to, from);
    if (ti.exists)
        return ib_err_set(err, IB_E_TARGET_IO, "webhdfs rename %s to %s: %s already exists", from,
                          to, to);
    return ib_err_set(err, IB_E_TARGET_NOT_FOUND,
                      "webhdfs rename %s to %s: the namenode refused (is the parent of %s "
                      "missing?)",
                      from, to, to);
}

/* Plain RENAME onto a path that must not exist. */
static int rename_h(webhdfs *w, CURL *h, const char *from, const char *to, int64_t expect_size,
                    ib_err *err)
{
    wh_req rq;
    req_init(&rq, "PUT", "RENAME", from);
    if (add_param(rq.query, sizeof rq.query, "destination", to) != 0)
        return ib_err_set(err, IB_E_TARGET_IO, "webhdfs rename %s: destination too long", from);
    wh_resp rs = {0};
    bool ok = false;
    int rc = nn_expect(w, h, &rq, 200, &rs, NULL, err);
    if (rc == 0)
        rc = parse_boolean(&rq, &rs, &ok, err);
    resp_reset(&rs);
    if (rc == 0 && !ok)
        rc = rename_outcome(w, h, from, to, expect_size, err);
    return rc;
}

static int wh_rename(ib_storage *s, const char *from, const char *to, ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "rename");
    ib_storage_info ti;
    int rc = wh_stat_h(w, h, to, &ti, err);
    /* An existing directory would swallow the source: never rename onto it. */
    if (rc == 0 && ti.exists)
        rc = ib_err_set(err, IB_E_TARGET_IO, "webhdfs rename %s to %s: %s already exists", from, to,
                        to);
    if (rc == 0)
        rc = rename_h(w, h, from, to, -1, err);
    give_handle(w, h);
    return rc;
}

/* Replace the file at to with from (rename with OVERWRITE, atomic); on a
 * server without rename options, delete then rename. */
static int replace_file_h(webhdfs *w, CURL *h, const char *from, const char *to,
                          int64_t expect_size, ib_err *err)
{
    pthread_mutex_lock(&w->lock);
    bool no_options = w->no_rename_options;
    pthread_mutex_unlock(&w->lock);
    if (!no_options) {
        wh_req rq;
        req_init(&rq, "PUT", "RENAME", from);
        if (add_param(rq.query, sizeof rq.query, "destination", to) != 0 ||
            add_param(rq.query, sizeof rq.query, "renameoptions", "OVERWRITE") != 0)
            return ib_err_set(err, IB_E_TARGET_IO, "webhdfs rename %s: destination too long", from);
        wh_resp rs = {0};
        bool amb = false;
        int rc = nn_call(w, h, &rq, &rs, &amb, err);
        bool unsupported =
            rc == 0 && rs.status == 400 && exception_is(&rs, "IllegalArgumentException");
        if (rc == 0 && !unsupported && rs.status != 200) {
            if (exception_is(&rs, "FileNotFoundException")) /* a replay of a done one? */
                rc = rename_outcome(w, h, from, to, expect_size, err);
            else if (exception_message_has(&rs, "must both be"))
                rc = ib_err_set(err, IB_E_TARGET_IO,
                                "webhdfs rename %s to %s: a directory is in the way", from, to);
            else
                rc = answer_error(&rq, &rs, w->nn_name[active_nn(w)], err);
        }
        resp_reset(&rs);
        if (!unsupported)
            return rc;
        pthread_mutex_lock(&w->lock);
        w->no_rename_options = true;
        pthread_mutex_unlock(&w->lock);
    }
    /* A server before rename options: check, delete the old file, rename. */
    ib_storage_info dest;
    if (wh_stat_h(w, h, to, &dest, err) != 0)
        return -1;
    if (dest.exists && dest.is_dir)
        return ib_err_set(err, IB_E_TARGET_IO, "webhdfs rename %s to %s: a directory is in the way",
                          from, to);
    if (dest.exists && delete_h(w, h, to, false, err) != 0)
        return -1;
    return rename_h(w, h, from, to, expect_size, err);
}

/* ---- upload ---- */

static int dn_error(webhdfs *w, const char *path, const char *location, const wh_resp *rs,
                    ib_err *err)
{
    (void)w;
    char host[256] = "";
    CURLU *u = curl_url();
    char *hn = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &hn, 0) == CURLUE_OK)
        snprintf(host, sizeof host, "%s", hn);
    curl_free(hn);
    curl_url_cleanup(u);
    wh_req rq;
    req_init(&rq, "PUT", "CREATE", path);
    if (rs->cc == CURLE_COULDNT_RESOLVE_HOST)
        return ib_err_set(err, IB_E_TARGET_UNREACHABLE,
                          "webhdfs create %s: the datanode host \"%s\" named by the namenode "
                          "cannot be resolved from here (%s). HINT: make the cluster's datanode "
                          "host names resolvable on this machine (DNS or /etc/hosts)",
                          path, host, location);
    char server[300];
    snprintf(server, sizeof server, "datanode %s", host);
    if (rs->cc != CURLE_OK)
        return network_error(&rq, rs, server, err);
    return answer_error(&rq, rs, server, err);
}

/* Step 1: the NameNode names a DataNode. */
static int create_location(webhdfs *w, CURL *h, const char *path, char **location, ib_err *err)
{
    wh_req rq;
    req_init(&rq, "PUT", "CREATE", path);
    /* ._COPYING_ is ours: a leftover of a failed attempt is replaced. */
    if (add_param(rq.query, sizeof rq.query, "overwrite", "true") != 0)
        return no_memory(err, "create");
    wh_resp rs = {0};
    int rc = nn_expect(w, h, &rq, 307, &rs, NULL, err);
    if (rc == 0 && !rs.location)
        rc = ib_err_set(err, IB_E_TARGET_IO,
                        "webhdfs create %s: the namenode's 307 answer has no Location", path);
    if (rc == 0) {
        *location = rs.location;
        rs.location = NULL;
    }
    resp_reset(&rs);
    return rc;
}

/* A DataNode's answer or failure that another attempt may get past. */
static bool datanode_transient(const wh_resp *rs)
{
    if (rs->cc != CURLE_OK)
        return !fatal_curl(rs->cc);
    return rs->status >= 500 || exception_is(rs, "RetriableException") ||
           exception_is(rs, "SafeModeException");
}

/* Both steps of CREATE. A transient failure at the DataNode (refused, reset
 * or stalled mid-body, a 5xx) restarts both from the first byte, within
 * the retry budget, when the body can be sent again (see wh_upload). */
static int create_file(webhdfs *w, CURL *h, const char *tmp, wh_upload *up, ib_err *err)
{
    for (int attempt = 1;; attempt++) {
        char *loc = NULL;
        if (create_location(w, h, tmp, &loc, err) != 0)
            return -1;
        wh_resp rs = {0};
        wh_xfer x = {.h = h, .rs = &rs, .up = up};
        rs.max = ERROR_BODY_MAX;
        transfer(w, &x, "PUT", loc, false);
        int rc = 1; /* 1: try again */
        if (up->failed)
            rc = -1;
        else if (rs.cc == CURLE_OK && rs.status == 201)
            rc = 0;
        int64_t sent = up->sent;
        bool retry = rc == 1 && datanode_transient(&rs) && attempt < w->tune.max_attempts;
        bool stuck = false; /* retry wanted, the body cannot be sent again */
        if (retry && !upload_rewind(up)) {
            retry = false;
            stuck = !up->failed;
            if (up->failed) /* the source's own rewind failed: its error stands */
                rc = -1;
        }
        if (rc == 1 && !retry) {
            rc = dn_error(w, tmp, loc, &rs, err);
            if (sent > 0 && rs.cc != CURLE_OK)
                ib_err_prefix(err, "after %" PRId64 " bytes%s", sent,
                              stuck ? " (too many to send again: the source cannot rewind)" : "");
        }
        if (retry) {
            char server[300], cause[400], action[64];
            datanode_name(loc, server, sizeof server);
            attempt_cause(&rs, server, cause, sizeof cause);
            if (sent > 0 && rs.cc != CURLE_OK) {
                size_t used = strlen(cause);
                snprintf(cause + used, sizeof cause - used, " after %" PRId64 " bytes", sent);
            }
            snprintf(action, sizeof action, "restarting the upload at the namenode");
            int wait = backoff_ms(w, attempt - 1);
            notice_retry(w, "CREATE", tmp, cause, attempt, action, wait);
            sleep_ms(wait);
        }
        free(loc);
        resp_reset(&rs);
        if (!retry)
            return rc;
    }
}

/* GETFILESTATUS of the uploaded file: its length must be what was sent; its
 * blockSize tells how the cluster cut it. */
static int verify_upload(webhdfs *w, CURL *h, const char *tmp, wh_upload *up, int64_t *block_size,
                         ib_err *err)
{
    wh_req rq;
    req_init(&rq, "GET", "GETFILESTATUS", tmp);
    wh_resp rs = {0};
    int rc = nn_expect(w, h, &rq, 200, &rs, NULL, err);
    cJSON *doc = rc == 0 ? parse_json(&rq, &rs, err) : NULL;
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(doc, "FileStatus");
    int64_t length = json_int(fs, "length", -1);
    *block_size = json_int(fs, "blockSize", 0);
    if (rc == 0 && (!doc || length != up->sent))
        rc = ib_err_set(err, IB_E_TARGET_IO,
                        "webhdfs put %s: the target has %" PRId64 " bytes after sending %" PRId64,
                        tmp, length, up->sent);
    cJSON_Delete(doc);
    resp_reset(&rs);
    return rc;
}

static int remote_checksum_h(webhdfs *w, CURL *h, const char *path, char *buf, size_t n,
                             ib_err *err);

/* Whether the checksum computed with the assumed block size is the one the
 * cluster computed over its blocks: a file no longer than either block size
 * is a single block both ways, and a single block's MD5-of-MD5-of-CRC32C
 * does not depend on the block size (crcPerBlock is 0). */
static bool same_blocks(int64_t sent, int64_t assumed, int64_t block_size)
{
    return block_size == assumed || sent <= (block_size < assumed ? block_size : assumed);
}

/* Compare the checksum computed while streaming with the cluster's, when
 * the cluster uses the default algorithm and cut the file as we assumed. */
static int verify_checksum(webhdfs *w, CURL *h, const char *tmp, wh_upload *up, int64_t assumed,
                           int64_t block_size, ib_err *err)
{
    char remote[160], local[160];
    if (remote_checksum_h(w, h, tmp, remote, sizeof remote, err) != 0)
        return -1;
    if (ib_hdfs_checksum_final(up->sum, local, sizeof local) != 0)
        return ib_err_set(err, IB_E_INTERNAL, "webhdfs put %s: checksum buffer too small", tmp);
    bool comparable =
        same_blocks(up->sent, assumed, block_size) &&
        (strstr(remote, "CRC32C:") != NULL || strncmp(remote, "MD5-of-0MD5-of-0CRC32:", 22) == 0);
    if (comparable && strcmp(remote, local) != 0)
        return ib_err_set(err, IB_E_CHECKSUM,
                          "webhdfs put %s: the cluster's checksum %s differs from the sent "
                          "data's %s",
                          tmp, remote, local);
    return 0;
}

/* Upload to <path>._COPYING_, check length and checksum, move onto path. */
static int put_h(webhdfs *w, CURL *h, const char *path, int64_t size, ib_reader *src, ib_err *err)
{
    char *tmp = dup_printf("%s%s", path, IB_STORAGE_TEMP_SUFFIX);
    if (!tmp)
        return no_memory(err, "put");
    pthread_mutex_lock(&w->lock);
    int64_t assumed = w->block_size;
    pthread_mutex_unlock(&w->lock);
    wh_upload up = {.w = w,
                    .src = src,
                    .size = size,
                    .err = err,
                    .path = path,
                    .block_size = assumed,
                    .replay_overflow = src->rewind != NULL}; /* it rewinds itself */
    if (w->tune.verify_checksum && !(up.sum = ib_hdfs_checksum_new(assumed))) {
        free(tmp);
        return no_memory(err, "put");
    }
    int64_t block_size = 0;
    int rc = create_file(w, h, tmp, &up, err);
    if (rc == 0)
        rc = verify_upload(w, h, tmp, &up, &block_size, err);
    if (rc == 0 && block_size > 0) { /* the cluster's, for the next file */
        pthread_mutex_lock(&w->lock);
        w->block_size = block_size;
        pthread_mutex_unlock(&w->lock);
    }
    if (rc == 0 && up.sum)
        rc = verify_checksum(w, h, tmp, &up, assumed, block_size, err);
    if (rc == 0)
        rc = replace_file_h(w, h, tmp, path, up.sent, err);
    if (rc != 0) {
        ib_err keep = *err; /* best effort: the temporary file goes */
        delete_h(w, h, tmp, false, &keep);
    }
    ib_hdfs_checksum_free(up.sum);
    free(up.replay);
    free(tmp);
    return rc;
}

static int wh_put(ib_storage *s, const char *path, int64_t size, ib_reader *src, ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "put");
    int rc = put_h(w, h, path, size, src, err);
    give_handle(w, h);
    return rc;
}

/* ---- download ---- */

/* NameNode step of a redirected read op: the DataNode URL. */
static int redirect_location(webhdfs *w, CURL *h, wh_req *rq, char **location, ib_err *err)
{
    wh_resp rs = {0};
    int rc = nn_expect(w, h, rq, 307, &rs, NULL, err);
    if (rc == 0 && !rs.location)
        rc = ib_err_set(err, IB_E_TARGET_IO, "webhdfs %s %s: 307 without Location", rq->op,
                        rq->path);
    if (rc == 0) {
        *location = rs.location;
        rs.location = NULL;
    }
    resp_reset(&rs);
    return rc;
}

static int get_h(webhdfs *w, CURL *h, const char *path, ib_writer *dst, ib_err *err)
{
    wh_download down = {.dst = dst, .err = err};
    for (int attempt = 1;; attempt++) {
        wh_req rq;
        req_init(&rq, "GET", "OPEN", path);
        char off[32];
        snprintf(off, sizeof off, "%" PRId64, down.written);
        if (down.written > 0 && add_param(rq.query, sizeof rq.query, "offset", off) != 0)
            return no_memory(err, "open");
        char *loc = NULL;
        if (redirect_location(w, h, &rq, &loc, err) != 0)
            return -1;
        wh_resp rs = {0};
        rs.max = ERROR_BODY_MAX;
        wh_xfer x = {.h = h, .rs = &rs, .down = &down};
        int64_t before = down.written;
        transfer(w, &x, "GET", loc, false);
        int rc = 0;
        bool retry = false;
        if (down.failed)
            rc = -1;
        else if (rs.cc == CURLE_OK && rs.status == 200)
            rc = 0;
        else if (rs.cc != CURLE_OK && !fatal_curl(rs.cc) && attempt < w->tune.max_attempts)
            retry = true; /* resume at the offset reached */
        else if (rs.cc == CURLE_OK && rs.status >= 500 && attempt < w->tune.max_attempts)
            retry = true;
        else {
            char server[300];
            snprintf(server, sizeof server, "datanode (%s)", loc);
            rc = rs.cc != CURLE_OK ? network_error(&rq, &rs, server, err)
                                   : answer_error(&rq, &rs, server, err);
        }
        if (retry) {
            char server[300], cause[400], action[80];
            datanode_name(loc, server, sizeof server);
            attempt_cause(&rs, server, cause, sizeof cause);
            snprintf(action, sizeof action, "resuming at byte %" PRId64, down.written);
            int wait = backoff_ms(w, down.written > before ? 0 : attempt - 1);
            notice_retry(w, "OPEN", path, cause, attempt, action, wait);
            sleep_ms(wait);
        }
        free(loc);
        resp_reset(&rs);
        if (!retry)
            return rc;
    }
}

static int wh_get(ib_storage *s, const char *path, ib_writer *dst, ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "open");
    int rc = get_h(w, h, path, dst, err);
    give_handle(w, h);
    return rc;
}

/* ---- listing ---- */

static int list_batch(webhdfs *w, CURL *h, const char *path, ib_storage_entry **v, size_t *n,
                      size_t *cap, bool *unsupported, ib_err *err)
{
    *unsupported = false;
    for (;;) {
        wh_req rq;
        req_init(&rq, "GET", "LISTSTATUS_BATCH", path);
        if (*n > 0 && add_param(rq.query, sizeof rq.query, "startAfter", (*v)[*n - 1].name) != 0)
            return no_memory(err, "list");
        wh_resp rs = {0};
        bool amb;
        if (nn_call(w, h, &rq, &rs, &amb, err) != 0)
            return -1;
        if (rs.status == 400 && exception_is(&rs, "IllegalArgumentException") &&
            exception_message_has(&rs, "LISTSTATUS_BATCH")) {
            *unsupported = true; /* before Hadoop 2.9 */
            resp_reset(&rs);
            return 0;
        }
        if (rs.status != 200) {
            int rc = answer_error(&rq, &rs, w->nn_name[active_nn(w)], err);
            resp_reset(&rs);
            return rc;
        }
        int64_t remaining = 0;
        bool is_file = false;
        size_t before = *n;
        int rc =
            ib_webhdfs_parse_listing(rs.body, rs.len, path, v, n, cap, &remaining, &is_file, err);
        resp_reset(&rs);
        if (rc != 0)
            return -1;
        if (is_file)
            return ib_err_set(err, IB_E_TARGET_IO, "webhdfs list %s: not a directory", path);
        if (remaining == 0)
            return 0;
        if (*n == before) /* a page of skipped entries only: cannot page on */
            return ib_err_set(err, IB_E_TARGET_IO, "webhdfs list %s: a page without usable entries",
                              path);
    }
}

static int list_all(webhdfs *w, CURL *h, const char *path, ib_storage_entry **v, size_t *n,
                    size_t *cap, ib_err *err)
{
    wh_req rq;
    req_init(&rq, "GET", "LISTSTATUS", path);
    wh_resp rs = {0};
    int rc = nn_expect(w, h, &rq, 200, &rs, NULL, err);
    int64_t remaining;
    bool is_file = false;
    if (rc == 0)
        rc = ib_webhdfs_parse_listing(rs.body, rs.len, path, v, n, cap, &remaining, &is_file, err);
    resp_reset(&rs);
    if (rc == 0 && is_file)
        rc = ib_err_set(err, IB_E_TARGET_IO, "webhdfs list %s: not a directory", path);
    return rc;
}

static int list_h(webhdfs *w, CURL *h, const char *path, ib_storage_entry **entries, size_t *n,
                  ib_err *err)
{
    ib_storage_entry *v = NULL;
    size_t len = 0, cap = 0;
    pthread_mutex_lock(&w->lock);
    bool no_batch = w->no_batch;
    pthread_mutex_unlock(&w->lock);
    bool unsupported = no_batch;
    int rc = 0;
    if (!no_batch)
        rc = list_batch(w, h, path, &v, &len, &cap, &unsupported, err);
    if (rc == 0 && unsupported) {
        pthread_mutex_lock(&w->lock);
        w->no_batch = true;
        pthread_mutex_unlock(&w->lock);
        rc = list_all(w, h, path, &v, &len, &cap, err);
    }
    if (rc != 0) {
        ib_storage_entries_free(v, len);
        return -1;
    }
    if (len > 1)
        qsort(v, len, sizeof *v, entry_cmp);
    *entries = v;
    *n = len;
    return 0;
}

static int wh_list(ib_storage *s, const char *path, ib_storage_entry **entries, size_t *n,
                   ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    *entries = NULL;
    *n = 0;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "list");
    int rc = list_h(w, h, path, entries, n, err);
    give_handle(w, h);
    return rc;
}

/* ---- snapshots ---- */

#define ALLOW_HINT "HINT: ask an HDFS administrator to run: hdfs dfsadmin -allowSnapshot %s"

static int snapshottable_h(webhdfs *w, CURL *h, const char *dir, bool *yes, ib_err *err)
{
    wh_req rq;
    req_init(&rq, "GET", "GETFILESTATUS", dir);
    wh_resp rs = {0};
    int rc = nn_expect(w, h, &rq, 200, &rs, NULL, err);
    cJSON *doc = rc == 0 ? parse_json(&rq, &rs, err) : NULL;
    if (rc == 0 && !doc)
        rc = -1;
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(doc, "FileStatus");
    *yes = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(fs, "snapshotEnabled"));
    cJSON_Delete(doc);
    resp_reset(&rs);
    return rc;
}

static int wh_snapshot_prepare(ib_storage *s, const char *dir, ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "allowsnapshot");
    wh_req rq;
    req_init(&rq, "PUT", "ALLOWSNAPSHOT", dir);
    wh_resp rs = {0};
    bool amb;
    int rc = nn_call(w, h, &rq, &rs, &amb, err);
    if (rc == 0 && rs.status != 200) {
        bool yes = false;
        ib_err why;
        answer_error(&rq, &rs, w->nn_name[active_nn(w)], &why);
        /* Refused (not a superuser, or an old server): fine if an admin
         * already made it snapshottable. */
        if (snapshottable_h(w, h, dir, &yes, err) != 0)
            rc = -1;
        else if (!yes) {
            char hint[600];
            snprintf(hint, sizeof hint, ALLOW_HINT, dir);
            rc = ib_err_set(err, IB_E_TARGET_SNAPSHOT, "%s cannot be made snapshottable: %s %s",
                            dir, why.msg, hint);
        }
    }
    resp_reset(&rs);
    give_handle(w, h);
    return rc;
}

static int snapshot_op(webhdfs *w, const char *method, const char *op, const char *dir,
                       const char *name, const char *replay_ok, ib_err *err)
{
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, op);
    wh_req rq;
    req_init(&rq, method, op, dir);
    rq.fresh = true; /* so that the ambiguity seen below is the whole truth */
    int rc = 0;
    if (add_param(rq.query, sizeof rq.query, "snapshotname", name) != 0)
        rc =
            ib_err_set(err, IB_E_TARGET_SNAPSHOT, "webhdfs %s %s: snapshot name too long", op, dir);
    wh_resp rs = {0};
    bool amb = false;
    if (rc == 0)
        rc = nn_call(w, h, &rq, &rs, &amb, err);
    if (rc == 0 && rs.status != 200) {
        /* A replay of an attempt that was applied is refused with this. */
        if (amb && exception_is(&rs, "SnapshotException") && exception_message_has(&rs, replay_ok))
            rc = 0;
        else if (exception_message_has(&rs, "not a snapshottable directory")) {
            char hint[600];
            snprintf(hint, sizeof hint, ALLOW_HINT, dir);
            answer_error(&rq, &rs, w->nn_name[active_nn(w)], err);
            size_t used = strlen(err->msg);
            snprintf(err->msg + used, sizeof err->msg - used, " %s", hint);
            err->code = IB_E_TARGET_SNAPSHOT;
            rc = -1;
        } else
            rc = answer_error(&rq, &rs, w->nn_name[active_nn(w)], err);
    }
    resp_reset(&rs);
    give_handle(w, h);
    return rc;
}

static int wh_snapshot_create(ib_storage *s, const char *dir, const char *name, ib_err *err)
{
    return snapshot_op((webhdfs *)s, "PUT", "CREATESNAPSHOT", dir, name,
                       "already a snapshot with the same name", err);
}

static int wh_snapshot_delete(ib_storage *s, const char *dir, const char *name, ib_err *err)
{
    return snapshot_op((webhdfs *)s, "DELETE", "DELETESNAPSHOT", dir, name,
                       "the snapshot does not exist", err);
}

static int wh_snapshot_list(ib_storage *s, const char *dir, char ***names, size_t *n, ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    *names = NULL;
    *n = 0;
    char *snapdir = ib_path_join(dir, ".snapshot");
    if (!snapdir)
        return no_memory(err, "snapshot list");
    CURL *h = take_handle(w);
    ib_storage_entry *v = NULL;
    size_t len = 0, cap = 0;
    int rc = h ? list_all(w, h, snapdir, &v, &len, &cap, err) : no_memory(err, "snapshot list");
    give_handle(w, h);
    free(snapdir);
    char **out = NULL;
    if (rc == 0 && len > 0) {
        qsort(v, len, sizeof *v, entry_cmp);
        out = calloc(len, sizeof *out);
        if (!out)
            rc = no_memory(err, "snapshot list");
        for (size_t i = 0; out && i < len; i++) {
            out[i] = v[i].name; /* ownership moves */
            v[i].name = NULL;
        }
    }
    ib_storage_entries_free(v, len);
    if (rc == 0) {
        *names = out;
        *n = len;
    }
    return rc;
}

/* ---- checksum ---- */

static int remote_checksum_h(webhdfs *w, CURL *h, const char *path, char *buf, size_t n,
                             ib_err *err)
{
    wh_req rq;
    req_init(&rq, "GET", "GETFILECHECKSUM", path);
    char *loc = NULL;
    if (redirect_location(w, h, &rq, &loc, err) != 0)
        return -1;
    wh_resp rs = {0};
    int rc = 0;
    for (int attempt = 1;; attempt++) {
        resp_reset(&rs);
        wh_xfer x = {.h = h, .rs = &rs};
        transfer(w, &x, "GET", loc, false);
        if (rs.cc == CURLE_OK && rs.status < 500)
            break;
        if (attempt >= w->tune.max_attempts || fatal_curl(rs.cc))
            break;
        char dn[300], cause[400];
        datanode_name(loc, dn, sizeof dn);
        attempt_cause(&rs, dn, cause, sizeof cause);
        int wait = backoff_ms(w, attempt - 1);
        notice_retry(w, "GETFILECHECKSUM", path, cause, attempt, "retrying", wait);
        sleep_ms(wait);
    }
    char server[300];
    snprintf(server, sizeof server, "datanode (%s)", loc);
    if (rs.cc != CURLE_OK)
        rc = network_error(&rq, &rs, server, err);
    else if (rs.status != 200)
        rc = answer_error(&rq, &rs, server, err);
    else
        rc = ib_webhdfs_parse_checksum(rs.body, rs.len, buf, n, err);
    free(loc);
    resp_reset(&rs);
    return rc;
}

static int wh_checksum(ib_storage *s, const char *path, char *buf, size_t n, ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "getfilechecksum");
    int rc = remote_checksum_h(w, h, path, buf, n, err);
    give_handle(w, h);
    return rc;
}

/* ---- lifecycle ---- */

static void wh_free(ib_storage *s)
{
    webhdfs *w = (webhdfs *)s;
    for (int i = 0; i < w->n_idle; i++)
        curl_easy_cleanup(w->idle[i]);
    if (w->cookies)
        curl_share_cleanup(w->cookies); /* after the handles that use it */
    pthread_mutex_destroy(&w->cookie_lock);
    for (int i = 0; i < 2; i++) {
        free(w->nn_base[i]);
        free(w->nn_name[i]);
    }
    free(w->user);
    free(w->principal);
    free(w->keytab);
    free(w->ca_file);
    free(w->state_dir);
    pthread_mutex_destroy(&w->lock);
    free(w);
    curl_global_cleanup();
}

static const ib_storage_driver webhdfs_driver = {
    .name = "RemoteHDFS",
    .features = IB_STORAGE_FEAT_SNAPSHOT | IB_STORAGE_FEAT_CHECKSUM,
    .mkdirs = wh_mkdirs,
    .put = wh_put,
    .get = wh_get,
    .stat = wh_stat,
    .list = wh_list,
    .remove = wh_remove,
    .rename = wh_rename,
    .snapshot_prepare = wh_snapshot_prepare,
    .snapshot_create = wh_snapshot_create,
    .snapshot_list = wh_snapshot_list,
    .snapshot_delete = wh_snapshot_delete,
    .checksum = wh_checksum,
    .free = wh_free,
};

void ib_webhdfs_default_tuning(ib_webhdfs_tuning *t)
{
    t->max_attempts = 10;
    t->backoff_base_ms = 500;
    t->backoff_cap_ms = 15000;
    t->connect_timeout_ms = 20000;
    t->stall_timeout_s = 60;
    t->verify_checksum = true;
}

/* The task's retry and stall keys (0: not set, the default stays). */
static void tuning_from_target(ib_webhdfs_tuning *t, const ib_target *target)
{
    if (target->stall_timeout_s > 0)
        t->stall_timeout_s = target->stall_timeout_s;
    if (target->retry_attempts > 0)
        t->max_attempts = target->retry_attempts;
    if (target->retry_max_wait_s > 0)
        t->backoff_cap_ms = target->retry_max_wait_s * 1000;
    if (t->backoff_base_ms > t->backoff_cap_ms)
        t->backoff_base_ms = t->backoff_cap_ms;
}

void ib_webhdfs_set_tuning(ib_storage *s, const ib_webhdfs_tuning *t)
{
    webhdfs *w = (webhdfs *)s;
    w->tune = *t;
    if (w->tune.max_attempts < 1)
        w->tune.max_attempts = 1;
    if (w->tune.backoff_cap_ms < w->tune.backoff_base_ms)
        w->tune.backoff_cap_ms = w->tune.backoff_base_ms;
    if (w->tune.stall_timeout_s < 1)
        w->tune.stall_timeout_s = 1;
}

void ib_webhdfs_get_tuning(ib_storage *s, ib_webhdfs_tuning *out)
{
    *out = ((webhdfs *)s)->tune;
}

int ib_webhdfs_active_namenode(ib_storage *s)
{
    return active_nn((webhdfs *)s);
}

/* ---- checks for verify ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One GETFILESTATUS of / at NameNode nn, without failover or retries. */
static void probe_one(webhdfs *w, CURL *h, int nn, ib_webhdfs_namenode *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", w->nn_name[nn]);
    wh_req rq;
    req_init(&rq, "GET", "GETFILESTATUS", "/");
    char *url = nn_url(w, nn, &rq);
    if (!url) {
        snprintf(out->error, sizeof out->error, "out of memory");
        return;
    }
    wh_resp rs = {0};
    wh_xfer x = {.h = h, .rs = &rs};
    int64_t before = now_ms();
    transfer(w, &x, "GET", url, false);
    int64_t after = now_ms();
    free(url);
    ib_err e;
    if (rs.cc != CURLE_OK) {
        network_error(&rq, &rs, w->nn_name[nn], &e);
        snprintf(out->error, sizeof out->error, "%s", e.msg);
    } else {
        out->reachable = true;
        out->active = !exception_is(&rs, "StandbyException");
        if (rs.status != 200 && out->active) {
            answer_error(&rq, &rs, w->nn_name[nn], &e);
            snprintf(out->error, sizeof out->error, "%s", e.msg);
        }
        if (rs.date > 0) {
            out->has_clock = true; /* Date has whole seconds: +-1 s */
            out->clock_skew_ms = (int64_t)rs.date * 1000 - (before + after) / 2;
        }
    }
    resp_reset(&rs);
}

int ib_webhdfs_probe(ib_storage *s, ib_webhdfs_namenode out[2], ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "probe");
    for (int i = 0; i < w->n_nn; i++)
        probe_one(w, h, i, &out[i]);
    give_handle(w, h);
    for (int i = 0; i < w->n_nn; i++)
        if (out[i].active && out[i].error[0] == '\0')
            set_active(w, i);
    return w->n_nn;
}

int ib_webhdfs_content_summary(ib_storage *s, const char *path, ib_webhdfs_space *out, ib_err *err)
{
    webhdfs *w = (webhdfs *)s;
    CURL *h = take_handle(w);
    if (!h)
        return no_memory(err, "getcontentsummary");
    wh_req rq;
    req_init(&rq, "GET", "GETCONTENTSUMMARY", path);
    wh_resp rs = {0};
    int rc = nn_expect(w, h, &rq, 200, &rs, NULL, err);
    cJSON *doc = rc == 0 ? parse_json(&rq, &rs, err) : NULL;
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(doc, "ContentSummary");
    if (rc == 0 && !cJSON_IsObject(cs))
        rc = ib_err_set(err, IB_E_TARGET_IO, "webhdfs getcontentsummary %s: no ContentSummary",
                        path);
    if (rc == 0) {
        out->length = json_int(cs, "length", 0);
        out->space_consumed = json_int(cs, "spaceConsumed", 0);
        out->space_quota = json_int(cs, "spaceQuota", -1);
        out->ns_quota = json_int(cs, "quota", -1);
        out->ns_count = json_int(cs, "directoryCount", 0) + json_int(cs, "fileCount", 0);
    }
    cJSON_Delete(doc);
    resp_reset(&rs);
    give_handle(w, h);
    return rc;
}

/* "host", "1.2.3.4", "::1", "[::1]", "[::1]:9870", "host:9870",
 * "http(s)://host[:port]" -> base URL and display name. */
static int parse_namenode(const char *spec, int default_port, bool tls, char **base, char **name,
                          ib_err *err)
{
    const char *scheme = tls ? "https" : "http";
    const char *p = spec;
    if (strncmp(p, "https://", 8) == 0) {
        scheme = "https";
        p += 8;
    } else if (strncmp(p, "http://", 7) == 0) {
        scheme = "http"; /* as written; the task check refuses it with "tls": true */
        p += 7;
    }
    size_t plen = strcspn(p, "/");
    char host[300];
    int port = default_port;
    if (plen == 0 || plen >= sizeof host - 2)
        return ib_err_set(err, IB_E_TASK_FIELD, "target namenode \"%s\": no host", spec);
    const char *colon = memchr(p, ':', plen);
    bool many_colons = colon && memchr(colon + 1, ':', plen - (size_t)(colon + 1 - p));
    if (p[0] == '[') {
        const char *close = memchr(p, ']', plen);
        if (!close)
            return ib_err_set(err, IB_E_TASK_FIELD, "target namenode \"%s\": missing ']'", spec);
        snprintf(host, sizeof host, "%.*s", (int)(close - p + 1), p);
        if (close + 1 < p + plen && close[1] == ':')
            port = atoi(close + 2);
    } else if (many_colons) {
        snprintf(host, sizeof host, "[%.*s]", (int)plen, p); /* a bare IPv6 literal */
    } else if (colon) {
        snprintf(host, sizeof host, "%.*s", (int)(colon - p), p);
        port = atoi(colon + 1);
    } else {
        snprintf(host, sizeof host, "%.*s", (int)plen, p);
    }
    if (port <= 0 || port > 65535)
        return ib_err_set(err, IB_E_TASK_FIELD, "target namenode \"%s\": invalid port", spec);
    *base = dup_printf("%s://%s:%d", scheme, host, port);
    *name = dup_printf("%s:%d", host, port);
    if (!*base || !*name)
        return no_memory(err, "open");
    return 0;
}

static void cookie_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ctx)
{
    (void)h, (void)data, (void)access;
    pthread_mutex_lock(ctx);
}

static void cookie_unlock(CURL *h, curl_lock_data data, void *ctx)
{
    (void)h, (void)data;
    pthread_mutex_unlock(ctx);
}

/* One cookie store for all handles, which threads use at the same time. */
static int share_cookies(webhdfs *w)
{
    if (!(w->cookies = curl_share_init()))
        return -1;
    if (curl_share_setopt(w->cookies, CURLSHOPT_LOCKFUNC, cookie_lock) != CURLSHE_OK ||
        curl_share_setopt(w->cookies, CURLSHOPT_UNLOCKFUNC, cookie_unlock) != CURLSHE_OK ||
        curl_share_setopt(w->cookies, CURLSHOPT_USERDATA, &w->cookie_lock) != CURLSHE_OK ||
        curl_share_setopt(w->cookies, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE) != CURLSHE_OK)
        return -1;
    return 0;
}

int ib_storage_webhdfs_new(const ib_target *target, double bandwidth_mbps, const char *state_dir,
                           ib_storage **out, ib_err *err)
{
    *out = NULL;
    if (!target->active_namenode || !target->active_namenode[0])
        return ib_err_set(err, IB_E_TASK_FIELD, "target: RemoteHDFS needs active_namenode");
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ib_err_set(err, IB_E_INTERNAL, "webhdfs: libcurl initialisation failed");
    webhdfs *w = calloc(1, sizeof *w);
    if (!w) {
        curl_global_cleanup();
        return no_memory(err, "open");
    }
    w->base.drv = &webhdfs_driver;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutexattr_t recursive;
    pthread_mutexattr_init(&recursive);
    pthread_mutexattr_settype(&recursive, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&w->cookie_lock, &recursive);
    pthread_mutexattr_destroy(&recursive);
    ib_webhdfs_default_tuning(&w->tune);
    tuning_from_target(&w->tune, target);
    w->block_size = DEFAULT_BLOCK_SIZE;
    w->rate = bandwidth_mbps > 0 ? bandwidth_mbps * 1e6 / 8 : 0;
    w->refilled = monotonic_s();
    w->ipresolve = target->ipv6 ? CURL_IPRESOLVE_V6 : CURL_IPRESOLVE_V4;
    w->kerberos = target->auth_mode == IB_AUTH_KERBEROS;
    int uploads = target->parallel_uploads > 0 ? target->parallel_uploads : 4;
    w->pool_cap = uploads + 1 < POOL_MAX ? uploads + 1 : POOL_MAX;
    w->rng = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)w << 16) ^ 0x9e3779b97f4a7c15ull;
    int port = target->namenode_http_port > 0 ? target->namenode_http_port : 9870;
    const char *specs[2] = {target->active_namenode, target->standby_namenode};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (!specs[i] || !specs[i][0])
            continue;
        rc = parse_namenode(specs[i], port, target->tls, &w->nn_base[w->n_nn], &w->nn_name[w->n_nn],
                            err);
        w->n_nn++;
    }
    const char *user = target->auth_user && target->auth_user[0] ? target->auth_user : NULL;
    if (rc == 0 && !w->kerberos && user && !(w->user = strdup(user)))
        rc = no_memory(err, "open");
    if (rc == 0 && w->kerberos && share_cookies(w) != 0)
        rc = no_memory(err, "open");
    if (rc == 0 && w->kerberos &&
        !(w->principal = strdup(target->auth_principal ? target->auth_principal : "")))
        rc = no_memory(err, "open");
    if (rc == 0 && w->kerberos &&
        !(w->keytab = strdup(target->auth_keytab ? target->auth_keytab : "")))
        rc = no_memory(err, "open");
    if (rc == 0 && target->ca_file && !(w->ca_file = strdup(target->ca_file)))
        rc = no_memory(err, "open");
    if (rc == 0 && state_dir && !(w->state_dir = strdup(state_dir)))
        rc = no_memory(err, "open");
    if (rc != 0) {
        wh_free(&w->base);
        return -1;
    }
    *out = &w->base;
    return 0;
}
