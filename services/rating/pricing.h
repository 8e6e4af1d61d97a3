/* The pure pricing engine of the rating service: given one price version of
 * a plan (its charges), the catalog's discounts and settings, and what an
 * account used in a period, it computes the rated lines of that period. No
 * database, no sockets, no clock, no floating point: the same input always
 * gives the same lines, so any invoice can be recomputed and explained.
 *
 * Models (rt_model_t), with q = the quantity after free units:
 *   flat        one fee per period (quantity ignored), prorated by default.
 *   per_unit    q * unit_price.
 *   graduated   each tier prices the units that fall in it; a tier that is
 *               reached adds its flat_fee once.
 *   volume      all q units at the unit price of the tier q falls in, plus
 *               that tier's flat_fee.
 *   stairstep   the flat_fee of the tier q falls in (one price per range).
 *   package     ceil(q / package_size) blocks at package_price each.
 *   percentage  per transaction: amount * percent / 100 + fixed_fee, then
 *               clamped to [min_fee, max_fee]; the line sums transactions.
 * Any charge may add a setup_fee (a one-time "setup" line when the input
 * says the subscription starts in this period), free_units (deducted from
 * the quantity before pricing) and a minimum commitment (a "true_up" line
 * for the shortfall when the charge line comes to less).
 *
 * Tier bounds: tier i covers (up_to[i-1], up_to[i]] when bounds are
 * inclusive (the default: "up_to 100" includes 100) and [up_to[i-1],
 * up_to[i]) when exclusive; the first tier starts at 0 and the last is
 * unbounded. Graduated units are allocated continuously, so the setting only
 * decides which tier a quantity exactly on a bound falls in (volume,
 * stairstep) or reaches (graduated: whether the next tier's flat_fee is
 * due). A quantity of zero prices to zero in every usage model: no tier
 * is reached and no flat fee is charged (a minimum commitment still applies).
 *
 * Proration (rt_prorate): a charge with prorate set is multiplied by
 * active/period. Basis actual_days (default): days active in the period over
 * days in the period. Basis 30_day_month: every month counts 30 days, so the
 * denominator is 30 * whole months in the period (30 when the period is
 * shorter than a month) and the numerator the active days, capped at the
 * denominator; a period covered entirely is always 1/1. Minimum commitments
 * are prorated by the same fraction.
 *
 * Rounding: each line is rounded once to minor units of the version's
 * currency (half-even by default, half-up when set); tier amounts in a
 * breakdown are shown unrounded (to 9 decimals) and the total is the sum of
 * the rounded lines.
 *
 * Discounts stack in this order, each on the running amount, never below
 * zero, each producing its own (negative) "discount" line:
 *   1. per fee item (discount names a fee_item): applied to that item's
 *      charge or proration line; first every percentage discount, then every
 *      fixed-amount discount, each group in catalog order;
 *   2. plan-wide (no fee_item): applied to the sum of all charge and
 *      proration lines after step 1; again percentages first, then fixed.
 * Setup fees and true-up lines are never discounted: a one-time fee is not
 * a period's price, and a commitment is measured on the undiscounted charge
 * line. A percentage is computed on the running amount in minor units and
 * rounded once, so 10% then 5% of 1000.00 is 100.00 then 45.00. A
 * discount that comes to zero (nothing left to discount, or a percentage
 * that rounds to 0) adds no line.
 * When a discount applies: new_customer while period_number <= periods;
 * loyal once period_number > periods; volume when the raw quantity of its
 * fee_item (before free units) is >= min_quantity; coupon when the input
 * lists its coupon code as redeemable (the service counts redemptions) and
 * the period start lies within [valid_from, valid_to] (both inclusive).
 * A discount limited to plans applies only to those plans; a fixed-amount
 * discount applies only in a currency it has an amount for. */
#ifndef RT_PRICING_H
#define RT_PRICING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"

#define RT_CODE_MAX 64  /* codes are at most 63 bytes */
#define RT_MAX_TIERS 32

typedef enum {
    RT_MODEL_FLAT = 0,
    RT_MODEL_PER_UNIT,
    RT_MODEL_GRADUATED,
    RT_MODEL_VOLUME,
    RT_MODEL_STAIRSTEP,
    RT_MODEL_PACKAGE,
    RT_MODEL_PERCENTAGE,
} rt_model_t;

typedef enum { RT_PRORATE_ACTUAL_DAYS = 0, RT_PRORATE_30_DAY_MONTH } rt_proration_t;
typedef enum { RT_BOUNDS_INCLUSIVE = 0, RT_BOUNDS_EXCLUSIVE } rt_tier_bounds_t;

/* Catalog-wide conventions; all-zero is the documented default. */
typedef struct {
    rt_proration_t proration; /* actual_days */
    bw_rounding_t rounding;   /* half_even */
    rt_tier_bounds_t tier_bounds; /* inclusive */
} rt_settings_t;

typedef struct {
    bool unbounded;      /* the last tier */
    bw_dec_t up_to;
    bw_dec_t unit_price; /* graduated, volume */
    bw_dec_t flat_fee;   /* graduated, volume (optional); stairstep: the price */
} rt_tier_t;

/* The price part of a charge: what a customer tier may override. */
typedef struct {
    bw_dec_t amount;     /* flat: the fee; package: package_price */
    bw_dec_t unit_price; /* per_unit */
    const rt_tier_t *tiers;
    size_t n_tiers;
    bw_dec_t package_size;
    bw_dec_t percent;    /* percentage: 2.5 means 2.5% */
    bw_dec_t fixed_fee;  /* per transaction */
    bool has_min, has_max;
    bw_dec_t min_fee, max_fee; /* per transaction */
} rt_price_t;

typedef struct {
    const char *tier; /* customer tier code, e.g. "gold" */
    rt_price_t price;
} rt_override_t;

typedef struct {
    const char *fee_item;
    rt_model_t model;
    rt_price_t price;
    bool prorate;        /* multiply by the active fraction of the period */
    bw_dec_t setup_fee;  /* 0: none */
    bw_dec_t free_units;
    bool has_minimum;
    int64_t minimum;     /* minor units of the version's currency, per period */
    const rt_override_t *overrides;
    size_t n_overrides;
} rt_charge_t;

/* One price version of a plan: complete prices in one currency, in force
 * from effective_from (days since 1970-01-01). */
typedef struct {
    const char *plan;    /* plan code */
    char currency[4];
    int64_t effective_from;
    const rt_charge_t *charges;
    size_t n_charges;
} rt_price_version_t;

typedef enum {
    RT_DISC_NEW_CUSTOMER = 0,
    RT_DISC_LOYAL,
    RT_DISC_VOLUME,
    RT_DISC_COUPON,
} rt_discount_kind_t;

typedef struct {
    char currency[4];
    int64_t minor;
} rt_amount_t;

typedef struct {
    const char *code;
    rt_discount_kind_t kind;
    bool is_percent;
    bw_dec_t percent;            /* 0 < percent <= 100 */
    const rt_amount_t *amounts;  /* fixed amount per currency */
    size_t n_amounts;
    const char *fee_item;        /* NULL: plan-wide */
    const char *const *plans;    /* limited to these plans; n_plans 0: all */
    size_t n_plans;
    int periods;                 /* new_customer: first N; loyal: after N */
    bw_dec_t min_quantity;       /* volume */
    const char *coupon;          /* coupon code */
    int64_t valid_from, valid_to; /* coupon, days, both inclusive */
    int64_t max_redemptions;     /* coupon, 0: unlimited; the service counts */
} rt_discount_t;

typedef struct {
    const char *fee_item;
    bw_dec_t quantity;              /* raw usage (or seats) in the period */
    const bw_dec_t *transactions;   /* percentage: amounts in major units */
    size_t n_transactions;
} rt_usage_t;

typedef struct {
    const char *code;
    bool redeemable; /* the service checked redemption limits */
} rt_coupon_input_t;

typedef struct {
    const char *customer_tier;       /* NULL: list prices */
    int64_t period_start, period_end; /* days, half-open */
    int64_t active_start, active_end; /* the subscription, clipped to the period */
    int period_number;               /* 1: the customer's first billed period */
    bool include_setup;              /* the subscription starts in this period */
    const rt_usage_t *usage;
    size_t n_usage;
    const rt_coupon_input_t *coupons;
    size_t n_coupons;
} rt_rate_input_t;

typedef enum {
    RT_LINE_CHARGE = 0,
    RT_LINE_SETUP,
    RT_LINE_PRORATION,
    RT_LINE_DISCOUNT,
    RT_LINE_TRUE_UP,
} rt_line_kind_t;

typedef struct {
    bw_dec_t from, to; /* to is meaningless when unbounded */
    bool unbounded;
    bw_dec_t quantity;
    bw_dec_t unit_price;
    bw_dec_t flat_fee;
    bw_dec_t amount;   /* quantity * unit_price + flat_fee, unrounded */
} rt_tier_line_t;

typedef struct {
    char fee_item[RT_CODE_MAX]; /* "" for a plan-wide discount */
    rt_line_kind_t kind;
    bw_dec_t quantity;   /* billed quantity (after free units); 1 for fees */
    bw_dec_t unit_price; /* percentage and percent discounts: the rate (0.025) */
    int64_t amount;      /* minor units, rounded once; discounts negative */
    bw_dec_t free_units; /* deducted before pricing */
    int64_t prorate_num, prorate_den; /* 0/0 when not prorated */
    int64_t packages;    /* package: blocks billed */
    size_t n_transactions;
    char discount[RT_CODE_MAX]; /* discount lines: the discount's code */
    size_t n_tiers;
    rt_tier_line_t tiers[RT_MAX_TIERS];
} rt_line_t;

typedef struct {
    char currency[4];
    rt_line_t *lines;
    size_t n_lines;
    size_t cap;
    int64_t total; /* sum of the lines */
} rt_result_t;

/* The documented defaults: actual days, half-even, inclusive bounds. */
rt_settings_t rt_settings_default(void);

/* The active fraction num/den of the period [period_start, period_end) for
 * activity [active_start, active_end) (days since 1970-01-01). Returns 0, or
 * BW_EINVAL when either range is empty or reversed. No overlap gives 0/den;
 * full coverage gives 1/1. */
int rt_prorate(rt_proration_t basis, int64_t period_start, int64_t period_end,
               int64_t active_start, int64_t active_end, int64_t *num, int64_t *den);

/* Rates one period. Discounts are the catalog's (those that do not apply
 * are skipped). On success *out is a new result the caller frees with
 * rt_result_destroy. Returns 0, BW_EINVAL (bad input: message in err),
 * BW_ETOOBIG (an amount overflows) or BW_ENOMEM. */
int rt_rate(const rt_price_version_t *pv, const rt_discount_t *discounts, size_t n_discounts,
            const rt_settings_t *settings, const rt_rate_input_t *in, rt_result_t **out,
            char *err, size_t errlen);
void rt_result_destroy(rt_result_t **pr);

/* The price a customer tier pays for a charge: its override, or the list
 * price when the tier has none (tier may be NULL). */
const rt_price_t *rt_charge_price(const rt_charge_t *c, const char *tier);

/* Names for logs, JSON and the catalog format ("graduated", "true_up"). */
const char *rt_model_name(rt_model_t m);
const char *rt_line_kind_name(rt_line_kind_t k);
const char *rt_discount_kind_name(rt_discount_kind_t k);

#endif
