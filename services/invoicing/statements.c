/* Statements of account; see statements.h. */
#include "invoicing/statements.h"

#include "rpc.h"

void inv_statement_get(bw_db_t *db, const Billow__StatementGet *req, Billow__Reply *reply,
                       bw_arena_t *a)
{
    (void)db, (void)req, (void)a;
    bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "not yet", NULL);
}
