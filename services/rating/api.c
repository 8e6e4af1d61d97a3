/* Request and event dispatch for rating. */
#include "rating/api.h"
#include "rating/accounts_view.h"
#include "rating/catalog_store.h"
#include "rating/close.h"
#include "rating/inspect.h"
#include "rating/pricechange_api.h"
#include "rating/subscriptions.h"
#include "rating/usage.h"

#include "events.h"
#include "rpc.h"
#include "service.h"

bool rt_api_handle(void *arg, const Billow__Request *req, Billow__Reply *reply,
                   bw_arena_t *arena)
{
    bw_service_t *svc = arg;
    bw_db_t *db = bw_service_db(svc);
    if (req->body_case != BILLOW__REQUEST__BODY_RATING || !req->rating) {
        bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "unknown request type",
                       "rating serves rating requests");
        return false;
    }
    const Billow__RatingRequest *r = req->rating;
    char *cause = bw_arena_printf(arena, "request:%llu", (unsigned long long)req->id);
    switch (r->op_case) {
    case BILLOW__RATING_REQUEST__OP_CATALOG_LOAD:
        return rt_catalog_load(db, r->catalog_load, req->operator_, cause, reply, arena);
    case BILLOW__RATING_REQUEST__OP_CATALOG_SHOW:
        rt_catalog_show(db, r->catalog_show, reply, arena);
        return false;
    case BILLOW__RATING_REQUEST__OP_SUBSCRIBE:
        return rt_subscribe(db, r->subscribe, cause, reply, arena);
    case BILLOW__RATING_REQUEST__OP_SUBSCRIPTION_CHANGE:
        return rt_subscription_change(db, r->subscription_change, cause, reply, arena);
    case BILLOW__RATING_REQUEST__OP_SUBSCRIPTION_CANCEL:
        return rt_subscription_cancel(db, r->subscription_cancel, cause, reply, arena);
    case BILLOW__RATING_REQUEST__OP_SUBSCRIPTION_IMPORT:
        return rt_subscription_import(db, r->subscription_import, cause, reply, arena);
    case BILLOW__RATING_REQUEST__OP_SUBSCRIPTION_LIST:
        rt_subscription_list(db, r->subscription_list, reply, arena);
        return false;
    case BILLOW__RATING_REQUEST__OP_INGEST_USAGE:
        return rt_usage_ingest(db, r->ingest_usage, cause, reply, arena);
    case BILLOW__RATING_REQUEST__OP_RATE_CLOSE:
        return rt_close_request(db, r->rate_close, cause, reply, arena);
    case BILLOW__RATING_REQUEST__OP_CLOSE_STATUS:
        rt_close_status(db, r->close_status, reply, arena);
        return false;
    case BILLOW__RATING_REQUEST__OP_RATE_PREVIEW:
        rt_rate_preview(db, r->rate_preview, reply, arena);
        return false;
    case BILLOW__RATING_REQUEST__OP_RATE_EXPLAIN:
        rt_rate_explain(db, r->rate_explain, reply, arena);
        return false;
    case BILLOW__RATING_REQUEST__OP_PRICE_CHANGE_CREATE:
        return rt_pc_create(db, r->price_change_create, req->operator_, cause, reply, arena);
    case BILLOW__RATING_REQUEST__OP_PRICE_CHANGE_PREVIEW:
        rt_pc_preview(db, r->price_change_preview, reply, arena);
        return false;
    case BILLOW__RATING_REQUEST__OP_PRICE_CHANGE_ANNOUNCE:
        return rt_pc_announce(db, r->price_change_announce, req->operator_, cause, reply, arena);
    case BILLOW__RATING_REQUEST__OP_PRICE_CHANGE_STATUS:
        rt_pc_status(db, r->price_change_status, reply, arena);
        return false;
    case BILLOW__RATING_REQUEST__OP_PRICE_CHANGE_LIST:
        rt_pc_list(db, reply, arena);
        return false;
    default:
        bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "unknown rating operation", NULL);
        return false;
    }
}

/* AccountChanged events are gathered and applied with one statement; a
 * BillRunStarted first applies those before it, since the run reads them. */
static int on_invoicing_event(void *arg, bw_db_t *db, const Billow__StreamEvent *se,
                              const Billow__Event *ev, bw_arena_t *arena)
{
    rt_accounts_batch_t *accounts = arg;
    (void)arena;
    switch (ev->body_case) {
    case BILLOW__EVENT__BODY_ACCOUNT_CHANGED:
        return rt_accounts_add(accounts, se, ev->account_changed);
    case BILLOW__EVENT__BODY_BILL_RUN_STARTED: {
        int rc = rt_accounts_flush(db, accounts);
        return rc < 0 ? rc : rt_close_on_bill_run(db, se, ev->bill_run_started);
    }
    default:
        return 0;
    }
}

int rt_api_from_invoicing(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                          bw_arena_t *arena)
{
    (void)arg;
    rt_accounts_batch_t accounts = {0};
    int rc = bw_events_apply(db, evs, n, arena, on_invoicing_event, &accounts);
    if (rc == 0)
        rc = rt_accounts_flush(db, &accounts);
    rt_accounts_batch_clear(&accounts);
    return rc;
}
