/* Fuzz target: the WebHDFS answer parsers of the RemoteHDFS driver. Every
 * input goes through each of them, as any of them may receive any body
 * (an error page, another operation's answer, a proxy's HTML): RemoteException,
 * FileStatus, listings (twice, appending, as for LISTSTATUS_BATCH pages),
 * FileChecksum, and the input as a path through ib_webhdfs_encode_path.
 * Checks beyond memory errors, UB and leaks: outputs are NUL-terminated
 * within their buffers, a refused answer has an error message, listing
 * entries have names, and an encoded path holds only unreserved characters,
 * '/' and %XX escapes. */
#include "fuzz_util.h"

#include "ib_webhdfs.h"

#include <ctype.h>

static void check_remote_exception(const char *body, size_t len)
{
    char ex[64], msg[256];
    memset(ex, 'x', sizeof ex);
    memset(msg, 'x', sizeof msg);
    if (ib_webhdfs_parse_remote_exception(body, len, ex, sizeof ex, msg, sizeof msg) == 0) {
        FUZZ_CHECK(memchr(ex, '\0', sizeof ex) && ex[0] != '\0');
        FUZZ_CHECK(memchr(msg, '\0', sizeof msg));
    }
}

static void check_file_status(const char *body, size_t len)
{
    ib_storage_info info;
    ib_err err;
    ib_err_clear(&err);
    if (ib_webhdfs_parse_file_status(body, len, &info, &err) == 0)
        FUZZ_CHECK(info.exists);
    else
        FUZZ_CHECK(err.msg[0] != '\0');
}

static void check_listing(const char *body, size_t len)
{
    ib_storage_entry *entries = NULL;
    size_t n = 0, cap = 0;
    int64_t remaining = 0;
    bool is_file = false;
    ib_err err;
    ib_err_clear(&err);
    for (int page = 0; page < 2; page++) {
        if (ib_webhdfs_parse_listing(body, len, "/fuzz/dir", &entries, &n, &cap, &remaining,
                                     &is_file, &err) != 0) {
            FUZZ_CHECK(err.msg[0] != '\0');
            break;
        }
        FUZZ_CHECK(remaining >= 0);
    }
    FUZZ_CHECK(n <= cap);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(entries[i].name && entries[i].name[0] != '\0');
    ib_storage_entries_free(entries, n);
}

static void check_checksum(const char *body, size_t len)
{
    char out[128];
    ib_err err;
    ib_err_clear(&err);
    if (ib_webhdfs_parse_checksum(body, len, out, sizeof out, &err) == 0)
        FUZZ_CHECK(strchr(out, ':') != NULL);
    else
        FUZZ_CHECK(err.msg[0] != '\0');
}

static void check_encode_path(const char *path)
{
    char *enc = ib_webhdfs_encode_path(path);
    FUZZ_CHECK(enc != NULL);
    for (const char *p = enc; *p; p++) {
        if (*p == '%') {
            FUZZ_CHECK(isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2]));
            p += 2;
        } else {
            FUZZ_CHECK(isalnum((unsigned char)*p) || strchr("-._~/", *p));
        }
    }
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    check_remote_exception(body, size);
    check_file_status(body, size);
    check_listing(body, size);
    check_checksum(body, size);
    char *path = fuzz_cstring(data, size);
    check_encode_path(path);
    free(path);
    return 0;
}
