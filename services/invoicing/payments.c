/* Payments, allocation, account credit, refunds and receipts; see
 * payments.h. Operator actions touch a handful of rows, so they use plain
 * statements; the one path on the month-end hot loop (inv_pay_on_issued)
 * costs one query per batch when no account in it holds credit. */
#include "invoicing/payments.h"
#include "invoicing/approvals.h"
#include "invoicing/trail.h"

#include "clock.h"
#include "config.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "money.h"
#include "outbox.h"
#include "rpc.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    const char *threshold; /* major units */
} cfg = {"1000"};

int inv_payments_init(void)
{
    cfg.threshold = bw_env_str("BILLOW_APPROVAL_THRESHOLD", "1000");
    int64_t v;
    char err[128];
    if (bw_money_parse(cfg.threshold, "CNY", &v, err, sizeof err) < 0 || v < 0) {
        bw_log(BW_ERROR, "bad setting", "name", BW_S("BILLOW_APPROVAL_THRESHOLD"), "error",
               BW_S(err), NULL);
        return BW_EINVAL;
    }
    return 0;
}

int64_t inv_pay_threshold(const char *currency)
{
    int64_t v;
    if (bw_money_parse(cfg.threshold, currency, &v, NULL, 0) < 0) {
        /* "1000.50" in JPY: compare in the currency's own units, rounded down. */
        bw_dec_t d;
        int e = bw_currency_exponent(currency);
        if (e < 0 || bw_dec_parse(cfg.threshold, &d, NULL, 0) < 0 ||
            bw_dec_to_minor(d, e, BW_ROUND_HALF_EVEN, &v) < 0)
            return INT64_MAX;
    }
    return v;
}

/* --- shared helpers --------------------------------------------------------- */

Billow__PaymentsReply *inv_pay_reply(Billow__Reply *reply, bw_arena_t *a)
{
    Billow__InvoicingReply *ir = bw_arena_alloc(a, sizeof *ir);
    Billow__PaymentsReply *pr = bw_arena_alloc(a, sizeof *pr);
    billow__invoicing_reply__init(ir);
    billow__payments_reply__init(pr);
    ir->op_case = BILLOW__INVOICING_REPLY__OP_PAYMENTS;
    ir->payments = pr;
    reply->body_case = BILLOW__REPLY__BODY_INVOICING;
    reply->invoicing = ir;
    return pr;
}

void inv_pay_db_error(Billow__Reply *reply, bw_db_t *db, const char *what, bw_arena_t *a)
{
    bw_log(BW_WARN, what, "pg_error", BW_S(bw_db_error(db)), NULL);
    bw_reply_error(reply, bw_db_lost(db) ? BILLOW__CODE__UNAVAILABLE : BILLOW__CODE__INTERNAL,
                   what, bw_arena_strdup(a, bw_db_error(db)));
}

int inv_pay_begin(bw_db_t *db, Billow__Reply *reply)
{
    if (bw_db_begin(db) < 0) {
        bw_reply_error(reply, BILLOW__CODE__UNAVAILABLE, "database unavailable", bw_db_error(db));
        return BW_EDB;
    }
    return 0;
}

bool inv_pay_end(bw_db_t *db, Billow__Reply *reply, bool changed)
{
    if (reply->code != BILLOW__CODE__OK) {
        bw_db_rollback(db);
        return false;
    }
    if (bw_db_commit(db) < 0) {
        bw_reply_error(reply, BILLOW__CODE__UNAVAILABLE, "could not commit", bw_db_error(db));
        return false;
    }
    return changed;
}

int inv_number_take(bw_db_t *db, inv_series_t series, int64_t day, char *num, char *key,
                    long long *seq)
{
    if (inv_series_key_for_date(series, day, key, INV_SERIES_KEY_LEN) < 0)
        return BW_EINVAL;
    const char *p[1] = {key};
    PGresult *r = bw_db_query(db,
                              "INSERT INTO number_series AS s (series, last) VALUES ($1, 1)"
                              " ON CONFLICT (series) DO UPDATE SET last = s.last + 1 RETURNING last",
                              1, p);
    if (!r)
        return BW_EDB;
    *seq = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    inv_docno_t d = {.series = series, .counter = *seq};
    int dd;
    bw_civil_from_days(day, &d.year, &d.month, &dd);
    return inv_docno_format(&d, num, INV_DOCNO_LEN) < 0 ? BW_EINVAL : 0;
}

static const char SQL_REFRESH[] =
    "WITH n AS (SELECT number, status AS old, CASE"
    "   WHEN status = 'void' THEN 'void'"
    "   WHEN total_minor - paid_minor - credited_minor <= 0 THEN"
    "     CASE WHEN paid_minor = 0 THEN 'credited' ELSE 'paid' END"
    "   WHEN due_date < $2::date THEN 'overdue'"
    "   WHEN paid_minor + credited_minor > 0 THEN 'partially_paid'"
    "   ELSE 'issued' END AS new"
    "  FROM invoices WHERE number = ANY($1::text[]) FOR UPDATE),"
    " c AS (UPDATE invoices i SET status = n.new FROM n"
    "  WHERE i.number = n.number AND n.new <> n.old RETURNING i.number, n.old, n.new)"
    " INSERT INTO trail (actor, cause, entity, entity_id, action, detail)"
    " SELECT $3, $4, 'invoice', number, 'status', old || ' -> ' || new FROM c";

int inv_pay_refresh_status(bw_db_t *db, const char *numbers, const inv_actor_t *who)
{
    char today[16];
    bw_date_format(bw_now_us() / 86400000000LL, today, sizeof today);
    const char *p[4] = {numbers, today, who->actor, who->cause};
    return bw_db_exec(db, SQL_REFRESH, 4, p);
}

/* Appends s to a text[] literal being built in buf (ids without quotes or
 * commas, which every invoice number and payment id is). */
static void arr_add(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);
    if (n == 0) {
        snprintf(buf, len, "{%s}", s);
        return;
    }
    buf[n - 1] = '\0';
    snprintf(buf + n - 1, len - (n - 1), ",%s}", s);
}

static const char SQL_OPEN[] =
    "SELECT number, total_minor - paid_minor - credited_minor FROM invoices"
    " WHERE account_id = $1 AND ($2 = '' OR number = $2)"
    " AND status IN ('issued', 'partially_paid', 'overdue')"
    " AND total_minor - paid_minor - credited_minor > 0"
    " ORDER BY due_date, number FOR UPDATE";

int inv_pay_allocate(bw_db_t *db, const char *account, const char *invoice, bool is_payment,
                     const char *source, int64_t avail, const inv_actor_t *who, int64_t *used)
{
    *used = 0;
    if (avail <= 0)
        return 0;
    const char *p[2] = {account, invoice ? invoice : ""};
    PGresult *r = bw_db_query(db, SQL_OPEN, 2, p);
    if (!r)
        return BW_EDB;
    int rc = 0;
    size_t cap = 64 + (size_t)PQntuples(r) * (INV_DOCNO_LEN + 1);
    char *touched = calloc(1, cap);
    if (!touched) {
        PQclear(r);
        return BW_ENOMEM;
    }
    for (int i = 0; i < PQntuples(r) && avail > 0; i++) {
        const char *num = PQgetvalue(r, i, 0);
        int64_t open = atoll(PQgetvalue(r, i, 1));
        int64_t take = open < avail ? open : avail;
        char amt[24];
        snprintf(amt, sizeof amt, "%lld", (long long)take);
        const char *q[6] = {num, account, is_payment ? source : NULL, is_payment ? NULL : source,
                            amt, who->cause};
        if ((rc = bw_db_exec(db,
                             "INSERT INTO allocations (invoice_number, account_id, payment_id,"
                             " credit_note, amount_minor, caused_by) VALUES ($1, $2, $3, $4, $5, $6)",
                             6, q)) < 0)
            goto out;
        const char *u[2] = {num, amt};
        if ((rc = bw_db_exec(db,
                             is_payment ? "UPDATE invoices SET paid_minor = paid_minor + $2::int8"
                                          " WHERE number = $1"
                                        : "UPDATE invoices SET credited_minor = credited_minor +"
                                          " $2::int8 WHERE number = $1",
                             2, u)) < 0)
            goto out;
        char detail[160];
        snprintf(detail, sizeof detail, "%s %s: %lld", is_payment ? "payment" : "credit note",
                 source, (long long)take);
        if ((rc = inv_trail(db, who->actor, who->cause, "invoice", num, "allocation", detail)) < 0)
            goto out;
        arr_add(touched, cap, num);
        avail -= take;
        *used += take;
    }
    if (*used > 0) {
        char amt[24];
        snprintf(amt, sizeof amt, "%lld", (long long)*used);
        const char *u[2] = {source, amt};
        if ((rc = bw_db_exec(db,
                             is_payment ? "UPDATE payments SET unallocated_minor ="
                                          " unallocated_minor - $2::int8 WHERE id = $1"
                                        : "UPDATE credit_notes SET unallocated_minor ="
                                          " unallocated_minor - $2::int8 WHERE number = $1",
                             2, u)) < 0)
            goto out;
        rc = inv_pay_refresh_status(db, touched, who);
    }
out:
    free(touched);
    PQclear(r);
    return rc;
}

/* Account credit: unallocated payments and credit notes, oldest first. */
/* Locked, so a refund racing with the batch cannot spend the same credit. */
static const char SQL_CREDIT[] =
    "WITH p AS (SELECT true AS pay, id, account_id, unallocated_minor, received_at AS at"
    "  FROM payments WHERE account_id = ANY($1::text[]) AND unallocated_minor > 0 FOR UPDATE),"
    " c AS (SELECT false AS pay, number, account_id, unallocated_minor, issued_at AS at"
    "  FROM credit_notes WHERE account_id = ANY($1::text[]) AND unallocated_minor > 0 FOR UPDATE)"
    " SELECT * FROM p UNION ALL SELECT * FROM c ORDER BY 3, 5, 2";

int inv_pay_on_issued(bw_db_t *db, const char *accounts)
{
    int rc = 0;
    const char *p[1] = {accounts};
    PGresult *r = bw_db_query(db, SQL_CREDIT, 1, p);
    if (!r)
        return BW_EDB;
    inv_actor_t who = {"invoicing", "invoice-issue"};
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        int64_t used;
        rc = inv_pay_allocate(db, PQgetvalue(r, i, 2), NULL, *PQgetvalue(r, i, 0) == 't',
                              PQgetvalue(r, i, 1), atoll(PQgetvalue(r, i, 3)), &who, &used);
    }
    PQclear(r);
    return rc;
}

/* --- recording payments --------------------------------------------------- */

static bool method_ok(const char *m)
{
    static const char *const ok[] = {"cash",          "cheque", "card",      "bank_transfer",
                                     "alipay",        "wechat_pay"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(m, ok[i]))
            return true;
    return false;
}

static int fail(char *err, size_t len, int code, const char *msg)
{
    snprintf(err, len, "%s", msg);
    return code;
}

int inv_payment_create(bw_db_t *db, const inv_payment_in_t *in, const inv_actor_t *who,
                       inv_payment_out_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const char *invoice = in->invoice ? in->invoice : "";
    const char *account = in->account ? in->account : "";
    const char *ref = in->reference ? in->reference : "";
    if (!*invoice && !*account)
        return fail(err, errlen, BW_EINVAL, "name an invoice or an account");
    if (!in->method || !method_ok(in->method))
        return fail(err, errlen, BW_EINVAL,
                    "method: must be cash, cheque, card, bank_transfer, alipay or wechat_pay");
    if (strlen(ref) > 200)
        return fail(err, errlen, BW_EINVAL, "reference: at most 200 characters");
    char lang[16] = "en";
    if (*invoice) {
        const char *p[1] = {invoice};
        PGresult *r = bw_db_query(db,
                                  "SELECT i.account_id, i.currency, a.language FROM invoices i"
                                  " JOIN accounts a ON a.id = i.account_id WHERE i.number = $1",
                                  1, p);
        if (!r)
            return BW_EDB;
        if (PQntuples(r) != 1) {
            PQclear(r);
            return fail(err, errlen, BW_ENOTFOUND, "no such invoice");
        }
        if (*account && strcmp(account, PQgetvalue(r, 0, 0))) {
            PQclear(r);
            return fail(err, errlen, BW_EINVAL, "the invoice belongs to another account");
        }
        snprintf(out->account, sizeof out->account, "%s", PQgetvalue(r, 0, 0));
        snprintf(out->currency, sizeof out->currency, "%s", PQgetvalue(r, 0, 1));
        snprintf(lang, sizeof lang, "%s", PQgetvalue(r, 0, 2));
        PQclear(r);
    } else {
        const char *p[1] = {account};
        PGresult *r = bw_db_query(db, "SELECT currency, language FROM accounts WHERE id = $1", 1, p);
        if (!r)
            return BW_EDB;
        if (PQntuples(r) != 1) {
            PQclear(r);
            return fail(err, errlen, BW_ENOTFOUND, "no such account");
        }
        snprintf(out->account, sizeof out->account, "%s", account);
        snprintf(out->currency, sizeof out->currency, "%s", PQgetvalue(r, 0, 0));
        snprintf(lang, sizeof lang, "%s", PQgetvalue(r, 0, 1));
        PQclear(r);
    }
    int64_t amount = in->amount_minor;
    if (in->amount) {
        char why[128];
        if (bw_money_parse(in->amount, out->currency, &amount, why, sizeof why) < 0) {
            snprintf(err, errlen, "amount: %s", why);
            return BW_EINVAL;
        }
    }
    if (amount <= 0)
        return fail(err, errlen, BW_EINVAL, "amount: must be positive");
    if (*ref) {
        const char *p[1] = {ref};
        PGresult *r = bw_db_query(db, "SELECT receipt_number FROM payments WHERE reference = $1",
                                  1, p);
        if (!r)
            return BW_EDB;
        if (PQntuples(r) > 0) {
            snprintf(err, errlen, "duplicate payment reference: already recorded as %s",
                     PQgetvalue(r, 0, 0));
            PQclear(r);
            return BW_ECONFLICT;
        }
        PQclear(r);
    }
    int64_t now = bw_now_us();
    int64_t day = now / 86400000000LL;
    long long seq;
    char key[INV_SERIES_KEY_LEN];
    int rc = inv_number_take(db, INV_SERIES_RECEIPT, day, out->receipt, key, &seq);
    if (rc < 0)
        return rc;
    char uuid[37], at[40], amt[24];
    bw_uuid(uuid);
    snprintf(out->id, sizeof out->id, "PAY-%s", uuid);
    bw_time_format(in->received_us ? in->received_us : now, at, sizeof at);
    snprintf(amt, sizeof amt, "%lld", (long long)amount);
    const char *p[11] = {out->id, out->receipt, out->account, out->currency, amt, in->method,
                         ref, at, in->source ? in->source : "manual", who->actor, who->cause};
    if ((rc = bw_db_exec(db,
                         "INSERT INTO payments (id, receipt_number, account_id, currency,"
                         " amount_minor, unallocated_minor, method, reference, received_at,"
                         " source, operator, caused_by) VALUES ($1, $2, $3, $4, $5::int8,"
                         " $5::int8, $6, $7, $8, $9, $10, $11)",
                         11, p)) < 0) {
        if (!strcmp(bw_db_sqlstate(db), "23505"))
            return fail(err, errlen, BW_ECONFLICT, "duplicate payment reference");
        return rc;
    }
    char detail[200];
    snprintf(detail, sizeof detail, "%s %s %s receipt %s ref %s", out->currency, amt, in->method,
             out->receipt, ref);
    if ((rc = inv_trail(db, who->actor, who->cause, "payment", out->id, "recorded", detail)) < 0)
        return rc;
    out->amount_minor = amount;
    if ((rc = inv_pay_allocate(db, out->account, *invoice ? invoice : NULL, true, out->id, amount,
                               who, &out->allocated_minor)) < 0)
        return rc;

    Billow__PaymentReceived pr = BILLOW__PAYMENT_RECEIVED__INIT;
    pr.payment_id = out->id;
    pr.receipt_number = out->receipt;
    pr.account_id = out->account;
    pr.invoice_number = (char *)invoice;
    pr.amount_minor = amount;
    pr.currency = out->currency;
    pr.method = (char *)in->method;
    pr.reference = (char *)ref;
    pr.received_at = at;
    pr.language = lang;
    Billow__Event ev = BILLOW__EVENT__INIT;
    ev.body_case = BILLOW__EVENT__BODY_PAYMENT_RECEIVED;
    ev.payment_received = &pr;
    return bw_outbox_emit(db, &ev, out->account, who->cause);
}

static Billow__Code code_of(int rc)
{
    switch (rc) {
    case BW_EINVAL:
        return BILLOW__CODE__INVALID;
    case BW_ENOTFOUND:
        return BILLOW__CODE__NOT_FOUND;
    case BW_ECONFLICT:
        return BILLOW__CODE__CONFLICT;
    default:
        return BILLOW__CODE__INTERNAL;
    }
}

bool inv_payment_record(bw_db_t *db, const Billow__PaymentRecord *req, const inv_actor_t *who,
                        Billow__Reply *reply, bw_arena_t *a)
{
    inv_payment_in_t in = {.invoice = req->invoice_number, .account = req->account_id,
                           .amount = req->amount, .method = req->method,
                           .reference = req->reference, .source = "manual"};
    if (!req->amount || !*req->amount) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "amount: required", NULL);
        return false;
    }
    if (req->received_at && *req->received_at &&
        bw_time_parse(req->received_at, &in.received_us) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "at: not a date or time",
                       bw_arena_strdup(a, req->received_at));
        return false;
    }
    if (inv_pay_begin(db, reply) < 0)
        return false;
    inv_payment_out_t out;
    char err[256];
    int rc = inv_payment_create(db, &in, who, &out, err, sizeof err);
    if (rc == BW_EDB || rc == BW_EUNAVAIL || rc == BW_ENOMEM) {
        inv_pay_db_error(reply, db, "could not record payment", a);
    } else if (rc < 0) {
        bw_reply_error(reply, code_of(rc), bw_arena_strdup(a, err), NULL);
    } else {
        Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
        char amt[32], alloc[32], credit[32];
        bw_money_format(out.amount_minor, out.currency, amt, sizeof amt);
        bw_money_format(out.allocated_minor, out.currency, alloc, sizeof alloc);
        bw_money_format(out.amount_minor - out.allocated_minor, out.currency, credit,
                        sizeof credit);
        pr->id = bw_arena_strdup(a, out.id);
        pr->status = "recorded";
        pr->amount_minor = out.amount_minor;
        pr->currency = bw_arena_strdup(a, out.currency);
        pr->summary = bw_arena_printf(a,
                                      "recorded %s %s %s from %s: receipt %s; allocated %s,"
                                      " held as credit %s",
                                      out.id, out.currency, amt, out.account, out.receipt, alloc,
                                      credit);
        pr->document = bw_arena_strdup(a, out.receipt);
    }
    return inv_pay_end(db, reply, true);
}

/* --- refunds -------------------------------------------------------------- */

bool inv_payment_refund(bw_db_t *db, const Billow__PaymentRefund *req, const inv_actor_t *who,
                        const char *approved_by, Billow__Reply *reply, bw_arena_t *a)
{
    if (!req->payment || !*req->payment || !req->amount || !*req->amount) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "name the payment and the amount", NULL);
        return false;
    }
    if (!req->reason || !*req->reason) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "reason: required", NULL);
        return false;
    }
    if (inv_pay_begin(db, reply) < 0)
        return false;
    const char *p[1] = {req->payment};
    PGresult *r = bw_db_query(db,
                              "SELECT id, account_id, currency, unallocated_minor, receipt_number"
                              " FROM payments WHERE id = $1 OR receipt_number = $1 FOR UPDATE",
                              1, p);
    if (!r) {
        inv_pay_db_error(reply, db, "could not read payment", a);
        return inv_pay_end(db, reply, false);
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such payment",
                       bw_arena_strdup(a, req->payment));
        return inv_pay_end(db, reply, false);
    }
    char *id = bw_arena_strdup(a, PQgetvalue(r, 0, 0));
    char *account = bw_arena_strdup(a, PQgetvalue(r, 0, 1));
    char *cur = bw_arena_strdup(a, PQgetvalue(r, 0, 2));
    int64_t credit = atoll(PQgetvalue(r, 0, 3));
    PQclear(r);
    int64_t amount;
    char why[128];
    if (bw_money_parse(req->amount, cur, &amount, why, sizeof why) < 0 || amount <= 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "amount: must be a positive amount",
                       bw_arena_strdup(a, why));
        return inv_pay_end(db, reply, false);
    }
    if (amount > credit) {
        char c[32];
        bw_money_format(credit, cur, c, sizeof c);
        bw_reply_error(reply, BILLOW__CODE__CONFLICT,
                       "refund exceeds what the payment holds as credit",
                       bw_arena_printf(a, "unallocated: %s %s", cur, c));
        return inv_pay_end(db, reply, false);
    }
    if (!approved_by && amount > inv_pay_threshold(cur)) {
        Billow__InvoicingRequest op = BILLOW__INVOICING_REQUEST__INIT;
        op.op_case = BILLOW__INVOICING_REQUEST__OP_PAYMENT_REFUND;
        op.payment_refund = (Billow__PaymentRefund *)req;
        char amt[32];
        bw_money_format(amount, cur, amt, sizeof amt);
        bool ch = inv_approval_request(db, "refund",
                                       bw_arena_printf(a, "refund %s %s of payment %s: %s", cur,
                                                       amt, id, req->reason),
                                       account, cur, amount, &op, who, reply, a);
        return inv_pay_end(db, reply, ch);
    }
    char amt[24], at[40];
    snprintf(amt, sizeof amt, "%lld", (long long)amount);
    bw_time_format(bw_now_us(), at, sizeof at);
    const char *q[8] = {id, account, cur, amt, req->reason, who->actor,
                        approved_by ? approved_by : "", who->cause};
    const char *u[2] = {id, amt};
    if (bw_db_exec(db,
                   "INSERT INTO refunds (payment_id, account_id, currency, amount_minor, reason,"
                   " operator, approved_by, refunded_at, caused_by) VALUES ($1, $2, $3, $4::int8,"
                   " $5, $6, $7, now(), $8)",
                   8, q) < 0 ||
        bw_db_exec(db,
                   "UPDATE payments SET unallocated_minor = unallocated_minor - $2::int8"
                   " WHERE id = $1",
                   2, u) < 0 ||
        inv_trail(db, who->actor, who->cause, "payment", id, "refund",
                  bw_arena_printf(a, "%s %s: %s%s%s", cur, amt, req->reason,
                                  approved_by ? "; approved by " : "",
                                  approved_by ? approved_by : "")) < 0) {
        inv_pay_db_error(reply, db, "could not record refund", a);
        return inv_pay_end(db, reply, false);
    }
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    char m[32];
    bw_money_format(amount, cur, m, sizeof m);
    pr->id = id;
    pr->status = "refunded";
    pr->amount_minor = amount;
    pr->currency = cur;
    pr->summary = bw_arena_printf(a, "refunded %s %s of payment %s", cur, m, id);
    return inv_pay_end(db, reply, true);
}

/* --- receipts -------------------------------------------------------------- */

void inv_receipt_get(bw_db_t *db, const Billow__ReceiptGet *req, Billow__Reply *reply,
                     bw_arena_t *a)
{
    const char *fmt = req->format && *req->format ? req->format : "text";
    if (strcmp(fmt, "text") && strcmp(fmt, "json") && strcmp(fmt, "html")) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "format: must be text, json or html", NULL);
        return;
    }
    const char *p[1] = {req->number ? req->number : ""};
    PGresult *r = bw_db_query(
        db,
        "SELECT p.receipt_number, p.id, p.account_id, a.name, p.currency, p.amount_minor,"
        " p.method, p.reference, to_char(p.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'),"
        " p.unallocated_minor, coalesce((SELECT string_agg(invoice_number || '=' || amount_minor,"
        " ',' ORDER BY id) FROM allocations WHERE payment_id = p.id), '')"
        " FROM payments p JOIN accounts a ON a.id = p.account_id"
        " WHERE p.receipt_number = $1 OR p.id = $1",
        1, p);
    if (!r) {
        inv_pay_db_error(reply, db, "could not read receipt", a);
        return;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such receipt",
                       bw_arena_strdup(a, p[0]));
        return;
    }
#define V(c) PQgetvalue(r, 0, c)
#define J(c) bw_arena_json(a, V(c)) /* text from customers and operators */
#define H(c) bw_arena_html(a, V(c))
    const char *cur = V(4);
    char amt[32], credit[32];
    bw_money_format(atoll(V(5)), cur, amt, sizeof amt);
    bw_money_format(atoll(V(9)), cur, credit, sizeof credit);
    char *doc;
    if (!strcmp(fmt, "json")) {
        doc = bw_arena_printf(a,
                              "{\"receipt_number\":\"%s\",\"payment_id\":\"%s\",\"account_id\":"
                              "\"%s\",\"currency\":\"%s\",\"amount_minor\":%s,\"method\":\"%s\","
                              "\"received_at\":\"%s\",\"unallocated_minor\":%s,"
                              "\"allocations\":\"%s\"}",
                              J(0), J(1), J(2), J(4), V(5), J(6), J(8), V(9), J(10));
    } else if (!strcmp(fmt, "html")) {
        doc = bw_arena_printf(
            a,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Receipt %s</title>"
            "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}"
            "td{padding:.2em 1em}</style></head><body><h1>Receipt %s</h1><table>"
            "<tr><td>Received from</td><td>%s (%s)</td></tr>"
            "<tr><td>Amount</td><td>%s %s</td></tr><tr><td>Method</td><td>%s</td></tr>"
            "<tr><td>Reference</td><td>%s</td></tr><tr><td>Received</td><td>%s UTC</td></tr>"
            "<tr><td>Applied to</td><td>%s</td></tr><tr><td>Held as credit</td><td>%s %s</td></tr>"
            "</table></body></html>\n",
            H(0), H(0), H(3), H(2), H(4), amt, H(6), H(7), H(8), *V(10) ? H(10) : "-", H(4), credit);
    } else {
        doc = bw_arena_printf(a,
                              "RECEIPT %s\nreceived from:  %s (%s)\namount:         %s %s\n"
                              "method:         %s\nreference:      %s\nreceived:       %s UTC\n"
                              "applied to:     %s\nheld as credit: %s %s\npayment id:     %s\n",
                              V(0), V(3), V(2), cur, amt, V(6), *V(7) ? V(7) : "-", V(8),
                              *V(10) ? V(10) : "-", cur, credit, V(1));
    }
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    pr->id = bw_arena_strdup(a, V(0));
    pr->amount_minor = atoll(V(5));
    pr->currency = bw_arena_strdup(a, cur);
    pr->document = doc;
    pr->summary = bw_arena_printf(a, "receipt %s", V(0));
#undef V
#undef J
#undef H
    PQclear(r);
}
