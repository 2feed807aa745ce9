/* One control request line (docs/control-protocol.md) parsed and validated
 * without the socket: the daemon's request handler and the fuzz target
 * (tests/fuzz/fuzz_control.c) share it. */
#ifndef IBD_CONTROL_PARSE_H
#define IBD_CONTROL_PARSE_H

#include "ib_error.h"
#include "ib_task.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum ibd_ctl_cmd { IBD_CTL_STATUS, IBD_CTL_RUN, IBD_CTL_RELOAD } ibd_ctl_cmd;

typedef struct ibd_ctl_request {
    ibd_ctl_cmd cmd;
    /* run only */
    char task[IB_TASK_NAME_MAX + 1]; /* a valid task name */
    int type;                        /* -1: the task's policy; else an ib_backup_type */
    bool wait;
} ibd_ctl_request;

/* Parse one request line (len bytes, no '\n'; a blank line is the caller's
 * business). On error returns -1 with err's message one line of printable
 * ASCII (request values in it are quoted and escaped) and *hang_up telling
 * whether the stream is broken (protocol error: answer, then close) or only
 * this request was refused. */
int ibd_control_parse(const char *line, size_t len, ibd_ctl_request *req, ib_err *err,
                      bool *hang_up);

struct cJSON;
/* {"v":1,"ok":ok}: the start of every answer (NULL when out of memory). */
struct cJSON *ibd_control_answer(bool ok);
/* {"v":1,"ok":false,"error_code":..., "error":msg}. */
struct cJSON *ibd_control_error_answer(ib_code code, const char *msg);

#endif
