/* Preview and explain. */
#include "rating/inspect.h"
#include "rating/accounts_view.h"
#include "rating/catalog_store.h"
#include "rating/periods.h"
#include "rating/rater.h"
#include "rating/reply.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_CLOSED[] =
    "SELECT catalog_version, rated FROM closed_periods WHERE account_id = $1 AND period = $2";
/* The first records by time: each aggregate row lists its event ids in
 * (at, event_id) order, so the first 50 of every row are enough. */
static const char SQL_RECORDS[] =
    "SELECT r.event_id, trim_scale(r.quantity)::text,"
    " to_char(r.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), r.caused_by"
    " FROM usage_aggregates g CROSS JOIN LATERAL unnest(g.event_ids[1:50]) AS e(id)"
    " JOIN usage_records r ON r.event_id = e.id"
    " WHERE g.account_id = $1 AND g.period = $2 AND g.fee_item = $3"
    " ORDER BY r.at, r.event_id LIMIT 50";

/* Everything preview and explain share. */
typedef struct {
    rt_acct_data_t d;
    rt_period_t p;
    int catalog_version;
    bool closed;
    Billow__AccountRated *rated;
} view_t;

static bool load_view(bw_db_t *db, const char *account, const char *period, view_t *v,
                      Billow__Reply *reply, bw_arena_t *a)
{
    memset(v, 0, sizeof *v);
    if (rt_empty(account) || rt_empty(period)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "account and period are required",
                       "--account ID --period YYYY-MM");
        return false;
    }
    int rc = rt_account_get(db, account, &v->d.acct, a);
    if (rc == BW_ENOTFOUND) {
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "unknown account", bw_arena_strdup(a, account));
        return false;
    }
    if (rc < 0)
        goto dberr;
    char err[160];
    if (rt_period_bounds(period, v->d.acct.cycle, &v->p.start, &v->p.end, err, sizeof err) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, bw_arena_strdup(a, err), NULL);
        return false;
    }
    v->p.period = period;
    v->p.months = rt_cycle_months(v->d.acct.cycle);
    const char *cp[2] = {account, period};
    PGresult *res = bw_db_query_bin(db, SQL_CLOSED, 2, cp);
    if (!res)
        goto dberr;
    if (PQntuples(res) == 1) {
        v->closed = true;
        /* Binary results: int4 in network order. */
        const unsigned char *b = (const unsigned char *)PQgetvalue(res, 0, 0);
        v->catalog_version = (int)((unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3]);
        Billow__Event *ev = billow__event__unpack(bw_arena_pb(a), (size_t)PQgetlength(res, 0, 1),
                                                  (const uint8_t *)PQgetvalue(res, 0, 1));
        if (ev && ev->body_case == BILLOW__EVENT__BODY_ACCOUNT_RATED)
            v->rated = ev->account_rated;
    }
    PQclear(res);
    if (v->closed) {
        rc = v->catalog_version > 0 ? rt_store_get(db, v->catalog_version, &v->p.cat) : 0;
    } else {
        rc = rt_store_current(db, &v->p.cat, &v->catalog_version);
    }
    if (rc < 0)
        goto dberr;
    if (rt_load_data(db, &v->d, 1, account, account, &v->p, a) < 0)
        goto dberr;
    if (!v->rated) {
        v->rated = bw_arena_alloc(a, sizeof *v->rated);
        billow__account_rated__init(v->rated);
        if (rt_rate_account(&v->d, &v->p, v->rated, a, err, sizeof err) < 0) {
            bw_reply_error(reply, BILLOW__CODE__CONFLICT, "cannot rate this account",
                           bw_arena_strdup(a, err));
            return false;
        }
    }
    return true;
dberr:
    rt_reply_db(reply, db, "could not read rating data", a);
    return false;
}

void rt_rate_preview(bw_db_t *db, const Billow__RatePreview *req, Billow__Reply *reply,
                     bw_arena_t *arena)
{
    view_t v;
    if (!load_view(db, req->account_id, req->period, &v, reply, arena))
        return;
    Billow__RatePreviewReply *pr = bw_arena_alloc(arena, sizeof *pr);
    billow__rate_preview_reply__init(pr);
    pr->rated = v.rated;
    pr->closed = v.closed;
    pr->catalog_version = v.catalog_version;
    Billow__RatingReply *rr = rt_reply_body(reply, arena);
    rr->op_case = BILLOW__RATING_REPLY__OP_PREVIEW;
    rr->preview = pr;
}

static char *discount_reason(const rt_discount_t *d, int period_number, bw_arena_t *a)
{
    char *value = d->is_percent ? bw_arena_printf(a, "%s%%", rt_dec_str(a, d->percent)) : "fixed amount";
    const char *scope = d->fee_item ? d->fee_item : "the plan";
    switch (d->kind) {
    case RT_DISC_NEW_CUSTOMER:
        return bw_arena_printf(a, "%s: new customer, %s off %s (period %d of the first %d)", d->code,
                               value, scope, period_number, d->periods);
    case RT_DISC_LOYAL:
        return bw_arena_printf(a, "%s: loyal customer, %s off %s (period %d, after %d)", d->code,
                               value, scope, period_number, d->periods);
    case RT_DISC_VOLUME:
        return bw_arena_printf(a, "%s: volume, %s off %s (quantity reached %s)", d->code, value,
                               scope, rt_dec_str(a, d->min_quantity));
    case RT_DISC_COUPON:
        return bw_arena_printf(a, "%s: coupon %s, %s off %s (valid %s to %s)", d->code, d->coupon,
                               value, scope, rt_date_str(a, d->valid_from), rt_date_str(a, d->valid_to));
    }
    return (char *)d->code;
}

void rt_rate_explain(bw_db_t *db, const Billow__RateExplain *req, Billow__Reply *reply,
                     bw_arena_t *arena)
{
    view_t v;
    if (!load_view(db, req->account_id, req->period, &v, reply, arena))
        return;
    const rt_catalog_t *cat = v.p.cat;
    Billow__RateExplainReply *er = bw_arena_alloc(arena, sizeof *er);
    billow__rate_explain_reply__init(er);
    er->account_id = v.d.acct.id;
    er->period = (char *)v.p.period;
    er->catalog_version = v.catalog_version;
    er->closed = v.closed;
    er->rated = v.rated;
    er->catalog_loaded_at = er->catalog_loaded_by = "";
    if (v.catalog_version > 0)
        rt_store_info(db, v.catalog_version, arena, &er->catalog_loaded_by, &er->catalog_loaded_at);
    const char *fee_filter = rt_empty(req->fee_item) ? NULL : req->fee_item;

    er->segments = bw_arena_alloc(arena, sizeof *er->segments * (v.d.nsegs + 1));
    const rt_price_version_t *last_pv = NULL;
    int last_pn = 0;
    for (size_t i = 0; i < v.d.nsegs; i++) {
        const rt_segment_t *s = &v.d.segs[i];
        int64_t as = s->start > v.p.start ? s->start : v.p.start;
        int64_t ae = s->end < v.p.end ? s->end : v.p.end;
        if (ae <= as)
            continue;
        Billow__ExplainSegment *es = bw_arena_alloc(arena, sizeof *es);
        billow__explain_segment__init(es);
        es->plan = s->plan;
        es->start = rt_date_str(arena, as);
        es->end = rt_date_str(arena, ae);
        es->quantity = rt_dec_str(arena, s->quantity);
        es->currency = v.d.acct.currency;
        es->period_number = rt_period_number(s->origin, v.p.start, v.p.months);
        es->setup = s->start == s->origin && s->origin >= v.p.start && s->origin < v.p.end;
        const rt_plan_t *plan = cat ? rt_catalog_plan(cat, s->plan) : NULL;
        const rt_price_version_t *pv = plan ? rt_plan_version_at(plan, v.d.acct.currency, as) : NULL;
        es->price_version = pv ? rt_price_version_name(pv, arena) : "";
        es->effective_from = pv ? rt_date_str(arena, pv->effective_from) : "";
        er->segments[er->n_segments++] = es;
        last_pv = pv;
        last_pn = es->period_number;
    }

    size_t ncharges = last_pv ? last_pv->n_charges : 0;
    er->items = bw_arena_alloc(arena, sizeof *er->items * (ncharges + 1));
    const char *tier = rt_empty(v.d.acct.tier) ? NULL : v.d.acct.tier;
    for (size_t k = 0; k < ncharges; k++) {
        const rt_charge_t *ch = &last_pv->charges[k];
        if (fee_filter && strcmp(fee_filter, ch->fee_item) != 0)
            continue;
        const rt_fee_item_t *fi = rt_catalog_fee_item(cat, ch->fee_item);
        Billow__ExplainItem *it = bw_arena_alloc(arena, sizeof *it);
        billow__explain_item__init(it);
        it->fee_item = (char *)ch->fee_item;
        it->name = fi ? (char *)rt_name_in(&fi->name, v.d.acct.language) : "";
        it->model = (char *)rt_model_name(ch->model);
        rt_charge_t shown = *ch;
        const rt_price_t *pr = rt_charge_price(ch, tier);
        if (pr != &ch->price) {
            shown.price = *pr;
            it->customer_tier = (char *)tier;
        }
        shown.n_overrides = 0;
        it->pricing = rt_charge_text(&shown, last_pv->currency, arena);
        it->source = fi && fi->service_type == RT_SVC_SUBSCRIPTION ? "subscription" : "usage";
        it->aggregate_quantity = "0";
        for (size_t g = 0; g < v.d.naggs; g++)
            if (strcmp(v.d.aggs[g].fee_item, ch->fee_item) == 0) {
                it->aggregate_quantity = rt_dec_str(arena, v.d.aggs[g].quantity);
                it->usage_records = v.d.aggs[g].records;
            }
        if (it->usage_records > 0) {
            const char *p[3] = {v.d.acct.id, v.p.period, ch->fee_item};
            PGresult *res = bw_db_query(db, SQL_RECORDS, 3, p);
            if (res) {
                int n = PQntuples(res);
                it->records = bw_arena_alloc(arena, sizeof *it->records * (size_t)(n + 1));
                for (int r = 0; r < n; r++) {
                    Billow__ExplainUsage *u = bw_arena_alloc(arena, sizeof *u);
                    billow__explain_usage__init(u);
                    u->event_id = bw_arena_strdup(arena, PQgetvalue(res, r, 0));
                    u->quantity = bw_arena_strdup(arena, PQgetvalue(res, r, 1));
                    u->timestamp = bw_arena_strdup(arena, PQgetvalue(res, r, 2));
                    u->caused_by = bw_arena_strdup(arena, PQgetvalue(res, r, 3));
                    it->records[it->n_records++] = u;
                }
                PQclear(res);
            }
        }
        er->items[er->n_items++] = it;
    }

    er->discounts = bw_arena_alloc(arena, sizeof *er->discounts * (v.rated->n_lines + 1));
    for (size_t i = 0; i < v.rated->n_lines; i++) {
        const Billow__RatedLine *l = v.rated->lines[i];
        if (strcmp(l->kind, "discount") != 0 || !cat)
            continue;
        if (fee_filter && *l->fee_item && strcmp(l->fee_item, fee_filter) != 0)
            continue;
        const rt_discount_t *d = rt_catalog_discount(cat, l->discount_code);
        er->discounts[er->n_discounts++] =
            d ? discount_reason(d, last_pn, arena) : l->discount_code;
    }
    Billow__RatingReply *rr = rt_reply_body(reply, arena);
    rr->op_case = BILLOW__RATING_REPLY__OP_EXPLAIN;
    rr->explain = er;
}
