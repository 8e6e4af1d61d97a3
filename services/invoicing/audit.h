/* The audit (DESIGN.md §1 [audit]): recomputes every invoice from its lines,
 * checks every number series for gaps and duplicates, each account's
 * balance (invoiced - paid - credited + refunded against the open amounts
 * and credit held), that every payment and credit note is allocated or
 * held as credit, that the settled amounts cached on invoices match their
 * allocations, and that lines, instalments, allocations and run results
 * reference rows that exist (the schema has no foreign keys there, for the
 * month-end path's sake). Each finding is one line; none means clean. */
#ifndef INV_AUDIT_H
#define INV_AUDIT_H

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;

void inv_audit_run(bw_db_t *db, const Billow__AuditRun *req, Billow__Reply *reply,
                   bw_arena_t *a);

#endif
