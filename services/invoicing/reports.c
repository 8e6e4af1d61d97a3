/* Reports; see reports.h. Each report is one aggregate query into a small
 * table model (text cells and money cells in minor units, with the row's
 * currency), which four renderers turn into a table, CSV, JSON or HTML with
 * an inline SVG bar chart; revenue by fee item is the exception, summed
 * here from the stored lines (lines.h). Amounts are summed as bigint
 * (checked for overflow here) and never pass through floating point; only
 * the chart's bar lengths are scaled. */
#include "invoicing/reports.h"
#include "invoicing/document.h"
#include "invoicing/lines.h"
#include "invoicing/payments.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "money.h"
#include "rpc.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int inv_aging_bucket(int64_t d)
{
    return d <= 0 ? 0 : d <= 30 ? 1 : d <= 60 ? 2 : d <= 90 ? 3 : 4;
}

const char *inv_aging_bucket_name(int b)
{
    static const char *const names[] = {"current", "1-30", "31-60", "61-90", "90+"};
    return b >= 0 && b < INV_AGING_BUCKETS ? names[b] : "?";
}

int64_t inv_rate_bp(int64_t collected, int64_t billed)
{
    if (billed <= 0)
        return 0;
    int64_t q;
    if (bw_round_div((bw_i128_t)collected * 10000, billed, BW_ROUND_HALF_EVEN, &q) < 0)
        return 0;
    return q;
}

/* --- the table model ----------------------------------------------------------- */

#define MAXCOLS 10

typedef struct {
    const char *title;
    int ncols;
    const char *cols[MAXCOLS];
    char kind[MAXCOLS]; /* 's' text, 'm' money (minor units), 'r' rate (basis points) */
    int cur_col;        /* the column holding each row's currency */
    int nrows;
    char ***text;       /* [row][col] */
    int64_t **num;      /* [row][col] */
    int label_col;      /* chart: label column, series columns */
    int series[2];
    int nseries;
} table_t;


static const char *cell(const table_t *t, int r, int c, bw_arena_t *a)
{
    if (t->kind[c] == 's')
        return t->text[r][c];
    char buf[48];
    if (t->kind[c] == 'r')
        snprintf(buf, sizeof buf, "%lld.%02lld%%", (long long)(t->num[r][c] / 100),
                 (long long)(t->num[r][c] % 100));
    else if (bw_money_format(t->num[r][c], t->text[r][t->cur_col], buf, sizeof buf) < 0)
        snprintf(buf, sizeof buf, "%lld", (long long)t->num[r][c]);
    return bw_arena_strdup(a, buf);
}

static const char *esc_csv(bw_arena_t *a, const char *s)
{
    if (!strpbrk(s, ",\"\r\n"))
        return s;
    char *o = bw_arena_alloc(a, strlen(s) * 2 + 3), *p = o;
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"')
            *p++ = '"';
        *p++ = *s;
    }
    *p++ = '"';
    *p = '\0';
    return o;
}

static void render_table(const table_t *t, bw_abuf_t *b, bw_arena_t *a)
{
    int w[MAXCOLS];
    for (int c = 0; c < t->ncols; c++) {
        w[c] = (int)strlen(t->cols[c]);
        for (int r = 0; r < t->nrows; r++) {
            int l = (int)strlen(cell(t, r, c, a));
            if (l > w[c])
                w[c] = l;
        }
    }
    bw_abuf_printf(b, "%s\n", t->title);
    for (int c = 0; c < t->ncols; c++)
        bw_abuf_printf(b, "%s%*s", c ? "  " : "", t->kind[c] == 's' ? -w[c] : w[c], t->cols[c]);
    bw_abuf_printf(b, "\n");
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++)
            bw_abuf_printf(b, "%s%*s", c ? "  " : "", t->kind[c] == 's' ? -w[c] : w[c], cell(t, r, c, a));
        bw_abuf_printf(b, "\n");
    }
    if (t->nrows == 0)
        bw_abuf_printf(b, "(no rows)\n");
}

static void render_csv(const table_t *t, bw_abuf_t *b, bw_arena_t *a)
{
    for (int c = 0; c < t->ncols; c++)
        bw_abuf_printf(b, "%s%s", c ? "," : "", esc_csv(a, t->cols[c]));
    bw_abuf_printf(b, "\r\n");
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols; c++)
            bw_abuf_printf(b, "%s%s", c ? "," : "", esc_csv(a, cell(t, r, c, a)));
        bw_abuf_printf(b, "\r\n");
    }
}

static void render_json(const table_t *t, bw_abuf_t *b, bw_arena_t *a)
{
    bw_abuf_printf(b, "{\"report\":\"%s\",\"rows\":[", bw_arena_json(a, t->title));
    for (int r = 0; r < t->nrows; r++) {
        bw_abuf_printf(b, "%s{", r ? "," : "");
        for (int c = 0; c < t->ncols; c++) {
            if (t->kind[c] == 's')
                bw_abuf_printf(b, "%s\"%s\":\"%s\"", c ? "," : "", t->cols[c],
                               bw_arena_json(a, t->text[r][c]));
            else
                bw_abuf_printf(b, "%s\"%s_%s\":%lld", c ? "," : "", t->cols[c],
                    t->kind[c] == 'r' ? "bp" : "minor", (long long)t->num[r][c]);
        }
        bw_abuf_printf(b, "}");
    }
    bw_abuf_printf(b, "]}");
}

/* A horizontal bar chart, one group per row, up to two series per group. */
static void render_svg(const table_t *t, bw_abuf_t *b, bw_arena_t *a)
{
    static const char *const colors[] = {"#3b6ea8", "#e39b2d"};
    int64_t max = 1;
    for (int r = 0; r < t->nrows; r++)
        for (int s = 0; s < t->nseries; s++)
            if (t->num[r][t->series[s]] > max)
                max = t->num[r][t->series[s]];
    int bar = 16, gap = 10, left = 200, width = 460;
    int h = t->nrows * (bar * t->nseries + gap) + 40;
    bw_abuf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\">",
        left + width + 160, h);
    int y = 10;
    for (int r = 0; r < t->nrows; r++) {
        const char *label = t->text[r][t->label_col];
        if (t->label_col != t->cur_col && t->cur_col >= 0)
            label = bw_arena_printf(a, "%s %s", label, t->text[r][t->cur_col]);
        bw_abuf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" font-size=\"12\">%s</text>", left - 6,
            y + bar - 3, bw_arena_html(a, label));
        for (int s = 0; s < t->nseries; s++) {
            int64_t v = t->num[r][t->series[s]];
            int len = v > 0 ? (int)((bw_i128_t)v * width / max) : 0;
            bw_abuf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>"
                   "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>",
                left, y, len, bar - 2, colors[s], left + len + 4, y + bar - 4,
                cell(t, r, t->series[s], a));
            y += bar;
        }
        y += gap;
    }
    for (int s = 0; s < t->nseries; s++)
        bw_abuf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
               "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>",
            left + s * 120, h - 18, colors[s], left + s * 120 + 14, h - 9, t->cols[t->series[s]]);
    bw_abuf_printf(b, "</svg>");
}

static void render_html(const table_t *t, bw_abuf_t *b, bw_arena_t *a)
{
    bw_abuf_printf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title><style>"
           "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
           "td,th{padding:.25em .7em;border-bottom:1px solid #ddd}td.n{text-align:right}"
           "</style></head><body><h1>%s</h1>\n",
        bw_arena_html(a, t->title), bw_arena_html(a, t->title));
    render_svg(t, b, a);
    bw_abuf_printf(b, "\n<table><tr>");
    for (int c = 0; c < t->ncols; c++)
        bw_abuf_printf(b, "<th>%s</th>", t->cols[c]);
    bw_abuf_printf(b, "</tr>\n");
    for (int r = 0; r < t->nrows; r++) {
        bw_abuf_printf(b, "<tr>");
        for (int c = 0; c < t->ncols; c++)
            bw_abuf_printf(b, "<td%s>%s</td>", t->kind[c] == 's' ? "" : " class=n",
                bw_arena_html(a, cell(t, r, c, a)));
        bw_abuf_printf(b, "</tr>\n");
    }
    bw_abuf_printf(b, "</table></body></html>\n");
}

/* Fills the table's rows from a result whose columns are the table's. */
static void load(table_t *t, PGresult *r, bw_arena_t *a)
{
    t->nrows = PQntuples(r);
    t->text = bw_arena_alloc(a, sizeof *t->text * (size_t)(t->nrows + 1));
    t->num = bw_arena_alloc(a, sizeof *t->num * (size_t)(t->nrows + 1));
    for (int i = 0; i < t->nrows; i++) {
        t->text[i] = bw_arena_alloc(a, sizeof **t->text * MAXCOLS);
        t->num[i] = bw_arena_alloc(a, sizeof **t->num * MAXCOLS);
        for (int c = 0; c < t->ncols; c++) {
            t->text[i][c] = bw_arena_strdup(a, PQgetvalue(r, i, c));
            t->num[i][c] = t->kind[c] == 's' ? 0 : atoll(PQgetvalue(r, i, c));
        }
    }
}

/* --- the reports ----------------------------------------------------------------- */

static const char SQL_AGING[] =
    "SELECT CASE WHEN $2 = 'tier' THEN a.tier ELSE 'all' END, i.currency,"
    " sum(o) FILTER (WHERE $1::date - i.due_date <= 0),"
    " sum(o) FILTER (WHERE $1::date - i.due_date BETWEEN 1 AND 30),"
    " sum(o) FILTER (WHERE $1::date - i.due_date BETWEEN 31 AND 60),"
    " sum(o) FILTER (WHERE $1::date - i.due_date BETWEEN 61 AND 90),"
    " sum(o) FILTER (WHERE $1::date - i.due_date > 90), sum(o)"
    " FROM (SELECT *, total_minor - paid_minor - credited_minor o FROM invoices"
    "  WHERE status IN ('issued', 'partially_paid', 'overdue')"
    "  AND total_minor - paid_minor - credited_minor > 0 AND issue_date <= $1::date) i"
    " JOIN accounts a ON a.id = i.account_id GROUP BY 1, 2 ORDER BY 1, 2";

static const char SQL_BILLED[] =
    "SELECT period, currency, count(*)::text, sum(total_minor), sum(paid_minor),"
    " sum(credited_minor), sum(total_minor - paid_minor - credited_minor)"
    " FROM invoices WHERE ($1 = '' OR period = $1) AND status <> 'void'"
    " GROUP BY 1, 2 ORDER BY 1, 2";

/* Revenue by tier or currency: an invoice's lines sum to its subtotal and
 * tax (billctl audit checks it), so the invoices' own columns serve. */
static const char SQL_REVENUE[] =
    "SELECT CASE $2 WHEN 'tier' THEN a.tier ELSE i.currency END,"
    " i.currency, count(*)::text, sum(i.subtotal_minor), sum(i.tax_minor)"
    " FROM invoices i JOIN accounts a ON a.id = i.account_id"
    " WHERE ($1 = '' OR i.period = $1) AND i.status <> 'void'"
    " GROUP BY 1, 2 ORDER BY 4 DESC, 1, 2";

/* Revenue by fee item: the lines are stored as bytes (lines.h), so they
 * are summed here, a group per fee item and currency. */
static const char SQL_REVENUE_LINES[] =
    "SELECT i.currency, l.lines FROM invoices i JOIN invoice_lines l ON l.id = i.lines_id"
    " WHERE ($1 = '' OR i.period = $1) AND i.status <> 'void'";

typedef struct {
    const char *fee_item, *currency;
    long long invoices, seen;
    int64_t net, tax;
} fee_group_t;

typedef struct {
    fee_group_t *g;
    size_t n, cap;
    long long row; /* invoices read: each counts once in a group */
    bw_arena_t *a;
} fee_groups_t;

static fee_group_t *fee_group(fee_groups_t *fg, const char *fee_item, const char *currency)
{
    for (size_t k = 0; k < fg->n; k++)
        if (!strcmp(fg->g[k].fee_item, fee_item) && !strcmp(fg->g[k].currency, currency))
            return &fg->g[k];
    if (fg->n == fg->cap) {
        size_t cap = fg->cap ? 2 * fg->cap : 32;
        fee_group_t *g = realloc(fg->g, cap * sizeof *g);
        if (!g)
            return NULL;
        fg->g = g;
        fg->cap = cap;
    }
    fee_group_t *g = &fg->g[fg->n];
    *g = (fee_group_t){.fee_item = bw_arena_strdup(fg->a, fee_item),
                       .currency = bw_arena_strdup(fg->a, currency)};
    if (!g->fee_item || !g->currency)
        return NULL;
    fg->n++;
    return g;
}

static int fee_add(void *arg, PGresult *r, int row, const inv_line_t *lines, size_t n,
                   bool unreadable)
{
    fee_groups_t *fg = arg;
    if (unreadable)
        return BW_EINVAL;
    fg->row++;
    for (size_t i = 0; i < n; i++) {
        fee_group_t *g = fee_group(fg, lines[i].fee_item, PQgetvalue(r, row, 0));
        if (!g)
            return BW_ENOMEM;
        if (g->seen != fg->row) {
            g->seen = fg->row;
            g->invoices++;
        }
        if (__builtin_add_overflow(g->net, lines[i].net_minor, &g->net) ||
            __builtin_add_overflow(g->tax, lines[i].tax_minor, &g->tax))
            return BW_ETOOBIG;
    }
    return 0;
}

static int fee_cmp(const void *x, const void *y)
{
    const fee_group_t *a = x, *b = y;
    if (a->net != b->net)
        return a->net > b->net ? -1 : 1;
    int c = strcmp(a->fee_item, b->fee_item);
    return c ? c : strcmp(a->currency, b->currency);
}

/* The groups into the table's rows (columns as SQL_REVENUE's). */
static int revenue_by_fee_item(bw_db_t *db, const char *period, table_t *t, bw_arena_t *a)
{
    fee_groups_t fg = {.a = a};
    const char *p[1] = {period};
    int rc = inv_lines_scan(db, SQL_REVENUE_LINES, 1, p, 1, fee_add, &fg);
    if (rc == 0) {
        qsort(fg.g, fg.n, sizeof *fg.g, fee_cmp);
        t->nrows = (int)fg.n;
        t->text = bw_arena_alloc(a, sizeof *t->text * (fg.n + 1));
        t->num = bw_arena_alloc(a, sizeof *t->num * (fg.n + 1));
        for (size_t i = 0; i < fg.n; i++) {
            t->text[i] = bw_arena_alloc(a, sizeof **t->text * MAXCOLS);
            t->num[i] = bw_arena_alloc(a, sizeof **t->num * MAXCOLS);
            memset(t->num[i], 0, sizeof **t->num * MAXCOLS);
            t->text[i][0] = (char *)fg.g[i].fee_item;
            t->text[i][1] = (char *)fg.g[i].currency;
            t->text[i][2] = bw_arena_printf(a, "%lld", fg.g[i].invoices);
            t->text[i][3] = bw_arena_printf(a, "%lld", (long long)fg.g[i].net);
            t->text[i][4] = bw_arena_printf(a, "%lld", (long long)fg.g[i].tax);
            t->num[i][3] = fg.g[i].net;
            t->num[i][4] = fg.g[i].tax;
        }
    }
    free(fg.g);
    return rc;
}

void inv_report_get(bw_db_t *db, const Billow__ReportGet *req, Billow__Reply *reply,
                    bw_arena_t *a)
{
    const char *kind = req->kind ? req->kind : "";
    const char *period = req->period ? req->period : "";
    const char *by = req->by && *req->by ? req->by : "";
    const char *fmt = req->format && *req->format ? req->format : "table";
    if (strcmp(fmt, "table") && strcmp(fmt, "csv") && strcmp(fmt, "json") && strcmp(fmt, "html")) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "format: must be table, csv, json or html",
                       NULL);
        return;
    }
    if (!strcmp(by, "plan")) {
        bw_reply_error(reply, BILLOW__CODE__INVALID,
                       "by: plans are not stored in invoicing (rating owns them)",
                       "use --by fee-item (a plan's charges are fee items) or --by tier");
        return;
    }
    table_t t;
    memset(&t, 0, sizeof t);
    PGresult *r = NULL;
    bool summed = false; /* the rows were summed here, not by a query (r) */
    if (!strcmp(kind, "aging")) {
        if (*by && strcmp(by, "tier") && strcmp(by, "currency")) {
            bw_reply_error(reply, BILLOW__CODE__INVALID, "by: aging groups by tier or currency",
                           NULL);
            return;
        }
        int64_t day = bw_now_us() / 86400000000LL;
        if (*period && bw_date_parse(period, &day) < 0) {
            bw_reply_error(reply, BILLOW__CODE__INVALID,
                           "period: aging takes the as-of date (YYYY-MM-DD)", NULL);
            return;
        }
        char d[16];
        bw_date_format(day, d, sizeof d);
        const char *p[2] = {d, by};
        r = bw_db_query(db, SQL_AGING, 2, p);
        static const char *const cols[] = {"group", "currency", "current", "1-30", "31-60",
                                           "61-90", "90+", "total"};
        t.ncols = 8;
        memcpy(t.cols, cols, sizeof cols);
        memcpy(t.kind, "ssmmmmmm", 8);
        t.title = bw_arena_printf(a, "Ageing of open invoices as of %s (days past due)", d);
        t.cur_col = 1;
        t.label_col = 0;
        t.nseries = 0;
        if (r) {
            load(&t, r, a);
            /* The chart shows the buckets: transpose into one row per bucket. */
        }
    } else if (!strcmp(kind, "billed-collected") || !strcmp(kind, "collection-rate")) {
        if (*by && strcmp(by, "currency")) {
            bw_reply_error(reply, BILLOW__CODE__INVALID,
                           "by: this report groups by period and currency", NULL);
            return;
        }
        const char *p[1] = {period};
        r = bw_db_query(db, SQL_BILLED, 1, p);
        static const char *const cols[] = {"period",   "currency", "invoices",    "billed",
                                           "collected", "credited", "outstanding", "rate"};
        bool rate = !strcmp(kind, "collection-rate");
        t.ncols = rate ? 8 : 7;
        memcpy(t.cols, cols, sizeof cols);
        memcpy(t.kind, "sssmmmmr", 8);
        t.title = rate ? "Collection rate per period (collected / billed)"
                       : "Billed vs collected per period";
        t.cur_col = 1;
        t.label_col = 0;
        t.nseries = 2;
        t.series[0] = 3;
        t.series[1] = 4;
        if (r) {
            int k = t.ncols;
            t.ncols = 7;
            load(&t, r, a);
            t.ncols = k;
            for (int i = 0; rate && i < t.nrows; i++)
                t.num[i][7] = inv_rate_bp(t.num[i][4], t.num[i][3]);
        }
    } else if (!strcmp(kind, "revenue")) {
        if (!*by)
            by = "fee-item";
        if (strcmp(by, "fee-item") && strcmp(by, "tier") && strcmp(by, "currency")) {
            bw_reply_error(reply, BILLOW__CODE__INVALID, "by: fee-item, tier or currency", NULL);
            return;
        }
        static const char *const cols[] = {"group", "currency", "invoices", "net", "tax"};
        t.ncols = 5;
        memcpy(t.cols, cols, sizeof cols);
        t.cols[0] = by;
        memcpy(t.kind, "sssmm", 5);
        t.title = bw_arena_printf(a, "Revenue (net of tax) by %s%s%s", by, *period ? ", period " : "",
                                  period);
        t.cur_col = 1;
        t.label_col = 0;
        t.nseries = 1;
        t.series[0] = 3;
        if (!strcmp(by, "fee-item")) {
            int rc = revenue_by_fee_item(db, period, &t, a);
            if (rc == BW_EINVAL) {
                bw_reply_error(reply, BILLOW__CODE__INTERNAL,
                               "report: stored invoice lines that do not decode",
                               "billctl audit names the invoices");
                return;
            }
            if (rc == BW_ETOOBIG) {
                bw_reply_error(reply, BILLOW__CODE__INTERNAL,
                               "report: the lines' sums exceed the largest amount",
                               "billctl audit names the invoices whose lines do not add up");
                return;
            }
            if (rc < 0) {
                inv_pay_db_error(reply, db, "could not run report", a);
                return;
            }
            summed = true;
        } else {
            const char *p[2] = {period, by};
            if ((r = bw_db_query(db, SQL_REVENUE, 2, p)))
                load(&t, r, a);
        }
    } else {
        bw_reply_error(reply, BILLOW__CODE__INVALID,
                       "report: aging, billed-collected, collection-rate or revenue", NULL);
        return;
    }
    if (!r && !summed) {
        inv_pay_db_error(reply, db, "could not run report", a);
        return;
    }
    PQclear(r);
    bw_abuf_t b = {.a = a};
    if (!strcmp(fmt, "csv")) {
        render_csv(&t, &b, a);
    } else if (!strcmp(fmt, "json")) {
        render_json(&t, &b, a);
    } else if (!strcmp(fmt, "html")) {
        if (!strcmp(kind, "aging")) {
            /* One bar per bucket (per group and currency) reads better. */
            table_t c;
            memset(&c, 0, sizeof c);
            c.title = t.title;
            c.ncols = 3;
            c.cols[0] = "bucket";
            c.cols[1] = "currency";
            c.cols[2] = "open";
            memcpy(c.kind, "ssm", 3);
            c.cur_col = 1;
            c.nseries = 1;
            c.series[0] = 2;
            c.nrows = t.nrows * INV_AGING_BUCKETS;
            c.text = bw_arena_alloc(a, sizeof *c.text * (size_t)(c.nrows + 1));
            c.num = bw_arena_alloc(a, sizeof *c.num * (size_t)(c.nrows + 1));
            for (int i = 0; i < c.nrows; i++) {
                int row = i / INV_AGING_BUCKETS, k = i % INV_AGING_BUCKETS;
                c.text[i] = bw_arena_alloc(a, sizeof **c.text * MAXCOLS);
                c.num[i] = bw_arena_alloc(a, sizeof **c.num * MAXCOLS);
                c.text[i][0] = strcmp(t.text[row][0], "all")
                                   ? bw_arena_printf(a, "%s %s", t.text[row][0],
                                                     inv_aging_bucket_name(k))
                                   : (char *)inv_aging_bucket_name(k);
                c.text[i][1] = t.text[row][1];
                c.num[i][2] = t.num[row][2 + k];
            }
            bw_abuf_printf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
                    "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
                    "collapse;margin:1em 0}td,th{padding:.25em .7em;border-bottom:1px solid #ddd}"
                    "td.n{text-align:right}</style></head><body><h1>%s</h1>\n",
                bw_arena_html(a, t.title), bw_arena_html(a, t.title));
            render_svg(&c, &b, a);
            bw_abuf_printf(&b, "\n<table><tr>");
            for (int k = 0; k < t.ncols; k++)
                bw_abuf_printf(&b, "<th>%s</th>", t.cols[k]);
            bw_abuf_printf(&b, "</tr>\n");
            for (int i = 0; i < t.nrows; i++) {
                bw_abuf_printf(&b, "<tr>");
                for (int k = 0; k < t.ncols; k++)
                    bw_abuf_printf(&b, "<td%s>%s</td>", t.kind[k] == 's' ? "" : " class=n",
                        bw_arena_html(a, cell(&t, i, k, a)));
                bw_abuf_printf(&b, "</tr>\n");
            }
            bw_abuf_printf(&b, "</table></body></html>\n");
        } else {
            render_html(&t, &b, a);
        }
    } else {
        render_table(&t, &b, a);
    }
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    pr->document = b.s ? b.s : "";
    pr->count = t.nrows;
    pr->summary = bw_arena_printf(a, "%s: %d rows", t.title, t.nrows);
}
