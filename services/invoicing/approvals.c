/* The approval queue; see approvals.h. */
#include "invoicing/approvals.h"
#include "invoicing/credit.h"
#include "invoicing/reconcile.h"
#include "invoicing/trail.h"

#include "db.h"
#include "errors.h"
#include "money.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool named(const char *op) { return op && *op && strcmp(op, "unknown") != 0; }

bool inv_approval_request(bw_db_t *db, const char *kind, const char *summary,
                          const char *account, const char *currency, int64_t amount,
                          const Billow__InvoicingRequest *op, const inv_actor_t *who,
                          Billow__Reply *reply, bw_arena_t *a)
{
    if (!named(who->actor)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID,
                       "this needs approval: name the requesting operator",
                       "set BILLOW_OPERATOR or pass --as NAME");
        return false;
    }
    size_t len = billow__invoicing_request__get_packed_size(op);
    uint8_t *buf = bw_arena_alloc(a, len + 1);
    char *hex = bw_arena_alloc(a, 2 * len + 3);
    if (!buf || !hex) {
        bw_reply_error(reply, BILLOW__CODE__INTERNAL, "out of memory", NULL);
        return false;
    }
    billow__invoicing_request__pack(op, buf);
    hex[0] = '\\', hex[1] = 'x';
    for (size_t i = 0; i < len; i++)
        sprintf(hex + 2 + 2 * i, "%02x", buf[i]);
    hex[2 + 2 * len] = '\0';
    char amt[24];
    snprintf(amt, sizeof amt, "%lld", (long long)amount);
    const char *p[8] = {kind, summary, account, currency, amt, hex, who->actor, who->cause};
    PGresult *r = bw_db_query(db,
                              "INSERT INTO approvals (kind, summary, account_id, currency,"
                              " amount_minor, request, requested_by, caused_by) VALUES ($1, $2,"
                              " $3, $4, $5::int8, $6::bytea, $7, $8) RETURNING id",
                              8, p);
    if (!r) {
        inv_pay_db_error(reply, db, "could not record approval request", a);
        return false;
    }
    char *id = bw_arena_strdup(a, PQgetvalue(r, 0, 0));
    PQclear(r);
    if (inv_trail(db, who->actor, who->cause, "approval", id, "requested", summary) < 0) {
        inv_pay_db_error(reply, db, "could not record approval request", a);
        return false;
    }
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    pr->id = id;
    pr->status = "pending_approval";
    pr->amount_minor = amount;
    pr->currency = (char *)currency;
    pr->summary = bw_arena_printf(a, "approval %s pending: %s (above the approval threshold;"
                                     " a second operator must approve)", id, summary);
    return true;
}

void inv_approval_list(bw_db_t *db, const Billow__ApprovalList *req, Billow__Reply *reply,
                       bw_arena_t *a)
{
    const char *st = req->status && *req->status ? req->status : "pending";
    if (strcmp(st, "pending") && strcmp(st, "approved") && strcmp(st, "rejected") &&
        strcmp(st, "all")) {
        bw_reply_error(reply, BILLOW__CODE__INVALID,
                       "status: must be pending, approved, rejected or all", NULL);
        return;
    }
    const char *p[1] = {st};
    PGresult *r = bw_db_query(db,
                              "SELECT id, kind, status, requested_by, decided_by, summary,"
                              " to_char(requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI')"
                              " FROM approvals WHERE $1 = 'all' OR status = $1 ORDER BY id",
                              1, p);
    if (!r) {
        inv_pay_db_error(reply, db, "could not list approvals", a);
        return;
    }
    size_t cap = 256 + (size_t)PQntuples(r) * 600;
    char *doc = bw_arena_alloc(a, cap);
    size_t o = (size_t)snprintf(doc, cap, "%-5s %-11s %-9s %-12s %-12s %s\n", "ID", "KIND",
                                "STATUS", "REQUESTED", "DECIDED", "WHAT");
    for (int i = 0; i < PQntuples(r) && o < cap; i++)
        o += (size_t)snprintf(doc + o, cap - o, "%-5s %-11s %-9s %-12.12s %-12.12s %.400s\n",
                              PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                              PQgetvalue(r, i, 3), *PQgetvalue(r, i, 4) ? PQgetvalue(r, i, 4) : "-",
                              PQgetvalue(r, i, 5));
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    pr->count = PQntuples(r);
    pr->document = doc;
    pr->summary = bw_arena_printf(a, "%d approvals", PQntuples(r));
    PQclear(r);
}

static int unhex(const char *s, uint8_t *out, size_t *len)
{
    size_t n = strlen(s) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return BW_EINVAL;
        out[i] = (uint8_t)v;
    }
    *len = n;
    return 0;
}

bool inv_approval_decide(bw_db_t *db, const Billow__ApprovalDecide *req, const inv_actor_t *who,
                         Billow__Reply *reply, bw_arena_t *a)
{
    if (!named(who->actor)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "approvals need a named operator",
                       "set BILLOW_OPERATOR or pass --as NAME");
        return false;
    }
    if (inv_pay_begin(db, reply) < 0)
        return false;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)req->approval_id);
    const char *p[1] = {id};
    PGresult *r = bw_db_query(db,
                              "SELECT status, requested_by, encode(request, 'hex'), summary"
                              " FROM approvals WHERE id = $1::int8 FOR UPDATE",
                              1, p);
    if (!r) {
        inv_pay_db_error(reply, db, "could not read approval", a);
        return inv_pay_end(db, reply, false);
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such approval", NULL);
        return inv_pay_end(db, reply, false);
    }
    char *status = bw_arena_strdup(a, PQgetvalue(r, 0, 0));
    char *requester = bw_arena_strdup(a, PQgetvalue(r, 0, 1));
    char *hex = bw_arena_strdup(a, PQgetvalue(r, 0, 2));
    char *summary = bw_arena_strdup(a, PQgetvalue(r, 0, 3));
    PQclear(r);
    if (strcmp(status, "pending")) {
        bw_reply_error(reply, BILLOW__CODE__CONFLICT, "approval already decided",
                       bw_arena_strdup(a, status));
        return inv_pay_end(db, reply, false);
    }
    if (!strcmp(requester, who->actor)) {
        bw_reply_error(reply, BILLOW__CODE__CONFLICT,
                       "the requester cannot approve or reject their own request",
                       bw_arena_printf(a, "requested by %s", requester));
        return inv_pay_end(db, reply, false);
    }
    const char *verdict = req->approve ? "approved" : "rejected";
    const char *reason = req->reason ? req->reason : "";
    char *result = "";
    if (req->approve) {
        uint8_t *buf = bw_arena_alloc(a, strlen(hex) / 2 + 1);
        size_t len = 0;
        Billow__InvoicingRequest *op = NULL;
        if (unhex(hex, buf, &len) == 0)
            op = billow__invoicing_request__unpack(bw_arena_pb(a), len, buf);
        if (!op) {
            bw_reply_error(reply, BILLOW__CODE__INTERNAL, "stored request does not decode", id);
            return inv_pay_end(db, reply, false);
        }
        /* The action runs as the requester; the approver is recorded. */
        inv_actor_t as = {requester, who->cause};
        switch (op->op_case) {
        case BILLOW__INVOICING_REQUEST__OP_CREDIT_ISSUE:
            inv_credit_issue(db, op->credit_issue, &as, who->actor, reply, a);
            break;
        case BILLOW__INVOICING_REQUEST__OP_PAYMENT_REFUND:
            inv_payment_refund(db, op->payment_refund, &as, who->actor, reply, a);
            break;
        case BILLOW__INVOICING_REQUEST__OP_RECONCILE_RESOLVE:
            inv_recon_resolve(db, op->reconcile_resolve, &as, who->actor, reply, a);
            break;
        default:
            bw_reply_error(reply, BILLOW__CODE__INTERNAL, "stored request is not approvable", id);
        }
        if (reply->code != BILLOW__CODE__OK)
            return inv_pay_end(db, reply, false);
        if (reply->invoicing && reply->invoicing->payments && reply->invoicing->payments->summary)
            result = reply->invoicing->payments->summary;
    }
    const char *u[5] = {id, verdict, who->actor, reason, result};
    if (bw_db_exec(db,
                   "UPDATE approvals SET status = $2, decided_by = $3, decision = $4, result = $5,"
                   " decided_at = now() WHERE id = $1::int8",
                   5, u) < 0 ||
        inv_trail(db, who->actor, who->cause, "approval", id, verdict,
                  bw_arena_printf(a, "%s%s%s", summary, *reason ? "; " : "", reason)) < 0) {
        inv_pay_db_error(reply, db, "could not record decision", a);
        return inv_pay_end(db, reply, false);
    }
    Billow__PaymentsReply *pr = reply->invoicing && reply->invoicing->payments
                                    ? reply->invoicing->payments
                                    : inv_pay_reply(reply, a);
    pr->status = (char *)verdict;
    pr->summary = bw_arena_printf(a, "approval %s %s by %s%s%s", id, verdict, who->actor,
                                  *result ? ": " : "", result);
    return inv_pay_end(db, reply, true);
}
