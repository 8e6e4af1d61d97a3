/* Rows for one statement: see jsonrows.h. */
#include "jsonrows.h"
#include "db.h"
#include "errors.h"

json_object *bw_jsonrows_new_row(void) { return json_object_new_object(); }

int bw_jsonrows_add(bw_jsonrows_t *b, json_object *row)
{
    if (!row)
        return BW_ENOMEM;
    if (!b->rows && !(b->rows = json_object_new_array())) {
        json_object_put(row);
        return BW_ENOMEM;
    }
    json_object_object_add(row, "ord", json_object_new_int((int)json_object_array_length(b->rows)));
    if (json_object_array_add(b->rows, row) < 0) {
        json_object_put(row);
        return BW_ENOMEM;
    }
    return 0;
}

void bw_jsonrows_put_str(json_object *row, const char *key, const char *v)
{
    json_object_object_add(row, key, json_object_new_string(v ? v : ""));
}

size_t bw_jsonrows_count(const bw_jsonrows_t *b)
{
    return b->rows ? json_object_array_length(b->rows) : 0;
}

int bw_jsonrows_exec(bw_db_t *db, bw_jsonrows_t *b, const char *sql)
{
    if (bw_jsonrows_count(b) == 0)
        return 0;
    const char *p[1] = {json_object_to_json_string_ext(b->rows, JSON_C_TO_STRING_PLAIN)};
    int rc = p[0] ? bw_db_exec(db, sql, 1, p) : BW_ENOMEM;
    bw_jsonrows_clear(b);
    return rc < 0 ? rc : 0;
}

void bw_jsonrows_clear(bw_jsonrows_t *b)
{
    if (b->rows)
        json_object_put(b->rows);
    b->rows = NULL;
}
