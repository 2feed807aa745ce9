/* Diagnostics (ib_diag.h) as JSON objects, the form of the control protocol
 * and of --json output, so that scripts get the code without parsing text:
 *   {"file":"tasks.d/x.json","pointer":"/period/every"|null,
 *    "line":3|null,"column":5|null,"code":"E_TASK_FIELD","message":"..."} */
#ifndef IB_DIAG_JSON_H
#define IB_DIAG_JSON_H

#include "ib_diag.h"
#include <cjson/cJSON.h>

/* One diagnostic as an object; NULL when out of memory. */
cJSON *ib_diag_to_json(const ib_diag *d);

/* An array of the diagnostics of severity sev; NULL when out of memory. */
cJSON *ib_diags_to_json(const ib_diags *d, ib_severity sev);

/* The line ib_diag_format prints for an error, from such an object (as
 * received from the daemon). A string (what daemons before these objects
 * sent) is copied as it is. Returns what snprintf returns, -1 for any other
 * JSON value. */
int ib_diag_json_format(const cJSON *o, char *buf, size_t n);

#endif
