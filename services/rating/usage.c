/* Usage ingest with per-record validation and running aggregates. */
#include "rating/usage.h"
#include "rating/catalog_store.h"
#include "rating/periods.h"
#include "rating/reply.h"

#include "bincopy.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "money.h"
#include "pgarray.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The shared usage lock (see usage.h) and the accounts view's stamp. */
static const char SQL_LOCK_STAMP[] =
    "SELECT pg_advisory_xact_lock_shared(hashtext('rating.usage')), n, pruned FROM view_stamp";
/* The accounts written since the stamp this process saw last (NULL: all). */
static const char SQL_CHANGES[] =
    "SELECT DISTINCT account_id FROM view_changes WHERE n > $1::bigint AND n <= $2::bigint"
    " LIMIT 100001";
/* A page of the accounts view for the preloader, by id: a range scan of
 * accounts and one of subscriptions, so an account costs about a
 * microsecond here against two index probes when a request misses it. */
static const char SQL_PRELOAD[] =
    "WITH a AS (SELECT id, currency, cycle FROM accounts WHERE id > $1 ORDER BY id LIMIT 20000)"
    " SELECT a.id, a.currency, a.cycle, coalesce(s.plan, '') FROM a LEFT JOIN"
    " (SELECT DISTINCT ON (account_id) account_id, plan FROM subscriptions"
    " WHERE account_id > $1 AND account_id <= (SELECT max(id) FROM a)"
    " ORDER BY account_id, start_date DESC) s ON s.account_id = a.id ORDER BY a.id";
static const char SQL_STAMP[] = "SELECT n, pruned FROM view_stamp";
/* Old change rows go (an hour is far longer than any gap between two
 * requests of a busy importer; an idle process just starts afresh). The
 * values rise with time, so the walk is along their index and costs what
 * is deleted. */
static const char SQL_PRUNE[] =
    "WITH k AS (SELECT coalesce((SELECT n FROM view_changes WHERE at >= now() - interval '1 hour'"
    " ORDER BY n LIMIT 1), (SELECT n + 1 FROM view_stamp)) AS n),"
    " d AS (DELETE FROM view_changes WHERE n < (SELECT n FROM k) RETURNING n)"
    " UPDATE view_stamp SET pruned = greatest(pruned, (SELECT coalesce(max(n), 0) FROM d))";
/* The account, its currency and cycle, and the plan of its latest
 * subscription segment, for the accounts not in memory yet (ids sorted and
 * distinct; one index probe each, where `id = ANY(...)` had the planner hash
 * the array and scan every account). */
static const char SQL_ACCOUNTS[] =
    "SELECT a.id, a.currency, a.cycle, coalesce(s.plan, '') FROM unnest($1::text[]) AS t(id)"
    " JOIN accounts a ON a.id = t.id"
    " LEFT JOIN LATERAL (SELECT plan FROM subscriptions s WHERE s.account_id = a.id"
    " ORDER BY start_date DESC LIMIT 1) s ON true";
/* The periods of a request that a close was started for. Only a close job
 * writes closed_periods, and job rows are never deleted, so a record in any
 * other period cannot be in a closed one; the request holds the usage lock
 * from its first statement, so no close batch of a job created since can
 * commit before it does. */
static const char SQL_CLOSING[] =
    "SELECT DISTINCT period FROM close_jobs WHERE period = ANY($1::text[])";
/* One probe of the closed_periods key per record asked about. */
/* The positions (1-based) of the asked (account, period) pairs that are
 * closed, each found through the key (LIMIT 1 keeps it a probe per pair:
 * joined, the planner may hash the whole table). */
static const char SQL_CLOSED[] =
    "SELECT t.ord FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(a, p, ord)"
    " CROSS JOIN LATERAL (SELECT 1 FROM closed_periods c"
    "  WHERE c.account_id = t.a AND c.period = t.p LIMIT 1) c";
/* The good records go straight into usage_records with one binary COPY in a
 * savepoint; when one of them was stored before (a re-sent record: unique
 * violation), the savepoint is rolled back and the batch goes through a
 * staging table and INSERT ... ON CONFLICT DO NOTHING instead, which counts
 * the duplicates. Either way each batch adds one usage_aggregates row per
 * (period, account, fee item) it stored, listing the event ids it sums in
 * (at, event_id) order: that is how close (percentage fee items) and explain
 * find an account's records, so usage_records needs no index beside its
 * primary key (migration 005). */
static const char SQL_COPY_RECORDS[] =
    "COPY usage_records (event_id, account_id, fee_item, quantity, at, period, caused_by)"
    " FROM STDIN (FORMAT binary)";
static const char SQL_COPY_AGGS[] =
    "COPY usage_aggregates (period, account_id, fee_item, quantity, records, event_ids)"
    " FROM STDIN (FORMAT binary)";
static const char SQL_STAGE[] =
    "CREATE TEMP TABLE usage_stage (event_id text, account_id text, fee_item text,"
    " quantity numeric(28, 9), at timestamptz, period text, caused_by text) ON COMMIT DROP";
static const char SQL_COPY_STAGE[] =
    "COPY usage_stage (event_id, account_id, fee_item, quantity, at, period, caused_by)"
    " FROM STDIN (FORMAT binary)";
static const char SQL_FROM_STAGE[] =
    "WITH ins AS (INSERT INTO usage_records (event_id, account_id, fee_item, quantity, at,"
    " period, caused_by) SELECT event_id, account_id, fee_item, quantity, at, period, caused_by"
    " FROM usage_stage ON CONFLICT (event_id) DO NOTHING"
    " RETURNING event_id, account_id, period, fee_item, quantity, at),"
    " agg AS (INSERT INTO usage_aggregates (period, account_id, fee_item, quantity, records,"
    " event_ids) SELECT period, account_id, fee_item, sum(quantity), count(*),"
    " array_agg(event_id ORDER BY at, event_id) FROM ins GROUP BY 1, 2, 3 RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM agg)";

/* --- the accounts in memory ------------------------------------------- */

/* What validation needs of an account, kept between requests. Writers of
 * accounts and subscriptions log the accounts they touch under a stamp
 * that rises in commit order (migration 003); each request reads the
 * stamp and marks the accounts logged since the last one stale, so an
 * account is looked up again after it changed, and only then. The stamp is
 * read before the rows, so what is kept is never older than the stamp says.
 * Accounts no request named are never loaded. */
typedef struct {
    char *id; /* one allocation: id, currency, plan */
    const char *currency, *plan;
    uint64_t hash; /* of id: a probe compares ids only when these match */
    int months;
    bool stale;
} acct_t;

static struct {
    acct_t *slots;
    size_t cap, n;
    size_t max; /* BILLOW_RATING_ACCOUNT_CACHE: memory stays bounded */
    long long stamp;
    int64_t pruned_at; /* monotonic seconds of the last prune */
} C = {.stamp = -1, .max = RT_USAGE_CACHE_DEFAULT};

/* The preloader: an idle watcher that reads the whole view into memory a
 * page at a time between requests, after start and whenever everything was
 * dropped, so a month-end import does not pay a lookup per new account. */
static struct {
    struct ev_loop *loop;
    bw_db_t *db;
    ev_idle idle;
    bool started;
    char after[256];
} P;

/* The extra connections usage ingest spreads big requests over
 * (BILLOW_RATING_INGEST_CONNECTIONS counts the request's own as well), so
 * that PostgreSQL stores the parts on several cores at once. */
static struct {
    bw_db_t *extra[RT_USAGE_MAX_CONNECTIONS - 1];
    int n_extra;
} X;

static void extras_drop(void)
{
    for (int i = 0; i < X.n_extra; i++)
        bw_db_destroy(&X.extra[i]);
    X.n_extra = 0;
}

static void preload_kick(void)
{
    if (!P.started)
        return;
    P.after[0] = '\0';
    ev_idle_start(P.loop, &P.idle);
}

static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    /* FNV's low bits see only the low bits of each byte (ids of digits
     * collide there): fold the high half in before the table masks. */
    h ^= h >> 32;
    h *= 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

void rt_usage_cache_clear(void)
{
    for (size_t i = 0; i < C.cap; i++)
        free(C.slots[i].id);
    free(C.slots);
    C.slots = NULL;
    C.cap = C.n = 0;
    C.stamp = -1;
}

static acct_t *cache_slot(const char *id)
{
    if (C.n == 0)
        return NULL;
    uint64_t h = hash_id(id);
    for (size_t i = h & (C.cap - 1);; i = (i + 1) & (C.cap - 1)) {
        if (!C.slots[i].id)
            return NULL;
        if (C.slots[i].hash == h && strcmp(C.slots[i].id, id) == 0)
            return &C.slots[i];
    }
}

size_t rt_usage_cache_size(void) { return C.n; }

/* Drops every account kept but not the stamp: what is left (nothing) is
 * still current. */
static void cache_drop_all(void)
{
    long long stamp = C.stamp;
    rt_usage_cache_clear();
    C.stamp = stamp;
}

/* The account if kept and current. */
static const acct_t *cache_find(const char *id)
{
    const acct_t *e = cache_slot(id);
    return e && !e->stale ? e : NULL;
}

static void slot_put(acct_t *slots, size_t cap, acct_t a)
{
    size_t i = a.hash & (cap - 1);
    while (slots[i].id)
        i = (i + 1) & (cap - 1);
    slots[i] = a;
}

/* Keeps an account (replacing a stale copy). */
static int cache_add(const char *id, const char *currency, const char *cycle, const char *plan)
{
    size_t li = strlen(id) + 1, lc = strlen(currency) + 1, lp = strlen(plan) + 1;
    char *m = malloc(li + lc + lp);
    if (!m)
        return BW_ENOMEM;
    memcpy(m, id, li);
    memcpy(m + li, currency, lc);
    memcpy(m + li + lc, plan, lp);
    acct_t a = {.id = m, .currency = m + li, .plan = m + li + lc, .hash = hash_id(id),
                .months = rt_cycle_months(cycle)};
    acct_t *old = cache_slot(id);
    if (old) {
        free(old->id);
        *old = a;
        return 0;
    }
    if ((C.n + 1) * 10 > C.cap * 7) {
        size_t cap = C.cap ? C.cap * 2 : 4096;
        acct_t *ns = calloc(cap, sizeof *ns);
        if (!ns) {
            free(m);
            return BW_ENOMEM;
        }
        for (size_t i = 0; i < C.cap; i++)
            if (C.slots[i].id)
                slot_put(ns, cap, C.slots[i]);
        free(C.slots);
        C.slots = ns;
        C.cap = cap;
    }
    slot_put(C.slots, C.cap, a);
    C.n++;
    return 0;
}

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* Brings the kept accounts up to `stamp`: 0 or BW_EDB. */
static int cache_sync(bw_db_t *db, long long stamp, long long pruned)
{
    if (stamp == C.stamp)
        return 0;
    if (C.n == 0 || C.stamp < 0 || C.stamp < pruned || stamp < C.stamp) {
        rt_usage_cache_clear();
        C.stamp = stamp;
        preload_kick();
        return 0;
    }
    char from[24], to[24];
    snprintf(from, sizeof from, "%lld", C.stamp);
    snprintf(to, sizeof to, "%lld", stamp);
    const char *p[2] = {from, to};
    PGresult *res = bw_db_query(db, SQL_CHANGES, 2, p);
    if (!res)
        return BW_EDB;
    int rows = PQntuples(res);
    bool all = rows > 100000;
    for (int i = 0; i < rows && !all; i++) {
        if (PQgetisnull(res, i, 0)) {
            all = true;
            break;
        }
        acct_t *e = cache_slot(PQgetvalue(res, i, 0));
        if (e)
            e->stale = true;
    }
    PQclear(res);
    if (all) {
        rt_usage_cache_clear();
        preload_kick();
    }
    C.stamp = stamp;
    if (mono_s() - C.pruned_at >= 3600) {
        C.pruned_at = mono_s();
        if (bw_db_exec(db, SQL_PRUNE, 0, NULL) < 0)
            return BW_EDB;
    }
    return 0;
}

/* One page of the preloader: 1 when there is more, 0 when done, <0 error. */
static int preload_step(bw_db_t *db)
{
    PGresult *res = bw_db_query(db, SQL_STAMP, 0, NULL);
    if (!res)
        return BW_EDB;
    long long stamp = atoll(PQgetvalue(res, 0, 0)), pruned = atoll(PQgetvalue(res, 0, 1));
    PQclear(res);
    if (C.n >= C.max)
        return 0; /* as many as may be kept: the rest are read as requests name them */
    char after[256];
    snprintf(after, sizeof after, "%s", P.after); /* a sync may restart the walk */
    int rc = cache_sync(db, stamp, pruned);
    if (rc < 0)
        return rc;
    if (C.stamp < 0)
        C.stamp = stamp;
    const char *p[1] = {after};
    res = bw_db_query(db, SQL_PRELOAD, 1, p);
    if (!res)
        return BW_EDB;
    int rows = PQntuples(res);
    for (int i = 0; i < rows && rc == 0 && C.n < C.max; i++)
        if (!cache_find(PQgetvalue(res, i, 0)))
            rc = cache_add(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                           PQgetvalue(res, i, 3));
    if (rc == 0 && rows > 0 && strcmp(P.after, after) == 0)
        snprintf(P.after, sizeof P.after, "%s", PQgetvalue(res, rows - 1, 0));
    PQclear(res);
    if (rc < 0)
        return rc;
    return rows == 20000 || strcmp(P.after, after) != 0 ? 1 : 0;
}

static void preload_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    if (bw_db_in_tx(P.db))
        return;
    int rc = preload_step(P.db);
    if (rc < 0) {
        bw_log(BW_WARN, "could not preload accounts", "pg_error", BW_S(bw_db_error(P.db)), NULL);
        P.after[0] = '\0';
    }
    if (rc <= 0)
        ev_idle_stop(loop, w);
}

int rt_usage_start(struct ev_loop *loop, bw_db_t *db)
{
    long long max, conns;
    if (bw_env_int("BILLOW_RATING_ACCOUNT_CACHE", RT_USAGE_CACHE_DEFAULT, 1000, 100000000, &max) < 0 ||
        bw_env_int("BILLOW_RATING_INGEST_CONNECTIONS", RT_USAGE_CONNECTIONS_DEFAULT, 1,
                   RT_USAGE_MAX_CONNECTIONS, &conns) < 0)
        return BW_EINVAL;
    C.max = (size_t)max;
    extras_drop();
    /* Connected when a request first needs them (bw_db_begin connects). */
    for (X.n_extra = 0; X.n_extra < conns - 1; X.n_extra++)
        if (!(X.extra[X.n_extra] = bw_db_new_like(db)))
            return BW_ENOMEM;
    P.loop = loop;
    P.db = db;
    ev_idle_init(&P.idle, preload_cb);
    P.started = true;
    preload_kick();
    return 0;
}

void rt_usage_stop(void)
{
    if (P.started)
        ev_idle_stop(P.loop, &P.idle);
    P.started = false;
    extras_drop();
    rt_usage_cache_clear();
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Loads the accounts of the batch not in memory yet: 0, BW_EDB, BW_ENOMEM. */
/* The distinct account ids of req not in memory, sorted: how many. */
static size_t misses(const Billow__IngestUsage *req, const char **miss)
{
    size_t n = 0;
    for (size_t i = 0; i < req->n_records; i++) {
        const char *id = req->records[i]->account_id;
        if (!rt_empty(id) && !cache_find(id))
            miss[n++] = id;
    }
    qsort(miss, n, sizeof *miss, cmp_str);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (d == 0 || strcmp(miss[i], miss[d - 1]) != 0)
            miss[d++] = miss[i];
    return d;
}

static int cache_fill(bw_db_t *db, const Billow__IngestUsage *req, bw_arena_t *arena)
{
    const char **miss = bw_arena_alloc(arena, sizeof *miss * (req->n_records + 1));
    size_t nmiss = misses(req, miss);
    if (nmiss == 0)
        return 0;
    /* Full: start again rather than grow, before the request rather than
     * in it (it needs all of its accounts at once, so one request naming
     * more accounts than the limit goes over it until the next). */
    if (C.n + nmiss > C.max) {
        cache_drop_all();
        nmiss = misses(req, miss);
    }
    bw_pgarr_t arr = {0};
    for (size_t i = 0; i < nmiss; i++)
        bw_pgarr_add(&arr, miss[i]);
    const char *ids = bw_pgarr_str(&arr);
    if (!ids) {
        bw_pgarr_free(&arr);
        return BW_ENOMEM;
    }
    PGresult *res = bw_db_query(db, SQL_ACCOUNTS, 1, &ids);
    bw_pgarr_free(&arr);
    if (!res)
        return BW_EDB;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = cache_add(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                       PQgetvalue(res, i, 3));
    PQclear(res);
    return rc;
}

/* --- ingest -------------------------------------------------------------- */

typedef struct {
    const Billow__UsageRecord *u;
    const char *error; /* NULL: good so far */
    const acct_t *acct;
    char period[8];
    bw_dec_t q;
    int64_t at; /* microseconds since the epoch */
    int part;   /* which ingest connection stores it */
} rec_t;

static bool plan_charges(const rt_plan_t *p, const char *fee_item)
{
    for (size_t v = 0; v < p->n_versions; v++)
        for (size_t c = 0; c < p->versions[v].n_charges; c++)
            if (strcmp(p->versions[v].charges[c].fee_item, fee_item) == 0)
                return true;
    return false;
}

static void reject(rec_t *r, bw_arena_t *a, const char *fmt, const char *x, const char *y)
{
    r->error = bw_arena_printf(a, fmt, x ? x : "", y ? y : "");
}

/* The period of a day for a cycle, remembering the last few: the records
 * of a request mostly fall on a handful of days, and formatting the period
 * was a visible part of validating a record. */
static void period_of(int64_t day, int months, char period[8])
{
    static struct {
        int64_t day;
        int months; /* 0: empty */
        char period[8];
    } memo[16];
    if (months <= 0)
        months = 1;
    size_t k = (size_t)(day * 31 + months) & 15;
    if (memo[k].months != months || memo[k].day != day) {
        memo[k].day = day;
        memo[k].months = months;
        rt_period_of_day(day, months, memo[k].period, NULL, NULL);
    }
    memcpy(period, memo[k].period, 8);
}

/* Validates record u into r (error, or account, quantity, time, period). */
/* What the catalog said of a fee item for a plan, remembered for the rest
 * of a request: its records name a few plans and fee items, and each
 * answer costs a walk over the catalog. */
typedef struct {
    const rt_catalog_t *cat;
    struct {
        const char *plan, *fee_item; /* NULL: empty */
        bool known, charged;
    } e[16];
    size_t next;
} fee_memo_t;

/* Whether the catalog knows fee_item and whether plan (may be "") charges
 * it (true when the plan is not in the catalog: nothing to check against). */
static void fee_check(fee_memo_t *m, const char *plan, const char *fee_item, bool *known,
                      bool *charged)
{
    size_t n = sizeof m->e / sizeof m->e[0];
    for (size_t i = 0; i < n && m->e[i].plan; i++)
        if (strcmp(m->e[i].fee_item, fee_item) == 0 && strcmp(m->e[i].plan, plan) == 0) {
            *known = m->e[i].known;
            *charged = m->e[i].charged;
            return;
        }
    const rt_plan_t *p = *plan ? rt_catalog_plan(m->cat, plan) : NULL;
    *known = rt_catalog_fee_item(m->cat, fee_item) != NULL;
    *charged = !p || plan_charges(p, fee_item);
    size_t k = m->next++ % n;
    m->e[k].plan = plan;
    m->e[k].fee_item = fee_item;
    m->e[k].known = *known;
    m->e[k].charged = *charged;
}

static void validate(const Billow__UsageRecord *u, rec_t *r, fee_memo_t *fees, int64_t now,
                     bw_arena_t *arena)
{
    bool known, charged;
    char err[96];
    r->u = u;
    if (rt_empty(u->event_id)) {
        r->error = "event_id: missing";
        return;
    }
    if (strlen(u->event_id) > 200) {
        r->error = "event_id: longer than 200 characters";
        return;
    }
    if (rt_empty(u->account_id)) {
        r->error = "account: missing";
        return;
    }
    r->acct = cache_find(u->account_id);
    if (!r->acct) {
        reject(r, arena, "unknown account %s", u->account_id, NULL);
        return;
    }
    if (rt_empty(u->fee_item)) {
        r->error = "fee_item: missing";
        return;
    }
    fee_check(fees, r->acct->plan, u->fee_item, &known, &charged);
    if (!known) {
        reject(r, arena, "unknown fee item %s", u->fee_item, NULL);
        return;
    }
    if (!*r->acct->plan) {
        reject(r, arena, "account %s has no subscription", u->account_id, NULL);
        return;
    }
    if (!charged) {
        reject(r, arena, "fee item %s is not charged by plan %s", u->fee_item, r->acct->plan);
        return;
    }
    if (rt_empty(u->quantity)) {
        r->error = "quantity: missing";
        return;
    }
    if (bw_dec_parse(u->quantity, &r->q, err, sizeof err) < 0) {
        reject(r, arena, "quantity: %s", err, NULL);
        return;
    }
    if (r->q < 0) {
        r->error = "quantity: must not be negative";
        return;
    }
    int64_t us = now;
    if (!rt_empty(u->timestamp) && bw_time_parse(u->timestamp, &us) < 0) {
        reject(r, arena, "timestamp: %s is not RFC 3339 (2026-11-30T12:00:00Z)", u->timestamp,
               NULL);
        return;
    }
    if (!rt_empty(u->currency) && strcmp(u->currency, r->acct->currency) != 0) {
        reject(r, arena, "currency: %s, but the account bills in %s", u->currency,
               r->acct->currency);
        return;
    }
    r->at = us;
    int64_t day = us >= 0 ? us / 86400000000LL : -((-us + 86400000000LL - 1) / 86400000000LL);
    period_of(day, r->acct->months, r->period);
}

#define RT_MAX_PERIODS 32

/* Marks in closing[] which of the request's periods (distinct, *np of
 * them) a close job was started for: 0, BW_EDB or BW_ENOMEM. */
static int closing_periods(bw_db_t *db, char (*periods)[8], int np, bool *closing)
{
    bw_pgarr_t pa = {0};
    for (int k = 0; k < np; k++)
        bw_pgarr_add(&pa, periods[k]);
    const char *p = bw_pgarr_str(&pa);
    PGresult *res = p ? bw_db_query(db, SQL_CLOSING, 1, &p) : NULL;
    bw_pgarr_free(&pa);
    if (!res)
        return p ? BW_EDB : BW_ENOMEM;
    for (int r = 0; r < PQntuples(res); r++)
        for (int k = 0; k < np; k++)
            if (strcmp(periods[k], PQgetvalue(res, r, 0)) == 0)
                closing[k] = true;
    PQclear(res);
    return 0;
}

/* The index of period in periods[] (added when new); -1 when there are
 * already RT_MAX_PERIODS others. */
static int period_index(char (*periods)[8], int *np, const char *period)
{
    for (int k = 0; k < *np; k++)
        if (strcmp(periods[k], period) == 0)
            return k;
    if (*np == RT_MAX_PERIODS)
        return -1;
    memcpy(periods[*np], period, 8);
    return (*np)++;
}

/* Rejects the good records whose period is closed for their account. The
 * closed_periods key is probed only for records in a period a close was
 * started for (SQL_CLOSING): a probe per record cost as much as storing
 * it once a month had been closed, while records mostly arrive for the
 * open period. A request naming more than RT_MAX_PERIODS periods probes
 * every record. */
static int reject_closed(bw_db_t *db, const Billow__IngestUsage *req, rec_t *recs, size_t *good,
                         bw_arena_t *arena)
{
    size_t n = req->n_records;
    char periods[RT_MAX_PERIODS][8];
    bool closing[RT_MAX_PERIODS] = {false}, all = false;
    int np = 0;
    for (size_t i = 0; i < n && !all; i++)
        all = !recs[i].error && period_index(periods, &np, recs[i].period) < 0;
    int rc = all ? 0 : closing_periods(db, periods, np, closing);
    if (rc < 0)
        return rc;
    bw_pgarr_t aa = {0}, pa = {0};
    size_t *asked_rec = bw_arena_alloc(arena, sizeof *asked_rec * (n + 1));
    size_t asked = 0;
    if (!asked_rec)
        return BW_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!recs[i].error && (all || closing[period_index(periods, &np, recs[i].period)])) {
            bw_pgarr_add(&aa, req->records[i]->account_id);
            bw_pgarr_add(&pa, recs[i].period);
            asked_rec[asked++] = i;
        }
    const char *cp[2] = {bw_pgarr_str(&aa), bw_pgarr_str(&pa)};
    PGresult *res = NULL;
    if (asked == 0)
        rc = 0;
    else if (!cp[0] || !cp[1])
        rc = BW_ENOMEM;
    else if (!(res = bw_db_query(db, SQL_CLOSED, 2, cp)))
        rc = BW_EDB;
    for (int k = 0; res && k < PQntuples(res); k++) {
        long long ord = atoll(PQgetvalue(res, k, 0));
        if (ord < 1 || (size_t)ord > asked)
            continue;
        rec_t *r = &recs[asked_rec[ord - 1]];
        reject(r, arena, "period %s is already closed for account %s", r->period,
               req->records[asked_rec[ord - 1]]->account_id);
        (*good)--;
    }
    PQclear(res);
    bw_pgarr_free(&aa);
    bw_pgarr_free(&pa);
    return rc;
}

/* Orders records by aggregate key: account, fee item, period. */
static int by_key(const rec_t *r, const rec_t *q)
{
    int c = strcmp(r->u->account_id, q->u->account_id);
    if (c == 0)
        c = strcmp(r->u->fee_item, q->u->fee_item);
    if (c == 0)
        c = strcmp(r->period, q->period);
    return c;
}

/* By aggregate key, then in the order explain lists records: time, event
 * id (bytewise, as the column's collation). */
static int by_key_time(const void *x, const void *y)
{
    const rec_t *r = *(const rec_t *const *)x, *q = *(const rec_t *const *)y;
    int c = by_key(r, q);
    if (c == 0)
        c = r->at < q->at ? -1 : r->at > q->at;
    if (c == 0)
        c = strcmp(r->u->event_id, q->u->event_id);
    return c;
}

static void agg_row(bw_bincopy_t *b, const rec_t *r, bw_dec_t q, const char *const *ids,
                    size_t count)
{
    bw_bincopy_row(b, 6);
    bw_bincopy_text(b, r->period);
    bw_bincopy_text(b, r->u->account_id);
    bw_bincopy_text(b, r->u->fee_item);
    bw_bincopy_dec(b, q);
    bw_bincopy_i64(b, (int64_t)count);
    bw_bincopy_text_array(b, ids, count);
}

/* One aggregate row per (period, account, fee item) of the good records of
 * part p, each with the event ids it sums. */
static void build_aggs(const rec_t *recs, size_t n, int p, bw_bincopy_t *b, bw_arena_t *arena)
{
    size_t ng = 0;
    const rec_t **ix = bw_arena_alloc(arena, sizeof *ix * (n + 1));
    const char **ids = bw_arena_alloc(arena, sizeof *ids * (n + 1));
    bw_bincopy_begin(b);
    if (!ix || !ids) {
        b->failed = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (!recs[i].error && recs[i].part == p)
            ix[ng++] = &recs[i];
    qsort(ix, ng, sizeof *ix, by_key_time);
    for (size_t i = 0; i < ng; i++)
        ids[i] = ix[i]->u->event_id;
    for (size_t k = 0; k < ng;) {
        size_t start = k;
        const rec_t *first = ix[k];
        bw_dec_t sum = 0;
        for (; k < ng && by_key(ix[k], first) == 0; k++) {
            bw_dec_t s2;
            if (__builtin_add_overflow(sum, ix[k]->q, &s2)) {
                /* Past what 64 bits hold: another partial row of the same key. */
                agg_row(b, first, sum, ids + start, k - start);
                start = k;
                s2 = ix[k]->q;
            }
            sum = s2;
        }
        agg_row(b, first, sum, ids + start, k - start);
    }
    bw_bincopy_end(b);
}

/* What one connection stores of a request: the records whose event id
 * hashes to it (so an id sent twice always meets itself on the same
 * connection and no two connections wait on each other) and their
 * aggregates. */
typedef struct {
    bw_db_t *db;
    bw_bincopy_t rb, ab;
    long long good, stored;
    bool pending; /* a COPY sent, its outcome not read yet */
    bool done;    /* stored through the staging path */
    bool lost;    /* its transaction failed after another part had committed */
} part_t;

static const char SQL_EXTRA_LOCK[] =
    "SELECT pg_try_advisory_xact_lock_shared(hashtext('rating.usage'))";

/* The connections a request with `good` records is spread over: the
 * request's own (part 0), then each extra connection that could begin a
 * transaction and take the shared usage lock too. The request's
 * transaction holds that lock until after the extras committed, so a close
 * cannot read between the closed-period check and their rows; each extra
 * holds it as well, so that stays true should part 0's connection break
 * first. It only tries: a close waiting for the lock makes the try fail,
 * and the request then goes on with fewer connections instead of waiting
 * behind the close while part 0 holds the lock (a deadlock no database
 * would see across two connections). A request in a transaction of its
 * caller (one with an idempotency key, committed after its reply is
 * stored) is not split: its extras would commit before the caller knew
 * whether the request's own part could. */
static int parts_open(bw_db_t *db, size_t good, bool may_split, part_t *parts)
{
    int np = 0;
    parts[np++] = (part_t){.db = db};
    for (int i = 0; may_split && good >= RT_USAGE_SPLIT_MIN && i < X.n_extra; i++) {
        bw_db_t *x = X.extra[i];
        if (bw_db_begin(x) < 0) {
            bw_log(BW_WARN, "ingest connection unavailable", "pg_error", BW_S(bw_db_error(x)),
                   NULL);
            continue;
        }
        PGresult *res = bw_db_query(x, SQL_EXTRA_LOCK, 0, NULL);
        bool locked = res && *PQgetvalue(res, 0, 0) == 't';
        PQclear(res);
        if (!locked) {
            bw_db_rollback(x);
            continue;
        }
        parts[np++] = (part_t){.db = x};
    }
    return np;
}

static void part_records(part_t *pt, const Billow__IngestUsage *req, const rec_t *recs, int p,
                         const char *cause)
{
    bw_bincopy_begin(&pt->rb);
    for (size_t i = 0; i < req->n_records; i++) {
        if (recs[i].error || recs[i].part != p)
            continue;
        const Billow__UsageRecord *u = req->records[i];
        bw_bincopy_row(&pt->rb, 7);
        bw_bincopy_text(&pt->rb, u->event_id);
        bw_bincopy_text(&pt->rb, u->account_id);
        bw_bincopy_text(&pt->rb, u->fee_item);
        bw_bincopy_dec(&pt->rb, recs[i].q);
        bw_bincopy_ts(&pt->rb, recs[i].at);
        bw_bincopy_text(&pt->rb, recs[i].period);
        bw_bincopy_text(&pt->rb, cause);
        pt->good++;
    }
    bw_bincopy_end(&pt->rb);
}

/* Starts the COPY of the part's records, in a savepoint. */
static int part_send(part_t *pt)
{
    if (pt->rb.failed)
        return BW_ENOMEM;
    int rc = bw_db_savepoint(pt->db);
    if (rc == 0)
        rc = bw_db_copy_send(pt->db, SQL_COPY_RECORDS, pt->rb.data, pt->rb.len);
    pt->pending = rc == 0;
    return rc;
}

/* Some of the part's records were stored before: the savepoint goes and
 * the records go through the staging table, which counts the duplicates. */
static int part_staged(part_t *pt)
{
    int rc = bw_db_rollback_to(pt->db);
    if (rc == 0)
        rc = bw_db_exec(pt->db, SQL_STAGE, 0, NULL);
    if (rc == 0)
        rc = bw_db_copy(pt->db, SQL_COPY_STAGE, pt->rb.data, pt->rb.len);
    PGresult *res = rc == 0 ? bw_db_query(pt->db, SQL_FROM_STAGE, 0, NULL) : NULL;
    if (rc == 0 && !res)
        rc = BW_EDB;
    if (res) {
        pt->stored = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    pt->done = true;
    return rc;
}

/* Reads how the part's records went and, when all were new, starts the
 * COPY of its aggregates. */
static int part_aggs(part_t *pt, const rec_t *recs, size_t n, int p, bw_arena_t *arena)
{
    pt->pending = false;
    int rc = bw_db_copy_wait(pt->db);
    if (rc == BW_EDB && strcmp(bw_db_sqlstate(pt->db), "23505") == 0)
        return part_staged(pt);
    if (rc < 0)
        return rc;
    build_aggs(recs, n, p, &pt->ab, arena);
    if (pt->ab.failed)
        return BW_ENOMEM;
    rc = bw_db_copy_send(pt->db, SQL_COPY_AGGS, pt->ab.data, pt->ab.len);
    pt->pending = rc == 0;
    pt->stored = pt->good;
    return rc;
}

/* The first failure wins: rc keeps it and *bad its connection (whose error
 * the reply carries). */
static int keep_first(int rc, int prc, bw_db_t *db, bw_db_t **bad)
{
    if (rc < 0 || prc == 0)
        return rc;
    *bad = db;
    return prc;
}

/* Once one part has committed, a later part that fails cannot take the
 * request down with it: its records are rejected, each with the error, so
 * the reply says exactly which records are stored (a resend then counts
 * only those as duplicates). */
static void part_lost(part_t *pt, rec_t *recs, size_t n, int p, bw_arena_t *arena)
{
    /* A connection lost during the commit leaves its outcome unknown. */
    const char *why = bw_arena_printf(arena, "%s (%s): send it again",
                                      bw_db_lost(pt->db) ? "may not be stored" : "not stored",
                                      bw_db_error(pt->db));
    pt->lost = true;
    for (size_t i = 0; i < n; i++)
        if (!recs[i].error && recs[i].part == p)
            recs[i].error = why;
}

/* Stores the good records and their aggregates, spread over the ingest
 * connections when there are many; the extra connections commit here,
 * before the request's own transaction (part 0), which holds the usage
 * lock. A failure before any part committed fails the request (nothing is
 * stored; *bad is the connection that failed); after one did, the parts
 * that could not commit are lost (part_lost). *committed: whether an extra
 * part committed. */
static int store(bw_db_t *db, const Billow__IngestUsage *req, rec_t *recs, size_t good,
                 bool may_split, const char *cause, part_t *parts, int *np_out, bool *committed,
                 bw_db_t **bad, bw_arena_t *arena)
{
    size_t n = req->n_records;
    int np = parts_open(db, good, may_split, parts), rc = 0;
    *np_out = np;
    *committed = false;
    for (size_t i = 0; i < n; i++)
        recs[i].part = np > 1 ? (int)(hash_id(req->records[i]->event_id) % (uint64_t)np) : 0;
    for (int p = 0; p < np && rc == 0; p++) {
        part_records(&parts[p], req, recs, p, cause);
        rc = keep_first(rc, part_send(&parts[p]), parts[p].db, bad);
    }
    for (int p = 0; p < np; p++)
        if (parts[p].pending)
            rc = keep_first(rc, part_aggs(&parts[p], recs, n, p, arena), parts[p].db, bad);
    for (int p = 0; p < np; p++)
        if (parts[p].pending) {
            parts[p].pending = false;
            rc = keep_first(rc, bw_db_copy_wait(parts[p].db), parts[p].db, bad);
        }
    for (int p = 1; p < np; p++) {
        if (rc < 0) {
            bw_db_rollback(parts[p].db);
            continue;
        }
        int crc = bw_db_commit(parts[p].db);
        if (crc == 0)
            *committed = true;
        else if (*committed)
            part_lost(&parts[p], recs, n, p, arena);
        else
            rc = keep_first(rc, crc, parts[p].db, bad);
    }
    for (int p = 0; p < np; p++) {
        bw_bincopy_free(&parts[p].rb);
        bw_bincopy_free(&parts[p].ab);
    }
    return rc;
}

bool rt_usage_ingest(bw_db_t *db, const Billow__IngestUsage *req, const char *cause,
                     Billow__Reply *reply, bw_arena_t *arena)
{
    size_t n = req->n_records;
    if (n > RT_USAGE_MAX_BATCH) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "too many records",
                       bw_arena_printf(arena, "at most %d per request", RT_USAGE_MAX_BATCH));
        return false;
    }
    const rt_catalog_t *cat = NULL;
    int cver = 0;
    long long inserted = 0;
    bw_db_t *bad = db; /* the connection a failure is reported from */
    int rc;
    if (rt_store_current(db, &cat, &cver) < 0) {
        rt_reply_db(reply, db, "could not read catalog", arena);
        return false;
    }
    if (!cat) {
        bw_reply_error(reply, BILLOW__CODE__CONFLICT, "no catalog loaded",
                       "load one with: billctl catalog load FILE.json");
        return false;
    }
    rec_t *recs = bw_arena_alloc(arena, sizeof *recs * (n + 1));
    memset(recs, 0, sizeof *recs * (n + 1));
    bool callers_tx = bw_db_in_tx(db); /* a keyed request: see parts_open */
    if (bw_db_begin(db) < 0) {
        rt_reply_db(reply, db, "could not store usage", arena);
        return false;
    }
    PGresult *res = bw_db_query(db, SQL_LOCK_STAMP, 0, NULL);
    if (!res) {
        rc = BW_EDB;
        goto fail;
    }
    long long stamp = atoll(PQgetvalue(res, 0, 1)), pruned = atoll(PQgetvalue(res, 0, 2));
    PQclear(res);
    if ((rc = cache_sync(db, stamp, pruned)) < 0 || (rc = cache_fill(db, req, arena)) < 0)
        goto fail;

    int64_t now = bw_now_us();
    fee_memo_t fees = {.cat = cat};
    size_t good = 0;
    for (size_t i = 0; i < n; i++) {
        validate(req->records[i], &recs[i], &fees, now, arena);
        good += !recs[i].error;
    }
    if (good > 0 && (rc = reject_closed(db, req, recs, &good, arena)) < 0)
        goto fail;
    part_t parts[RT_USAGE_MAX_CONNECTIONS];
    int np = 0;
    bool committed = false;
    if (good > 0 &&
        (rc = store(db, req, recs, good, !callers_tx, cause, parts, &np, &committed, &bad,
                    arena)) < 0)
        goto fail;
    if (bw_db_commit(db) < 0) {
        if (!committed) {
            rt_reply_db(reply, db, "could not store usage", arena);
            return false;
        }
        part_lost(&parts[0], recs, n, 0, arena);
    }
    long long duplicates = 0;
    for (int p = 0; p < np; p++)
        if (!parts[p].lost) {
            inserted += parts[p].stored;
            duplicates += parts[p].good - parts[p].stored;
        }

    Billow__IngestUsageReply *ur = bw_arena_alloc(arena, sizeof *ur);
    billow__ingest_usage_reply__init(ur);
    ur->received = (int32_t)n;
    ur->accepted = (int32_t)inserted;
    ur->duplicates = (int32_t)duplicates;
    ur->rejected = bw_arena_alloc(arena, sizeof *ur->rejected * (n + 1));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!recs[i].error)
            continue;
        Billow__UsageRejection *rj = bw_arena_alloc(arena, sizeof *rj);
        billow__usage_rejection__init(rj);
        rj->line = req->records[i]->line;
        rj->index = (int32_t)i;
        rj->event_id = req->records[i]->event_id ? req->records[i]->event_id : "";
        rj->error = (char *)recs[i].error;
        ur->rejected[k++] = rj;
    }
    ur->n_rejected = k;
    Billow__RatingReply *rr = rt_reply_body(reply, arena);
    rr->op_case = BILLOW__RATING_REPLY__OP_USAGE;
    rr->usage = ur;
    return inserted > 0;
fail:
    if (rc == BW_ENOMEM) {
        bw_reply_error(reply, BILLOW__CODE__INTERNAL, "out of memory", NULL);
    } else {
        rt_reply_db(reply, bad, "could not store usage", arena);
    }
    bw_db_rollback(db);
    return false;
}
