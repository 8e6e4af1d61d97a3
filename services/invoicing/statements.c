/* Statements of account; see statements.h. One query lists every dated
 * movement of the account (invoices and refunds owed, payments and credit
 * notes received); the opening balance is the sum of those before the
 * range, so the statement always ties to the audit's balance. */
#include "invoicing/statements.h"
#include "invoicing/document.h"
#include "invoicing/payments.h"

#include "clock.h"
#include "db.h"
#include "money.h"
#include "rpc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_MOVES[] =
    "SELECT d::text, kind, ref, detail, amount FROM ("
    " SELECT issue_date d, 1 o, 'invoice' kind, number ref, 'period ' || period detail,"
    "  total_minor amount FROM invoices WHERE account_id = $1"
    " UNION ALL SELECT (received_at AT TIME ZONE 'UTC')::date, 2, 'payment', receipt_number,"
    "  method || CASE WHEN reference <> '' THEN ' ref ' || reference ELSE '' END, -amount_minor"
    "  FROM payments WHERE account_id = $1"
    " UNION ALL SELECT (issued_at AT TIME ZONE 'UTC')::date, 3, 'credit_note', number,"
    "  'for ' || invoice_number || ': ' || reason, -amount_minor FROM credit_notes"
    "  WHERE account_id = $1"
    " UNION ALL SELECT (refunded_at AT TIME ZONE 'UTC')::date, 4, 'refund', 'REF-' || id,"
    "  reason, amount_minor FROM refunds WHERE account_id = $1 AND payment_id IS NOT NULL) m"
    " WHERE d <= $2::date ORDER BY d, o, ref";



void inv_statement_get(bw_db_t *db, const Billow__StatementGet *req, Billow__Reply *reply,
                       bw_arena_t *a)
{
    const char *fmt = req->format && *req->format ? req->format : "text";
    if (strcmp(fmt, "text") && strcmp(fmt, "json") && strcmp(fmt, "html")) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "format: must be text, json or html", NULL);
        return;
    }
    int64_t from = 0, to = bw_now_us() / 86400000000LL;
    if ((req->from && *req->from && bw_date_parse(req->from, &from) < 0) ||
        (req->to && *req->to && bw_date_parse(req->to, &to) < 0) || from > to) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "from/to: dates YYYY-MM-DD, from <= to",
                       NULL);
        return;
    }
    char f[16], t[16];
    bw_date_format(from, f, sizeof f);
    bw_date_format(to, t, sizeof t);
    const char *p[3] = {req->account_id ? req->account_id : "", f, t};
    PGresult *acc = bw_db_query(db, "SELECT name, currency FROM accounts WHERE id = $1", 1, p);
    if (!acc) {
        inv_pay_db_error(reply, db, "could not read account", a);
        return;
    }
    if (PQntuples(acc) != 1) {
        PQclear(acc);
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such account",
                       bw_arena_strdup(a, p[0]));
        return;
    }
    const char *name = bw_arena_strdup(a, PQgetvalue(acc, 0, 0));
    const char *cur = bw_arena_strdup(a, PQgetvalue(acc, 0, 1));
    PQclear(acc);
    const char *pm[2] = {p[0], t};
    PGresult *r = bw_db_query(db, SQL_MOVES, 2, pm);
    if (!r) {
        inv_pay_db_error(reply, db, "could not read statement", a);
        return;
    }
    int64_t opening = 0, bal;
    int first = 0, n = PQntuples(r);
    while (first < n && strcmp(PQgetvalue(r, first, 0), f) < 0)
        opening += atoll(PQgetvalue(r, first++, 4));
    bw_abuf_t b = {.a = a};
    char m1[48], m2[48];
    inv_format_money(opening, cur, m1, sizeof m1);
    if (!strcmp(fmt, "json")) {
        bw_abuf_printf(&b, "{\"account_id\":\"%s\",\"name\":\"%s\",\"currency\":\"%s\",\"from\":\"%s\","
                "\"to\":\"%s\",\"opening_minor\":%lld,\"entries\":[",
            bw_arena_json(a, p[0]), bw_arena_json(a, name), cur, f, t, (long long)opening);
    } else if (!strcmp(fmt, "html")) {
        bw_abuf_printf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Statement %s</title>"
                "<style>body{font-family:sans-serif;max-width:56em;margin:2em auto}"
                "table{border-collapse:collapse;width:100%%}td,th{padding:.25em .6em;"
                "border-bottom:1px solid #ddd;text-align:left}td.n{text-align:right}</style>"
                "</head><body><h1>Statement of account</h1><p>%s (%s)<br>%s to %s</p><table>"
                "<tr><th>Date</th><th>Document</th><th>Detail</th><th>Amount</th>"
                "<th>Balance</th></tr><tr><td>%s</td><td colspan=3>Opening balance</td>"
                "<td class=n>%s</td></tr>\n",
            bw_arena_html(a, p[0]), bw_arena_html(a, name), bw_arena_html(a, p[0]), f, t, f, m1);
    } else {
        bw_abuf_printf(&b, "STATEMENT OF ACCOUNT %s (%s)\nperiod: %s to %s\n\n%-10s  %-11s  %-18s  %-30s  %16s"
                "  %16s\n%-10s  %-11s  %-18s  %-30s  %16s  %16s\n",
            p[0], name, f, t, "DATE", "KIND", "DOCUMENT", "DETAIL", "AMOUNT", "BALANCE", f,
            "opening", "", "", "", m1);
    }
    bal = opening;
    for (int i = first; i < n; i++) {
        int64_t v = atoll(PQgetvalue(r, i, 4));
        bal += v;
        inv_format_money(v, cur, m1, sizeof m1);
        inv_format_money(bal, cur, m2, sizeof m2);
        const char *d = PQgetvalue(r, i, 0), *k = PQgetvalue(r, i, 1), *ref = PQgetvalue(r, i, 2),
                   *det = PQgetvalue(r, i, 3);
        if (!strcmp(fmt, "json"))
            bw_abuf_printf(&b, "%s{\"date\":\"%s\",\"kind\":\"%s\",\"document\":\"%s\",\"detail\":\"%s\","
                    "\"amount_minor\":%lld,\"balance_minor\":%lld}",
                i > first ? "," : "", d, k, bw_arena_json(a, ref), bw_arena_json(a, det), (long long)v,
                (long long)bal);
        else if (!strcmp(fmt, "html"))
            bw_abuf_printf(&b, "<tr><td>%s</td><td>%s %s</td><td>%s</td><td class=n>%s</td>"
                    "<td class=n>%s</td></tr>\n",
                d, k, bw_arena_html(a, ref), bw_arena_html(a, det), m1, m2);
        else
            bw_abuf_printf(&b, "%-10s  %-11s  %-18s  %-30.30s  %16s  %16s\n", d, k, ref, det, m1, m2);
    }
    PQclear(r);
    inv_format_money(bal, cur, m2, sizeof m2);
    if (!strcmp(fmt, "json"))
        bw_abuf_printf(&b, "],\"closing_minor\":%lld}", (long long)bal);
    else if (!strcmp(fmt, "html"))
        bw_abuf_printf(&b, "<tr><th>%s</th><th colspan=3>Closing balance%s</th><th class=n>%s</th></tr>"
                "</table></body></html>\n",
            t, bal < 0 ? " (in your favour)" : "", m2);
    else
        bw_abuf_printf(&b, "%-10s  %-11s  %-18s  %-30s  %16s  %16s\n", t, "closing", "",
            bal < 0 ? "(credit in your favour)" : "", "", m2);
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    pr->document = b.s ? b.s : "";
    pr->amount_minor = bal;
    pr->currency = (char *)cur;
    pr->summary = bw_arena_printf(a, "statement %s %s..%s closing %s", p[0], f, t, m2);
}
