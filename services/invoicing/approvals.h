/* Approvals (DESIGN.md §1 [audit], internal control): credit notes,
 * write-offs and refunds above BILLOW_APPROVAL_THRESHOLD wait for a second
 * operator. The waiting action is stored as the packed InvoicingRequest
 * that asked for it; approving runs that request, in the approver's
 * transaction, as the requester with the approver recorded. The requester
 * can never approve or reject their own request, an unnamed operator can do
 * neither, and every step goes to the trail. */
#ifndef INV_APPROVALS_H
#define INV_APPROVALS_H

#include <stdbool.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "arena.h"
#include "invoicing/payments.h"

typedef struct bw_db bw_db_t;

/* Records op as waiting for approval (inside the caller's transaction) and
 * fills reply with status "pending_approval" and the approval id. kind:
 * credit_note | write_off | refund. Returns true when recorded. */
bool inv_approval_request(bw_db_t *db, const char *kind, const char *summary,
                          const char *account, const char *currency, int64_t amount,
                          const Billow__InvoicingRequest *op, const inv_actor_t *who,
                          Billow__Reply *reply, bw_arena_t *a);

void inv_approval_list(bw_db_t *db, const Billow__ApprovalList *req, Billow__Reply *reply,
                       bw_arena_t *a);
/* Approves (running the stored request) or rejects; who->actor decides. */
bool inv_approval_decide(bw_db_t *db, const Billow__ApprovalDecide *req, const inv_actor_t *who,
                         Billow__Reply *reply, bw_arena_t *a);

#endif
