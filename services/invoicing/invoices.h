/* Invoices: built from rating's AccountRated events by the invoicing
 * workers, one per account and period, with tax lines from the account's tax
 * profile, a payment plan, and gap-free numbers from per-series counters
 * that move in the same transaction as the invoices. A batch of events is
 * one transaction: results, invoices, lines, instalments and InvoiceIssued
 * events are written with COPY, never a round trip per invoice. */
#ifndef INV_INVOICES_H
#define INV_INVOICES_H

#include <stdbool.h>
#include <stddef.h>

#include "api.pb-c.h"
#include "arena.h"
#include "stream.pb-c.h"

typedef struct bw_db bw_db_t;

/* Reads seller details and options from the environment (BILLOW_SELLER_*,
 * BILLOW_ISSUE_ZERO_INVOICES, BILLOW_INVOICE_HTML_IN_EVENT). */
int inv_invoices_init(void);

/* Consumer apply callback for rating's stream (bw_consumer_apply_fn). */
int inv_invoices_apply(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                       bw_arena_t *arena);

void inv_invoice_get(bw_db_t *db, const Billow__InvoiceGet *req, Billow__Reply *reply,
                     bw_arena_t *arena);
void inv_invoice_list(bw_db_t *db, const Billow__InvoiceList *req, Billow__Reply *reply,
                      bw_arena_t *arena);

#endif
