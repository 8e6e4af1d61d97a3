/* Request dispatch for invoicing. */
#include "invoicing/api.h"
#include "invoicing/accounts.h"
#include "invoicing/billrun.h"
#include "invoicing/invoices.h"

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
    default:
        bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "unknown invoicing operation", NULL);
        return false;
    }
}
