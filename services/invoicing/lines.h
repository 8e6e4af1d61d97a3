/* An invoice's lines as stored: one row per invoice in invoice_lines, keyed
 * by an id the invoice names (invoices.lines_id, migration 008), whose
 * `lines` is the protobuf bytes of billow.StoredLines (migration 007). One
 * bytea per invoice costs the month end's COPY a fraction of a row and an
 * index entry per line; readers decode here. */
#ifndef INV_LINES_H
#define INV_LINES_H

#include "arena.h"
#include "db.h"
#include "invoicing/document.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The lines packed, in the arena: 0 or BW_ENOMEM. */
int inv_lines_pack(const inv_line_t *lines, size_t n, bw_arena_t *a, uint8_t **out,
                   size_t *len);

/* Lines decoded from stored bytes, their strings in the arena: 0, or
 * BW_EINVAL when the bytes are not StoredLines. */
int inv_lines_unpack(const uint8_t *data, size_t len, bw_arena_t *a, inv_line_t **lines,
                     size_t *n);

/* Runs sql (text results; its column `lines_col` the stored bytes or NULL)
 * through a cursor in a transaction of its own (or the caller's), fetching a few thousand rows
 * at a time so the memory stays flat however many invoices it reads, and
 * calls fn for each row with that row's lines decoded (lines NULL when the
 * column is NULL, or when its bytes do not decode: then `unreadable`). fn
 * returns <0 to stop. 0, BW_EDB, BW_ENOMEM or fn's error. */
typedef int (*inv_lines_fn)(void *arg, PGresult *r, int row, const inv_line_t *lines, size_t n,
                            bool unreadable);
int inv_lines_scan(bw_db_t *db, const char *sql, int nparams, const char *const *params,
                   int lines_col, inv_lines_fn fn, void *arg);

#endif
