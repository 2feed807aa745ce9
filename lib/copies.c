/* Listing a task's copies on its target. */
#include "ib_engine.h"

#include <stdlib.h>

int ib_copies_list(const ib_task *task, const char *task_dir_name, ib_copy_info **out, size_t *n,
                   ib_err *err)
{
    (void)task;
    (void)task_dir_name;
    *out = NULL;
    *n = 0;
    return ib_err_set(err, IB_E_INTERNAL, "copies: work in progress");
}

void ib_copies_free(ib_copy_info *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].backup_type);
    }
    free(c);
}
