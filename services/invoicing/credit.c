/* Credit notes and write-offs; see credit.h. credit_do validates everything
 * before it writes, so the feedback consumer can skip a request that cannot
 * apply without rolling back the rest of its batch. */
#include "invoicing/credit.h"
#include "invoicing/approvals.h"
#include "invoicing/trail.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "events.h"
#include "log.h"
#include "money.h"
#include "outbox.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_INVOICE[] =
    "SELECT i.account_id, i.currency, i.total_minor, i.status, a.language,"
    " coalesce((SELECT sum(amount_minor) FROM credit_notes c WHERE c.invoice_number = i.number), 0)"
    " FROM invoices i JOIN accounts a ON a.id = i.account_id WHERE i.number = $1 FOR UPDATE OF i";

static bool credit_do(bw_db_t *db, const Billow__CreditIssue *req, const inv_actor_t *who,
                      const char *approved_by, Billow__Reply *reply, bw_arena_t *a)
{
    if (!req->invoice_number || !*req->invoice_number) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "invoice: required", NULL);
        return false;
    }
    if (!req->amount || !*req->amount) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "amount: required", NULL);
        return false;
    }
    if (!req->reason || !*req->reason || strlen(req->reason) > 500) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "reason: required, at most 500 characters",
                       NULL);
        return false;
    }
    const char *p[1] = {req->invoice_number};
    PGresult *r = bw_db_query(db, SQL_INVOICE, 1, p);
    if (!r) {
        inv_pay_db_error(reply, db, "could not read invoice", a);
        return false;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such invoice",
                       bw_arena_strdup(a, req->invoice_number));
        return false;
    }
    char *account = bw_arena_strdup(a, PQgetvalue(r, 0, 0));
    char *cur = bw_arena_strdup(a, PQgetvalue(r, 0, 1));
    int64_t total = atoll(PQgetvalue(r, 0, 2));
    char *status = bw_arena_strdup(a, PQgetvalue(r, 0, 3));
    char *lang = bw_arena_strdup(a, PQgetvalue(r, 0, 4));
    int64_t credited = atoll(PQgetvalue(r, 0, 5));
    PQclear(r);
    if (!strcmp(status, "void")) {
        bw_reply_error(reply, BILLOW__CODE__CONFLICT, "invoice is void", NULL);
        return false;
    }
    int64_t amount;
    char why[128];
    if (bw_money_parse(req->amount, cur, &amount, why, sizeof why) < 0 || amount <= 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "amount: must be a positive amount",
                       bw_arena_strdup(a, why));
        return false;
    }
    if (amount > total - credited) {
        char left[32];
        bw_money_format(total - credited, cur, left, sizeof left);
        bw_reply_error(reply, BILLOW__CODE__CONFLICT,
                       "credit exceeds what is left to credit on the invoice",
                       bw_arena_printf(a, "at most %s %s", cur, left));
        return false;
    }
    const char *kind = req->write_off ? "write_off" : "credit";
    char amt[32];
    bw_money_format(amount, cur, amt, sizeof amt);
    if (!approved_by && amount > inv_pay_threshold(cur)) {
        Billow__InvoicingRequest op = BILLOW__INVOICING_REQUEST__INIT;
        op.op_case = BILLOW__INVOICING_REQUEST__OP_CREDIT_ISSUE;
        op.credit_issue = (Billow__CreditIssue *)req;
        return inv_approval_request(
            db, req->write_off ? "write_off" : "credit_note",
            bw_arena_printf(a, "%s %s %s on %s: %s", req->write_off ? "write-off" : "credit note",
                            cur, amt, req->invoice_number, req->reason),
            account, cur, amount, &op, who, reply, a);
    }
    int64_t now = bw_now_us();
    char num[INV_DOCNO_LEN], key[INV_SERIES_KEY_LEN], seq[24], am[24], at[40];
    long long s;
    if (inv_number_take(db, INV_SERIES_CREDIT_NOTE, now / 86400000000LL, num, key, &s) < 0) {
        inv_pay_db_error(reply, db, "could not number credit note", a);
        return false;
    }
    snprintf(seq, sizeof seq, "%lld", s);
    snprintf(am, sizeof am, "%lld", (long long)amount);
    bw_time_format(now, at, sizeof at);
    const char *ticket = req->ticket_id ? req->ticket_id : "";
    const char *q[13] = {num,        key,        seq, req->invoice_number, account, cur, am, kind,
                         req->reason, ticket, who->actor, approved_by ? approved_by : "", at};
    const char *q2[14];
    memcpy(q2, q, sizeof q);
    q2[13] = who->cause;
    int64_t used;
    if (bw_db_exec(db,
                   "INSERT INTO credit_notes (number, series, seq, invoice_number, account_id,"
                   " currency, amount_minor, unallocated_minor, kind, reason, ticket_id, operator,"
                   " approved_by, issued_at, caused_by) VALUES ($1, $2, $3::int8, $4, $5, $6,"
                   " $7::int8, $7::int8, $8, $9, $10, $11, $12, $13, $14)",
                   14, q2) < 0 ||
        inv_trail(db, who->actor, who->cause, "credit_note", num, "issued",
                  bw_arena_printf(a, "%s %s %s on %s: %s%s%s", kind, cur, amt,
                                  req->invoice_number, req->reason,
                                  approved_by ? "; approved by " : "",
                                  approved_by ? approved_by : "")) < 0 ||
        inv_pay_allocate(db, account, req->invoice_number, false, num, amount, who, &used) < 0) {
        inv_pay_db_error(reply, db, "could not issue credit note", a);
        return false;
    }
    Billow__CreditNoteIssued cn = BILLOW__CREDIT_NOTE_ISSUED__INIT;
    cn.credit_note_number = num;
    cn.invoice_number = req->invoice_number;
    cn.account_id = account;
    cn.amount_minor = amount;
    cn.currency = cur;
    cn.reason = req->reason;
    cn.ticket_id = (char *)ticket;
    cn.issued_at = at;
    cn.language = lang;
    Billow__Event ev = BILLOW__EVENT__INIT;
    ev.body_case = BILLOW__EVENT__BODY_CREDIT_NOTE_ISSUED;
    ev.credit_note_issued = &cn;
    if (bw_outbox_emit(db, &ev, account, who->cause) < 0) {
        inv_pay_db_error(reply, db, "could not emit CreditNoteIssued", a);
        return false;
    }
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    char left[32];
    bw_money_format(amount - used, cur, left, sizeof left);
    pr->id = bw_arena_strdup(a, num);
    pr->status = "issued";
    pr->amount_minor = amount;
    pr->currency = cur;
    pr->summary = bw_arena_printf(a, "issued %s %s %s on %s (%s); held as account credit %s",
                                  num, cur, amt, req->invoice_number, kind, left);
    return true;
}

bool inv_credit_issue(bw_db_t *db, const Billow__CreditIssue *req, const inv_actor_t *who,
                      const char *approved_by, Billow__Reply *reply, bw_arena_t *a)
{
    if (inv_pay_begin(db, reply) < 0)
        return false;
    bool changed = credit_do(db, req, who, approved_by, reply, a);
    return inv_pay_end(db, reply, changed);
}

/* --- from feedback ------------------------------------------------------------ */

static int on_event(void *arg, bw_db_t *db, const Billow__StreamEvent *se,
                    const Billow__Event *ev, bw_arena_t *a)
{
    (void)arg;
    if (ev->body_case != BILLOW__EVENT__BODY_CREDIT_REQUESTED)
        return 0;
    const Billow__CreditRequested *cr = ev->credit_requested;
    const char *p[1] = {se->event_id};
    PGresult *r = bw_db_query(db,
                              "INSERT INTO applied_events (event_id) VALUES ($1)"
                              " ON CONFLICT DO NOTHING RETURNING event_id",
                              1, p);
    if (!r)
        return BW_EDB;
    int fresh = PQntuples(r);
    PQclear(r);
    if (!fresh)
        return 0;
    char amt[48] = "";
    if (cr->amount_minor <= 0 || !cr->currency ||
        bw_money_format(cr->amount_minor, cr->currency, amt, sizeof amt) < 0) {
        bw_log(BW_WARN, "skipping CreditRequested with a bad amount", "ticket",
               BW_S(cr->ticket_id), "event", BW_S(se->event_id), NULL);
        return 0;
    }
    Billow__CreditIssue ci = BILLOW__CREDIT_ISSUE__INIT;
    ci.invoice_number = cr->invoice_number;
    ci.amount = amt;
    ci.reason = cr->reason && *cr->reason ? cr->reason : "upheld complaint";
    ci.ticket_id = cr->ticket_id;
    inv_actor_t who = {
        bw_arena_printf(a, "feedback:%s", cr->requested_by && *cr->requested_by
                                              ? cr->requested_by : "ticket"),
        bw_arena_printf(a, "event:%s", se->event_id)};
    Billow__Reply reply = BILLOW__REPLY__INIT;
    credit_do(db, &ci, &who, NULL, &reply, a);
    if (reply.code == BILLOW__CODE__INTERNAL || reply.code == BILLOW__CODE__UNAVAILABLE)
        return BW_EDB; /* the batch is retried */
    if (reply.code != BILLOW__CODE__OK) {
        bw_log(BW_WARN, "skipping CreditRequested that cannot apply", "ticket",
               BW_S(cr->ticket_id), "invoice", BW_S(cr->invoice_number), "error",
               BW_S(reply.error), NULL);
        return 0;
    }
    bw_log(BW_INFO, "credit requested by feedback", "ticket", BW_S(cr->ticket_id), "result",
           BW_S(reply.invoicing->payments->summary), NULL);
    return 0;
}

int inv_credit_apply(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                     bw_arena_t *arena)
{
    return bw_events_apply(db, evs, n, arena, on_event, arg);
}
