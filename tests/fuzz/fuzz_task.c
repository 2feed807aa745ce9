/* Fuzz target: task files (ib_task_parse: JSON checking and the whole task
 * schema). Besides memory errors, UB and leaks it checks behaviour:
 * - the result and the diagnostics agree (a task iff no error);
 * - every diagnostic is one line of printable ASCII, errors are capped;
 * - paths of a valid task fit in PATH_MAX;
 * - a valid task re-parses from its canonical JSON to the same canonical
 *   JSON (the daemon hands that text to its workers and compares it on
 *   reload, so it must be a fixed point). */
#include "fuzz_util.h"

#include "ib_task.h"

#include <limits.h>

static void check_task(const ib_task *t)
{
    FUZZ_CHECK(strcmp(t->name, "fuzz") == 0);
    FUZZ_CHECK(t->canonical_json && t->canonical_json[0] == '{');
    FUZZ_CHECK(t->target.target_path && t->target.target_path[0] == '/');
    FUZZ_CHECK(strlen(t->target.target_path) < PATH_MAX);
    FUZZ_CHECK(t->target.max_copies >= 1 && t->target.max_copies <= 65536);
    FUZZ_CHECK(t->target.max_bandwidth_mbps >= 0);
    FUZZ_CHECK(t->source.n_data_dirs >= 1);
    for (size_t i = 0; i < t->source.n_data_dirs; i++)
        FUZZ_CHECK(t->source.data_dirs[i][0] == '/' && strlen(t->source.data_dirs[i]) < PATH_MAX);
    if (t->mode == IB_MODE_PERIODIC) {
        FUZZ_CHECK(t->has_schedule);
        FUZZ_CHECK(t->schedule.every >= 1);
    }
    if (t->policy == IB_POLICY_FULL_EVERY_N)
        FUZZ_CHECK(t->full_every >= 2);
}

static void check_canonical_fixed_point(const ib_task *t)
{
    ib_diags diags;
    ib_diags_init(&diags);
    ib_task *again = NULL;
    const char *canon = t->canonical_json;
    int rc = ib_task_parse(t->name, "canonical", canon, strlen(canon), &again, &diags);
    if (rc != 0) {
        char line[4096];
        for (size_t i = 0; i < diags.len; i++) {
            ib_diag_format(&diags.items[i], line, sizeof line);
            fprintf(stderr, "canonical JSON refused: %s\n%s\n", line, canon);
        }
    }
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(strcmp(again->canonical_json, canon) == 0);
    ib_task_free(again);
    ib_diags_free(&diags);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ib_diags diags;
    ib_diags_init(&diags);
    ib_task *t = NULL;
    int rc = ib_task_parse("fuzz", "tasks.d/fuzz.json", (const char *)data, size, &t, &diags);
    fuzz_check_diags(&diags);
    FUZZ_CHECK((rc == 0) == (t != NULL));
    FUZZ_CHECK((rc == 0) == (ib_diags_errors(&diags) == 0));
    if (t) {
        check_task(t);
        check_canonical_fixed_point(t);
    }
    ib_task_free(t);
    ib_diags_free(&diags);
    return 0;
}
