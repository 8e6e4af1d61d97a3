/* Statement import and matching; see reconcile.h. */
#include "invoicing/reconcile.h"

#include "rpc.h"

bool inv_recon_import(bw_db_t *db, const Billow__ReconcileImport *req, const inv_actor_t *who,
                      Billow__Reply *reply, bw_arena_t *a)
{
    (void)db, (void)req, (void)who, (void)a;
    bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "not yet", NULL);
    return false;
}

void inv_recon_exceptions(bw_db_t *db, const Billow__ReconcileExceptions *req,
                          Billow__Reply *reply, bw_arena_t *a)
{
    (void)db, (void)req, (void)a;
    bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "not yet", NULL);
}

bool inv_recon_resolve(bw_db_t *db, const Billow__ReconcileResolve *req, const inv_actor_t *who,
                       const char *approved_by, Billow__Reply *reply, bw_arena_t *a)
{
    (void)db, (void)req, (void)who, (void)approved_by, (void)a;
    bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "not yet", NULL);
    return false;
}
