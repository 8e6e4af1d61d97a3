/* Subscriptions as segments: subscribe, change, cancel, list. */
#include "rating/subscriptions.h"
#include "rating/accounts_view.h"
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

#define SUB_COLS                                                                                   \
    "id, account_id, plan, trim_scale(quantity)::text, coupon, start_date::text,"                  \
    " coalesce(end_date::text, ''), origin::text, caused_by"

static const char SQL_LIST_ACCOUNT[] =
    "SELECT " SUB_COLS " FROM subscriptions WHERE account_id = $1 ORDER BY start_date";
static const char SQL_LIST[] =
    "SELECT " SUB_COLS " FROM subscriptions WHERE account_id > $1"
    " ORDER BY account_id, start_date LIMIT $2::int";
static const char SQL_OPEN[] =
    "SELECT id, plan, quantity::text, coupon, start_date - '1970-01-01'::date, origin::text"
    " FROM subscriptions WHERE account_id = $1 AND end_date IS NULL FOR UPDATE";
static const char SQL_LAST_END[] =
    "SELECT max(end_date) - '1970-01-01'::date, min(origin)::text FROM subscriptions"
    " WHERE account_id = $1";
static const char SQL_INSERT[] =
    "INSERT INTO subscriptions (account_id, plan, quantity, coupon, start_date, origin, caused_by)"
    " VALUES ($1, $2, $3::numeric, $4, $5::date, $6::date, $7)";
static const char SQL_END[] =
    "UPDATE subscriptions SET end_date = $2::date, ended_by = $3 WHERE id = $1::bigint";
static const char SQL_SET[] =
    "UPDATE subscriptions SET plan = $2, quantity = $3::numeric, caused_by = $4 WHERE id = $1::bigint";
static const char SQL_CLOSED[] =
    "SELECT 1 FROM closed_periods WHERE account_id = $1 AND period = $2";
static const char SQL_REDEEMED[] = "SELECT count(*) FROM coupon_redemptions WHERE coupon = $1";
static const char SQL_REDEEM[] =
    "INSERT INTO coupon_redemptions (coupon, account_id, caused_by) VALUES ($1, $2, $3)"
    " ON CONFLICT DO NOTHING";

static Billow__Subscription *row_to_sub(PGresult *res, int r, bw_arena_t *a)
{
    Billow__Subscription *s = bw_arena_alloc(a, sizeof *s);
    billow__subscription__init(s);
    s->id = atoll(PQgetvalue(res, r, 0));
    s->account_id = bw_arena_strdup(a, PQgetvalue(res, r, 1));
    s->plan = bw_arena_strdup(a, PQgetvalue(res, r, 2));
    s->quantity = bw_arena_strdup(a, PQgetvalue(res, r, 3));
    s->coupon = bw_arena_strdup(a, PQgetvalue(res, r, 4));
    s->start = bw_arena_strdup(a, PQgetvalue(res, r, 5));
    s->end = bw_arena_strdup(a, PQgetvalue(res, r, 6));
    s->origin = bw_arena_strdup(a, PQgetvalue(res, r, 7));
    s->caused_by = bw_arena_strdup(a, PQgetvalue(res, r, 8));
    return s;
}

static int list_into(bw_db_t *db, PGresult *res, Billow__Reply *reply, bw_arena_t *a)
{
    (void)db;
    Billow__SubscriptionReply *sr = bw_arena_alloc(a, sizeof *sr);
    billow__subscription_reply__init(sr);
    int n = PQntuples(res);
    sr->n_subscriptions = (size_t)n;
    sr->subscriptions = bw_arena_alloc(a, sizeof *sr->subscriptions * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        sr->subscriptions[i] = row_to_sub(res, i, a);
    Billow__RatingReply *rr = rt_reply_body(reply, a);
    rr->op_case = BILLOW__RATING_REPLY__OP_SUBSCRIPTIONS;
    rr->subscriptions = sr;
    return 0;
}

static void reply_account(bw_db_t *db, const char *account, Billow__Reply *reply, bw_arena_t *a)
{
    const char *p[1] = {account};
    PGresult *res = bw_db_query(db, SQL_LIST_ACCOUNT, 1, p);
    if (!res) {
        rt_reply_db(reply, db, "could not read subscriptions", a);
        return;
    }
    list_into(db, res, reply, a);
    PQclear(res);
}

/* 1 when the period containing day is closed for the account, 0 when not,
 * negative on a database error. */
static int day_closed(bw_db_t *db, const rt_account_t *acct, int64_t day, char period[8])
{
    rt_period_of_day(day, rt_cycle_months(acct->cycle), period, NULL, NULL);
    const char *p[2] = {acct->id, period};
    PGresult *res = bw_db_query(db, SQL_CLOSED, 2, p);
    if (!res)
        return BW_EDB;
    int closed = PQntuples(res) > 0;
    PQclear(res);
    return closed;
}

/* Reply codes for a failed check; the reply is filled. */
typedef struct {
    rt_account_t acct;
    const rt_catalog_t *cat;
    int64_t day;
    char date[16];
} ctx_t;

static bool load_account(bw_db_t *db, const char *id, ctx_t *c, Billow__Reply *reply, bw_arena_t *a)
{
    if (rt_empty(id)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "account: missing", "--account ID");
        return false;
    }
    int rc = rt_account_get(db, id, &c->acct, a);
    if (rc == BW_ENOTFOUND) {
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "unknown account",
                       bw_arena_printf(a, "%s: rating has not heard of it from invoicing", id));
        return false;
    }
    if (rc < 0) {
        rt_reply_db(reply, db, "could not read account", a);
        return false;
    }
    int ver;
    if (rt_store_current(db, &c->cat, &ver) < 0) {
        rt_reply_db(reply, db, "could not read catalog", a);
        return false;
    }
    if (!c->cat) {
        bw_reply_error(reply, BILLOW__CODE__CONFLICT, "no catalog loaded",
                       "load one with: billctl catalog load FILE.json");
        return false;
    }
    return true;
}

static bool parse_day(const char *s, const char *what, ctx_t *c, Billow__Reply *reply, bw_arena_t *a)
{
    if (rt_empty(s) || bw_date_parse(s, &c->day) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, bw_arena_printf(a, "%s: expected YYYY-MM-DD", what),
                       s ? bw_arena_strdup(a, s) : NULL);
        return false;
    }
    bw_date_format(c->day, c->date, sizeof c->date);
    return true;
}

static bool check_open_day(bw_db_t *db, ctx_t *c, Billow__Reply *reply, bw_arena_t *a)
{
    char period[8];
    int closed = day_closed(db, &c->acct, c->day, period);
    if (closed < 0) {
        rt_reply_db(reply, db, "could not read closed periods", a);
        return false;
    }
    if (closed) {
        bw_reply_error(reply, BILLOW__CODE__CONFLICT, "period is closed",
                       bw_arena_printf(a, "%s falls in %s, already closed for %s", c->date, period,
                                       c->acct.id));
        return false;
    }
    return true;
}

static bool check_plan(const ctx_t *c, const char *code, Billow__Reply *reply, bw_arena_t *a)
{
    const rt_plan_t *p = rt_catalog_plan(c->cat, code);
    if (!p) {
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "unknown plan", bw_arena_strdup(a, code));
        return false;
    }
    if (rt_cycle_months(rt_cycle_name(p->cycle)) != rt_cycle_months(c->acct.cycle)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "plan and account cycles differ",
                       bw_arena_printf(a, "plan %s bills %s, account %s %s", code,
                                       rt_cycle_name(p->cycle), c->acct.id, c->acct.cycle));
        return false;
    }
    bool priced = false;
    for (size_t i = 0; i < p->n_versions && !priced; i++)
        priced = strcmp(p->versions[i].currency, c->acct.currency) == 0;
    if (!priced) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "plan has no prices in the account's currency",
                       bw_arena_printf(a, "plan %s, currency %s", code, c->acct.currency));
        return false;
    }
    return true;
}

static bool parse_qty(const char *s, char out[BW_DEC_STRLEN], Billow__Reply *reply, bw_arena_t *a)
{
    bw_dec_t q;
    char err[96];
    if (bw_dec_parse(s, &q, err, sizeof err) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, bw_arena_printf(a, "quantity: %s", err),
                       bw_arena_strdup(a, s));
        return false;
    }
    if (q < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "quantity: must not be negative", NULL);
        return false;
    }
    bw_dec_format(q, out, BW_DEC_STRLEN);
    return true;
}

static const rt_discount_t *find_coupon(const rt_catalog_t *cat, const char *code)
{
    for (size_t i = 0; i < cat->n_discounts; i++)
        if (cat->discounts[i].kind == RT_DISC_COUPON && cat->discounts[i].coupon &&
            strcmp(cat->discounts[i].coupon, code) == 0)
            return &cat->discounts[i];
    return NULL;
}

bool rt_subscribe(bw_db_t *db, const Billow__Subscribe *req, const char *cause,
                  Billow__Reply *reply, bw_arena_t *arena)
{
    ctx_t c;
    char qty[BW_DEC_STRLEN];
    if (!load_account(db, req->account_id, &c, reply, arena) ||
        !parse_day(req->start, "start", &c, reply, arena) ||
        !check_plan(&c, rt_empty(req->plan) ? "" : req->plan, reply, arena) ||
        !parse_qty(rt_empty(req->quantity) ? "1" : req->quantity, qty, reply, arena))
        return false;
    if (strcmp(c.acct.status, "closed") == 0) {
        bw_reply_error(reply, BILLOW__CODE__CONFLICT, "account is closed", c.acct.id);
        return false;
    }
    const char *coupon = rt_empty(req->coupon) ? "" : req->coupon;
    const rt_discount_t *cd = NULL;
    if (*coupon) {
        cd = find_coupon(c.cat, coupon);
        if (!cd) {
            bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "unknown coupon", bw_arena_strdup(arena, coupon));
            return false;
        }
        if (c.day > cd->valid_to) {
            bw_reply_error(reply, BILLOW__CODE__INVALID, "coupon has expired",
                           bw_arena_printf(arena, "%s was valid to %s", coupon, rt_date_str(arena, cd->valid_to)));
            return false;
        }
    }
    if (bw_db_begin(db) < 0)
        goto dberr;
    const char *ap[1] = {c.acct.id};
    /* One writer per account at a time. */
    if (bw_db_exec(db, "SELECT pg_advisory_xact_lock(hashtext('rating.sub:' || $1))", 1, ap) < 0)
        goto dberr;
    if (!check_open_day(db, &c, reply, arena))
        goto fail;
    PGresult *res = bw_db_query(db, SQL_OPEN, 1, ap);
    if (!res)
        goto dberr;
    bool open = PQntuples(res) > 0;
    PQclear(res);
    if (open) {
        bw_reply_error(reply, BILLOW__CODE__CONFLICT, "account already has a subscription",
                       "use: billctl subscription change (or cancel it first)");
        goto fail;
    }
    res = bw_db_query(db, SQL_LAST_END, 1, ap);
    if (!res)
        goto dberr;
    char *origin = c.date;
    if (!PQgetisnull(res, 0, 0)) {
        int64_t last_end = atoll(PQgetvalue(res, 0, 0));
        if (c.day < last_end) {
            PQclear(res);
            bw_reply_error(reply, BILLOW__CODE__CONFLICT, "start overlaps an earlier subscription",
                           bw_arena_printf(arena, "the last one ended on %s",
                                           rt_date_str(arena, last_end)));
            goto fail;
        }
        /* A returning customer keeps its history: no second setup fee, and
         * loyalty counts from the first subscription. */
        origin = bw_arena_strdup(arena, PQgetvalue(res, 0, 1));
    }
    PQclear(res);
    if (cd) {
        const char *cp[3] = {coupon, c.acct.id, cause};
        if (bw_db_exec(db, "SELECT pg_advisory_xact_lock(hashtext('rating.coupon:' || $1))", 1, cp) < 0)
            goto dberr;
        res = bw_db_query(db, SQL_REDEEMED, 1, cp);
        if (!res)
            goto dberr;
        long long used = atoll(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (cd->max_redemptions > 0 && used >= cd->max_redemptions) {
            bw_reply_error(reply, BILLOW__CODE__CONFLICT, "coupon fully redeemed",
                           bw_arena_printf(arena, "%s: %lld of %lld", coupon, used,
                                           (long long)cd->max_redemptions));
            goto fail;
        }
        if (bw_db_exec(db, SQL_REDEEM, 3, cp) < 0)
            goto dberr;
    }
    const char *ip[7] = {c.acct.id, req->plan, qty, coupon, c.date, origin, cause};
    if (bw_db_exec(db, SQL_INSERT, 7, ip) < 0)
        goto dberr;
    if (bw_db_commit(db) < 0)
        goto dberr;
    reply_account(db, c.acct.id, reply, arena);
    return true;
dberr:
    rt_reply_db(reply, db, "could not subscribe", arena);
fail:
    bw_db_rollback(db);
    return false;
}

/* Loads the open segment: id, plan, quantity, coupon, start, origin. */
typedef struct {
    char *id, *plan, *qty, *coupon, *origin;
    int64_t start;
} open_t;

static int load_open(bw_db_t *db, const char *account, open_t *o, bw_arena_t *a)
{
    const char *p[1] = {account};
    PGresult *res = bw_db_query(db, SQL_OPEN, 1, p);
    if (!res)
        return BW_EDB;
    int rc = BW_ENOTFOUND;
    if (PQntuples(res) == 1) {
        o->id = bw_arena_strdup(a, PQgetvalue(res, 0, 0));
        o->plan = bw_arena_strdup(a, PQgetvalue(res, 0, 1));
        o->qty = bw_arena_strdup(a, PQgetvalue(res, 0, 2));
        o->coupon = bw_arena_strdup(a, PQgetvalue(res, 0, 3));
        o->start = atoll(PQgetvalue(res, 0, 4));
        o->origin = bw_arena_strdup(a, PQgetvalue(res, 0, 5));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

static bool begin_change(bw_db_t *db, ctx_t *c, open_t *o, Billow__Reply *reply, bw_arena_t *a)
{
    if (bw_db_begin(db) < 0) {
        rt_reply_db(reply, db, "could not begin", a);
        return false;
    }
    const char *ap[1] = {c->acct.id};
    if (bw_db_exec(db, "SELECT pg_advisory_xact_lock(hashtext('rating.sub:' || $1))", 1, ap) < 0)
        goto dberr;
    int rc = load_open(db, c->acct.id, o, a);
    if (rc == BW_ENOTFOUND) {
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no open subscription",
                       bw_arena_printf(a, "%s has none; use: billctl subscribe", c->acct.id));
        goto fail;
    }
    if (rc < 0)
        goto dberr;
    if (c->day < o->start) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "date is before the current subscription starts",
                       bw_arena_printf(a, "it started on %s", rt_date_str(a, o->start)));
        goto fail;
    }
    if (!check_open_day(db, c, reply, a))
        goto fail;
    return true;
dberr:
    rt_reply_db(reply, db, "could not read subscription", a);
fail:
    bw_db_rollback(db);
    return false;
}

bool rt_subscription_change(bw_db_t *db, const Billow__SubscriptionChange *req, const char *cause,
                            Billow__Reply *reply, bw_arena_t *arena)
{
    ctx_t c;
    open_t o;
    char qty[BW_DEC_STRLEN];
    if (!load_account(db, req->account_id, &c, reply, arena) ||
        !parse_day(req->at, "at", &c, reply, arena))
        return false;
    if (rt_empty(req->plan) && rt_empty(req->quantity)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "nothing to change", "give --plan or --quantity");
        return false;
    }
    if (!rt_empty(req->plan) && !check_plan(&c, req->plan, reply, arena))
        return false;
    if (!rt_empty(req->quantity) && !parse_qty(req->quantity, qty, reply, arena))
        return false;
    if (!begin_change(db, &c, &o, reply, arena))
        return false;
    const char *plan = rt_empty(req->plan) ? o.plan : req->plan;
    const char *q = rt_empty(req->quantity) ? o.qty : qty;
    if (c.day == o.start) {
        /* Effective from the segment's first day: it simply changes. */
        const char *sp[4] = {o.id, plan, q, cause};
        if (bw_db_exec(db, SQL_SET, 4, sp) < 0)
            goto dberr;
    } else {
        const char *ep[3] = {o.id, c.date, cause};
        const char *ip[7] = {c.acct.id, plan, q, o.coupon, c.date, o.origin, cause};
        if (bw_db_exec(db, SQL_END, 3, ep) < 0 || bw_db_exec(db, SQL_INSERT, 7, ip) < 0)
            goto dberr;
    }
    if (bw_db_commit(db) < 0)
        goto dberr;
    reply_account(db, c.acct.id, reply, arena);
    return true;
dberr:
    rt_reply_db(reply, db, "could not change subscription", arena);
    bw_db_rollback(db);
    return false;
}

bool rt_subscription_cancel(bw_db_t *db, const Billow__SubscriptionCancel *req, const char *cause,
                            Billow__Reply *reply, bw_arena_t *arena)
{
    ctx_t c;
    open_t o;
    if (!load_account(db, req->account_id, &c, reply, arena) ||
        !parse_day(req->at, "at", &c, reply, arena))
        return false;
    if (!begin_change(db, &c, &o, reply, arena))
        return false;
    if (c.day == o.start) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "cancel date is the first day of the subscription",
                       "the last day billed is the day before --at; give a later date");
        bw_db_rollback(db);
        return false;
    }
    const char *ep[3] = {o.id, c.date, cause};
    if (bw_db_exec(db, SQL_END, 3, ep) < 0 || bw_db_commit(db) < 0) {
        rt_reply_db(reply, db, "could not cancel subscription", arena);
        bw_db_rollback(db);
        return false;
    }
    reply_account(db, c.acct.id, reply, arena);
    return true;
}

void rt_subscription_list(bw_db_t *db, const Billow__SubscriptionList *req, Billow__Reply *reply,
                          bw_arena_t *arena)
{
    if (!rt_empty(req->account_id)) {
        rt_account_t acct;
        int rc = rt_account_get(db, req->account_id, &acct, arena);
        if (rc == BW_ENOTFOUND) {
            bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "unknown account",
                           bw_arena_strdup(arena, req->account_id));
            return;
        }
        reply_account(db, req->account_id, reply, arena);
        return;
    }
    char lim[16];
    snprintf(lim, sizeof lim, "%u", req->limit ? (req->limit > 10000 ? 10000 : req->limit) : 100);
    const char *p[2] = {rt_empty(req->after) ? "" : req->after, lim};
    PGresult *res = bw_db_query(db, SQL_LIST, 2, p);
    if (!res) {
        rt_reply_db(reply, db, "could not list subscriptions", arena);
        return;
    }
    list_into(db, res, reply, arena);
    PQclear(res);
}
