/* Fuzz target: the control socket's request handling
 * (daemon/control_parse.c), which turns one request line into a validated
 * request or an error answer, exactly as the daemon does for every line
 * daemon/linebuf.c hands it (fuzz_linebuf covers that framing).
 *
 * Input: the request line itself. Checks: an error is E_CONTROL or
 * E_TASK_UNKNOWN with a message of one line of printable ASCII, and its
 * answer serialises to JSON that parses back to the same message; an
 * accepted request has no NUL byte and no data after the object, names a
 * known command, and for "run" a valid task name and type, each equal to
 * what a plain cJSON parse of the line says. */
#include "fuzz_util.h"

#include "control_parse.h"
#include "ib_store.h"

#include <cjson/cJSON.h>

static void check_error(const ib_err *err, bool hang_up)
{
    FUZZ_CHECK(err->code == IB_E_CONTROL || err->code == IB_E_TASK_UNKNOWN);
    FUZZ_CHECK(err->code == IB_E_CONTROL || !hang_up); /* an unknown task is no protocol error */
    FUZZ_CHECK(err->msg[0] != '\0');
    FUZZ_CHECK(fuzz_printable_ascii(err->msg));
    cJSON *answer = ibd_control_error_answer(err->code, err->msg);
    FUZZ_CHECK(answer != NULL);
    char *text = cJSON_PrintUnformatted(answer);
    cJSON_Delete(answer);
    FUZZ_CHECK(text != NULL && fuzz_printable_ascii(text));
    cJSON *back = cJSON_Parse(text);
    free(text);
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(back, "error");
    FUZZ_CHECK(cJSON_IsString(msg) && strcmp(msg->valuestring, err->msg) == 0);
    cJSON_Delete(back);
}

static const char *cmd_name(ibd_ctl_cmd cmd)
{
    switch (cmd) {
    case IBD_CTL_STATUS:
        return "status";
    case IBD_CTL_RUN:
        return "run";
    case IBD_CTL_RELOAD:
        return "reload";
    }
    fuzz_fail(__FILE__, __LINE__, "unknown command in an accepted request");
    return NULL;
}

static void check_request(const char *line, size_t len, const ibd_ctl_request *req)
{
    FUZZ_CHECK(memchr(line, '\0', len) == NULL);
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, false);
    FUZZ_CHECK(cJSON_IsObject(obj));
    for (; end < line + len; end++)
        FUZZ_CHECK(*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n');
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "v");
    FUZZ_CHECK(cJSON_IsNumber(v) && v->valuedouble == 1);
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(obj, "cmd");
    FUZZ_CHECK(cJSON_IsString(cmd) && strcmp(cmd->valuestring, cmd_name(req->cmd)) == 0);
    if (req->cmd == IBD_CTL_RUN) {
        const cJSON *task = cJSON_GetObjectItemCaseSensitive(obj, "task");
        FUZZ_CHECK(ib_task_name_valid(req->task));
        FUZZ_CHECK(cJSON_IsString(task) && strcmp(task->valuestring, req->task) == 0);
        FUZZ_CHECK(req->type == -1 || req->type == IB_BACKUP_FULL ||
                   req->type == IB_BACKUP_INCREMENTAL);
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
        if (req->type >= 0)
            FUZZ_CHECK(cJSON_IsString(type) &&
                       strcmp(type->valuestring, ib_backup_type_name((ib_backup_type)req->type)) ==
                           0);
        else
            FUZZ_CHECK(!type || cJSON_IsNull(type));
        FUZZ_CHECK(req->wait == cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, "wait")));
    }
    cJSON_Delete(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *line = fuzz_cstring(data, size); /* the daemon's lines end in a NUL too */
    ibd_ctl_request req;
    ib_err err;
    bool hang_up = false;
    ib_err_clear(&err);
    if (ibd_control_parse(line, size, &req, &err, &hang_up) == 0)
        check_request(line, size, &req);
    else
        check_error(&err, hang_up);
    free(line);
    return 0;
}
