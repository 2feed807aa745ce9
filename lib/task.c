/* Task files: JSON checking shared with config.c, then the task schema. */
#include "ib_task.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define QUOTE_BYTES 80     /* bytes of a value shown in messages */
#define KEY_BYTES 64       /* bytes of a key shown in a pointer */
#define DUP_CHECK_DEPTH 64 /* task files are shallow; deeper nesting is junk anyway */
/* Far above any link; near DBL_MAX the canonical JSON (15 digits) would
 * round up to a number that parses as infinity. */
#define MAX_BANDWIDTH_MBPS 1e9

/* ---- small string helpers ---- */

typedef struct sbuf {
    char *p;
    size_t n, len;
} sbuf;

static void sb_init(sbuf *b, char *p, size_t n)
{
    b->p = p;
    b->n = n;
    b->len = 0;
    if (n)
        p[0] = '\0';
}

static void sb_putc(sbuf *b, char ch)
{
    if (b->len + 1 < b->n) {
        b->p[b->len++] = ch;
        b->p[b->len] = '\0';
    }
}

static void sb_puts(sbuf *b, const char *s)
{
    while (*s)
        sb_putc(b, *s++);
}

/* Escape one byte the way C would, so any value stays on one line. */
static void sb_put_escaped(sbuf *b, unsigned char ch)
{
    static const char hex[] = "0123456789abcdef";
    switch (ch) {
    case '"':
        sb_puts(b, "\\\"");
        return;
    case '\\':
        sb_puts(b, "\\\\");
        return;
    case '\n':
        sb_puts(b, "\\n");
        return;
    case '\r':
        sb_puts(b, "\\r");
        return;
    case '\t':
        sb_puts(b, "\\t");
        return;
    default:
        break;
    }
    if (ch < 0x20 || ch >= 0x7f) {
        sb_puts(b, "\\x");
        sb_putc(b, hex[ch >> 4]);
        sb_putc(b, hex[ch & 15]);
        return;
    }
    sb_putc(b, (char)ch);
}

const char *ib_quote(const char *s, char *buf, size_t n)
{
    sbuf b;
    sb_init(&b, buf, n);
    if (!s) {
        sb_puts(&b, "(null)");
        return buf;
    }
    size_t i = 0;
    sb_putc(&b, '"');
    for (; s[i] && i < QUOTE_BYTES; i++)
        sb_put_escaped(&b, (unsigned char)s[i]);
    sb_putc(&b, '"');
    if (s[i])
        sb_puts(&b, "...");
    return buf;
}

void ib_json_pointer(char *buf, size_t n, const char *parent, const char *key)
{
    sbuf b;
    sb_init(&b, buf, n);
    sb_puts(&b, parent ? parent : "");
    sb_putc(&b, '/');
    size_t i = 0;
    for (; key[i] && i < KEY_BYTES; i++) {
        unsigned char ch = (unsigned char)key[i];
        if (ch == '~')
            sb_puts(&b, "~0");
        else if (ch == '/')
            sb_puts(&b, "~1");
        else if (ch == '"')
            sb_putc(&b, '"'); /* no need to escape quotes in a pointer */
        else
            sb_put_escaped(&b, ch);
    }
    if (key[i])
        sb_puts(&b, "...");
}

static void pointer_index(char *buf, size_t n, const char *parent, size_t index)
{
    /* Pointers are bounded like every quoted value: a truncated one still
     * names the place. */
    int r = snprintf(buf, n, "%s/%zu", parent, index);
    if (r < 0 || (size_t)r >= n)
        buf[n - 1] = '\0';
}

static const char *type_name(const cJSON *item)
{
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsBool(item))
        return "boolean";
    if (cJSON_IsNumber(item))
        return "number";
    if (cJSON_IsString(item))
        return "string";
    if (cJSON_IsArray(item))
        return "array";
    if (cJSON_IsObject(item))
        return "object";
    return "invalid value";
}

static bool has_control_char(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* Levenshtein distance, or a large number for long strings (no suggestion
 * is useful there and hostile keys must stay cheap). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > KEY_BYTES || lb > KEY_BYTES)
        return SIZE_MAX;
    size_t prev[KEY_BYTES + 1], cur[KEY_BYTES + 1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t m = sub < del ? sub : del;
            cur[j] = m < ins ? m : ins;
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

/* The closest of names within two edits of s (three when both are long,
 * so "max_copy" finds "max_copies"), or NULL. */
static const char *closest(const char *s, const char *const *names, size_t n)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(s, names[i]);
        size_t limit = strlen(s) >= 8 && strlen(names[i]) >= 8 ? 3 : 2;
        if (d <= limit && d < best_d) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}

/* "\"a\", \"b\", \"c\"" for messages. */
static void join_names(const char *const *names, size_t n, char *buf, size_t size)
{
    sbuf b;
    sb_init(&b, buf, size);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_puts(&b, ", ");
        sb_putc(&b, '"');
        sb_puts(&b, names[i]);
        sb_putc(&b, '"');
    }
}

/* A number for messages: integers without exponent, others short. */
static void format_number(double v, char *buf, size_t n)
{
    snprintf(buf, n, "%.15g", v);
}

/* ---- reading ---- */

/* Read the rest of fd into a NUL-terminated buffer, failing beyond limit
 * bytes (the file may grow while it is read). size_hint: its size. */
static int read_fd_bounded(int fd, size_t size_hint, size_t limit, char **text, size_t *len,
                           ib_err *err)
{
    size_t cap = size_hint + 1, used = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        ssize_t got = read(fd, buf + used, cap - used);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            free(buf);
            return ib_err_errno(err, IB_E_IO, e, "cannot read");
        }
        if (got == 0)
            break;
        used += (size_t)got;
        if (used > limit) {
            free(buf);
            return ib_err_set(err, IB_E_IO, "file is too large (more than %zu bytes)", limit);
        }
        if (used == cap) {
            cap = cap * 2 > limit + 1 ? limit + 1 : cap * 2;
            char *grown = realloc(buf, cap + 1);
            if (!grown)
                free(buf);
            buf = grown;
        }
    }
    if (!buf)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    buf[used] = '\0';
    *text = buf;
    *len = used;
    return 0;
}

/* ib_read_small_file without the path in messages (callers add the name
 * the user knows). */
static int read_small_file(const char *path, size_t limit, char **text, size_t *len, bool *missing,
                           ib_err *err)
{
    *text = NULL;
    *len = 0;
    if (missing)
        *missing = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (missing)
            *missing = errno == ENOENT;
        return ib_err_errno(err, IB_E_IO, errno, "cannot open");
    }
    struct stat st;
    int r = -1;
    if (fstat(fd, &st) != 0)
        ib_err_errno(err, IB_E_IO, errno, "cannot stat");
    else if (!S_ISREG(st.st_mode))
        ib_err_set(err, IB_E_IO, "not a regular file");
    else if ((uintmax_t)st.st_size > limit)
        ib_err_set(err, IB_E_IO, "file is too large (%jd bytes, at most %zu)", (intmax_t)st.st_size,
                   limit);
    else
        r = read_fd_bounded(fd, (size_t)st.st_size, limit, text, len, err);
    close(fd);
    return r;
}

int ib_read_small_file(const char *path, size_t limit, char **text, size_t *len, bool *missing,
                       ib_err *err)
{
    if (read_small_file(path, limit, text, len, missing, err) != 0)
        return ib_err_prefix(err, "%s", path);
    return 0;
}

/* ---- the checker ---- */

void ib_jcheck_init(ib_jcheck *c, ib_diags *diags, const char *file, ib_code syntax_code,
                    ib_code field_code)
{
    c->diags = diags;
    c->file = file;
    c->syntax_code = syntax_code;
    c->field_code = field_code;
    c->errors = 0;
}

/* Whether one more error may be shown: a hostile file with thousands of
 * bad keys must not flood the journal. Counting continues regardless. */
static bool error_shown(ib_jcheck *c)
{
    c->errors++;
    if (c->errors == IB_JCHECK_MAX_ERRORS + 1)
        ib_diags_add(c->diags, IB_SEV_ERROR, c->field_code, c->file, NULL, 0, 0,
                     "too many errors; the rest of this file's errors are not shown");
    return c->errors <= IB_JCHECK_MAX_ERRORS;
}

void ib_jcheck_error(ib_jcheck *c, const char *ptr, const char *fmt, ...)
{
    if (!error_shown(c))
        return;
    char msg[IB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ib_diags_add(c->diags, IB_SEV_ERROR, c->field_code, c->file, ptr, 0, 0, "%s", msg);
}

void ib_jcheck_warning(ib_jcheck *c, const char *ptr, const char *fmt, ...)
{
    char msg[IB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ib_diags_add(c->diags, IB_SEV_WARNING, c->field_code, c->file, ptr, 0, 0, "%s", msg);
}

/* 1-based line and column (in characters, UTF-8 aware) of byte offset pos. */
static void line_column(const char *text, size_t pos, int *line, int *column)
{
    int l = 1, col = 1;
    for (size_t i = 0; i < pos; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            l++;
            col = 1;
        } else if ((ch & 0xc0) != 0x80) {
            col++;
        }
    }
    *line = l;
    *column = col;
}

static void syntax_error(ib_jcheck *c, const char *text, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void syntax_error(ib_jcheck *c, const char *text, size_t pos, const char *fmt, ...)
{
    if (!error_shown(c))
        return;
    char msg[IB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, column;
    line_column(text, pos, &line, &column);
    ib_diags_add(c->diags, IB_SEV_ERROR, c->syntax_code, c->file, NULL, line, column, "%s", msg);
}

static bool is_json_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Offset of the last non-space byte before pos, or -1. */
static long prev_token(const char *text, size_t pos)
{
    long i = (long)pos - 1;
    while (i >= 0 && is_json_space(text[i]))
        i--;
    return i;
}

/* The innermost open bracket before byte pos ('{', '[', '"' inside a
 * string, or '\0' at top level), by a string-aware scan. */
static char open_container(const char *text, size_t pos)
{
    char stack[1100]; /* deeper than cJSON's nesting limit */
    size_t depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < pos; i++) {
        char ch = text[i];
        if (in_string) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_string = false;
        } else if (ch == '"') {
            in_string = true;
        } else if ((ch == '{' || ch == '[') && depth < sizeof stack) {
            stack[depth++] = ch;
        } else if ((ch == '}' || ch == ']') && depth > 0) {
            depth--;
        }
    }
    if (in_string)
        return '"';
    return depth > 0 ? stack[depth - 1] : '\0';
}

/* True when the text from pos on is only a complete scalar (number or
 * literal) and the document is still open: the end of file is the problem. */
static bool error_is_eof(const char *text, size_t len, size_t pos)
{
    if (pos >= len)
        return true;
    if (!open_container(text, len))
        return false;
    size_t b = pos, e = len;
    while (b < e && is_json_space(text[b]))
        b++;
    while (e > b && is_json_space(text[e - 1]))
        e--;
    size_t n = e - b;
    if (n == 0 || strspn(text + b, "0123456789+-.eE") >= n)
        return true;
    return (n == 4 && (!strncmp(text + b, "true", 4) || !strncmp(text + b, "null", 4))) ||
           (n == 5 && !strncmp(text + b, "false", 5));
}

/* cJSON points one byte past a character that cannot start an object key;
 * move back onto it so the column names the offending character. */
static size_t adjust_error_pos(const char *text, size_t pos)
{
    if (pos == 0 || text[pos - 1] == '"' || is_json_space(text[pos - 1]))
        return pos;
    long before = prev_token(text, pos - 1);
    if (before >= 0 && (text[before] == '{' || text[before] == ',') &&
        open_container(text, pos - 1) == '{')
        return pos - 1;
    return pos;
}

/* Whether the string token ending with the quote at end is an object key
 * (preceded by '{' or ','), looking back for its unescaped opening quote. */
static bool string_is_key(const char *text, long end)
{
    for (long i = end - 1; i >= 0; i--) {
        if (text[i] != '"')
            continue;
        long slashes = 0;
        while (i - 1 - slashes >= 0 && text[i - 1 - slashes] == '\\')
            slashes++;
        if (slashes % 2)
            continue;
        long before = prev_token(text, (size_t)i);
        return before >= 0 && (text[before] == '{' || text[before] == ',');
    }
    return false;
}

/* "'x'" for a printable byte, else "byte 0xNN": a message stays one
 * printable line whatever the file holds. */
static const char *byte_name(unsigned char ch, char *buf, size_t n)
{
    if (ch >= 0x20 && ch < 0x7f)
        snprintf(buf, n, "'%c'", ch);
    else
        snprintf(buf, n, "byte 0x%02x", ch);
    return buf;
}

static void report_syntax(ib_jcheck *c, const char *text, size_t len, size_t pos)
{
    char name[16];
    pos = adjust_error_pos(text, pos);
    if (error_is_eof(text, len, pos)) {
        syntax_error(c, text, len,
                     "unexpected end of file (an object, array or string is "
                     "not closed)");
        return;
    }
    unsigned char ch = (unsigned char)text[pos];
    long before = prev_token(text, pos);
    char prev = before >= 0 ? text[before] : '\0';
    if ((ch == '}' || ch == ']') && prev == ',')
        syntax_error(c, text, pos, "unexpected '%c' after ','; HINT: JSON allows no trailing comma",
                     ch);
    else if (ch == '/' || ch == '#')
        syntax_error(c, text, pos, "unexpected '%c'; HINT: JSON allows no comments", ch);
    else if (ch == '\'')
        syntax_error(c, text, pos, "unexpected '\\''; HINT: JSON strings use double quotes");
    else if (prev == '"' && ch != ':' && open_container(text, pos) == '{' &&
             string_is_key(text, before))
        syntax_error(c, text, pos, "expected ':' after the key, got %s",
                     byte_name(ch, name, sizeof name));
    else if (ch == '"' && prev && strchr("\"}]0123456789el", prev))
        syntax_error(c, text, pos, "unexpected '\"'; HINT: a ',' is probably missing before it");
    else if (pos > 0 && text[pos - 1] == '"' && !memchr(text + pos, '"', len - pos))
        syntax_error(c, text, pos - 1, "string is not closed");
    else if (ch == '\\')
        syntax_error(c, text, pos, "invalid escape sequence in string");
    else if (ch >= 0x20 && ch < 0x7f)
        syntax_error(c, text, pos, "unexpected character '%c'", ch);
    else
        syntax_error(c, text, pos, "unexpected byte 0x%02x", ch);
}

/* Offset of a "\u0000" escape inside a string of valid JSON, or -1: cJSON
 * would silently cut the string there. */
static long find_escaped_nul(const char *text, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (!in_string) {
            in_string = text[i] == '"';
            continue;
        }
        if (text[i] == '"') {
            in_string = false;
        } else if (text[i] == '\\' && i + 1 < len) {
            if (text[i + 1] == 'u' && i + 5 < len && strncmp(text + i + 2, "0000", 4) == 0)
                return (long)i;
            i++;
        }
    }
    return -1;
}

typedef struct key_ref {
    const char *key;
    size_t index;
} key_ref;

static int cmp_key_ref(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    int r = strcmp(x->key, y->key);
    if (r)
        return r;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void check_duplicates(ib_jcheck *c, const cJSON *node, const char *ptr, int depth);

static void check_object_duplicates(ib_jcheck *c, const cJSON *obj, const char *ptr)
{
    size_t n = (size_t)cJSON_GetArraySize(obj), i = 0;
    if (n < 2)
        return;
    key_ref *refs = calloc(n, sizeof *refs);
    if (!refs)
        return;
    for (const cJSON *it = obj->child; it && i < n; it = it->next, i++)
        refs[i] = (key_ref){it->string ? it->string : "", i};
    qsort(refs, n, sizeof *refs, cmp_key_ref);
    for (i = 1; i < n; i++) {
        if (strcmp(refs[i].key, refs[i - 1].key) != 0)
            continue;
        char p[IB_POINTER_MAX], q[IB_QUOTE_MAX];
        ib_json_pointer(p, sizeof p, ptr, refs[i].key);
        ib_jcheck_error(c, p, "duplicate key %s", ib_quote(refs[i].key, q, sizeof q));
    }
    free(refs);
}

static void check_duplicates(ib_jcheck *c, const cJSON *node, const char *ptr, int depth)
{
    if (depth > DUP_CHECK_DEPTH)
        return;
    if (cJSON_IsObject(node))
        check_object_duplicates(c, node, ptr);
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node))
        return;
    size_t i = 0;
    for (const cJSON *it = node->child; it; it = it->next, i++) {
        char p[IB_POINTER_MAX];
        if (cJSON_IsObject(node))
            ib_json_pointer(p, sizeof p, ptr, it->string ? it->string : "");
        else
            pointer_index(p, sizeof p, ptr, i);
        check_duplicates(c, it, p, depth + 1);
    }
}

struct cJSON *ib_jcheck_parse(ib_jcheck *c, const char *text, size_t len)
{
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        syntax_error(c, text, (size_t)(nul - text),
                     "file contains a NUL byte; HINT: is this a binary file?");
        return NULL;
    }
    size_t start = 0;
    while (start < len && is_json_space(text[start]))
        start++;
    if (start == len) {
        syntax_error(c, text, len, "file is empty; HINT: it must hold a JSON object");
        return NULL;
    }
    /* cJSON wants the terminating NUL inside the length to refuse trailing
     * garbage, so parse a terminated copy. */
    char *copy = malloc(len + 1);
    if (!copy) {
        ib_jcheck_error(c, NULL, "out of memory");
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    if (!root) {
        size_t pos = end && end >= copy ? (size_t)(end - copy) : 0;
        report_syntax(c, copy, len, pos > len ? len : pos);
        free(copy);
        return NULL;
    }
    long esc = find_escaped_nul(copy, len);
    if (esc >= 0) {
        syntax_error(c, copy, (size_t)esc, "string contains \\u0000 (NUL), which is not allowed");
        free(copy);
        cJSON_Delete(root);
        return NULL;
    }
    free(copy);
    if (!cJSON_IsObject(root)) {
        ib_jcheck_error(c, NULL, "must hold a JSON object, got %s", type_name(root));
        cJSON_Delete(root);
        return NULL;
    }
    check_duplicates(c, root, "", 0);
    return root;
}

static bool name_known(const char *key, const char *const *known, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(key, known[i]) == 0)
            return true;
    return false;
}

void ib_jcheck_keys(ib_jcheck *c, const struct cJSON *obj, const char *ptr,
                    const char *const *known, size_t n_known)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        const char *key = it->string ? it->string : "";
        if (name_known(key, known, n_known))
            continue;
        char p[IB_POINTER_MAX], q[IB_QUOTE_MAX];
        ib_json_pointer(p, sizeof p, ptr, key);
        ib_quote(key, q, sizeof q);
        const char *near = closest(key, known, n_known);
        if (near)
            ib_jcheck_error(c, p, "unknown key %s; did you mean \"%s\"?", q, near);
        else if (strcmp(key, "enabled") == 0)
            ib_jcheck_error(c, p,
                            "unknown key %s; HINT: to disable a task, rename its file so "
                            "it does not end in .json",
                            q);
        else
            ib_jcheck_error(c, p, "unknown key %s", q);
    }
}

/* The member key of obj: NULL when absent (reported when required). */
static const cJSON *member(ib_jcheck *c, const cJSON *obj, const char *ptr, const char *key,
                           bool required, char *p, size_t pn)
{
    ib_json_pointer(p, pn, ptr, key);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item && required)
        ib_jcheck_error(c, p, "required key is missing");
    return item;
}

/* A string value check shared by members and array elements. */
static bool string_ok(ib_jcheck *c, const cJSON *item, const char *p)
{
    if (!cJSON_IsString(item)) {
        ib_jcheck_error(c, p, "must be a string, got %s", type_name(item));
        return false;
    }
    if (item->valuestring[0] == '\0') {
        ib_jcheck_error(c, p, "must not be empty");
        return false;
    }
    if (has_control_char(item->valuestring)) {
        char q[IB_QUOTE_MAX];
        ib_jcheck_error(c, p, "must not contain control characters, got %s",
                        ib_quote(item->valuestring, q, sizeof q));
        return false;
    }
    return true;
}

int ib_jcheck_string(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                     bool required, const char **out)
{
    char p[IB_POINTER_MAX];
    const cJSON *item = member(c, obj, ptr, key, required, p, sizeof p);
    if (!item)
        return required ? -1 : 0;
    if (!string_ok(c, item, p))
        return -1;
    *out = item->valuestring;
    return 1;
}

int ib_jcheck_int(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                  bool required, int64_t min, int64_t max, int64_t *out)
{
    char p[IB_POINTER_MAX], num[64];
    const cJSON *item = member(c, obj, ptr, key, required, p, sizeof p);
    if (!item)
        return required ? -1 : 0;
    if (!cJSON_IsNumber(item)) {
        ib_jcheck_error(c, p, "must be an integer, got %s", type_name(item));
        return -1;
    }
    double v = item->valuedouble;
    format_number(v, num, sizeof num);
    if (!isfinite(v) || v != floor(v)) {
        ib_jcheck_error(c, p, "must be an integer, got %s", num);
        return -1;
    }
    if (v < (double)min) {
        ib_jcheck_error(c, p, "must be >= %jd, got %s", (intmax_t)min, num);
        return -1;
    }
    if (v > (double)max) {
        ib_jcheck_error(c, p, "must be <= %jd, got %s", (intmax_t)max, num);
        return -1;
    }
    *out = (int64_t)v;
    return 1;
}

int ib_jcheck_number(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                     bool required, double min, double *out)
{
    char p[IB_POINTER_MAX], num[64], lim[64];
    const cJSON *item = member(c, obj, ptr, key, required, p, sizeof p);
    if (!item)
        return required ? -1 : 0;
    if (!cJSON_IsNumber(item)) {
        ib_jcheck_error(c, p, "must be a number, got %s", type_name(item));
        return -1;
    }
    double v = item->valuedouble;
    format_number(v, num, sizeof num);
    format_number(min, lim, sizeof lim);
    if (!isfinite(v)) {
        ib_jcheck_error(c, p, "must be a finite number, got %s", num);
        return -1;
    }
    if (v < min) {
        ib_jcheck_error(c, p, "must be >= %s, got %s", lim, num);
        return -1;
    }
    *out = v;
    return 1;
}

int ib_jcheck_bool(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                   bool required, bool *out)
{
    char p[IB_POINTER_MAX];
    const cJSON *item = member(c, obj, ptr, key, required, p, sizeof p);
    if (!item)
        return required ? -1 : 0;
    if (!cJSON_IsBool(item)) {
        ib_jcheck_error(c, p, "must be true or false, got %s", type_name(item));
        return -1;
    }
    *out = cJSON_IsTrue(item);
    return 1;
}

int ib_jcheck_enum(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                   bool required, const char *const *names, size_t n_names, int *out)
{
    char p[IB_POINTER_MAX], q[IB_QUOTE_MAX], list[512];
    const cJSON *item = member(c, obj, ptr, key, required, p, sizeof p);
    if (!item)
        return required ? -1 : 0;
    join_names(names, n_names, list, sizeof list);
    if (!cJSON_IsString(item)) {
        ib_jcheck_error(c, p, "must be a string (one of %s), got %s", list, type_name(item));
        return -1;
    }
    for (size_t i = 0; i < n_names; i++) {
        if (strcmp(item->valuestring, names[i]) == 0) {
            *out = (int)i;
            return 1;
        }
    }
    ib_quote(item->valuestring, q, sizeof q);
    const char *near = closest(item->valuestring, names, n_names);
    if (near)
        ib_jcheck_error(c, p, "must be one of %s, got %s; did you mean \"%s\"?", list, q, near);
    else
        ib_jcheck_error(c, p, "must be one of %s, got %s", list, q);
    return -1;
}

/* Checks of an already fetched absolute path string. */
static bool abs_path_ok(ib_jcheck *c, const char *p, const char *value)
{
    char q[IB_QUOTE_MAX];
    if (value[0] != '/') {
        ib_jcheck_error(c, p, "must be an absolute path (starting with '/'), got %s",
                        ib_quote(value, q, sizeof q));
        return false;
    }
    /* No system call takes a longer path: refuse it here, not mid-run. */
    size_t len = strlen(value);
    if (len >= PATH_MAX) {
        ib_jcheck_error(c, p, "must be at most %d bytes long, got %zu bytes: %s", PATH_MAX - 1, len,
                        ib_quote(value, q, sizeof q));
        return false;
    }
    return true;
}

int ib_jcheck_abs_path(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                       bool required, const char **out)
{
    const char *v = NULL;
    int r = ib_jcheck_string(c, obj, ptr, key, required, &v);
    if (r <= 0)
        return r;
    char p[IB_POINTER_MAX];
    ib_json_pointer(p, sizeof p, ptr, key);
    if (!abs_path_ok(c, p, v))
        return -1;
    *out = v;
    return 1;
}

/* An object member: 1 present (*out set), 0 absent, -1 reported. */
static int get_object(ib_jcheck *c, const cJSON *obj, const char *ptr, const char *key,
                      bool required, const cJSON **out, char *p, size_t pn)
{
    const cJSON *item = member(c, obj, ptr, key, required, p, pn);
    if (!item)
        return required ? -1 : 0;
    if (!cJSON_IsObject(item)) {
        ib_jcheck_error(c, p, "must be an object, got %s", type_name(item));
        return -1;
    }
    *out = item;
    return 1;
}

/* ---- names, enums and the policy ---- */

static const char *const MODE_NAMES[] = {"periodic", "manual"};
static const char *const UNIT_NAMES[] = {"minutes", "hours", "days"};
static const char *const POLICY_NAMES[] = {"full-then-incremental", "full-every-time",
                                           "full-every-n"};
static const char *const CATCH_UP_NAMES[] = {"once", "skip"};
static const char *const CLUSTER_MODE_NAMES[] = {"normal", "security"};
static const char *const TARGET_TYPE_NAMES[] = {"LocalDir", "RemoteHDFS"};
static const char *const IP_MODE_NAMES[] = {"IPv4", "IPv6"};
static const char *const AUTH_MODE_NAMES[] = {"simple", "kerberos"};

const char *ib_mode_name(ib_mode m)
{
    return (unsigned)m < ARRAY_LEN(MODE_NAMES) ? MODE_NAMES[m] : "unknown";
}

const char *ib_policy_name(ib_policy p)
{
    return (unsigned)p < ARRAY_LEN(POLICY_NAMES) ? POLICY_NAMES[p] : "unknown";
}

const char *ib_unit_name(ib_unit u)
{
    return (unsigned)u < ARRAY_LEN(UNIT_NAMES) ? UNIT_NAMES[u] : "unknown";
}

const char *ib_target_type_name(ib_target_type t)
{
    return (unsigned)t < ARRAY_LEN(TARGET_TYPE_NAMES) ? TARGET_TYPE_NAMES[t] : "unknown";
}

bool ib_task_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n < 1 || n > IB_TASK_NAME_MAX)
        return false;
    return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

bool ib_task_file_counts(const char *filename)
{
    if (filename[0] == '.' || !ends_with(filename, ".json"))
        return false;
    /* Editors' and dpkg's leftovers never count, whatever they end in. */
    return !ends_with(filename, "~") && !ends_with(filename, ".swp") && !strstr(filename, ".dpkg-");
}

int ib_task_policy_type(const ib_task *task, int64_t runs_since_full)
{
    if (runs_since_full < 0)
        return 0;
    switch (task->policy) {
    case IB_POLICY_FULL_EVERY_TIME:
        return 0;
    case IB_POLICY_FULL_THEN_INCREMENTAL:
        return 1;
    case IB_POLICY_FULL_EVERY_N:
        /* The full run is the first of every n runs. */
        return runs_since_full >= (int64_t)task->full_every - 1 ? 0 : 1;
    }
    return 0;
}

/* ---- "started" ---- */

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Digits of s[0..n) as a number, or -1. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Parse "YYYY-MM-DDTHH:MM:SS" with an optional "Z" or "+HH:MM"/"-HH:MM".
 * Returns NULL on success, else why it is wrong. */
static const char *parse_civil(const char *s, ib_civil_time *t)
{
    size_t n = strlen(s);
    if (n < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return "must be \"YYYY-MM-DDTHH:MM:SS\" (local time), optionally followed by \"Z\" or "
               "\"+HH:MM\"";
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), se = digits(s + 17, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || se < 0)
        return "must be \"YYYY-MM-DDTHH:MM:SS\" with digits only";
    if (y < 1970)
        return "year must be 1970 or later";
    if (mo < 1 || mo > 12)
        return "month must be 01..12";
    if (d < 1 || d > days_in_month(y, mo))
        return "day does not exist in that month";
    if (h > 23 || mi > 59 || se > 59)
        return "time must be 00:00:00..23:59:59";
    *t = (ib_civil_time){y, mo, d, h, mi, se, false, 0};
    const char *rest = s + 19;
    if (*rest == '\0')
        return NULL;
    if (strcmp(rest, "Z") == 0) {
        t->has_offset = true;
        return NULL;
    }
    if (strlen(rest) != 6 || (rest[0] != '+' && rest[0] != '-') || rest[3] != ':')
        return "may only be followed by \"Z\" or \"+HH:MM\"/\"-HH:MM\"";
    int oh = digits(rest + 1, 2), om = digits(rest + 4, 2);
    if (oh < 0 || om < 0 || om > 59 || oh * 60 + om > 14 * 60)
        return "UTC offset must be between -14:00 and +14:00";
    t->has_offset = true;
    t->offset_seconds = (oh * 3600 + om * 60) * (rest[0] == '-' ? -1 : 1);
    return NULL;
}

static void format_civil(const ib_civil_time *t, char *buf, size_t n)
{
    int len = snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d", t->year, t->month, t->day, t->hour,
                       t->minute, t->second);
    if (!t->has_offset || len < 0 || (size_t)len >= n)
        return;
    if (t->offset_seconds == 0) {
        snprintf(buf + len, n - (size_t)len, "Z");
        return;
    }
    int off = abs(t->offset_seconds) / 60;
    snprintf(buf + len, n - (size_t)len, "%c%02d:%02d", t->offset_seconds < 0 ? '-' : '+', off / 60,
             off % 60);
}

/* ---- value checks of the task schema ---- */

static char *xstrdup(ib_jcheck *c, const char *s)
{
    char *d = strdup(s);
    if (!d)
        ib_jcheck_error(c, NULL, "out of memory");
    return d;
}

/* An IoTDB database name: tree model "root.x" or a table-model name. */
static bool database_name_ok(ib_jcheck *c, const char *p, const char *name)
{
    if (strchr(name, '/')) {
        char q[IB_QUOTE_MAX];
        ib_jcheck_error(c, p, "%s is not an IoTDB database name: it must not contain '/'",
                        ib_quote(name, q, sizeof q));
        return false;
    }
    return true;
}

/* glibc's regcomp expands a bounded repetition into copies of what it
 * repeats, so nested bounds multiply: "((a{0,50}){0,50}){1,20}" takes 8 s
 * and 400 MB to compile, on the daemon's loop thread. Database names need
 * nothing like it: bound the product of every repetition count. */
#define PATTERN_REPEAT_MAX 1000

static const char *skip_bracket(const char *s)
{
    s++; /* '[' */
    if (*s == '^')
        s++;
    if (*s == ']')
        s++; /* a literal ']' first */
    while (*s && *s != ']')
        s++;
    return *s ? s : s - 1;
}

/* The product of the pattern's repetition bounds ({m}, {m,n}, {m,}: m+1),
 * capped just above PATTERN_REPEAT_MAX. */
static long repetition_product(const char *re)
{
    long product = 1;
    for (const char *s = re; *s && product <= PATTERN_REPEAT_MAX; s++) {
        if (*s == '\\' && s[1]) {
            s++;
            continue;
        }
        if (*s == '[') {
            s = skip_bracket(s);
            continue;
        }
        if (*s != '{' || !isdigit((unsigned char)s[1]))
            continue;
        char *end;
        long m = strtol(s + 1, &end, 10), n = m;
        if (*end == ',')
            n = isdigit((unsigned char)end[1]) ? strtol(end + 1, &end, 10) : m + 1;
        long bound = n > m ? n : m;
        if (bound > PATTERN_REPEAT_MAX)
            return PATTERN_REPEAT_MAX + 1;
        product *= bound > 1 ? bound : 1;
    }
    return product;
}

static bool pattern_ok(ib_jcheck *c, const char *p, const char *pattern)
{
    char q[IB_QUOTE_MAX];
    if (repetition_product(pattern) > PATTERN_REPEAT_MAX) {
        ib_jcheck_error(c, p,
                        "%s repeats too much: its repetition counts multiply to more than %d, "
                        "which makes it slow and large to compile; HINT: use simpler bounds "
                        "(e.g. [0-9]+ instead of nested {m,n})",
                        ib_quote(pattern, q, sizeof q), PATTERN_REPEAT_MAX);
        return false;
    }
    regex_t re;
    int rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc == 0) {
        regfree(&re);
        return true;
    }
    char why[256];
    regerror(rc, &re, why, sizeof why);
    ib_jcheck_error(c, p, "%s is not a valid POSIX extended regular expression: %s",
                    ib_quote(pattern, q, sizeof q), why);
    return false;
}

typedef bool (*element_check)(ib_jcheck *c, const char *p, const char *value);

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Report every later copy of an element of v (NULL entries were invalid). */
static void report_duplicate_strings(ib_jcheck *c, const char *p, char *const *v, size_t n)
{
    key_ref *refs = calloc(n ? n : 1, sizeof *refs);
    size_t m = 0;
    if (!refs) {
        ib_jcheck_error(c, p, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (v[i])
            refs[m++] = (key_ref){v[i], i};
    qsort(refs, m, sizeof *refs, cmp_key_ref); /* equal strings by index */
    for (size_t i = 1, first = 0; i < m; i++) {
        if (strcmp(refs[i].key, refs[first].key) != 0) {
            first = i;
            continue;
        }
        char ep[IB_POINTER_MAX];
        pointer_index(ep, sizeof ep, p, refs[i].index);
        ib_jcheck_error(c, ep, "duplicate of %s/%zu", p, refs[first].index);
    }
    free(refs);
}

/* An array of distinct strings, each passing check. 1 present and valid,
 * 0 absent, -1 reported. */
static int get_string_array(ib_jcheck *c, const cJSON *obj, const char *ptr, const char *key,
                            bool required, element_check check, char ***out, size_t *n_out)
{
    char p[IB_POINTER_MAX];
    const cJSON *arr = member(c, obj, ptr, key, required, p, sizeof p);
    if (!arr)
        return required ? -1 : 0;
    if (!cJSON_IsArray(arr)) {
        ib_jcheck_error(c, p, "must be an array of strings, got %s", type_name(arr));
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(arr), i = 0, errors = c->errors;
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v) {
        ib_jcheck_error(c, p, "out of memory");
        return -1;
    }
    for (const cJSON *it = arr->child; it; it = it->next, i++) {
        char ep[IB_POINTER_MAX];
        pointer_index(ep, sizeof ep, p, i);
        if (!string_ok(c, it, ep) || (check && !check(c, ep, it->valuestring)))
            continue;
        v[i] = strdup(it->valuestring);
        if (!v[i])
            ib_jcheck_error(c, ep, "out of memory");
    }
    report_duplicate_strings(c, p, v, n);
    if (c->errors != errors) {
        free_strv(v, n);
        return -1;
    }
    *out = v;
    *n_out = n;
    return 1;
}

/* Bare host names as RFC 1123 allows them. */
static bool hostname_ok(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return false;
    bool only_digits_and_dots = true;
    for (size_t i = 0; i <= n; i++) {
        char ch = s[i];
        if (ch == '.' || ch == '\0') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        bool alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (!alnum && !(ch == '-' && label > 0))
            return false;
        if (ch < '0' || ch > '9')
            only_digits_and_dots = false;
        label++;
    }
    return !only_digits_and_dots; /* "300.1.2.3" is a broken IPv4 address */
}

/* What is wrong with a host (name, IPv4, or IPv6 literal, bracketed or not)
 * under ip_mode, or NULL; *is_v6 tells whether it is an IPv6 literal, bare
 * gets the host without brackets. */
static const char *host_problem(const char *host, bool ipv6, bool *is_v6, char bare[256])
{
    unsigned char bin[sizeof(struct in6_addr)];
    size_t n = strlen(host);
    bool bracketed = n > 2 && n < 256 + 2 && host[0] == '[' && host[n - 1] == ']';
    snprintf(bare, 256, "%.*s", bracketed ? (int)(n - 2) : (int)n, bracketed ? host + 1 : host);
    bool is_v4 = !bracketed && inet_pton(AF_INET, host, bin) == 1;
    *is_v6 = inet_pton(AF_INET6, bare, bin) == 1;
    if (ipv6 && is_v4)
        return "is an IPv4 address but ip_mode is \"IPv6\"";
    if (!ipv6 && *is_v6)
        return "is an IPv6 address but ip_mode is \"IPv4\"";
    if (is_v4 || *is_v6)
        return NULL;
    if (ipv6 && (bracketed || strchr(host, ':')))
        return "is not a valid IPv6 address";
    if (!bracketed && strchr(host, ':'))
        return "is not a valid IPv4 address or host name; HINT: give the WebHDFS port in "
               "namenode_http_port, or write the address as http://HOST:PORT";
    if (!hostname_ok(host))
        return ipv6 ? "is not a valid IPv6 address or host name"
                    : "is not a valid IPv4 address or host name";
    return NULL;
}

/* The scheme a NameNode address was written with, if any. */
typedef enum { IB_NN_SCHEME_NONE, IB_NN_SCHEME_HTTP, IB_NN_SCHEME_HTTPS } ib_nn_scheme;

/* The optional scheme of a NameNode address: the length of its prefix. */
static size_t scheme_len(const char *addr, ib_nn_scheme *scheme)
{
    *scheme = IB_NN_SCHEME_NONE;
    if (strncmp(addr, "https://", 8) == 0) {
        *scheme = IB_NN_SCHEME_HTTPS;
        return 8;
    }
    if (strncmp(addr, "http://", 7) == 0) {
        *scheme = IB_NN_SCHEME_HTTP;
        return 7;
    }
    return 0;
}

/* Split "HOST[:PORT][/]" of a URL into host and port (0 when absent); NULL
 * or the reason it is not that. An IPv6 host needs brackets in a URL. */
static const char *split_authority(const char *rest, char *host, size_t cap, int *port)
{
    size_t n = strlen(rest);
    if (n > 0 && rest[n - 1] == '/')
        n--; /* "https://nn1:9871/" as copied from a browser */
    if (memchr(rest, '/', n) || memchr(rest, '?', n) || memchr(rest, '#', n))
        return "must be SCHEME://HOST[:PORT] without a path or query";
    const char *close = rest[0] == '[' ? memchr(rest, ']', n) : NULL;
    const char *colon = close ? close + 1 : memchr(rest, ':', n);
    size_t hlen = colon && colon < rest + n ? (size_t)(colon - rest) : n;
    if (rest[0] == '[' && !close)
        return "has '[' without ']'";
    if (!close && colon && memchr(colon + 1, ':', n - hlen - 1))
        return "has an IPv6 address without brackets; HINT: write it as https://[ADDRESS]:PORT";
    if (hlen == 0)
        return "has no host after the scheme";
    if (hlen >= cap)
        return "has a host longer than 253 bytes";
    snprintf(host, cap, "%.*s", (int)hlen, rest);
    *port = 0;
    if (hlen == n)
        return NULL;
    if (rest[hlen] != ':')
        return "has text after ']' that is not \":PORT\"";
    long v = 0;
    size_t i = hlen + 1;
    for (; i < n && rest[i] >= '0' && rest[i] <= '9' && v <= 65535; i++)
        v = v * 10 + (rest[i] - '0');
    if (i == hlen + 1 || i != n || v < 1 || v > 65535)
        return "has an invalid port (must be 1..65535)";
    *port = (int)v;
    return NULL;
}

/* Check a NameNode address against ip_mode: a host, or a URL
 * "http(s)://HOST[:PORT]" (the driver takes the scheme and port from it).
 * On success *stored is what to keep: an IPv6 literal without its brackets,
 * or the URL without a trailing '/'. */
static bool address_ok(ib_jcheck *c, const char *p, const char *addr, bool ipv6, char **stored,
                       ib_nn_scheme *scheme)
{
    char q[IB_QUOTE_MAX], host[256], bare[256];
    ib_quote(addr, q, sizeof q);
    size_t skip = scheme_len(addr, scheme);
    int port = 0;
    bool is_v6 = false;
    const char *problem = skip ? split_authority(addr + skip, host, sizeof host, &port) : NULL;
    if (!problem)
        problem = host_problem(skip ? host : addr, ipv6, &is_v6, bare);
    if (problem) {
        ib_jcheck_error(c, p, "%s %s", q, problem);
        return false;
    }
    if (!skip) {
        *stored = xstrdup(c, is_v6 ? bare : addr);
        return *stored != NULL;
    }
    char url[300];
    snprintf(url, sizeof url, "%.*s%s", (int)skip, addr, host);
    if (port)
        snprintf(url + strlen(url), sizeof url - strlen(url), ":%d", port);
    *stored = xstrdup(c, url);
    return *stored != NULL;
}

/* Collapse repeated '/' and drop a trailing one (not the root's). */
static char *normalize_path(const char *path)
{
    char *out = malloc(strlen(path) + 1);
    if (!out)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; path[i]; i++) {
        if (path[i] == '/' && j > 0 && out[j - 1] == '/')
            continue;
        out[j++] = path[i];
    }
    if (j > 1 && out[j - 1] == '/')
        j--;
    out[j] = '\0';
    return out;
}

/* A component "." or "..", or one starting with '.', is refused. Returns
 * the first such component (pointer into path) or NULL. */
static const char *hidden_component(const char *path, size_t *len)
{
    for (const char *s = path; *s;) {
        while (*s == '/')
            s++;
        size_t n = strcspn(s, "/");
        if (n > 0 && s[0] == '.') {
            *len = n;
            return s;
        }
        s += n;
    }
    return NULL;
}

static bool has_component(const char *path, const char *name)
{
    size_t n = strlen(name);
    for (const char *s = path; (s = strstr(s, name)) != NULL; s += n) {
        if (s > path && s[-1] == '/' && (s[n] == '/' || s[n] == '\0'))
            return true;
    }
    return false;
}

static bool path_at_or_below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Directories of an HDFS cluster that belong to the system (the feature
 * description: no hidden, snapshot, recycle bin or default system dir). */
static const char *hdfs_reserved_reason(const char *path)
{
    static const struct {
        const char *dir;
        bool below;
    } system_dirs[] = {
        {"/", false},   {"/user", false},      {"/.reserved", true}, {"/hbase", true},
        {"/tmp", true}, {"/mr-history", true}, {"/system", true},    {"/user/hbase/backup", true},
    };
    if (has_component(path, ".snapshot"))
        return "contains \".snapshot\", the read-only snapshot directory of HDFS";
    if (has_component(path, ".Trash"))
        return "contains \".Trash\", an HDFS recycle bin";
    for (size_t i = 0; i < ARRAY_LEN(system_dirs); i++) {
        bool hit = system_dirs[i].below ? path_at_or_below(path, system_dirs[i].dir)
                                        : strcmp(path, system_dirs[i].dir) == 0;
        if (hit)
            return "is a default HDFS system directory";
    }
    return NULL;
}

/* Checks target_path for the target type; *stored receives the normalized
 * path. hdfs: also the HDFS rules. */
static bool target_path_ok(ib_jcheck *c, const char *p, const char *path, bool hdfs, char **stored)
{
    char q[IB_QUOTE_MAX];
    ib_quote(path, q, sizeof q);
    if (!abs_path_ok(c, p, path))
        return false;
    char *norm = normalize_path(path);
    if (!norm) {
        ib_jcheck_error(c, p, "out of memory");
        return false;
    }
    const char *reason = hdfs ? hdfs_reserved_reason(norm) : NULL;
    size_t hlen = 0;
    const char *hidden = hidden_component(norm, &hlen);
    if (reason) {
        ib_jcheck_error(c, p, "%s %s; HINT: use a dedicated directory such as /backup/iotdb", q,
                        reason);
    } else if (hidden) {
        char comp[IB_QUOTE_MAX], part[128];
        snprintf(part, sizeof part, "%.*s", (int)(hlen < 100 ? hlen : 100), hidden);
        ib_jcheck_error(c, p, "%s is hidden: component %s starts with '.'", q,
                        ib_quote(part, comp, sizeof comp));
    } else if (hdfs && strchr(norm, ':')) {
        ib_jcheck_error(c, p, "%s contains ':', which HDFS does not allow in a path", q);
    } else {
        *stored = norm;
        return true;
    }
    free(norm);
    return false;
}

static bool nameservice_ok(ib_jcheck *c, const char *p, const char *ns)
{
    size_t n = strlen(ns);
    if (strspn(ns, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n)
        return true;
    char q[IB_QUOTE_MAX];
    ib_jcheck_error(c, p, "%s is not a nameservice name: use letters, digits, '_', '.', '-'",
                    ib_quote(ns, q, sizeof q));
    return false;
}

/* http(s) URL without credentials, checked by libcurl's URL parser. */
static bool rest_url_ok(ib_jcheck *c, const char *p, const char *url)
{
    char q[IB_QUOTE_MAX];
    ib_quote(url, q, sizeof q);
    CURLU *u = curl_url();
    if (!u) {
        ib_jcheck_error(c, p, "out of memory");
        return false;
    }
    char *scheme = NULL, *user = NULL;
    bool ok = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
    if (!ok)
        ib_jcheck_error(c, p, "%s is not an http:// or https:// URL", q);
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
        ib_jcheck_error(c, p,
                        "%s must not contain credentials; HINT: use \"user\" and "
                        "\"password_file\"",
                        q);
    curl_free(scheme);
    curl_free(user);
    curl_url_cleanup(u);
    return ok && !user;
}

/* User names that go into an HTTP header or a query string. */
static bool user_name_ok(ib_jcheck *c, const char *p, const char *user)
{
    if (!strpbrk(user, " :")) /* ':' would break HTTP Basic */
        return true;
    char q[IB_QUOTE_MAX];
    ib_jcheck_error(c, p, "%s must not contain spaces or ':'", ib_quote(user, q, sizeof q));
    return false;
}

/* Fetch a string, check it with check, and copy it into *dst. */
static int get_checked_string(ib_jcheck *c, const cJSON *obj, const char *ptr, const char *key,
                              bool required, element_check check, char **dst)
{
    const char *v = NULL;
    int r = ib_jcheck_string(c, obj, ptr, key, required, &v);
    if (r <= 0)
        return r;
    char p[IB_POINTER_MAX];
    ib_json_pointer(p, sizeof p, ptr, key);
    if (check && !check(c, p, v))
        return -1;
    *dst = xstrdup(c, v);
    return *dst ? 1 : -1;
}

static int get_abs_path_copy(ib_jcheck *c, const cJSON *obj, const char *ptr, const char *key,
                             bool required, char **dst)
{
    const char *v = NULL;
    int r = ib_jcheck_abs_path(c, obj, ptr, key, required, &v);
    if (r <= 0)
        return r;
    *dst = xstrdup(c, v);
    return *dst ? 1 : -1;
}

static bool data_dir_ok(ib_jcheck *c, const char *p, const char *v)
{
    return abs_path_ok(c, p, v);
}

/* A key that is present though the context forbids it. */
static void forbid(ib_jcheck *c, const cJSON *obj, const char *ptr, const char *key,
                   const char *why)
{
    if (!cJSON_GetObjectItemCaseSensitive(obj, key))
        return;
    char p[IB_POINTER_MAX];
    ib_json_pointer(p, sizeof p, ptr, key);
    ib_jcheck_error(c, p, "%s", why);
}

/* ---- sections of a task ---- */

static void check_period(ib_jcheck *c, const cJSON *root, ib_task *t)
{
    static const char *const keys[] = {"every", "unit"};
    const cJSON *period = NULL;
    char p[IB_POINTER_MAX];
    if (get_object(c, root, "", "period", true, &period, p, sizeof p) <= 0)
        return;
    ib_jcheck_keys(c, period, p, keys, ARRAY_LEN(keys));
    int64_t every = 0;
    int unit = 0;
    if (ib_jcheck_int(c, period, p, "every", true, 1, 1000000, &every) > 0)
        t->schedule.every = every;
    if (ib_jcheck_enum(c, period, p, "unit", true, UNIT_NAMES, ARRAY_LEN(UNIT_NAMES), &unit) > 0)
        t->schedule.unit = (ib_unit)unit;
}

static void check_started(ib_jcheck *c, const cJSON *root, ib_task *t)
{
    const char *v = NULL;
    if (ib_jcheck_string(c, root, "", "started", true, &v) <= 0)
        return;
    const char *why = parse_civil(v, &t->schedule.started);
    if (why) {
        char q[IB_QUOTE_MAX];
        ib_jcheck_error(c, "/started", "%s: %s", ib_quote(v, q, sizeof q), why);
    }
}

static void check_schedule(ib_jcheck *c, const cJSON *root, ib_task *t, bool mode_known)
{
    if (mode_known && t->mode == IB_MODE_MANUAL) {
        const char *why = "only with mode \"periodic\"";
        forbid(c, root, "", "started", why);
        forbid(c, root, "", "period", why);
        forbid(c, root, "", "catch_up", why);
        return;
    }
    /* Periodic, or an unknown mode: check what is there. */
    if (mode_known || cJSON_GetObjectItemCaseSensitive(root, "started"))
        check_started(c, root, t);
    if (mode_known || cJSON_GetObjectItemCaseSensitive(root, "period"))
        check_period(c, root, t);
    int v = 0;
    if (ib_jcheck_enum(c, root, "", "catch_up", false, CATCH_UP_NAMES, ARRAY_LEN(CATCH_UP_NAMES),
                       &v) > 0)
        t->catch_up = (ib_catch_up)v;
    t->has_schedule = mode_known;
}

static void check_policy(ib_jcheck *c, const cJSON *root, ib_task *t)
{
    int v = 0;
    int r = ib_jcheck_enum(c, root, "", "policy", false, POLICY_NAMES, ARRAY_LEN(POLICY_NAMES), &v);
    if (r > 0)
        t->policy = (ib_policy)v;
    if (r >= 0 && t->policy != IB_POLICY_FULL_EVERY_N) {
        forbid(c, root, "", "full_every", "only with policy \"full-every-n\"");
        return;
    }
    int64_t n = 0;
    if (ib_jcheck_int(c, root, "", "full_every", r > 0, 2, 65536, &n) > 0)
        t->full_every = (int)n;
}

static void check_rest(ib_jcheck *c, const cJSON *source, ib_source *s)
{
    static const char *const keys[] = {"url", "user", "password_file"};
    const cJSON *rest = NULL;
    char p[IB_POINTER_MAX];
    if (get_object(c, source, "/source", "rest", false, &rest, p, sizeof p) <= 0)
        return;
    ib_jcheck_keys(c, rest, p, keys, ARRAY_LEN(keys));
    s->rest = calloc(1, sizeof *s->rest);
    if (!s->rest) {
        ib_jcheck_error(c, p, "out of memory");
        return;
    }
    get_checked_string(c, rest, p, "url", true, rest_url_ok, &s->rest->url);
    if (get_checked_string(c, rest, p, "user", false, user_name_ok, &s->rest->user) == 0)
        s->rest->user = xstrdup(c, "root");
    get_abs_path_copy(c, rest, p, "password_file", true, &s->rest->password_file);
}

static void check_source(ib_jcheck *c, const cJSON *root, ib_source *s)
{
    static const char *const keys[] = {"data_dirs", "databases", "database_patterns", "rest"};
    const cJSON *source = NULL;
    char p[IB_POINTER_MAX];
    if (get_object(c, root, "", "source", true, &source, p, sizeof p) <= 0)
        return;
    ib_jcheck_keys(c, source, p, keys, ARRAY_LEN(keys));
    if (get_string_array(c, source, p, "data_dirs", true, data_dir_ok, &s->data_dirs,
                         &s->n_data_dirs) > 0 &&
        s->n_data_dirs == 0)
        ib_jcheck_error(c, "/source/data_dirs", "must list at least one directory");
    int rd = get_string_array(c, source, p, "databases", false, database_name_ok, &s->databases,
                              &s->n_databases);
    int rp = get_string_array(c, source, p, "database_patterns", false, pattern_ok,
                              &s->database_patterns, &s->n_database_patterns);
    if (rd >= 0 && rp >= 0 && s->n_databases + s->n_database_patterns == 0)
        ib_jcheck_error(c, p,
                        "Backup Content is empty: give \"databases\" and/or "
                        "\"database_patterns\"");
    check_rest(c, source, s);
}

static void check_auth(ib_jcheck *c, const cJSON *target, ib_target *t, bool cluster_security)
{
    static const char *const keys[] = {"mode", "user", "principal", "keytab"};
    const cJSON *auth = NULL;
    char p[IB_POINTER_MAX];
    if (get_object(c, target, "/target", "auth", true, &auth, p, sizeof p) <= 0)
        return;
    ib_jcheck_keys(c, auth, p, keys, ARRAY_LEN(keys));
    int mode = 0;
    if (ib_jcheck_enum(c, auth, p, "mode", true, AUTH_MODE_NAMES, ARRAY_LEN(AUTH_MODE_NAMES),
                       &mode) <= 0)
        return;
    t->auth_mode = (ib_auth_mode)mode;
    if (t->auth_mode == IB_AUTH_SIMPLE) {
        forbid(c, auth, p, "principal", "only with auth mode \"kerberos\"");
        forbid(c, auth, p, "keytab", "only with auth mode \"kerberos\"");
        get_checked_string(c, auth, p, "user", true, user_name_ok, &t->auth_user);
        if (cluster_security)
            ib_jcheck_warning(c, "/target/auth/mode",
                              "cluster_mode is \"security\" but the target uses simple "
                              "authentication; the standby cluster should use the same "
                              "authentication mode as the source cluster");
        return;
    }
    forbid(c, auth, p, "user", "only with auth mode \"simple\"");
    get_checked_string(c, auth, p, "principal", true, NULL, &t->auth_principal);
    get_abs_path_copy(c, auth, p, "keytab", true, &t->auth_keytab);
    if (!cluster_security)
        ib_jcheck_error(c, "/target/auth/mode",
                        "a cluster in normal mode (cluster_mode \"normal\") cannot be backed up to "
                        "a security-mode (Kerberos) cluster; HINT: set cluster_mode to "
                        "\"security\" if the source cluster uses Kerberos");
}

/* schemes[0..1] get how active_namenode and standby_namenode were written. */
static void check_namenodes(ib_jcheck *c, const cJSON *target, ib_target *t,
                            ib_nn_scheme schemes[2])
{
    const char *p = "/target";
    int ip = 0;
    if (ib_jcheck_enum(c, target, p, "ip_mode", false, IP_MODE_NAMES, ARRAY_LEN(IP_MODE_NAMES),
                       &ip) > 0)
        t->ipv6 = ip == 1;
    const char *active = NULL, *standby = NULL;
    if (ib_jcheck_string(c, target, p, "active_namenode", true, &active) > 0)
        address_ok(c, "/target/active_namenode", active, t->ipv6, &t->active_namenode, &schemes[0]);
    if (ib_jcheck_string(c, target, p, "standby_namenode", false, &standby) > 0 &&
        address_ok(c, "/target/standby_namenode", standby, t->ipv6, &t->standby_namenode,
                   &schemes[1]) &&
        t->active_namenode && strcmp(t->active_namenode, t->standby_namenode) == 0)
        ib_jcheck_error(c, "/target/standby_namenode", "must differ from active_namenode");
    int64_t port = 0;
    if (ib_jcheck_int(c, target, p, "namenode_rpc_port", false, 1, 65535, &port) > 0)
        t->namenode_rpc_port = (int)port;
    if (ib_jcheck_int(c, target, p, "namenode_http_port", false, 1, 65535, &port) > 0)
        t->namenode_http_port = (int)port;
}

/* An https:// NameNode implies "tls": true; an http:// one contradicts TLS,
 * whether asked for by "tls" or by the other NameNode's https://. The
 * driver takes each URL's scheme as written, so a mix would send one
 * NameNode's traffic in the clear. */
static void check_schemes(ib_jcheck *c, const ib_nn_scheme schemes[2], bool tls_given, bool *tls)
{
    static const char *const ptrs[2] = {"/target/active_namenode", "/target/standby_namenode"};
    bool https = schemes[0] == IB_NN_SCHEME_HTTPS || schemes[1] == IB_NN_SCHEME_HTTPS;
    if (https && tls_given && !*tls) {
        ib_jcheck_error(c, "/target/tls",
                        "is false but a NameNode address starts with https://; HINT: drop "
                        "\"tls\": false (https:// implies TLS) or write http://");
        return;
    }
    *tls = *tls || https;
    for (int i = 0; i < 2 && *tls; i++)
        if (schemes[i] == IB_NN_SCHEME_HTTP)
            ib_jcheck_error(c, ptrs[i],
                            "starts with http:// but the target uses TLS (%s); HINT: write "
                            "https:// or leave the scheme out",
                            https ? "the other NameNode is https://" : "\"tls\": true");
}

/* How long a run keeps trying an unreachable cluster: attempts per request
 * and the longest backoff wait between them; and how long one request may
 * go without progress before it counts as failed. */
static void check_retries(ib_jcheck *c, const cJSON *target, ib_target *t)
{
    const char *p = "/target";
    int64_t n = 0;
    t->retry_attempts = IB_RETRY_ATTEMPTS_DEFAULT;
    t->retry_max_wait_s = IB_RETRY_MAX_WAIT_S_DEFAULT;
    t->stall_timeout_s = IB_STALL_TIMEOUT_S_DEFAULT;
    if (ib_jcheck_int(c, target, p, "retry_attempts", false, 1, 100, &n) > 0)
        t->retry_attempts = (int)n;
    if (ib_jcheck_int(c, target, p, "retry_max_wait_s", false, 1, 3600, &n) > 0)
        t->retry_max_wait_s = (int)n;
    if (ib_jcheck_int(c, target, p, "stall_timeout_s", false, 1, 3600, &n) > 0)
        t->stall_timeout_s = (int)n;
}

static void check_remote_hdfs(ib_jcheck *c, const cJSON *target, ib_target *t,
                              bool cluster_security)
{
    const char *p = "/target";
    t->namenode_rpc_port = 8020;
    t->namenode_http_port = 9870;
    get_checked_string(c, target, p, "nameservice", true, nameservice_ok, &t->nameservice);
    ib_nn_scheme schemes[2] = {IB_NN_SCHEME_NONE, IB_NN_SCHEME_NONE};
    check_namenodes(c, target, t, schemes);
    int rt = ib_jcheck_bool(c, target, p, "tls", false, &t->tls);
    if (rt >= 0)
        check_schemes(c, schemes, rt > 0, &t->tls);
    if (rt >= 0 && t->tls)
        get_abs_path_copy(c, target, p, "ca_file", false, &t->ca_file);
    else if (rt >= 0)
        forbid(c, target, p, "ca_file", "only with \"tls\": true or an https:// NameNode");
    check_retries(c, target, t);
    check_auth(c, target, t, cluster_security);
}

static void check_bandwidth(ib_jcheck *c, const cJSON *target, const char *p, ib_target *t)
{
    double *mbps = &t->max_bandwidth_mbps;
    if (ib_jcheck_number(c, target, p, "max_bandwidth_mbps", false, 0, mbps) <= 0 ||
        *mbps <= MAX_BANDWIDTH_MBPS)
        return;
    char num[64];
    format_number(*mbps, num, sizeof num);
    ib_jcheck_error(c, "/target/max_bandwidth_mbps", "must be <= %.0f, got %s", MAX_BANDWIDTH_MBPS,
                    num);
}

static void check_target(ib_jcheck *c, const cJSON *root, ib_target *t, bool cluster_security)
{
    static const char *const keys[] = {"path_type",
                                       "target_path",
                                       "max_copies",
                                       "max_bandwidth_mbps",
                                       "parallel_uploads",
                                       "nameservice",
                                       "ip_mode",
                                       "active_namenode",
                                       "standby_namenode",
                                       "namenode_rpc_port",
                                       "namenode_http_port",
                                       "tls",
                                       "ca_file",
                                       "retry_attempts",
                                       "retry_max_wait_s",
                                       "stall_timeout_s",
                                       "auth"};
    const size_t n_common = 5; /* the first five are for every path type */
    const cJSON *target = NULL;
    char p[IB_POINTER_MAX];
    if (get_object(c, root, "", "target", true, &target, p, sizeof p) <= 0)
        return;
    ib_jcheck_keys(c, target, p, keys, ARRAY_LEN(keys));
    int type = 0;
    int rt = ib_jcheck_enum(c, target, p, "path_type", true, TARGET_TYPE_NAMES,
                            ARRAY_LEN(TARGET_TYPE_NAMES), &type);
    t->type = (ib_target_type)type;
    bool hdfs = rt > 0 && t->type == IB_TARGET_REMOTEHDFS;
    const char *path = NULL;
    if (ib_jcheck_string(c, target, p, "target_path", true, &path) > 0)
        target_path_ok(c, "/target/target_path", path, hdfs, &t->target_path);
    int64_t copies = 0;
    if (ib_jcheck_int(c, target, p, "max_copies", true, 1, 65536, &copies) > 0)
        t->max_copies = (int)copies;
    check_bandwidth(c, target, p, t);
    t->parallel_uploads = 4;
    int64_t uploads = 0;
    if (ib_jcheck_int(c, target, p, "parallel_uploads", false, 1, 64, &uploads) > 0)
        t->parallel_uploads = (int)uploads;
    if (rt <= 0)
        return;
    if (hdfs) {
        check_remote_hdfs(c, target, t, cluster_security);
        return;
    }
    for (size_t i = n_common; i < ARRAY_LEN(keys); i++)
        forbid(c, target, p, keys[i], "only with path_type \"RemoteHDFS\"");
}

static void check_task(ib_jcheck *c, const cJSON *root, ib_task *t)
{
    static const char *const keys[] = {"mode",     "started",      "period", "policy", "full_every",
                                       "catch_up", "cluster_mode", "source", "target"};
    ib_jcheck_keys(c, root, "", keys, ARRAY_LEN(keys));
    int v = 0;
    bool mode_known =
        ib_jcheck_enum(c, root, "", "mode", true, MODE_NAMES, ARRAY_LEN(MODE_NAMES), &v) > 0;
    t->mode = (ib_mode)v;
    check_schedule(c, root, t, mode_known);
    check_policy(c, root, t);
    if (ib_jcheck_enum(c, root, "", "cluster_mode", false, CLUSTER_MODE_NAMES,
                       ARRAY_LEN(CLUSTER_MODE_NAMES), &v) > 0)
        t->cluster_security = v == 1;
    check_source(c, root, &t->source);
    check_target(c, root, &t->target, t->cluster_security);
}

/* ---- canonical JSON ---- */

static int cmp_item_ptr(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

/* Sort the members of every object by key, so printing is deterministic. */
static bool sort_keys(cJSON *node)
{
    size_t n = 0;
    for (cJSON *it = node->child; it; it = it->next) {
        n++;
        if (!sort_keys(it))
            return false;
    }
    if (!cJSON_IsObject(node) || n < 2)
        return true;
    cJSON **items = malloc(n * sizeof *items);
    if (!items)
        return false;
    size_t i = 0;
    for (cJSON *it = node->child; it; it = it->next)
        items[i++] = it;
    qsort(items, n, sizeof *items, cmp_item_ptr);
    for (i = 0; i < n; i++) {
        items[i]->prev = i ? items[i - 1] : items[n - 1]; /* cJSON: head->prev is the tail */
        items[i]->next = i + 1 < n ? items[i + 1] : NULL;
    }
    node->child = items[0];
    free(items);
    return true;
}

static bool add_strv(cJSON *obj, const char *key, char *const *v, size_t n)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, key);
    for (size_t i = 0; arr && i < n; i++)
        if (!cJSON_AddItemToArray(arr, cJSON_CreateString(v[i])))
            return false;
    return arr != NULL;
}

/* cJSON's Add* functions return NULL on failure; ok collects that. */
static void add_str(cJSON *o, const char *k, const char *v, bool *ok)
{
    if (!cJSON_AddStringToObject(o, k, v))
        *ok = false;
}

static void add_num(cJSON *o, const char *k, double v, bool *ok)
{
    if (!cJSON_AddNumberToObject(o, k, v))
        *ok = false;
}

static bool canon_source(cJSON *root, const ib_source *s)
{
    bool ok = true;
    cJSON *src = cJSON_AddObjectToObject(root, "source");
    if (!src)
        return false;
    ok = add_strv(src, "data_dirs", s->data_dirs, s->n_data_dirs);
    if (s->n_databases)
        ok = ok && add_strv(src, "databases", s->databases, s->n_databases);
    if (s->n_database_patterns)
        ok = ok && add_strv(src, "database_patterns", s->database_patterns, s->n_database_patterns);
    if (s->rest) {
        cJSON *rest = cJSON_AddObjectToObject(src, "rest");
        if (!rest)
            return false;
        add_str(rest, "url", s->rest->url, &ok);
        add_str(rest, "user", s->rest->user, &ok);
        add_str(rest, "password_file", s->rest->password_file, &ok);
    }
    return ok;
}

static bool canon_hdfs(cJSON *tg, const ib_target *t)
{
    bool ok = true;
    add_str(tg, "nameservice", t->nameservice, &ok);
    add_str(tg, "ip_mode", IP_MODE_NAMES[t->ipv6], &ok);
    add_str(tg, "active_namenode", t->active_namenode, &ok);
    if (t->standby_namenode)
        add_str(tg, "standby_namenode", t->standby_namenode, &ok);
    add_num(tg, "namenode_rpc_port", t->namenode_rpc_port, &ok);
    add_num(tg, "namenode_http_port", t->namenode_http_port, &ok);
    if (!cJSON_AddBoolToObject(tg, "tls", t->tls))
        ok = false;
    if (t->ca_file)
        add_str(tg, "ca_file", t->ca_file, &ok);
    add_num(tg, "retry_attempts", t->retry_attempts, &ok);
    add_num(tg, "retry_max_wait_s", t->retry_max_wait_s, &ok);
    add_num(tg, "stall_timeout_s", t->stall_timeout_s, &ok);
    cJSON *auth = cJSON_AddObjectToObject(tg, "auth");
    if (!auth)
        return false;
    add_str(auth, "mode", AUTH_MODE_NAMES[t->auth_mode], &ok);
    if (t->auth_mode == IB_AUTH_SIMPLE) {
        add_str(auth, "user", t->auth_user, &ok);
    } else {
        add_str(auth, "principal", t->auth_principal, &ok);
        add_str(auth, "keytab", t->auth_keytab, &ok);
    }
    return ok;
}

static bool canon_target(cJSON *root, const ib_target *t)
{
    bool ok = true;
    cJSON *tg = cJSON_AddObjectToObject(root, "target");
    if (!tg)
        return false;
    add_str(tg, "path_type", ib_target_type_name(t->type), &ok);
    add_str(tg, "target_path", t->target_path, &ok);
    add_num(tg, "max_copies", t->max_copies, &ok);
    add_num(tg, "max_bandwidth_mbps", t->max_bandwidth_mbps, &ok);
    add_num(tg, "parallel_uploads", t->parallel_uploads, &ok);
    return ok && (t->type != IB_TARGET_REMOTEHDFS || canon_hdfs(tg, t));
}

/* Built from the parsed task (defaults filled in), so files that differ
 * only in layout, key order or spelled-out defaults give the same text. */
static char *canonical_json(const ib_task *t)
{
    bool ok = true;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    add_str(root, "mode", ib_mode_name(t->mode), &ok);
    if (t->has_schedule) {
        char started[48];
        format_civil(&t->schedule.started, started, sizeof started);
        add_str(root, "started", started, &ok);
        cJSON *period = cJSON_AddObjectToObject(root, "period");
        ok = ok && period;
        if (period) {
            add_num(period, "every", (double)t->schedule.every, &ok);
            add_str(period, "unit", ib_unit_name(t->schedule.unit), &ok);
        }
        add_str(root, "catch_up", CATCH_UP_NAMES[t->catch_up], &ok);
    }
    add_str(root, "policy", ib_policy_name(t->policy), &ok);
    if (t->policy == IB_POLICY_FULL_EVERY_N)
        add_num(root, "full_every", t->full_every, &ok);
    add_str(root, "cluster_mode", CLUSTER_MODE_NAMES[t->cluster_security], &ok);
    ok = ok && canon_source(root, &t->source) && canon_target(root, &t->target) && sort_keys(root);
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* ---- public API ---- */

static void rest_free(ib_rest_source *r)
{
    if (!r)
        return;
    free(r->url);
    free(r->user);
    free(r->password_file);
    free(r);
}

void ib_task_free(ib_task *task)
{
    if (!task)
        return;
    free(task->file);
    free_strv(task->source.data_dirs, task->source.n_data_dirs);
    free_strv(task->source.databases, task->source.n_databases);
    free_strv(task->source.database_patterns, task->source.n_database_patterns);
    rest_free(task->source.rest);
    ib_target *t = &task->target;
    free(t->target_path);
    free(t->nameservice);
    free(t->active_namenode);
    free(t->standby_namenode);
    free(t->ca_file);
    free(t->auth_user);
    free(t->auth_principal);
    free(t->auth_keytab);
    free(task->canonical_json);
    free(task);
}

int ib_task_parse(const char *name, const char *display_path, const char *text, size_t len,
                  ib_task **out, ib_diags *diags)
{
    *out = NULL;
    ib_jcheck c;
    ib_jcheck_init(&c, diags, display_path, IB_E_TASK_SYNTAX, IB_E_TASK_FIELD);
    if (!ib_task_name_valid(name)) {
        char q[IB_QUOTE_MAX];
        ib_diags_add(diags, IB_SEV_ERROR, IB_E_TASK_NAME, display_path, NULL, 0, 0,
                     "task name %s (the file name without .json) must be 1-%d characters of "
                     "A-Z, a-z, 0-9, '_' and '-'",
                     ib_quote(name, q, sizeof q), IB_TASK_NAME_MAX);
        c.errors++;
    }
    ib_task *t = calloc(1, sizeof *t);
    if (!t) {
        ib_jcheck_error(&c, NULL, "out of memory");
        return -1;
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    t->file = xstrdup(&c, display_path);
    cJSON *root = ib_jcheck_parse(&c, text, len);
    if (root)
        check_task(&c, root, t);
    cJSON_Delete(root);
    if (c.errors == 0 && !(t->canonical_json = canonical_json(t)))
        ib_jcheck_error(&c, NULL, "out of memory");
    if (c.errors) {
        ib_task_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* The file name without directories and without ".json". */
static void task_name_of(const char *path, char *buf, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (ends_with(base, ".json"))
        len -= 5;
    snprintf(buf, n, "%.*s", (int)len, base);
}

int ib_task_load_file(const char *path, const char *display_path, ib_task **out, ib_diags *diags)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    ib_err err;
    if (read_small_file(path, IB_TASK_FILE_MAX, &text, &len, NULL, &err) != 0) {
        ib_diags_add(diags, IB_SEV_ERROR, err.code == IB_E_NOMEM ? IB_E_NOMEM : IB_E_TASK_FILE,
                     display_path, NULL, 0, 0, "%s", err.msg);
        return -1;
    }
    char name[512];
    task_name_of(path, name, sizeof name);
    int r = ib_task_parse(name, display_path, text, len, out, diags);
    free(text);
    return r;
}

void ib_taskset_free(ib_taskset *set)
{
    for (size_t i = 0; i < set->len; i++)
        ib_task_free(set->items[i]);
    free(set->items);
    set->items = NULL;
    set->len = 0;
}

static int cmp_task_files(const void *a, const void *b)
{
    char x[512], y[512];
    task_name_of(*(const char *const *)a, x, sizeof x);
    task_name_of(*(const char *const *)b, y, sizeof y);
    int r = strcmp(x, y);
    return r ? r : strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The task file names of dir, sorted by task name. */
static int list_task_files(const char *dir, char ***names, size_t *n, int *errnum)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        *errnum = errno;
        return -1;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!ib_task_file_counts(e->d_name))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown)
                break;
            *names = grown;
        }
        if (!((*names)[*n] = strdup(e->d_name)))
            break;
        (*n)++;
    }
    closedir(d);
    if (e) {
        free_strv(*names, *n);
        *errnum = ENOMEM;
        return -1;
    }
    if (*n)
        qsort(*names, *n, sizeof **names, cmp_task_files);
    return 0;
}

static bool taskset_add(ib_taskset *set, ib_task *t)
{
    ib_task **grown = realloc(set->items, (set->len + 1) * sizeof *grown);
    if (!grown)
        return false;
    set->items = grown;
    set->items[set->len++] = t;
    return true;
}

/* "tasks.d/<file>" with bytes outside printable ASCII escaped: a hostile
 * file name must not break the one-line diagnostics. */
static void shown_name(char *buf, size_t n, const char *file)
{
    sbuf b;
    sb_init(&b, buf, n);
    sb_puts(&b, "tasks.d/");
    for (const unsigned char *s = (const unsigned char *)file; *s; s++) {
        if (*s < 0x20 || *s >= 0x7f)
            sb_put_escaped(&b, *s);
        else
            sb_putc(&b, (char)*s);
    }
}

int ib_taskset_load(const char *config_dir, ib_taskset *out, ib_diags *diags)
{
    out->items = NULL;
    out->len = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tasks.d", config_dir);
    char **files = NULL;
    size_t n = 0;
    int errnum = 0;
    if (list_task_files(dir, &files, &n, &errnum) != 0) {
        if (errnum == ENOENT)
            return 0;
        ib_diags_add(diags, IB_SEV_ERROR, IB_E_TASK_FILE, dir, NULL, 0, 0,
                     "cannot read the task directory: %s", strerror(errnum));
        return -1;
    }
    int invalid = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096 + 256], shown[16 + 4 * 256];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        shown_name(shown, sizeof shown, files[i]);
        ib_task *t = NULL;
        if (ib_task_load_file(path, shown, &t, diags) != 0) {
            invalid++;
        } else if (!taskset_add(out, t)) {
            ib_task_free(t);
            ib_diags_add(diags, IB_SEV_ERROR, IB_E_NOMEM, shown, NULL, 0, 0, "out of memory");
            invalid++;
        }
    }
    free_strv(files, n);
    return invalid;
}

static int cmp_task_name(const void *key, const void *item)
{
    return strcmp(key, (*(const ib_task *const *)item)->name);
}

const ib_task *ib_taskset_find(const ib_taskset *set, const char *name)
{
    if (!set->len)
        return NULL;
    ib_task **hit = bsearch(name, set->items, set->len, sizeof *set->items, cmp_task_name);
    return hit ? *hit : NULL;
}
