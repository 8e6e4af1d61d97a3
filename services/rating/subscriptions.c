/* Subscriptions as segments: subscribe, change, cancel, list. */
#include "rating/subscriptions.h"
#include "rating/accounts_view.h"
#include "rating/catalog_store.h"
#include "rating/periods.h"
#include "rating/reply.h"

#include "copybuf.h"
#include "csv.h"
#include "pgarray.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "money.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

/* --- import ------------------------------------------------------------------
 * A file of new subscriptions, checked as a whole like a single subscribe
 * (same checks, same messages) and written with one COPY: one bad row and
 * nothing is written. The table lock orders the import with single
 * subscribes, changes and cancels, so what was checked still holds at
 * commit; it is held for the checks and the COPY only. */

#define IMPORT_MAX_ERRORS 1000

static const char SQL_IMPORT_LOCK[] = "LOCK TABLE subscriptions IN SHARE ROW EXCLUSIVE MODE";
/* The account and its subscription history, by position in the file. */
static const char SQL_IMPORT_ACCOUNTS[] =
    "SELECT u.i, a.currency, a.cycle, a.status, coalesce(s.open, false),"
    " s.last_end, coalesce(s.origin, '')"
    " FROM unnest($1::text[]) WITH ORDINALITY AS u(id, i) JOIN accounts a ON a.id = u.id"
    " LEFT JOIN LATERAL (SELECT bool_or(end_date IS NULL) AS open,"
    "   max(end_date) - '1970-01-01'::date AS last_end, min(origin)::text AS origin"
    "   FROM subscriptions WHERE account_id = u.id) s ON true";
static const char SQL_IMPORT_CLOSED[] =
    "SELECT u.i FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(a, p, i)"
    " JOIN closed_periods c ON c.account_id = u.a AND c.period = u.p";
/* Per coupon: the redemptions this file adds (an account redeems a coupon
 * once) and those already made. */
static const char SQL_IMPORT_COUPONS[] =
    "SELECT u.c, count(*) FILTER (WHERE r.account_id IS NULL),"
    " (SELECT count(*) FROM coupon_redemptions x WHERE x.coupon = u.c)"
    " FROM unnest($1::text[], $2::text[]) AS u(c, a)"
    " LEFT JOIN coupon_redemptions r ON r.coupon = u.c AND r.account_id = u.a GROUP BY u.c";
static const char SQL_IMPORT_COUPON_LOCKS[] =
    "SELECT pg_advisory_xact_lock(hashtext('rating.coupon:' || c))"
    " FROM (SELECT DISTINCT unnest($1::text[]) AS c ORDER BY 1) x";
static const char SQL_IMPORT_COPY[] =
    "COPY subscriptions (account_id, plan, quantity, coupon, start_date, origin, caused_by)"
    " FROM STDIN";
static const char SQL_IMPORT_REDEEM[] =
    "INSERT INTO coupon_redemptions (coupon, account_id, caused_by)"
    " SELECT c, a, $3 FROM unnest($1::text[], $2::text[]) AS u(c, a) ON CONFLICT DO NOTHING";

typedef struct {
    long line;
    char *account, *plan, *coupon, *qty, *origin;
    char date[16], period[8];
    int64_t day;
    bool bad, known;
} imp_row_t;

typedef struct {
    Billow__SubscriptionImportReply *ir;
    size_t rejected; /* rows with an error; the first IMPORT_MAX_ERRORS are listed */
    imp_row_t *rows;
    size_t n, cap;
    const rt_catalog_t *cat;
    bw_arena_t *arena;
} import_t;

static void import_error(import_t *im, imp_row_t *row, long line, const char *msg)
{
    if (row) {
        if (row->bad)
            return; /* one error per row is enough to fix it */
        row->bad = true;
    }
    im->rejected++;
    if (im->ir->n_errors >= IMPORT_MAX_ERRORS)
        return;
    Billow__RowError *e = bw_arena_alloc(im->arena, sizeof *e);
    billow__row_error__init(e);
    e->line = (int32_t)line;
    e->error = bw_arena_strdup(im->arena, msg);
    const char *colon = strchr(msg, ':');
    e->field = colon ? bw_arena_printf(im->arena, "%.*s", (int)(colon - msg), msg) : "";
    im->ir->errors[im->ir->n_errors++] = e;
}

/* A row fails one of the single-subscribe checks, which fill a reply:
 * its error and detail become the row's message. */
static void import_check_failed(import_t *im, imp_row_t *row, const Billow__Reply *r)
{
    const char *msg = r->error && *r->error ? r->error : "rejected";
    import_error(im, row, row->line,
                 r->detail && *r->detail ? bw_arena_printf(im->arena, "%s (%s)", msg, r->detail) : msg);
}

/* Checks what a row says by itself: date, plan, quantity, coupon. */
static void import_parse_row(import_t *im, bw_csv_t *csv, imp_row_t *row)
{
    bw_arena_t *a = im->arena;
    Billow__Reply r = BILLOW__REPLY__INIT;
    const char *v;
    row->line = bw_csv_line(csv);
    row->account = bw_arena_strdup(a, (v = bw_csv_get(csv, "account_id")) ? v : "");
    row->plan = bw_arena_strdup(a, (v = bw_csv_get(csv, "plan")) ? v : "");
    row->coupon = bw_arena_strdup(a, (v = bw_csv_get(csv, "coupon")) ? v : "");
    const char *qty = bw_csv_get(csv, "quantity");
    if (!*row->account) {
        import_error(im, row, row->line, "account_id: missing");
        return;
    }
    ctx_t c = {.cat = im->cat};
    if (!parse_day(bw_csv_get(csv, "start"), "start", &c, &r, a)) {
        import_check_failed(im, row, &r);
        return;
    }
    row->day = c.day;
    memcpy(row->date, c.date, sizeof row->date);
    if (!rt_catalog_plan(im->cat, row->plan)) {
        import_error(im, row, row->line,
                     bw_arena_printf(a, "plan: unknown plan %s", *row->plan ? row->plan : "(empty)"));
        return;
    }
    char q[BW_DEC_STRLEN];
    if (!parse_qty(rt_empty(qty) ? "1" : qty, q, &r, a)) {
        import_check_failed(im, row, &r);
        return;
    }
    row->qty = bw_arena_strdup(a, q);
    if (*row->coupon) {
        const rt_discount_t *cd = find_coupon(im->cat, row->coupon);
        if (!cd)
            import_error(im, row, row->line, bw_arena_printf(a, "coupon: unknown coupon %s", row->coupon));
        else if (row->day > cd->valid_to)
            import_error(im, row, row->line,
                         bw_arena_printf(a, "coupon: %s was valid to %s", row->coupon,
                                         rt_date_str(a, cd->valid_to)));
    }
}

static int cmp_row_account(const void *x, const void *y)
{
    const imp_row_t *const *a = x, *const *b = y;
    int c = strcmp((*a)->account, (*b)->account);
    return c ? c : ((*a)->line > (*b)->line) - ((*a)->line < (*b)->line);
}

/* One subscription per account per file: a second would overlap the first.
 * Runs last, on the rows otherwise good. */
static int import_check_duplicates(import_t *im)
{
    imp_row_t **by = malloc(sizeof *by * (im->n + 1));
    if (!by)
        return BW_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < im->n; i++)
        if (!im->rows[i].bad)
            by[n++] = &im->rows[i];
    qsort(by, n, sizeof *by, cmp_row_account);
    for (size_t i = 1, first = 0; i < n; i++) {
        if (strcmp(by[i]->account, by[first]->account) != 0)
            first = i;
        else
            import_error(im, by[i], by[i]->line,
                         bw_arena_printf(im->arena, "account_id: %s appears more than once (first on line %ld)",
                                         by[i]->account, by[first]->line));
    }
    free(by);
    return 0;
}

/* Reads the file into im->rows; 0, or negative when the file itself (header,
 * CSV syntax, memory) is unusable, with an error already recorded. */
static int import_read(import_t *im, const char *text)
{
    bw_csv_t *csv = bw_csv_new_mem(text, strlen(text), NULL);
    if (!csv)
        return BW_ENOMEM;
    static const char *const required[] = {"account_id", "plan", "start"};
    static const char *const known[] = {"account_id", "plan", "start", "quantity", "coupon"};
    int rc = 0;
    if (bw_csv_read_header(csv) < 0 || bw_csv_require(csv, required, 3) < 0) {
        import_error(im, NULL, bw_csv_line(csv), bw_csv_error(csv));
        rc = BW_EINVAL;
        goto out;
    }
    for (size_t c = 0; c < bw_csv_nfields(csv); c++) {
        bool ok = false;
        for (size_t k = 0; k < sizeof known / sizeof *known; k++)
            ok = ok || strcasecmp(bw_csv_field(csv, c), known[k]) == 0;
        if (!ok) {
            import_error(im, NULL, bw_csv_line(csv),
                         bw_arena_printf(im->arena, "%s: unknown column", bw_csv_field(csv, c)));
            rc = BW_EINVAL;
        }
    }
    while (rc == 0 && (rc = bw_csv_next(csv)) > 0) {
        if (im->n == im->cap) {
            size_t cap = im->cap ? im->cap * 2 : 1024;
            imp_row_t *rows = realloc(im->rows, sizeof *rows * cap);
            if (!rows) {
                rc = BW_ENOMEM;
                break;
            }
            im->rows = rows;
            im->cap = cap;
        }
        imp_row_t *row = &im->rows[im->n++];
        memset(row, 0, sizeof *row);
        import_parse_row(im, csv, row);
        rc = 0;
    }
    if (rc == BW_ENOMEM)
        import_error(im, NULL, bw_csv_line(csv), "file: out of memory");
    else if (rc < 0)
        import_error(im, NULL, bw_csv_line(csv), bw_csv_error(csv));
    else if (im->n == 0)
        import_error(im, NULL, 1, "file: no rows after the header");
out:
    bw_csv_destroy(&csv);
    return rc;
}

/* Checks every row against its account, as rt_subscribe does one: the
 * account is known and open, the plan suits it, no open subscription, no
 * overlap with an earlier one, the start not in a closed period. */
static int import_check_accounts(bw_db_t *db, import_t *im)
{
    bw_pgarr_t ids;
    bw_pgarr_init(&ids);
    for (size_t i = 0; i < im->n; i++)
        bw_pgarr_add(&ids, im->rows[i].account);
    const char *p[1] = {bw_pgarr_str(&ids)};
    PGresult *res = p[0] ? bw_db_query(db, SQL_IMPORT_ACCOUNTS, 1, p) : NULL;
    bw_pgarr_free(&ids);
    if (!res)
        return BW_EDB;
    for (int r = 0; r < PQntuples(res); r++) {
        imp_row_t *row = &im->rows[atoll(PQgetvalue(res, r, 0)) - 1];
        row->known = true;
        if (row->bad)
            continue; /* already rejected for what it says */
        ctx_t c = {.cat = im->cat, .day = row->day};
        c.acct.id = row->account;
        c.acct.currency = PQgetvalue(res, r, 1);
        c.acct.cycle = PQgetvalue(res, r, 2);
        c.acct.status = PQgetvalue(res, r, 3);
        Billow__Reply rep = BILLOW__REPLY__INIT;
        if (strcmp(c.acct.status, "closed") == 0)
            import_error(im, row, row->line, bw_arena_printf(im->arena, "account_id: %s is closed", row->account));
        else if (!check_plan(&c, row->plan, &rep, im->arena))
            import_check_failed(im, row, &rep);
        else if (strcmp(PQgetvalue(res, r, 4), "t") == 0)
            import_error(im, row, row->line,
                         bw_arena_printf(im->arena, "account_id: %s already has a subscription", row->account));
        else if (!PQgetisnull(res, r, 5) && row->day < atoll(PQgetvalue(res, r, 5)))
            import_error(im, row, row->line,
                         bw_arena_printf(im->arena, "start: overlaps an earlier subscription of %s, which ended on %s",
                                         row->account, rt_date_str(im->arena, atoll(PQgetvalue(res, r, 5)))));
        if (row->bad)
            continue;
        /* A returning customer keeps its history, as with rt_subscribe. */
        row->origin = *PQgetvalue(res, r, 6) ? bw_arena_strdup(im->arena, PQgetvalue(res, r, 6)) : row->date;
        rt_period_of_day(row->day, rt_cycle_months(c.acct.cycle), row->period, NULL, NULL);
    }
    PQclear(res);
    /* The rows still good, in file order, against the closed periods. */
    bw_pgarr_t accts, periods;
    bw_pgarr_init(&accts);
    bw_pgarr_init(&periods);
    size_t *pos = malloc(sizeof *pos * (im->n + 1)), ngood = 0;
    for (size_t i = 0; pos && i < im->n; i++) {
        imp_row_t *row = &im->rows[i];
        if (!row->known)
            import_error(im, row, row->line,
                         bw_arena_printf(im->arena, "account_id: unknown account %s (rating has not heard of it from invoicing)",
                                         row->account));
        if (row->bad)
            continue;
        bw_pgarr_add(&accts, row->account);
        bw_pgarr_add(&periods, row->period);
        pos[ngood++] = i;
    }
    const char *cp[2] = {bw_pgarr_str(&accts), bw_pgarr_str(&periods)};
    res = pos && cp[0] && cp[1] ? bw_db_query(db, SQL_IMPORT_CLOSED, 2, cp) : NULL;
    int rc = res ? 0 : BW_EDB;
    for (int r = 0; res && r < PQntuples(res); r++) {
        imp_row_t *row = &im->rows[pos[atoll(PQgetvalue(res, r, 0)) - 1]];
        import_error(im, row, row->line,
                     bw_arena_printf(im->arena, "start: %s falls in %s, already closed for %s", row->date,
                                     row->period, row->account));
    }
    PQclear(res);
    free(pos);
    bw_pgarr_free(&accts);
    bw_pgarr_free(&periods);
    return rc;
}

/* Coupons with a redemption limit: what the file adds must fit in what is
 * left. Rejects the rows of a coupon that would go over. */
static int import_check_coupons(bw_db_t *db, import_t *im)
{
    bw_pgarr_t codes, accts;
    bw_pgarr_init(&codes);
    bw_pgarr_init(&accts);
    for (size_t i = 0; i < im->n; i++)
        if (!im->rows[i].bad && *im->rows[i].coupon) {
            bw_pgarr_add(&codes, im->rows[i].coupon);
            bw_pgarr_add(&accts, im->rows[i].account);
        }
    int rc = 0;
    if (codes.n > 0) {
        const char *p[2] = {bw_pgarr_str(&codes), bw_pgarr_str(&accts)};
        PGresult *res = NULL;
        if (!p[0] || !p[1] || bw_db_exec(db, SQL_IMPORT_COUPON_LOCKS, 1, p) < 0 ||
            !(res = bw_db_query(db, SQL_IMPORT_COUPONS, 2, p)))
            rc = BW_EDB;
        for (int r = 0; res && r < PQntuples(res); r++) {
            const char *code = PQgetvalue(res, r, 0);
            long long adds = atoll(PQgetvalue(res, r, 1)), used = atoll(PQgetvalue(res, r, 2));
            const rt_discount_t *cd = find_coupon(im->cat, code);
            if (!cd || cd->max_redemptions <= 0 || used + adds <= cd->max_redemptions)
                continue;
            for (size_t i = 0; i < im->n; i++)
                if (!im->rows[i].bad && strcmp(im->rows[i].coupon, code) == 0)
                    import_error(im, &im->rows[i], im->rows[i].line,
                                 bw_arena_printf(im->arena, "coupon: %s would be redeemed %lld more times, %lld of %lld left",
                                                 code, adds, cd->max_redemptions - used < 0 ? 0 : cd->max_redemptions - used,
                                                 (long long)cd->max_redemptions));
        }
        PQclear(res);
    }
    bw_pgarr_free(&codes);
    bw_pgarr_free(&accts);
    return rc;
}

/* Writes every row (all checked) and the coupon redemptions. */
static int import_write(bw_db_t *db, import_t *im, const char *cause)
{
    bw_copybuf_t copy;
    bw_copybuf_init(&copy);
    bw_pgarr_t codes, accts;
    bw_pgarr_init(&codes);
    bw_pgarr_init(&accts);
    for (size_t i = 0; i < im->n; i++) {
        const imp_row_t *row = &im->rows[i];
        bw_copybuf_str(&copy, row->account);
        bw_copybuf_str(&copy, row->plan);
        bw_copybuf_str(&copy, row->qty);
        bw_copybuf_str(&copy, row->coupon);
        bw_copybuf_str(&copy, row->date);
        bw_copybuf_str(&copy, row->origin);
        bw_copybuf_str(&copy, cause);
        bw_copybuf_end(&copy);
        if (*row->coupon) {
            bw_pgarr_add(&codes, row->coupon);
            bw_pgarr_add(&accts, row->account);
        }
    }
    int rc = bw_copybuf_send(&copy, db, SQL_IMPORT_COPY);
    if (rc == 0 && codes.n > 0) {
        const char *p[3] = {bw_pgarr_str(&codes), bw_pgarr_str(&accts), cause};
        rc = p[0] && p[1] ? bw_db_exec(db, SQL_IMPORT_REDEEM, 3, p) : BW_ENOMEM;
    }
    bw_copybuf_free(&copy);
    bw_pgarr_free(&codes);
    bw_pgarr_free(&accts);
    return rc < 0 ? rc : 0;
}

static int cmp_error_line(const void *x, const void *y)
{
    const Billow__RowError *const *a = x, *const *b = y;
    return ((*a)->line > (*b)->line) - ((*a)->line < (*b)->line);
}

bool rt_subscription_import(bw_db_t *db, const Billow__SubscriptionImport *req, const char *cause,
                            Billow__Reply *reply, bw_arena_t *arena)
{
    Billow__SubscriptionImportReply *ir = bw_arena_alloc(arena, sizeof *ir);
    billow__subscription_import_reply__init(ir);
    ir->errors = bw_arena_alloc(arena, sizeof *ir->errors * IMPORT_MAX_ERRORS);
    Billow__RatingReply *rr = rt_reply_body(reply, arena);
    rr->op_case = BILLOW__RATING_REPLY__OP_SUBSCRIPTION_IMPORT;
    rr->subscription_import = ir;

    import_t im = {.ir = ir, .arena = arena};
    int ver;
    if (rt_store_current(db, &im.cat, &ver) < 0) {
        rt_reply_db(reply, db, "could not read catalog", arena);
        return false;
    }
    if (!im.cat) {
        bw_reply_error(reply, BILLOW__CODE__CONFLICT, "no catalog loaded",
                       "load one with: billctl catalog load FILE.json");
        return false;
    }
    bool written = false;
    int rc = import_read(&im, req->csv ? req->csv : "");
    ir->rows = (int32_t)im.n;
    if (rc < 0)
        goto done; /* the file itself is unusable: im.rejected says why */
    if (bw_db_begin(db) < 0 || bw_db_exec(db, SQL_IMPORT_LOCK, 0, NULL) < 0 ||
        import_check_accounts(db, &im) < 0 || import_check_duplicates(&im) < 0 ||
        import_check_coupons(db, &im) < 0) {
        rt_reply_db(reply, db, "could not check subscriptions", arena);
        bw_db_rollback(db);
        goto done;
    }
    if (im.rejected) {
        bw_db_rollback(db);
        goto done;
    }
    if (import_write(db, &im, cause) < 0 || bw_db_commit(db) < 0) {
        rt_reply_db(reply, db, "could not import subscriptions", arena);
        bw_db_rollback(db);
        goto done;
    }
    ir->created = (int32_t)im.n;
    written = true;
done:
    free(im.rows);
    qsort(ir->errors, ir->n_errors, sizeof *ir->errors, cmp_error_line);
    if (im.rejected && reply->code == BILLOW__CODE__OK)
        bw_reply_error(reply, BILLOW__CODE__INVALID,
                       bw_arena_printf(arena, "%zu row(s) rejected; nothing was imported", im.rejected),
                       im.rejected > ir->n_errors
                           ? bw_arena_printf(arena, "the first %zu are listed", ir->n_errors)
                           : NULL);
    return written;
}
