/* Verify a task: source, REST, target and snapshots. */
#include "ib_engine.h"

int ib_verify_task(const ib_task *task, const char *task_dir_name, const ib_engine_events *ev,
                   ib_err *err)
{
    (void)task;
    (void)task_dir_name;
    (void)ev;
    return ib_err_set(err, IB_E_INTERNAL, "verify: work in progress");
}
