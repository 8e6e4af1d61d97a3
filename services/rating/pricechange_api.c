/* Price change requests and the per-account loading used by every rating
 * path (contracts in pricechange_api.h). Figures for preview and announce
 * go through rt_rate_account like a close, so what a customer is told is
 * what the rater computes: the old charge is the account's last billed
 * period as the catalog prices it, the new charge the same period with the
 * change's price version in force from its first day. */
#include "rating/pricechange_api.h"
#include "rating/catalog_store.h"
#include "rating/periods.h"
#include "rating/pricechange.h"
#include "rating/reply.h"
#include "rating/usage.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "outbox.h"
#include "pgarray.h"
#include "rpc.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS(col) "coalesce(to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"
#define BATCH 2000

static const char SQL_CATALOG[] = "SELECT version, doc FROM catalogs ORDER BY version DESC LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO price_changes (id, doc, catalog_doc, catalog_version, plan, currency,"
    " effective_date, min_notice_days, transition_periods, transition_percent, created_by,"
    " created_at, caused_by) VALUES ($1, $2, $3, $4::int, $5, $6, $7::date, $8::int, $9::int,"
    " $10::numeric, $11, $12::timestamptz, $13) ON CONFLICT (id) DO NOTHING";
static const char SQL_GET[] =
    "SELECT id, doc, catalog_doc, status, created_by, " TS("created_at") ", " TS("announced_at")
    " FROM price_changes WHERE id = $1";
static const char SQL_LIST[] =
    "SELECT id, doc, catalog_doc, status, created_by, " TS("created_at") ", " TS("announced_at")
    " FROM price_changes ORDER BY created_at DESC, id LIMIT 200";
static const char SQL_CANDIDATES[] =
    "SELECT a.id, a.currency, a.cycle, a.anchor_day, a.tier, a.language,"
    " a.created_on - '1970-01-01'::date,"
    " coalesce((SELECT max(c.period) FROM closed_periods c WHERE c.account_id = a.id), '') AS lp"
    " FROM accounts a WHERE a.status = 'active' AND a.currency = $2"
    " AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.account_id = a.id AND s.plan = $1"
    " AND (s.end_date IS NULL OR s.end_date > $3::date))"
    " ORDER BY lp, a.id";
static const char SQL_MARK[] =
    "UPDATE price_changes SET status = 'announced', announced_by = $2, announced_at = $3::timestamptz"
    " WHERE id = $1 AND status = 'draft'";
static const char SQL_ACCOUNTS_INSERT[] =
    "INSERT INTO price_change_accounts (change_id, account_id, tier, period, currency, old_minor,"
    " new_minor, event_id, notified_at, caused_by)"
    " SELECT $1, a, t, p, $2, o, n, e, $3::timestamptz, $4"
    " FROM unnest($5::text[], $6::text[], $7::text[], $8::bigint[], $9::bigint[], $10::text[])"
    " AS x(a, t, p, o, n, e) ON CONFLICT DO NOTHING";
static const char SQL_APPLIED[] =
    "SELECT pa.account_id, pa.change_id, pa.effective_on - '1970-01-01'::date"
    " FROM price_change_accounts pa WHERE pa.account_id >= $1 AND pa.account_id <= $2"
    " AND pa.effective_on IS NOT NULL AND pa.effective_on < $3::date"
    " ORDER BY pa.account_id, pa.effective_on";
static const char SQL_COUNTS[] =
    "SELECT count(*), count(first_delivered_at), count(acknowledged_at),"
    " count(*) FILTER (WHERE first_delivered_at IS NULL AND failed_at IS NOT NULL),"
    " count(*) FILTER (WHERE first_delivered_at IS NULL AND failed_at IS NULL)"
    " FROM price_change_accounts WHERE change_id = $1";
static const char SQL_EFFECTIVE[] =
    "SELECT effective_on::text, count(*) FROM price_change_accounts"
    " WHERE change_id = $1 AND effective_on IS NOT NULL GROUP BY 1 ORDER BY 1";
static const char SQL_FOLLOW_UP[] =
    "SELECT account_id, fail_reason, " TS("failed_at") " FROM price_change_accounts"
    " WHERE change_id = $1 AND first_delivered_at IS NULL AND failed_at IS NOT NULL"
    " ORDER BY account_id LIMIT $2::int";
static const char SQL_TICKETS[] =
    "SELECT ticket_id, account_id, type, category, channel, opened_at, outcome, resolved_at"
    " FROM price_change_tickets WHERE change_id = $1 ORDER BY opened_at, ticket_id LIMIT $2::int";
static const char SQL_OUTCOMES[] =
    "SELECT coalesce(nullif(outcome, ''), 'open'), count(*) FROM price_change_tickets"
    " WHERE change_id = $1 GROUP BY 1 ORDER BY 1";

/* --- the cache of parsed changes ------------------------------------------ */

typedef struct {
    char *id, *plan, *currency;
    rt_catalog_t *cat; /* the catalog with the change's version */
    const rt_price_version_t *pv;
    int64_t effective_day;
    int transition_periods;
    bw_dec_t transition_percent;
} change_t;

static struct {
    change_t **v;
    size_t n, cap;
} C;

void rt_pc_cache_clear(void)
{
    for (size_t i = 0; i < C.n; i++) {
        rt_catalog_destroy(&C.v[i]->cat);
        free(C.v[i]->id);
        free(C.v[i]->plan);
        free(C.v[i]->currency);
        free(C.v[i]);
    }
    free(C.v);
    memset(&C, 0, sizeof C);
}

/* Builds a change from its stored documents; NULL with err. */
static change_t *change_new(const char *id, const char *doc, const char *catalog_doc, char *err,
                            size_t errlen)
{
    rt_pc_doc_t *d = rt_pc_doc_new(doc, err, errlen);
    if (!d)
        return NULL;
    change_t *c = calloc(1, sizeof *c);
    if (c) {
        c->id = strdup(id);
        c->plan = strdup(d->plan);
        c->currency = strdup(d->currency);
        c->cat = rt_catalog_new_from_json(catalog_doc, err, errlen);
        c->effective_day = d->effective_day;
        c->transition_periods = d->transition_periods;
        c->transition_percent = d->transition_percent;
    }
    if (c && c->cat)
        c->pv = rt_pc_version(c->cat, c->plan, c->currency, c->effective_day);
    rt_pc_doc_destroy(&d);
    if (!c || !c->id || !c->plan || !c->currency || !c->pv) {
        if (c) {
            rt_catalog_destroy(&c->cat);
            free(c->id);
            free(c->plan);
            free(c->currency);
            free(c);
        }
        if (!*err)
            snprintf(err, errlen, "stored change has no price version");
        return NULL;
    }
    return c;
}

static const change_t *cache_find(const char *id)
{
    for (size_t i = 0; i < C.n; i++)
        if (strcmp(C.v[i]->id, id) == 0)
            return C.v[i];
    return NULL;
}

static const change_t *cache_put(change_t *c)
{
    if (C.n == C.cap) {
        size_t cap = C.cap ? C.cap * 2 : 16;
        change_t **nv = realloc(C.v, sizeof *nv * cap);
        if (!nv)
            return NULL;
        C.v = nv;
        C.cap = cap;
    }
    C.v[C.n++] = c;
    return c;
}

/* The parsed change id (cached; changes are immutable once stored). */
static int change_get(bw_db_t *db, const char *id, const change_t **out)
{
    *out = cache_find(id);
    if (*out)
        return 0;
    const char *p[1] = {id};
    PGresult *res = bw_db_query(db, SQL_GET, 1, p);
    if (!res)
        return BW_EDB;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return BW_ENOTFOUND;
    }
    char err[256] = "";
    change_t *c = change_new(id, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), err, sizeof err);
    PQclear(res);
    if (!c) {
        bw_log(BW_ERROR, "stored price change does not parse", "change", BW_S(id), "error",
               BW_S(err), NULL);
        return BW_EINVAL;
    }
    *out = cache_put(c);
    if (!*out) {
        rt_catalog_destroy(&c->cat);
        free(c->id);
        free(c->plan);
        free(c->currency);
        free(c);
        return BW_ENOMEM;
    }
    return 0;
}

static int by_id(const void *x, const void *y)
{
    const rt_acct_data_t *a = x, *b = y;
    return strcmp(a->acct.id, b->acct.id);
}

int rt_pc_load_applied(bw_db_t *db, rt_acct_data_t *accts, size_t n, const char *lo,
                       const char *hi, const rt_period_t *p, bw_arena_t *a)
{
    char pe[16];
    bw_date_format(p->end, pe, sizeof pe);
    const char *prm[3] = {lo, hi, pe};
    PGresult *res = bw_db_query(db, SQL_APPLIED, 3, prm);
    if (!res)
        return BW_EDB;
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        rt_acct_data_t key;
        key.acct.id = PQgetvalue(res, r, 0);
        rt_acct_data_t *d = bsearch(&key, accts, n, sizeof *accts, by_id);
        if (!d)
            continue;
        const change_t *c;
        int rc = change_get(db, PQgetvalue(res, r, 1), &c);
        if (rc == BW_EDB) {
            PQclear(res);
            return rc;
        }
        if (rc < 0) {
            d->error = "a price change in force for the account cannot be read";
            continue;
        }
        rt_pc_applied_t *nv = bw_arena_alloc(a, sizeof *nv * (d->npcs + 1));
        if (!nv) {
            PQclear(res);
            return BW_ENOMEM;
        }
        if (d->npcs)
            memcpy(nv, d->pcs, sizeof *nv * d->npcs);
        nv[d->npcs] = (rt_pc_applied_t){
            .change_id = c->id,
            .plan = c->plan,
            .currency = c->currency,
            .from_day = atoll(PQgetvalue(res, r, 2)),
            .pv = c->pv,
            .transition_periods = c->transition_periods,
            .transition_percent = c->transition_percent,
        };
        d->pcs = nv;
        d->npcs++;
    }
    PQclear(res);
    return 0;
}

/* --- shared pieces ------------------------------------------------------- */

static void reply_invalid(Billow__Reply *reply, Billow__Code code, const char *msg, const char *detail,
                          bw_arena_t *a)
{
    bw_reply_error(reply, code, bw_arena_strdup(a, msg), detail ? bw_arena_strdup(a, detail) : NULL);
}

static char **list_copy(const rt_pc_list_t *l, const char *prefix, size_t *n, bw_arena_t *a)
{
    char **v = bw_arena_alloc(a, sizeof *v * (l->n + 1));
    for (size_t i = 0; i < l->n; i++)
        v[i] = bw_arena_printf(a, "%s%s", prefix, l->v[i]);
    *n = l->n;
    return v;
}

/* The items of a change: each fee item's list price before and after. */
static void fill_items(const rt_catalog_t *cat, const change_t *c, Billow__PriceItemChange ***out,
                       size_t *nout, bw_arena_t *a)
{
    const rt_plan_t *plan = cat ? rt_catalog_plan(cat, c->plan) : NULL;
    const rt_price_version_t *old =
        plan ? rt_plan_version_at(plan, c->currency, c->effective_day - 1) : NULL;
    size_t cap = c->pv->n_charges + (old ? old->n_charges : 0);
    Billow__PriceItemChange **v = bw_arena_alloc(a, sizeof *v * (cap + 1));
    size_t n = 0;
    for (size_t i = 0; i < c->pv->n_charges; i++) {
        const rt_charge_t *nc = &c->pv->charges[i];
        Billow__PriceItemChange *it = bw_arena_alloc(a, sizeof *it);
        billow__price_item_change__init(it);
        it->fee_item = (char *)nc->fee_item;
        it->new_price = rt_charge_text(nc, c->currency, a);
        it->old_price = "-";
        for (size_t k = 0; old && k < old->n_charges; k++)
            if (strcmp(old->charges[k].fee_item, nc->fee_item) == 0)
                it->old_price = rt_charge_text(&old->charges[k], c->currency, a);
        const rt_fee_item_t *fi = rt_catalog_fee_item(c->cat, nc->fee_item);
        it->unit = fi ? (char *)fi->unit : "";
        v[n++] = it;
    }
    for (size_t k = 0; old && k < old->n_charges; k++) {
        bool kept = false;
        for (size_t i = 0; i < c->pv->n_charges && !kept; i++)
            kept = strcmp(c->pv->charges[i].fee_item, old->charges[k].fee_item) == 0;
        if (kept)
            continue;
        Billow__PriceItemChange *it = bw_arena_alloc(a, sizeof *it);
        billow__price_item_change__init(it);
        it->fee_item = (char *)old->charges[k].fee_item;
        it->old_price = rt_charge_text(&old->charges[k], c->currency, a);
        it->new_price = "removed";
        const rt_fee_item_t *fi = rt_catalog_fee_item(c->cat, old->charges[k].fee_item);
        it->unit = fi ? (char *)fi->unit : "";
        v[n++] = it;
    }
    *out = v;
    *nout = n;
}

static Billow__PriceChangeInfo *info_of(PGresult *res, int row, const change_t *c,
                                        const rt_catalog_t *cat, bw_arena_t *a)
{
    Billow__PriceChangeInfo *in = bw_arena_alloc(a, sizeof *in);
    billow__price_change_info__init(in);
    char err[256];
    rt_pc_doc_t *d = rt_pc_doc_new(PQgetvalue(res, row, 1), err, sizeof err);
    in->change_id = bw_arena_strdup(a, PQgetvalue(res, row, 0));
    in->status = bw_arena_strdup(a, PQgetvalue(res, row, 3));
    in->created_by = bw_arena_strdup(a, PQgetvalue(res, row, 4));
    in->created_at = bw_arena_strdup(a, PQgetvalue(res, row, 5));
    in->announced_at = bw_arena_strdup(a, PQgetvalue(res, row, 6));
    if (!d)
        return in;
    in->plan = bw_arena_strdup(a, d->plan);
    in->currency = bw_arena_strdup(a, d->currency);
    in->effective_date = rt_date_str(a, d->effective_day);
    in->min_notice_days = d->min_notice_days;
    in->n_reminder_days = d->n_reminder_days;
    in->reminder_days = bw_arena_alloc(a, sizeof *in->reminder_days * (d->n_reminder_days + 1));
    for (size_t i = 0; i < d->n_reminder_days; i++)
        in->reminder_days[i] = d->reminder_days[i];
    in->reason = bw_arena_strdup(a, d->reason.en);
    in->value = bw_arena_strdup(a, d->value.en);
    char tr[160];
    rt_pc_transition_text(d->transition_periods, d->transition_percent, "en", tr, sizeof tr);
    in->transition = bw_arena_strdup(a, tr);
    in->feedback_channels = list_copy(&d->feedback_channels, "", &in->n_feedback_channels, a);
    size_t n1, n2;
    char **t1 = list_copy(&d->exclude_tiers, "tier:", &n1, a);
    char **t2 = list_copy(&d->exclude_accounts, "account:", &n2, a);
    in->excluded = bw_arena_alloc(a, sizeof *in->excluded * (n1 + n2 + 1));
    memcpy(in->excluded, t1, sizeof *t1 * n1);
    memcpy(in->excluded + n1, t2, sizeof *t2 * n2);
    in->n_excluded = n1 + n2;
    t1 = list_copy(&d->grandfather_tiers, "tier:", &n1, a);
    t2 = list_copy(&d->grandfather_accounts, "account:", &n2, a);
    in->grandfathered = bw_arena_alloc(a, sizeof *in->grandfathered * (n1 + n2 + 1));
    memcpy(in->grandfathered, t1, sizeof *t1 * n1);
    memcpy(in->grandfathered + n1, t2, sizeof *t2 * n2);
    in->n_grandfathered = n1 + n2;
    if (c) {
        in->price_version = rt_price_version_name(c->pv, a);
        fill_items(cat, c, &in->items, &in->n_items, a);
    }
    rt_pc_doc_destroy(&d);
    return in;
}

/* --- create -------------------------------------------------------------- */

bool rt_pc_create(bw_db_t *db, const Billow__PriceChangeCreate *req, const char *operator_,
                  const char *cause, Billow__Reply *reply, bw_arena_t *arena)
{
    char err[512] = "";
    rt_pc_doc_t *d = rt_pc_doc_new(req->json, err, sizeof err);
    if (!d) {
        reply_invalid(reply, BILLOW__CODE__INVALID, err, NULL, arena);
        return false;
    }
    bool changed = false;
    char *catdoc = NULL;
    PGresult *res = bw_db_query(db, SQL_CATALOG, 0, NULL);
    if (!res) {
        rt_reply_db(reply, db, "could not read the catalog", arena);
        goto out;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        reply_invalid(reply, BILLOW__CODE__INVALID, "plan: no catalog is loaded", NULL, arena);
        goto out;
    }
    char *cver = bw_arena_strdup(arena, PQgetvalue(res, 0, 0));
    catdoc = rt_pc_catalog_doc(d, PQgetvalue(res, 0, 1), err, sizeof err);
    PQclear(res);
    if (!catdoc) {
        reply_invalid(reply, BILLOW__CODE__INVALID, err, NULL, arena);
        goto out;
    }
    int64_t now = bw_now_us(), today = now / 86400000000LL;
    if (d->effective_day <= today) {
        char t[16];
        bw_date_format(today, t, sizeof t);
        reply_invalid(reply, BILLOW__CODE__INVALID, "effective_date: must be after today",
                      bw_arena_printf(arena, "today is %s", t), arena);
        goto out;
    }
    char eff[16], mn[16], tp[16], pct[BW_DEC_STRLEN], ts[40];
    bw_date_format(d->effective_day, eff, sizeof eff);
    snprintf(mn, sizeof mn, "%d", d->min_notice_days);
    snprintf(tp, sizeof tp, "%d", d->transition_periods);
    bw_dec_format(d->transition_percent, pct, sizeof pct);
    bw_time_format(now, ts, sizeof ts);
    const char *p[13] = {d->id,        req->json, catdoc, cver, d->plan,
                         d->currency,  eff,       mn,     tp,   pct,
                         operator_ ? operator_ : "", ts, cause};
    res = bw_db_query(db, SQL_INSERT, 13, p);
    if (!res) {
        rt_reply_db(reply, db, "could not store price change", arena);
        goto out;
    }
    bool created = atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    if (!created) {
        reply_invalid(reply, BILLOW__CODE__CONFLICT, "id: a price change with this id exists",
                      d->id, arena);
        goto out;
    }
    changed = true;
    const change_t *c = NULL;
    if (change_get(db, d->id, &c) < 0)
        c = NULL;
    const rt_catalog_t *cat = NULL;
    int v;
    rt_store_current(db, &cat, &v);
    const char *gp[1] = {d->id};
    res = bw_db_query(db, SQL_GET, 1, gp);
    Billow__PriceChangeReply *pr = bw_arena_alloc(arena, sizeof *pr);
    billow__price_change_reply__init(pr);
    pr->created = true;
    if (res && PQntuples(res) == 1)
        pr->change = info_of(res, 0, c, cat, arena);
    if (res)
        PQclear(res);
    Billow__RatingReply *rr = rt_reply_body(reply, arena);
    rr->op_case = BILLOW__RATING_REPLY__OP_PRICE_CHANGE;
    rr->price_change = pr;
out:
    free(catdoc);
    rt_pc_doc_destroy(&d);
    return changed;
}

/* --- figures for preview and announce ------------------------------------ */

typedef struct {
    char *id, *tier, *language, *period;
    const char *scope;
    char *note;
    int64_t old_minor, new_minor;
    bool ok;
} fig_t;

typedef struct {
    rt_pc_doc_t *doc;
    const change_t *c;
    const rt_catalog_t *cat; /* the current catalog */
    fig_t *figs;
    size_t n;
    int64_t affected, excluded, failed, old_total, new_total;
} figures_t;

/* Rates accts[0..n) (one period) old and new; results into their figs. */
static int rate_group(bw_db_t *db, figures_t *F, rt_acct_data_t *accts, fig_t **figs, size_t n,
                      const char *period, bw_arena_t *a)
{
    const char *cycle = accts[0].acct.cycle;
    rt_period_t p = {.period = period, .months = rt_cycle_months(cycle), .cat = F->cat};
    char err[256];
    if (rt_period_bounds(period, cycle, &p.start, &p.end, err, sizeof err) < 0) {
        for (size_t i = 0; i < n; i++)
            figs[i]->note = bw_arena_strdup(a, err);
        return 0;
    }
    const char *lo = accts[0].acct.id, *hi = accts[n - 1].acct.id;
    int rc = rt_load_data(db, accts, n, lo, hi, &p, a);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        rt_acct_data_t *d = &accts[i];
        fig_t *f = NULL;
        for (size_t k = 0; k < n && !f; k++)
            if (figs[k]->id == d->acct.id)
                f = figs[k];
        if (!f)
            continue;
        f->period = bw_arena_strdup(a, period);
        /* Old: the catalog alone; new: the change in force from the
         * period's first day, without the transition waiver. */
        d->pcs = NULL;
        d->npcs = 0;
        Billow__AccountRated ar = BILLOW__ACCOUNT_RATED__INIT;
        if (rt_rate_account(d, &p, &ar, a, err, sizeof err) < 0) {
            f->note = bw_arena_strdup(a, err);
            continue;
        }
        f->old_minor = ar.total_minor;
        rt_pc_applied_t pc = {.change_id = F->c->id,
                              .plan = F->c->plan,
                              .currency = F->c->currency,
                              .from_day = p.start,
                              .pv = F->c->pv};
        d->pcs = &pc;
        d->npcs = 1;
        Billow__AccountRated ar2 = BILLOW__ACCOUNT_RATED__INIT;
        rc = rt_rate_account(d, &p, &ar2, a, err, sizeof err);
        d->pcs = NULL;
        d->npcs = 0;
        if (rc < 0) {
            f->note = bw_arena_strdup(a, err);
            continue;
        }
        f->new_minor = ar2.total_minor;
        f->ok = true;
    }
    return 0;
}

/* Every account on the change's plan and currency, with its scope and, for
 * the affected ones, old and new figures. 0, BW_EDB or BW_ENOMEM. */
static int compute(bw_db_t *db, figures_t *F, bw_arena_t *a)
{
    char eff[16];
    bw_date_format(F->doc->effective_day, eff, sizeof eff);
    int v;
    int rc = rt_store_current(db, &F->cat, &v);
    if (rc < 0)
        return rc;
    const char *p[3] = {F->doc->plan, F->doc->currency, eff};
    PGresult *res = bw_db_query(db, SQL_CANDIDATES, 3, p);
    if (!res)
        return BW_EDB;
    size_t n = (size_t)PQntuples(res);
    F->figs = bw_arena_alloc(a, sizeof *F->figs * (n + 1));
    rt_acct_data_t *accts = bw_arena_alloc(a, sizeof *accts * (n + 1));
    char **periods = bw_arena_alloc(a, sizeof *periods * (n + 1));
    if (!F->figs || !accts || !periods) {
        PQclear(res);
        return BW_ENOMEM;
    }
    memset(accts, 0, sizeof *accts * (n + 1));
    int64_t today = bw_now_us() / 86400000000LL;
    size_t na = 0;
    for (size_t i = 0; i < n; i++) {
        fig_t *f = &F->figs[i];
        memset(f, 0, sizeof *f);
        f->id = bw_arena_strdup(a, PQgetvalue(res, (int)i, 0));
        f->tier = bw_arena_strdup(a, PQgetvalue(res, (int)i, 4));
        f->language = bw_arena_strdup(a, PQgetvalue(res, (int)i, 5));
        f->scope = rt_pc_scope_of(F->doc, f->id, f->tier);
        if (strcmp(f->scope, "affected") != 0) {
            F->excluded++;
            continue;
        }
        F->affected++;
        rt_account_t *ac = &accts[na].acct;
        ac->id = f->id;
        ac->currency = bw_arena_strdup(a, PQgetvalue(res, (int)i, 1));
        ac->cycle = bw_arena_strdup(a, PQgetvalue(res, (int)i, 2));
        ac->anchor_day = atoi(PQgetvalue(res, (int)i, 3));
        ac->tier = f->tier;
        ac->language = f->language;
        ac->status = "active";
        ac->created_on = atoll(PQgetvalue(res, (int)i, 6));
        const char *lp = PQgetvalue(res, (int)i, 7);
        if (*lp) {
            periods[na] = bw_arena_strdup(a, lp);
        } else {
            char buf[8];
            rt_period_of_day(today, rt_cycle_months(ac->cycle), buf, NULL, NULL);
            periods[na] = bw_arena_strdup(a, buf);
        }
        na++;
    }
    F->n = n;
    PQclear(res);
    /* Runs of one period (the query sorts by it), at most BATCH at a time. */
    fig_t **gf = bw_arena_alloc(a, sizeof *gf * (BATCH + 1));
    for (size_t s = 0; s < na;) {
        size_t e = s;
        while (e < na && e - s < BATCH && strcmp(periods[e], periods[s]) == 0 &&
               strcmp(accts[e].acct.cycle, accts[s].acct.cycle) == 0)
            e++;
        size_t k = 0;
        for (size_t i = 0; i < n && k < e - s; i++)
            for (size_t j = s; j < e; j++)
                if (F->figs[i].id == accts[j].acct.id) {
                    gf[k++] = &F->figs[i];
                    break;
                }
        rc = rate_group(db, F, accts + s, gf, e - s, periods[s], a);
        if (rc < 0)
            return rc;
        s = e;
    }
    for (size_t i = 0; i < n; i++) {
        fig_t *f = &F->figs[i];
        if (strcmp(f->scope, "affected") != 0)
            continue;
        if (!f->ok) {
            F->failed++;
            continue;
        }
        F->old_total += f->old_minor;
        F->new_total += f->new_minor;
    }
    return 0;
}

static Billow__PriceChangeAccount *account_of(const fig_t *f, const char *currency, bw_arena_t *a)
{
    Billow__PriceChangeAccount *x = bw_arena_alloc(a, sizeof *x);
    billow__price_change_account__init(x);
    x->account_id = f->id;
    x->tier = f->tier;
    x->period = f->period ? f->period : "";
    x->currency = bw_arena_strdup(a, currency);
    x->scope = (char *)f->scope;
    x->note = f->note ? f->note : "";
    if (f->ok) {
        x->old_minor = f->old_minor;
        x->new_minor = f->new_minor;
        x->diff_minor = f->new_minor - f->old_minor;
        char pct[32];
        rt_pc_diff_percent(f->old_minor, f->new_minor, pct, sizeof pct);
        x->diff_percent = bw_arena_strdup(a, pct);
    } else {
        x->diff_percent = "";
    }
    return x;
}

/* Loads the change named by id for preview/announce: row, doc, change. */
static bool load_for(bw_db_t *db, const char *id, figures_t *F, PGresult **row,
                     Billow__Reply *reply, bw_arena_t *a)
{
    memset(F, 0, sizeof *F);
    *row = NULL;
    if (rt_empty(id)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "a price change id is required", NULL);
        return false;
    }
    const char *p[1] = {id};
    PGresult *res = bw_db_query(db, SQL_GET, 1, p);
    if (!res) {
        rt_reply_db(reply, db, "could not read price change", a);
        return false;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such price change", bw_arena_strdup(a, id));
        return false;
    }
    char err[256] = "";
    F->doc = rt_pc_doc_new(PQgetvalue(res, 0, 1), err, sizeof err);
    int rc = F->doc ? change_get(db, id, &F->c) : BW_EINVAL;
    if (rc < 0) {
        PQclear(res);
        rt_pc_doc_destroy(&F->doc);
        if (rc == BW_EDB)
            rt_reply_db(reply, db, "could not read price change", a);
        else
            bw_reply_error(reply, BILLOW__CODE__INTERNAL, "stored price change does not parse", NULL);
        return false;
    }
    *row = res;
    return true;
}

static Billow__PriceChangeReply *figures_reply(PGresult *row, figures_t *F, uint32_t limit,
                                               Billow__Reply *reply, bw_arena_t *a)
{
    Billow__PriceChangeReply *pr = bw_arena_alloc(a, sizeof *pr);
    billow__price_change_reply__init(pr);
    pr->change = info_of(row, 0, F->c, F->cat, a);
    pr->affected = F->affected;
    pr->excluded = F->excluded;
    pr->failed = F->failed;
    pr->old_total_minor = F->old_total;
    pr->new_total_minor = F->new_total;
    size_t lim = limit ? limit : 1000;
    size_t shown = F->n < lim ? F->n : lim;
    pr->accounts = bw_arena_alloc(a, sizeof *pr->accounts * (shown + 1));
    for (size_t i = 0; i < shown; i++)
        pr->accounts[pr->n_accounts++] = account_of(&F->figs[i], F->doc->currency, a);
    Billow__RatingReply *rr = rt_reply_body(reply, a);
    rr->op_case = BILLOW__RATING_REPLY__OP_PRICE_CHANGE;
    rr->price_change = pr;
    return pr;
}

void rt_pc_preview(bw_db_t *db, const Billow__PriceChangePreview *req, Billow__Reply *reply,
                   bw_arena_t *arena)
{
    figures_t F;
    PGresult *row;
    if (!load_for(db, req->change_id, &F, &row, reply, arena))
        return;
    int rc = compute(db, &F, arena);
    if (rc < 0)
        rt_reply_db(reply, db, "could not compute the figures", arena);
    else
        figures_reply(row, &F, req->limit, reply, arena);
    PQclear(row);
    rt_pc_doc_destroy(&F.doc);
}

/* --- announce ------------------------------------------------------------ */

static int pack_event(const figures_t *F, const fig_t *f, Billow__PriceItemChange **items,
                      size_t n_items, bw_outbox_event_t *oe, const char *cause, bw_arena_t *a)
{
    const rt_pc_doc_t *d = F->doc;
    bool zh = strcmp(f->language, "zh-CN") == 0;
    Billow__PriceChangeAnnounced e = BILLOW__PRICE_CHANGE_ANNOUNCED__INIT;
    e.change_id = (char *)d->id;
    e.account_id = f->id;
    e.reason = (char *)(zh ? d->reason.zh_cn : d->reason.en);
    e.value = (char *)(zh ? d->value.zh_cn : d->value.en);
    const rt_plan_t *plan = F->cat ? rt_catalog_plan(F->cat, d->plan) : NULL;
    const char *pname = plan ? rt_name_in(&plan->name, f->language) : d->plan;
    e.scope = *d->scope ? (char *)d->scope : bw_arena_printf(a, "%s (%s)", pname, d->plan);
    e.effective_date = rt_date_str(a, d->effective_day);
    char tr[160];
    rt_pc_transition_text(d->transition_periods, d->transition_percent, f->language, tr, sizeof tr);
    e.transition = bw_arena_strdup(a, tr);
    e.min_notice_days = d->min_notice_days;
    e.currency = (char *)d->currency;
    e.old_amount_minor = f->old_minor;
    e.new_amount_minor = f->new_minor;
    e.diff_minor = f->new_minor - f->old_minor;
    char pct[32];
    rt_pc_diff_percent(f->old_minor, f->new_minor, pct, sizeof pct);
    e.diff_percent = bw_arena_strdup(a, pct);
    e.n_items = n_items;
    e.items = items;
    e.n_feedback_channels = d->feedback_channels.n;
    e.feedback_channels = (char **)d->feedback_channels.v;
    e.language = f->language;
    e.n_reminder_days = d->n_reminder_days;
    e.reminder_days = (int32_t *)d->reminder_days;
    Billow__Event ev = BILLOW__EVENT__INIT;
    ev.body_case = BILLOW__EVENT__BODY_PRICE_CHANGE_ANNOUNCED;
    ev.price_change_announced = &e;
    size_t len = billow__event__get_packed_size(&ev);
    uint8_t *buf = bw_arena_alloc(a, len ? len : 1);
    if (!buf)
        return BW_ENOMEM;
    billow__event__pack(&ev, buf);
    memset(oe, 0, sizeof *oe);
    oe->type = "PriceChangeAnnounced";
    oe->partition_key = f->id;
    oe->payload = buf;
    oe->len = len;
    oe->caused_by = cause;
    bw_uuid(oe->event_id);
    return 0;
}

bool rt_pc_announce(bw_db_t *db, const Billow__PriceChangeAnnounce *req, const char *operator_,
                    const char *cause, Billow__Reply *reply, bw_arena_t *arena)
{
    figures_t F;
    PGresult *row;
    if (!load_for(db, req->change_id, &F, &row, reply, arena))
        return false;
    bool changed = false;
    bw_pgarr_t aa = {0}, at = {0}, ap = {0}, ao = {0}, an = {0}, ae = {0};
    if (bw_db_begin(db) < 0)
        goto dberr;
    char ts[40];
    bw_time_format(bw_now_us(), ts, sizeof ts);
    const char *mp[3] = {F.doc->id, operator_ ? operator_ : "", ts};
    PGresult *res = bw_db_query(db, SQL_MARK, 3, mp);
    if (!res)
        goto dberr;
    int marked = atoi(PQcmdTuples(res));
    PQclear(res);
    if (!marked) {
        bw_db_rollback(db);
        bw_reply_error(reply, BILLOW__CODE__CONFLICT, "already announced",
                       bw_arena_strdup(arena, F.doc->id));
        goto out;
    }
    if (compute(db, &F, arena) < 0)
        goto dberr;
    Billow__PriceItemChange **items;
    size_t n_items;
    fill_items(F.cat, F.c, &items, &n_items, arena);
    bw_outbox_event_t *evs = bw_arena_alloc(arena, sizeof *evs * (F.n + 1));
    size_t nev = 0;
    for (size_t i = 0; i < F.n; i++) {
        const fig_t *f = &F.figs[i];
        if (strcmp(f->scope, "affected") != 0 || !f->ok)
            continue;
        if (pack_event(&F, f, items, n_items, &evs[nev], cause, arena) < 0)
            goto dberr;
        char o[24], nw[24];
        snprintf(o, sizeof o, "%lld", (long long)f->old_minor);
        snprintf(nw, sizeof nw, "%lld", (long long)f->new_minor);
        bw_pgarr_add(&aa, f->id);
        bw_pgarr_add(&at, f->tier);
        bw_pgarr_add(&ap, f->period);
        bw_pgarr_add(&ao, o);
        bw_pgarr_add(&an, nw);
        bw_pgarr_add(&ae, evs[nev].event_id);
        nev++;
    }
    if (nev > 0) {
        const char *ip[10] = {F.doc->id,          F.doc->currency,    ts,
                              cause,              bw_pgarr_str(&aa),  bw_pgarr_str(&at),
                              bw_pgarr_str(&ap),  bw_pgarr_str(&ao),  bw_pgarr_str(&an),
                              bw_pgarr_str(&ae)};
        for (int k = 4; k < 10; k++)
            if (!ip[k])
                goto dberr;
        if (bw_db_exec(db, SQL_ACCOUNTS_INSERT, 10, ip) < 0)
            goto dberr;
        if (bw_outbox_append(db, evs, nev) < 0)
            goto dberr;
    }
    if (bw_db_commit(db) < 0)
        goto dberr;
    changed = true;
    bw_log(BW_INFO, "price change announced", "change", BW_S(F.doc->id), "accounts", BW_I(nev),
           "excluded", BW_I(F.excluded), "failed", BW_I(F.failed), NULL);
    Billow__PriceChangeReply *pr = figures_reply(row, &F, 1, reply, arena);
    pr->n_accounts = 0;
    pr->announced = (int64_t)nev;
    pr->change->status = "announced";
    pr->change->announced_at = bw_arena_strdup(arena, ts);
    goto out;
dberr:
    rt_reply_db(reply, db, "could not announce price change", arena);
    bw_db_rollback(db);
out:
    bw_pgarr_free(&aa);
    bw_pgarr_free(&at);
    bw_pgarr_free(&ap);
    bw_pgarr_free(&ao);
    bw_pgarr_free(&an);
    bw_pgarr_free(&ae);
    PQclear(row);
    rt_pc_doc_destroy(&F.doc);
    return changed;
}

/* --- status and list ----------------------------------------------------- */

void rt_pc_status(bw_db_t *db, const Billow__PriceChangeStatus *req, Billow__Reply *reply,
                  bw_arena_t *arena)
{
    figures_t F;
    PGresult *row;
    if (!load_for(db, req->change_id, &F, &row, reply, arena))
        return;
    const rt_catalog_t *cat = NULL;
    int v;
    rt_store_current(db, &cat, &v);
    Billow__PriceChangeStatusReply *sr = bw_arena_alloc(arena, sizeof *sr);
    billow__price_change_status_reply__init(sr);
    sr->change = info_of(row, 0, F.c, cat, arena);
    PQclear(row);
    rt_pc_doc_destroy(&F.doc);
    char lim[16];
    snprintf(lim, sizeof lim, "%u", req->limit ? req->limit : 200);
    const char *p[2] = {req->change_id, lim};
    PGresult *res = bw_db_query(db, SQL_COUNTS, 1, p);
    if (!res)
        goto dberr;
    sr->affected = sr->notified = atoll(PQgetvalue(res, 0, 0));
    sr->delivered = atoll(PQgetvalue(res, 0, 1));
    sr->acknowledged = atoll(PQgetvalue(res, 0, 2));
    sr->unreachable = atoll(PQgetvalue(res, 0, 3));
    sr->pending = atoll(PQgetvalue(res, 0, 4));
    sr->old_price_accounts = sr->affected - sr->delivered;
    PQclear(res);
    res = bw_db_query(db, SQL_EFFECTIVE, 1, p);
    if (!res)
        goto dberr;
    int n = PQntuples(res);
    sr->effective = bw_arena_alloc(arena, sizeof *sr->effective * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        Billow__PriceChangeEffective *e = bw_arena_alloc(arena, sizeof *e);
        billow__price_change_effective__init(e);
        e->date = bw_arena_strdup(arena, PQgetvalue(res, i, 0));
        e->accounts = atoll(PQgetvalue(res, i, 1));
        sr->effective[sr->n_effective++] = e;
    }
    PQclear(res);
    res = bw_db_query(db, SQL_FOLLOW_UP, 2, p);
    if (!res)
        goto dberr;
    n = PQntuples(res);
    sr->follow_up = bw_arena_alloc(arena, sizeof *sr->follow_up * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        Billow__PriceChangeFollowUp *f = bw_arena_alloc(arena, sizeof *f);
        billow__price_change_follow_up__init(f);
        f->account_id = bw_arena_strdup(arena, PQgetvalue(res, i, 0));
        f->reason = bw_arena_strdup(arena, PQgetvalue(res, i, 1));
        f->since = bw_arena_strdup(arena, PQgetvalue(res, i, 2));
        sr->follow_up[sr->n_follow_up++] = f;
    }
    PQclear(res);
    res = bw_db_query(db, SQL_TICKETS, 2, p);
    if (!res)
        goto dberr;
    n = PQntuples(res);
    sr->tickets = bw_arena_alloc(arena, sizeof *sr->tickets * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        Billow__PriceChangeTicket *o = bw_arena_alloc(arena, sizeof *o);
        billow__price_change_ticket__init(o);
        o->ticket_id = bw_arena_strdup(arena, PQgetvalue(res, i, 0));
        o->account_id = bw_arena_strdup(arena, PQgetvalue(res, i, 1));
        o->type = bw_arena_strdup(arena, PQgetvalue(res, i, 2));
        o->category = bw_arena_strdup(arena, PQgetvalue(res, i, 3));
        o->channel = bw_arena_strdup(arena, PQgetvalue(res, i, 4));
        o->opened_at = bw_arena_strdup(arena, PQgetvalue(res, i, 5));
        o->outcome = bw_arena_strdup(arena, PQgetvalue(res, i, 6));
        o->resolved_at = bw_arena_strdup(arena, PQgetvalue(res, i, 7));
        sr->tickets[sr->n_tickets++] = o;
    }
    PQclear(res);
    res = bw_db_query(db, SQL_OUTCOMES, 1, p);
    if (!res)
        goto dberr;
    n = PQntuples(res);
    sr->outcomes = bw_arena_alloc(arena, sizeof *sr->outcomes * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        long long k = atoll(PQgetvalue(res, i, 1));
        sr->objections += k;
        if (strcmp(PQgetvalue(res, i, 0), "open") == 0)
            sr->objections_open += k;
        sr->outcomes[sr->n_outcomes++] =
            bw_arena_printf(arena, "%s: %lld", PQgetvalue(res, i, 0), k);
    }
    PQclear(res);
    Billow__RatingReply *rr = rt_reply_body(reply, arena);
    rr->op_case = BILLOW__RATING_REPLY__OP_PRICE_CHANGE_STATUS;
    rr->price_change_status = sr;
    return;
dberr:
    rt_reply_db(reply, db, "could not read price change status", arena);
}

void rt_pc_list(bw_db_t *db, Billow__Reply *reply, bw_arena_t *arena)
{
    PGresult *res = bw_db_query(db, SQL_LIST, 0, NULL);
    if (!res) {
        rt_reply_db(reply, db, "could not list price changes", arena);
        return;
    }
    int n = PQntuples(res);
    Billow__PriceChangeListReply *lr = bw_arena_alloc(arena, sizeof *lr);
    billow__price_change_list_reply__init(lr);
    lr->changes = bw_arena_alloc(arena, sizeof *lr->changes * ((size_t)n + 1));
    for (int i = 0; i < n; i++)
        lr->changes[lr->n_changes++] = info_of(res, i, NULL, NULL, arena);
    PQclear(res);
    Billow__RatingReply *rr = rt_reply_body(reply, arena);
    rr->op_case = BILLOW__RATING_REPLY__OP_PRICE_CHANGE_LIST;
    rr->price_change_list = lr;
}
