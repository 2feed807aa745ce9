#include "control_parse.h"

#include "ib_store.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* cJSON keeps a string's bytes up to its first NUL, so "status\u0000x"
 * would read as "status": such a line is refused instead. Only called on
 * text cJSON accepted, so every '"' outside a string opens one. */
static bool has_escaped_nul(const char *s, size_t len)
{
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"') {
            in_string = !in_string;
        } else if (in_string && s[i] == '\\' && i + 1 < len) {
            if (s[i + 1] == 'u' && i + 5 < len && memcmp(s + i + 2, "0000", 4) == 0)
                return true;
            i++; /* the escaped character, so "\\" and "\"" end here */
        }
    }
    return false;
}

/* Only JSON whitespace may follow the object (a '\r' of CRLF included). */
static bool only_whitespace(const char *s, const char *end)
{
    for (; s < end; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

/* A key given twice would let two readers of one request see two requests. */
static bool has_duplicate_key(const cJSON *obj)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0)
                return true;
    return false;
}

static int protocol_error(ib_err *err, bool *hang_up, const char *msg)
{
    *hang_up = true;
    return ib_err_set(err, IB_E_CONTROL, "%s", msg);
}

static int parse_type(const cJSON *t, int *type, ib_err *err)
{
    ib_backup_type bt;
    *type = -1;
    if (!t || cJSON_IsNull(t))
        return 0;
    if (cJSON_IsString(t) && ib_backup_type_parse(t->valuestring, &bt) == 0) {
        *type = (int)bt;
        return 0;
    }
    return ib_err_set(err, IB_E_CONTROL, "\"type\" must be \"full\", \"incremental\" or null");
}

static int parse_run(const cJSON *obj, ibd_ctl_request *req, ib_err *err)
{
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(obj, "task");
    const cJSON *wait = cJSON_GetObjectItemCaseSensitive(obj, "wait");
    if (!cJSON_IsString(task))
        return ib_err_set(err, IB_E_CONTROL, "\"task\" must be a string");
    if (parse_type(cJSON_GetObjectItemCaseSensitive(obj, "type"), &req->type, err) != 0)
        return -1;
    if (wait && !cJSON_IsBool(wait) && !cJSON_IsNull(wait))
        return ib_err_set(err, IB_E_CONTROL, "\"wait\" must be true, false or null");
    req->wait = cJSON_IsTrue(wait);
    /* No enabled task can have an invalid name: no need to look it up. */
    if (!ib_task_name_valid(task->valuestring)) {
        char q[IB_QUOTE_MAX];
        return ib_err_set(err, IB_E_TASK_UNKNOWN, "no enabled task %s (see iotdb-backupctl status)",
                          ib_quote(task->valuestring, q, sizeof q));
    }
    snprintf(req->task, sizeof req->task, "%s", task->valuestring);
    return 0;
}

static int parse_object(const cJSON *obj, ibd_ctl_request *req, ib_err *err, bool *hang_up)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "v");
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(obj, "cmd");
    if (has_duplicate_key(obj))
        return protocol_error(err, hang_up, "request has a key more than once");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1)
        return protocol_error(
            err, hang_up, "unsupported or missing protocol version: this daemon speaks \"v\":1");
    if (!cJSON_IsString(cmd))
        return protocol_error(err, hang_up, "request has no \"cmd\" string");
    if (strcmp(cmd->valuestring, "status") == 0) {
        req->cmd = IBD_CTL_STATUS;
        return 0;
    }
    if (strcmp(cmd->valuestring, "reload") == 0) {
        req->cmd = IBD_CTL_RELOAD;
        return 0;
    }
    if (strcmp(cmd->valuestring, "run") == 0) {
        req->cmd = IBD_CTL_RUN;
        return parse_run(obj, req, err);
    }
    char q[IB_QUOTE_MAX];
    *hang_up = true;
    return ib_err_set(err, IB_E_CONTROL, "unknown command %s",
                      ib_quote(cmd->valuestring, q, sizeof q));
}

int ibd_control_parse(const char *line, size_t len, ibd_ctl_request *req, ib_err *err,
                      bool *hang_up)
{
    memset(req, 0, sizeof *req);
    req->type = -1;
    *hang_up = false;
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, false);
    int rc;
    if (!cJSON_IsObject(obj))
        rc = protocol_error(err, hang_up, "request is not a JSON object");
    else if (!end || !only_whitespace(end, line + len))
        rc = protocol_error(err, hang_up, "request line has data after the JSON object");
    else if (memchr(line, '\0', len))
        rc = protocol_error(err, hang_up, "request line contains a NUL byte");
    else if (has_escaped_nul(line, len))
        rc = protocol_error(err, hang_up, "request has a NUL character (\\u0000) in a string");
    else
        rc = parse_object(obj, req, err, hang_up);
    cJSON_Delete(obj);
    return rc;
}

cJSON *ibd_control_answer(bool ok)
{
    cJSON *a = cJSON_CreateObject();
    if (a && (!cJSON_AddNumberToObject(a, "v", 1) || !cJSON_AddBoolToObject(a, "ok", ok))) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}

cJSON *ibd_control_error_answer(ib_code code, const char *msg)
{
    cJSON *a = ibd_control_answer(false);
    if (a && (!cJSON_AddStringToObject(a, "error_code", ib_code_name(code)) ||
              !cJSON_AddStringToObject(a, "error", msg))) {
        cJSON_Delete(a);
        return NULL;
    }
    return a;
}
