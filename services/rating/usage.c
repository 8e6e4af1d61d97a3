/* Usage ingest with per-record validation and running aggregates. */
#include "rating/usage.h"
#include "rating/catalog_store.h"
#include "rating/periods.h"
#include "rating/reply.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "money.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The account, its currency and cycle, and the plan of its latest
 * subscription segment, for every account the batch names. */
static const char SQL_ACCOUNTS[] =
    "SELECT a.id, a.currency, a.cycle, a.status, coalesce(s.plan, '') FROM accounts a"
    " LEFT JOIN LATERAL (SELECT plan FROM subscriptions s WHERE s.account_id = a.id"
    " ORDER BY start_date DESC LIMIT 1) s ON true WHERE a.id = ANY($1::text[])";
static const char SQL_CLOSED[] =
    "SELECT c.account_id, c.period FROM closed_periods c"
    " JOIN unnest($1::text[], $2::text[]) AS t(a, p) ON c.account_id = t.a AND c.period = t.p";
/* Raw rows and aggregates in one statement; aggregates are updated in key
 * order so concurrent ingests cannot deadlock on them. */
static const char SQL_INSERT[] =
    "WITH input AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::numeric[],"
    " $5::timestamptz[], $6::text[]) AS t(event_id, account_id, fee_item, quantity, at, period)),"
    " ins AS (INSERT INTO usage_records (event_id, account_id, fee_item, quantity, at, period,"
    " caused_by) SELECT event_id, account_id, fee_item, quantity, at, period, $7 FROM input"
    " ON CONFLICT (event_id) DO NOTHING RETURNING account_id, period, fee_item, quantity),"
    " agg AS (INSERT INTO usage_aggregates AS g (period, account_id, fee_item, quantity, records)"
    " SELECT period, account_id, fee_item, sum(quantity), count(*) FROM ins GROUP BY 1, 2, 3"
    " ORDER BY 1, 2, 3 ON CONFLICT (period, account_id, fee_item) DO UPDATE SET"
    " quantity = g.quantity + EXCLUDED.quantity, records = g.records + EXCLUDED.records"
    " RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM agg)";

/* --- array literals ------------------------------------------------------ */

static void put(rt_pgarr_t *a, const char *p, size_t n)
{
    if (a->failed)
        return;
    if (a->len + n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        while (a->len + n + 2 > cap)
            cap *= 2;
        char *s = realloc(a->s, cap);
        if (!s) {
            a->failed = true;
            return;
        }
        a->s = s;
        a->cap = cap;
    }
    memcpy(a->s + a->len, p, n);
    a->len += n;
}

void rt_pgarr_add(rt_pgarr_t *a, const char *v)
{
    put(a, a->n ? ",\"" : "{\"", 2);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            put(a, "\\", 1);
        put(a, p, 1);
    }
    put(a, "\"", 1);
    a->n++;
}

const char *rt_pgarr_end(rt_pgarr_t *a)
{
    if (a->n == 0)
        put(a, "{", 1);
    put(a, "}", 1);
    if (a->failed)
        return NULL;
    a->s[a->len] = '\0';
    return a->s;
}

void rt_pgarr_free(rt_pgarr_t *a)
{
    free(a->s);
    memset(a, 0, sizeof *a);
}

/* --- ingest -------------------------------------------------------------- */

typedef struct {
    const char *id, *currency, *plan, *status;
    int months;
} acct_t;

typedef struct {
    const char *error; /* NULL: good so far */
    acct_t *acct;
    char period[8];
    char qty[BW_DEC_STRLEN];
    char at[40];
} rec_t;

static int acct_cmp(const void *x, const void *y)
{
    return strcmp(((const acct_t *)x)->id, ((const acct_t *)y)->id);
}

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
    rt_pgarr_t arr[7];
    memset(arr, 0, sizeof arr);
    long long inserted = 0;
    bool began = false;
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
    if (bw_db_begin(db) < 0)
        goto dberr;
    began = true;
    if (bw_db_exec(db, RT_USAGE_LOCK_SQL_SHARED, 0, NULL) < 0)
        goto dberr;

    /* Accounts of the batch, in one statement. */
    for (size_t i = 0; i < n; i++)
        rt_pgarr_add(&arr[0], req->records[i]->account_id ? req->records[i]->account_id : "");
    const char *ids = rt_pgarr_end(&arr[0]);
    if (!ids)
        goto nomem;
    PGresult *res = bw_db_query(db, SQL_ACCOUNTS, 1, &ids);
    if (!res)
        goto dberr;
    size_t nacct = (size_t)PQntuples(res);
    acct_t *accts = bw_arena_alloc(arena, sizeof *accts * (nacct + 1));
    for (size_t i = 0; i < nacct; i++) {
        accts[i].id = bw_arena_strdup(arena, PQgetvalue(res, (int)i, 0));
        accts[i].currency = bw_arena_strdup(arena, PQgetvalue(res, (int)i, 1));
        accts[i].months = rt_cycle_months(PQgetvalue(res, (int)i, 2));
        accts[i].status = bw_arena_strdup(arena, PQgetvalue(res, (int)i, 3));
        accts[i].plan = bw_arena_strdup(arena, PQgetvalue(res, (int)i, 4));
    }
    PQclear(res);
    rt_pgarr_free(&arr[0]);
    qsort(accts, nacct, sizeof *accts, acct_cmp);

    int64_t now = bw_now_us();
    for (size_t i = 0; i < n; i++) {
        const Billow__UsageRecord *u = req->records[i];
        rec_t *r = &recs[i];
        char err[96];
        if (rt_empty(u->event_id)) {
            r->error = "event_id: missing";
            continue;
        }
        if (strlen(u->event_id) > 200) {
            r->error = "event_id: longer than 200 characters";
            continue;
        }
        acct_t key = {.id = u->account_id ? u->account_id : ""};
        r->acct = nacct ? bsearch(&key, accts, nacct, sizeof *accts, acct_cmp) : NULL;
        if (rt_empty(u->account_id)) {
            r->error = "account: missing";
            continue;
        }
        if (!r->acct) {
            reject(r, arena, "unknown account %s", u->account_id, NULL);
            continue;
        }
        if (rt_empty(u->fee_item)) {
            r->error = "fee_item: missing";
            continue;
        }
        if (!rt_catalog_fee_item(cat, u->fee_item)) {
            reject(r, arena, "unknown fee item %s", u->fee_item, NULL);
            continue;
        }
        if (!*r->acct->plan) {
            reject(r, arena, "account %s has no subscription", u->account_id, NULL);
            continue;
        }
        const rt_plan_t *plan = rt_catalog_plan(cat, r->acct->plan);
        if (plan && !plan_charges(plan, u->fee_item)) {
            reject(r, arena, "fee item %s is not charged by plan %s", u->fee_item, r->acct->plan);
            continue;
        }
        bw_dec_t q;
        if (rt_empty(u->quantity)) {
            r->error = "quantity: missing";
            continue;
        }
        if (bw_dec_parse(u->quantity, &q, err, sizeof err) < 0) {
            reject(r, arena, "quantity: %s", err, NULL);
            continue;
        }
        if (q < 0) {
            r->error = "quantity: must not be negative";
            continue;
        }
        bw_dec_format(q, r->qty, sizeof r->qty);
        int64_t us = now;
        if (!rt_empty(u->timestamp) && bw_time_parse(u->timestamp, &us) < 0) {
            reject(r, arena, "timestamp: %s is not RFC 3339 (2026-11-30T12:00:00Z)", u->timestamp,
                   NULL);
            continue;
        }
        if (!rt_empty(u->currency) && strcmp(u->currency, r->acct->currency) != 0) {
            reject(r, arena, "currency: %s, but the account bills in %s", u->currency,
                   r->acct->currency);
            continue;
        }
        bw_time_format(us, r->at, sizeof r->at);
        int64_t day = us >= 0 ? us / 86400000000LL : -((-us + 86400000000LL - 1) / 86400000000LL);
        rt_period_of_day(day, r->acct->months, r->period, NULL, NULL);
    }

    /* Periods already closed, in one statement. */
    size_t good = 0;
    for (size_t i = 0; i < n; i++)
        if (!recs[i].error) {
            rt_pgarr_add(&arr[0], req->records[i]->account_id);
            rt_pgarr_add(&arr[1], recs[i].period);
            good++;
        }
    if (good > 0) {
        const char *cp[2] = {rt_pgarr_end(&arr[0]), rt_pgarr_end(&arr[1])};
        if (!cp[0] || !cp[1])
            goto nomem;
        res = bw_db_query(db, SQL_CLOSED, 2, cp);
        if (!res)
            goto dberr;
        for (int k = 0; k < PQntuples(res); k++) {
            const char *ca = PQgetvalue(res, k, 0), *cpd = PQgetvalue(res, k, 1);
            for (size_t i = 0; i < n; i++)
                if (!recs[i].error && !strcmp(recs[i].period, cpd) &&
                    !strcmp(req->records[i]->account_id, ca)) {
                    reject(&recs[i], arena, "period %s is already closed for account %s", cpd, ca);
                    good--;
                }
        }
        PQclear(res);
        rt_pgarr_free(&arr[0]);
        rt_pgarr_free(&arr[1]);
    }
    if (good > 0) {
        for (size_t i = 0; i < n; i++) {
            if (recs[i].error)
                continue;
            const Billow__UsageRecord *u = req->records[i];
            rt_pgarr_add(&arr[0], u->event_id);
            rt_pgarr_add(&arr[1], u->account_id);
            rt_pgarr_add(&arr[2], u->fee_item);
            rt_pgarr_add(&arr[3], recs[i].qty);
            rt_pgarr_add(&arr[4], recs[i].at);
            rt_pgarr_add(&arr[5], recs[i].period);
        }
        const char *ip[7];
        for (int k = 0; k < 6; k++)
            if (!(ip[k] = rt_pgarr_end(&arr[k])))
                goto nomem;
        ip[6] = cause;
        res = bw_db_query(db, SQL_INSERT, 7, ip);
        if (!res)
            goto dberr;
        inserted = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    if (bw_db_commit(db) < 0) {
        began = false;
        goto dberr;
    }
    for (int k = 0; k < 7; k++)
        rt_pgarr_free(&arr[k]);

    Billow__IngestUsageReply *ur = bw_arena_alloc(arena, sizeof *ur);
    billow__ingest_usage_reply__init(ur);
    ur->received = (int32_t)n;
    ur->accepted = (int32_t)inserted;
    ur->duplicates = (int32_t)(good - (size_t)inserted);
    ur->n_rejected = n - good;
    ur->rejected = bw_arena_alloc(arena, sizeof *ur->rejected * (ur->n_rejected + 1));
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
nomem:
    bw_reply_error(reply, BILLOW__CODE__INTERNAL, "out of memory", NULL);
    if (began)
        bw_db_rollback(db);
    for (int k2 = 0; k2 < 7; k2++)
        rt_pgarr_free(&arr[k2]);
    return false;
dberr:
    rt_reply_db(reply, db, "could not store usage", arena);
    if (began)
        bw_db_rollback(db);
    for (int k2 = 0; k2 < 7; k2++)
        rt_pgarr_free(&arr[k2]);
    return false;
}
