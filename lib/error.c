#include "ib_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ib_code_name(ib_code code)
{
    switch (code) {
    case IB_OK: return "OK";
    case IB_E_INTERNAL: return "E_INTERNAL";
    case IB_E_NOMEM: return "E_NOMEM";
    case IB_E_IO: return "E_IO";
    case IB_E_USAGE: return "E_USAGE";
    case IB_E_TASK_SYNTAX: return "E_TASK_SYNTAX";
    case IB_E_TASK_FIELD: return "E_TASK_FIELD";
    case IB_E_TASK_NAME: return "E_TASK_NAME";
    case IB_E_TASK_FILE: return "E_TASK_FILE";
    case IB_E_CONFIG: return "E_CONFIG";
    case IB_E_STORE: return "E_STORE";
    case IB_E_TASK_UNKNOWN: return "E_TASK_UNKNOWN";
    case IB_E_TASK_RUNNING: return "E_TASK_RUNNING";
    case IB_E_CONTROL: return "E_CONTROL";
    case IB_E_DAEMON_DOWN: return "E_DAEMON_DOWN";
    case IB_E_INTERRUPTED: return "E_INTERRUPTED";
    case IB_E_SOURCE_MISSING: return "E_SOURCE_MISSING";
    case IB_E_SOURCE_READ: return "E_SOURCE_READ";
    case IB_E_SOURCE_BUSY: return "E_SOURCE_BUSY";
    case IB_E_REST: return "E_REST";
    case IB_E_STAGING: return "E_STAGING";
    case IB_E_TARGET_UNREACHABLE: return "E_TARGET_UNREACHABLE";
    case IB_E_TARGET_IO: return "E_TARGET_IO";
    case IB_E_TARGET_SPACE: return "E_TARGET_SPACE";
    case IB_E_TARGET_AUTH: return "E_TARGET_AUTH";
    case IB_E_TARGET_SNAPSHOT: return "E_TARGET_SNAPSHOT";
    case IB_E_TARGET_NOT_FOUND: return "E_TARGET_NOT_FOUND";
    case IB_E_CHECKSUM: return "E_CHECKSUM";
    case IB_E_MANIFEST: return "E_MANIFEST";
    case IB_E_COPY_NOT_FOUND: return "E_COPY_NOT_FOUND";
    case IB_E_RESTORE: return "E_RESTORE";
    }
    return "E_UNKNOWN";
}

void ib_err_clear(ib_err *err)
{
    if (!err)
        return;
    err->code = IB_OK;
    err->msg[0] = '\0';
}

static int err_vset(ib_err *err, ib_code code, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    err->code = code;
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    return -1;
}

int ib_err_set(ib_err *err, ib_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

int ib_err_errno(ib_err *err, ib_code code, int errnum, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, code, fmt, ap);
    va_end(ap);
    size_t used = strlen(err->msg);
    snprintf(err->msg + used, sizeof err->msg - used, ": %s", strerror(errnum));
    return -1;
}

int ib_err_prefix(ib_err *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    char prefix[IB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Build in a buffer large enough for both parts, then truncate. */
    char joined[2 * IB_ERR_MSG_MAX + 2];
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->msg);
    memcpy(err->msg, joined, sizeof err->msg - 1);
    err->msg[sizeof err->msg - 1] = '\0';
    return -1;
}
