/* Fuzz target: IoTDB REST v2 answers (ib_rest_check_status, and
 * ib_rest_parse_databases, the SHOW DATABASES answer parser) and the SQL
 * quoting of database paths (ib_rest_quote_path), all fed the input as a
 * C string. Checks beyond memory errors, UB and leaks:
 * - a refused answer gives E_REST with a message free of control
 *   characters (the server's text must not forge log lines);
 * - a SHOW DATABASES answer gives either E_REST (as above) and no names,
 *   or names that are all non-NULL strings; an answer that parses is one
 *   that ib_rest_check_status accepts;
 * - every node of a quoted path is a plain identifier or a backquoted one
 *   with its inner backquotes doubled (nothing can break out of the SQL
 *   statement), and for input without backquotes, unquoting gives the
 *   input back. */
#include "fuzz_util.h"

#include "ib_iotdb_rest.h"

static bool plain_node(const char *s, size_t len)
{
    if (len == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!(s[i] == '_' || (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z')))
            return false;
    return true;
}

static bool quoted_node(const char *s, size_t len)
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

/* Appends node s (unquoted) to out at *o. */
static void unquote_node(const char *s, size_t len, char *out, size_t *o)
{
    if (!quoted_node(s, len)) {
        memcpy(out + *o, s, len);
        *o += len;
        return;
    }
    for (size_t i = 1; i + 1 < len; i++) {
        out[(*o)++] = s[i];
        if (s[i] == '`')
            i++;
    }
}

static void check_quoted_path(const char *in, const char *q)
{
    size_t qlen = strlen(q);
    char *back = malloc(qlen + 1);
    FUZZ_CHECK(back != NULL);
    size_t o = 0, start = 0;
    bool inside = false;
    for (size_t i = 0; i <= qlen; i++) {
        if (q[i] == '`') {
            inside = !inside;
            continue;
        }
        if (q[i] != '\0' && (q[i] != '.' || inside))
            continue;
        FUZZ_CHECK(plain_node(q + start, i - start) || quoted_node(q + start, i - start));
        unquote_node(q + start, i - start, back, &o);
        if (q[i] == '.')
            back[o++] = '.';
        start = i + 1;
    }
    FUZZ_CHECK(!inside);
    back[o] = '\0';
    if (!strchr(in, '`'))
        FUZZ_CHECK(strcmp(back, in) == 0);
    free(back);
}

static void check_refusal(int rc, const ib_err *err)
{
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_CHECK(err->code == IB_E_REST);
        FUZZ_CHECK(err->msg[0] != '\0');
        FUZZ_CHECK(fuzz_no_control(err->msg));
    }
}

static void check_databases(const char *text, int status_rc)
{
    char **names = NULL;
    size_t n = 0;
    ib_err err;
    ib_err_clear(&err);
    int rc = ib_rest_parse_databases(text, &names, &n, &err);
    check_refusal(rc, &err);
    if (rc != 0) {
        FUZZ_CHECK(names == NULL && n == 0);
        return;
    }
    FUZZ_CHECK(status_rc == 0);
    FUZZ_CHECK(names != NULL);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(names[i] != NULL);
    ib_strv_free(names, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size);
    ib_err err;
    ib_err_clear(&err);
    int rc = ib_rest_check_status(text, &err);
    check_refusal(rc, &err);
    check_databases(text, rc);
    char *q = ib_rest_quote_path(text);
    FUZZ_CHECK(q != NULL);
    check_quoted_path(text, q);
    free(q);
    free(text);
    return 0;
}
