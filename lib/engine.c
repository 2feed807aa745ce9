/* The backup engine: one run of a task. */
#include "ib_engine.h"

#include <stdio.h>
#include <time.h>

void ib_engine_task_dir_name(const char *task, int64_t created_at, char *buf, size_t n)
{
    time_t t = (time_t)created_at;
    struct tm tm;
    char stamp[32] = "00000000000000";
    if (localtime_r(&t, &tm))
        strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    snprintf(buf, n, "%s_IoTDB_%s", task, stamp);
}

int ib_backup_run(const ib_backup_request *req, const ib_engine_events *ev, ib_backup_result *res,
                  ib_err *err)
{
    (void)req;
    (void)ev;
    (void)res;
    return ib_err_set(err, IB_E_INTERNAL, "backup engine: work in progress");
}
