/* Reconciliation (DESIGN.md §1 [collect]): importing a bank or payment
 * provider statement (CSV: date, amount, currency, payer, reference; an
 * optional method column) and matching each transfer to an invoice: first
 * by an invoice number in the reference, then by amount and payer (account
 * id, name or external ref, one open invoice of exactly that amount). A
 * match becomes a payment with its receipt. Unmatched rows, amount
 * mismatches and duplicates (a reference already recorded) become
 * exceptions, resolved by assigning, refunding or dismissing. Each row has a
 * fingerprint, so re-importing a statement matches nothing twice. */
#ifndef INV_RECONCILE_H
#define INV_RECONCILE_H

#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"
#include "invoicing/payments.h"

typedef struct bw_db bw_db_t;

bool inv_recon_import(bw_db_t *db, const Billow__ReconcileImport *req, const inv_actor_t *who,
                      Billow__Reply *reply, bw_arena_t *a);
void inv_recon_exceptions(bw_db_t *db, const Billow__ReconcileExceptions *req,
                          Billow__Reply *reply, bw_arena_t *a);
/* approved_by: the approver when an approval runs a refund resolution. */
bool inv_recon_resolve(bw_db_t *db, const Billow__ReconcileResolve *req, const inv_actor_t *who,
                       const char *approved_by, Billow__Reply *reply, bw_arena_t *a);

#endif
