/* IoTDB REST API v2 client: one libcurl easy handle per client (so the
 * connection is reused), JSON bodies built and parsed with cJSON. */
#include "ib_iotdb_rest.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONNECT_TIMEOUT_MS 5000L
#define PING_TIMEOUT_MS 10000L
#define REQUEST_TIMEOUT_MS 60000L
/* LOAD verifies and loads every file of a restored tree: it can take long. */
#define LOAD_TIMEOUT_MS 3600000L
#define MAX_BODY (16u << 20)
#define SHOW_ROW_LIMIT 100000

struct ib_rest {
    CURL *curl;
    char *url; /* without a trailing '/' */
    char *user;
    char *password;
    char *password_file;
    char errbuf[CURL_ERROR_SIZE];
};

void ib_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int nomem(ib_err *err)
{
    return ib_err_set(err, IB_E_NOMEM, "out of memory");
}

/* ---- password file ---- */

static int read_password(const char *path, char **out, ib_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ib_err_errno(err, IB_E_REST, errno, "cannot read password file %s", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ib_err_errno(err, IB_E_REST, e, "cannot read password file %s", path);
    }
    if (st.st_mode & S_IROTH) {
        close(fd);
        return ib_err_set(err, IB_E_REST,
                          "password file %s is readable by every user (mode %04o): refusing to "
                          "use it; HINT: chmod 600 %s",
                          path, (unsigned)(st.st_mode & 07777), path);
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return nomem(err);
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len = getline(&line, &cap, f);
    int read_errno = errno;
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(line);
        return ib_err_errno(err, IB_E_REST, read_errno, "cannot read password file %s", path);
    }
    if (len < 0) { /* empty file: empty password */
        free(line);
        line = strdup("");
        if (!line)
            return nomem(err);
        len = 0;
    }
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    *out = line;
    return 0;
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

int ib_rest_new(const ib_rest_source *cfg, ib_rest **out, ib_err *err)
{
    *out = NULL;
    if (!cfg || !cfg->url || !cfg->url[0])
        return ib_err_set(err, IB_E_REST, "no IoTDB REST URL configured (source.rest.url)");
    ib_rest *r = calloc(1, sizeof *r);
    if (!r)
        return nomem(err);
    r->url = strdup(cfg->url);
    r->user = strdup(cfg->user && cfg->user[0] ? cfg->user : "root");
    r->password_file = cfg->password_file ? strdup(cfg->password_file) : NULL;
    if (!r->url || !r->user || (cfg->password_file && !r->password_file)) {
        ib_rest_free(r);
        return nomem(err);
    }
    size_t len = strlen(r->url);
    while (len > 0 && r->url[len - 1] == '/')
        r->url[--len] = '\0';
    int rc = 0;
    if (cfg->password_file)
        rc = read_password(cfg->password_file, &r->password, err);
    else if (!(r->password = strdup("")))
        rc = nomem(err);
    if (rc == 0 && !(r->curl = curl_easy_init()))
        rc = ib_err_set(err, IB_E_REST, "cannot initialise libcurl");
    if (rc != 0) {
        ib_rest_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void ib_rest_free(ib_rest *r)
{
    if (!r)
        return;
    if (r->curl)
        curl_easy_cleanup(r->curl);
    free(r->url);
    free(r->user);
    wipe_free(r->password);
    free(r->password_file);
    free(r);
}

/* ---- HTTP ---- */

typedef struct body_buf {
    char *p;
    size_t n;
    bool too_big;
} body_buf;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    body_buf *b = ud;
    size_t len = size * nmemb;
    if (b->n + len > MAX_BODY) {
        b->too_big = true;
        return 0;
    }
    char *p = realloc(b->p, b->n + len + 1);
    if (!p)
        return 0;
    memcpy(p + b->n, data, len);
    b->n += len;
    p[b->n] = '\0';
    b->p = p;
    return len;
}

/* A short, printable excerpt of an answer for error messages. */
static void excerpt(const char *body, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; body && body[i] && j + 4 < n && i < 200; i++)
        out[j++] = (body[i] >= 0x20 && body[i] < 0x7f) ? body[i] : ' ';
    if (body && strlen(body) > 200 && j + 4 < n)
        out[j++] = '.', out[j++] = '.', out[j++] = '.';
    out[j] = '\0';
}

typedef struct http_req {
    const char *path; /* "/rest/v2/query" */
    const char *json; /* POST body, NULL for GET */
    long timeout_ms;
    bool auth;
} http_req;

static int set_options(ib_rest *r, const http_req *q, const char *url, body_buf *b,
                       struct curl_slist *headers)
{
    CURL *c = r->curl;
    curl_easy_reset(c);
    CURLcode rc = curl_easy_setopt(c, CURLOPT_URL, url);
    rc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    rc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    rc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    rc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, q->timeout_ms);
    rc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
    rc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    rc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    rc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    if (q->auth) {
        rc |= curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        rc |= curl_easy_setopt(c, CURLOPT_USERNAME, r->user);
        rc |= curl_easy_setopt(c, CURLOPT_PASSWORD, r->password);
    }
    if (q->json)
        rc |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->json);
    return rc == CURLE_OK ? 0 : -1;
}

static int transport_error(ib_rest *r, CURLcode rc, const char *url, ib_err *err)
{
    const char *why = r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
    bool refused = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
                   rc == CURLE_OPERATION_TIMEDOUT;
    return ib_err_set(err, IB_E_REST, "cannot reach IoTDB REST API at %s: %s%s", url, why,
                      refused ? "; HINT: check that IoTDB runs with enable_rest_service=true and "
                                "that source.rest.url names its rest_service_port"
                              : "");
}

static int http_error(ib_rest *r, long status, const char *url, const char *body, ib_err *err)
{
    char ex[256];
    excerpt(body, ex, sizeof ex);
    if (status == 401)
        return ib_err_set(err, IB_E_REST,
                          "IoTDB REST API at %s: authentication failed for user \"%s\" (%s); "
                          "HINT: check source.rest.user and the password file %s",
                          r->url, r->user, ex, r->password_file ? r->password_file : "(none)");
    return ib_err_set(err, IB_E_REST, "IoTDB REST API at %s answered HTTP %ld: %s", url, status,
                      ex);
}

/* Send one request; on HTTP 200 *body is the answer (caller frees). */
static int http_call(ib_rest *r, const http_req *q, char **body, ib_err *err)
{
    *body = NULL;
    char *url = NULL;
    if (asprintf(&url, "%s%s", r->url, q->path) < 0)
        return nomem(err);
    struct curl_slist *headers = NULL;
    if (q->json) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        headers = headers ? curl_slist_append(headers, "Accept: application/json") : NULL;
    }
    body_buf b = {0};
    int rc = (q->json && !headers) ? nomem(err) : 0;
    r->errbuf[0] = '\0';
    if (rc == 0 && set_options(r, q, url, &b, headers) != 0)
        rc = ib_err_set(err, IB_E_REST, "cannot set up a request to %s", url);
    if (rc == 0) {
        CURLcode cc = curl_easy_perform(r->curl);
        long status = 0;
        curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
        if (b.too_big)
            rc = ib_err_set(err, IB_E_REST, "answer of %s is larger than %u bytes", url, MAX_BODY);
        else if (cc != CURLE_OK)
            rc = transport_error(r, cc, url, err);
        else if (status != 200)
            rc = http_error(r, status, url, b.p, err);
    }
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);
    free(url);
    if (rc == 0 && !b.p)
        b.p = strdup("");
    if (rc == 0 && !b.p)
        rc = nomem(err);
    if (rc != 0) {
        free(b.p);
        return -1;
    }
    *body = b.p;
    return 0;
}

/* ---- answers ---- */

static const char *code_hint(int code)
{
    switch (code) {
    case 600:
        return "; HINT: IoTDB is read-only (SET SYSTEM TO RUNNING, or free disk space)";
    case 700:
        return "; HINT: this IoTDB version does not understand the statement";
    case 800:
    case 801:
        return "; HINT: check source.rest.user and the password file";
    case 803:
        return "; HINT: grant the REST user the privilege this statement needs";
    default:
        return "";
    }
}

static int status_of(const cJSON *j, ib_err *err)
{
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
    if (!code)
        return 0; /* a query answer has no status */
    if (!cJSON_IsNumber(code))
        return ib_err_set(err, IB_E_REST, "IoTDB REST API answered a non-numeric \"code\"");
    if (code->valueint == 200)
        return 0;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "message");
    /* The server's text goes into logs: one printable line (stack traces
     * and escapes must not forge log lines). */
    char text[256];
    excerpt(cJSON_IsString(msg) ? msg->valuestring : "", text, sizeof text);
    return ib_err_set(err, IB_E_REST, "IoTDB answered code %d: %s%s", code->valueint, text,
                      code_hint(code->valueint));
}

/* base and path name the server in the error (base NULL: unknown). */
static cJSON *parse_answer(const char *body, const char *base, const char *path, ib_err *err)
{
    cJSON *j = cJSON_Parse(body);
    if (!j || !cJSON_IsObject(j)) {
        char ex[256];
        excerpt(body, ex, sizeof ex);
        cJSON_Delete(j);
        ib_err_set(err, IB_E_REST,
                   "IoTDB REST API%s%s%s answered something that is not a JSON "
                   "object: \"%s\"",
                   base ? " at " : "", base ? base : "", base ? path : "", ex);
        return NULL;
    }
    return j;
}

int ib_rest_check_status(const char *body, ib_err *err)
{
    cJSON *j = parse_answer(body ? body : "", NULL, NULL, err);
    if (!j)
        return -1;
    int rc = status_of(j, err);
    cJSON_Delete(j);
    return rc;
}

static char *sql_body(const char *sql, int row_limit)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "sql", sql) ||
        (row_limit > 0 && !cJSON_AddNumberToObject(o, "row_limit", row_limit))) {
        cJSON_Delete(o);
        return NULL;
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* POST sql to path; *answer is the parsed answer when its code is 200 or absent. */
static int post_sql(ib_rest *r, const char *path, const char *sql, int row_limit, long timeout_ms,
                    cJSON **answer, ib_err *err)
{
    *answer = NULL;
    char *json = sql_body(sql, row_limit);
    if (!json)
        return nomem(err);
    http_req q = {path, json, timeout_ms, true};
    char *body = NULL;
    int rc = http_call(r, &q, &body, err);
    free(json);
    if (rc != 0)
        return ib_err_prefix(err, "%s", sql);
    cJSON *j = parse_answer(body, r->url, path, err);
    free(body);
    if (!j || status_of(j, err) != 0) {
        cJSON_Delete(j);
        return ib_err_prefix(err, "%s", sql);
    }
    *answer = j;
    return 0;
}

int ib_rest_nonquery(ib_rest *r, const char *sql, long timeout_ms, ib_err *err)
{
    cJSON *j = NULL;
    int rc = post_sql(r, "/rest/v2/nonQuery", sql, 0,
                      timeout_ms > 0 ? timeout_ms : REQUEST_TIMEOUT_MS, &j, err);
    cJSON_Delete(j);
    return rc;
}

int ib_rest_ping(ib_rest *r, ib_err *err)
{
    http_req q = {"/ping", NULL, PING_TIMEOUT_MS, false};
    char *body = NULL;
    if (http_call(r, &q, &body, err) != 0)
        return -1;
    int rc = ib_rest_check_status(body, err);
    free(body);
    return rc;
}

/* ---- SHOW DATABASES ---- */

static const cJSON *item_either(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    return x ? x : cJSON_GetObjectItemCaseSensitive(o, b);
}

/* Index of the database column: "Database" (1.x), "database" (2.x) or
 * "storage group" (0.13/0.14), matched without regard to case. */
static int database_column(const cJSON *names)
{
    int i = 0;
    const cJSON *n;
    cJSON_ArrayForEach(n, names)
    {
        if (cJSON_IsString(n) && (strcasecmp(n->valuestring, "database") == 0 ||
                                  strcasecmp(n->valuestring, "storage group") == 0))
            return i;
        i++;
    }
    return -1;
}

/* "a number", "an object", ...: what x is, for errors. */
static const char *json_type_name(const cJSON *x)
{
    if (cJSON_IsNumber(x))
        return "a number";
    if (cJSON_IsBool(x))
        return "a boolean";
    if (cJSON_IsArray(x))
        return "a list";
    if (cJSON_IsString(x))
        return "a string";
    return "an object";
}

/* The names of column idx. A cell that is neither a string nor null is an
 * error: skipping it could leave a database out of the backup unnoticed. */
static int collect_column(const cJSON *col, int idx, char ***names, size_t *n, ib_err *err)
{
    size_t cap = (size_t)cJSON_GetArraySize(col);
    char **v = calloc(cap ? cap : 1, sizeof *v);
    if (!v)
        return nomem(err);
    size_t k = 0, row = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, col)
    {
        row++;
        if (cJSON_IsNull(x))
            continue; /* a null cell names nothing */
        if (!cJSON_IsString(x)) {
            ib_strv_free(v, k);
            return ib_err_set(err, IB_E_REST,
                              "SHOW DATABASES answer: values[%d][%zu] is %s, not a database name",
                              idx, row - 1, json_type_name(x));
        }
        if (!(v[k] = strdup(x->valuestring))) {
            ib_strv_free(v, k);
            return nomem(err);
        }
        k++;
    }
    *names = v;
    *n = k;
    return 0;
}

static int databases_from_answer(const cJSON *j, char ***names, size_t *n, ib_err *err)
{
    const cJSON *cols = item_either(j, "column_names", "columnNames");
    const cJSON *values = cJSON_GetObjectItemCaseSensitive(j, "values");
    if (!cJSON_IsArray(cols))
        return ib_err_set(err, IB_E_REST, "SHOW DATABASES answer has no column_names");
    int idx = database_column(cols);
    if (idx < 0)
        return ib_err_set(err, IB_E_REST, "SHOW DATABASES answer has no Database column");
    /* values is column-major; IoTDB sends [] when there is no row. */
    if (values && !cJSON_IsArray(values) && !cJSON_IsNull(values))
        return ib_err_set(err, IB_E_REST, "SHOW DATABASES answer: values is %s, not a list",
                          json_type_name(values));
    const cJSON *col = cJSON_IsArray(values) ? cJSON_GetArrayItem(values, idx) : NULL;
    if (col && !cJSON_IsArray(col))
        return ib_err_set(err, IB_E_REST, "SHOW DATABASES answer: values[%d] is not a list", idx);
    static const cJSON empty = {.type = cJSON_Array};
    return collect_column(col ? col : &empty, idx, names, n, err);
}

int ib_rest_parse_databases(const char *body, char ***names, size_t *n, ib_err *err)
{
    *names = NULL;
    *n = 0;
    cJSON *j = parse_answer(body ? body : "", NULL, NULL, err);
    if (!j)
        return -1;
    int rc = status_of(j, err);
    if (rc == 0)
        rc = databases_from_answer(j, names, n, err);
    cJSON_Delete(j);
    return rc;
}

int ib_rest_show_databases(ib_rest *r, char ***names, size_t *n, ib_err *err)
{
    *names = NULL;
    *n = 0;
    cJSON *j = NULL;
    ib_err first;
    ib_err_clear(&first);
    if (post_sql(r, "/rest/v2/query", "SHOW DATABASES", SHOW_ROW_LIMIT, REQUEST_TIMEOUT_MS, &j,
                 &first) != 0) {
        /* 0.13/0.14 only know the older wording; a transport or HTTP error
         * would fail the same way again. */
        bool answered = strstr(first.msg, "IoTDB answered code") != NULL;
        if (!answered || post_sql(r, "/rest/v2/query", "SHOW STORAGE GROUP", SHOW_ROW_LIMIT,
                                  REQUEST_TIMEOUT_MS, &j, NULL) != 0) {
            if (err)
                *err = first;
            return -1;
        }
    }
    int rc = databases_from_answer(j, names, n, err);
    cJSON_Delete(j);
    return rc;
}

/* ---- FLUSH, LOAD ---- */

static bool is_plain_node(const char *s, size_t len)
{
    if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_'))
            return false;
    }
    return true;
}

/* Length of the node starting at s: up to the next '.' outside backquotes. */
static size_t node_len(const char *s)
{
    size_t i = 0;
    bool quoted = false;
    for (; s[i]; i++) {
        if (s[i] == '`')
            quoted = !quoted; /* a doubled `` toggles twice */
        else if (s[i] == '.' && !quoted)
            break;
    }
    return i;
}

static bool is_quoted_node(const char *s, size_t len)
{
    if (len < 2 || s[0] != '`' || s[len - 1] != '`')
        return false;
    for (size_t i = 1; i + 1 < len; i++) {
        if (s[i] != '`')
            continue;
        if (i + 2 < len && s[i + 1] == '`')
            i++;
        else
            return false;
    }
    return true;
}

static void append_node(char **w, const char *s, size_t len)
{
    if (is_plain_node(s, len) || is_quoted_node(s, len)) {
        memcpy(*w, s, len);
        *w += len;
        return;
    }
    *(*w)++ = '`';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '`')
            *(*w)++ = '`';
        *(*w)++ = s[i];
    }
    *(*w)++ = '`';
}

char *ib_rest_quote_path(const char *path)
{
    /* worst case: every character a backquote, doubled, plus quotes per node */
    char *out = malloc(strlen(path) * 4 + 3);
    if (!out)
        return NULL;
    char *w = out;
    const char *s = path;
    for (;;) {
        size_t len = node_len(s);
        append_node(&w, s, len);
        if (!s[len])
            break;
        *w++ = '.';
        s += len + 1;
    }
    *w = '\0';
    return out;
}

int ib_rest_flush(ib_rest *r, const char *const *databases, size_t n, ib_err *err)
{
    if (n == 0)
        return 0; /* nothing selected, nothing to seal: never flush everything */
    size_t cap = 32;
    for (size_t i = 0; i < n; i++)
        cap += strlen(databases[i]) * 4 + 4;
    char *sql = malloc(cap);
    if (!sql)
        return nomem(err);
    char *w = sql + sprintf(sql, "FLUSH ");
    for (size_t i = 0; i < n; i++) {
        char *q = ib_rest_quote_path(databases[i]);
        if (!q) {
            free(sql);
            return nomem(err);
        }
        w += sprintf(w, "%s%s", i ? "," : "", q);
        free(q);
    }
    strcpy(w, " ON LOCAL");
    int rc = ib_rest_nonquery(r, sql, REQUEST_TIMEOUT_MS, err);
    free(sql);
    return rc;
}

int ib_rest_load_level(ib_rest *r, const char *dir, int sglevel, ib_err *err)
{
    size_t len = strlen(dir);
    char *lit = malloc(len * 2 + 3);
    if (!lit)
        return nomem(err);
    char *w = lit;
    *w++ = '\'';
    for (size_t i = 0; i < len; i++) {
        if (dir[i] == '\'')
            *w++ = '\''; /* IoTDB string literals double a quote */
        *w++ = dir[i];
    }
    *w++ = '\'';
    *w = '\0';
    char *sql = NULL;
    int n = sglevel > 0
                ? asprintf(&sql, "LOAD %s sglevel=%d verify=true onSuccess=none", lit, sglevel)
                : asprintf(&sql, "LOAD %s verify=true onSuccess=none", lit);
    free(lit);
    if (n < 0)
        return nomem(err);
    int rc = ib_rest_nonquery(r, sql, LOAD_TIMEOUT_MS, err);
    free(sql);
    return rc;
}

int ib_rest_load(ib_rest *r, const char *dir, ib_err *err)
{
    return ib_rest_load_level(r, dir, 0, err);
}
