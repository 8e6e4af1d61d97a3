/* The published fee schedule ([catalog], DESIGN.md §1): a JSON document
 * parsed and validated as a whole into the structs pricing.h rates with.
 * The first problem found is reported with its JSON path and field, e.g.
 * "plans[0].versions[1].charges[2].tiers[1].up_to: must be greater than 100".
 *
 * Format. Decimal numbers are JSON strings ("12.50", up to 9 decimals; plain
 * JSON integers are accepted too, floating-point literals never). Money
 * amounts ("minimum", a discount's "amount") may have no more decimals than
 * their currency (CNY 2, JPY 0). Dates are "YYYY-MM-DD". Codes are 1-63
 * letters, digits, '_', '-' or '.'. Names are {"zh-CN": "...", "en": "..."}.
 * Unknown fields are errors, so a typo never silently changes a price.
 *
 *   {
 *     "description": "optional free text",
 *     "settings": {                                  (optional; defaults shown)
 *       "proration":   "actual_days" | "30_day_month",      actual_days
 *       "rounding":    "half_even"   | "half_up",           half_even
 *       "tier_bounds": "inclusive"   | "exclusive"          inclusive
 *     },
 *     "fee_items": [ { "code": "SEATS", "name": {...},
 *         "service_type": "subscription" | "usage" | "one_time" | "consulting"
 *                         | "repair" | "after_sales",
 *         "unit": "seat", "tax_category": "standard" } ],
 *     "customer_tiers": [ { "code": "gold", "name": {...} } ],
 *     "plans": [ { "code": "SAAS_PRO", "name": {...},
 *         "billing_cycle": "monthly" | "quarterly" | "annual",
 *         "versions": [ {                    (a complete price list; the one
 *           "effective_from": "2026-01-01",   in force is the latest version
 *           "currency": "CNY",                 of the account's currency)
 *           "charges": [ {
 *             "fee_item": "API_CALLS",          (each fee item once a version)
 *             "model": "flat" | "per_unit" | "graduated" | "volume"
 *                      | "stairstep" | "package" | "percentage",
 *             ...the model's price fields:
 *               flat        "price"
 *               per_unit    "unit_price"
 *               graduated,  "tiers": [ {"up_to": "1000", "unit_price": "0.01",
 *               volume                  "flat_fee": "5"}, ...,
 *                                      {"up_to": null, "unit_price": "0.005"} ]
 *               stairstep   "tiers": [ {"up_to": "10", "price": "100"}, ...,
 *                                      {"up_to": null, "price": "900"} ]
 *               package     "package_size": "100", "package_price": "5.00"
 *               percentage  "percent": "0.6", "fixed_fee": "0.30",
 *                           "min_fee": "1.00", "max_fee": "50.00"
 *                           (fixed/min/max optional, per transaction)
 *             "setup_fee": "500.00",    (optional, once, when a subscription starts)
 *             "free_units": "1000",     (optional; not for flat or percentage)
 *             "minimum": "100.00",      (optional commitment per period)
 *             "prorate": true,          (optional; default true for flat only)
 *             "overrides": { "gold": { ...price fields... } }
 *                  (optional; per customer tier; fields left out keep the
 *                   list price; "tiers" replaces the whole list)
 *           } ] } ] } ],
 *     "discounts": [ { "code": "NEW10", "name": {...},
 *         "kind": "new_customer" | "loyal" | "volume" | "coupon",
 *         "percent": "10"  or  "amount": {"CNY": "50.00", "JPY": "800"},
 *         "fee_item": "SEATS",        (optional: per item; absent: whole plan)
 *         "plans": ["SAAS_PRO"],      (optional: only these plans)
 *         kind new_customer: "first_periods": 3     (periods 1..3)
 *         kind loyal:        "after_periods": 12    (periods 13, 14, ...)
 *         kind volume:       "min_quantity": "100000" (fee_item required)
 *         kind coupon:       "coupon": {"code": "WELCOME2026",
 *                              "valid_from": "2026-01-01", "valid_to": "2026-12-31",
 *                              "max_redemptions": 500}   (dates inclusive;
 *                              max_redemptions optional, counted by the service)
 *     } ]
 *   }
 *
 * Why overrides live inside a charge rather than with the customer tier: a
 * tier's price must change together with the list price it overrides, so it
 * belongs to the same price version. See pricing.h for how models,
 * proration, rounding, bounds and discounts (and their stacking order) work.
 * services/rating/catalog.example.json is a complete example. */
#ifndef RT_CATALOG_H
#define RT_CATALOG_H

#include <stddef.h>
#include <stdint.h>

#include "rating/pricing.h"

typedef struct {
    const char *zh_cn;
    const char *en;
} rt_names_t;

typedef enum {
    RT_SVC_SUBSCRIPTION = 0,
    RT_SVC_USAGE,
    RT_SVC_ONE_TIME,
    RT_SVC_CONSULTING,
    RT_SVC_REPAIR,
    RT_SVC_AFTER_SALES,
} rt_service_type_t;

typedef enum { RT_CYCLE_MONTHLY = 0, RT_CYCLE_QUARTERLY, RT_CYCLE_ANNUAL } rt_cycle_t;

typedef struct {
    const char *code;
    rt_names_t name;
    rt_service_type_t service_type;
    const char *unit;
    const char *tax_category;
} rt_fee_item_t;

typedef struct {
    const char *code;
    rt_names_t name;
} rt_customer_tier_t;

typedef struct {
    const char *code;
    rt_names_t name;
    rt_cycle_t cycle;
    const rt_price_version_t *versions; /* in document order */
    size_t n_versions;
} rt_plan_t;

/* Read-only after parsing; everything is owned by the catalog and lives
 * until rt_catalog_destroy. */
typedef struct rt_catalog {
    rt_settings_t settings;
    const rt_fee_item_t *fee_items;
    size_t n_fee_items;
    const rt_customer_tier_t *tiers;
    size_t n_tiers;
    const rt_plan_t *plans;
    size_t n_plans;
    const rt_discount_t *discounts; /* pass straight to rt_rate */
    const rt_names_t *discount_names; /* parallel to discounts */
    size_t n_discounts;
    struct bw_arena *arena; /* private: owns all of the above */
} rt_catalog_t;

/* Parses and validates a whole catalog document. Returns a new catalog the
 * caller destroys, or NULL with "path.field: problem" in err (or "out of
 * memory"). */
rt_catalog_t *rt_catalog_new_from_json(const char *text, char *err, size_t errlen);
/* Same, reading the document from a file (err names the file on I/O errors). */
rt_catalog_t *rt_catalog_new_from_file(const char *path, char *err, size_t errlen);
void rt_catalog_destroy(rt_catalog_t **pc);

/* Lookups by code; NULL when absent. Pointers live as long as the catalog. */
const rt_plan_t *rt_catalog_plan(const rt_catalog_t *c, const char *code);
const rt_fee_item_t *rt_catalog_fee_item(const rt_catalog_t *c, const char *code);
const rt_customer_tier_t *rt_catalog_tier(const rt_catalog_t *c, const char *code);
const rt_discount_t *rt_catalog_discount(const rt_catalog_t *c, const char *code);
/* The version of plan p in force on `day` (days since 1970-01-01) in
 * `currency`: the latest effective_from <= day. NULL when none is. */
const rt_price_version_t *rt_plan_version_at(const rt_plan_t *p, const char *currency,
                                             int64_t day);

const char *rt_service_type_name(rt_service_type_t t);
const char *rt_cycle_name(rt_cycle_t c);

#endif
