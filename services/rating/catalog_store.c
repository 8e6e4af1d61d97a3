/* Catalog versions: load, show, and a small cache of parsed versions. */
#include "rating/catalog_store.h"
#include "rating/reply.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "rpc.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_HEAD[] = "SELECT coalesce(max(version), 0) FROM catalogs";
static const char SQL_DOC[] = "SELECT doc FROM catalogs WHERE version = $1::int";
static const char SQL_INFO[] =
    "SELECT loaded_by, to_char(loaded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    " FROM catalogs WHERE version = $1::int";
static const char SQL_LATEST[] =
    "SELECT version, doc FROM catalogs ORDER BY version DESC LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO catalogs (version, doc, loaded_by, caused_by) VALUES ($1::int, $2, $3, $4)";

/* --- cache ------------------------------------------------------------- */
#define CACHE_SLOTS 4

static struct {
    int version;
    rt_catalog_t *cat;
    unsigned long used;
} cache[CACHE_SLOTS];
static unsigned long tick;

void rt_store_clear(void)
{
    for (int i = 0; i < CACHE_SLOTS; i++) {
        rt_catalog_destroy(&cache[i].cat);
        cache[i].version = 0;
    }
}

int rt_store_get(bw_db_t *db, int version, const rt_catalog_t **cat)
{
    *cat = NULL;
    int lru = 0;
    for (int i = 0; i < CACHE_SLOTS; i++) {
        if (cache[i].cat && cache[i].version == version) {
            cache[i].used = ++tick;
            *cat = cache[i].cat;
            return 0;
        }
        if (cache[i].used < cache[lru].used)
            lru = i;
    }
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *p[1] = {v};
    PGresult *res = bw_db_query(db, SQL_DOC, 1, p);
    if (!res)
        return BW_EDB;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return BW_ENOTFOUND;
    }
    char err[256];
    rt_catalog_t *c = rt_catalog_new_from_json(PQgetvalue(res, 0, 0), err, sizeof err);
    PQclear(res);
    if (!c) {
        /* Stored documents were validated on load: only a parser change
         * (or memory) can get here. */
        bw_log(BW_ERROR, "stored catalog does not parse", "version", BW_I(version), "error",
               BW_S(err), NULL);
        return BW_EINVAL;
    }
    rt_catalog_destroy(&cache[lru].cat);
    cache[lru].cat = c;
    cache[lru].version = version;
    cache[lru].used = ++tick;
    *cat = c;
    return 0;
}

int rt_store_current(bw_db_t *db, const rt_catalog_t **cat, int *version)
{
    *cat = NULL;
    *version = 0;
    PGresult *res = bw_db_query(db, SQL_HEAD, 0, NULL);
    if (!res)
        return BW_EDB;
    int v = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (v == 0)
        return 0;
    *version = v;
    return rt_store_get(db, v, cat);
}

int rt_store_info(bw_db_t *db, int version, bw_arena_t *a, char **by, char **at)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *p[1] = {v};
    PGresult *res = bw_db_query(db, SQL_INFO, 1, p);
    if (!res)
        return BW_EDB;
    int rc = BW_ENOTFOUND;
    if (PQntuples(res) == 1) {
        *by = bw_arena_strdup(a, PQgetvalue(res, 0, 0));
        *at = bw_arena_strdup(a, PQgetvalue(res, 0, 1));
        rc = 0;
    }
    PQclear(res);
    return rc;
}

const char *rt_name_in(const rt_names_t *n, const char *language)
{
    if (language && strcmp(language, "zh-CN") == 0 && n->zh_cn && *n->zh_cn)
        return n->zh_cn;
    return n->en && *n->en ? n->en : (n->zh_cn ? n->zh_cn : "");
}

/* --- history check ------------------------------------------------------ */

static const char *jstr(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return "";
    return json_object_get_string(v);
}

static json_object *jarr(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_array))
        return NULL;
    return v;
}

/* Every price version of old that is in force on `today` must be in new,
 * unchanged. Both documents already passed validation. */
static int check_history(const char *old_doc, const char *new_doc, int64_t today, char *err,
                         size_t errlen)
{
    int rc = 0;
    json_object *o = json_tokener_parse(old_doc), *n = json_tokener_parse(new_doc);
    if (!o || !n)
        goto out;
    json_object *oplans = jarr(o, "plans"), *nplans = jarr(n, "plans");
    size_t nop = oplans ? json_object_array_length(oplans) : 0;
    size_t nnp = nplans ? json_object_array_length(nplans) : 0;
    for (size_t i = 0; i < nop && rc == 0; i++) {
        json_object *op = json_object_array_get_idx(oplans, i);
        const char *code = jstr(op, "code");
        json_object *np = NULL;
        size_t npi = 0;
        for (size_t k = 0; k < nnp && !np; k++)
            if (strcmp(jstr(json_object_array_get_idx(nplans, k), "code"), code) == 0) {
                np = json_object_array_get_idx(nplans, k);
                npi = k;
            }
        json_object *ovs = jarr(op, "versions"), *nvs = np ? jarr(np, "versions") : NULL;
        size_t nov = ovs ? json_object_array_length(ovs) : 0;
        size_t nnv = nvs ? json_object_array_length(nvs) : 0;
        for (size_t j = 0; j < nov && rc == 0; j++) {
            json_object *ov = json_object_array_get_idx(ovs, j);
            const char *from = jstr(ov, "effective_from"), *cur = jstr(ov, "currency");
            int64_t day;
            if (bw_date_parse(from, &day) < 0 || day > today)
                continue; /* not in force yet: may still be edited */
            json_object *nv = NULL;
            size_t nvi = 0;
            for (size_t k = 0; k < nnv && !nv; k++) {
                json_object *c = json_object_array_get_idx(nvs, k);
                if (!strcmp(jstr(c, "effective_from"), from) && !strcmp(jstr(c, "currency"), cur)) {
                    nv = c;
                    nvi = k;
                }
            }
            if (!nv) {
                snprintf(err, errlen,
                         "plans: price version %s %s from %s is in force and cannot be removed;"
                         " add a new version instead",
                         code, cur, from);
                rc = BW_EINVAL;
            } else if (!json_object_equal(ov, nv)) {
                snprintf(err, errlen,
                         "plans[%zu].versions[%zu]: price version %s %s from %s is in force and"
                         " cannot be changed; add a version with a later effective_from",
                         npi, nvi, code, cur, from);
                rc = BW_EINVAL;
            }
        }
    }
out:
    json_object_put(o);
    json_object_put(n);
    return rc;
}

/* --- load ---------------------------------------------------------------- */

static Billow__CatalogReply *summary(const rt_catalog_t *c, int version, bw_arena_t *a);

bool rt_catalog_load(bw_db_t *db, const Billow__CatalogLoad *req, const char *operator_,
                     const char *cause, Billow__Reply *reply, bw_arena_t *arena)
{
    char err[512];
    if (rt_empty(req->json)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "empty catalog", "send the JSON document");
        return false;
    }
    rt_catalog_t *cat = rt_catalog_new_from_json(req->json, err, sizeof err);
    if (!cat) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "invalid catalog", bw_arena_strdup(arena, err));
        return false;
    }
    bool changed = false;
    if (bw_db_begin(db) < 0)
        goto dberr;
    if (bw_db_exec(db, "SELECT pg_advisory_xact_lock(hashtext('rating.catalogs'))", 0, NULL) < 0)
        goto dberr;
    PGresult *res = bw_db_query(db, SQL_LATEST, 0, NULL);
    if (!res)
        goto dberr;
    int version = 0;
    if (PQntuples(res) == 1) {
        version = atoi(PQgetvalue(res, 0, 0));
        const char *old = PQgetvalue(res, 0, 1);
        if (strcmp(old, req->json) == 0) {
            PQclear(res);
            bw_db_commit(db);
            goto done; /* the same document again: nothing new */
        }
        if (check_history(old, req->json, bw_now_us() / 86400000000LL, err, sizeof err) < 0) {
            PQclear(res);
            bw_db_rollback(db);
            bw_reply_error(reply, BILLOW__CODE__CONFLICT, "catalog rewrites history",
                           bw_arena_strdup(arena, err));
            rt_catalog_destroy(&cat);
            return false;
        }
    }
    PQclear(res);
    version++;
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *ip[4] = {v, req->json, operator_ ? operator_ : "", cause};
    if (bw_db_exec(db, SQL_INSERT, 4, ip) < 0)
        goto dberr;
    if (bw_db_commit(db) < 0)
        goto dberr;
    changed = true;
    bw_log(BW_INFO, "catalog loaded", "version", BW_I(version), "by", BW_S(operator_ ? operator_ : ""),
           NULL);
done:;
    /* The reply points into the catalog: use the cached copy, which outlives
     * this handler (the local one is freed now). */
    rt_catalog_destroy(&cat);
    const rt_catalog_t *kept = NULL;
    if (rt_store_get(db, version, &kept) < 0 || !kept) {
        rt_reply_db(reply, db, "could not read catalog back", arena);
        return changed;
    }
    Billow__RatingReply *rr = rt_reply_body(reply, arena);
    rr->op_case = BILLOW__RATING_REPLY__OP_CATALOG;
    rr->catalog = summary(kept, version, arena);
    rr->catalog->created = changed;
    rr->catalog->loaded_by = bw_arena_strdup(arena, operator_ ? operator_ : "");
    return changed;
dberr:
    rt_reply_db(reply, db, "could not store catalog", arena);
    bw_db_rollback(db);
    rt_catalog_destroy(&cat);
    return false;
}

/* --- show ---------------------------------------------------------------- */

static char *money_or_dec(bw_arena_t *a, bw_dec_t v) { return rt_dec_str(a, v); }

static char *price_text(const rt_charge_t *ch, const char *cur, bw_arena_t *a)
{
    const rt_price_t *p = &ch->price;
    char *s;
    switch (ch->model) {
    case RT_MODEL_FLAT:
        s = bw_arena_printf(a, "%s per period", money_or_dec(a, p->amount));
        break;
    case RT_MODEL_PER_UNIT:
        s = bw_arena_printf(a, "%s per unit", money_or_dec(a, p->unit_price));
        break;
    case RT_MODEL_PACKAGE:
        s = bw_arena_printf(a, "%s per %s units", money_or_dec(a, p->amount),
                            money_or_dec(a, p->package_size));
        break;
    case RT_MODEL_PERCENTAGE:
        s = bw_arena_printf(a, "%s%% + %s per transaction", money_or_dec(a, p->percent),
                            money_or_dec(a, p->fixed_fee));
        if (p->has_min)
            s = bw_arena_printf(a, "%s, min %s", s, money_or_dec(a, p->min_fee));
        if (p->has_max)
            s = bw_arena_printf(a, "%s, max %s", s, money_or_dec(a, p->max_fee));
        break;
    default: {
        s = "";
        for (size_t i = 0; i < p->n_tiers; i++) {
            const rt_tier_t *t = &p->tiers[i];
            char *bound = t->unbounded ? "above" : bw_arena_printf(a, "<=%s", money_or_dec(a, t->up_to));
            char *price = ch->model == RT_MODEL_STAIRSTEP
                              ? money_or_dec(a, t->flat_fee)
                              : bw_arena_printf(a, "%s/unit%s%s", money_or_dec(a, t->unit_price),
                                                t->flat_fee ? " + " : "",
                                                t->flat_fee ? money_or_dec(a, t->flat_fee) : "");
            s = bw_arena_printf(a, "%s%s%s %s", s, i ? "; " : "", bound, price);
        }
    }
    }
    if (ch->free_units)
        s = bw_arena_printf(a, "%s; %s free", s, money_or_dec(a, ch->free_units));
    if (ch->setup_fee)
        s = bw_arena_printf(a, "%s; setup %s", s, money_or_dec(a, ch->setup_fee));
    if (ch->has_minimum) {
        char m[32];
        bw_money_format(ch->minimum, cur, m, sizeof m);
        s = bw_arena_printf(a, "%s; minimum %s", s, m);
    }
    for (size_t i = 0; i < ch->n_overrides; i++)
        s = bw_arena_printf(a, "%s%s%s", s, i ? "," : "; override for ", ch->overrides[i].tier);
    return s;
}

char *rt_charge_text(const rt_charge_t *ch, const char *cur, bw_arena_t *a)
{
    return price_text(ch, cur, a);
}

static Billow__CatalogReply *summary(const rt_catalog_t *c, int version, bw_arena_t *a)
{
    Billow__CatalogReply *r = bw_arena_alloc(a, sizeof *r);
    billow__catalog_reply__init(r);
    r->version = version;
    r->n_fee_items = c->n_fee_items;
    r->fee_items = bw_arena_alloc(a, sizeof *r->fee_items * (c->n_fee_items + 1));
    for (size_t i = 0; i < c->n_fee_items; i++) {
        const rt_fee_item_t *f = &c->fee_items[i];
        Billow__CatalogFeeItem *x = bw_arena_alloc(a, sizeof *x);
        billow__catalog_fee_item__init(x);
        x->code = (char *)f->code;
        x->name_en = (char *)(f->name.en ? f->name.en : "");
        x->name_zh = (char *)(f->name.zh_cn ? f->name.zh_cn : "");
        x->service_type = (char *)rt_service_type_name(f->service_type);
        x->unit = (char *)f->unit;
        x->tax_category = (char *)f->tax_category;
        r->fee_items[i] = x;
    }
    r->n_plans = c->n_plans;
    r->plans = bw_arena_alloc(a, sizeof *r->plans * (c->n_plans + 1));
    for (size_t i = 0; i < c->n_plans; i++) {
        const rt_plan_t *p = &c->plans[i];
        Billow__CatalogPlan *x = bw_arena_alloc(a, sizeof *x);
        billow__catalog_plan__init(x);
        x->code = (char *)p->code;
        x->name_en = (char *)(p->name.en ? p->name.en : "");
        x->name_zh = (char *)(p->name.zh_cn ? p->name.zh_cn : "");
        x->cycle = (char *)rt_cycle_name(p->cycle);
        x->n_versions = p->n_versions;
        x->versions = bw_arena_alloc(a, sizeof *x->versions * (p->n_versions + 1));
        for (size_t j = 0; j < p->n_versions; j++) {
            const rt_price_version_t *pv = &p->versions[j];
            Billow__CatalogPriceVersion *v = bw_arena_alloc(a, sizeof *v);
            billow__catalog_price_version__init(v);
            v->currency = bw_arena_strdup(a, pv->currency);
            v->effective_from = rt_date_str(a, pv->effective_from);
            v->n_charges = pv->n_charges;
            v->charges = bw_arena_alloc(a, sizeof *v->charges * (pv->n_charges + 1));
            for (size_t k = 0; k < pv->n_charges; k++) {
                Billow__CatalogCharge *ch = bw_arena_alloc(a, sizeof *ch);
                billow__catalog_charge__init(ch);
                ch->fee_item = (char *)pv->charges[k].fee_item;
                ch->model = (char *)rt_model_name(pv->charges[k].model);
                ch->price = price_text(&pv->charges[k], pv->currency, a);
                v->charges[k] = ch;
            }
            x->versions[j] = v;
        }
        r->plans[i] = x;
    }
    r->n_discounts = c->n_discounts;
    r->discounts = bw_arena_alloc(a, sizeof *r->discounts * (c->n_discounts + 1));
    for (size_t i = 0; i < c->n_discounts; i++) {
        const rt_discount_t *d = &c->discounts[i];
        Billow__CatalogDiscount *x = bw_arena_alloc(a, sizeof *x);
        billow__catalog_discount__init(x);
        x->code = (char *)d->code;
        x->kind = (char *)rt_discount_kind_name(d->kind);
        x->name_en = (char *)(c->discount_names[i].en ? c->discount_names[i].en : "");
        x->name_zh = (char *)(c->discount_names[i].zh_cn ? c->discount_names[i].zh_cn : "");
        if (d->is_percent) {
            x->value = bw_arena_printf(a, "%s%%", rt_dec_str(a, d->percent));
        } else {
            char *s = "";
            for (size_t k = 0; k < d->n_amounts; k++) {
                char m[32];
                bw_money_format(d->amounts[k].minor, d->amounts[k].currency, m, sizeof m);
                s = bw_arena_printf(a, "%s%s%s %s", s, k ? ", " : "", d->amounts[k].currency, m);
            }
            x->value = s;
        }
        x->scope = (char *)(d->fee_item ? d->fee_item : "plan");
        r->discounts[i] = x;
    }
    return r;
}

void rt_catalog_show(bw_db_t *db, const Billow__CatalogShow *req, Billow__Reply *reply,
                     bw_arena_t *arena)
{
    const rt_catalog_t *cat = NULL;
    int version = req->version;
    int rc = version > 0 ? rt_store_get(db, version, &cat) : rt_store_current(db, &cat, &version);
    if (rc == BW_ENOTFOUND || (rc == 0 && !cat)) {
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND,
                       version > 0 ? "no such catalog version" : "no catalog loaded",
                       "load one with: billctl catalog load FILE.json");
        return;
    }
    if (rc < 0) {
        rt_reply_db(reply, db, "could not read catalog", arena);
        return;
    }
    Billow__CatalogReply *r = summary(cat, version, arena);
    rt_store_info(db, version, arena, &r->loaded_by, &r->loaded_at);
    r->description = "";
    if (req->with_json) {
        char v[16];
        snprintf(v, sizeof v, "%d", version);
        const char *p[1] = {v};
        PGresult *res = bw_db_query(db, SQL_DOC, 1, p);
        if (res && PQntuples(res) == 1)
            r->json = bw_arena_strdup(arena, PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    Billow__RatingReply *rr = rt_reply_body(reply, arena);
    rr->op_case = BILLOW__RATING_REPLY__OP_CATALOG;
    rr->catalog = r;
}
