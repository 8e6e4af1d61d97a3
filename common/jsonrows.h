/* Rows for one statement: a JSON array the statement reads as $1 with
 * jsonb_to_recordset, so a consumer batch's changes (accounts, contacts)
 * are applied with one statement instead of one per event (STYLE.md 8).
 * Each row gets "ord", its position, so the statement can keep the order in
 * which the rows were added. */
#ifndef BW_JSONROWS_H
#define BW_JSONROWS_H

#include <json-c/json.h>
#include <stddef.h>

typedef struct bw_db bw_db_t;

typedef struct {
    json_object *rows;
} bw_jsonrows_t;

/* A new row object to fill and then add; NULL when out of memory. */
json_object *bw_jsonrows_new_row(void);
/* Adds row (taking it, also on failure) with its "ord": 0 or BW_ENOMEM. */
int bw_jsonrows_add(bw_jsonrows_t *b, json_object *row);
/* row[key] = v as a string ("" for NULL). */
void bw_jsonrows_put_str(json_object *row, const char *key, const char *v);
size_t bw_jsonrows_count(const bw_jsonrows_t *b);
/* Runs sql with the rows as $1 (0 without running when there are none),
 * then empties the batch: 0, BW_ENOMEM or BW_EDB. */
int bw_jsonrows_exec(bw_db_t *db, bw_jsonrows_t *b, const char *sql);
void bw_jsonrows_clear(bw_jsonrows_t *b);

#endif
