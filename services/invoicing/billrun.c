/* Bill runs: start (idempotent per period and cycle), status and list. */
#include "invoicing/billrun.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "outbox.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_FIND[] = "SELECT id FROM bill_runs WHERE period = $1 AND cycle = $2";
static const char SQL_DUE[] =
    "SELECT count(*) FROM accounts WHERE status = 'active' AND cycle = $1";
static const char SQL_INSERT[] =
    "INSERT INTO bill_runs (id, period, cycle, period_start, period_end, due, caused_by)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)";
/* Progress is counted on the run's row as results are recorded (invoiced
 * accounts have no results row); totals come from the invoices, read along
 * the primary key between the run's first and last number. */
static const char SQL_STATUS[] =
    "SELECT r.id, r.period, r.cycle, r.period_start, r.period_end, r.due,"
    " to_char(r.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " coalesce(to_char(r.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), ''),"
    " extract(epoch FROM coalesce(r.finished_at, now()) - r.started_at)::float8,"
    " r.invoiced, r.nothing_to_bill, r.failed"
    " FROM bill_runs r WHERE ($1 = '' OR r.id = $1) ORDER BY r.started_at DESC LIMIT $2::int";
static const char SQL_TOTALS[] =
    "SELECT i.currency, count(*), sum(i.total_minor) FROM bill_runs r JOIN invoices i"
    " ON i.number BETWEEN r.first_number AND r.last_number AND i.run_id = r.id"
    " WHERE r.id = $1 GROUP BY i.currency ORDER BY i.currency";

int inv_period_parse(const char *period, const char *cycle, int64_t *start, int64_t *end,
                     char *err, size_t errlen)
{
    char date[16];
    if (!period || strlen(period) != 7 || period[4] != '-') {
        snprintf(err, errlen, "period: expected YYYY-MM, e.g. 2026-11");
        return BW_EINVAL;
    }
    snprintf(date, sizeof date, "%s-01", period);
    if (bw_date_parse(date, start) < 0) {
        snprintf(err, errlen, "period: not a valid month");
        return BW_EINVAL;
    }
    int y, m, d;
    bw_civil_from_days(*start, &y, &m, &d);
    int months;
    if (!cycle || !*cycle || strcmp(cycle, "monthly") == 0) {
        months = 1;
    } else if (strcmp(cycle, "quarterly") == 0) {
        if ((m - 1) % 3 != 0) {
            snprintf(err, errlen, "period: a quarterly run starts in January, April, July or October");
            return BW_EINVAL;
        }
        months = 3;
    } else if (strcmp(cycle, "annual") == 0) {
        if (m != 1) {
            snprintf(err, errlen, "period: an annual run starts in January (YYYY-01)");
            return BW_EINVAL;
        }
        months = 12;
    } else {
        snprintf(err, errlen, "cycle: must be monthly, quarterly or annual");
        return BW_EINVAL;
    }
    int ey = y + (m - 1 + months) / 12, em = (m - 1 + months) % 12 + 1;
    *end = bw_days_from_civil(ey, em, 1);
    return 0;
}

static void db_error(Billow__Reply *reply, bw_db_t *db, const char *what, bw_arena_t *arena)
{
    bw_log(BW_WARN, what, "pg_error", BW_S(bw_db_error(db)), NULL);
    bw_reply_error(reply, bw_db_lost(db) ? BILLOW__CODE__UNAVAILABLE : BILLOW__CODE__INTERNAL, what,
                   bw_arena_strdup(arena, bw_db_error(db)));
}

static Billow__BillRun *row_to_run(bw_db_t *db, PGresult *res, int i, bw_arena_t *a)
{
    Billow__BillRun *r = bw_arena_alloc(a, sizeof *r);
    billow__bill_run__init(r);
    r->run_id = bw_arena_strdup(a, PQgetvalue(res, i, 0));
    r->period = bw_arena_strdup(a, PQgetvalue(res, i, 1));
    r->cycle = bw_arena_strdup(a, PQgetvalue(res, i, 2));
    r->period_start = bw_arena_strdup(a, PQgetvalue(res, i, 3));
    r->period_end = bw_arena_strdup(a, PQgetvalue(res, i, 4));
    r->due = atoll(PQgetvalue(res, i, 5));
    r->started_at = bw_arena_strdup(a, PQgetvalue(res, i, 6));
    r->finished_at = bw_arena_strdup(a, PQgetvalue(res, i, 7));
    r->elapsed_s = atof(PQgetvalue(res, i, 8));
    r->invoiced = atoll(PQgetvalue(res, i, 9));
    r->nothing_to_bill = atoll(PQgetvalue(res, i, 10));
    r->failed = atoll(PQgetvalue(res, i, 11));
    r->rated = r->invoiced + r->nothing_to_bill + r->failed;
    r->status = r->rated >= r->due ? "complete" : "running";
    const char *p[1] = {r->run_id};
    PGresult *t = bw_db_query(db, SQL_TOTALS, 1, p);
    if (t) {
        int n = PQntuples(t);
        r->n_totals = (size_t)n;
        r->totals = bw_arena_alloc(a, sizeof *r->totals * (size_t)(n + 1));
        for (int k = 0; k < n; k++) {
            Billow__CurrencyTotal *ct = bw_arena_alloc(a, sizeof *ct);
            billow__currency_total__init(ct);
            ct->currency = bw_arena_strdup(a, PQgetvalue(t, k, 0));
            ct->invoices = atoll(PQgetvalue(t, k, 1));
            ct->total_minor = atoll(PQgetvalue(t, k, 2));
            r->totals[k] = ct;
            if (n == 1)
                r->total_minor = ct->total_minor;
        }
        PQclear(t);
    }
    return r;
}

static void run_reply(Billow__Reply *reply, Billow__BillRun *run, bool created, bw_arena_t *a)
{
    Billow__InvoicingReply *ir = bw_arena_alloc(a, sizeof *ir);
    Billow__BillRunReply *br = bw_arena_alloc(a, sizeof *br);
    billow__invoicing_reply__init(ir);
    billow__bill_run_reply__init(br);
    br->run = run;
    br->created = created;
    ir->op_case = BILLOW__INVOICING_REPLY__OP_BILL_RUN;
    ir->bill_run = br;
    reply->body_case = BILLOW__REPLY__BODY_INVOICING;
    reply->invoicing = ir;
}

static Billow__BillRun *load_run(bw_db_t *db, const char *id, bw_arena_t *a, int *rc)
{
    const char *p[2] = {id, "1"};
    PGresult *res = bw_db_query(db, SQL_STATUS, 2, p);
    if (!res) {
        *rc = BW_EDB;
        return NULL;
    }
    Billow__BillRun *r = NULL;
    *rc = BW_ENOTFOUND;
    if (PQntuples(res) == 1) {
        r = row_to_run(db, res, 0, a);
        *rc = 0;
    }
    PQclear(res);
    return r;
}

bool inv_billrun_start(bw_db_t *db, const Billow__BillRunStart *req, const char *cause,
                       Billow__Reply *reply, bw_arena_t *arena)
{
    char err[160];
    int64_t start, end;
    const char *cycle = req->cycle && *req->cycle ? req->cycle : "monthly";
    if (inv_period_parse(req->period, cycle, &start, &end, err, sizeof err) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, bw_arena_strdup(arena, err), NULL);
        return false;
    }
    char id[64], sd[16], ed[16];
    snprintf(id, sizeof id, "RUN-%s-%s", req->period, cycle);
    bw_date_format(start, sd, sizeof sd);
    bw_date_format(end, ed, sizeof ed);
    if (bw_db_begin(db) < 0) {
        db_error(reply, db, "could not begin", arena);
        return false;
    }
    /* Serialise starts of the same run; the UNIQUE constraint backs it up. */
    const char *lk = id;
    if (bw_db_exec(db, "SELECT pg_advisory_xact_lock(hashtext($1))", 1, &lk) < 0)
        goto dberr;
    const char *fp[2] = {req->period, cycle};
    PGresult *res = bw_db_query(db, SQL_FIND, 2, fp);
    if (!res)
        goto dberr;
    bool exists = PQntuples(res) == 1;
    PQclear(res);
    if (exists) {
        bw_db_commit(db);
        int rc;
        Billow__BillRun *r = load_run(db, id, arena, &rc);
        if (!r) {
            db_error(reply, db, "could not read bill run", arena);
            return false;
        }
        run_reply(reply, r, false, arena);
        return false;
    }
    const char *dp[1] = {cycle};
    res = bw_db_query(db, SQL_DUE, 1, dp);
    if (!res)
        goto dberr;
    char due[24];
    snprintf(due, sizeof due, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    const char *ip[7] = {id, req->period, cycle, sd, ed, due, cause};
    if (bw_db_exec(db, SQL_INSERT, 7, ip) < 0)
        goto dberr;
    Billow__BillRunStarted brs = BILLOW__BILL_RUN_STARTED__INIT;
    char now[40];
    bw_time_format(bw_now_us(), now, sizeof now);
    brs.run_id = id;
    brs.period = req->period;
    brs.cycle = (char *)cycle;
    brs.period_start = sd;
    brs.period_end = ed;
    brs.started_at = now;
    Billow__Event ev = BILLOW__EVENT__INIT;
    ev.body_case = BILLOW__EVENT__BODY_BILL_RUN_STARTED;
    ev.bill_run_started = &brs;
    if (bw_outbox_emit(db, &ev, id, cause) < 0)
        goto dberr;
    if (bw_db_commit(db) < 0) {
        db_error(reply, db, "could not commit", arena);
        return false;
    }
    bw_log(BW_INFO, "bill run started", "run", BW_S(id), "due", BW_S(due), NULL);
    int rc;
    Billow__BillRun *r = load_run(db, id, arena, &rc);
    if (!r) {
        db_error(reply, db, "could not read bill run", arena);
        return true;
    }
    run_reply(reply, r, true, arena);
    return true;
dberr:
    db_error(reply, db, "could not start bill run", arena);
    bw_db_rollback(db);
    return false;
}

void inv_billrun_get(bw_db_t *db, const Billow__BillRunGet *req, Billow__Reply *reply,
                     bw_arena_t *arena)
{
    int rc;
    if (!req->run_id || !*req->run_id) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "run: required", NULL);
        return;
    }
    Billow__BillRun *r = load_run(db, req->run_id, arena, &rc);
    if (rc == BW_ENOTFOUND) {
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such bill run",
                       bw_arena_strdup(arena, req->run_id));
        return;
    }
    if (!r) {
        db_error(reply, db, "could not read bill run", arena);
        return;
    }
    run_reply(reply, r, false, arena);
}

void inv_billrun_list(bw_db_t *db, const Billow__BillRunList *req, Billow__Reply *reply,
                      bw_arena_t *arena)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%u", req->limit == 0 || req->limit > 1000 ? 50 : req->limit);
    const char *p[2] = {"", lim};
    PGresult *res = bw_db_query(db, SQL_STATUS, 2, p);
    if (!res) {
        db_error(reply, db, "could not list bill runs", arena);
        return;
    }
    Billow__InvoicingReply *ir = bw_arena_alloc(arena, sizeof *ir);
    Billow__BillRunListReply *lr = bw_arena_alloc(arena, sizeof *lr);
    billow__invoicing_reply__init(ir);
    billow__bill_run_list_reply__init(lr);
    int n = PQntuples(res);
    lr->n_runs = (size_t)n;
    lr->runs = bw_arena_alloc(arena, sizeof *lr->runs * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        lr->runs[i] = row_to_run(db, res, i, arena);
    PQclear(res);
    ir->op_case = BILLOW__INVOICING_REPLY__OP_BILL_RUN_LIST;
    ir->bill_run_list = lr;
    reply->body_case = BILLOW__REPLY__BODY_INVOICING;
    reply->invoicing = ir;
}
