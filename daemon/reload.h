/* Loading the configuration (daemon settings and task files) and applying a
 * new one on SIGHUP or the "reload" command, all or nothing. */
#ifndef IBD_RELOAD_H
#define IBD_RELOAD_H

#include "daemon.h"
#include "ib_diag.h"
#include <cjson/cJSON.h>

/* Load <config_dir>/iotdb-backupd.conf into cfg and the task files into set;
 * every problem goes into diags. *settings_ok is false when the daemon
 * settings are invalid; the return value is the number of invalid task files,
 * or -1 when tasks.d cannot be read. */
int ibd_config_read(const char *config_dir, ib_config *cfg, ib_taskset *set, ib_diags *diags,
                    bool *settings_ok);

/* Log every diagnostic (errors at LOG_ERR, warnings at LOG_WARNING). */
void ibd_log_diags(const ib_diags *diags);

/* Replace d->config_errors with the errors of diags, each kept as the
 * compact JSON text of its object (ib_diag_json.h). */
void ibd_set_config_errors(ibd *d, const ib_diags *diags);
void ibd_free_config_errors(ibd *d);

/* d->config_errors as a JSON array of objects; NULL when out of memory. */
cJSON *ibd_config_errors_json(const ibd *d);

/* Use cfg's settings from now on (takes ownership of its contents). */
int ibd_apply_settings(ibd *d, ib_config *cfg, ib_err *err);

/* Reload; returns the control protocol's answer (caller deletes it). */
cJSON *ibd_reload(ibd *d);

#endif
