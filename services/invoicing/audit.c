/* The audit checks; see audit.h. */
#include "invoicing/audit.h"

#include "rpc.h"

void inv_audit_run(bw_db_t *db, const Billow__AuditRun *req, Billow__Reply *reply,
                   bw_arena_t *a)
{
    (void)db, (void)req, (void)a;
    bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "not yet", NULL);
}
