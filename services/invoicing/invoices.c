/* Invoice creation from AccountRated, and invoice queries.
 *
 * Numbering: each series (INV-202611) is one row in number_series. A batch
 * takes its numbers with one UPDATE ... RETURNING inside the batch's
 * transaction, so a rolled-back or crashed batch returns its numbers with
 * everything else (no gap), and concurrent workers queue on the row lock (no
 * duplicate). The lock is taken after the batch is built in memory and its
 * lines and run results are written (neither needs a number: lines have ids
 * of their own, migration 008), so it is held only for the COPYs of the
 * invoices, their trail and events, and the commit. */
#include "invoicing/invoices.h"
#include "invoicing/document.h"
#include "invoicing/lines.h"
#include "invoicing/numbering.h"
#include "invoicing/payments.h"
#include "invoicing/payplan.h"
#include "invoicing/tax.h"

#include "clock.h"
#include "config.h"
#include "bincopy.h"
#include "db.h"
#include "errors.h"
#include "events.h"
#include "log.h"
#include "money.h"
#include "outbox.h"
#include "rpc.h"
#include "pgarray.h"

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
    long long lines_id; /* its lines' key (migration 008), drawn before the number */
    /* The HTML document rendered before the number is taken, and where the
     * number goes in it (BILLOW_INVOICE_HTML_IN_EVENT; NULL: not sent). */
    char *html;
    size_t html_len;
    size_t marks[INV_HTML_NUMBER_MARKS];
    size_t nmarks;
    /* Its InvoiceIssued packed before the number is taken, without the
     * number and the HTML (event_payload adds both). */
    uint8_t *packed;
    size_t packed_len;
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

/* A text[] literal of one string per item (get(item)) that keep keeps (all
 * when keep is NULL), in the arena; NULL when out of memory. */
static char *text_array(item_t *items, size_t n, const char *(*get)(const item_t *),
                        bool (*keep)(const item_t *), bw_arena_t *a)
{
    bw_pgarr_t arr;
    bw_pgarr_init(&arr);
    for (size_t i = 0; i < n; i++)
        if (!keep || keep(&items[i]))
            bw_pgarr_add(&arr, get(&items[i]));
    const char *lit = bw_pgarr_str(&arr);
    char *s = lit ? bw_arena_strdup(a, lit) : NULL;
    bw_pgarr_free(&arr);
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

/* One query per batch reads each item's account. Each lookup is a LATERAL
 * probe of the primary key per item, whatever the planner's statistics say:
 * with `= ANY(array)` and tables not yet analysed (a month end fills them
 * from empty) it chose sequential scans. */
static const char SQL_LOOKUP[] =
    "SELECT a.id IS NOT NULL, a.name, a.currency, a.tax_profile, a.language, a.terms_days,"
    " a.email, a.phone, a.webhook_url, a.payment_plan, r.x IS NOT NULL"
    " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(id, run, ord)"
    " LEFT JOIN LATERAL (SELECT * FROM accounts WHERE id = u.id LIMIT 1) a ON true"
    " LEFT JOIN LATERAL (SELECT 1 AS x FROM bill_run_results"
    "  WHERE run_id = u.run AND account_id = u.id LIMIT 1) r ON true"
    " ORDER BY u.ord";
/* Replays are caught where each kind is cheap to catch. The lookup probes
 * the run's results (a small table: only accounts not invoiced have a row),
 * which catches an account handled before without an invoice, whatever its
 * outcome now. After building, the items that will not be invoiced (about
 * a tenth) are probed for an invoice (SQL_REPLAYS, below): a result row of
 * theirs would not collide with one. The items to invoice are written
 * without a probe for an earlier invoice: UNIQUE (account, period) refuses
 * a replayed one, and only then are all items probed, one query per batch
 * (a replay is rare, a producer sending again, and that probe was two
 * thirds of the lookup's cost). An item is a replay when its account has an
 * invoice for the period or of the run (an account has a handful, found
 * through UNIQUE (account_id, period)), or a result of the run (the
 * accounts not invoiced): anything of the event's own run means it was
 * handled in that run, whatever the period it names. Rating sends one
 * AccountRated per account and period (closed_periods' key) and a run's
 * events all name its period, so for an invoiced item (account, period) is
 * also (run, account). */
static const char SQL_REPLAYS[] =
    "SELECT i.x IS NOT NULL OR r.x IS NOT NULL"
    " FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS u(id, period, run, ord)"
    " LEFT JOIN LATERAL (SELECT 1 AS x FROM invoices WHERE account_id = u.id"
    "  AND (period = u.period OR run_id = u.run) LIMIT 1) i ON true"
    " LEFT JOIN LATERAL (SELECT 1 AS x FROM bill_run_results"
    "  WHERE run_id = u.run AND account_id = u.id LIMIT 1) r ON true"
    " ORDER BY u.ord";

static int lookup(bw_db_t *db, item_t *items, size_t n, bw_arena_t *a)
{
    const char *p[2] = {text_array(items, n, get_account, NULL, a),
                        text_array(items, n, get_run, NULL, a)};
    if (!p[0] || !p[1])
        return BW_ENOMEM;
    PGresult *res = bw_db_query(db, SQL_LOOKUP, 2, p);
    if (!res)
        return BW_EDB;
    if ((size_t)PQntuples(res) != n) {
        PQclear(res);
        return BW_EDB;
    }
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        int r = (int)i;
        if (*PQgetvalue(res, r, 10) == 't') {
            it->outcome = "done"; /* a result of this run: handled before */
            continue;
        }
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

/* Marks the items that keep keeps (all when NULL) and that were recorded
 * before (SQL_REPLAYS) as done. */
static int mark_replays(bw_db_t *db, item_t *items, size_t n, bool (*keep)(const item_t *),
                        bw_arena_t *a)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!keep || keep(&items[i]))
            k++;
    if (k == 0)
        return 0;
    const char *p[3] = {text_array(items, n, get_account, keep, a),
                        text_array(items, n, get_period, keep, a),
                        text_array(items, n, get_run, keep, a)};
    if (!p[0] || !p[1] || !p[2])
        return BW_ENOMEM;
    PGresult *res = bw_db_query(db, SQL_REPLAYS, 3, p);
    if (!res)
        return BW_EDB;
    if ((size_t)PQntuples(res) != k) {
        PQclear(res);
        return BW_EDB;
    }
    for (size_t i = 0, r = 0; i < n; i++) {
        if (keep && !keep(&items[i]))
            continue;
        if (*PQgetvalue(res, (int)r++, 0) == 't')
            items[i].outcome = "done";
    }
    PQclear(res);
    return 0;
}

/* An item of a run that will be recorded without an invoice (nothing to
 * bill, failed): its result row would not collide with an invoice of the
 * account issued for the same event before. */
static bool recorded_without_invoice(const item_t *it)
{
    return it->outcome && strcmp(it->outcome, "done") != 0 && it->ar->run_id && *it->ar->run_id;
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
        l->kind = inv_line_kind_parse(rl->kind);
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

static Billow__InvoiceIssued *issued_event(item_t *it, const char *html, bw_arena_t *a)
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
    e->html = html ? (char *)html : "";
    return e;
}

/* --- writing a batch ------------------------------------------------------
 *
 * A batch's rows are built before its numbers are taken, in PostgreSQL's
 * binary COPY format (no text escaping here, no parsing of numbers and dates
 * in the database). Where a row needs a number or its counter the field is
 * left out and a slot records the place; rows_fill writes the rows out with
 * the numbers in once they are taken. Building rows and documents is most of
 * a worker's CPU per batch, and the number series stays locked from taking
 * numbers to commit, so only the splicing is done while other workers wait. */

#define BINCOPY_HEADER 19 /* bytes of the binary COPY header */

typedef struct {
    size_t at;   /* offset in the rows where the field goes */
    size_t item; /* whose number */
    bool seq;    /* the counter (int8) rather than the number (text) */
} slot_t;

typedef struct {
    bw_bincopy_t b;
    slot_t *slots;
    size_t n, cap;
    bool failed;
} rows_t;

typedef struct {
    rows_t inv, lines, inst, res, trail;
} batch_rows_t;

static void rows_init(rows_t *r)
{
    memset(r, 0, sizeof *r);
    bw_bincopy_begin(&r->b);
}

static void rows_free(rows_t *r)
{
    bw_bincopy_free(&r->b);
    free(r->slots);
    memset(r, 0, sizeof *r);
}

static void batch_rows_init(batch_rows_t *br)
{
    rows_init(&br->inv);
    rows_init(&br->lines);
    rows_init(&br->inst);
    rows_init(&br->res);
    rows_init(&br->trail);
}

static void batch_rows_free(batch_rows_t *br)
{
    rows_free(&br->inv);
    rows_free(&br->lines);
    rows_free(&br->inst);
    rows_free(&br->res);
    rows_free(&br->trail);
}

static void rows_slot(rows_t *r, size_t item, bool seq)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        slot_t *s = realloc(r->slots, cap * sizeof *s);
        if (!s) {
            r->failed = true;
            return;
        }
        r->slots = s;
        r->cap = cap;
    }
    r->slots[r->n++] = (slot_t){.at = r->b.len, .item = item, .seq = seq};
}

static void text_or_null(bw_bincopy_t *b, const char *s)
{
    if (s)
        bw_bincopy_text(b, s);
    else
        bw_bincopy_null(b);
}

static uint8_t *put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

/* The rows with every slot filled, ready for COPY (caller frees). */
static int rows_fill(const rows_t *r, const item_t *items, bw_bincopy_t *out)
{
    memset(out, 0, sizeof *out);
    if (r->failed || r->b.failed)
        return BW_ENOMEM;
    size_t len = r->b.len + 2; /* and the trailer, a row of -1 fields */
    for (size_t i = 0; i < r->n; i++)
        len += 4 + (r->slots[i].seq ? 8 : strlen(items[r->slots[i].item].number));
    uint8_t *p = out->data = malloc(len);
    if (!p)
        return BW_ENOMEM;
    out->len = out->cap = len;
    size_t from = 0;
    for (size_t i = 0; i < r->n; i++) {
        const slot_t *s = &r->slots[i];
        const item_t *it = &items[s->item];
        memcpy(p, r->b.data + from, s->at - from);
        p += s->at - from;
        from = s->at;
        if (s->seq) {
            p = put_be32(p, 8);
            p = put_be32(p, (uint32_t)((unsigned long long)it->seq >> 32));
            p = put_be32(p, (uint32_t)it->seq);
        } else {
            size_t n = strlen(it->number);
            p = put_be32(p, (uint32_t)n);
            memcpy(p, it->number, n);
            p += n;
        }
    }
    memcpy(p, r->b.data + from, r->b.len - from);
    p += r->b.len - from;
    p[0] = p[1] = 0xff;
    return 0;
}

/* Sends the rows, once. Rows without slots (lines, results) go as they
 * were built: copying them out first would copy every line's bytes again. */
static int rows_send(rows_t *r, const item_t *items, bw_db_t *db, const char *sql)
{
    if (r->b.len <= BINCOPY_HEADER && !r->b.failed && !r->failed)
        return 0; /* no rows */
    if (r->n == 0) {
        bw_bincopy_end(&r->b);
        if (r->failed || r->b.failed)
            return BW_ENOMEM;
        return bw_db_copy(db, sql, r->b.data, r->b.len);
    }
    bw_bincopy_t out;
    int rc = rows_fill(r, items, &out);
    if (rc == 0)
        rc = bw_db_copy(db, sql, out.data, out.len);
    bw_bincopy_free(&out);
    return rc;
}

static const char SQL_COPY_INVOICES[] =
    "COPY invoices (number, seq, series, account_id, run_id, period, period_start, period_end,"
    " currency, subtotal_minor, tax_minor, total_minor, issue_date, due_date, language,"
    " tax_profile, plan, caused_by, lines_id) FROM STDIN (FORMAT binary)";
static const char SQL_COPY_LINES[] =
    "COPY invoice_lines (id, lines) FROM STDIN (FORMAT binary)";
static const char SQL_COPY_INST[] =
    "COPY invoice_instalments (number, seq, label, due_date, amount_minor)"
    " FROM STDIN (FORMAT binary)";
static const char SQL_COPY_RESULTS[] =
    "COPY bill_run_results (run_id, account_id, outcome, error, caused_by)"
    " FROM STDIN (FORMAT binary)";
static const char SQL_COPY_TRAIL[] =
    "COPY trail (entity_id, actor, cause, entity, action, detail) FROM STDIN (FORMAT binary)";

/* "<prefix><s>" in the arena. */
static char *cat(bw_arena_t *a, const char *prefix, const char *s)
{
    size_t n = strlen(prefix), m = strlen(s);
    char *r = bw_arena_alloc(a, n + m + 1);
    memcpy(r, prefix, n);
    memcpy(r + n, s, m + 1);
    return r;
}

static void invoice_rows(batch_rows_t *br, item_t *it, size_t idx, bw_arena_t *a)
{
    const Billow__AccountRated *ar = it->ar;
    const inv_document_t *d = &it->doc;
    bw_bincopy_t *b = &br->inv.b;
    bw_bincopy_row(b, 19);
    rows_slot(&br->inv, idx, false);
    rows_slot(&br->inv, idx, true);
    bw_bincopy_text(b, it->series);
    bw_bincopy_text(b, ar->account_id);
    text_or_null(b, ar->run_id && *ar->run_id ? ar->run_id : NULL);
    bw_bincopy_text(b, ar->period);
    bw_bincopy_date(b, d->period_start);
    bw_bincopy_date(b, d->period_end);
    bw_bincopy_text(b, d->currency);
    bw_bincopy_i64(b, d->subtotal_minor);
    bw_bincopy_i64(b, d->tax_minor);
    bw_bincopy_i64(b, d->total_minor);
    bw_bincopy_date(b, d->issue_date);
    bw_bincopy_date(b, d->due_date);
    bw_bincopy_text(b, it->language);
    bw_bincopy_text(b, it->tax_profile);
    bw_bincopy_text(b, it->plan_spec && *it->plan_spec ? it->plan_spec : "once");
    bw_bincopy_text(b, it->se->event_id);
    bw_bincopy_i64(b, it->lines_id);

    b = &br->trail.b;
    bw_bincopy_row(b, 6);
    rows_slot(&br->trail, idx, false);
    bw_bincopy_text(b, "invoicing");
    bw_bincopy_text(b, cat(a, "event:", it->se->event_id));
    bw_bincopy_text(b, "invoice");
    bw_bincopy_text(b, "issued");
    bw_bincopy_text(b, cat(a, "account ", ar->account_id));

    /* The lines: one row of protobuf bytes (lines.h). Out of memory fails
     * the batch (rows_send), never an invoice without its lines. */
    b = &br->lines.b;
    uint8_t *packed;
    size_t plen;
    if (inv_lines_pack(d->lines, d->nlines, a, &packed, &plen) == 0) {
        bw_bincopy_row(b, 2);
        bw_bincopy_i64(b, it->lines_id);
        bw_bincopy_bytes(b, packed, plen);
    } else {
        br->lines.failed = true;
    }
    /* Payable at once is the invoice's own due date and total: it gets
     * no instalment row (readers supply it, see inv_invoice_get), which
     * spares the month end one row and one index entry per invoice. */
    b = &br->inst.b;
    for (size_t k = 0; it->plan->kind != INV_PLAN_ONCE && k < d->ninstalments; k++) {
        bw_bincopy_row(b, 5);
        rows_slot(&br->inst, idx, false);
        bw_bincopy_i32(b, d->instalments[k].seq);
        bw_bincopy_text(b, d->instalments[k].label);
        if (d->instalments[k].due_days == INV_DATE_UNSET)
            bw_bincopy_null(b);
        else
            bw_bincopy_date(b, d->instalments[k].due_days);
        bw_bincopy_i64(b, d->instalments[k].amount_minor);
    }
}

/* A document that will not render must not stall the stream (the batch
 * would be retried forever): the invoice is issued and its event goes out
 * without the HTML, which notification can render from the lines; the
 * error is logged for the audit. */
static void render(item_t *it, inv_buf_t *html, bw_arena_t *a)
{
    char err[256];
    inv_buf_reset(html);
    it->nmarks = INV_HTML_NUMBER_MARKS;
    if (inv_document_render_html_unnumbered(&it->doc, html, it->marks, &it->nmarks, err,
                                            sizeof err) < 0) {
        bw_log(BW_ERROR, "could not render invoice", "account", BW_S(it->ar->account_id),
               "error", BW_S(err), NULL);
        return;
    }
    it->html_len = inv_buf_len(html);
    it->html = bw_arena_alloc(a, it->html_len + 1);
    memcpy(it->html, inv_buf_data(html), it->html_len + 1);
}

/* Packs the item's InvoiceIssued without its number and HTML, before the
 * numbers are taken: packing a batch's events was most of what the worker
 * itself did while holding the series' lock. */
static int prepack_event(item_t *it, bw_arena_t *a)
{
    Billow__InvoiceIssued *e = issued_event(it, NULL, a);
    e->invoice_number = "";
    it->packed_len = billow__invoice_issued__get_packed_size(e);
    it->packed = bw_arena_alloc(a, it->packed_len + 1);
    if (!it->packed)
        return BW_ENOMEM;
    billow__invoice_issued__pack(e, it->packed);
    return 0;
}

static size_t varint_len(size_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

static uint8_t *put_varint(uint8_t *p, size_t v)
{
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return p;
}

/* The packed Event of a numbered item (caller frees; NULL when out of
 * memory): the prepacked fields with the number (field 1) in front and the
 * HTML with the number at its marks (field 18, when rendered) behind.
 * Protocol buffers take fields in any order, so this decodes to the same
 * message as packing it whole. */
static uint8_t *event_payload(const item_t *it, size_t *plen)
{
    size_t n = strlen(it->number), hl = it->html ? it->html_len + it->nmarks * n : 0;
    size_t body = 1 + varint_len(n) + n + it->packed_len + (it->html ? 2 + varint_len(hl) + hl : 0);
    size_t len = 1 + varint_len(body) + body;
    uint8_t *buf = malloc(len), *p = buf;
    if (!buf)
        return NULL;
    *p++ = 0x22; /* Event.invoice_issued: field 4, length-delimited */
    p = put_varint(p, body);
    *p++ = 0x0a; /* InvoiceIssued.invoice_number: field 1 */
    p = put_varint(p, n);
    memcpy(p, it->number, n);
    p += n;
    memcpy(p, it->packed, it->packed_len);
    p += it->packed_len;
    if (it->html) {
        *p++ = 0x92; /* InvoiceIssued.html: field 18 (two bytes of tag) */
        *p++ = 0x01;
        p = put_varint(p, hl);
        size_t from = 0;
        for (size_t k = 0; k < it->nmarks; k++) {
            memcpy(p, it->html + from, it->marks[k] - from);
            p += it->marks[k] - from;
            memcpy(p, it->number, n);
            p += n;
            from = it->marks[k];
        }
        memcpy(p, it->html + from, it->html_len - from);
        p += it->html_len - from;
    }
    *plen = len;
    return buf;
}

/* Builds every row of the batch that can be built before its numbers are
 * taken. */
static void prepare_rows(batch_rows_t *br, item_t *items, size_t n, bw_arena_t *a)
{
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        const Billow__AccountRated *ar = it->ar;
        if (it->outcome && !strcmp(it->outcome, "done"))
            continue;
        /* An invoiced account's result is its invoice (with the run's id)
         * and the run's count: only the others get a row. */
        if (it->outcome && ar->run_id && *ar->run_id) {
            bw_bincopy_t *b = &br->res.b;
            bw_bincopy_row(b, 5);
            bw_bincopy_text(b, ar->run_id);
            bw_bincopy_text(b, ar->account_id);
            bw_bincopy_text(b, it->outcome);
            text_or_null(b, it->error);
            bw_bincopy_text(b, it->se->event_id);
        }
        if (it->outcome)
            continue;
        invoice_rows(br, it, i, a);
    }
}

/* Packs the InvoiceIssued of every item to invoice and renders its HTML
 * document (BILLOW_INVOICE_HTML_IN_EVENT), before the numbers are taken. */
static int prepare_events(item_t *items, size_t n, bw_arena_t *a)
{
    inv_buf_t *html = NULL;
    if (cfg.html_in_event && !(html = inv_buf_new()))
        return BW_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (items[i].outcome)
            continue;
        if (html)
            render(&items[i], html, a);
        rc = prepack_event(&items[i], a);
    }
    inv_buf_destroy(&html);
    return rc;
}

/* One run's share of a batch: its counts by outcome and its invoice numbers
 * (a text[] literal). */
typedef struct {
    const char *run;
    long long done, invoiced, nothing, failed;
    bw_pgarr_t numbers;
} run_tally_t;

static const char SQL_COUNT_RUN[] =
    "UPDATE bill_runs SET done = done + $2::int8, invoiced = invoiced + $3::int8,"
    " nothing_to_bill = nothing_to_bill + $4::int8, failed = failed + $5::int8,"
    " first_number = least(first_number, (SELECT min(x) FROM unnest($6::text[]) x)),"
    " last_number = greatest(last_number, (SELECT max(x) FROM unnest($6::text[]) x)),"
    " finished_at = CASE WHEN done + $2::int8 >= due THEN now() END WHERE id = $1";

static int count_run(bw_db_t *db, run_tally_t *t)
{
    char c[4][24];
    snprintf(c[0], sizeof c[0], "%lld", t->done);
    snprintf(c[1], sizeof c[1], "%lld", t->invoiced);
    snprintf(c[2], sizeof c[2], "%lld", t->nothing);
    snprintf(c[3], sizeof c[3], "%lld", t->failed);
    const char *nums = bw_pgarr_str(&t->numbers);
    if (!nums)
        return BW_ENOMEM;
    const char *p[6] = {t->run, c[0], c[1], c[2], c[3], nums};
    return bw_db_exec(db, SQL_COUNT_RUN, 6, p);
}

/* Each run counts its results by outcome and widens its range of numbers
 * (the results table holds only the accounts not invoiced); one that
 * reaches its due count is done. A batch holds very few runs (usually one),
 * so they are tallied in a short list and updated in id order, so workers
 * cannot deadlock. */
static int count_results(bw_db_t *db, item_t *items, size_t n, bw_arena_t *a)
{
    run_tally_t *runs = bw_arena_alloc(a, sizeof *runs * (n + 1));
    if (!runs)
        return BW_ENOMEM;
    size_t nruns = 0;
    for (size_t i = 0; i < n; i++) {
        const item_t *it = &items[i];
        const char *run = it->ar->run_id;
        if (!*run || (it->outcome && !strcmp(it->outcome, "done")))
            continue;
        size_t k = 0;
        while (k < nruns && strcmp(runs[k].run, run))
            k++;
        if (k == nruns) {
            memset(&runs[nruns], 0, sizeof runs[nruns]);
            runs[nruns].run = run;
            bw_pgarr_init(&runs[nruns++].numbers);
        }
        run_tally_t *t = &runs[k];
        t->done++;
        if (!it->outcome) {
            t->invoiced++;
            bw_pgarr_add(&t->numbers, it->number);
        } else if (!strcmp(it->outcome, "nothing_to_bill")) {
            t->nothing++;
        } else {
            t->failed++;
        }
    }
    for (size_t a1 = 0; a1 < nruns; a1++)
        for (size_t b1 = a1 + 1; b1 < nruns; b1++)
            if (strcmp(runs[b1].run, runs[a1].run) < 0) {
                run_tally_t t = runs[a1];
                runs[a1] = runs[b1];
                runs[b1] = t;
            }
    int rc = 0;
    for (size_t k = 0; k < nruns && rc == 0; k++)
        rc = count_run(db, &runs[k]);
    for (size_t k = 0; k < nruns; k++)
        bw_pgarr_free(&runs[k].numbers);
    return rc;
}

/* With the numbers taken: the rows, the runs' counts and the InvoiceIssued
 * events. */
static int write_batch(bw_db_t *db, batch_rows_t *br, item_t *items, size_t n,
                       bw_arena_t *a)
{
    bw_outbox_event_t *evs = calloc(n + 1, sizeof *evs);
    uint8_t **bufs = calloc(n + 1, sizeof *bufs);
    size_t nev = 0;
    int rc = 0;
    if (!evs || !bufs) {
        rc = BW_ENOMEM;
        goto out;
    }
    if ((rc = rows_send(&br->inv, items, db, SQL_COPY_INVOICES)) < 0 ||
        (rc = rows_send(&br->inst, items, db, SQL_COPY_INST)) < 0 ||
        (rc = rows_send(&br->trail, items, db, SQL_COPY_TRAIL)) < 0 ||
        (rc = count_results(db, items, n, a)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        item_t *it = &items[i];
        if (it->outcome)
            continue;
        size_t len;
        if (!(bufs[nev] = event_payload(it, &len))) {
            rc = BW_ENOMEM;
            goto out;
        }
        evs[nev] = (bw_outbox_event_t){.type = "InvoiceIssued", .partition_key = it->ar->account_id,
                                       .payload = bufs[nev], .len = len,
                                       .caused_by = it->se->event_id};
        nev++;
    }
    rc = bw_outbox_append(db, evs, nev);
out:
    for (size_t i = 0; i < nev; i++)
        free(bufs[i]);
    free(bufs);
    free(evs);
    return rc;
}

/* Hands the accounts of the batch's new invoices to payments, which
 * allocates any credit they hold (one query per batch; the trail rows of
 * the issue were written with the invoices). */
static int on_issued(bw_db_t *db, item_t *items, size_t n, bw_arena_t *a)
{
    bw_pgarr_t arr;
    bw_pgarr_init(&arr);
    for (size_t i = 0; i < n; i++)
        if (!items[i].outcome && items[i].number)
            bw_pgarr_add(&arr, items[i].ar->account_id);
    if (arr.n == 0)
        return 0;
    const char *lit = bw_pgarr_str(&arr);
    char *accts = lit ? bw_arena_strdup(a, lit) : NULL;
    bw_pgarr_free(&arr);
    if (!accts)
        return BW_ENOMEM;
    return inv_pay_on_issued(db, accts);
}

/* Draws an id for the lines of every item to invoice: one query, ids that
 * only grow (so the lines' key is appended to), gaps of no concern. */
static const char SQL_LINES_IDS[] =
    "SELECT nextval('invoice_lines_id_seq') FROM generate_series(1, $1::int4)";

static int draw_lines_ids(bw_db_t *db, item_t *items, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += !items[i].outcome;
    if (k == 0)
        return 0;
    char cnt[24];
    snprintf(cnt, sizeof cnt, "%zu", k);
    const char *p = cnt;
    PGresult *res = bw_db_query(db, SQL_LINES_IDS, 1, &p);
    if (!res)
        return BW_EDB;
    int rc = (size_t)PQntuples(res) == k ? 0 : BW_EDB;
    for (size_t i = 0, r = 0; rc == 0 && i < n; i++)
        if (!items[i].outcome)
            items[i].lines_id = atoll(PQgetvalue(res, (int)r++, 0));
    PQclear(res);
    return rc;
}

/* Writes the built items that are not done: takes their numbers and writes
 * their rows, the runs' counts and the events. Without replays marked, an
 * item that was recorded before makes it fail with a unique violation. */
static int write_items(bw_db_t *db, item_t *items, size_t m, bw_arena_t *arena)
{
    for (size_t i = 0; i < m; i++) {
        items[i].number = NULL;
        items[i].doc.number = NULL;
        items[i].seq = 0;
    }
    int rc = draw_lines_ids(db, items, m);
    if (rc < 0)
        return rc;
    batch_rows_t rows;
    batch_rows_init(&rows);
    /* Everything that does not need the numbers is done before taking
     * them: from there to the commit the series' row stays locked and
     * other workers wait. That is building every row, and writing the
     * lines and the run results, which no number keys. */
    prepare_rows(&rows, items, m, arena);
    rc = rows_send(&rows.lines, items, db, SQL_COPY_LINES);
    if (rc == 0)
        rc = rows_send(&rows.res, items, db, SQL_COPY_RESULTS);
    if (rc == 0)
        rc = allocate_numbers(db, items, m, arena);
    if (rc == 0)
        rc = write_batch(db, &rows, items, m, arena);
    if (rc == 0)
        rc = on_issued(db, items, m, arena);
    batch_rows_free(&rows);
    return rc;
}

/* Issues the batch's items (sorted by account and period): invoices, their
 * numbers, results, trail rows and events. The items are built, rendered
 * and packed once; when the write meets a replayed item, it is rolled back and done
 * again with the replays skipped. */
static int issue(bw_db_t *db, item_t *items, size_t m, bw_arena_t *arena)
{
    int64_t today = bw_now_us() / 86400000000LL;
    int rc = lookup(db, items, m, arena);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < m; i++)
        if (!items[i].outcome)
            build(&items[i], today, arena);
    if ((rc = mark_replays(db, items, m, recorded_without_invoice, arena)) < 0 ||
        (rc = prepare_events(items, m, arena)) < 0 || (rc = bw_db_savepoint(db)) < 0)
        goto out;
    rc = write_items(db, items, m, arena);
    if (rc == BW_EDB && !strcmp(bw_db_sqlstate(db), "23505")) {
        if ((rc = bw_db_rollback_to(db)) == 0 && (rc = mark_replays(db, items, m, NULL, arena)) == 0)
            rc = write_items(db, items, m, arena);
    }
out:
    for (size_t i = 0; i < m; i++)
        inv_payplan_destroy(&items[i].plan);
    return rc;
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
    if (m > 0) {
        qsort(items, m, sizeof *items, item_cmp);
        rc = issue(db, items, m, arena);
    }
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
/* Read in binary: the stored bytes as they are (lines.h). */
static const char SQL_LINES[] =
    "SELECT l.lines FROM invoices i JOIN invoice_lines l ON l.id = i.lines_id WHERE i.number = $1";
static const char SQL_INST[] =
    "SELECT seq, label, coalesce(due_date::text, ''), amount_minor FROM invoice_instalments"
    " WHERE number = $1 ORDER BY seq";
#define SQL_LIST_SELECT \
    "SELECT number, account_id, period, currency, total_minor, status, issue_date::text," \
    " due_date::text FROM invoices WHERE ($1 = '' OR account_id = $1)" \
    " AND ($2 = '' OR period = $2) AND ($3 = '' OR status = $3) AND ($4 = '' OR run_id = $4)" \
    " AND number > $5"
static const char SQL_LIST[] = SQL_LIST_SELECT " ORDER BY number LIMIT $6::int";
/* A run's invoices lie between its first and last number (kept on its row
 * as its results are counted), so a listing by run walks that range of the
 * primary key. A run with no row (an event naming an unknown run) is walked
 * from the start. */
static const char SQL_LIST_RUN[] =
    SQL_LIST_SELECT " AND number >= $7 AND number <= $8 ORDER BY number LIMIT $6::int";
static const char SQL_RUN_RANGE[] =
    "SELECT coalesce(first_number, ''), coalesce(last_number, '') FROM bill_runs WHERE id = $1";

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
    PGresult *l = bw_db_query_bin(db, SQL_LINES, 1, p), *s = bw_db_query(db, SQL_INST, 1, p);
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
    inv_line_t *lines = NULL;
    if (PQntuples(l) == 0 || inv_lines_unpack((const uint8_t *)PQgetvalue(l, 0, 0),
                                              (size_t)PQgetlength(l, 0, 0), a, &lines,
                                              &d.nlines) < 0) {
        bw_log(BW_ERROR, "invoice lines missing or unreadable", "number", BW_S(d.number), NULL);
        bw_reply_error(reply, BILLOW__CODE__INTERNAL,
                       bw_arena_printf(a, "invoice %s: its lines are missing or unreadable"
                                          " (run billctl audit)", d.number),
                       NULL);
        PQclear(r);
        PQclear(l);
        PQclear(s);
        return;
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
    const char *p[8] = {req->account_id, req->period, req->status, req->run_id, req->after, lim};
    PGresult *r = NULL;
    if (*req->run_id && (r = bw_db_query(db, SQL_RUN_RANGE, 1, &p[3])) && PQntuples(r) == 1) {
        p[6] = bw_arena_strdup(a, PQgetvalue(r, 0, 0));
        p[7] = bw_arena_strdup(a, PQgetvalue(r, 0, 1));
    }
    if (r || !*req->run_id) {
        PQclear(r);
        r = bw_db_query(db, p[6] ? SQL_LIST_RUN : SQL_LIST, p[6] ? 8 : 6, p);
    }
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
