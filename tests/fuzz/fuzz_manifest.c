/* Fuzz target: MANIFEST.json (ib_manifest_parse), the file a restore
 * trusts to place files. Checks beyond memory errors, UB and leaks:
 * - a refused manifest gives E_MANIFEST (or E_NOMEM) with a one-line
 *   message and leaves the struct empty;
 * - an accepted one has only safe relative paths, sorted and unique, each
 *   found by ib_manifest_find, sizes >= 0 and a known backup type;
 * - serialising it and parsing that again gives the same manifest. */
#include "fuzz_util.h"

#include "ib_manifest.h"

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_accepted(const ib_manifest *m)
{
    FUZZ_CHECK(m->format == IB_MANIFEST_FORMAT);
    FUZZ_CHECK(m->task && m->backup_type);
    FUZZ_CHECK(strcmp(m->backup_type, "full") == 0 || strcmp(m->backup_type, "incremental") == 0);
    for (size_t i = 0; i < m->n_files; i++) {
        const ib_manifest_file *f = &m->files[i];
        FUZZ_CHECK(ib_path_is_safe_relative(f->path));
        FUZZ_CHECK(f->size >= 0);
        FUZZ_CHECK(i == 0 || strcmp(m->files[i - 1].path, f->path) < 0);
        FUZZ_CHECK(ib_manifest_find(m, f->path) == f);
    }
}

static void check_same(const ib_manifest *a, const ib_manifest *b)
{
    FUZZ_CHECK(a->format == b->format);
    FUZZ_CHECK(same_str(a->task, b->task));
    FUZZ_CHECK(same_str(a->backup_type, b->backup_type));
    FUZZ_CHECK(a->start == b->start && a->end == b->end);
    FUZZ_CHECK(same_str(a->source_host, b->source_host));
    FUZZ_CHECK(a->layout_version == b->layout_version);
    FUZZ_CHECK(same_str(a->program_version, b->program_version));
    FUZZ_CHECK(a->run_id == b->run_id);
    FUZZ_CHECK(a->n_databases == b->n_databases);
    for (size_t i = 0; i < a->n_databases; i++)
        FUZZ_CHECK(same_str(a->databases[i], b->databases[i]));
    FUZZ_CHECK(a->n_files == b->n_files);
    for (size_t i = 0; i < a->n_files; i++) {
        const ib_manifest_file *x = &a->files[i], *y = &b->files[i];
        FUZZ_CHECK(strcmp(x->path, y->path) == 0);
        FUZZ_CHECK(x->size == y->size && x->mtime_ms == y->mtime_ms && x->crc32c == y->crc32c);
    }
}

static void check_round_trip(const ib_manifest *m)
{
    ib_err err;
    ib_err_clear(&err);
    char *json = ib_manifest_to_json(m, &err);
    FUZZ_CHECK(json != NULL);
    ib_manifest again;
    int rc = ib_manifest_parse(json, strlen(json), &again, &err);
    if (rc != 0)
        fprintf(stderr, "serialised manifest refused: %s\n", err.msg);
    FUZZ_CHECK(rc == 0);
    check_same(m, &again);
    ib_manifest_free(&again);
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ib_manifest m;
    ib_err err;
    ib_err_clear(&err);
    int rc = ib_manifest_parse((const char *)data, size, &m, &err);
    if (rc != 0) {
        FUZZ_CHECK(err.code == IB_E_MANIFEST || err.code == IB_E_NOMEM);
        FUZZ_CHECK(err.msg[0] != '\0');
        FUZZ_CHECK(fuzz_printable_ascii(err.msg));
        FUZZ_CHECK(m.n_files == 0 && m.files == NULL && m.task == NULL);
        return 0;
    }
    check_accepted(&m);
    check_round_trip(&m);
    ib_manifest_free(&m);
    return 0;
}
