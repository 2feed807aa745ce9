#include "ib_diag_json.h"

#include <stdio.h>

/* 0 (unknown) is null: only syntax errors have a position. */
static cJSON *position(int v)
{
    return v > 0 ? cJSON_CreateNumber(v) : cJSON_CreateNull();
}

static cJSON *string_or_null(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

cJSON *ib_diag_to_json(const ib_diag *d)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    /* A message lost to out of memory reads as ib_diag_format prints it. */
    const char *msg = d->message ? d->message : "out of memory";
    if (!cJSON_AddItemToObject(o, "file", cJSON_CreateString(d->file ? d->file : "")) ||
        !cJSON_AddItemToObject(o, "pointer", string_or_null(d->pointer)) ||
        !cJSON_AddItemToObject(o, "line", position(d->line)) ||
        !cJSON_AddItemToObject(o, "column", position(d->column)) ||
        !cJSON_AddStringToObject(o, "code", ib_code_name(d->code)) ||
        !cJSON_AddStringToObject(o, "message", msg)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

cJSON *ib_diags_to_json(const ib_diags *d, ib_severity sev)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; arr && i < d->len; i++) {
        if (d->items[i].severity != sev)
            continue;
        cJSON *o = ib_diag_to_json(&d->items[i]);
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

static const char *text_of(const cJSON *o, const char *key, const char *dflt)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
    return s ? s : dflt;
}

static int int_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 1 && v->valuedouble <= 1e9 ? v->valueint : 0;
}

int ib_diag_json_format(const cJSON *o, char *buf, size_t n)
{
    if (cJSON_IsString(o))
        return snprintf(buf, n, "%s", o->valuestring);
    if (!cJSON_IsObject(o))
        return -1;
    return ib_diag_format_parts(buf, n, IB_SEV_ERROR, text_of(o, "file", ""),
                                text_of(o, "pointer", NULL), int_of(o, "line"), int_of(o, "column"),
                                text_of(o, "message", ""), text_of(o, "code", "E_INTERNAL"));
}
