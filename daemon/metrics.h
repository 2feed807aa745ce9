/* The optional Prometheus metrics file (daemon setting metrics_file), in the
 * text exposition format for node_exporter's textfile collector; see
 * docs/metrics.md. It is rewritten atomically (temporary file in the same
 * directory, fsync, rename) in libuv's thread pool, at most every
 * IBD_METRICS_MIN_INTERVAL_MS, after state changes: start, reload, a run
 * starting or finishing, a slot handled. */
#ifndef IBD_METRICS_H
#define IBD_METRICS_H

#include "daemon.h"
#include <stdio.h>

#define IBD_METRICS_MIN_INTERVAL_MS 2000

/* Start-up, once the tasks are known: follow d->cfg.metrics_file. */
int ibd_metrics_open(ibd *d, ib_err *err);
/* The settings changed (reload): a new path, or none, takes effect. */
void ibd_metrics_configure(ibd *d);
/* Something a metric shows changed: rewrite the file soon. */
void ibd_metrics_changed(ibd *d);
/* Shutdown: write a last time with iotdb_backupd_up 0 and stop. */
void ibd_metrics_stop(ibd *d);
/* After the loop has ended. */
void ibd_metrics_free(ibd *d);

/* The whole file for the state of d (up: the value of iotdb_backupd_up). */
void ibd_metrics_render(const ibd *d, bool up, FILE *out);

/* Write s as a label value: backslash, double quote and newline escaped. */
void ibd_metrics_put_label_value(FILE *out, const char *s);

/* Write len bytes to path atomically: path.tmp, fsync, rename, fsync of the
 * directory. */
int ibd_metrics_write_file(const char *path, const char *data, size_t len, ib_err *err);

#endif
