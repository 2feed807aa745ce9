/* The client side of the control socket: newline-delimited JSON over a
 * Unix stream socket, with plain blocking POSIX calls and poll() timeouts. */
#ifndef IB_CTL_CLIENT_H
#define IB_CTL_CLIENT_H

#include "ib_error.h"
#include <cjson/cJSON.h>
#include <stddef.h>

#define CTL_PROTOCOL_VERSION 1
/* Answers may be long (status of many tasks). */
#define CTL_MAX_LINE (64u * 1024u * 1024u)

typedef struct ctl_conn {
    int fd;
    const char *socket_path;
    char *buf; /* received bytes not yet returned as a line */
    size_t len, cap;
} ctl_conn;

/* Connect to socket_path within timeout_ms. A daemon that is not there is
 * IB_E_DAEMON_DOWN with the operator hint. */
int ctl_connect(ctl_conn *c, const char *socket_path, int timeout_ms, ib_err *err);

/* Send one request: req with "v" added, as one line. */
int ctl_send(ctl_conn *c, cJSON *req, ib_err *err);

/* Read the next answer line and parse it (caller frees *out with
 * cJSON_Delete). timeout_ms < 0 waits forever. Checks that the answer is an
 * object with "v": 1; an "ok": false answer is returned as is (see
 * ctl_answer_error). */
int ctl_recv(ctl_conn *c, int timeout_ms, cJSON **out, ib_err *err);

void ctl_close(ctl_conn *c);

/* Connect, send req, read one answer, close. */
int ctl_request(const char *socket_path, cJSON *req, int timeout_ms, cJSON **answer, ib_err *err);

/* A new request object {"v":1,"cmd":cmd} (NULL on allocation failure). */
cJSON *ctl_new_request(const char *cmd);

/* True if the answer says "ok": true. */
int ctl_answer_ok(const cJSON *answer);

/* Print a failed answer on stderr: the error (with its code) and every line
 * of "errors". */
void ctl_print_answer_error(const cJSON *answer);

#endif
