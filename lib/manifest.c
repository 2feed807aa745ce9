/* MANIFEST.json: serialise and parse with cJSON, validating every field so a
 * damaged or hostile manifest can never steer a restore outside its tree. */
#include "ib_manifest.h"
#include "ib_task.h" /* ib_quote */

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Integers survive a JSON double exactly up to 2^53. */
#define JSON_INT_MAX 9007199254740992.0

void ib_manifest_init(ib_manifest *m)
{
    memset(m, 0, sizeof *m);
    m->format = IB_MANIFEST_FORMAT;
}

void ib_manifest_free(ib_manifest *m)
{
    if (!m)
        return;
    free(m->task);
    free(m->backup_type);
    for (size_t i = 0; i < m->n_databases; i++)
        free(m->databases[i]);
    free(m->databases);
    free(m->source_host);
    free(m->program_version);
    for (size_t i = 0; i < m->n_files; i++)
        free(m->files[i].path);
    free(m->files);
    ib_manifest_init(m);
}

bool ib_path_is_safe_relative(const char *rel)
{
    if (!rel || rel[0] == '\0' || rel[0] == '/')
        return false;
    const char *seg = rel;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t n = slash ? (size_t)(slash - seg) : strlen(seg);
        if (n == 0 || (n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (!slash)
            return true;
        seg = slash + 1;
    }
}

int ib_manifest_add(ib_manifest *m, const char *path, int64_t size, int64_t mtime_ms,
                    uint32_t crc32c, ib_err *err)
{
    /* Paths are quoted in messages: a hostile one must not forge log lines. */
    char q[IB_QUOTE_MAX];
    if (!ib_path_is_safe_relative(path))
        return ib_err_set(err, IB_E_MANIFEST, "manifest: unsafe file path %s",
                          ib_quote(path, q, sizeof q));
    if (size < 0)
        return ib_err_set(err, IB_E_MANIFEST, "manifest: %s: negative size %lld",
                          ib_quote(path, q, sizeof q), (long long)size);
    if (m->n_files == m->cap_files) {
        size_t cap = m->cap_files ? m->cap_files * 2 : 64;
        ib_manifest_file *files = realloc(m->files, cap * sizeof *files);
        if (!files)
            return ib_err_set(err, IB_E_NOMEM, "manifest: out of memory adding %s",
                              ib_quote(path, q, sizeof q));
        m->files = files;
        m->cap_files = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return ib_err_set(err, IB_E_NOMEM, "manifest: out of memory adding %s",
                          ib_quote(path, q, sizeof q));
    m->files[m->n_files++] =
        (ib_manifest_file){.path = copy, .size = size, .mtime_ms = mtime_ms, .crc32c = crc32c};
    return 0;
}

static int file_cmp(const void *a, const void *b)
{
    return strcmp(((const ib_manifest_file *)a)->path, ((const ib_manifest_file *)b)->path);
}

int ib_manifest_sort(ib_manifest *m, ib_err *err)
{
    if (m->n_files > 1)
        qsort(m->files, m->n_files, sizeof *m->files, file_cmp);
    char q[IB_QUOTE_MAX];
    for (size_t i = 1; i < m->n_files; i++)
        if (strcmp(m->files[i - 1].path, m->files[i].path) == 0)
            return ib_err_set(err, IB_E_MANIFEST, "manifest: duplicate file path %s",
                              ib_quote(m->files[i].path, q, sizeof q));
    return 0;
}

const ib_manifest_file *ib_manifest_find(const ib_manifest *m, const char *path)
{
    if (!m->n_files)
        return NULL;
    ib_manifest_file key = {.path = (char *)path};
    return bsearch(&key, m->files, m->n_files, sizeof *m->files, file_cmp);
}

/* ---- serialise ---- */

static void format_utc(int64_t secs, char *buf, size_t n)
{
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "invalid");
}

/* cJSON prints numbers with 15 significant digits, which rounds integers
 * above 10^15; print them exactly. */
static bool add_int(cJSON *obj, const char *key, int64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%lld", (long long)v);
    return cJSON_AddRawToObject(obj, key, num) != NULL;
}

static bool add_file_json(cJSON *files, const ib_manifest_file *f)
{
    char crc[9];
    snprintf(crc, sizeof crc, "%08x", (unsigned)f->crc32c);
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(files, o)) {
        cJSON_Delete(o);
        return false;
    }
    return cJSON_AddStringToObject(o, "path", f->path) && add_int(o, "size", f->size) &&
           add_int(o, "mtime_ms", f->mtime_ms) && cJSON_AddStringToObject(o, "crc32c", crc);
}

/* Optional strings are left out when unset; parse treats them as optional. */
static bool add_opt_string(cJSON *root, const char *key, const char *value)
{
    return !value || cJSON_AddStringToObject(root, key, value);
}

static bool build_header(cJSON *root, const ib_manifest *m)
{
    char start[32], end[32];
    format_utc(m->start, start, sizeof start);
    format_utc(m->end, end, sizeof end);
    cJSON *dbs = cJSON_AddArrayToObject(root, "databases");
    if (!dbs)
        return false;
    for (size_t i = 0; i < m->n_databases; i++) {
        cJSON *s = cJSON_CreateString(m->databases[i]);
        if (!s || !cJSON_AddItemToArray(dbs, s)) {
            cJSON_Delete(s);
            return false;
        }
    }
    return cJSON_AddNumberToObject(root, "format", m->format) &&
           cJSON_AddStringToObject(root, "task", m->task) &&
           cJSON_AddStringToObject(root, "backup_type", m->backup_type) &&
           add_int(root, "start", m->start) && add_int(root, "end", m->end) &&
           cJSON_AddStringToObject(root, "start_time", start) &&
           cJSON_AddStringToObject(root, "end_time", end) &&
           add_opt_string(root, "source_host", m->source_host) &&
           cJSON_AddNumberToObject(root, "layout_version", m->layout_version) &&
           add_opt_string(root, "program_version", m->program_version) &&
           add_int(root, "run_id", m->run_id);
}

char *ib_manifest_to_json(const ib_manifest *m, ib_err *err)
{
    if (!m->task || !m->backup_type) {
        ib_err_set(err, IB_E_INTERNAL, "manifest: task and backup_type must be set");
        return NULL;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *files = NULL;
    bool ok = root && build_header(root, m) && (files = cJSON_AddArrayToObject(root, "files"));
    for (size_t i = 0; ok && i < m->n_files; i++)
        ok = add_file_json(files, &m->files[i]);
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text)
        ib_err_set(err, IB_E_NOMEM, "manifest: out of memory serialising %zu files", m->n_files);
    return text;
}

/* ---- parse ---- */

static int field_missing(ib_err *err, const char *where, const char *key)
{
    return ib_err_set(err, IB_E_MANIFEST, "manifest: field \"%s%s\" is missing", where, key);
}

static int field_type(ib_err *err, const char *where, const char *key, const char *what)
{
    return ib_err_set(err, IB_E_MANIFEST, "manifest: field \"%s%s\" must be %s", where, key, what);
}

/* A string member; *out stays NULL when absent and optional. */
static int get_string(const cJSON *obj, const char *where, const char *key, bool required,
                      char **out, ib_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it)
        return required ? field_missing(err, where, key) : 0;
    if (!cJSON_IsString(it) || !it->valuestring)
        return field_type(err, where, key, "a string");
    *out = strdup(it->valuestring);
    if (!*out)
        return ib_err_set(err, IB_E_NOMEM, "manifest: out of memory");
    return 0;
}

/* An integral number member within [min, max]; *out untouched when absent
 * and optional. */
static int get_int(const cJSON *obj, const char *where, const char *key, bool required, double min,
                   double max, int64_t *out, ib_err *err)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it)
        return required ? field_missing(err, where, key) : 0;
    double d = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    if (!(d >= min && d <= max) || d != floor(d)) {
        char what[96];
        snprintf(what, sizeof what, "an integer from %.0f to %.0f", min, max);
        return field_type(err, where, key, what);
    }
    *out = (int64_t)d;
    return 0;
}

static int parse_hex32(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return -1;
        int c = tolower((unsigned char)s[i]);
        v = v << 4 | (uint32_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (s[8] != '\0')
        return -1;
    *out = v;
    return 0;
}

static int parse_file(const cJSON *it, size_t index, ib_manifest *m, ib_err *err)
{
    char where[48];
    snprintf(where, sizeof where, "files[%zu].", index);
    if (!cJSON_IsObject(it))
        return ib_err_set(err, IB_E_MANIFEST, "manifest: files[%zu] must be an object", index);
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(it, "path");
    if (!path)
        return field_missing(err, where, "path");
    if (!cJSON_IsString(path) || !path->valuestring)
        return field_type(err, where, "path", "a string");
    char q[IB_QUOTE_MAX];
    if (!ib_path_is_safe_relative(path->valuestring))
        return ib_err_set(err, IB_E_MANIFEST,
                          "manifest: files[%zu].path %s is not a safe relative path "
                          "(absolute, empty, \".\" or \"..\" segment)",
                          index, ib_quote(path->valuestring, q, sizeof q));
    int64_t size = 0, mtime = 0;
    if (get_int(it, where, "size", true, 0, JSON_INT_MAX, &size, err) < 0 ||
        get_int(it, where, "mtime_ms", true, -JSON_INT_MAX, JSON_INT_MAX, &mtime, err) < 0)
        return -1;
    const cJSON *crc = cJSON_GetObjectItemCaseSensitive(it, "crc32c");
    uint32_t crc_value = 0;
    if (!crc)
        return field_missing(err, where, "crc32c");
    if (!cJSON_IsString(crc) || !crc->valuestring || parse_hex32(crc->valuestring, &crc_value))
        return field_type(err, where, "crc32c", "a string of 8 hex digits");
    return ib_manifest_add(m, path->valuestring, size, mtime, crc_value, err);
}

static int parse_files(const cJSON *root, ib_manifest *m, ib_err *err)
{
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(root, "files");
    if (!files)
        return field_missing(err, "", "files");
    if (!cJSON_IsArray(files))
        return field_type(err, "", "files", "an array");
    size_t n = (size_t)cJSON_GetArraySize(files);
    if (n) {
        m->files = malloc(n * sizeof *m->files);
        if (!m->files)
            return ib_err_set(err, IB_E_NOMEM, "manifest: out of memory for %zu files", n);
        m->cap_files = n;
    }
    size_t i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, files)
    {
        if (parse_file(it, i++, m, err) < 0)
            return -1;
    }
    return ib_manifest_sort(m, err);
}

static int parse_databases(const cJSON *root, ib_manifest *m, ib_err *err)
{
    const cJSON *dbs = cJSON_GetObjectItemCaseSensitive(root, "databases");
    if (!dbs)
        return field_missing(err, "", "databases");
    if (!cJSON_IsArray(dbs))
        return field_type(err, "", "databases", "an array of strings");
    size_t n = (size_t)cJSON_GetArraySize(dbs);
    m->databases = calloc(n ? n : 1, sizeof *m->databases);
    if (!m->databases)
        return ib_err_set(err, IB_E_NOMEM, "manifest: out of memory");
    const cJSON *it;
    cJSON_ArrayForEach(it, dbs)
    {
        if (!cJSON_IsString(it) || !it->valuestring)
            return field_type(err, "", "databases", "an array of strings");
        m->databases[m->n_databases] = strdup(it->valuestring);
        if (!m->databases[m->n_databases++])
            return ib_err_set(err, IB_E_NOMEM, "manifest: out of memory");
    }
    return 0;
}

static int parse_format(const cJSON *root, ib_manifest *m, ib_err *err)
{
    int64_t format = 0;
    if (get_int(root, "", "format", true, 1, 1000000, &format, err) < 0)
        return -1;
    if (format > IB_MANIFEST_FORMAT)
        return ib_err_set(err, IB_E_MANIFEST,
                          "manifest: format %lld is newer than this program reads (%d). "
                          "HINT: upgrade iotdb-backupd",
                          (long long)format, IB_MANIFEST_FORMAT);
    m->format = (int)format;
    return 0;
}

static int parse_header(const cJSON *root, ib_manifest *m, ib_err *err)
{
    char *ignored = NULL;
    int64_t layout = 0;
    if (parse_format(root, m, err) < 0 || get_string(root, "", "task", true, &m->task, err) < 0 ||
        get_string(root, "", "backup_type", true, &m->backup_type, err) < 0 ||
        get_int(root, "", "start", true, -JSON_INT_MAX, JSON_INT_MAX, &m->start, err) < 0 ||
        get_int(root, "", "end", true, -JSON_INT_MAX, JSON_INT_MAX, &m->end, err) < 0 ||
        get_string(root, "", "source_host", false, &m->source_host, err) < 0 ||
        get_int(root, "", "layout_version", false, 0, 2147483647, &layout, err) < 0 ||
        get_string(root, "", "program_version", false, &m->program_version, err) < 0 ||
        get_int(root, "", "run_id", false, -JSON_INT_MAX, JSON_INT_MAX, &m->run_id, err) < 0)
        return -1;
    m->layout_version = (int)layout;
    char q[IB_QUOTE_MAX];
    if (strcmp(m->backup_type, "full") != 0 && strcmp(m->backup_type, "incremental") != 0)
        return ib_err_set(err, IB_E_MANIFEST,
                          "manifest: \"backup_type\" must be \"full\" or \"incremental\", got %s",
                          ib_quote(m->backup_type, q, sizeof q));
    /* start_time/end_time are for humans; only their type is checked. */
    const char *human[] = {"start_time", "end_time"};
    for (size_t i = 0; i < 2; i++) {
        if (get_string(root, "", human[i], false, &ignored, err) < 0)
            return -1;
        free(ignored);
        ignored = NULL;
    }
    return 0;
}

/* cJSON silently truncates strings at an escaped NUL; refuse them up front
 * (and raw NUL bytes) so a path can never be shortened behind our back. */
static int check_no_nul(const char *text, size_t len, ib_err *err)
{
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\0')
            return ib_err_set(err, IB_E_MANIFEST, "manifest: NUL byte at offset %zu", i);
        if (text[i] != '\\')
            continue;
        if (i + 5 < len && text[i + 1] == 'u' && memcmp(text + i + 2, "0000", 4) == 0)
            return ib_err_set(err, IB_E_MANIFEST,
                              "manifest: escaped NUL character (\\u0000) at offset %zu", i);
        i++; /* skip the escaped character */
    }
    return 0;
}

static cJSON *parse_json(const char *text, size_t len, ib_err *err)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    size_t off = end ? (size_t)(end - text) : 0;
    if (!root) {
        ib_err_set(err, IB_E_MANIFEST,
                   "manifest: invalid JSON at byte %zu of %zu (truncated or corrupt)", off, len);
        return NULL;
    }
    while (off < len && isspace((unsigned char)text[off]))
        off++;
    if (off < len) {
        cJSON_Delete(root);
        ib_err_set(err, IB_E_MANIFEST, "manifest: unexpected data after the JSON at byte %zu", off);
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        ib_err_set(err, IB_E_MANIFEST, "manifest: top level must be a JSON object");
        return NULL;
    }
    return root;
}

int ib_manifest_parse(const char *text, size_t len, ib_manifest *out, ib_err *err)
{
    ib_manifest_init(out);
    if (check_no_nul(text, len, err) < 0)
        return -1;
    cJSON *root = parse_json(text, len, err);
    if (!root)
        return -1;
    int rc = 0;
    if (parse_header(root, out, err) < 0 || parse_databases(root, out, err) < 0 ||
        parse_files(root, out, err) < 0)
        rc = -1;
    cJSON_Delete(root);
    if (rc < 0)
        ib_manifest_free(out);
    return rc;
}
