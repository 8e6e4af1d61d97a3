/* The audit checks; see audit.h. Each check is one set-based query that
 * returns its findings as ready-made lines, so the audit reads every table
 * once per check however large it is, and adding a check is adding a
 * query. */
#include "invoicing/audit.h"
#include "invoicing/lines.h"
#include "invoicing/payments.h"

#include "db.h"
#include "money.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const CHECKS[] = {
    /* Instalments add up to the total. */
    "SELECT 'invoice ' || i.number || ': instalments sum to ' || s.a || ', total is ' || i.total_minor"
    " FROM invoices i JOIN (SELECT number, sum(amount_minor) a FROM invoice_instalments"
    " GROUP BY number) s USING (number) WHERE s.a <> i.total_minor ORDER BY 1",
    /* Number series: 1..n, no duplicates, the counter at n. */
    "WITH docs AS (SELECT series, seq FROM invoices UNION ALL SELECT series, seq FROM credit_notes"
    " UNION ALL SELECT substring(receipt_number from '^(RCP-[0-9]{6})'),"
    " substring(receipt_number from '-([0-9]+)$')::bigint FROM payments),"
    " g AS (SELECT series, count(*) c, count(DISTINCT seq) d, min(seq) mn, max(seq) mx"
    " FROM docs GROUP BY series)"
    " SELECT 'series ' || coalesce(g.series, s.series) || ': ' || CASE"
    " WHEN g.c IS NULL THEN 'counter at ' || s.last || ' but no documents'"
    " WHEN s.last IS NULL THEN 'documents without a counter row'"
    " WHEN g.c <> g.d THEN (g.c - g.d) || ' duplicate numbers'"
    " WHEN g.mn <> 1 OR g.mx <> g.c THEN 'gap: ' || g.c || ' documents numbered ' || g.mn || '..' || g.mx"
    " ELSE 'counter at ' || s.last || ' but last number is ' || g.mx END"
    " FROM g FULL JOIN number_series s USING (series)"
    " WHERE g.c IS NULL OR s.last IS NULL OR g.c <> g.d OR g.mn <> 1 OR g.mx <> g.c"
    " OR s.last <> g.mx ORDER BY 1",
    /* Settled amounts on invoices match their allocations. */
    "SELECT 'invoice ' || i.number || ': records paid ' || i.paid_minor || '/credited '"
    " || i.credited_minor || ' but allocations say ' || coalesce(a.p, 0) || '/' || coalesce(a.c, 0)"
    " FROM invoices i LEFT JOIN (SELECT invoice_number number,"
    " sum(amount_minor) FILTER (WHERE payment_id IS NOT NULL) p,"
    " sum(amount_minor) FILTER (WHERE credit_note IS NOT NULL) c FROM allocations GROUP BY 1) a"
    " USING (number) WHERE i.paid_minor <> coalesce(a.p, 0) OR i.credited_minor <> coalesce(a.c, 0)"
    " OR i.paid_minor + i.credited_minor > i.total_minor ORDER BY 1",
    /* Every payment allocated, refunded or held as credit, exactly. */
    "SELECT 'payment ' || p.id || ' (' || p.receipt_number || '): amount ' || p.amount_minor"
    " || ' = allocated ' || coalesce(a.s, 0) || ' + refunded ' || coalesce(r.s, 0)"
    " || ' + credit ' || p.unallocated_minor || ' does not hold'"
    " FROM payments p LEFT JOIN (SELECT payment_id, sum(amount_minor) s FROM allocations"
    " WHERE payment_id IS NOT NULL GROUP BY 1) a ON a.payment_id = p.id"
    " LEFT JOIN (SELECT payment_id, sum(amount_minor) s FROM refunds WHERE payment_id IS NOT NULL"
    " GROUP BY 1) r ON r.payment_id = p.id"
    " WHERE p.amount_minor <> coalesce(a.s, 0) + coalesce(r.s, 0) + p.unallocated_minor ORDER BY 1",
    "SELECT 'credit note ' || c.number || ': amount ' || c.amount_minor || ' = allocated '"
    " || coalesce(a.s, 0) || ' + credit ' || c.unallocated_minor || ' does not hold'"
    " FROM credit_notes c LEFT JOIN (SELECT credit_note, sum(amount_minor) s FROM allocations"
    " WHERE credit_note IS NOT NULL GROUP BY 1) a ON a.credit_note = c.number"
    " WHERE c.amount_minor <> coalesce(a.s, 0) + c.unallocated_minor ORDER BY 1",
    /* Each account: invoiced - paid - credited + refunded = open - credit. */
    "WITH l AS (SELECT account_id, sum(v) v FROM ("
    "  SELECT account_id, total_minor v FROM invoices"
    "  UNION ALL SELECT account_id, -amount_minor FROM payments"
    "  UNION ALL SELECT account_id, -amount_minor FROM credit_notes"
    "  UNION ALL SELECT account_id, amount_minor FROM refunds WHERE payment_id IS NOT NULL) x"
    "  GROUP BY 1),"
    " o AS (SELECT account_id, sum(v) v FROM ("
    "  SELECT i.account_id, i.total_minor - coalesce((SELECT sum(amount_minor) FROM allocations a"
    "   WHERE a.invoice_number = i.number), 0) v FROM invoices i"
    "  UNION ALL SELECT account_id, -unallocated_minor FROM payments"
    "  UNION ALL SELECT account_id, -unallocated_minor FROM credit_notes) y GROUP BY 1)"
    " SELECT 'account ' || coalesce(l.account_id, o.account_id) || ': balance '"
    " || coalesce(l.v, 0) || ' (invoiced - paid - credited + refunded) but open invoices less"
    " credit come to ' || coalesce(o.v, 0)"
    " FROM l FULL JOIN o USING (account_id) WHERE coalesce(l.v, 0) <> coalesce(o.v, 0) ORDER BY 1",
    /* References the schema does not enforce. */
    "SELECT 'invoice lines ' || l.id || ': no invoice names them'"
    " FROM invoice_lines l WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.lines_id = l.id)"
    " UNION ALL SELECT 'invoice lines of ' || number || ': no such invoice (kept aside by"
    " migration 008 in invoicing.invoice_lines_unmatched)' FROM invoice_lines_unmatched"
    " UNION ALL SELECT 'invoices ' || string_agg(number, ', ' ORDER BY number)"
    " || ': they name the same lines ' || lines_id FROM invoices WHERE lines_id IN"
    " (SELECT lines_id FROM invoices GROUP BY 1 HAVING count(*) > 1) GROUP BY lines_id"
    " ORDER BY 1",
    "SELECT 'instalment ' || s.number || '#' || s.seq || ': no such invoice'"
    " FROM invoice_instalments s WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.number = s.number)"
    " ORDER BY 1",
    "SELECT 'run result ' || r.run_id || '/' || r.account_id || ': ' || CASE"
    " WHEN NOT EXISTS (SELECT 1 FROM bill_runs b WHERE b.id = r.run_id) THEN 'no such run'"
    " ELSE 'invoice ' || coalesce(r.invoice_number, '(none)') || ' does not exist' END"
    " FROM bill_run_results r WHERE NOT EXISTS (SELECT 1 FROM bill_runs b WHERE b.id = r.run_id)"
    " OR (r.outcome = 'invoiced' AND NOT EXISTS (SELECT 1 FROM invoices i"
    " WHERE i.number = r.invoice_number)) ORDER BY 1",
    /* A run's counts against what recorded each outcome (an invoice names
     * its run; the others are results), and its number range against its
     * invoices (listing a run reads only that range). */
    "SELECT 'bill run ' || b.id || ': ' || CASE"
    " WHEN b.invoiced <> coalesce(i.n, 0) THEN 'counts ' || b.invoiced || ' invoiced but '"
    "  || coalesce(i.n, 0) || ' invoices name it'"
    " WHEN b.nothing_to_bill <> coalesce(r.z, 0) OR b.failed <> coalesce(r.f, 0) THEN 'counts '"
    "  || b.nothing_to_bill || ' nothing to bill/' || b.failed || ' failed but its results say '"
    "  || coalesce(r.z, 0) || '/' || coalesce(r.f, 0)"
    " ELSE 'its invoices run from ' || i.lo || ' to ' || i.hi || ', outside its range '"
    "  || coalesce(b.first_number, '(none)') || '..' || coalesce(b.last_number, '(none)') END"
    " FROM bill_runs b LEFT JOIN (SELECT run_id, count(*) n, min(number) lo, max(number) hi"
    "  FROM invoices WHERE run_id IS NOT NULL GROUP BY run_id) i ON i.run_id = b.id"
    " LEFT JOIN (SELECT run_id, count(*) FILTER (WHERE outcome = 'nothing_to_bill') z,"
    "  count(*) FILTER (WHERE outcome = 'failed') f FROM bill_run_results GROUP BY run_id) r"
    "  ON r.run_id = b.id"
    " WHERE b.invoiced <> coalesce(i.n, 0) OR b.nothing_to_bill <> coalesce(r.z, 0)"
    " OR b.failed <> coalesce(r.f, 0) OR i.lo < b.first_number OR i.hi > b.last_number"
    " OR (i.n > 0 AND b.first_number IS NULL) ORDER BY 1",
    /* Every account once per run: done is the sum of the outcomes, and no
     * account has both an invoice of a run and a result of it. */
    "SELECT 'bill run ' || id || ': done ' || done || ' but ' || invoiced || ' invoiced + '"
    " || nothing_to_bill || ' nothing to bill + ' || failed || ' failed'"
    " FROM bill_runs WHERE done <> invoiced + nothing_to_bill + failed ORDER BY 1",
    "SELECT 'bill run ' || r.run_id || ': account ' || r.account_id || ' has invoice '"
    " || i.number || ' and a result: ' || r.outcome"
    " FROM bill_run_results r JOIN invoices i ON i.account_id = r.account_id AND i.run_id = r.run_id"
    " WHERE r.outcome <> 'invoiced' ORDER BY 1",
    "SELECT 'invoice ' || i.number || ': bill run ' || i.run_id || ' does not exist'"
    " FROM invoices i WHERE i.run_id IS NOT NULL AND i.run_id <> ''"
    " AND NOT EXISTS (SELECT 1 FROM bill_runs b WHERE b.id = i.run_id) ORDER BY 1",
    "SELECT 'allocation ' || a.id || ': ' || CASE"
    " WHEN NOT EXISTS (SELECT 1 FROM invoices i WHERE i.number = a.invoice_number)"
    " THEN 'no such invoice ' || a.invoice_number"
    " ELSE 'no such source ' || coalesce(a.payment_id, a.credit_note) END"
    " FROM allocations a WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.number = a.invoice_number)"
    " OR (a.payment_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = a.payment_id))"
    " OR (a.credit_note IS NOT NULL AND NOT EXISTS (SELECT 1 FROM credit_notes c"
    " WHERE c.number = a.credit_note)) ORDER BY 1",
    "SELECT 'credit note ' || c.number || ': no such invoice ' || c.invoice_number"
    " FROM credit_notes c WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.number = c.invoice_number)"
    " ORDER BY 1",
};
#define NCHECKS (sizeof CHECKS / sizeof CHECKS[0])
#define MAX_FINDINGS 1000

typedef struct {
    char **v;
    size_t n;
    long long more;
    bw_arena_t *a;
} findings_t;

static void add(findings_t *f, const char *s)
{
    if (f->n < MAX_FINDINGS)
        f->v[f->n++] = bw_arena_strdup(f->a, s);
    else
        f->more++;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Every invoice recomputed from its lines, which are stored as bytes
 * (lines.h) and so summed here rather than in SQL. */
static const char SQL_INVOICE_LINES[] =
    "SELECT i.number, i.subtotal_minor, i.tax_minor, i.total_minor, l.lines"
    " FROM invoices i LEFT JOIN invoice_lines l ON l.id = i.lines_id";

static int line_sums(void *arg, PGresult *r, int row, const inv_line_t *lines, size_t n,
                     bool unreadable)
{
    findings_t *f = arg;
    const char *number = PQgetvalue(r, row, 0);
    long long sub = atoll(PQgetvalue(r, row, 1)), tax = atoll(PQgetvalue(r, row, 2)),
              total = atoll(PQgetvalue(r, row, 3));
    bw_i128_t ln = 0, lt = 0; /* corrupt lines may sum past int64 */
    char buf[256];
    if (!lines) {
        snprintf(buf, sizeof buf, "invoice %s: %s", number,
                 unreadable ? "its stored lines do not decode" : "has no lines");
        add(f, buf);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        ln += lines[i].net_minor;
        lt += lines[i].tax_minor;
    }
    if (sub != ln || tax != lt || (bw_i128_t)total != (bw_i128_t)sub + tax) {
        if (ln > INT64_MAX || ln < INT64_MIN || lt > INT64_MAX || lt < INT64_MIN ||
            ln + lt > INT64_MAX || ln + lt < INT64_MIN)
            snprintf(buf, sizeof buf, "invoice %s: its lines sum beyond any amount", number);
        else
            snprintf(buf, sizeof buf,
                     "invoice %s: subtotal %lld/tax %lld/total %lld but its lines sum to"
                     " %lld/%lld/%lld",
                     number, sub, tax, total, (long long)ln, (long long)lt, (long long)(ln + lt));
        add(f, buf);
    }
    return 0;
}

static int check_lines(bw_db_t *db, findings_t *f)
{
    size_t first = f->n;
    int rc = inv_lines_scan(db, SQL_INVOICE_LINES, 0, NULL, 4, line_sums, f);
    qsort(f->v + first, f->n - first, sizeof *f->v, cmp_str);
    return rc;
}

void inv_audit_run(bw_db_t *db, const Billow__AuditRun *req, Billow__Reply *reply,
                   bw_arena_t *a)
{
    (void)req;
    findings_t f = {.v = bw_arena_alloc(a, sizeof *f.v * (MAX_FINDINGS + 1)), .a = a};
    if (check_lines(db, &f) < 0) {
        inv_pay_db_error(reply, db, "could not run audit check", a);
        return;
    }
    for (size_t c = 0; c < NCHECKS; c++) {
        PGresult *r = bw_db_query(db, CHECKS[c], 0, NULL);
        if (!r) {
            inv_pay_db_error(reply, db, "could not run audit check", a);
            return;
        }
        for (int i = 0; i < PQntuples(r); i++)
            add(&f, PQgetvalue(r, i, 0));
        PQclear(r);
    }
    PGresult *r = bw_db_query(db,
                              "SELECT (SELECT count(*) FROM invoices), (SELECT count(*) FROM"
                              " payments), (SELECT count(*) FROM credit_notes), (SELECT count(*)"
                              " FROM trail)",
                              0, NULL);
    if (!r) {
        inv_pay_db_error(reply, db, "could not run audit check", a);
        return;
    }
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    size_t n = f.n;
    long long more = f.more;
    pr->findings = f.v;
    pr->n_findings = n;
    pr->count = (int64_t)n + more;
    pr->summary = bw_arena_printf(a,
                                  "audit: %s invoices, %s payments, %s credit notes, %s trail rows"
                                  " checked; %lld finding%s%s",
                                  PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2),
                                  PQgetvalue(r, 0, 3), (long long)n + more,
                                  n + (size_t)more == 1 ? "" : "s",
                                  more ? " (first 1000 listed)" : "");
    PQclear(r);
}
