/* The control socket server: <runtime-dir>/control.sock, newline-delimited
 * JSON as specified in docs/control-protocol.md. */
#ifndef IBD_CONTROL_H
#define IBD_CONTROL_H

#include "daemon.h"
#include "ib_error.h"

#define IBD_CONTROL_SOCKET "control.sock"
#define IBD_CONTROL_LINE_MAX 65536

/* Listen on <runtime-dir>/control.sock (mode 0660). A stale socket file is
 * replaced; a daemon already answering on it makes this fail. */
int ibd_control_open(ibd *d, ib_err *err);
/* Stop accepting connections (shutdown); connected clients stay. */
void ibd_control_stop_listening(ibd *d);
/* Close every connection after its pending answers, remove the socket file,
 * free the server. */
void ibd_control_close(ibd *d);
/* After the loop has ended: free what is left. */
void ibd_control_free(ibd *d);

#endif
