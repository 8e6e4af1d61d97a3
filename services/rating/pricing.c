/* The rating engine (see pricing.h for the rules it implements). Amounts
 * are carried exactly as 128-bit integers in units of 10^-20 of the major
 * currency unit: a quantity times a unit price (both 9 decimals) and an
 * amount times a percentage (/100) both land on that scale without loss,
 * so the only rounding is the one per line, done by bw_round_div together
 * with the proration ratio. */
#include "rating/pricing.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"

typedef bw_i128_t exact_t; /* major units * 10^20 */

#define E11 ((exact_t)100000000000LL)
#define E20 (E11 * 1000000000LL)

static const int64_t pow10_small[10] = {1,      10,      100,      1000,      10000,
                                        100000, 1000000, 10000000, 100000000, 1000000000};

rt_settings_t rt_settings_default(void)
{
    rt_settings_t s = {RT_PRORATE_ACTUAL_DAYS, BW_ROUND_HALF_EVEN, RT_BOUNDS_INCLUSIVE};
    return s;
}

const char *rt_model_name(rt_model_t m)
{
    static const char *const names[] = {"flat",      "per_unit", "graduated", "volume",
                                        "stairstep", "package",  "percentage"};
    return (unsigned)m < sizeof names / sizeof names[0] ? names[m] : "?";
}

const char *rt_line_kind_name(rt_line_kind_t k)
{
    static const char *const names[] = {"charge", "setup", "proration", "discount", "true_up"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

const char *rt_discount_kind_name(rt_discount_kind_t k)
{
    static const char *const names[] = {"new_customer", "loyal", "volume", "coupon"};
    return (unsigned)k < sizeof names / sizeof names[0] ? names[k] : "?";
}

int rt_prorate(rt_proration_t basis, int64_t period_start, int64_t period_end,
               int64_t active_start, int64_t active_end, int64_t *num, int64_t *den)
{
    if (period_end <= period_start || active_end <= active_start)
        return BW_EINVAL;
    if (active_start <= period_start && active_end >= period_end) {
        *num = *den = 1;
        return 0;
    }
    int64_t s = active_start > period_start ? active_start : period_start;
    int64_t e = active_end < period_end ? active_end : period_end;
    int64_t overlap = e > s ? e - s : 0;
    if (basis == RT_PRORATE_30_DAY_MONTH) {
        int y1, m1, d1, y2, m2, d2;
        bw_civil_from_days(period_start, &y1, &m1, &d1);
        bw_civil_from_days(period_end, &y2, &m2, &d2);
        int64_t months = (int64_t)(y2 - y1) * 12 + (m2 - m1) - (d2 < d1);
        *den = months < 1 ? 30 : 30 * months;
        *num = overlap < *den ? overlap : *den;
        return 0;
    }
    *num = overlap;
    *den = period_end - period_start;
    return 0;
}

const rt_price_t *rt_charge_price(const rt_charge_t *c, const char *tier)
{
    if (tier)
        for (size_t i = 0; i < c->n_overrides; i++)
            if (c->overrides[i].tier && strcmp(c->overrides[i].tier, tier) == 0)
                return &c->overrides[i].price;
    return &c->price;
}

void rt_result_destroy(rt_result_t **pr)
{
    if (!pr || !*pr)
        return;
    free((*pr)->lines);
    free(*pr);
    *pr = NULL;
}

/* --- one rating call ------------------------------------------------------ */

typedef struct {
    const rt_price_version_t *pv;
    const rt_settings_t *set;
    const rt_rate_input_t *in;
    rt_result_t *res;
    int exp;
    int64_t num, den; /* the active fraction of the period */
    char *err;
    size_t errlen;
} ctx_t;

__attribute__((format(printf, 3, 4))) static int fail(ctx_t *c, int rc, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int too_big(ctx_t *c, const char *fee_item)
{
    return fail(c, BW_ETOOBIG, "%s: amount out of range", fee_item ? fee_item : "total");
}

static exact_t from_dec(bw_dec_t v) { return (exact_t)v * E11; }

/* a * b for two decimals, on the exact scale. */
static int mul_dd(bw_dec_t a, bw_dec_t b, exact_t *out)
{
    exact_t p = (exact_t)a * b; /* < 2^126 */
    return __builtin_mul_overflow(p, (exact_t)100, out) ? BW_ETOOBIG : 0;
}

static int add_e(exact_t *acc, exact_t v)
{
    return __builtin_add_overflow(*acc, v, acc) ? BW_ETOOBIG : 0;
}

/* Rounds an exact amount, times num/den, to minor units. */
static int round_exact(const ctx_t *c, exact_t v, int64_t num, int64_t den, int64_t *minor)
{
    exact_t n, d;
    if (__builtin_mul_overflow(v, (exact_t)num, &n))
        return BW_ETOOBIG;
    d = (exact_t)den * (E20 / pow10_small[c->exp]);
    return bw_round_div(n, d, c->set->rounding, minor);
}

/* An exact amount shown as a 9-decimal number (tier breakdowns). */
static bw_dec_t exact_to_dec(exact_t v)
{
    int64_t d = 0;
    if (bw_round_div(v, E11, BW_ROUND_HALF_EVEN, &d) < 0)
        d = v < 0 ? INT64_MIN : INT64_MAX;
    return d;
}

/* Copies code (NULL: "") into a code field, cut at RT_CODE_MAX - 1 bytes
 * as snprintf would, without its cost (a line or two per charge). */
static void code_copy(char dst[RT_CODE_MAX], const char *code)
{
    size_t n = 0;
    if (code)
        while (n < RT_CODE_MAX - 1 && code[n])
            n++;
    memcpy(dst, code ? code : "", n);
    dst[n] = '\0';
}

/* A line is about 2 kB, almost all of it the tier breakdown: only the part
 * before it is cleared here, each tier entry when tier_line fills it. The
 * array is sized in rt_rate for the lines a version can make, so it seldom
 * grows (growing copied every line: with clearing, a sixth of the close's
 * rating CPU). */
static rt_line_t *line_add(ctx_t *c, const char *fee_item, rt_line_kind_t kind)
{
    rt_result_t *r = c->res;
    if (r->n_lines == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 8;
        rt_line_t *l = realloc(r->lines, cap * sizeof *l);
        if (!l)
            return NULL;
        r->lines = l;
        r->cap = cap;
    }
    rt_line_t *l = &r->lines[r->n_lines++];
    memset(l, 0, offsetof(rt_line_t, tiers));
    code_copy(l->fee_item, fee_item);
    l->kind = kind;
    l->quantity = BW_DEC(1);
    return l;
}

static const rt_usage_t *usage_of(const rt_rate_input_t *in, const char *fee_item)
{
    for (size_t i = 0; i < in->n_usage; i++)
        if (in->usage[i].fee_item && strcmp(in->usage[i].fee_item, fee_item) == 0)
            return &in->usage[i];
    return NULL;
}

static int check_tiers(ctx_t *c, const rt_charge_t *ch, const rt_price_t *p)
{
    if (p->n_tiers == 0 || p->n_tiers > RT_MAX_TIERS || !p->tiers)
        return fail(c, BW_EINVAL, "%s: needs 1 to %d tiers", ch->fee_item, RT_MAX_TIERS);
    for (size_t i = 0; i < p->n_tiers; i++) {
        const rt_tier_t *t = &p->tiers[i];
        bool last = i + 1 == p->n_tiers;
        if (t->unbounded != last)
            return fail(c, BW_EINVAL, "%s: only the last tier is unbounded", ch->fee_item);
        if (!last && (t->up_to <= (i ? p->tiers[i - 1].up_to : 0)))
            return fail(c, BW_EINVAL, "%s: tier bounds must increase", ch->fee_item);
    }
    return 0;
}

/* The tier quantity q falls in under the bounds setting. */
static size_t tier_of(const ctx_t *c, const rt_price_t *p, bw_dec_t q)
{
    for (size_t i = 0; i < p->n_tiers; i++) {
        const rt_tier_t *t = &p->tiers[i];
        if (t->unbounded)
            return i;
        if (c->set->tier_bounds == RT_BOUNDS_EXCLUSIVE ? q < t->up_to : q <= t->up_to)
            return i;
    }
    return p->n_tiers - 1;
}

static rt_tier_line_t *tier_line(rt_line_t *l, const rt_price_t *p, size_t i)
{
    rt_tier_line_t *tl = &l->tiers[l->n_tiers++];
    memset(tl, 0, sizeof *tl);
    tl->from = i ? p->tiers[i - 1].up_to : 0;
    tl->to = p->tiers[i].unbounded ? 0 : p->tiers[i].up_to;
    tl->unbounded = p->tiers[i].unbounded;
    return tl;
}

/* Prices quantity q of a tiered model into *amt, filling l's breakdown. */
static int price_tiers(ctx_t *c, const rt_charge_t *ch, const rt_price_t *p, bw_dec_t q,
                       rt_line_t *l, exact_t *amt)
{
    int rc = check_tiers(c, ch, p);
    if (rc < 0)
        return rc;
    *amt = 0;
    if (q == 0)
        return 0;
    size_t t = tier_of(c, p, q);
    if (ch->model == RT_MODEL_GRADUATED) {
        for (size_t i = 0; i <= t; i++) {
            bw_dec_t lo = i ? p->tiers[i - 1].up_to : 0;
            bw_dec_t hi = p->tiers[i].unbounded || q < p->tiers[i].up_to ? q : p->tiers[i].up_to;
            bw_dec_t n = hi > lo ? hi - lo : 0;
            exact_t a;
            if (mul_dd(n, p->tiers[i].unit_price, &a) < 0 ||
                add_e(&a, from_dec(p->tiers[i].flat_fee)) < 0 || add_e(amt, a) < 0)
                return too_big(c, ch->fee_item);
            rt_tier_line_t *tl = tier_line(l, p, i);
            tl->quantity = n;
            tl->unit_price = p->tiers[i].unit_price;
            tl->flat_fee = p->tiers[i].flat_fee;
            tl->amount = exact_to_dec(a);
        }
        return 0;
    }
    exact_t a = 0;
    rt_tier_line_t *tl = tier_line(l, p, t);
    tl->quantity = q;
    tl->flat_fee = p->tiers[t].flat_fee;
    if (ch->model == RT_MODEL_VOLUME) {
        tl->unit_price = p->tiers[t].unit_price;
        if (mul_dd(q, p->tiers[t].unit_price, &a) < 0)
            return too_big(c, ch->fee_item);
    }
    if (add_e(&a, from_dec(p->tiers[t].flat_fee)) < 0)
        return too_big(c, ch->fee_item);
    tl->amount = exact_to_dec(a);
    l->unit_price = ch->model == RT_MODEL_VOLUME ? p->tiers[t].unit_price : p->tiers[t].flat_fee;
    *amt = a;
    return 0;
}

static int price_percentage(ctx_t *c, const rt_charge_t *ch, const rt_price_t *p,
                            const rt_usage_t *u, rt_line_t *l, exact_t *amt)
{
    bw_dec_t total = 0;
    *amt = 0;
    size_t n = u ? u->n_transactions : 0;
    if (n && !u->transactions)
        return fail(c, BW_EINVAL, "%s: transactions missing", ch->fee_item);
    for (size_t i = 0; i < n; i++) {
        bw_dec_t tx = u->transactions[i];
        if (tx < 0)
            return fail(c, BW_EINVAL, "%s: transaction %zu: amount must not be negative",
                        ch->fee_item, i);
        /* tx (10^-9) * percent (10^-9) is the fee times 100 at 10^-18, which
         * is the fee itself at our 10^-20 scale. */
        exact_t fee = (exact_t)tx * p->percent;
        if (add_e(&fee, from_dec(p->fixed_fee)) < 0)
            return too_big(c, ch->fee_item);
        if (p->has_min && fee < from_dec(p->min_fee))
            fee = from_dec(p->min_fee);
        if (p->has_max && fee > from_dec(p->max_fee))
            fee = from_dec(p->max_fee);
        if (add_e(amt, fee) < 0 || bw_dec_add(total, tx, &total) < 0)
            return too_big(c, ch->fee_item);
    }
    l->quantity = total;
    l->n_transactions = n;
    int64_t rate = 0;
    bw_round_div(p->percent, 100, BW_ROUND_HALF_EVEN, &rate);
    l->unit_price = rate;
    return 0;
}

/* Prices one charge into a line; *charge_amt gets its rounded amount. */
static int rate_charge(ctx_t *c, const rt_charge_t *ch, rt_line_t **pl)
{
    const rt_price_t *p = rt_charge_price(ch, c->in->customer_tier);
    const rt_usage_t *u = usage_of(c->in, ch->fee_item);
    bw_dec_t raw = u ? u->quantity : 0;
    if (raw < 0)
        return fail(c, BW_EINVAL, "%s: quantity must not be negative", ch->fee_item);
    if (ch->free_units < 0)
        return fail(c, BW_EINVAL, "%s: free_units must not be negative", ch->fee_item);

    rt_line_t *l = line_add(c, ch->fee_item, RT_LINE_CHARGE);
    if (!l)
        return fail(c, BW_ENOMEM, "out of memory");
    *pl = l;
    bw_dec_t q = raw;
    if (ch->model != RT_MODEL_FLAT && ch->model != RT_MODEL_PERCENTAGE) {
        bw_dec_t free = ch->free_units < raw ? ch->free_units : raw;
        q = raw - free;
        l->free_units = free;
    }
    l->quantity = q;
    exact_t amt = 0;
    int rc = 0;
    switch (ch->model) {
    case RT_MODEL_FLAT:
        l->quantity = BW_DEC(1);
        l->unit_price = p->amount;
        amt = from_dec(p->amount);
        break;
    case RT_MODEL_PER_UNIT:
        l->unit_price = p->unit_price;
        if (mul_dd(q, p->unit_price, &amt) < 0)
            return too_big(c, ch->fee_item);
        break;
    case RT_MODEL_GRADUATED:
    case RT_MODEL_VOLUME:
    case RT_MODEL_STAIRSTEP:
        rc = price_tiers(c, ch, p, q, l, &amt);
        break;
    case RT_MODEL_PACKAGE: {
        if (p->package_size <= 0)
            return fail(c, BW_EINVAL, "%s: package_size must be positive", ch->fee_item);
        /* Blocks are rounded up: 101 units in packages of 100 are 2. */
        int64_t blocks = (int64_t)(((exact_t)q + p->package_size - 1) / p->package_size);
        l->packages = blocks;
        l->unit_price = p->amount;
        if (__builtin_mul_overflow((exact_t)blocks * p->amount, E11, &amt))
            return too_big(c, ch->fee_item);
        break;
    }
    case RT_MODEL_PERCENTAGE:
        rc = price_percentage(c, ch, p, u, l, &amt);
        break;
    default:
        return fail(c, BW_EINVAL, "%s: unknown model", ch->fee_item);
    }
    if (rc < 0)
        return rc;
    int64_t num = 1, den = 1;
    if (ch->prorate && !(c->num == c->den)) {
        num = c->num;
        den = c->den;
        l->kind = RT_LINE_PRORATION;
        l->prorate_num = num;
        l->prorate_den = den;
    }
    if (round_exact(c, amt, num, den, &l->amount) < 0)
        return too_big(c, ch->fee_item);
    return 0;
}

static bool has_coupon(const rt_rate_input_t *in, const rt_discount_t *d)
{
    if (!d->coupon || in->period_start < d->valid_from || in->period_start > d->valid_to)
        return false;
    for (size_t i = 0; i < in->n_coupons; i++)
        if (in->coupons[i].code && in->coupons[i].redeemable &&
            strcmp(in->coupons[i].code, d->coupon) == 0)
            return true;
    return false;
}

static bool discount_applies(const ctx_t *c, const rt_discount_t *d)
{
    if (d->n_plans) {
        bool found = false;
        for (size_t i = 0; i < d->n_plans && !found; i++)
            found = c->pv->plan && d->plans[i] && strcmp(d->plans[i], c->pv->plan) == 0;
        if (!found)
            return false;
    }
    switch (d->kind) {
    case RT_DISC_NEW_CUSTOMER:
        return c->in->period_number <= d->periods;
    case RT_DISC_LOYAL:
        return c->in->period_number > d->periods;
    case RT_DISC_VOLUME: {
        const rt_usage_t *u = d->fee_item ? usage_of(c->in, d->fee_item) : NULL;
        return u && u->quantity >= d->min_quantity;
    }
    case RT_DISC_COUPON:
        return has_coupon(c->in, d);
    }
    return false;
}

static bool fixed_amount(const ctx_t *c, const rt_discount_t *d, int64_t *minor)
{
    for (size_t i = 0; i < d->n_amounts; i++)
        if (strcmp(d->amounts[i].currency, c->pv->currency) == 0) {
            *minor = d->amounts[i].minor;
            return true;
        }
    return false;
}

/* Applies the discounts of one scope (fee_item, or NULL for plan-wide) to
 * *running: percentages first, then fixed amounts, in catalog order. */
static int apply_discounts(ctx_t *c, const rt_discount_t *ds, size_t nd, const char *fee_item,
                           int64_t *running)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < nd; i++) {
            const rt_discount_t *d = &ds[i];
            bool percent_pass = pass == 0;
            if (d->is_percent != percent_pass)
                continue;
            bool item_scope = d->fee_item != NULL;
            if (fee_item ? !(item_scope && strcmp(d->fee_item, fee_item) == 0) : item_scope)
                continue;
            if (*running <= 0 || !discount_applies(c, d))
                continue;
            int64_t off = 0;
            bw_dec_t shown = 0;
            if (d->is_percent) {
                if (d->percent <= 0 || d->percent > BW_DEC(100))
                    return fail(c, BW_EINVAL, "%s: percent must be in (0, 100]",
                                d->code ? d->code : "?");
                if (bw_round_div((bw_i128_t)*running * d->percent, (bw_i128_t)100 * BW_DEC_SCALE,
                                 c->set->rounding, &off) < 0)
                    return too_big(c, fee_item);
                bw_round_div(d->percent, 100, BW_ROUND_HALF_EVEN, &shown);
            } else {
                if (!fixed_amount(c, d, &off))
                    continue;
                if (off < 0)
                    return fail(c, BW_EINVAL, "%s: amount must not be negative",
                                d->code ? d->code : "?");
                bw_minor_to_dec(off, c->exp, &shown);
            }
            if (off > *running)
                off = *running;
            if (off == 0)
                continue;
            rt_line_t *l = line_add(c, fee_item, RT_LINE_DISCOUNT);
            if (!l)
                return fail(c, BW_ENOMEM, "out of memory");
            l->unit_price = shown;
            l->amount = -off;
            code_copy(l->discount, d->code);
            *running -= off;
        }
    }
    return 0;
}

static int check_input(ctx_t *c)
{
    const rt_price_version_t *pv = c->pv;
    const rt_rate_input_t *in = c->in;
    if (c->exp < 0)
        return fail(c, BW_EINVAL, "unknown currency \"%.3s\"", pv->currency);
    if (in->period_end <= in->period_start)
        return fail(c, BW_EINVAL, "period end must be after its start");
    if (in->active_end <= in->active_start)
        return fail(c, BW_EINVAL, "active end must be after its start");
    if (pv->n_charges && !pv->charges)
        return fail(c, BW_EINVAL, "charges missing");
    for (size_t i = 0; i < pv->n_charges; i++) {
        const char *fi = pv->charges[i].fee_item;
        if (!fi || strlen(fi) >= RT_CODE_MAX)
            return fail(c, BW_EINVAL, "charge %zu: fee item code missing or too long", i);
    }
    if (in->n_usage && !in->usage)
        return fail(c, BW_EINVAL, "usage missing");
    for (size_t i = 0; i < in->n_usage; i++) {
        const char *fi = in->usage[i].fee_item;
        bool known = false;
        for (size_t j = 0; fi && j < pv->n_charges && !known; j++)
            known = strcmp(pv->charges[j].fee_item, fi) == 0;
        if (!known)
            return fail(c, BW_EINVAL, "usage for \"%s\", which plan %s does not charge",
                        fi ? fi : "", pv->plan ? pv->plan : "?");
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->usage[j].fee_item, fi) == 0)
                return fail(c, BW_EINVAL, "usage for \"%s\" given twice", fi);
    }
    return 0;
}

int rt_rate(const rt_price_version_t *pv, const rt_discount_t *discounts, size_t n_discounts,
            const rt_settings_t *settings, const rt_rate_input_t *in, rt_result_t **out,
            char *err, size_t errlen)
{
    rt_settings_t defaults = rt_settings_default();
    ctx_t c = {.pv = pv, .set = settings ? settings : &defaults, .in = in, .err = err,
               .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    *out = NULL;
    if (!pv || !in)
        return fail(&c, BW_EINVAL, "nothing to rate");
    if (n_discounts && !discounts)
        return fail(&c, BW_EINVAL, "discounts missing");
    char cur[4];
    memcpy(cur, pv->currency, 3);
    cur[3] = '\0';
    c.exp = bw_currency_exponent(cur);
    int rc = check_input(&c);
    if (rc < 0)
        return rc;
    rc = rt_prorate(c.set->proration, in->period_start, in->period_end, in->active_start,
                    in->active_end, &c.num, &c.den);
    if (rc < 0)
        return fail(&c, rc, "bad period");
    c.res = calloc(1, sizeof *c.res);
    if (!c.res)
        return fail(&c, BW_ENOMEM, "out of memory");
    memcpy(c.res->currency, cur, sizeof cur);
    /* Room for every line the version can make without growing: a charge
     * line, a setup and a true-up line per charge, and the discounts. */
    c.res->cap = 3 * pv->n_charges + n_discounts + 1;
    c.res->lines = malloc(c.res->cap * sizeof *c.res->lines);
    if (!c.res->lines) {
        rt_result_destroy(&c.res);
        return fail(&c, BW_ENOMEM, "out of memory");
    }

    int64_t plan_base = 0;
    for (size_t i = 0; i < pv->n_charges; i++) {
        const rt_charge_t *ch = &pv->charges[i];
        if (in->include_setup && ch->setup_fee != 0) {
            rt_line_t *l = line_add(&c, ch->fee_item, RT_LINE_SETUP);
            if (!l) {
                rc = fail(&c, BW_ENOMEM, "out of memory");
                goto fail;
            }
            l->unit_price = ch->setup_fee;
            if (round_exact(&c, from_dec(ch->setup_fee), 1, 1, &l->amount) < 0) {
                rc = too_big(&c, ch->fee_item);
                goto fail;
            }
        }
        rt_line_t *l = NULL;
        rc = rate_charge(&c, ch, &l);
        if (rc < 0)
            goto fail;
        int64_t charged = l->amount; /* l may move when lines are added */
        int64_t running = charged;
        rc = apply_discounts(&c, discounts, n_discounts, ch->fee_item, &running);
        if (rc < 0)
            goto fail;
        if (__builtin_add_overflow(plan_base, running, &plan_base)) {
            rc = too_big(&c, NULL);
            goto fail;
        }
        if (ch->has_minimum) {
            int64_t target;
            if (bw_round_div((bw_i128_t)ch->minimum * c.num, c.den, c.set->rounding, &target) <
                0) {
                rc = too_big(&c, ch->fee_item);
                goto fail;
            }
            if (target > charged) {
                rt_line_t *t = line_add(&c, ch->fee_item, RT_LINE_TRUE_UP);
                if (!t) {
                    rc = fail(&c, BW_ENOMEM, "out of memory");
                    goto fail;
                }
                bw_minor_to_dec(ch->minimum, c.exp, &t->unit_price);
                t->amount = target - charged;
                if (c.num != c.den) {
                    t->prorate_num = c.num;
                    t->prorate_den = c.den;
                }
            }
        }
    }
    rc = apply_discounts(&c, discounts, n_discounts, NULL, &plan_base);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < c.res->n_lines; i++)
        if (__builtin_add_overflow(c.res->total, c.res->lines[i].amount, &c.res->total)) {
            rc = too_big(&c, NULL);
            goto fail;
        }
    *out = c.res;
    return 0;
fail:
    rt_result_destroy(&c.res);
    return rc;
}
