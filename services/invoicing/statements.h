/* Statements of account: for one account and a date range, the opening
 * balance, every invoice, payment, credit note and refund dated in the
 * range, and the closing balance (what the customer owes; negative is
 * credit), as text, JSON or HTML. */
#ifndef INV_STATEMENTS_H
#define INV_STATEMENTS_H

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;

void inv_statement_get(bw_db_t *db, const Billow__StatementGet *req, Billow__Reply *reply,
                       bw_arena_t *a);

#endif
