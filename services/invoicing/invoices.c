/* Invoice creation from AccountRated, and invoice queries.
 *
 * Numbering: each series (INV-202611) is one row in number_series. A batch
 * takes its numbers with one UPDATE ... RETURNING inside the batch's
 * transaction, so a rolled-back or crashed batch returns its numbers with
 * everything else (no gap), and concurrent workers queue on the row lock (no
 * duplicate). The lock is taken after the batch is built in memory, so it is
 * held only for the COPYs and the commit. */
#include "invoicing/invoices.h"
#include "invoicing/document.h"
#include "invoicing/numbering.h"
#include "invoicing/payments.h"
#include "invoicing/payplan.h"
#include "invoicing/tax.h"

#include "clock.h"
#include "config.h"
#include "copybuf.h"
#include "db.h"
#include "errors.h"
#include "events.h"
#include "log.h"
#include "money.h"
#include "outbox.h"
#include "rpc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    inv_seller_t seller;
    bool issue_zero;
    bool html_in_event;
} cfg;

int inv_invoices_init(void)
{
    cfg.seller.name = bw_env_str("BILLOW_SELLER_NAME", "Billow Demo Services Co., Ltd.");
    cfg.seller.address = bw_env_str("BILLOW_SELLER_ADDRESS", "1 Example Road, Shanghai");
    cfg.seller.tax_id = bw_env_str("BILLOW_SELLER_TAX_ID", "91310000MA1EXAMPLE");
    cfg.seller.bank_name = bw_env_str("BILLOW_SELLER_BANK", "Example Bank, Shanghai Branch");
    cfg.seller.bank_account = bw_env_str("BILLOW_SELLER_BANK_ACCOUNT", "6222 0000 0000 0000");
    cfg.seller.payment_instructions = bw_env_str(
        "BILLOW_PAYMENT_INSTRUCTIONS",
        "Pay by bank transfer quoting the invoice number, or by Alipay / WeChat Pay.");
    long long v;
    if (bw_env_int("BILLOW_ISSUE_ZERO_INVOICES", 0, 0, 1, &v) < 0)
        return BW_EINVAL;
    cfg.issue_zero = v;
    if (bw_env_int("BILLOW_INVOICE_HTML_IN_EVENT", 1, 0, 1, &v) < 0)
        return BW_EINVAL;
    cfg.html_in_event = v;
    return 0;
}

/* --- building invoices ------------------------------------------------- */

typedef struct {
    const Billow__StreamEvent *se;
    const Billow__AccountRated *ar;
    const char *name, *currency, *tax_profile, *language, *email, *phone, *webhook, *plan_spec;
    int terms_days;
    bool known;
    const char *outcome; /* NULL: to invoice */
    const char *error;
    inv_document_t doc;
    inv_line_t *lines;
    inv_payplan_t *plan;
    char series[24];
    long long seq;
    char *number;
} item_t;

static bool id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-:", *s))
            return false;
    return true;
}

static inv_line_kind_t kind_of(const char *k)
{
    if (!k)
        return INV_LINE_CHARGE;
    if (!strcmp(k, "discount"))
        return INV_LINE_DISCOUNT;
    if (!strcmp(k, "proration"))
        return INV_LINE_PRORATION;
    if (!strcmp(k, "true_up"))
        return INV_LINE_TRUE_UP;
    if (!strcmp(k, "setup"))
        return INV_LINE_SETUP;
    return INV_LINE_CHARGE;
}

/* A text[] literal of one string per item (get(item)), each element quoted
 * so that any text survives: periods and run ids come from events. */
static char *text_array(item_t *items, size_t n, const char *(*get)(const item_t *),
                        bw_arena_t *a)
{
    size_t cap = 3;
    for (size_t i = 0; i < n; i++)
        cap += 2 * strlen(get(&items[i])) + 3;
    char *s = bw_arena_alloc(a, cap), *p = s;
    *p++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (const char *q = get(&items[i]); *q; q++) {
            if (*q == '"' || *q == '\\')
                *p++ = '\\';
            *p++ = *q;
        }
        *p++ = '"';
    }
    *p++ = '}';
    *p = '\0';
    return s;
}

static const char *get_account(const item_t *it) { return it->ar->account_id; }
static const char *get_period(const item_t *it) { return it->ar->period; }
static const char *get_run(const item_t *it) { return it->ar->run_id ? it->ar->run_id : ""; }

static int item_cmp(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    int c = strcmp(x->ar->account_id, y->ar->account_id);
    return c ? c : strcmp(x->ar->period, y->ar->period);
}

/* One query per batch reads each item's account and whether the item was
 * already recorded (a replayed event: an invoice for the account and
 * period, or a result of its bill run), so that it is skipped. Each lookup is
 * a LATERAL probe of a unique index per item, whatever the planner's
 * statistics say: with `= ANY(array)` and tables not yet analysed (a month
 * end fills them from empty) it chose sequential scans, and each batch read
 * the whole of invoices and bill_run_results (quadratic in the run). A
 * result of the event's own run means it was handled in that run, whatever
 * the period it names (a mismatch would otherwise stall the stream on the
 * results' primary key). */
static const char SQL_LOOKUP[] =
    "SELECT a.id IS NOT NULL, a.name, a.currency, a.tax_profile, a.language, a.terms_days,"
    " a.email, a.phone, a.webhook_url, a.payment_plan, i.x IS NOT NULL OR r.x IS NOT NULL"
    " FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(id, period, run, ord)"
    " LEFT JOIN LATERAL (SELECT * FROM accounts WHERE id = u.id LIMIT 1) a ON true"
    " LEFT JOIN LATERAL (SELECT 1 AS x FROM invoices WHERE account_id = u.id"
    "  AND period = u.period LIMIT 1) i ON true"
    " LEFT JOIN LATERAL (SELECT 1 AS x FROM bill_run_results"
    "  WHERE run_id = u.run AND account_id = u.id LIMIT 1) r ON true"
    " ORDER BY u.ord";

static int lookup(bw_db_t *db, item_t *items, size_t n, bw_arena_t *a)
{
    const char *p[3] = {text_array(items, n, get_account, a), text_array(items, n, get_period, a),
                        text_array(items, n, get_run, a)};
    PGresult *res = bw_db_query(db, SQL_LOOKUP, 3, p);
    if (!res)
        return BW_EDB;
    if ((size_t)PQntuples(res) != n) {
        PQclear(res);
        return BW_EDB;
    }
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        int r = (int)i;
        if (*PQgetvalue(res, r, 10) == 't')
            it->outcome = "done";
        if (*PQgetvalue(res, r, 0) != 't')
            continue;
        it->known = true;
        it->name = bw_arena_strdup(a, PQgetvalue(res, r, 1));
        it->currency = bw_arena_strdup(a, PQgetvalue(res, r, 2));
        it->tax_profile = bw_arena_strdup(a, PQgetvalue(res, r, 3));
        it->language = bw_arena_strdup(a, PQgetvalue(res, r, 4));
        it->terms_days = atoi(PQgetvalue(res, r, 5));
        it->email = bw_arena_strdup(a, PQgetvalue(res, r, 6));
        it->phone = bw_arena_strdup(a, PQgetvalue(res, r, 7));
        it->webhook = bw_arena_strdup(a, PQgetvalue(res, r, 8));
        it->plan_spec = bw_arena_strdup(a, PQgetvalue(res, r, 9));
    }
    PQclear(res);
    /* The same account and period twice in one batch: keep the first. */
    for (size_t i = 1; i < n; i++)
        if (!items[i].outcome && !item_cmp(&items[i], &items[i - 1]))
            items[i].outcome = "done";
    return 0;
}

static void fail_item(item_t *it, const char *why, bw_arena_t *a)
{
    it->outcome = "failed";
    it->error = bw_arena_strdup(a, why);
    bw_log(BW_WARN, "could not invoice account", "account", BW_S(it->ar->account_id), "run",
           BW_S(it->ar->run_id), "error", BW_S(why), NULL);
}

static void build(item_t *it, int64_t today, bw_arena_t *a)
{
    const Billow__AccountRated *ar = it->ar;
    char err[256];
    if (!it->known) {
        fail_item(it, "unknown account", a);
        return;
    }
    if (strcmp(ar->currency, it->currency) != 0) {
        fail_item(it, bw_arena_printf(a, "rated in %s but the account bills in %s", ar->currency,
                                      it->currency), a);
        return;
    }
    const inv_tax_profile_t *prof = inv_tax_profile_find(it->tax_profile);
    if (!prof) {
        fail_item(it, "unknown tax profile", a);
        return;
    }
    int64_t ps, pe;
    if (bw_date_parse(ar->period_start, &ps) < 0 || bw_date_parse(ar->period_end, &pe) < 0) {
        fail_item(it, "period dates do not parse", a);
        return;
    }
    it->lines = bw_arena_alloc(a, sizeof *it->lines * (ar->n_lines + 1));
    memset(it->lines, 0, sizeof *it->lines * (ar->n_lines + 1));
    for (size_t i = 0; i < ar->n_lines; i++) {
        const Billow__RatedLine *rl = ar->lines[i];
        inv_line_t *l = &it->lines[i];
        l->description = rl->description;
        l->fee_item = rl->fee_item;
        l->kind = kind_of(rl->kind);
        l->quantity = rl->quantity;
        l->unit = rl->unit;
        l->unit_price = rl->unit_price;
        /* A tiered charge has no single unit price and a discount's "price"
         * is its rate: show neither rather than a misleading number (the
         * breakdown is in `billctl rate explain`). */
        if (rl->n_tiers > 0 || l->kind == INV_LINE_DISCOUNT)
            l->unit_price = "";
        if (l->kind == INV_LINE_DISCOUNT)
            l->quantity = "";
        l->amount_minor = rl->amount_minor;
        l->tax_category = rl->tax_category;
    }
    inv_document_t *d = &it->doc;
    memset(d, 0, sizeof *d);
    d->kind = INV_DOC_INVOICE;
    d->status = INV_STATUS_ISSUED;
    inv_lang_parse(it->language, &d->lang);
    d->bill_run = ar->run_id && *ar->run_id ? ar->run_id : NULL;
    d->currency = it->currency;
    d->period_start = ps;
    d->period_end = pe;
    d->issue_date = today;
    d->due_date = today + it->terms_days;
    d->seller = cfg.seller;
    d->customer.account_id = ar->account_id;
    d->customer.name = it->name;
    d->customer.email = it->email;
    d->lines = it->lines;
    d->nlines = ar->n_lines;
    if (inv_document_compute(d, prof, prof->mode, err, sizeof err) < 0) {
        fail_item(it, err, a);
        return;
    }
    if (d->total_minor == 0 && !cfg.issue_zero) {
        it->outcome = "nothing_to_bill";
        return;
    }
    if (d->total_minor < 0) {
        fail_item(it, "total is negative: a credit note is needed, not an invoice", a);
        return;
    }
    inv_plan_spec_t spec;
    inv_milestone_t ms[INV_PLAN_MAX_MILESTONES];
    char labels[INV_PLAN_MAX_MILESTONES][INV_PLAN_LABEL_LEN];
    if (inv_plan_parse(it->plan_spec, it->terms_days, &spec, ms, labels, err, sizeof err) < 0) {
        fail_item(it, bw_arena_printf(a, "payment_plan: %s", err), a);
        return;
    }
    if (spec.kind == INV_PLAN_MILESTONES)
        ms[0].due_days = today + it->terms_days; /* the first part is due on terms */
    if (inv_payplan_build(&spec, today, d->total_minor, &it->plan, err, sizeof err) < 0) {
        fail_item(it, err, a);
        return;
    }
    d->instalments = it->plan->items;
    d->ninstalments = it->plan->n;
    inv_series_key_for_date(INV_SERIES_INVOICE, today, it->series, sizeof it->series);
}

/* Takes numbers for every item to invoice, series by series in a fixed
 * order (so concurrent workers lock series rows in the same order). */
static int allocate_numbers(bw_db_t *db, item_t *items, size_t n, bw_arena_t *a)
{
    for (;;) {
        const char *series = NULL;
        long long count = 0;
        for (size_t i = 0; i < n; i++) {
            if (items[i].outcome || items[i].number)
                continue;
            if (!series || strcmp(items[i].series, series) < 0)
                series = items[i].series;
        }
        if (!series)
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!items[i].outcome && !items[i].number && !strcmp(items[i].series, series))
                count++;
        char cnt[24];
        snprintf(cnt, sizeof cnt, "%lld", count);
        const char *p[2] = {series, cnt};
        PGresult *res = bw_db_query(
            db, "INSERT INTO number_series AS s (series, last) VALUES ($1, $2::int8)"
                " ON CONFLICT (series) DO UPDATE SET last = s.last + $2::int8 RETURNING last",
            2, p);
        if (!res)
            return BW_EDB;
        long long last = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
        long long next = last - count + 1;
        char *key = bw_arena_strdup(a, series);
        for (size_t i = 0; i < n; i++) {
            if (items[i].outcome || items[i].number || strcmp(items[i].series, key) != 0)
                continue;
            inv_docno_t dn;
            dn.series = INV_SERIES_INVOICE;
            int y, m, d;
            bw_civil_from_days(items[i].doc.issue_date, &y, &m, &d);
            dn.year = y;
            dn.month = m;
            dn.counter = next;
            items[i].seq = next++;
            char buf[40];
            if (inv_docno_format(&dn, buf, sizeof buf) < 0)
                return BW_EINVAL;
            items[i].number = bw_arena_strdup(a, buf);
            items[i].doc.number = items[i].number;
        }
    }
}

static void date_str(int64_t days, char *buf, size_t len)
{
    if (days == INV_DATE_UNSET)
        buf[0] = '\0';
    else
        bw_date_format(days, buf, len);
}

static Billow__InvoiceIssued *issued_event(item_t *it, inv_buf_t *html, bw_arena_t *a)
{
    inv_document_t *d = &it->doc;
    Billow__InvoiceIssued *e = bw_arena_alloc(a, sizeof *e);
    billow__invoice_issued__init(e);
    char buf[16];
    e->invoice_number = it->number;
    e->account_id = it->ar->account_id;
    e->account_name = (char *)it->name;
    e->run_id = it->ar->run_id;
    e->period = it->ar->period;
    e->currency = (char *)d->currency;
    e->subtotal_minor = d->subtotal_minor;
    e->tax_minor = d->tax_minor;
    e->total_minor = d->total_minor;
    bw_date_format(d->issue_date, buf, sizeof buf);
    e->issue_date = bw_arena_strdup(a, buf);
    bw_date_format(d->due_date, buf, sizeof buf);
    e->due_date = bw_arena_strdup(a, buf);
    e->language = (char *)it->language;
    e->email = (char *)it->email;
    e->phone = (char *)it->phone;
    e->webhook_url = (char *)it->webhook;
    e->payment_instructions = (char *)cfg.seller.payment_instructions;
    e->n_lines = d->nlines;
    e->lines = bw_arena_alloc(a, sizeof *e->lines * (d->nlines + 1));
    for (size_t i = 0; i < d->nlines; i++) {
        Billow__InvoiceLine *l = bw_arena_alloc(a, sizeof *l);
        billow__invoice_line__init(l);
        l->fee_item = (char *)d->lines[i].fee_item;
        l->description = (char *)d->lines[i].description;
        l->kind = (char *)inv_line_kind_name(d->lines[i].kind);
        l->quantity = (char *)d->lines[i].quantity;
        l->unit_price = (char *)d->lines[i].unit_price;
        l->amount_minor = d->lines[i].net_minor;
        l->tax_category = (char *)d->lines[i].tax_category;
        l->tax_minor = d->lines[i].tax_minor;
        e->lines[i] = l;
    }
    e->n_instalments = d->ninstalments;
    e->instalments = bw_arena_alloc(a, sizeof *e->instalments * (d->ninstalments + 1));
    for (size_t i = 0; i < d->ninstalments; i++) {
        Billow__Instalment *in = bw_arena_alloc(a, sizeof *in);
        billow__instalment__init(in);
        in->seq = d->instalments[i].seq;
        date_str(d->instalments[i].due_days, buf, sizeof buf);
        in->due_date = bw_arena_strdup(a, buf);
        in->amount_minor = d->instalments[i].amount_minor;
        in->label = bw_arena_strdup(a, d->instalments[i].label);
        e->instalments[i] = in;
    }
    e->html = html ? bw_arena_strdup(a, inv_buf_data(html)) : "";
    return e;
}

static int write_batch(bw_db_t *db, item_t *items, size_t n, bw_arena_t *a)
{
    bw_copybuf_t inv, lines, inst, res, trail;
    bw_copybuf_init(&inv);
    bw_copybuf_init(&lines);
    bw_copybuf_init(&inst);
    bw_copybuf_init(&res);
    bw_copybuf_init(&trail);
    bw_outbox_event_t *evs = calloc(n + 1, sizeof *evs);
    uint8_t **bufs = calloc(n + 1, sizeof *bufs);
    inv_buf_t *html = cfg.html_in_event ? inv_buf_new() : NULL;
    size_t nev = 0;
    int rc = 0;
    char sd[16], ed[16], id[16], dd[16];
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        const Billow__AccountRated *ar = it->ar;
        if (it->outcome && !strcmp(it->outcome, "done"))
            continue;
        if (ar->run_id && *ar->run_id) {
            bw_copybuf_str(&res, ar->run_id);
            bw_copybuf_str(&res, ar->account_id);
            bw_copybuf_str(&res, it->outcome ? it->outcome : "invoiced");
            bw_copybuf_str(&res, it->number);
            bw_copybuf_str(&res, it->error);
            bw_copybuf_str(&res, it->se->event_id);
            bw_copybuf_end(&res);
        }
        if (it->outcome)
            continue;
        inv_document_t *d = &it->doc;
        bw_date_format(d->period_start, sd, sizeof sd);
        bw_date_format(d->period_end, ed, sizeof ed);
        bw_date_format(d->issue_date, id, sizeof id);
        bw_date_format(d->due_date, dd, sizeof dd);
        bw_copybuf_str(&inv, it->number);
        bw_copybuf_str(&inv, it->series);
        bw_copybuf_int(&inv, it->seq);
        bw_copybuf_str(&inv, ar->account_id);
        bw_copybuf_str(&inv, ar->run_id && *ar->run_id ? ar->run_id : NULL);
        bw_copybuf_str(&inv, ar->period);
        bw_copybuf_str(&inv, sd);
        bw_copybuf_str(&inv, ed);
        bw_copybuf_str(&inv, d->currency);
        bw_copybuf_int(&inv, d->subtotal_minor);
        bw_copybuf_int(&inv, d->tax_minor);
        bw_copybuf_int(&inv, d->total_minor);
        bw_copybuf_str(&inv, id);
        bw_copybuf_str(&inv, dd);
        bw_copybuf_str(&inv, it->language);
        bw_copybuf_str(&inv, it->tax_profile);
        bw_copybuf_str(&inv, it->plan_spec && *it->plan_spec ? it->plan_spec : "once");
        bw_copybuf_str(&inv, it->se->event_id);
        bw_copybuf_end(&inv);
        char *cause = bw_arena_printf(a, "event:%s", it->se->event_id);
        char *detail = bw_arena_printf(a, "account %s", ar->account_id);
        bw_copybuf_str(&trail, "invoicing");
        bw_copybuf_str(&trail, cause);
        bw_copybuf_str(&trail, "invoice");
        bw_copybuf_str(&trail, it->number);
        bw_copybuf_str(&trail, "issued");
        bw_copybuf_str(&trail, detail);
        bw_copybuf_end(&trail);
        for (size_t k = 0; k < d->nlines; k++) {
            const inv_line_t *l = &d->lines[k];
            bw_copybuf_str(&lines, it->number);
            bw_copybuf_int(&lines, (long long)k + 1);
            bw_copybuf_str(&lines, l->fee_item ? l->fee_item : "");
            bw_copybuf_str(&lines, l->description ? l->description : "");
            bw_copybuf_str(&lines, inv_line_kind_name(l->kind));
            bw_copybuf_str(&lines, l->quantity ? l->quantity : "");
            bw_copybuf_str(&lines, l->unit ? l->unit : "");
            bw_copybuf_str(&lines, l->unit_price ? l->unit_price : "");
            bw_copybuf_int(&lines, l->amount_minor);
            bw_copybuf_int(&lines, l->net_minor);
            bw_copybuf_str(&lines, l->tax_category && *l->tax_category ? l->tax_category : "standard");
            bw_copybuf_int(&lines, l->tax_rate_ppm);
            bw_copybuf_int(&lines, l->tax_minor);
            bw_copybuf_end(&lines);
        }
        /* Payable at once is the invoice's own due date and total: it gets
         * no instalment row (readers supply it, see inv_invoice_get), which
         * spares the month end one row and one index entry per invoice. */
        for (size_t k = 0; it->plan->kind != INV_PLAN_ONCE && k < d->ninstalments; k++) {
            char due[16];
            date_str(d->instalments[k].due_days, due, sizeof due);
            bw_copybuf_str(&inst, it->number);
            bw_copybuf_int(&inst, d->instalments[k].seq);
            bw_copybuf_str(&inst, d->instalments[k].label);
            bw_copybuf_str(&inst, due[0] ? due : NULL);
            bw_copybuf_int(&inst, d->instalments[k].amount_minor);
            bw_copybuf_end(&inst);
        }
        /* A document that will not render must not stall the stream (the
         * batch would be retried forever): the invoice is issued and its
         * event goes out without the HTML, which notification can render
         * from the lines; the error is logged for the audit. */
        inv_buf_t *doc = html;
        if (html) {
            char err[256];
            inv_buf_reset(html);
            if (inv_document_render_html(d, html, err, sizeof err) < 0) {
                bw_log(BW_ERROR, "could not render invoice", "invoice", BW_S(it->number), "error",
                       BW_S(err), NULL);
                doc = NULL;
            }
        }
        Billow__Event ev = BILLOW__EVENT__INIT;
        ev.body_case = BILLOW__EVENT__BODY_INVOICE_ISSUED;
        ev.invoice_issued = issued_event(it, doc, a);
        size_t len = billow__event__get_packed_size(&ev);
        bufs[nev] = malloc(len ? len : 1);
        if (!bufs[nev]) {
            rc = BW_ENOMEM;
            goto out;
        }
        billow__event__pack(&ev, bufs[nev]);
        evs[nev] = (bw_outbox_event_t){.type = "InvoiceIssued", .partition_key = ar->account_id,
                                       .payload = bufs[nev], .len = len,
                                       .caused_by = it->se->event_id};
        nev++;
    }
    if ((rc = bw_copybuf_send(&inv, db,
                        "COPY invoices (number, series, seq, account_id, run_id, period,"
                        " period_start, period_end, currency, subtotal_minor, tax_minor,"
                        " total_minor, issue_date, due_date, language, tax_profile, plan,"
                        " caused_by) FROM STDIN")) < 0 ||
        (rc = bw_copybuf_send(&lines, db,
                        "COPY invoice_lines (number, line_no, fee_item, description, kind,"
                        " quantity, unit, unit_price, amount_minor, net_minor, tax_category,"
                        " tax_rate_ppm, tax_minor) FROM STDIN")) < 0 ||
        (rc = bw_copybuf_send(&inst, db, "COPY invoice_instalments (number, seq, label, due_date, amount_minor) FROM STDIN")) < 0 ||
        (rc = bw_copybuf_send(&res, db,
                        "COPY bill_run_results (run_id, account_id, outcome, invoice_number,"
                        " error, caused_by) FROM STDIN")) < 0 ||
        (rc = bw_copybuf_send(&trail, db, "COPY trail (actor, cause, entity, entity_id, action, detail) FROM STDIN")) < 0)
        goto out;
    /* Each run counts its results; one that reaches its due count is done.
     * A batch holds very few runs (usually one), so they are tallied in a
     * short list and updated in id order, so workers cannot deadlock. */
    {
        const char **runs = bw_arena_alloc(a, sizeof *runs * (n + 1));
        long long *counts = bw_arena_alloc(a, sizeof *counts * (n + 1));
        size_t nruns = 0;
        for (size_t i = 0; i < n; i++) {
            const char *run = items[i].ar->run_id;
            if (!*run || (items[i].outcome && !strcmp(items[i].outcome, "done")))
                continue;
            size_t k = 0;
            while (k < nruns && strcmp(runs[k], run))
                k++;
            if (k == nruns) {
                runs[nruns] = run;
                counts[nruns++] = 0;
            }
            counts[k]++;
        }
        for (size_t a1 = 0; a1 < nruns; a1++)
            for (size_t b1 = a1 + 1; b1 < nruns; b1++)
                if (strcmp(runs[b1], runs[a1]) < 0) {
                    const char *t = runs[a1];
                    long long c = counts[a1];
                    runs[a1] = runs[b1], counts[a1] = counts[b1];
                    runs[b1] = t, counts[b1] = c;
                }
        for (size_t k = 0; k < nruns; k++) {
            char c[24];
            snprintf(c, sizeof c, "%lld", counts[k]);
            const char *p[2] = {runs[k], c};
            if ((rc = bw_db_exec(db,
                                 "UPDATE bill_runs SET done = done + $2::int8, finished_at ="
                                 " CASE WHEN done + $2::int8 >= due THEN now() END WHERE id = $1",
                                 2, p)) < 0)
                goto out;
        }
    }
    rc = bw_outbox_append(db, evs, nev);
out:
    for (size_t i = 0; i < nev; i++)
        free(bufs[i]);
    free(bufs);
    free(evs);
    inv_buf_destroy(&html);
    bw_copybuf_free(&inv);
    bw_copybuf_free(&lines);
    bw_copybuf_free(&inst);
    bw_copybuf_free(&res);
    bw_copybuf_free(&trail);
    return rc;
}

/* Hands the accounts of the batch's new invoices to payments, which
 * allocates any credit they hold (one query per batch; the trail rows of
 * the issue were written with the invoices). */
static int on_issued(bw_db_t *db, item_t *items, size_t n, bw_arena_t *a)
{
    size_t cap = 3, k = 0;
    for (size_t i = 0; i < n; i++)
        if (!items[i].outcome && items[i].number) {
            cap += strlen(items[i].ar->account_id) + 1;
            k++;
        }
    if (k == 0)
        return 0;
    char *accts = bw_arena_alloc(a, cap), *q = accts;
    *q++ = '{';
    for (size_t i = 0; i < n; i++)
        if (!items[i].outcome && items[i].number)
            q += sprintf(q, "%s%s", q[-1] == '{' ? "" : ",", items[i].ar->account_id);
    strcpy(q, "}");
    return inv_pay_on_issued(db, accts);
}

int inv_invoices_apply(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                       bw_arena_t *arena)
{
    (void)arg;
    item_t *items = calloc(n + 1, sizeof *items);
    if (!items)
        return BW_ENOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        Billow__Event *ev =
            billow__event__unpack(bw_arena_pb(arena), evs[i]->payload.len, evs[i]->payload.data);
        if (!ev) {
            bw_log(BW_WARN, "skipping undecodable event", "seq", BW_I(evs[i]->seq), NULL);
            continue;
        }
        if (ev->body_case != BILLOW__EVENT__BODY_ACCOUNT_RATED)
            continue;
        items[m].se = evs[i];
        items[m].ar = ev->account_rated;
        if (!ev->account_rated->account_id || !id_ok(ev->account_rated->account_id) ||
            !ev->account_rated->period || !*ev->account_rated->period) {
            bw_log(BW_WARN, "skipping AccountRated without a valid account or period", "seq",
                   BW_I(evs[i]->seq), NULL);
            continue;
        }
        m++;
    }
    int rc = 0;
    if (m == 0)
        goto out;
    qsort(items, m, sizeof *items, item_cmp);
    int64_t today = bw_now_us() / 86400000000LL;
    if ((rc = lookup(db, items, m, arena)) < 0)
        goto out;
    for (size_t i = 0; i < m; i++)
        if (!items[i].outcome)
            build(&items[i], today, arena);
    if ((rc = allocate_numbers(db, items, m, arena)) < 0)
        goto out;
    rc = write_batch(db, items, m, arena);
    if (rc == 0)
        rc = on_issued(db, items, m, arena);
out:
    for (size_t i = 0; i < m; i++)
        inv_payplan_destroy(&items[i].plan);
    free(items);
    return rc;
}

/* --- queries ------------------------------------------------------------ */

static const char SQL_INVOICE[] =
    "SELECT i.number, i.account_id, coalesce(i.run_id, ''), i.period, i.period_start::text,"
    " i.period_end::text, i.currency, i.subtotal_minor, i.tax_minor, i.total_minor,"
    " i.issue_date::text, i.due_date::text, i.status, i.language, i.tax_profile,"
    " a.name, a.email, a.phone, a.webhook_url"
    " FROM invoices i JOIN accounts a ON a.id = i.account_id WHERE i.number = $1";
static const char SQL_LINES[] =
    "SELECT fee_item, description, kind, quantity, unit, unit_price, amount_minor, net_minor,"
    " tax_category, tax_rate_ppm, tax_minor FROM invoice_lines WHERE number = $1 ORDER BY line_no";
static const char SQL_INST[] =
    "SELECT seq, label, coalesce(due_date::text, ''), amount_minor FROM invoice_instalments"
    " WHERE number = $1 ORDER BY seq";
static const char SQL_LIST[] =
    "SELECT number, account_id, period, currency, total_minor, status, issue_date::text,"
    " due_date::text FROM invoices WHERE ($1 = '' OR account_id = $1) AND ($2 = '' OR period = $2)"
    " AND ($3 = '' OR status = $3) AND ($4 = '' OR run_id = $4) AND number > $5"
    " ORDER BY number LIMIT $6::int";

static void db_error(Billow__Reply *reply, bw_db_t *db, const char *what, bw_arena_t *arena)
{
    bw_log(BW_WARN, what, "pg_error", BW_S(bw_db_error(db)), NULL);
    bw_reply_error(reply, bw_db_lost(db) ? BILLOW__CODE__UNAVAILABLE : BILLOW__CODE__INTERNAL, what,
                   bw_arena_strdup(arena, bw_db_error(db)));
}

static inv_doc_status_t status_of(const char *s)
{
    static const char *names[] = {"draft", "issued", "partially_paid", "paid", "overdue", "void"};
    for (int i = 0; i < 6; i++)
        if (!strcmp(s, names[i]))
            return (inv_doc_status_t)i;
    return INV_STATUS_ISSUED;
}

void inv_invoice_get(bw_db_t *db, const Billow__InvoiceGet *req, Billow__Reply *reply,
                     bw_arena_t *a)
{
    const char *p[1] = {req->number};
    const char *fmt = req->format ? req->format : "";
    if (*fmt && strcmp(fmt, "text") && strcmp(fmt, "json") && strcmp(fmt, "html")) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "format: must be text, json or html", NULL);
        return;
    }
    PGresult *r = bw_db_query(db, SQL_INVOICE, 1, p);
    if (!r) {
        db_error(reply, db, "could not read invoice", a);
        return;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such invoice",
                       bw_arena_strdup(a, req->number));
        return;
    }
    PGresult *l = bw_db_query(db, SQL_LINES, 1, p), *s = bw_db_query(db, SQL_INST, 1, p);
    if (!l || !s) {
        PQclear(r);
        PQclear(l);
        PQclear(s);
        db_error(reply, db, "could not read invoice", a);
        return;
    }
    inv_document_t d;
    memset(&d, 0, sizeof d);
    d.kind = INV_DOC_INVOICE;
#define V(res, row, col) bw_arena_strdup(a, PQgetvalue(res, row, col))
    d.number = V(r, 0, 0);
    d.bill_run = *PQgetvalue(r, 0, 2) ? V(r, 0, 2) : NULL;
    bw_date_parse(PQgetvalue(r, 0, 4), &d.period_start);
    bw_date_parse(PQgetvalue(r, 0, 5), &d.period_end);
    d.currency = V(r, 0, 6);
    d.subtotal_minor = atoll(PQgetvalue(r, 0, 7));
    d.tax_minor = atoll(PQgetvalue(r, 0, 8));
    d.total_minor = atoll(PQgetvalue(r, 0, 9));
    bw_date_parse(PQgetvalue(r, 0, 10), &d.issue_date);
    bw_date_parse(PQgetvalue(r, 0, 11), &d.due_date);
    d.status = status_of(PQgetvalue(r, 0, 12));
    inv_lang_parse(PQgetvalue(r, 0, 13), &d.lang);
    d.tax_profile = V(r, 0, 14);
    d.seller = cfg.seller;
    d.customer.account_id = V(r, 0, 1);
    d.customer.name = V(r, 0, 15);
    d.customer.email = V(r, 0, 16);
    d.nlines = (size_t)PQntuples(l);
    inv_line_t *lines = bw_arena_alloc(a, sizeof *lines * (d.nlines + 1));
    memset(lines, 0, sizeof *lines * (d.nlines + 1));
    for (size_t i = 0; i < d.nlines; i++) {
        int k = (int)i;
        lines[i].fee_item = V(l, k, 0);
        lines[i].description = V(l, k, 1);
        lines[i].kind = kind_of(PQgetvalue(l, k, 2));
        lines[i].quantity = V(l, k, 3);
        lines[i].unit = V(l, k, 4);
        lines[i].unit_price = V(l, k, 5);
        lines[i].amount_minor = atoll(PQgetvalue(l, k, 6));
        lines[i].net_minor = atoll(PQgetvalue(l, k, 7));
        lines[i].tax_category = V(l, k, 8);
        lines[i].tax_rate_ppm = atoi(PQgetvalue(l, k, 9));
        lines[i].tax_minor = atoll(PQgetvalue(l, k, 10));
    }
    d.lines = lines;
    /* Tax rows are recomputed from the stored lines, as an auditor would. */
    const inv_tax_profile_t *prof = inv_tax_profile_find(d.tax_profile);
    for (size_t i = 0; i < d.nlines && prof; i++) {
        size_t t = 0;
        while (t < d.ntax_rows && strcmp(d.tax_rows[t].category, lines[i].tax_category))
            t++;
        if (t == d.ntax_rows) {
            if (t == INV_TAX_MAX_CATEGORIES)
                break;
            d.tax_rows[t].category = lines[i].tax_category;
            d.tax_rows[t].rate_ppm = lines[i].tax_rate_ppm;
            d.ntax_rows++;
        }
        d.tax_rows[t].base_minor += lines[i].net_minor;
        d.tax_rows[t].tax_minor += lines[i].tax_minor;
    }
    d.ninstalments = (size_t)PQntuples(s);
    inv_instalment_t *inst = bw_arena_alloc(a, sizeof *inst * (d.ninstalments + 1));
    memset(inst, 0, sizeof *inst * (d.ninstalments + 1));
    for (size_t i = 0; i < d.ninstalments; i++) {
        int k = (int)i;
        inst[i].seq = atoi(PQgetvalue(s, k, 0));
        snprintf(inst[i].label, sizeof inst[i].label, "%s", PQgetvalue(s, k, 1));
        if (!*PQgetvalue(s, k, 2) || bw_date_parse(PQgetvalue(s, k, 2), &inst[i].due_days) < 0)
            inst[i].due_days = INV_DATE_UNSET;
        inst[i].amount_minor = atoll(PQgetvalue(s, k, 3));
    }
    if (d.ninstalments == 0) {
        /* No instalment rows: payable at once (the write path stores none). */
        d.ninstalments = 1;
        inst[0].seq = 1;
        snprintf(inst[0].label, sizeof inst[0].label, "1/1");
        inst[0].due_days = d.due_date;
        inst[0].amount_minor = d.total_minor;
    }
    d.instalments = inst;

    item_t it;
    memset(&it, 0, sizeof it);
    Billow__AccountRated ar = BILLOW__ACCOUNT_RATED__INIT;
    ar.account_id = (char *)d.customer.account_id;
    ar.run_id = d.bill_run ? (char *)d.bill_run : "";
    ar.period = V(r, 0, 3);
    it.ar = &ar;
    it.number = (char *)d.number;
    it.name = d.customer.name;
    it.language = V(r, 0, 13);
    it.email = d.customer.email;
    it.phone = V(r, 0, 17);
    it.webhook = V(r, 0, 18);
    it.doc = d;
    const char *status = V(r, 0, 12);
#undef V
    PQclear(r);
    PQclear(l);
    PQclear(s);

    inv_buf_t *out = inv_buf_new();
    char err[256];
    int rc = 0;
    if (!strcmp(fmt, "text"))
        rc = inv_document_render_text(&d, out, err, sizeof err);
    else if (!strcmp(fmt, "json"))
        rc = inv_document_render_json(&d, out, err, sizeof err);
    else if (!strcmp(fmt, "html"))
        rc = inv_document_render_html(&d, out, err, sizeof err);
    if (rc < 0) {
        /* The stored invoice does not add up: that is an audit finding. */
        bw_log(BW_ERROR, "stored invoice does not add up", "invoice", BW_S(d.number), "error",
               BW_S(err), NULL);
        bw_reply_error(reply, BILLOW__CODE__INTERNAL, "stored invoice does not add up",
                       bw_arena_strdup(a, err));
        inv_buf_destroy(&out);
        return;
    }
    Billow__InvoicingReply *ir = bw_arena_alloc(a, sizeof *ir);
    Billow__InvoiceReply *rr = bw_arena_alloc(a, sizeof *rr);
    billow__invoicing_reply__init(ir);
    billow__invoice_reply__init(rr);
    rr->invoice = issued_event(&it, NULL, a);
    rr->status = (char *)status;
    rr->document = bw_arena_strdup(a, inv_buf_data(out));
    inv_buf_destroy(&out);
    ir->op_case = BILLOW__INVOICING_REPLY__OP_INVOICE;
    ir->invoice = rr;
    reply->body_case = BILLOW__REPLY__BODY_INVOICING;
    reply->invoicing = ir;
}

void inv_invoice_list(bw_db_t *db, const Billow__InvoiceList *req, Billow__Reply *reply,
                      bw_arena_t *a)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%u", req->limit == 0 ? 100 : req->limit > 10000 ? 10000 : req->limit);
    const char *p[6] = {req->account_id, req->period, req->status, req->run_id, req->after, lim};
    PGresult *r = bw_db_query(db, SQL_LIST, 6, p);
    if (!r) {
        db_error(reply, db, "could not list invoices", a);
        return;
    }
    Billow__InvoicingReply *ir = bw_arena_alloc(a, sizeof *ir);
    Billow__InvoiceListReply *lr = bw_arena_alloc(a, sizeof *lr);
    billow__invoicing_reply__init(ir);
    billow__invoice_list_reply__init(lr);
    int n = PQntuples(r);
    lr->n_invoices = (size_t)n;
    lr->invoices = bw_arena_alloc(a, sizeof *lr->invoices * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        Billow__InvoiceSummary *s = bw_arena_alloc(a, sizeof *s);
        billow__invoice_summary__init(s);
        s->number = bw_arena_strdup(a, PQgetvalue(r, i, 0));
        s->account_id = bw_arena_strdup(a, PQgetvalue(r, i, 1));
        s->period = bw_arena_strdup(a, PQgetvalue(r, i, 2));
        s->currency = bw_arena_strdup(a, PQgetvalue(r, i, 3));
        s->total_minor = atoll(PQgetvalue(r, i, 4));
        s->status = bw_arena_strdup(a, PQgetvalue(r, i, 5));
        s->issue_date = bw_arena_strdup(a, PQgetvalue(r, i, 6));
        s->due_date = bw_arena_strdup(a, PQgetvalue(r, i, 7));
        lr->invoices[i] = s;
    }
    PQclear(r);
    ir->op_case = BILLOW__INVOICING_REPLY__OP_INVOICE_LIST;
    ir->invoice_list = lr;
    reply->body_case = BILLOW__REPLY__BODY_INVOICING;
    reply->invoicing = ir;
}
