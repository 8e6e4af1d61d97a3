/* Period close jobs and the loop-driven worker that performs them. */
#include "rating/close.h"
#include "rating/catalog_store.h"
#include "rating/periods.h"
#include "rating/rater.h"
#include "rating/reply.h"
#include "rating/usage.h"

#include "bincopy.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "outbox.h"
#include "pgarray.h"
#include "rpc.h"
#include "util.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char SQL_JOB_INSERT[] =
    "INSERT INTO close_jobs (id, run_id, period, cycle, period_start, period_end,"
    " catalog_version, caused_by) VALUES ($1, $2, $3, $4, $5::date, $6::date,"
    " (SELECT coalesce(max(version), 0) FROM catalogs), $7) ON CONFLICT (id) DO NOTHING";
/* Closing a done job again rescans it: only accounts not yet closed (new,
 * or failed before) are rated, so it emits nothing twice. Its slices were
 * deleted when it was done: the next process to take it up cuts it anew. */
static const char SQL_JOB_REOPEN[] =
    "UPDATE close_jobs SET status = 'pending', sliced = false, finished_at = NULL,"
    " catalog_version = (SELECT coalesce(max(version), 0) FROM catalogs)"
    " WHERE id = $1 AND status = 'done'";
static const char SQL_JOB_NEXT[] =
    "SELECT id, sliced FROM close_jobs WHERE status = 'pending' ORDER BY created_at, id LIMIT 1";
/* Taken to cut a job and to finish it: one process does either. */
static const char SQL_JOB_LOCK[] =
    "SELECT cycle, sliced FROM close_jobs WHERE id = $1 AND status = 'pending' FOR UPDATE";
/* Cuts a job into slices of about equal numbers of due accounts: the
 * boundaries are quantiles ($2, fractions) of a sample of the cycle's due
 * accounts ($3 percent of the table's pages: a few milliseconds, where
 * numbering every due account took seconds at 1,000,000), read back from
 * the table so that they are ordered as the close walks ids. Slice i runs
 * from the (i-1)th boundary, excluded, to the ith, included; the first
 * starts at '', the last ends at '' (no bound), so together they cover
 * every id however the sample fell. MATERIALIZED: an inlined CTE drew a
 * new sample for each of the two reads of a boundary, and the slices left
 * gaps. */
static const char SQL_SLICES_CUT[] =
    "WITH b AS MATERIALIZED (SELECT array(SELECT id FROM accounts WHERE id = ANY ("
    " (SELECT percentile_disc($2::float8[]) WITHIN GROUP (ORDER BY id) FROM accounts"
    " TABLESAMPLE SYSTEM ($3::float4) WHERE cycle = $4 AND status = 'active')::text[])"
    " ORDER BY id) AS ids)"
    " INSERT INTO close_slices (job_id, slice, after_account, last_account)"
    " SELECT $1, i - 1, coalesce(b.ids[i - 1], ''), coalesce(b.ids[i], '')"
    " FROM b, generate_series(1, coalesce(array_length(b.ids, 1), 0) + 1) AS i";
/* How many accounts there are: the planner's estimate, or a count when the
 * table was never analysed. */
static const char SQL_ACCOUNTS_EST[] =
    "SELECT CASE WHEN reltuples >= 0 THEN reltuples::bigint"
    " ELSE (SELECT count(*) FROM accounts) END FROM pg_class WHERE oid = 'accounts'::regclass";
/* The due accounts of the cycle in a sample of $1 percent of the table's
 * pages: the job's size is theirs, not the table's (a quarterly close
 * among monthly accounts). */
static const char SQL_DUE_SAMPLE[] =
    "SELECT count(*) FROM accounts TABLESAMPLE SYSTEM ($1::float4)"
    " WHERE cycle = $2 AND status = 'active'";
#define DUE_SAMPLE_ROWS 20000.0
static const char SQL_JOB_SLICED[] = "UPDATE close_jobs SET sliced = true WHERE id = $1";
/* A slice no other process holds, for one batch (the row lock lasts until
 * the batch commits or rolls back, also when its process is killed). */
static const char SQL_SLICE_CLAIM[] =
    "SELECT s.slice, s.after_account, s.last_account, j.run_id, j.period, j.cycle,"
    " j.period_start - '1970-01-01'::date, j.period_end - '1970-01-01'::date,"
    " j.catalog_version, j.caused_by FROM close_slices s JOIN close_jobs j ON j.id = s.job_id"
    " WHERE s.job_id = $1 AND s.status = 'pending' AND j.status = 'pending'"
    " ORDER BY s.slice LIMIT 1 FOR UPDATE OF s SKIP LOCKED";
/* The next `batch` accounts of the slice after its cursor, then those of
 * them closed for the period already (a close run again): a range of the
 * closed_periods key, where a NOT EXISTS per account let the planner hash
 * every closed row of the period for each batch (quadratic in accounts). */
static const char SQL_DUE[] =
    "SELECT id, currency, cycle, anchor_day, tier, language, status,"
    " created_on - '1970-01-01'::date FROM accounts a"
    " WHERE cycle = $1 AND status = 'active' AND id > $2 AND ($4 = '' OR id <= $4)"
    " ORDER BY id LIMIT $3::int";
static const char SQL_CLOSED_RANGE[] =
    "SELECT account_id FROM closed_periods WHERE account_id >= $1 AND account_id <= $2"
    " AND period = $3";
/* usage_aggregates is append-only (migration 003): a record stored for the
 * batch's accounts adds a row, so as many rows under the usage lock as the
 * batch read means it rated all there was. */
static const char SQL_USAGE_ROWS[] =
    "SELECT count(*) FROM usage_aggregates WHERE period = $3 AND account_id >= $1"
    " AND account_id <= $2";
static const char SQL_SLICE_ADVANCE[] =
    "UPDATE close_slices SET after_account = $3, rated = rated + $4::bigint,"
    " failed = failed + $5::bigint, total_minor = total_minor + $6::bigint"
    " WHERE job_id = $1 AND slice = $2::int";
static const char SQL_SLICE_DONE[] =
    "UPDATE close_slices SET status = 'done' WHERE job_id = $1 AND slice = $2::int";
static const char SQL_SLICES_PENDING[] =
    "SELECT count(*) FROM close_slices WHERE job_id = $1 AND status = 'pending'";
/* The job is done: its slices' counters become the job's. */
static const char SQL_JOB_DONE[] =
    "WITH s AS (DELETE FROM close_slices WHERE job_id = $1 RETURNING rated, failed, total_minor)"
    " UPDATE close_jobs SET status = 'done', finished_at = now(), sliced = false,"
    " rated = rated + (SELECT coalesce(sum(rated), 0) FROM s),"
    " failed = failed + (SELECT coalesce(sum(failed), 0) FROM s),"
    " total_minor = total_minor + (SELECT coalesce(sum(total_minor), 0) FROM s) WHERE id = $1";
static const char SQL_COPY_CLOSED[] =
    "COPY closed_periods (account_id, period, job_id, run_id, catalog_version, total_minor,"
    " currency, event_id, rated, caused_by) FROM STDIN (FORMAT binary)";
static const char SQL_FAILURES[] =
    "INSERT INTO close_failures (job_id, account_id, error)"
    " SELECT $1, a, e FROM unnest($2::text[], $3::text[]) AS t(a, e)"
    " ON CONFLICT (job_id, account_id) DO UPDATE SET error = EXCLUDED.error, at = now()";
/* While a job runs, its counters are its slices' plus what earlier runs of
 * it (closed again) counted. */
static const char SQL_JOB_GET[] =
    "SELECT id, run_id, period, cycle, period_start::text, period_end::text, status,"
    " rated + (SELECT coalesce(sum(rated), 0) FROM close_slices s WHERE s.job_id = j.id),"
    " failed + (SELECT coalesce(sum(failed), 0) FROM close_slices s WHERE s.job_id = j.id),"
    " total_minor + (SELECT coalesce(sum(total_minor), 0) FROM close_slices s"
    " WHERE s.job_id = j.id), catalog_version,"
    " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    " coalesce(to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
    " FROM close_jobs j WHERE ($1 <> '' AND id = $1) OR ($1 = '' AND period = $2 AND cycle = $3)"
    " ORDER BY created_at DESC LIMIT 1";
static const char SQL_JOB_ERRORS[] =
    "SELECT account_id || ': ' || error FROM close_failures f WHERE job_id = $1"
    " AND NOT EXISTS (SELECT 1 FROM closed_periods c, close_jobs j WHERE j.id = f.job_id"
    " AND c.account_id = f.account_id AND c.period = j.period)"
    " ORDER BY account_id LIMIT 20";

static struct {
    struct ev_loop *loop;
    bw_db_t *db;
    ev_idle idle;
    ev_timer retry, poll;
    bw_arena_t *arena;
    long long batch, slices;
    bool started;
    double job_t0;
    char job[128];
} W;

/* --- jobs ------------------------------------------------------------------ */

static int insert_job(bw_db_t *db, const char *id, const char *run_id, const char *period,
                      const char *cycle, int64_t start, int64_t end, const char *cause)
{
    char sd[16], ed[16];
    bw_date_format(start, sd, sizeof sd);
    bw_date_format(end, ed, sizeof ed);
    const char *p[7] = {id, run_id, period, cycle, sd, ed, cause};
    PGresult *res = bw_db_query(db, SQL_JOB_INSERT, 7, p);
    if (!res)
        return BW_EDB;
    int created = atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    return created;
}

int rt_close_on_bill_run(bw_db_t *db, const Billow__StreamEvent *se,
                         const Billow__BillRunStarted *br)
{
    char err[160];
    int64_t start, end;
    const char *cycle = rt_empty(br->cycle) ? "monthly" : br->cycle;
    if (rt_period_bounds(br->period, cycle, &start, &end, err, sizeof err) < 0) {
        bw_log(BW_WARN, "skipping bill run with a bad period", "event_id", BW_S(se->event_id),
               "error", BW_S(err), NULL);
        return 0;
    }
    /* The event's own dates win when they parse: they are what invoicing bills. */
    int64_t s2, e2;
    if (!rt_empty(br->period_start) && !rt_empty(br->period_end) &&
        bw_date_parse(br->period_start, &s2) == 0 && bw_date_parse(br->period_end, &e2) == 0 &&
        e2 > s2) {
        start = s2;
        end = e2;
    }
    const char *id = rt_empty(br->run_id) ? se->event_id : br->run_id;
    int rc = insert_job(db, id, rt_empty(br->run_id) ? "" : br->run_id, br->period, cycle, start,
                        end, se->event_id);
    if (rc < 0)
        return rc;
    if (rc > 0)
        bw_log(BW_INFO, "close job recorded", "job", BW_S(id), "period", BW_S(br->period), "cycle",
               BW_S(cycle), NULL);
    rt_close_kick();
    return 0;
}

static Billow__CloseJob *load_job(bw_db_t *db, const char *id, const char *period,
                                  const char *cycle, bw_arena_t *a, int *rc)
{
    const char *p[3] = {id ? id : "", period ? period : "", cycle ? cycle : "monthly"};
    PGresult *res = bw_db_query(db, SQL_JOB_GET, 3, p);
    if (!res) {
        *rc = BW_EDB;
        return NULL;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        *rc = BW_ENOTFOUND;
        return NULL;
    }
    Billow__CloseJob *j = bw_arena_alloc(a, sizeof *j);
    billow__close_job__init(j);
    j->job_id = bw_arena_strdup(a, PQgetvalue(res, 0, 0));
    j->run_id = bw_arena_strdup(a, PQgetvalue(res, 0, 1));
    j->period = bw_arena_strdup(a, PQgetvalue(res, 0, 2));
    j->cycle = bw_arena_strdup(a, PQgetvalue(res, 0, 3));
    j->period_start = bw_arena_strdup(a, PQgetvalue(res, 0, 4));
    j->period_end = bw_arena_strdup(a, PQgetvalue(res, 0, 5));
    j->status = bw_arena_strdup(a, PQgetvalue(res, 0, 6));
    j->rated = atoll(PQgetvalue(res, 0, 7));
    j->failed = atoll(PQgetvalue(res, 0, 8));
    j->total_minor = atoll(PQgetvalue(res, 0, 9));
    j->catalog_version = atoi(PQgetvalue(res, 0, 10));
    j->created_at = bw_arena_strdup(a, PQgetvalue(res, 0, 11));
    j->finished_at = bw_arena_strdup(a, PQgetvalue(res, 0, 12));
    PQclear(res);
    const char *ep[1] = {j->job_id};
    res = bw_db_query(db, SQL_JOB_ERRORS, 1, ep);
    if (res) {
        int n = PQntuples(res);
        j->n_errors = (size_t)n;
        j->errors = bw_arena_alloc(a, sizeof *j->errors * (size_t)(n + 1));
        for (int i = 0; i < n; i++)
            j->errors[i] = bw_arena_strdup(a, PQgetvalue(res, i, 0));
        PQclear(res);
    }
    *rc = 0;
    return j;
}

static void job_reply(Billow__Reply *reply, Billow__CloseJob *j, bool created, bw_arena_t *a)
{
    Billow__CloseJobReply *cr = bw_arena_alloc(a, sizeof *cr);
    billow__close_job_reply__init(cr);
    cr->job = j;
    cr->created = created;
    Billow__RatingReply *rr = rt_reply_body(reply, a);
    rr->op_case = BILLOW__RATING_REPLY__OP_CLOSE_JOB;
    rr->close_job = cr;
}

bool rt_close_request(bw_db_t *db, const Billow__RateClose *req, const char *cause,
                      Billow__Reply *reply, bw_arena_t *arena)
{
    char err[160];
    int64_t start, end;
    const char *cycle = rt_empty(req->cycle) ? "monthly" : req->cycle;
    if (rt_period_bounds(req->period, cycle, &start, &end, err, sizeof err) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, bw_arena_strdup(arena, err), NULL);
        return false;
    }
    char *id = bw_arena_printf(arena, "close:%s:%s", req->period, cycle);
    if (bw_db_begin(db) < 0)
        goto dberr;
    int created = insert_job(db, id, "", req->period, cycle, start, end, cause);
    if (created < 0)
        goto dberr;
    if (!created) {
        const char *p[1] = {id};
        if (bw_db_exec(db, SQL_JOB_REOPEN, 1, p) < 0)
            goto dberr;
    }
    if (bw_db_commit(db) < 0)
        goto dberr;
    int rc;
    Billow__CloseJob *j = load_job(db, id, NULL, NULL, arena, &rc);
    if (!j) {
        rt_reply_db(reply, db, "could not read close job", arena);
        return true;
    }
    job_reply(reply, j, created > 0, arena);
    rt_close_kick();
    return true;
dberr:
    rt_reply_db(reply, db, "could not record close job", arena);
    bw_db_rollback(db);
    return false;
}

void rt_close_status(bw_db_t *db, const Billow__CloseStatus *req, Billow__Reply *reply,
                     bw_arena_t *arena)
{
    int rc;
    if (rt_empty(req->job_id) && rt_empty(req->period)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "give a job id or a period", NULL);
        return;
    }
    Billow__CloseJob *j = load_job(db, req->job_id, req->period,
                                   rt_empty(req->cycle) ? "monthly" : req->cycle, arena, &rc);
    if (rc == BW_ENOTFOUND) {
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such close job", NULL);
        return;
    }
    if (!j) {
        rt_reply_db(reply, db, "could not read close job", arena);
        return;
    }
    job_reply(reply, j, false, arena);
}

/* --- the worker ---------------------------------------------------------- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* A slice claimed for one batch, and its job. */
typedef struct {
    const char *job;
    const char *slice; /* its number, as text */
    const char *after, *last;
    const char *run_id, *cycle, *cause;
    int cver;
    rt_period_t p;
    bool job_done; /* the batch found the slice empty and it was the last */
} slice_t;

static char *field(PGresult *res, int col, bw_arena_t *a)
{
    return bw_arena_strdup(a, PQgetvalue(res, 0, col));
}

/* Claims a slice of job `id` (caller's transaction): 1, 0 when every
 * pending slice is held by another process, or BW_EDB. */
static int claim_slice(bw_db_t *db, const char *id, slice_t *sl, bw_arena_t *a)
{
    const char *jp[1] = {id};
    PGresult *res = bw_db_query(db, SQL_SLICE_CLAIM, 1, jp);
    if (!res)
        return BW_EDB;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    memset(sl, 0, sizeof *sl);
    sl->job = id;
    sl->slice = field(res, 0, a);
    sl->after = field(res, 1, a);
    sl->last = field(res, 2, a);
    sl->run_id = field(res, 3, a);
    sl->p.period = field(res, 4, a);
    sl->cycle = field(res, 5, a);
    sl->p.start = atoll(PQgetvalue(res, 0, 6));
    sl->p.end = atoll(PQgetvalue(res, 0, 7));
    sl->cver = atoi(PQgetvalue(res, 0, 8));
    sl->cause = field(res, 9, a);
    PQclear(res);
    sl->p.run_id = sl->run_id;
    sl->p.months = rt_cycle_months(sl->cycle);
    return 1;
}

/* The fractions at which a job of about `accounts` accounts is cut
 * ("{0.25,0.5,0.75}": at most W.slices slices of at least a batch each) and
 * the percentage of the table to sample for them (about 200 accounts per
 * slice); "{}" and 0 for one slice. */
static void cut_points(long long accounts, char *fracs, size_t flen, char *pct, size_t plen)
{
    long long batch = W.batch > 0 ? W.batch : 2000, max = W.slices > 0 ? W.slices : 16;
    long long n = accounts / batch < max ? accounts / batch : max;
    size_t off = (size_t)snprintf(fracs, flen, "{");
    for (long long i = 1; i < n && off + 24 < flen; i++)
        off += (size_t)snprintf(fracs + off, flen - off, "%s%.6f", i > 1 ? "," : "",
                                (double)i / (double)n);
    snprintf(fracs + off, flen - off, "}");
    double p = n > 1 ? 100.0 * (double)(n * 200) / (double)accounts : 0;
    snprintf(pct, plen, "%.4f", p > 100 ? 100 : p);
}

static long long count_of(bw_db_t *db, const char *sql, int n, const char *const *params)
{
    PGresult *res = bw_db_query(db, sql, n, params);
    if (!res)
        return BW_EDB;
    long long c = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    return c;
}

/* About how many accounts of cycle are due: those in a sample of about
 * DUE_SAMPLE_ROWS accounts (a few milliseconds), scaled up; every one when
 * the table is that small, or when its statistics say it is empty (it may
 * have been analysed empty and filled since: a job sized 0 would be one
 * slice, closed by one process alone). A negative code on error. */
static long long due_estimate(bw_db_t *db, const char *cycle)
{
    long long all = count_of(db, SQL_ACCOUNTS_EST, 0, NULL);
    if (all < 0)
        return all;
    double pct = (double)all > DUE_SAMPLE_ROWS ? 100.0 * DUE_SAMPLE_ROWS / (double)all : 100.0;
    char ps[32];
    snprintf(ps, sizeof ps, "%.6f", pct);
    const char *p[2] = {ps, cycle};
    long long due = count_of(db, SQL_DUE_SAMPLE, 2, p);
    return due < 0 ? due : (long long)((double)due * 100.0 / pct);
}

/* Cuts job `id` into slices unless another process did (own transaction).
 * 0 or a negative code. */
static int cut_job(bw_db_t *db, const char *id)
{
    const char *jp[1] = {id};
    if (bw_db_begin(db) < 0)
        return BW_EDB;
    PGresult *res = bw_db_query(db, SQL_JOB_LOCK, 1, jp);
    if (!res)
        goto fail;
    bool cut = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "t") != 0;
    char cycle[64];
    snprintf(cycle, sizeof cycle, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    if (cut) {
        long long est = due_estimate(db, cycle);
        if (est < 0)
            goto fail;
        char fracs[1024 * 10], pct[32];
        cut_points(est, fracs, sizeof fracs, pct, sizeof pct);
        const char *cp[4] = {id, fracs, pct, cycle};
        if (!(res = bw_db_query(db, SQL_SLICES_CUT, 4, cp)))
            goto fail;
        long long slices = atoll(PQcmdTuples(res));
        PQclear(res);
        if (bw_db_exec(db, SQL_JOB_SLICED, 1, jp) < 0 || bw_db_commit(db) < 0)
            goto fail;
        bw_log(BW_INFO, "close job cut into slices", "job", BW_S(id), "slices", BW_I(slices),
               "accounts", BW_I(est), NULL);
        return 0;
    }
    return bw_db_commit(db) < 0 ? BW_EDB : 0;
fail:
    bw_db_rollback(db);
    return BW_EDB;
}

/* The slice has no account left: marks it done and, when it was the job's
 * last, the job. The job row lock orders processes finishing their last
 * slices at once, and the count runs after it, so it sees the others'. */
static int finish_slice(bw_db_t *db, slice_t *sl)
{
    const char *sp[2] = {sl->job, sl->slice};
    if (bw_db_exec(db, SQL_SLICE_DONE, 2, sp) < 0)
        return BW_EDB;
    PGresult *res = bw_db_query(db, SQL_JOB_LOCK, 1, sp);
    if (!res)
        return BW_EDB;
    PQclear(res);
    res = bw_db_query(db, SQL_SLICES_PENDING, 1, sp);
    if (!res)
        return BW_EDB;
    sl->job_done = atoll(PQgetvalue(res, 0, 0)) == 0;
    PQclear(res);
    if (sl->job_done && bw_db_exec(db, SQL_JOB_DONE, 1, sp) < 0)
        return BW_EDB;
    return 0;
}

/* One batch of a claimed slice inside the caller's transaction; `locked`
 * says the caller took the usage lock before it. Returns the number of
 * accounts looked at (0: the slice is done), BW_ECONFLICT when usage for
 * them arrived meanwhile (roll back and run it again). */
static int close_batch(bw_db_t *db, slice_t *sl, long long batch, bool locked, bw_arena_t *a)
{
    rt_period_t *p = &sl->p;
    if (sl->cver > 0) {
        int rc = rt_store_get(db, sl->cver, &p->cat);
        if (rc < 0)
            return rc;
    }
    char lim[24];
    snprintf(lim, sizeof lim, "%lld", batch);
    const char *dp[4] = {sl->cycle, sl->after, lim, sl->last};
    PGresult *res = bw_db_query(db, SQL_DUE, 4, dp);
    if (!res)
        return BW_EDB;
    int seen = PQntuples(res);
    if (seen == 0) {
        PQclear(res);
        return finish_slice(db, sl);
    }
    /* The cursor moves past every account looked at; those closed already
     * (a close run again) are not rated twice. */
    char *lo = bw_arena_strdup(a, PQgetvalue(res, 0, 0));
    char *hi = bw_arena_strdup(a, PQgetvalue(res, seen - 1, 0));
    rt_acct_data_t *accts = bw_arena_alloc(a, sizeof *accts * (size_t)seen);
    memset(accts, 0, sizeof *accts * (size_t)seen);
    int n = 0;
    for (int i = 0; i < seen; i++) {
        rt_account_t *ac = &accts[n++].acct;
        ac->id = bw_arena_strdup(a, PQgetvalue(res, i, 0));
        ac->currency = bw_arena_strdup(a, PQgetvalue(res, i, 1));
        ac->cycle = (char *)sl->cycle;
        ac->anchor_day = atoi(PQgetvalue(res, i, 3));
        ac->tier = bw_arena_strdup(a, PQgetvalue(res, i, 4));
        ac->language = bw_arena_strdup(a, PQgetvalue(res, i, 5));
        ac->status = "active";
        ac->created_on = atoll(PQgetvalue(res, i, 7));
    }
    PQclear(res);
    const char *cp[3] = {lo, hi, p->period};
    res = bw_db_query(db, SQL_CLOSED_RANGE, 3, cp);
    if (!res)
        return BW_EDB;
    int nclosed = PQntuples(res);
    if (nclosed > 0) {
        /* A close run again: drop them from the batch. */
        const char **ids = bw_arena_alloc(a, sizeof *ids * (size_t)nclosed);
        for (int r = 0; r < nclosed; r++)
            ids[r] = PQgetvalue(res, r, 0);
        qsort(ids, (size_t)nclosed, sizeof *ids, cmp_str);
        int kept = 0;
        for (int i = 0; i < n; i++) {
            const char *key = accts[i].acct.id;
            if (!bsearch(&key, ids, (size_t)nclosed, sizeof *ids, cmp_str))
                accts[kept++] = accts[i];
        }
        n = kept;
    }
    PQclear(res);
    long long usage_rows = 0;
    int rc = rt_load_data_counted(db, accts, (size_t)n, lo, hi, p, a, &usage_rows);
    if (rc < 0)
        return rc;

    bw_outbox_event_t *evs = bw_arena_alloc(a, sizeof *evs * (size_t)(n + 1));
    bw_bincopy_t cb = {0};
    bw_bincopy_begin(&cb);
    bw_pgarr_t fa = {0}, fe = {0};
    size_t nev = 0;
    long long failed = 0, total = 0;
    for (int i = 0; i < n; i++) {
        rt_acct_data_t *d = &accts[i];
        Billow__AccountRated *ar = bw_arena_alloc(a, sizeof *ar);
        billow__account_rated__init(ar);
        char err[256];
        if (rt_rate_account(d, p, ar, a, err, sizeof err) < 0) {
            bw_log(BW_WARN, "could not rate account", "account", BW_S(d->acct.id), "period",
                   BW_S(p->period), "error", BW_S(err), NULL);
            bw_pgarr_add(&fa, d->acct.id);
            bw_pgarr_add(&fe, err);
            failed++;
            continue;
        }
        Billow__Event ev = BILLOW__EVENT__INIT;
        ev.body_case = BILLOW__EVENT__BODY_ACCOUNT_RATED;
        ev.account_rated = ar;
        size_t len = billow__event__get_packed_size(&ev);
        uint8_t *buf = bw_arena_alloc(a, len ? len : 1);
        billow__event__pack(&ev, buf);
        bw_outbox_event_t *oe = &evs[nev++];
        memset(oe, 0, sizeof *oe);
        oe->type = "AccountRated";
        oe->partition_key = d->acct.id;
        oe->payload = buf;
        oe->len = len;
        oe->caused_by = sl->cause;
        bw_uuid(oe->event_id);
        bw_bincopy_row(&cb, 10);
        bw_bincopy_text(&cb, d->acct.id);
        bw_bincopy_text(&cb, p->period);
        bw_bincopy_text(&cb, sl->job);
        bw_bincopy_text(&cb, sl->run_id);
        bw_bincopy_i32(&cb, sl->cver);
        bw_bincopy_i64(&cb, ar->total_minor);
        bw_bincopy_text(&cb, d->acct.currency);
        bw_bincopy_text(&cb, oe->event_id);
        bw_bincopy_bytes(&cb, buf, len);
        bw_bincopy_text(&cb, sl->cause);
        total += ar->total_minor;
    }
    rc = 0;
    bw_bincopy_end(&cb);
    if (cb.failed) {
        rc = BW_ENOMEM;
        goto out;
    }
    if (nev > 0) {
        if (bw_db_copy(db, SQL_COPY_CLOSED, cb.data, cb.len) < 0) {
            rc = BW_EDB;
            goto out;
        }
    }
    if (failed > 0) {
        const char *fp[3] = {sl->job, bw_pgarr_str(&fa), bw_pgarr_str(&fe)};
        if (!fp[1] || !fp[2]) {
            rc = BW_ENOMEM;
            goto out;
        }
        if (bw_db_exec(db, SQL_FAILURES, 3, fp) < 0) {
            rc = BW_EDB;
            goto out;
        }
    }
    char nr[24], nf[24], nt[24];
    snprintf(nr, sizeof nr, "%zu", nev);
    snprintf(nf, sizeof nf, "%lld", failed);
    snprintf(nt, sizeof nt, "%lld", total);
    const char *ap[6] = {sl->job, sl->slice, hi, nr, nf, nt};
    if (bw_db_exec(db, SQL_SLICE_ADVANCE, 6, ap) < 0) {
        rc = BW_EDB;
        goto out;
    }
    /* Usage ingest holds the usage lock shared from its closed-period check
     * to its commit. Taken exclusive only now, with the outbox lock after
     * it, so that processes closing other slices meanwhile read and rate
     * in parallel and wait for each other only around the commit. Taken
     * before the batch, it kept every usage row out: nothing to count. */
    if (!locked && bw_db_exec(db, RT_USAGE_LOCK_SQL, 0, NULL) < 0) {
        rc = BW_EDB;
        goto out;
    }
    long long now_rows = n > 0 && !locked ? count_of(db, SQL_USAGE_ROWS, 3, cp) : usage_rows;
    if (now_rows != usage_rows) {
        rc = now_rows < 0 ? BW_EDB : BW_ECONFLICT;
        goto out;
    }
    if (nev > 0 && bw_outbox_append(db, evs, nev) < 0) {
        rc = BW_EDB;
        goto out;
    }
    /* Fewer accounts than asked for: the slice has no more. Finished here
     * rather than by a next transaction that would find nothing. The job
     * row lock comes after the usage and outbox locks, in every process. */
    if (seen < batch && finish_slice(db, sl) < 0) {
        rc = BW_EDB;
        goto out;
    }
    rc = seen;
out:
    bw_bincopy_free(&cb);
    bw_pgarr_free(&fa);
    bw_pgarr_free(&fe);
    return rc;
}

/* One batch of a claimed slice of job `id` in its own transaction: 1 when
 * a slice was worked on (or must be again), 0 when none was free, negative
 * on error. *job_done says the batch finished the job. */
static int run_batch(bw_db_t *db, const char *id, bw_arena_t *a, bool *job_done)
{
    long long batch = W.batch > 0 ? W.batch : 2000;
    /* After usage arrived during a batch, the batch runs again with the
     * usage lock taken first, so steady ingest cannot make it retry for
     * ever (taking it again before the append is a no-op). */
    static bool lock_first;
    slice_t sl;
    if (bw_db_begin(db) < 0)
        return BW_EDB;
    if (lock_first && bw_db_exec(db, RT_USAGE_LOCK_SQL, 0, NULL) < 0) {
        bw_db_rollback(db);
        return BW_EDB;
    }
    int claimed = claim_slice(db, id, &sl, a);
    int rc = claimed > 0 ? close_batch(db, &sl, batch, lock_first, a) : claimed;
    if (rc == BW_ECONFLICT) {
        bw_log(BW_INFO, "usage arrived during a close batch: running it again", "job", BW_S(id),
               NULL);
        bw_db_rollback(db);
        lock_first = true;
        return 1;
    }
    lock_first = false;
    if (rc < 0) {
        bw_log(BW_WARN, "close batch failed", "job", BW_S(id), "pg_error", BW_S(bw_db_error(db)),
               "error", BW_S(bw_strerror(rc)), NULL);
        bw_db_rollback(db);
        return rc;
    }
    if (bw_db_commit(db) < 0) {
        bw_log(BW_WARN, "could not commit close batch", "job", BW_S(id), "pg_error",
               BW_S(bw_db_error(db)), NULL);
        return BW_EDB;
    }
    *job_done = claimed > 0 && sl.job_done;
    return claimed;
}

int rt_close_step(bw_db_t *db)
{
    if (bw_db_in_tx(db))
        return 0;
    PGresult *res = bw_db_query(db, SQL_JOB_NEXT, 0, NULL);
    if (!res)
        return BW_EDB;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return 0;
    }
    char id[128];
    snprintf(id, sizeof id, "%s", PQgetvalue(res, 0, 0));
    bool sliced = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    PQclear(res);
    if (strcmp(id, W.job) != 0) {
        snprintf(W.job, sizeof W.job, "%s", id);
        W.job_t0 = mono_s();
        bw_log(BW_INFO, "closing period", "job", BW_S(id), NULL);
    }
    if (!sliced) {
        int rc = cut_job(db, id);
        if (rc < 0)
            bw_log(BW_WARN, "could not cut close job into slices", "job", BW_S(id), "pg_error",
                   BW_S(bw_db_error(db)), NULL);
        return rc < 0 ? rc : 1;
    }
    bw_arena_t *a = W.arena ? W.arena : bw_arena_new();
    if (!a)
        return BW_ENOMEM;
    bool done = false;
    int rc = run_batch(db, id, a, &done);
    if (done) {
        bw_log(BW_INFO, "period closed", "job", BW_S(id), "seconds", BW_F(mono_s() - W.job_t0),
               NULL);
        W.job[0] = '\0';
    }
    if (a == W.arena)
        bw_arena_reset(a);
    else
        bw_arena_destroy(&a);
    return rc;
}

static void retry_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t;
    (void)revents;
    ev_idle_start(loop, &W.idle);
}

/* Other processes may start a job or die holding a slice: look again now
 * and then. */
static void poll_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t;
    (void)revents;
    if (!ev_is_active(&W.retry))
        ev_idle_start(loop, &W.idle);
}

static void idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    int rc = rt_close_step(W.db);
    if (rc == 0) {
        ev_idle_stop(loop, w);
    } else if (rc < 0) {
        /* The database is away or a batch failed: try again shortly rather
         * than spin. */
        ev_idle_stop(loop, w);
        ev_timer_set(&W.retry, 2.0, 0.);
        ev_timer_start(loop, &W.retry);
    }
}

int rt_close_start(struct ev_loop *loop, bw_db_t *db)
{
    long long poll_ms;
    if (bw_env_int("BILLOW_RATING_CLOSE_BATCH", 2000, 1, 50000, &W.batch) < 0 ||
        bw_env_int("BILLOW_RATING_CLOSE_SLICES", 16, 1, 1024, &W.slices) < 0 ||
        bw_env_int("BILLOW_RATING_CLOSE_POLL_MS", 1000, 10, 3600000, &poll_ms) < 0)
        return BW_EINVAL;
    /* Each batch fills the arena and two COPY buffers with some megabytes
     * and frees them at its end; glibc gave them back to the kernel every
     * time (buffers past 128 KiB are mmapped, and the heap top is trimmed
     * past 128 KiB) and the next batch faulted them in again: about a
     * seventh of the process's CPU. Keep them on the heap, up to 64 MiB. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    W.loop = loop;
    W.db = db;
    W.arena = bw_arena_new();
    if (!W.arena)
        return BW_ENOMEM;
    ev_idle_init(&W.idle, idle_cb);
    ev_timer_init(&W.retry, retry_cb, 2.0, 0.);
    ev_timer_init(&W.poll, poll_cb, poll_ms / 1000.0, poll_ms / 1000.0);
    W.started = true;
    ev_idle_start(loop, &W.idle);
    ev_timer_start(loop, &W.poll);
    return 0;
}

void rt_close_stop(void)
{
    if (!W.started)
        return;
    ev_idle_stop(W.loop, &W.idle);
    ev_timer_stop(W.loop, &W.retry);
    ev_timer_stop(W.loop, &W.poll);
    bw_arena_destroy(&W.arena);
    W.started = false;
}

void rt_close_kick(void)
{
    if (W.started && !ev_is_active(&W.retry))
        ev_idle_start(W.loop, &W.idle);
}
