/* Statement import, matching and exception handling; see reconcile.h.
 *
 * The file is validated whole before anything is written: one bad row and
 * nothing is imported (the reply lists every bad line). Rows are then taken
 * one by one in the request's transaction: the fingerprint insert (ON
 * CONFLICT DO NOTHING) decides whether the row is new, and a match records
 * the payment through inv_payment_create like any other payment. */
#include "invoicing/reconcile.h"
#include "invoicing/approvals.h"
#include "invoicing/trail.h"

#include "clock.h"
#include "csv.h"
#include "db.h"
#include "errors.h"
#include "money.h"
#include "rpc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 100000

typedef struct {
    long line;
    char *date, *currency, *payer, *reference, *method, *amount_text;
    int64_t amount;
    char *key; /* fields joined; ordinal appended for the fingerprint */
    int ordinal;
} row_t;


static bool method_ok(const char *m)
{
    static const char *const ok[] = {"cash", "cheque", "card", "bank_transfer", "alipay",
                                     "wechat_pay"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(m, ok[i]))
            return true;
    return false;
}

static int key_cmp(const void *x, const void *y)
{
    const row_t *const *a = x, *const *b = y;
    int c = strcmp((*a)->key, (*b)->key);
    return c ? c : ((*a)->line > (*b)->line) - ((*a)->line < (*b)->line);
}

/* An invoice number quoted in a reference ("payment INV-202612-000003 thx"). */
static bool invoice_in(const char *ref, char *out, size_t len)
{
    for (const char *p = strstr(ref, "INV-"); p; p = strstr(p + 1, "INV-")) {
        size_t n = 4;
        while (p[n] && (isdigit((unsigned char)p[n]) || p[n] == '-') && n < len - 1)
            n++;
        if (n >= 15) {
            memcpy(out, p, n);
            out[n] = '\0';
            return true;
        }
    }
    return false;
}

static int add_exception(bw_db_t *db, const char *row_id, const char *kind, const char *detail,
                         const char *candidate, const inv_actor_t *who)
{
    const char *p[5] = {row_id, kind, detail, candidate ? candidate : "", who->cause};
    PGresult *r = bw_db_query(db,
                              "INSERT INTO recon_exceptions (row_id, kind, detail, candidate,"
                              " caused_by) VALUES ($1::int8, $2, $3, $4, $5) RETURNING id",
                              5, p);
    if (!r)
        return BW_EDB;
    char id[24];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return inv_trail(db, who->actor, who->cause, "recon_exception", id, kind, detail);
}

/* Matches one new row; *kind gets "matched" or the exception kind. */
static int match_row(bw_db_t *db, const row_t *w, const char *row_id, const inv_actor_t *who,
                     const char **kind, bw_arena_t *a)
{
    char detail[512], inv[40];
    const char *p1[1] = {w->reference};
    if (*w->reference) {
        PGresult *r = bw_db_query(db, "SELECT receipt_number FROM payments WHERE reference = $1",
                                  1, p1);
        if (!r)
            return BW_EDB;
        if (PQntuples(r) > 0) {
            snprintf(detail, sizeof detail, "reference %s already recorded as %s", w->reference,
                     PQgetvalue(r, 0, 0));
            PQclear(r);
            *kind = "duplicate";
            return add_exception(db, row_id, "duplicate", detail, NULL, who);
        }
        PQclear(r);
    }
    const char *target = NULL;
    if (invoice_in(w->reference, inv, sizeof inv)) {
        const char *p[1] = {inv};
        PGresult *r = bw_db_query(db,
                                  "SELECT currency, total_minor - paid_minor - credited_minor,"
                                  " status FROM invoices WHERE number = $1",
                                  1, p);
        if (!r)
            return BW_EDB;
        if (PQntuples(r) == 1) {
            const char *cur = PQgetvalue(r, 0, 0), *status = PQgetvalue(r, 0, 2);
            int64_t open = atoll(PQgetvalue(r, 0, 1));
            bool settled = strcmp(status, "issued") && strcmp(status, "partially_paid") &&
                           strcmp(status, "overdue");
            if (strcmp(cur, w->currency) || settled || open != w->amount) {
                char o[32];
                bw_money_format(open, cur, o, sizeof o);
                if (strcmp(cur, w->currency))
                    snprintf(detail, sizeof detail, "%s %s paid in %s, invoice %s is in %s",
                             w->currency, w->amount_text, w->currency, inv, cur);
                else if (settled)
                    snprintf(detail, sizeof detail, "%s %s for invoice %s, which is %s",
                             w->currency, w->amount_text, inv, status);
                else
                    snprintf(detail, sizeof detail, "%s %s for invoice %s, which has %s %s open",
                             w->currency, w->amount_text, inv, cur, o);
                PQclear(r);
                *kind = "amount_mismatch";
                return add_exception(db, row_id, "amount_mismatch", detail, inv, who);
            }
            target = bw_arena_strdup(a, inv);
        }
        PQclear(r);
    }
    if (!target) {
        char amt[24];
        snprintf(amt, sizeof amt, "%lld", (long long)w->amount);
        const char *p[3] = {amt, w->currency, w->payer};
        PGresult *r = bw_db_query(
            db,
            "SELECT i.number FROM invoices i JOIN accounts a ON a.id = i.account_id"
            " WHERE i.total_minor - i.paid_minor - i.credited_minor = $1::int8"
            " AND i.currency = $2 AND i.status IN ('issued', 'partially_paid', 'overdue')"
            " AND $3 <> '' AND (lower(a.id) = lower($3) OR lower(a.name) = lower($3)"
            " OR (a.external_ref <> '' AND lower(a.external_ref) = lower($3)))"
            " ORDER BY i.due_date, i.number LIMIT 1",
            3, p);
        if (!r)
            return BW_EDB;
        if (PQntuples(r) == 1)
            target = bw_arena_strdup(a, PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    if (!target) {
        snprintf(detail, sizeof detail, "%s %s from \"%s\" ref \"%s\": no invoice by number,"
                 " nor by amount and payer", w->currency, w->amount_text, w->payer, w->reference);
        *kind = "unmatched";
        return add_exception(db, row_id, "unmatched", detail, NULL, who);
    }
    inv_payment_in_t in = {.invoice = target, .amount_minor = w->amount, .method = w->method,
                           .reference = w->reference, .source = "statement"};
    bw_time_parse(w->date, &in.received_us);
    inv_payment_out_t out;
    char err[256];
    int rc = inv_payment_create(db, &in, who, &out, err, sizeof err);
    if (rc < 0)
        return rc == BW_EDB ? rc : BW_EINVAL;
    const char *u[3] = {row_id, out.id, target};
    *kind = "matched";
    return bw_db_exec(db,
                      "UPDATE statement_rows SET outcome = 'matched', payment_id = $2,"
                      " invoice_number = $3 WHERE id = $1::int8",
                      3, u);
}

bool inv_recon_import(bw_db_t *db, const Billow__ReconcileImport *req, const inv_actor_t *who,
                      Billow__Reply *reply, bw_arena_t *a)
{
    const char *name = req->name && *req->name ? req->name : "statement";
    const char *csv = req->csv ? req->csv : "";
    bw_csv_t *c = bw_csv_new_mem(csv, strlen(csv), NULL);
    if (!c) {
        bw_reply_error(reply, BILLOW__CODE__INTERNAL, "out of memory", NULL);
        return false;
    }
    static const char *const need[] = {"date", "amount", "currency", "payer", "reference"};
    bw_abuf_t errs = {.a = a};
    int nerr = 0;
    if (bw_csv_read_header(c) < 0 || bw_csv_require(c, need, 5) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "not a statement file",
                       bw_arena_printf(a, "%s: %s (columns: date,amount,currency,payer,reference"
                                          "[,method])", name, bw_csv_error(c)));
        bw_csv_destroy(&c);
        return false;
    }
    row_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = bw_csv_next(c)) != 0) {
        if (rc < 0) {
            if (nerr++ < 50)
                bw_abuf_printf(&errs, "%s:%s\n", name, bw_csv_error(c));
            if (rc == BW_EIO || rc == BW_ENOMEM)
                break;
            continue;
        }
        if (n == MAX_ROWS) {
            bw_abuf_printf(&errs, "%s: more than %d rows\n", name, MAX_ROWS);
            nerr++;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            row_t *nr = bw_arena_alloc(a, sizeof *nr * cap);
            if (!nr)
                break;
            if (n)
                memcpy(nr, rows, sizeof *nr * n);
            rows = nr;
        }
        row_t *w = &rows[n];
        memset(w, 0, sizeof *w);
        w->line = bw_csv_line(c);
        const char *m = bw_csv_get(c, "method");
#define F(x) bw_arena_strdup(a, bw_csv_get(c, x) ? bw_csv_get(c, x) : "")
        w->date = F("date");
        w->amount_text = F("amount");
        w->currency = F("currency");
        w->payer = F("payer");
        w->reference = F("reference");
#undef F
        w->method = bw_arena_strdup(a, m && *m ? m : "bank_transfer");
        int64_t day;
        char why[128];
        const char *bad = NULL;
        if (bw_date_parse(w->date, &day) < 0)
            bad = "date: not YYYY-MM-DD";
        else if (bw_currency_exponent(w->currency) < 0)
            bad = "currency: not an ISO 4217 code";
        else if (bw_money_parse(w->amount_text, w->currency, &w->amount, why, sizeof why) < 0)
            bad = bw_arena_printf(a, "amount: %s", why);
        else if (w->amount <= 0)
            bad = "amount: must be positive (refunds and fees are not transfers in)";
        else if (!method_ok(w->method))
            bad = "method: must be cash, cheque, card, bank_transfer, alipay or wechat_pay";
        else if (strlen(w->reference) > 200 || strlen(w->payer) > 200)
            bad = "payer/reference: at most 200 characters";
        if (bad) {
            if (nerr++ < 50)
                bw_abuf_printf(&errs, "%s:%ld: %s\n", name, w->line, bad);
            continue;
        }
        w->key = bw_arena_printf(a, "%s|%lld|%s|%s|%s", w->date, (long long)w->amount,
                                 w->currency, w->payer, w->reference);
        n++;
    }
    bw_csv_destroy(&c);
    if (nerr) {
        bw_reply_error(reply, BILLOW__CODE__INVALID,
                       bw_arena_printf(a, "%d bad rows: nothing imported", nerr), errs.s);
        return false;
    }
    /* Identical rows in one file are distinct transfers: number them. */
    row_t **order = bw_arena_alloc(a, sizeof *order * (n + 1));
    for (size_t i = 0; i < n; i++)
        order[i] = &rows[i];
    qsort(order, n, sizeof *order, key_cmp);
    for (size_t i = 1; i < n; i++)
        if (!strcmp(order[i]->key, order[i - 1]->key))
            order[i]->ordinal = order[i - 1]->ordinal + 1;

    if (inv_pay_begin(db, reply) < 0)
        return false;
    long long matched = 0, seen = 0, unmatched = 0, mismatch = 0, dup = 0;
    bw_abuf_t doc = {.a = a};
    for (size_t i = 0; i < n; i++) {
        row_t *w = &rows[i];
        char line[24];
        snprintf(line, sizeof line, "%ld", w->line);
        char amt[24];
        snprintf(amt, sizeof amt, "%lld", (long long)w->amount);
        const char *p[11] = {bw_arena_printf(a, "%s|%d", w->key, w->ordinal), name, line,
                             w->date, amt, w->currency, w->payer, w->reference, w->method,
                             who->cause, NULL};
        PGresult *r = bw_db_query(
            db,
            "INSERT INTO statement_rows (fingerprint, import_name, line, value_date, amount_minor,"
            " currency, payer, reference, method, outcome, caused_by) VALUES ($1, $2, $3::int,"
            " $4::date, $5::int8, $6, $7, $8, $9, 'exception', $10)"
            " ON CONFLICT (fingerprint) DO NOTHING RETURNING id",
            10, p);
        if (!r) {
            inv_pay_db_error(reply, db, "could not import statement", a);
            return inv_pay_end(db, reply, false);
        }
        if (PQntuples(r) == 0) {
            PQclear(r);
            seen++;
            continue;
        }
        char *row_id = bw_arena_strdup(a, PQgetvalue(r, 0, 0));
        PQclear(r);
        const char *kind = "";
        if (match_row(db, w, row_id, who, &kind, a) < 0) {
            inv_pay_db_error(reply, db, "could not match statement row", a);
            return inv_pay_end(db, reply, false);
        }
        if (!strcmp(kind, "matched"))
            matched++;
        else if (!strcmp(kind, "unmatched"))
            unmatched++;
        else if (!strcmp(kind, "duplicate"))
            dup++;
        else
            mismatch++;
        bw_abuf_printf(&doc, "%s:%ld: %s %s %s %s: %s\n", name, w->line, w->date, w->currency,
            w->amount_text, w->reference, kind);
    }
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    pr->count = matched;
    pr->summary = bw_arena_printf(a,
                                  "%s: %zu rows: %lld matched, %lld unmatched, %lld amount"
                                  " mismatches, %lld duplicates, %lld already imported",
                                  name, n, matched, unmatched, mismatch, dup, seen);
    bw_abuf_printf(&doc, "%s\n", pr->summary);
    pr->document = doc.s;
    return inv_pay_end(db, reply, n > (size_t)seen);
}

void inv_recon_exceptions(bw_db_t *db, const Billow__ReconcileExceptions *req,
                          Billow__Reply *reply, bw_arena_t *a)
{
    const char *p[1] = {req->all ? "t" : "f"};
    PGresult *r = bw_db_query(
        db,
        "SELECT e.id, e.kind, e.status, s.value_date::text, s.currency, s.amount_minor, s.payer,"
        " s.reference, e.detail, e.resolution FROM recon_exceptions e"
        " JOIN statement_rows s ON s.id = e.row_id"
        " WHERE $1::bool OR e.status IN ('open', 'pending_approval') ORDER BY e.id",
        1, p);
    if (!r) {
        inv_pay_db_error(reply, db, "could not list exceptions", a);
        return;
    }
    bw_abuf_t doc = {.a = a};
    bw_abuf_printf(&doc, "%-5s %-15s %-16s %-10s %14s  %-20s %-24s %s\n", "ID", "KIND", "STATUS", "DATE",
        "AMOUNT", "PAYER", "REFERENCE", "DETAIL");
    for (int i = 0; i < PQntuples(r); i++) {
        char m[32];
        bw_money_format(atoll(PQgetvalue(r, i, 5)), PQgetvalue(r, i, 4), m, sizeof m);
        bw_abuf_printf(&doc, "%-5s %-15s %-16s %-10s %4s %9s  %-20.20s %-24.24s %s%s%s\n",
            PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
            PQgetvalue(r, i, 4), m, PQgetvalue(r, i, 6), PQgetvalue(r, i, 7),
            PQgetvalue(r, i, 8), *PQgetvalue(r, i, 9) ? "; " : "", PQgetvalue(r, i, 9));
    }
    if (PQntuples(r) == 0)
        bw_abuf_printf(&doc, "(no exceptions)\n");
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    pr->count = PQntuples(r);
    pr->document = doc.s;
    pr->summary = bw_arena_printf(a, "%d exceptions", PQntuples(r));
    PQclear(r);
}

static bool resolve_fail(bw_db_t *db, Billow__Reply *reply, Billow__Code code, const char *msg,
                         const char *detail)
{
    bw_reply_error(reply, code, msg, detail);
    return inv_pay_end(db, reply, false);
}

bool inv_recon_resolve(bw_db_t *db, const Billow__ReconcileResolve *req, const inv_actor_t *who,
                       const char *approved_by, Billow__Reply *reply, bw_arena_t *a)
{
    const char *action = req->action ? req->action : "";
    const char *reason = req->reason ? req->reason : "";
    if (strcmp(action, "assign") && strcmp(action, "refund") && strcmp(action, "dismiss")) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "action: assign, refund or dismiss", NULL);
        return false;
    }
    if (strcmp(action, "assign") && !*reason) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "reason: required to refund or dismiss",
                       NULL);
        return false;
    }
    if (inv_pay_begin(db, reply) < 0)
        return false;
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)req->exception_id);
    const char *p[1] = {id};
    PGresult *r = bw_db_query(db,
                              "SELECT e.status, s.id, s.amount_minor, s.currency, s.reference,"
                              " s.method, s.value_date::text, e.kind FROM recon_exceptions e"
                              " JOIN statement_rows s ON s.id = e.row_id WHERE e.id = $1::int8"
                              " FOR UPDATE OF e",
                              1, p);
    if (!r) {
        inv_pay_db_error(reply, db, "could not read exception", a);
        return inv_pay_end(db, reply, false);
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        return resolve_fail(db, reply, BILLOW__CODE__NOT_FOUND, "no such exception", id);
    }
    char *status = bw_arena_strdup(a, PQgetvalue(r, 0, 0));
    char *row_id = bw_arena_strdup(a, PQgetvalue(r, 0, 1));
    int64_t amount = atoll(PQgetvalue(r, 0, 2));
    char *cur = bw_arena_strdup(a, PQgetvalue(r, 0, 3));
    char *ref = bw_arena_strdup(a, PQgetvalue(r, 0, 4));
    char *method = bw_arena_strdup(a, PQgetvalue(r, 0, 5));
    char *date = bw_arena_strdup(a, PQgetvalue(r, 0, 6));
    char *kind = bw_arena_strdup(a, PQgetvalue(r, 0, 7));
    PQclear(r);
    bool open = !strcmp(status, "open") || (approved_by && !strcmp(status, "pending_approval"));
    if (!open)
        return resolve_fail(db, reply, BILLOW__CODE__CONFLICT, "exception already resolved",
                            status);
    char m[32];
    bw_money_format(amount, cur, m, sizeof m);
    const char *new_status, *resolution;
    if (!strcmp(action, "assign")) {
        const char *inv = req->invoice_number ? req->invoice_number : "";
        const char *acct = req->account_id ? req->account_id : "";
        if (!*inv && !*acct)
            return resolve_fail(db, reply, BILLOW__CODE__INVALID,
                                "assign: name an invoice or an account", NULL);
        /* A duplicate's reference is taken: the payment gets the row's own. */
        const char *pref = strcmp(kind, "duplicate") ? ref : bw_arena_printf(a, "statement-row-%s",
                                                                              row_id);
        inv_payment_in_t in = {.invoice = inv, .account = acct, .amount_minor = amount,
                               .method = method, .reference = pref, .source = "statement"};
        bw_time_parse(date, &in.received_us);
        inv_payment_out_t out;
        char err[256];
        int rc = inv_payment_create(db, &in, who, &out, err, sizeof err);
        if (rc == BW_EDB)
            return inv_pay_db_error(reply, db, "could not record payment", a),
                   inv_pay_end(db, reply, false);
        if (rc < 0)
            return resolve_fail(db, reply,
                                rc == BW_ENOTFOUND   ? BILLOW__CODE__NOT_FOUND
                                : rc == BW_ECONFLICT ? BILLOW__CODE__CONFLICT
                                                     : BILLOW__CODE__INVALID,
                                bw_arena_strdup(a, err), NULL);
        const char *u[3] = {row_id, out.id, *inv ? inv : NULL};
        if (bw_db_exec(db,
                       "UPDATE statement_rows SET payment_id = $2, invoice_number = $3"
                       " WHERE id = $1::int8",
                       3, u) < 0)
            return inv_pay_db_error(reply, db, "could not record payment", a),
                   inv_pay_end(db, reply, false);
        new_status = "assigned";
        resolution = bw_arena_printf(a, "assigned to %s as %s (receipt %s)", *inv ? inv : acct,
                                     out.id, out.receipt);
    } else if (!strcmp(action, "refund")) {
        if (!approved_by && amount > inv_pay_threshold(cur)) {
            Billow__InvoicingRequest op = BILLOW__INVOICING_REQUEST__INIT;
            op.op_case = BILLOW__INVOICING_REQUEST__OP_RECONCILE_RESOLVE;
            op.reconcile_resolve = (Billow__ReconcileResolve *)req;
            if (!inv_approval_request(db, "refund",
                                      bw_arena_printf(a, "refund %s %s of statement transfer"
                                                         " (exception %s): %s", cur, m, id,
                                                      reason),
                                      "", cur, amount, &op, who, reply, a))
                return inv_pay_end(db, reply, false);
            const char *u[1] = {id};
            if (bw_db_exec(db,
                           "UPDATE recon_exceptions SET status = 'pending_approval'"
                           " WHERE id = $1::int8",
                           1, u) < 0)
                return inv_pay_db_error(reply, db, "could not record approval", a),
                       inv_pay_end(db, reply, false);
            return inv_pay_end(db, reply, true);
        }
        char amt[24];
        snprintf(amt, sizeof amt, "%lld", (long long)amount);
        const char *q[5] = {cur, amt, reason, who->actor, approved_by ? approved_by : ""};
        const char *q2[6] = {q[0], q[1], q[2], q[3], q[4], who->cause};
        if (bw_db_exec(db,
                       "INSERT INTO refunds (currency, amount_minor, reason, operator, approved_by,"
                       " refunded_at, caused_by) VALUES ($1, $2::int8, $3, $4, $5, now(), $6)",
                       6, q2) < 0)
            return inv_pay_db_error(reply, db, "could not record refund", a),
                   inv_pay_end(db, reply, false);
        new_status = "refunded";
        resolution = bw_arena_printf(a, "refunded %s %s: %s%s%s", cur, m, reason,
                                     approved_by ? "; approved by " : "",
                                     approved_by ? approved_by : "");
    } else {
        new_status = "dismissed";
        resolution = bw_arena_printf(a, "dismissed: %s", reason);
    }
    const char *u[4] = {id, new_status, resolution, who->actor};
    if (bw_db_exec(db,
                   "UPDATE recon_exceptions SET status = $2, resolution = $3, resolved_by = $4,"
                   " resolved_at = now() WHERE id = $1::int8",
                   4, u) < 0 ||
        inv_trail(db, who->actor, who->cause, "recon_exception", id, new_status, resolution) < 0)
        return inv_pay_db_error(reply, db, "could not resolve exception", a),
               inv_pay_end(db, reply, false);
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    pr->id = bw_arena_strdup(a, id);
    pr->status = (char *)new_status;
    pr->summary = bw_arena_printf(a, "exception %s %s", id, resolution);
    return inv_pay_end(db, reply, true);
}
