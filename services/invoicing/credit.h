/* Credit notes (DESIGN.md §1 [invoice] [feedback]): the only way to correct
 * an issued invoice. A credit note has its own gap-free number
 * (CN-YYYYMM-NNNNNN), is allocated to its invoice's open amount (what
 * exceeds it becomes account credit), emits CreditNoteIssued, and above the
 * approval threshold waits for a second operator. Write-offs are credit
 * notes of kind write_off. Feedback's CreditRequested events (an upheld
 * complaint) arrive through inv_credit_apply and take the same path, with
 * the ticket id carried through to the event. */
#ifndef INV_CREDIT_H
#define INV_CREDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "api.pb-c.h"
#include "arena.h"
#include "invoicing/payments.h"
#include "stream.pb-c.h"

typedef struct bw_db bw_db_t;

/* The handler: approved_by is the approver when an approval runs it. */
bool inv_credit_issue(bw_db_t *db, const Billow__CreditIssue *req, const inv_actor_t *who,
                      const char *approved_by, Billow__Reply *reply, bw_arena_t *a);

/* Consumer apply callback for feedback's stream (bw_consumer_apply_fn):
 * CreditRequested becomes a credit note or an approval request, once per
 * event id; requests that can never apply are logged and skipped. */
int inv_credit_apply(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                     bw_arena_t *arena);

#endif
