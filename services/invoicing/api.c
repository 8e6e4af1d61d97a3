/* Request dispatch for invoicing. */
#include "invoicing/api.h"
#include "invoicing/accounts.h"
#include "invoicing/approvals.h"
#include "invoicing/audit.h"
#include "invoicing/billrun.h"
#include "invoicing/credit.h"
#include "invoicing/dunning.h"
#include "invoicing/invoices.h"
#include "invoicing/payments.h"
#include "invoicing/reconcile.h"
#include "invoicing/reports.h"
#include "invoicing/statements.h"

#include "rpc.h"
#include "service.h"

#include <stdio.h>

bool inv_api_handle(void *arg, const Billow__Request *req, Billow__Reply *reply,
                    bw_arena_t *arena)
{
    bw_service_t *svc = arg;
    bw_db_t *db = bw_service_db(svc);
    if (req->body_case != BILLOW__REQUEST__BODY_INVOICING || !req->invoicing) {
        bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "unknown request type",
                       "invoicing serves invoicing requests");
        return false;
    }
    const Billow__InvoicingRequest *r = req->invoicing;
    char *cause = bw_arena_printf(arena, "request:%llu", (unsigned long long)req->id);
    inv_actor_t who = {req->operator_ && *req->operator_ ? req->operator_ : "unknown", cause};
    switch (r->op_case) {
    case BILLOW__INVOICING_REQUEST__OP_ACCOUNT_UPSERT:
        return inv_account_upsert(db, r->account_upsert, cause, reply, arena);
    case BILLOW__INVOICING_REQUEST__OP_ACCOUNT_GET:
        inv_account_get(db, r->account_get, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_ACCOUNT_LIST:
        inv_account_list(db, r->account_list, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_ACCOUNT_IMPORT:
        return inv_account_import(db, r->account_import, cause, reply, arena);
    case BILLOW__INVOICING_REQUEST__OP_BILL_RUN_START:
        return inv_billrun_start(db, r->bill_run_start, cause, reply, arena);
    case BILLOW__INVOICING_REQUEST__OP_BILL_RUN_GET:
        inv_billrun_get(db, r->bill_run_get, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_BILL_RUN_LIST:
        inv_billrun_list(db, r->bill_run_list, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_INVOICE_GET:
        inv_invoice_get(db, r->invoice_get, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_INVOICE_LIST:
        inv_invoice_list(db, r->invoice_list, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_PAYMENT_RECORD:
        return inv_payment_record(db, r->payment_record, &who, reply, arena);
    case BILLOW__INVOICING_REQUEST__OP_PAYMENT_REFUND:
        return inv_payment_refund(db, r->payment_refund, &who, NULL, reply, arena);
    case BILLOW__INVOICING_REQUEST__OP_RECONCILE_IMPORT:
        return inv_recon_import(db, r->reconcile_import, &who, reply, arena);
    case BILLOW__INVOICING_REQUEST__OP_RECONCILE_EXCEPTIONS:
        inv_recon_exceptions(db, r->reconcile_exceptions, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_RECONCILE_RESOLVE:
        return inv_recon_resolve(db, r->reconcile_resolve, &who, NULL, reply, arena);
    case BILLOW__INVOICING_REQUEST__OP_DUNNING_RUN:
        return inv_dunning_run(db, r->dunning_run, who.actor, cause, reply, arena);
    case BILLOW__INVOICING_REQUEST__OP_RECEIPT_GET:
        inv_receipt_get(db, r->receipt_get, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_STATEMENT_GET:
        inv_statement_get(db, r->statement_get, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_APPROVAL_LIST:
        inv_approval_list(db, r->approval_list, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_APPROVAL_DECIDE:
        return inv_approval_decide(db, r->approval_decide, &who, reply, arena);
    case BILLOW__INVOICING_REQUEST__OP_CREDIT_ISSUE:
        return inv_credit_issue(db, r->credit_issue, &who, NULL, reply, arena);
    case BILLOW__INVOICING_REQUEST__OP_AUDIT_RUN:
        inv_audit_run(db, r->audit_run, reply, arena);
        return false;
    case BILLOW__INVOICING_REQUEST__OP_REPORT_GET:
        inv_report_get(db, r->report_get, reply, arena);
        return false;
    default:
        bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "unknown invoicing operation", NULL);
        return false;
    }
}
