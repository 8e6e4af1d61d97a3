/* Rating one account for one period, for close, preview and explain. */
#include "rating/rater.h"
#include "rating/catalog_store.h"
#include "rating/periods.h"
#include "rating/pricechange.h"
#include "rating/pricechange_api.h"
#include "rating/reply.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ranges by id rather than id lists: a batch is a run of consecutive ids. */
static const char SQL_SEGS[] =
    "SELECT account_id, id, plan, quantity::text, coupon, start_date - '1970-01-01'::date,"
    " coalesce(end_date - '1970-01-01'::date, 2147483647), origin - '1970-01-01'::date"
    " FROM subscriptions WHERE account_id >= $1 AND account_id <= $2"
    " AND start_date < $4::date AND (end_date IS NULL OR end_date > $3::date)"
    " ORDER BY account_id, start_date";
static const char SQL_AGGS[] =
    "SELECT account_id, fee_item, quantity::text, records FROM usage_aggregates"
    " WHERE period = $3 AND account_id >= $1 AND account_id <= $2";
/* Each record of the batch's percentage fee items, found through the
 * aggregate rows that list it (usage_records is indexed by event id only). */
static const char SQL_TX[] =
    "SELECT g.account_id, g.fee_item, r.quantity::text FROM usage_aggregates g"
    " CROSS JOIN LATERAL unnest(g.event_ids) AS e(id) JOIN usage_records r ON r.event_id = e.id"
    " WHERE g.account_id >= $1 AND g.account_id <= $2 AND g.period = $3"
    " AND g.fee_item = ANY($4::text[])";

static int by_id(const void *x, const void *y)
{
    const rt_acct_data_t *a = x, *b = y;
    return strcmp(a->acct.id, b->acct.id);
}

/* The batch's account with this id. Rows mostly come grouped by account in
 * id order, so the account of the row before (*hint) or the next one is
 * tried before a binary search. */
static rt_acct_data_t *find(rt_acct_data_t *accts, size_t n, const char *id, size_t *hint)
{
    for (size_t i = *hint; i < n && i < *hint + 2; i++)
        if (strcmp(accts[i].acct.id, id) == 0) {
            *hint = i;
            return &accts[i];
        }
    rt_acct_data_t key;
    key.acct.id = (char *)id;
    rt_acct_data_t *d = bsearch(&key, accts, n, sizeof *accts, by_id);
    if (d)
        *hint = (size_t)(d - accts);
    return d;
}

/* Fee items priced per transaction anywhere in the catalog: their raw
 * records are needed, not just the aggregate. "{A,B}" or NULL. */
static char *percentage_items(const rt_catalog_t *cat, bw_arena_t *a)
{
    char *s = NULL;
    for (size_t i = 0; cat && i < cat->n_plans; i++)
        for (size_t j = 0; j < cat->plans[i].n_versions; j++) {
            const rt_price_version_t *pv = &cat->plans[i].versions[j];
            for (size_t k = 0; k < pv->n_charges; k++) {
                if (pv->charges[k].model != RT_MODEL_PERCENTAGE)
                    continue;
                const char *fi = pv->charges[k].fee_item; /* codes need no quoting */
                if (s && strstr(s, fi))
                    continue;
                s = bw_arena_printf(a, "%s%s", s ? s : "", fi);
                s = bw_arena_printf(a, "%s,", s);
            }
        }
    if (!s)
        return NULL;
    s[strlen(s) - 1] = '\0';
    return bw_arena_printf(a, "{%s}", s);
}

static rt_aggregate_t *agg_of(rt_acct_data_t *d, const char *fee_item)
{
    for (size_t i = 0; i < d->naggs; i++)
        if (strcmp(d->aggs[i].fee_item, fee_item) == 0)
            return &d->aggs[i];
    return NULL;
}

/* Whether an account of the batch used a fee item priced per transaction
 * (only then are raw records read). */
static bool any_usage_of(const rt_acct_data_t *accts, size_t n, const rt_catalog_t *cat)
{
    for (size_t i = 0; i < n; i++)
        for (size_t g = 0; g < accts[i].naggs; g++)
            for (size_t k = 0; cat && k < cat->n_plans; k++)
                for (size_t v = 0; v < cat->plans[k].n_versions; v++) {
                    const rt_price_version_t *pv = &cat->plans[k].versions[v];
                    for (size_t c = 0; c < pv->n_charges; c++)
                        if (pv->charges[c].model == RT_MODEL_PERCENTAGE &&
                            strcmp(pv->charges[c].fee_item, accts[i].aggs[g].fee_item) == 0)
                            return true;
                }
    return false;
}

int rt_load_data(bw_db_t *db, rt_acct_data_t *accts, size_t n, const char *lo, const char *hi,
                 const rt_period_t *p, bw_arena_t *a)
{
    return rt_load_data_counted(db, accts, n, lo, hi, p, a, NULL);
}

int rt_load_data_counted(bw_db_t *db, rt_acct_data_t *accts, size_t n, const char *lo,
                         const char *hi, const rt_period_t *p, bw_arena_t *a,
                         long long *usage_rows)
{
    if (n == 0)
        return 0;
    qsort(accts, n, sizeof *accts, by_id);
    size_t hint = 0;
    char ps[16], pe[16];
    bw_date_format(p->start, ps, sizeof ps);
    bw_date_format(p->end, pe, sizeof pe);
    const char *prm[4] = {lo, hi, ps, pe};
    const char *blo = lo, *bhi = hi;

    PGresult *res = bw_db_query(db, SQL_SEGS, 4, prm);
    if (!res)
        return BW_EDB;
    int rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        rt_acct_data_t *d = find(accts, n, PQgetvalue(res, r, 0), &hint);
        if (d)
            d->nsegs++;
    }
    for (size_t i = 0; i < n; i++) {
        accts[i].segs = accts[i].nsegs ? bw_arena_alloc(a, sizeof *accts[i].segs * accts[i].nsegs) : NULL;
        accts[i].nsegs = 0;
    }
    for (int r = 0; r < rows; r++) {
        rt_acct_data_t *d = find(accts, n, PQgetvalue(res, r, 0), &hint);
        if (!d)
            continue;
        rt_segment_t *s = &d->segs[d->nsegs++];
        s->id = atoll(PQgetvalue(res, r, 1));
        s->plan = bw_arena_strdup(a, PQgetvalue(res, r, 2));
        if (bw_dec_parse(PQgetvalue(res, r, 3), &s->quantity, NULL, 0) < 0)
            d->error = "subscription quantity out of range";
        s->coupon = bw_arena_strdup(a, PQgetvalue(res, r, 4));
        s->start = atoll(PQgetvalue(res, r, 5));
        s->end = atoll(PQgetvalue(res, r, 6));
        s->origin = atoll(PQgetvalue(res, r, 7));
    }
    PQclear(res);

    const char *aprm[3] = {blo, bhi, p->period};
    res = bw_db_query(db, SQL_AGGS, 3, aprm);
    if (!res)
        return BW_EDB;
    rows = PQntuples(res);
    if (usage_rows)
        *usage_rows = rows;
    for (int r = 0; r < rows; r++) {
        rt_acct_data_t *d = find(accts, n, PQgetvalue(res, r, 0), &hint);
        if (d)
            d->naggs++;
    }
    for (size_t i = 0; i < n; i++) {
        accts[i].aggs = accts[i].naggs ? bw_arena_alloc(a, sizeof *accts[i].aggs * accts[i].naggs) : NULL;
        accts[i].naggs = 0;
    }
    /* Each ingest batch adds its own row per key (usage.c): the total of a
     * fee item is the sum of its rows. */
    for (int r = 0; r < rows; r++) {
        rt_acct_data_t *d = find(accts, n, PQgetvalue(res, r, 0), &hint);
        if (!d)
            continue;
        bw_dec_t q;
        if (bw_dec_parse(PQgetvalue(res, r, 2), &q, NULL, 0) < 0)
            d->error = "usage total out of range";
        rt_aggregate_t *g = agg_of(d, PQgetvalue(res, r, 1));
        if (g) {
            if (bw_dec_add(g->quantity, q, &g->quantity) < 0)
                d->error = "usage total out of range";
            g->records += atoll(PQgetvalue(res, r, 3));
            continue;
        }
        g = &d->aggs[d->naggs++];
        memset(g, 0, sizeof *g);
        g->fee_item = bw_arena_strdup(a, PQgetvalue(res, r, 1));
        g->quantity = q;
        g->records = atoll(PQgetvalue(res, r, 3));
    }
    PQclear(res);

    if (rt_pc_load_applied(db, accts, n, blo, bhi, p, a) < 0)
        return BW_EDB;

    char *pct = percentage_items(p->cat, a);
    if (!pct || !any_usage_of(accts, n, p->cat))
        return 0;
    const char *tprm[4] = {blo, bhi, p->period, pct};
    res = bw_db_query(db, SQL_TX, 4, tprm);
    if (!res)
        return BW_EDB;
    rows = PQntuples(res);
    for (int r = 0; r < rows; r++) {
        rt_acct_data_t *d = find(accts, n, PQgetvalue(res, r, 0), &hint);
        rt_aggregate_t *g = d ? agg_of(d, PQgetvalue(res, r, 1)) : NULL;
        if (!g)
            continue;
        if (g->ntx == g->txcap) {
            size_t cap = g->txcap ? g->txcap * 2 : 8;
            bw_dec_t *nt = bw_arena_alloc(a, sizeof *nt * cap);
            if (g->ntx)
                memcpy(nt, g->tx, sizeof *nt * g->ntx);
            g->tx = nt;
            g->txcap = cap;
        }
        if (bw_dec_parse(PQgetvalue(res, r, 2), &g->tx[g->ntx], NULL, 0) == 0)
            g->ntx++;
    }
    PQclear(res);
    return 0;
}

/* Writes day as "YYYY-MM-DD" and a NUL into out (11 bytes), by hand: a
 * close writes several dates per account, and snprintf for them was about
 * a tenth of the rating process's CPU. Years outside 0-9999 go through
 * bw_date_format. */
static char *day_str(bw_arena_t *a, int64_t day)
{
    char *s = bw_arena_alloc(a, 11);
    if (s)
        bw_date_format(day, s, 11);
    return s;
}

char *rt_price_version_name(const rt_price_version_t *pv, bw_arena_t *a)
{
    size_t lp = strlen(pv->plan), lc = strlen(pv->currency);
    char *s = bw_arena_alloc(a, lp + lc + 13);
    if (!s)
        return NULL;
    memcpy(s, pv->plan, lp);
    s[lp] = '/';
    memcpy(s + lp + 1, pv->currency, lc);
    s[lp + 1 + lc] = '/';
    bw_date_format(pv->effective_from, s + lp + lc + 2, 11);
    return s;
}

/* "desc (note)", by hand: a true-up line names its commitment so on most
 * accounts of a close, and bw_arena_printf was a visible part of rating. */
static char *with_note(bw_arena_t *a, const char *desc, const char *note)
{
    size_t ld = strlen(desc), ln = strlen(note);
    char *s = bw_arena_alloc(a, ld + ln + 4);
    if (!s)
        return NULL;
    memcpy(s, desc, ld);
    memcpy(s + ld, " (", 2);
    memcpy(s + ld + 2, note, ln);
    memcpy(s + ld + 2 + ln, ")", 2);
    return s;
}

static const char *discount_name(const rt_catalog_t *cat, const char *code, const char *lang)
{
    const rt_discount_t *d = rt_catalog_discount(cat, code);
    if (!d)
        return code;
    return rt_name_in(&cat->discount_names[d - cat->discounts], lang);
}

/* Makes room in ar for one more line (the array grows in the arena) and
 * returns it, empty; the caller fills it and stores it at
 * ar->lines[ar->n_lines++]. NULL when out of memory. */
static Billow__RatedLine *new_line(Billow__AccountRated *ar, size_t *cap, bw_arena_t *a)
{
    if (ar->n_lines == *cap) {
        size_t nc = *cap ? *cap * 2 : 8;
        Billow__RatedLine **nl = bw_arena_alloc(a, sizeof *nl * nc);
        if (!nl)
            return NULL;
        if (ar->n_lines)
            memcpy(nl, ar->lines, sizeof *nl * ar->n_lines);
        ar->lines = nl;
        *cap = nc;
    }
    Billow__RatedLine *rl = bw_arena_alloc(a, sizeof *rl);
    if (rl)
        billow__rated_line__init(rl);
    return rl;
}

/* Appends the lines of one rated segment to ar. */
static int add_lines(const rt_result_t *res, const rt_price_version_t *pv, const rt_period_t *p,
                     const rt_account_t *acct, int64_t as, int64_t ae, Billow__AccountRated *ar,
                     size_t *cap, bw_arena_t *a)
{
    const rt_catalog_t *cat = p->cat;
    char *pvname = rt_price_version_name(pv, a);
    char *sd = day_str(a, as), *ed = day_str(a, ae);
    /* A plan-wide discount is taxed like the plan's first charge. */
    const rt_fee_item_t *first = pv->n_charges ? rt_catalog_fee_item(cat, pv->charges[0].fee_item) : NULL;
    for (size_t i = 0; i < res->n_lines; i++) {
        const rt_line_t *l = &res->lines[i];
        if ((l->kind == RT_LINE_CHARGE || l->kind == RT_LINE_PRORATION) && l->amount == 0 &&
            l->quantity == 0)
            continue; /* nothing used: no line */
        Billow__RatedLine *rl = new_line(ar, cap, a);
        if (!rl)
            return BW_ENOMEM;
        const rt_fee_item_t *fi = l->fee_item[0] ? rt_catalog_fee_item(cat, l->fee_item) : NULL;
        rl->fee_item = bw_arena_strdup(a, l->fee_item);
        rl->kind = (char *)rt_line_kind_name(l->kind);
        if (l->kind == RT_LINE_DISCOUNT) {
            rl->description = (char *)discount_name(cat, l->discount, acct->language);
            rl->discount_code = bw_arena_strdup(a, l->discount);
        } else {
            rl->description = fi ? (char *)rt_name_in(&fi->name, acct->language) : rl->fee_item;
        }
        if (l->kind == RT_LINE_SETUP)
            rl->description = with_note(a, rl->description,
                                        strcmp(acct->language, "zh-CN") == 0 ? "开通费" : "setup");
        else if (l->kind == RT_LINE_TRUE_UP)
            rl->description = with_note(a, rl->description,
                                        strcmp(acct->language, "zh-CN") == 0 ? "最低消费补足" : "minimum commitment");
        else if (l->kind == RT_LINE_PRORATION)
            rl->description = bw_arena_printf(a, "%s (%s – %s, %lld/%lld)", rl->description, sd, ed,
                                              (long long)l->prorate_num, (long long)l->prorate_den);
        const rt_fee_item_t *tx = fi ? fi : first;
        rl->service_type = fi ? (char *)rt_service_type_name(fi->service_type) : "";
        rl->quantity = rt_dec_str(a, l->quantity);
        rl->unit = fi ? (char *)fi->unit : "";
        rl->unit_price = rt_dec_str(a, l->unit_price);
        rl->amount_minor = l->amount;
        rl->tax_category = tx ? (char *)tx->tax_category : "standard";
        rl->period_start = sd;
        rl->period_end = ed;
        rl->price_version = pvname;
        if (l->n_tiers > 0) {
            rl->n_tiers = l->n_tiers;
            rl->tiers = bw_arena_alloc(a, sizeof *rl->tiers * l->n_tiers);
            for (size_t t = 0; t < l->n_tiers; t++) {
                const rt_tier_line_t *tl = &l->tiers[t];
                Billow__TierPart *tp = bw_arena_alloc(a, sizeof *tp);
                billow__tier_part__init(tp);
                tp->from_qty = rt_dec_str(a, tl->from);
                tp->to_qty = tl->unbounded ? "" : rt_dec_str(a, tl->to);
                tp->quantity = rt_dec_str(a, tl->quantity);
                tp->unit_price = rt_dec_str(a, tl->unit_price);
                int exp = bw_currency_exponent(pv->currency);
                int64_t m = 0;
                bw_dec_to_minor(tl->flat_fee, exp, BW_ROUND_HALF_EVEN, &m);
                tp->flat_minor = m;
                m = 0;
                bw_dec_to_minor(tl->amount, exp, BW_ROUND_HALF_EVEN, &m);
                tp->amount_minor = m;
                rl->tiers[t] = tp;
            }
        }
        ar->lines[ar->n_lines++] = rl;
        ar->total_minor += l->amount;
    }
    return 0;
}

/* The price change in force for plan in currency before `before` (the
 * latest such), or NULL. */
static const rt_pc_applied_t *change_for(const rt_acct_data_t *d, const char *plan,
                                         const char *currency, int64_t before)
{
    const rt_pc_applied_t *best = NULL;
    for (size_t i = 0; i < d->npcs; i++) {
        const rt_pc_applied_t *c = &d->pcs[i];
        if (c->pv && c->from_day < before && strcmp(c->plan, plan) == 0 &&
            strcmp(c->currency, currency) == 0 && (!best || c->from_day > best->from_day))
            best = c;
    }
    return best;
}

/* Rates [as, ae) of segment s with price version pv (usage and the setup
 * fee when asked) into *out (caller destroys). */
static int price_piece(const rt_acct_data_t *d, const rt_period_t *p, const rt_segment_t *s,
                       const rt_price_version_t *pv, int64_t as, int64_t ae, bool with_usage,
                       bool with_setup, rt_result_t **out, bw_arena_t *a, char *err,
                       size_t errlen)
{
    const rt_account_t *acct = &d->acct;
    rt_usage_t *use = bw_arena_alloc(a, sizeof *use * (pv->n_charges + 1));
    size_t nuse = 0;
    for (size_t k = 0; k < pv->n_charges; k++) {
        const rt_charge_t *ch = &pv->charges[k];
        const rt_fee_item_t *fi = rt_catalog_fee_item(p->cat, ch->fee_item);
        rt_usage_t u = {.fee_item = ch->fee_item};
        bool any = false;
        if (fi && fi->service_type == RT_SVC_SUBSCRIPTION) {
            u.quantity = s->quantity;
            any = true;
        }
        /* Metered usage belongs to the segment in force at the end of
         * the period: the plan the customer is on when it is billed. */
        if (with_usage) {
            for (size_t g = 0; g < d->naggs; g++) {
                const rt_aggregate_t *ag = &d->aggs[g];
                if (strcmp(ag->fee_item, ch->fee_item) != 0)
                    continue;
                if (bw_dec_add(u.quantity, ag->quantity, &u.quantity) < 0) {
                    snprintf(err, errlen, "%s: quantity out of range", ch->fee_item);
                    return BW_EINVAL;
                }
                u.transactions = ag->tx;
                u.n_transactions = ag->ntx;
                any = true;
            }
        }
        if (any)
            use[nuse++] = u;
    }
    rt_coupon_input_t coupon = {.code = s->coupon, .redeemable = true};
    rt_rate_input_t in = {
        .customer_tier = acct->tier && *acct->tier ? acct->tier : NULL,
        .period_start = p->start,
        .period_end = p->end,
        .active_start = as,
        .active_end = ae,
        .period_number = rt_period_number(s->origin, p->start, p->months),
        .include_setup = with_setup,
        .usage = use,
        .n_usage = nuse,
        .coupons = s->coupon && *s->coupon ? &coupon : NULL,
        .n_coupons = s->coupon && *s->coupon ? 1 : 0,
    };
    return rt_rate(pv, p->cat->discounts, p->cat->n_discounts, &p->cat->settings, &in, out, err,
                   errlen);
}

/* The transition line of change pc on a piece rated at new_total: the
 * share of the increase over the old price that is waived. */
static int transition_line(const rt_acct_data_t *d, const rt_period_t *p, const rt_segment_t *s,
                           const rt_pc_applied_t *pc, int64_t as, int64_t ae, bool with_usage,
                           bool with_setup, int64_t new_total, Billow__AccountRated *ar,
                           size_t *cap, bw_arena_t *a, char *err, size_t errlen)
{
    if (!rt_pc_in_transition(pc->transition_periods,
                             rt_period_number(pc->from_day, p->start, p->months)))
        return 0;
    const rt_plan_t *plan = rt_catalog_plan(p->cat, s->plan);
    const rt_price_version_t *old = plan ? rt_plan_version_at(plan, d->acct.currency, as) : NULL;
    if (!old)
        return 0; /* nothing to compare with: no waiver */
    rt_result_t *res = NULL;
    int rc = price_piece(d, p, s, old, as, ae, with_usage, with_setup, &res, a, err, errlen);
    if (rc < 0)
        return rc;
    int64_t waived = 0;
    rc = rt_pc_transition_discount(res->total, new_total, pc->transition_percent,
                                   p->cat->settings.rounding, &waived);
    rt_result_destroy(&res);
    if (rc < 0 || waived == 0)
        return 0;
    Billow__RatedLine *rl = new_line(ar, cap, a);
    if (!rl)
        return BW_ENOMEM;
    const rt_fee_item_t *first =
        pc->pv->n_charges ? rt_catalog_fee_item(p->cat, pc->pv->charges[0].fee_item) : NULL;
    char pct[BW_DEC_STRLEN];
    bw_dec_format(pc->transition_percent, pct, sizeof pct);
    bool zh = d->acct.language && strcmp(d->acct.language, "zh-CN") == 0;
    rl->fee_item = "";
    rl->kind = "discount";
    rl->description = zh ? bw_arena_printf(a, "调价过渡期：减免涨价部分的 %s%%（%s）", pct, pc->change_id)
                         : bw_arena_printf(a, "Transition: %s%% of the increase waived (%s)", pct,
                                           pc->change_id);
    rl->service_type = "";
    rl->quantity = "1";
    rl->unit = "";
    rl->unit_price = "";
    rl->amount_minor = -waived;
    rl->tax_category = first ? (char *)first->tax_category : "standard";
    rl->period_start = day_str(a, as);
    rl->period_end = day_str(a, ae);
    rl->price_version = rt_price_version_name(pc->pv, a);
    rl->discount_code = (char *)pc->change_id;
    ar->lines[ar->n_lines++] = rl;
    ar->total_minor -= waived;
    return 0;
}

/* Rates one piece of a segment and appends its lines (and, under a price
 * change, its transition line). */
static int rate_piece(const rt_acct_data_t *d, const rt_period_t *p, const rt_segment_t *s,
                      const rt_price_version_t *pv, int64_t as, int64_t ae, bool with_usage,
                      bool with_setup, const rt_pc_applied_t *pc, Billow__AccountRated *ar,
                      size_t *cap, bw_arena_t *a, char *err, size_t errlen)
{
    if (!pv) {
        char day[16];
        bw_date_format(as, day, sizeof day);
        snprintf(err, errlen, "plan %s has no price in %s in force on %s", s->plan,
                 d->acct.currency, day);
        return BW_EINVAL;
    }
    rt_result_t *res = NULL;
    int rc = price_piece(d, p, s, pv, as, ae, with_usage, with_setup, &res, a, err, errlen);
    if (rc < 0)
        return rc;
    int64_t total = res->total;
    rc = add_lines(res, pv, p, &d->acct, as, ae, ar, cap, a);
    rt_result_destroy(&res);
    if (rc < 0) {
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    if (pc)
        return transition_line(d, p, s, pc, as, ae, with_usage, with_setup, total, ar, cap, a, err,
                               errlen);
    return 0;
}

int rt_rate_account(const rt_acct_data_t *d, const rt_period_t *p, Billow__AccountRated *ar,
                    bw_arena_t *a, char *err, size_t errlen)
{
    const rt_account_t *acct = &d->acct;
    ar->run_id = (char *)(p->run_id ? p->run_id : "");
    ar->account_id = acct->id;
    ar->period = (char *)p->period;
    ar->period_start = day_str(a, p->start);
    ar->period_end = day_str(a, p->end);
    ar->currency = acct->currency;
    ar->language = acct->language;
    ar->n_lines = 0;
    ar->total_minor = 0;
    if (d->error) {
        snprintf(err, errlen, "%s", d->error);
        return BW_EINVAL;
    }
    size_t cap = 0;
    for (size_t si = 0; si < d->nsegs; si++) {
        const rt_segment_t *s = &d->segs[si];
        int64_t as = s->start > p->start ? s->start : p->start;
        int64_t ae = s->end < p->end ? s->end : p->end;
        if (ae <= as)
            continue;
        bool last = si + 1 == d->nsegs;
        bool setup = s->start == s->origin && s->origin >= p->start && s->origin < p->end;
        const rt_plan_t *plan = p->cat ? rt_catalog_plan(p->cat, s->plan) : NULL;
        if (!plan) {
            snprintf(err, errlen, "plan %s is not in the catalog", s->plan);
            return BW_EINVAL;
        }
        /* A price change in force for the account splits the segment at its
         * first day: the old price before, the new one from then on, each
         * piece prorated by its days. */
        const rt_pc_applied_t *pc = change_for(d, s->plan, acct->currency, ae);
        int64_t cut = !pc ? ae : (pc->from_day > as ? pc->from_day : as);
        if (cut > as) {
            const rt_price_version_t *pv = rt_plan_version_at(plan, acct->currency, as);
            int rc = rate_piece(d, p, s, pv, as, cut, last && cut == ae, setup, NULL, ar, &cap, a,
                                err, errlen);
            if (rc < 0)
                return rc;
        }
        if (cut < ae) {
            int rc = rate_piece(d, p, s, pc->pv, cut, ae, last, setup && cut == as, pc, ar, &cap,
                                a, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}
