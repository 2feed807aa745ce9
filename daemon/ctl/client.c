#include "client.h"
#include "ib_diag_json.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DOWN_HINT "HINT: is the service running? systemctl status iotdb-backupd"
#define ACCESS_HINT                                                                                \
    "HINT: run as root or as a member of the group iotdb-backup (usermod -aG iotdb-backup USER)"

static int daemon_down_hint(ib_err *err, const char *path, const char *cause, const char *hint)
{
    return ib_err_set(err, IB_E_DAEMON_DOWN, "cannot reach iotdb-backupd at %s: %s. %s", path,
                      cause, hint);
}

static int daemon_down(ib_err *err, const char *path, const char *cause)
{
    return daemon_down_hint(err, path, cause, DOWN_HINT);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline_ms (monotonic; < 0: forever).
 * Returns 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        int timeout = -1;
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - now_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, timeout);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

static int64_t deadline_after(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Non-blocking connect so a wedged daemon (full backlog) cannot hang us. */
static int connect_within(int fd, const struct sockaddr_un *sa, int timeout_ms)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -1;
    /* A Unix socket whose listen backlog is full answers EAGAIN without
     * starting to connect: try again until the deadline. */
    int64_t deadline = deadline_after(timeout_ms);
    int rc;
    while ((rc = connect(fd, (const struct sockaddr *)sa, sizeof *sa)) < 0 && errno == EAGAIN) {
        if (deadline >= 0 && now_ms() >= deadline) {
            errno = ETIMEDOUT;
            return -1;
        }
        poll(NULL, 0, 20);
    }
    if (rc < 0) {
        if (errno != EINPROGRESS)
            return -1;
        int r = wait_fd(fd, POLLOUT, deadline);
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            return -1;
        if (soerr) {
            errno = soerr;
            return -1;
        }
    }
    return fcntl(fd, F_SETFL, flags);
}

int ctl_connect(ctl_conn *c, const char *socket_path, int timeout_ms, ib_err *err)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->socket_path = socket_path;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof sa.sun_path)
        return daemon_down(err, socket_path, "socket path too long (at most 107 bytes)");
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return ib_err_errno(err, IB_E_DAEMON_DOWN, errno, "socket");
    if (connect_within(c->fd, &sa, timeout_ms) < 0) {
        int e = errno;
        ctl_close(c);
        if (e == ETIMEDOUT)
            return daemon_down(err, socket_path, "connection timed out");
        if (e == EACCES || e == EPERM)
            return daemon_down_hint(err, socket_path, strerror(e), ACCESS_HINT);
        return daemon_down(err, socket_path, strerror(e));
    }
    return 0;
}

int ctl_send(ctl_conn *c, cJSON *req, ib_err *err)
{
    if (!cJSON_GetObjectItemCaseSensitive(req, "v"))
        cJSON_AddNumberToObject(req, "v", CTL_PROTOCOL_VERSION);
    char *text = cJSON_PrintUnformatted(req);
    if (!text)
        return ib_err_set(err, IB_E_NOMEM, "out of memory building the request");
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL: send n + 1 bytes */
    size_t off = 0;
    while (off < n + 1) {
        ssize_t w = send(c->fd, text + off, n + 1 - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            cJSON_free(text);
            return ib_err_errno(err, IB_E_CONTROL, e, "sending to iotdb-backupd at %s",
                                c->socket_path);
        }
        off += (size_t)w;
    }
    cJSON_free(text);
    return 0;
}

/* Make room for at least 64 KiB more bytes in the buffer. */
static int grow_buffer(ctl_conn *c, ib_err *err)
{
    size_t want = c->len + 65536;
    if (want <= c->cap)
        return 0;
    size_t cap = c->cap ? c->cap : 65536;
    while (cap < want)
        cap *= 2;
    char *b = realloc(c->buf, cap);
    if (!b)
        return ib_err_set(err, IB_E_NOMEM, "out of memory reading the answer");
    c->buf = b;
    c->cap = cap;
    return 0;
}

/* Read until the buffer holds a full line; returns its length (without '\n'). */
static int read_line(ctl_conn *c, int timeout_ms, size_t *line_len, ib_err *err)
{
    int64_t deadline = deadline_after(timeout_ms);
    size_t scanned = 0;
    for (;;) {
        char *nl = c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL;
        if (nl) {
            *line_len = (size_t)(nl - c->buf);
            return 0;
        }
        scanned = c->len;
        if (c->len > CTL_MAX_LINE)
            return ib_err_set(err, IB_E_CONTROL,
                              "answer from iotdb-backupd at %s is longer than %u bytes",
                              c->socket_path, CTL_MAX_LINE);
        if (grow_buffer(c, err) < 0)
            return -1;
        int r = wait_fd(c->fd, POLLIN, deadline);
        if (r == 0)
            return ib_err_set(err, IB_E_CONTROL,
                              "iotdb-backupd at %s did not answer within %d s. HINT: is it "
                              "stuck? journalctl -u iotdb-backupd",
                              c->socket_path, timeout_ms / 1000);
        ssize_t got = r < 0 ? -1 : recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return ib_err_errno(err, IB_E_CONTROL, errno, "reading from iotdb-backupd at %s",
                                c->socket_path);
        if (got == 0)
            return ib_err_set(err, IB_E_CONTROL,
                              "iotdb-backupd at %s closed the connection before answering",
                              c->socket_path);
        c->len += (size_t)got;
    }
}

static int check_answer(const ctl_conn *c, const cJSON *a, ib_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "v");
    if (!cJSON_IsObject(a))
        return ib_err_set(err, IB_E_CONTROL, "answer from iotdb-backupd at %s is not a JSON object",
                          c->socket_path);
    if (!cJSON_IsNumber(v) || v->valuedouble != CTL_PROTOCOL_VERSION)
        return ib_err_set(err, IB_E_CONTROL,
                          "iotdb-backupd at %s speaks another protocol version (want %d). HINT: "
                          "use the iotdb-backupctl of the same release",
                          c->socket_path, CTL_PROTOCOL_VERSION);
    if (!cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(a, "ok")))
        return ib_err_set(err, IB_E_CONTROL, "answer from iotdb-backupd at %s has no \"ok\"",
                          c->socket_path);
    return 0;
}

int ctl_recv(ctl_conn *c, int timeout_ms, cJSON **out, ib_err *err)
{
    *out = NULL;
    size_t n = 0;
    if (read_line(c, timeout_ms, &n, err) < 0)
        return -1;
    cJSON *a = cJSON_ParseWithLength(c->buf, n);
    /* Drop the line and its '\n' from the buffer. */
    memmove(c->buf, c->buf + n + 1, c->len - n - 1);
    c->len -= n + 1;
    if (!a)
        return ib_err_set(err, IB_E_CONTROL, "answer from iotdb-backupd at %s is not valid JSON",
                          c->socket_path);
    if (check_answer(c, a, err) < 0) {
        cJSON_Delete(a);
        return -1;
    }
    *out = a;
    return 0;
}

void ctl_close(ctl_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

int ctl_request(const char *socket_path, cJSON *req, int timeout_ms, cJSON **answer, ib_err *err)
{
    ctl_conn c;
    *answer = NULL;
    if (ctl_connect(&c, socket_path, timeout_ms, err) < 0)
        return -1;
    int rc = ctl_send(&c, req, err);
    if (rc == 0)
        rc = ctl_recv(&c, timeout_ms, answer, err);
    ctl_close(&c);
    return rc;
}

cJSON *ctl_new_request(const char *cmd)
{
    cJSON *req = cJSON_CreateObject();
    if (!req)
        return NULL;
    if (!cJSON_AddNumberToObject(req, "v", CTL_PROTOCOL_VERSION) ||
        !cJSON_AddStringToObject(req, "cmd", cmd)) {
        cJSON_Delete(req);
        return NULL;
    }
    return req;
}

int ctl_answer_ok(const cJSON *answer)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(answer, "ok"));
}

void ctl_print_answer_error(const cJSON *answer)
{
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(answer, "error"));
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(answer, "error_code"));
    fprintf(stderr, "iotdb-backupctl: %s", msg ? msg : "iotdb-backupd refused the request");
    if (code)
        fprintf(stderr, " (%s)", code);
    fputc('\n', stderr);
    const cJSON *errors = cJSON_GetObjectItemCaseSensitive(answer, "errors");
    const cJSON *e;
    char line[4096];
    cJSON_ArrayForEach(e, errors)
    {
        if (ib_diag_json_format(e, line, sizeof line) >= 0)
            fprintf(stderr, "  %s\n", line);
    }
}
