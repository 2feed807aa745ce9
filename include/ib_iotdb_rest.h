/* IoTDB REST API v2 client (libcurl): SHOW DATABASES, FLUSH, LOAD. */
#ifndef IB_IOTDB_REST_H
#define IB_IOTDB_REST_H

#include "ib_error.h"
#include "ib_task.h"
#include <stddef.h>

typedef struct ib_rest ib_rest;

/* Reads the password from cfg->password_file (first line; the file must not
 * be world-readable). The password never appears in errors or logs. */
int ib_rest_new(const ib_rest_source *cfg, ib_rest **out, ib_err *err);
void ib_rest_free(ib_rest *r);

/* GET /ping. */
int ib_rest_ping(ib_rest *r, ib_err *err);

/* POST /rest/v2/query {"sql":"SHOW DATABASES"}: the "Database" column
 * (matched case-insensitively). *names is a malloc'd array of malloc'd strings. */
int ib_rest_show_databases(ib_rest *r, char ***names, size_t *n, ib_err *err);

/* POST /rest/v2/nonQuery {"sql":"FLUSH db1,db2 ON LOCAL"}. */
int ib_rest_flush(ib_rest *r, const char *const *databases, size_t n, ib_err *err);

/* POST /rest/v2/nonQuery {"sql":"LOAD '<dir>' ..."} (1.x syntax). */
int ib_rest_load(ib_rest *r, const char *dir, ib_err *err);

/* Parse a REST v2 answer body: 0 when "code" is 200 (or absent on a query
 * answer), else -1 with IB_E_REST naming the code and message. Exposed for
 * tests and fuzzing. */
int ib_rest_check_status(const char *body, ib_err *err);

/* The "Database" column of a SHOW DATABASES answer body (REST v2 query
 * answer: "column_names" and column-major "values"), as
 * ib_rest_show_databases returns it; null cells are left out. -1 with
 * IB_E_REST when the body is not a JSON object, has a non-200 "code", or
 * lacks the column. Pure (no I/O): exposed for tests and fuzzing. */
int ib_rest_parse_databases(const char *body, char ***names, size_t *n, ib_err *err);

void ib_strv_free(char **v, size_t n);

/* POST /rest/v2/nonQuery {"sql": sql}; timeout_ms 0 means the default (60 s). */
int ib_rest_nonquery(ib_rest *r, const char *sql, long timeout_ms, ib_err *err);

/* LOAD with an explicit database level (sglevel=N); sglevel 0 leaves it to
 * IoTDB's default_storage_group_level. ib_rest_load is sglevel 0. */
int ib_rest_load_level(ib_rest *r, const char *dir, int sglevel, ib_err *err);

/* A database path quoted for IoTDB SQL: each node that is not a plain
 * identifier ([A-Za-z_][A-Za-z0-9_]*) nor already backquoted is wrapped in
 * backquotes, inner backquotes doubled ("root.my-db" -> "root.`my-db`").
 * Malloc'd; NULL when out of memory. */
char *ib_rest_quote_path(const char *path);

#endif
