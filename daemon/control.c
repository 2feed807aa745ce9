#include "control.h"

#include "control_parse.h"

#include "ib_storage.h"
#include "log.h"
#include "reload.h"
#include "runs.h"
#include "status.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Progress events are dropped for a client that does not read them; one
 * that lets answers pile up beyond the hard limit is disconnected. */
#define CLIENT_QUEUE_MAX (1024 * 1024)
#define CLIENT_QUEUE_HARD_MAX (256 * 1024 * 1024)
/* Each client holds a descriptor and up to a line of memory: a bound on how
 * many, and on how long one may stay without a complete request. */
#define CLIENT_MAX 64
#define CLIENT_IDLE_MS (60 * 1000)
/* Tests shorten the idle timeout (docs/control-protocol.md). */
#define IDLE_ENV "IB_CONTROL_IDLE_TIMEOUT_MS"

typedef struct client client;

struct ibd_control {
    ibd *d;
    uv_pipe_t server;
    bool listening;
    bool bound; /* the socket file is ours to remove */
    char *path;
    client *clients;
    size_t n_admitted; /* clients counted against CLIENT_MAX */
    uint64_t idle_ms;
};

struct client {
    uv_pipe_t pipe;
    ibd_control *ctl;
    client *prev, *next;
    ibd_linebuf lines;
    ibd_run *waiting; /* the run this client follows (run --wait) */
    ibd_run_waiter waiter;
    uv_timer_t idle;  /* no complete request for idle_ms: hang up */
    int open_handles; /* pipe and idle: freed when both are closed */
    bool admitted;    /* counted in n_admitted */
    bool closing;     /* answered a protocol error, or the peer is done */
    bool eof;
};

typedef struct write_req {
    uv_write_t req;
    client *c;
    char *data;
} write_req;

static void client_close(client *c);

static void on_client_closed(uv_handle_t *h)
{
    client *c = h->data;
    if (--c->open_handles > 0)
        return;
    ibd_linebuf_free(&c->lines);
    free(c);
}

static void client_close(client *c)
{
    if (uv_is_closing((uv_handle_t *)&c->pipe))
        return;
    c->closing = true;
    if (c->waiting) {
        ibd_run_remove_waiter(c->waiting, &c->waiter);
        c->waiting = NULL;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        c->ctl->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->admitted)
        c->ctl->n_admitted--;
    c->admitted = false;
    uv_close((uv_handle_t *)&c->idle, on_client_closed);
    uv_close((uv_handle_t *)&c->pipe, on_client_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    client *c = req->data;
    free(req);
    client_close(c);
}

/* Close once the pending answers are written. */
static void client_finish(client *c)
{
    if (uv_is_closing((uv_handle_t *)&c->pipe))
        return;
    c->closing = true;
    uv_read_stop((uv_stream_t *)&c->pipe);
    uv_shutdown_t *req = calloc(1, sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->pipe, on_shutdown) != 0) {
        free(req);
        client_close(c);
        return;
    }
    req->data = c;
}

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    if (status < 0 && status != UV_ECANCELED)
        client_close(w->c); /* the peer went away */
    free(w->data);
    free(w);
}

static bool client_writable(client *c)
{
    if (uv_is_closing((uv_handle_t *)&c->pipe))
        return false;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > CLIENT_QUEUE_HARD_MAX) {
        ibd_log_warning("control: a client does not read its answers; disconnecting it");
        client_close(c);
        return false;
    }
    return true;
}

/* Send len bytes of a malloc'd answer line ending in '\n' (NULL: out of
 * memory); takes ownership of line. */
static void client_send_line(client *c, char *line, size_t len)
{
    if (!client_writable(c)) {
        free(line);
        return;
    }
    write_req *w = line ? calloc(1, sizeof *w) : NULL;
    if (!w) {
        free(line);
        ibd_log_err("control: out of memory answering a client");
        client_close(c);
        return;
    }
    w->c = c;
    w->data = line;
    uv_buf_t buf = uv_buf_init(line, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written) != 0) {
        free(w->data);
        free(w);
        client_close(c);
    }
}

/* Send one answer line; takes ownership of answer. */
static void client_send(client *c, cJSON *answer)
{
    if (!client_writable(c)) {
        cJSON_Delete(answer);
        return;
    }
    char *text = answer ? cJSON_PrintUnformatted(answer) : NULL;
    cJSON_Delete(answer);
    size_t len = text ? strlen(text) : 0;
    char *line = text ? realloc(text, len + 2) : NULL;
    if (!line)
        free(text);
    else
        memcpy(line + len, "\n", 2);
    client_send_line(c, line, len + 1);
}

static void send_error(client *c, ib_code code, const char *msg)
{
    client_send(c, ibd_control_error_answer(code, msg));
}

/* Answer a broken request and hang up: the stream cannot be trusted. */
static void protocol_error(client *c, const char *msg)
{
    ibd_log_debug("control: %s", msg);
    send_error(c, IB_E_CONTROL, msg);
    client_finish(c);
}

static void on_idle(uv_timer_t *t)
{
    client *c = t->data;
    if (c->closing) {
        client_close(c); /* its answers were not taken in time either */
        return;
    }
    if (c->waiting) {
        uv_timer_again(t); /* following a run is waiting on us, not idling */
        return;
    }
    char msg[128];
    snprintf(msg, sizeof msg, "no complete request for %.0f s; closing the connection",
             (double)c->ctl->idle_ms / 1000.0);
    protocol_error(c, msg);
    uv_timer_again(t); /* bounds how long the closing may take */
}

/* A complete request or a finished run: the idle time starts again. */
static void client_touch(client *c)
{
    uv_timer_again(&c->idle);
}

static void finished_json(cJSON *o, const ibd_run *run)
{
    cJSON *r = cJSON_AddObjectToObject(o, "run");
    cJSON_AddStringToObject(r, "task", run->task);
    cJSON_AddNumberToObject(r, "run_id", (double)run->id);
    if (run->copy[0])
        cJSON_AddStringToObject(r, "copy", run->copy);
    else
        cJSON_AddNullToObject(r, "copy");
    cJSON_AddStringToObject(r, "type", ib_backup_type_name(run->done_type));
    cJSON_AddStringToObject(r, "result", ib_result_name(run->result));
    cJSON_AddNumberToObject(r, "files_total", (double)run->files_total_r);
    cJSON_AddNumberToObject(r, "files_sent", (double)run->files_sent);
    cJSON_AddNumberToObject(r, "bytes_sent", (double)run->bytes_sent);
    cJSON_AddNumberToObject(r, "files_deleted", (double)run->files_deleted);
    cJSON_AddNumberToObject(r, "duration_s", run->duration_s);
    if (run->error)
        cJSON_AddStringToObject(r, "error", run->error);
    else
        cJSON_AddNullToObject(r, "error");
    if (run->error_code)
        cJSON_AddStringToObject(r, "error_code", run->error_code);
    else
        cJSON_AddNullToObject(r, "error_code");
}

static client *client_of_waiter(ibd_run_waiter *w)
{
    return (client *)((char *)w - offsetof(client, waiter));
}

static void on_run_progress(ibd_run_waiter *w, const ibd_run *run)
{
    client *c = client_of_waiter(w);
    if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) > CLIENT_QUEUE_MAX)
        return;
    cJSON *a = ibd_control_answer(true);
    cJSON_AddStringToObject(a, "event", "progress");
    cJSON_AddNumberToObject(a, "run_id", (double)run->id);
    cJSON_AddStringToObject(a, "phase", run->phase);
    cJSON_AddNumberToObject(a, "files_done", (double)run->files_done);
    cJSON_AddNumberToObject(a, "files_total", (double)run->files_total);
    cJSON_AddNumberToObject(a, "bytes_done", (double)run->bytes_done);
    cJSON_AddNumberToObject(a, "bytes_total", (double)run->bytes_total);
    ibd_status_add_rate(a, run);
    client_send(c, a);
}

static void on_run_finished(ibd_run_waiter *w, const ibd_run *run)
{
    client *c = client_of_waiter(w);
    c->waiting = NULL;
    cJSON *a = ibd_control_answer(true);
    cJSON_AddStringToObject(a, "event", "finished");
    finished_json(a, run);
    client_send(c, a);
    client_touch(c);
    if (c->eof)
        client_finish(c);
}

static void handle_run(client *c, const ibd_ctl_request *req)
{
    ibd *d = c->ctl->d;
    if (d->stopping) {
        send_error(c, IB_E_CONTROL, "the daemon is shutting down; no new runs are accepted");
        return;
    }
    ibd_task *t = ibd_find_task(d, req->task);
    if (!t) {
        char msg[256];
        snprintf(msg, sizeof msg, "no enabled task \"%s\" (see iotdb-backupctl status)",
                 req->task); /* a valid task name: nothing to escape */
        send_error(c, IB_E_TASK_UNKNOWN, msg);
        return;
    }
    ib_err err;
    ib_err_clear(&err);
    ibd_run *run = NULL;
    if (ibd_run_submit(d, t, IB_TRIGGER_MANUAL, req->type, &run, &err) != 0) {
        send_error(c, err.code, err.msg);
        return;
    }
    /* The queue is empty while a slot is free, so this is what pump does. */
    const char *state = d->n_running < d->cfg.max_parallel_runs ? "running" : "queued";
    cJSON *a = ibd_control_answer(true);
    if (req->wait) {
        cJSON_AddStringToObject(a, "event", "accepted");
        if (c->waiting)
            ibd_run_remove_waiter(c->waiting, &c->waiter);
        c->waiting = run;
        ibd_run_add_waiter(run, &c->waiter);
    }
    cJSON_AddNumberToObject(a, "run_id", (double)run->id);
    cJSON_AddStringToObject(a, "state", state);
    client_send(c, a);
    ibd_runs_pump(d); /* may finish the run at once (spawn failure): it is not used after */
    ibd_on_runs_changed(d);
}

static void handle_reload(client *c)
{
    if (c->ctl->d->stopping) {
        send_error(c, IB_E_CONTROL, "the daemon is shutting down");
        return;
    }
    client_send(c, ibd_reload(c->ctl->d));
}

static void handle_status(client *c)
{
    size_t len = 0;
    char *text = ibd_status_text(c->ctl->d, &len);
    if (text)
        client_send_line(c, text, len);
    else
        send_error(c, IB_E_NOMEM, "out of memory building the status");
}

static bool on_request_line(void *ctx, char *line, size_t len, bool too_long)
{
    client *c = ctx;
    if (c->closing)
        return false;
    if (too_long) {
        protocol_error(c, "request line longer than 65536 bytes");
        return false;
    }
    if (len == 0)
        return true; /* tolerate blank lines */
    client_touch(c);
    ibd_ctl_request req;
    ib_err err;
    bool hang_up = false;
    ib_err_clear(&err);
    if (ibd_control_parse(line, len, &req, &err, &hang_up) != 0) {
        if (hang_up)
            protocol_error(c, err.msg);
        else
            send_error(c, err.code, err.msg);
    } else if (req.cmd == IBD_CTL_STATUS) {
        handle_status(c);
    } else if (req.cmd == IBD_CTL_RUN) {
        handle_run(c, &req);
    } else {
        handle_reload(c);
    }
    return !c->closing;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    client *c = s->data;
    ibd_linebuf_read(&c->lines, n, buf, c->closing, on_request_line, c);
    if (n >= 0)
        return;
    uv_read_stop(s);
    c->eof = true;
    if (n != UV_EOF)
        client_close(c);
    else if (!c->waiting)
        client_finish(c); /* after the answers still queued */
}

/* uid 0, our uid, our gid or a member of our gid may talk to us. */
static bool peer_in_group(pid_t pid, gid_t gid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[4096];
    bool member = false;
    while (!member && fgets(line, sizeof line, f)) {
        if (strncmp(line, "Groups:", 7) != 0)
            continue;
        char *p = line + 7, *end;
        for (;;) {
            unsigned long g = strtoul(p, &end, 10);
            if (end == p)
                break;
            if ((gid_t)g == gid)
                member = true;
            p = end;
        }
        break;
    }
    fclose(f);
    return member;
}

static bool peer_allowed(client *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
        return false;
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return false;
    if (cred.uid == 0 || cred.uid == geteuid() || cred.gid == getegid())
        return true;
    return peer_in_group(cred.pid, getegid());
}

static client *client_new(ibd_control *ctl)
{
    client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ctl = ctl;
    ibd_linebuf_init(&c->lines, IBD_CONTROL_LINE_MAX);
    c->waiter.on_progress = on_run_progress;
    c->waiter.on_finished = on_run_finished;
    uv_pipe_init(ctl->d->loop, &c->pipe, 0);
    uv_timer_init(ctl->d->loop, &c->idle);
    c->pipe.data = c->idle.data = c;
    c->open_handles = 2;
    c->next = ctl->clients;
    if (ctl->clients)
        ctl->clients->prev = c;
    ctl->clients = c;
    uv_timer_start(&c->idle, on_idle, ctl->idle_ms, ctl->idle_ms);
    return c;
}

static void on_connection(uv_stream_t *server, int status)
{
    ibd_control *ctl = server->data;
    if (status < 0) {
        ibd_log_warning("control: accepting a connection failed: %s", uv_strerror(status));
        return;
    }
    client *c = client_new(ctl);
    if (!c)
        return;
    if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
        client_close(c);
        return;
    }
    if (!peer_allowed(c)) {
        ibd_log_warning("control: connection refused: the peer is not root, the daemon's user "
                        "or a member of its group");
        protocol_error(c, "permission denied: only root, the daemon's user and members of its "
                          "group may use the control socket");
        return;
    }
    if (ctl->n_admitted >= CLIENT_MAX) {
        ibd_log_warning("control: connection refused: %d clients are connected already",
                        CLIENT_MAX);
        char msg[128];
        snprintf(msg, sizeof msg,
                 "too many clients: %d are connected already; HINT: try again later", CLIENT_MAX);
        protocol_error(c, msg);
        return;
    }
    c->admitted = true;
    ctl->n_admitted++;
    uv_read_start((uv_stream_t *)&c->pipe, ibd_linebuf_alloc, on_read);
}

static uint64_t idle_timeout_ms(void)
{
    const char *v = getenv(IDLE_ENV);
    char *end;
    unsigned long long ms = v ? strtoull(v, &end, 10) : 0;
    if (!v || end == v || *end || ms == 0)
        return CLIENT_IDLE_MS;
    return ms;
}

/* A daemon already answering on path? Otherwise a leftover file is removed. */
static int clear_stale_socket(const char *path, ib_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : ib_err_errno(err, IB_E_IO, errno, "%s", path);
    if (!S_ISSOCK(st.st_mode))
        return ib_err_set(err, IB_E_IO, "%s exists and is not a socket; HINT: remove it", path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ib_err_errno(err, IB_E_IO, errno, "socket");
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    close(fd);
    if (rc == 0)
        return ib_err_set(err, IB_E_CONTROL,
                          "another iotdb-backupd is already running: it answers on %s", path);
    if (unlink(path) != 0 && errno != ENOENT)
        return ib_err_errno(err, IB_E_IO, errno, "cannot remove the stale socket %s", path);
    return 0;
}

static int listen_on(ibd_control *ctl, ib_err *err)
{
    int rc = uv_pipe_init(ctl->d->loop, &ctl->server, 0);
    if (rc != 0)
        return ib_err_set(err, IB_E_CONTROL, "control socket: %s", uv_strerror(rc));
    ctl->server.data = ctl;
    ctl->listening = true;
    mode_t old = umask(0117); /* never world-accessible, not even briefly */
    rc = uv_pipe_bind(&ctl->server, ctl->path);
    umask(old);
    ctl->bound = rc == 0;
    if (rc == 0 && chmod(ctl->path, 0660) != 0)
        rc = uv_translate_sys_error(errno);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&ctl->server, 128, on_connection);
    if (rc != 0)
        return ib_err_set(err, IB_E_CONTROL, "cannot listen on %s: %s", ctl->path, uv_strerror(rc));
    return 0;
}

int ibd_control_open(ibd *d, ib_err *err)
{
    ibd_control *ctl = calloc(1, sizeof *ctl);
    if (!ctl)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    ctl->d = d;
    ctl->idle_ms = idle_timeout_ms();
    d->control = ctl;
    ctl->path = ib_path_join(d->runtime_dir, IBD_CONTROL_SOCKET);
    if (!ctl->path)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    if (strlen(ctl->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return ib_err_set(err, IB_E_CONTROL,
                          "socket path %s is too long; HINT: use a shorter --runtime-dir",
                          ctl->path);
    if (clear_stale_socket(ctl->path, err) != 0)
        return -1;
    return listen_on(ctl, err);
}

static void on_server_closed(uv_handle_t *h)
{
    (void)h;
}

void ibd_control_stop_listening(ibd *d)
{
    ibd_control *ctl = d->control;
    if (!ctl || !ctl->listening)
        return;
    ctl->listening = false;
    uv_close((uv_handle_t *)&ctl->server, on_server_closed);
    if (ctl->bound)
        unlink(ctl->path);
    ctl->bound = false;
}

void ibd_control_close(ibd *d)
{
    ibd_control *ctl = d->control;
    if (!ctl)
        return;
    ibd_control_stop_listening(d);
    client *next;
    for (client *c = ctl->clients; c; c = next) {
        next = c->next;
        client_finish(c);
    }
}

/* After the loop has ended: the server struct itself. */
void ibd_control_free(ibd *d)
{
    if (!d->control)
        return;
    free(d->control->path);
    free(d->control);
    d->control = NULL;
}
