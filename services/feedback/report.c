/* Feedback report: aggregation, CSV and HTML renderings, and the query that
 * feeds them (see report.h). Rows are aggregated in C rather than SQL so the
 * medians and rates are computed by code a unit test can pin down. */
#include "feedback/report.h"

#include "clock.h"
#include "csv.h"
#include "db.h"
#include "errors.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEP '\x1f'
#define TS(n) "(timestamptz 'epoch' + $" #n "::bigint * interval '1 microsecond')"

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int64_t fb_median(int64_t *v, size_t n)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof *v, cmp_i64);
    if (n % 2)
        return v[n / 2];
    return (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Does the SEP-separated list `keys` contain `key`? */
static bool has_key(const char *keys, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = keys;;) {
        const char *e = strchr(p, SEP);
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == kl && strncmp(p, key, l) == 0)
            return true;
        if (!e)
            return false;
        p = e + 1;
    }
}

/* Aggregates the rows for which match(row) holds into g. */
static int aggregate(Billow__ReportGroup *g, const fb_report_row_t *rows, size_t n,
                     const char *key, int64_t *scratch1, int64_t *scratch2)
{
    size_t nf = 0, nr = 0;
    int64_t csat_sum = 0;
    billow__report_group__init(g);
    for (size_t i = 0; i < n; i++) {
        const fb_report_row_t *r = &rows[i];
        if (key && !has_key(r->keys, key))
            continue;
        g->tickets++;
        if (r->first_response_s >= 0)
            scratch1[nf++] = r->first_response_s;
        if (r->resolution_s >= 0) {
            scratch2[nr++] = r->resolution_s;
            g->resolved++;
        }
        g->breached += r->breached;
        if (r->csat > 0) {
            g->csat_count++;
            csat_sum += r->csat;
        }
    }
    g->median_first_response_s = fb_median(scratch1, nf);
    g->median_resolution_s = fb_median(scratch2, nr);
    g->breach_rate = g->tickets ? (double)g->breached / (double)g->tickets : 0;
    g->csat_avg = g->csat_count ? (double)csat_sum / (double)g->csat_count : 0;
    return 0;
}

typedef struct {
    char *key;
    int64_t count;
} keycount_t;

static int cmp_keycount(const void *a, const void *b)
{
    const keycount_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* Adds key to the set (counting), returns the new size. */
static size_t count_key(keycount_t *set, size_t n, char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(set[i].key, key) == 0) {
            set[i].count++;
            return n;
        }
    set[n].key = key;
    set[n].count = 1;
    return n + 1;
}

int fb_report_build(Billow__FeedbackReport *r, const fb_report_row_t *rows, size_t n,
                    bw_arena_t *a)
{
    size_t nkeys = 0;
    for (size_t i = 0; i < n; i++) {
        nkeys++;
        for (const char *p = rows[i].keys; *p; p++)
            nkeys += *p == SEP;
    }
    int64_t *s1 = bw_arena_alloc(a, sizeof *s1 * (n + 1));
    int64_t *s2 = bw_arena_alloc(a, sizeof *s2 * (n + 1));
    keycount_t *keys = bw_arena_alloc(a, sizeof *keys * (nkeys + 1));
    keycount_t *cats = bw_arena_alloc(a, sizeof *cats * (n + 1));
    r->total = bw_arena_alloc(a, sizeof *r->total);
    if (!s1 || !s2 || !keys || !cats || !r->total)
        return BW_ENOMEM;
    aggregate(r->total, rows, n, NULL, s1, s2);
    r->total->key = "total";
    size_t nk = 0, nc = 0;
    for (size_t i = 0; i < n; i++) {
        char *copy = bw_arena_strdup(a, rows[i].keys);
        for (char *p = copy;;) {
            char *e = strchr(p, SEP);
            if (e)
                *e = '\0';
            nk = count_key(keys, nk, p);
            if (!e)
                break;
            p = e + 1;
        }
        const char *cat = rows[i].category && *rows[i].category ? rows[i].category : "(none)";
        nc = count_key(cats, nc, bw_arena_strdup(a, cat));
    }
    qsort(keys, nk, sizeof *keys, cmp_keycount);
    qsort(cats, nc, sizeof *cats, cmp_keycount);
    r->groups = bw_arena_alloc(a, sizeof *r->groups * (nk + 1));
    for (size_t i = 0; i < nk; i++) {
        Billow__ReportGroup *g = bw_arena_alloc(a, sizeof *g);
        aggregate(g, rows, n, keys[i].key, s1, s2);
        g->key = keys[i].key;
        r->groups[r->n_groups++] = g;
    }
    size_t top = nc < 5 ? nc : 5;
    r->top_categories = bw_arena_alloc(a, sizeof *r->top_categories * (top + 1));
    for (size_t i = 0; i < top; i++) {
        Billow__CategoryCount *cc = bw_arena_alloc(a, sizeof *cc);
        billow__category_count__init(cc);
        cc->category = cats[i].key;
        cc->tickets = cats[i].count;
        r->top_categories[r->n_top_categories++] = cc;
    }
    return 0;
}

/* Seconds as "3h05m" / "45m" / "-" for none: readable in tables and pages. */
static void fmt_dur(int64_t s, char *buf, size_t len)
{
    if (s < 0)
        snprintf(buf, len, "-");
    else if (s >= 3600)
        snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
}

/* Copies a memstream's buffer into the arena and frees it. */
static char *take(FILE *f, char **buf, size_t *len, bw_arena_t *a)
{
    fclose(f); /* sets *buf and *len */
    char *out = *buf ? bw_arena_alloc(a, *len + 1) : NULL;
    if (out) {
        memcpy(out, *buf, *len);
        out[*len] = '\0';
    }
    free(*buf);
    return out;
}

static void csv_group(FILE *f, const Billow__ReportGroup *g)
{
    char n[6][24], rate[24], avg[24];
    snprintf(n[0], 24, "%lld", (long long)g->tickets);
    snprintf(n[1], 24, "%lld", (long long)g->resolved);
    snprintf(n[2], 24, "%lld", (long long)g->median_first_response_s);
    snprintf(n[3], 24, "%lld", (long long)g->median_resolution_s);
    snprintf(n[4], 24, "%lld", (long long)g->breached);
    snprintf(n[5], 24, "%lld", (long long)g->csat_count);
    snprintf(rate, sizeof rate, "%.4f", g->breach_rate);
    snprintf(avg, sizeof avg, "%.2f", g->csat_avg);
    const char *row[9] = {g->key, n[0], n[1], n[2], n[3], n[4], rate, n[5], avg};
    bw_csv_write_row(f, row, 9);
}

char *fb_report_csv(const Billow__FeedbackReport *r, bw_arena_t *a)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    const char *head[9] = {r->by,       "tickets",  "resolved",    "median_first_response_s",
                           "median_resolution_s", "breached", "breach_rate", "csat_count",
                           "csat_avg"};
    bw_csv_write_row(f, head, 9);
    for (size_t i = 0; i < r->n_groups; i++)
        csv_group(f, r->groups[i]);
    if (r->total)
        csv_group(f, r->total);
    return take(f, &buf, &len, a);
}

static void html_esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A horizontal bar chart: one bar per label, value/max wide, the value
 * printed after the bar. */
static void svg_bars(FILE *f, const char *title, size_t n, const char *const *labels,
                     const double *values, const char *const *texts, const char *color)
{
    double max = 0;
    for (size_t i = 0; i < n; i++)
        if (values[i] > max)
            max = values[i];
    int h = 24 * (int)n + 30;
    fprintf(f, "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"%d\""
               " role=\"img\" aria-label=\"", h);
    html_esc(f, title);
    fprintf(f, "\"><text x=\"0\" y=\"16\" class=\"t\">");
    html_esc(f, title);
    fputs("</text>", f);
    for (size_t i = 0; i < n; i++) {
        int y = 26 + 24 * (int)i;
        double w = max > 0 ? values[i] / max * 380.0 : 0;
        fprintf(f, "<text x=\"170\" y=\"%d\" text-anchor=\"end\">", y + 14);
        html_esc(f, labels[i]);
        fprintf(f, "</text><rect x=\"180\" y=\"%d\" width=\"%.1f\" height=\"18\" fill=\"%s\"/>"
                   "<text x=\"%.1f\" y=\"%d\">",
                y, w, color, 186 + w, y + 14);
        html_esc(f, texts[i]);
        fputs("</text>", f);
    }
    fputs("</svg></figure>\n", f);
}

static void html_group_row(FILE *f, const Billow__ReportGroup *g, const char *tag)
{
    char frt[32], res[32];
    fmt_dur(g->median_first_response_s, frt, sizeof frt);
    fmt_dur(g->median_resolution_s, res, sizeof res);
    fprintf(f, "<tr><%s>", tag);
    html_esc(f, g->key);
    fprintf(f, "</%s><td>%lld</td><td>%lld</td><td>%s</td><td>%s</td><td>%lld (%.1f%%)</td>",
            tag, (long long)g->tickets, (long long)g->resolved, frt, res, (long long)g->breached,
            g->breach_rate * 100);
    if (g->csat_count)
        fprintf(f, "<td>%.2f (%lld)</td></tr>\n", g->csat_avg, (long long)g->csat_count);
    else
        fputs("<td>-</td></tr>\n", f);
}

char *fb_report_html(const Billow__FeedbackReport *r, bw_arena_t *a)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<title>Feedback report</title><style>"
          "body{font-family:sans-serif;margin:2em;color:#222}"
          "table{border-collapse:collapse;margin:1em 0}"
          "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}"
          "th:first-child,td:first-child{text-align:left}"
          "svg text{font-size:12px;font-family:sans-serif}svg .t{font-weight:bold}"
          "figure{margin:1em 0}</style></head><body>\n<h1>Feedback report</h1>\n<p>",
          f);
    html_esc(f, r->from);
    fputs(" to ", f);
    html_esc(f, r->to);
    fputs(", by ", f);
    html_esc(f, r->by);
    fputs(" (generated ", f);
    html_esc(f, r->generated_at);
    fputs(")</p>\n", f);
    if (r->total) {
        char frt[32], res[32];
        fmt_dur(r->total->median_first_response_s, frt, sizeof frt);
        fmt_dur(r->total->median_resolution_s, res, sizeof res);
        fprintf(f, "<p>%lld tickets, %lld resolved; median first response %s, median resolution"
                   " %s; SLA breach rate %.1f%%; satisfaction ",
                (long long)r->total->tickets, (long long)r->total->resolved, frt, res,
                r->total->breach_rate * 100);
        if (r->total->csat_count)
            fprintf(f, "%.2f of 5 (%lld answers)</p>\n", r->total->csat_avg,
                    (long long)r->total->csat_count);
        else
            fputs("- (no answers)</p>\n", f);
    }
    fputs("<h2>By ", f);
    html_esc(f, r->by);
    fputs("</h2>\n<table><tr><th>", f);
    html_esc(f, r->by);
    fputs("</th><th>tickets</th><th>resolved</th><th>median first response</th>"
          "<th>median resolution</th><th>SLA breached</th><th>satisfaction</th></tr>\n",
          f);
    for (size_t i = 0; i < r->n_groups; i++)
        html_group_row(f, r->groups[i], "td");
    if (r->total)
        html_group_row(f, r->total, "th");
    fputs("</table>\n", f);
    size_t n = r->n_groups;
    const char **labels = bw_arena_alloc(a, sizeof *labels * (n + 1));
    const char **texts = bw_arena_alloc(a, sizeof *texts * (n + 1));
    double *values = bw_arena_alloc(a, sizeof *values * (n + 1));
    for (size_t i = 0; i < n; i++) {
        labels[i] = r->groups[i]->key;
        values[i] = (double)r->groups[i]->tickets;
        texts[i] = bw_arena_printf(a, "%lld", (long long)r->groups[i]->tickets);
    }
    if (n)
        svg_bars(f, "Tickets", n, labels, values, texts, "#4a78b5");
    n = r->n_price_changes;
    if (n) {
        labels = bw_arena_alloc(a, sizeof *labels * n);
        texts = bw_arena_alloc(a, sizeof *texts * n);
        values = bw_arena_alloc(a, sizeof *values * n);
        fputs("<h2>Objections per announced price change</h2>\n<table><tr><th>price change</th>"
              "<th>accounts told</th><th>tickets</th><th>objection rate</th></tr>\n",
              f);
        for (size_t i = 0; i < n; i++) {
            const Billow__PriceChangeObjection *o = r->price_changes[i];
            fputs("<tr><td>", f);
            html_esc(f, o->change_id);
            fprintf(f, "</td><td>%lld</td><td>%lld</td><td>%.1f%%</td></tr>\n",
                    (long long)o->accounts, (long long)o->tickets, o->objection_rate * 100);
            labels[i] = o->change_id;
            values[i] = o->objection_rate;
            texts[i] = bw_arena_printf(a, "%.1f%%", o->objection_rate * 100);
        }
        fputs("</table>\n", f);
        svg_bars(f, "Objection rate", n, labels, values, texts, "#c0504d");
    }
    if (r->n_top_categories) {
        fputs("<h2>Top categories</h2>\n<table><tr><th>category</th><th>tickets</th></tr>\n", f);
        for (size_t i = 0; i < r->n_top_categories; i++) {
            fputs("<tr><td>", f);
            html_esc(f, r->top_categories[i]->category);
            fprintf(f, "</td><td>%lld</td></tr>\n", (long long)r->top_categories[i]->tickets);
        }
        fputs("</table>\n", f);
    }
    fputs("</body></html>\n", f);
    return take(f, &buf, &len, a);
}

/* --- the request ---------------------------------------------------------- */

static const char SQL_ROWS[] =
    "SELECT %s, t.category,"
    " COALESCE(EXTRACT(EPOCH FROM t.first_response_at - t.opened_at)::bigint, -1),"
    " COALESCE(EXTRACT(EPOCH FROM t.resolved_at - t.opened_at)::bigint, -1),"
    " COALESCE(t.first_response_at, " TS(1) ") > t.first_response_due"
    " OR COALESCE(t.resolved_at, " TS(1) ") > t.resolution_due,"
    " COALESCE(t.csat_score, 0)"
    " FROM tickets t WHERE t.opened_at >= " TS(2) " AND t.opened_at < " TS(3) " ORDER BY t.seq";
static const char SQL_OBJECTIONS[] =
    "SELECT p.change_id, count(*), (SELECT count(*) FROM tickets t"
    " WHERE t.price_change_id = p.change_id AND t.opened_at >= " TS(1)
    " AND t.opened_at < " TS(2) ") FROM price_changes p GROUP BY p.change_id ORDER BY 1";

/* The group key expression for each --by value: a fixed list, never user
 * text, so building the statement from it keeps SQL parameterised. */
static const struct {
    const char *by;
    const char *expr;
} group_exprs[] = {
    {"type", "t.type"},
    {"channel", "t.channel"},
    {"category", "COALESCE(NULLIF(t.category, ''), '(none)')"},
    {"price-change", "COALESCE(t.price_change_id, '(none)')"},
    {"fee-item",
     "COALESCE(CASE WHEN t.price_change_id IS NOT NULL THEN"
     " (SELECT string_agg(i.fee_item, chr(31) ORDER BY i.fee_item) FROM price_change_items i"
     " WHERE i.change_id = t.price_change_id) ELSE"
     " (SELECT string_agg(i.fee_item, chr(31) ORDER BY i.fee_item) FROM invoice_items i"
     " WHERE i.number = t.invoice_number) END, '(none)')"},
};

static const char *num(bw_arena_t *a, long long v) { return bw_arena_printf(a, "%lld", v); }

void fb_report(fb_call_t *c, const Billow__FeedbackReportRequest *op)
{
    const char *by = *op->by ? op->by : "type";
    const char *expr = NULL;
    for (size_t i = 0; i < sizeof group_exprs / sizeof *group_exprs; i++)
        if (strcmp(group_exprs[i].by, by) == 0)
            expr = group_exprs[i].expr;
    if (!expr) {
        bw_reply_error(c->reply, BILLOW__CODE__INVALID,
                       "by: must be type, channel, category, fee-item or price-change", NULL);
        return;
    }
    const char *format = op->format;
    if (*format && strcmp(format, "table") && strcmp(format, "json") && strcmp(format, "csv") &&
        strcmp(format, "html")) {
        bw_reply_error(c->reply, BILLOW__CODE__INVALID, "format: must be table, csv, json or html",
                       NULL);
        return;
    }
    int64_t from = 0, to;
    char today[16];
    bw_date_format(c->now_us / 86400000000LL, today, sizeof today);
    if (*op->from && bw_date_parse(op->from, &from) < 0) {
        bw_reply_error(c->reply, BILLOW__CODE__INVALID, "from: not a date (YYYY-MM-DD)", op->from);
        return;
    }
    if (bw_date_parse(*op->to ? op->to : today, &to) < 0) {
        bw_reply_error(c->reply, BILLOW__CODE__INVALID, "to: not a date (YYYY-MM-DD)", op->to);
        return;
    }
    if (to < from) {
        bw_reply_error(c->reply, BILLOW__CODE__INVALID, "from: after to", NULL);
        return;
    }
    bw_arena_t *a = c->arena;
    const char *from_us = num(a, from * 86400000000LL), *to_us = num(a, (to + 1) * 86400000000LL);
    const char *p[3] = {num(a, c->now_us), from_us, to_us};
    PGresult *res = bw_db_query(c->db, bw_arena_printf(a, SQL_ROWS, expr), 3, p);
    if (!res) {
        fb_db_error(c, "could not read tickets");
        return;
    }
    size_t n = (size_t)PQntuples(res);
    fb_report_row_t *rows = bw_arena_alloc(a, sizeof *rows * (n + 1));
    for (size_t i = 0; i < n; i++) {
        rows[i].keys = bw_arena_strdup(a, PQgetvalue(res, (int)i, 0));
        rows[i].category = bw_arena_strdup(a, PQgetvalue(res, (int)i, 1));
        rows[i].first_response_s = atoll(PQgetvalue(res, (int)i, 2));
        rows[i].resolution_s = atoll(PQgetvalue(res, (int)i, 3));
        rows[i].breached = strcmp(PQgetvalue(res, (int)i, 4), "t") == 0;
        rows[i].csat = atoi(PQgetvalue(res, (int)i, 5));
    }
    PQclear(res);
    Billow__FeedbackReport *r = bw_arena_alloc(a, sizeof *r);
    billow__feedback_report__init(r);
    r->from = bw_arena_alloc(a, 16);
    r->to = bw_arena_alloc(a, 16);
    bw_date_format(from, r->from, 16);
    bw_date_format(to, r->to, 16);
    r->by = (char *)by;
    r->format = (char *)format;
    char now[40];
    bw_time_format(c->now_us, now, sizeof now);
    r->generated_at = bw_arena_strdup(a, now);
    if (fb_report_build(r, rows, n, a) < 0) {
        bw_reply_error(c->reply, BILLOW__CODE__INTERNAL, "out of memory", NULL);
        return;
    }
    const char *q[2] = {from_us, to_us};
    res = bw_db_query(c->db, SQL_OBJECTIONS, 2, q);
    if (!res) {
        fb_db_error(c, "could not read price changes");
        return;
    }
    int np = PQntuples(res);
    r->price_changes = bw_arena_alloc(a, sizeof *r->price_changes * (size_t)(np + 1));
    for (int i = 0; i < np; i++) {
        Billow__PriceChangeObjection *o = bw_arena_alloc(a, sizeof *o);
        billow__price_change_objection__init(o);
        o->change_id = bw_arena_strdup(a, PQgetvalue(res, i, 0));
        o->accounts = atoll(PQgetvalue(res, i, 1));
        o->tickets = atoll(PQgetvalue(res, i, 2));
        o->objection_rate = o->accounts ? (double)o->tickets / (double)o->accounts : 0;
        r->price_changes[r->n_price_changes++] = o;
    }
    PQclear(res);
    if (strcmp(format, "csv") == 0)
        r->document = fb_report_csv(r, a);
    else if (strcmp(format, "html") == 0)
        r->document = fb_report_html(r, a);
    if (!r->document)
        r->document = "";
    Billow__FeedbackReply *fr = bw_arena_alloc(a, sizeof *fr);
    billow__feedback_reply__init(fr);
    fr->op_case = BILLOW__FEEDBACK_REPLY__OP_REPORT;
    fr->report = r;
    c->reply->body_case = BILLOW__REPLY__BODY_FEEDBACK;
    c->reply->feedback = fr;
}
