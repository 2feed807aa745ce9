/* Restore: stream a copy back from the target, checking every checksum. */
#include "ib_engine.h"

int ib_restore_run(const ib_restore_request *req, const ib_engine_events *ev,
                   ib_restore_result *res, ib_err *err)
{
    (void)req;
    (void)ev;
    (void)res;
    return ib_err_set(err, IB_E_INTERNAL, "restore: work in progress");
}
