/* Tax profiles and per-line tax (DESIGN.md §4: "tax is computed per line
 * from its tax category"). A profile is a named set of tax categories, each
 * with one fixed-point rate, plus whether catalog prices include tax. Each
 * line is taxed once, rounded half-even to the minor unit, and invoice totals
 * are plain sums of the rounded lines, so an auditor can recompute every
 * invoice from its lines. No floating point anywhere.
 *
 * Profiles live in a static table in tax.c; see the comment there for how to
 * add one. */
#ifndef INV_TAX_H
#define INV_TAX_H

#include <stddef.h>
#include <stdint.h>

/* Rates are parts per million: 13% = 130000, 8.25% = 82500. */
#define INV_TAX_RATE_SCALE 1000000
/* Highest accepted rate (1000%: some excise duties exceed 100%). */
#define INV_TAX_RATE_MAX (10 * INV_TAX_RATE_SCALE)
/* Most categories one profile may define (bounds the tax summary). */
#define INV_TAX_MAX_CATEGORIES 8

typedef enum {
    INV_TAX_MODE_PROFILE = 0, /* use the profile's own mode */
    INV_TAX_EXCLUSIVE,        /* prices exclude tax: tax is added on top */
    INV_TAX_INCLUSIVE,        /* prices include tax: tax is carved out */
} inv_tax_mode_t;

typedef struct {
    const char *name;     /* "standard", "services", "exempt" ... */
    int32_t rate_ppm;
    const char *label_en; /* for documents */
    const char *label_zh;
} inv_tax_category_t;

typedef struct {
    const char *id;               /* "cn-vat-general" */
    const char *description;
    inv_tax_mode_t mode;          /* never INV_TAX_MODE_PROFILE */
    const char *default_category; /* used for a line with no category */
    const inv_tax_category_t *categories;
    size_t ncategories;
} inv_tax_profile_t;

/* One line to tax. The caller fills category and amount_minor (the line
 * amount as priced: net when exclusive, gross when inclusive); inv_tax_compute
 * fills the rest. category NULL or "" means the profile's default. */
typedef struct {
    const char *category;
    int64_t amount_minor;
    int32_t rate_ppm;       /* out */
    int64_t net_minor;      /* out */
    int64_t tax_minor;      /* out */
    const char *category_name; /* out: the resolved name (static storage) */
} inv_tax_line_t;

/* One row of the tax summary: lines grouped by category. */
typedef struct {
    const inv_tax_category_t *category; /* static storage */
    int32_t rate_ppm;
    int64_t base_minor; /* taxable base: sum of the nets */
    int64_t tax_minor;
} inv_tax_summary_t;

typedef struct {
    int64_t subtotal_minor; /* sum of net lines */
    int64_t tax_minor;      /* sum of line taxes */
    int64_t total_minor;    /* subtotal + tax */
    inv_tax_summary_t summary[INV_TAX_MAX_CATEGORIES];
    size_t nsummary;        /* in the profile's category order */
} inv_tax_totals_t;

/* The profile named id, or NULL when there is none. Static storage. */
const inv_tax_profile_t *inv_tax_profile_find(const char *id);
/* Profiles in table order, for listings; NULL past the end. */
const inv_tax_profile_t *inv_tax_profile_at(size_t i);
/* The category of a profile named name (NULL/"": the default); BW_EINVAL
 * with "unknown tax category \"x\" in profile \"p\"" in err otherwise. */
int inv_tax_category_find(const inv_tax_profile_t *p, const char *name,
                          const inv_tax_category_t **out, char *err, size_t errlen);

/* Tax on one amount in minor units, rounded half-even: exclusive gives
 * tax = round(amount * rate), net = amount; inclusive gives
 * net = round(amount / (1 + rate)), tax = amount - net. Negative amounts
 * (discounts, credits) round symmetrically. 0, or BW_EINVAL for a mode or
 * rate out of range or a result that would overflow int64. */
int inv_tax_amount(inv_tax_mode_t mode, int64_t amount_minor, int32_t rate_ppm,
                   int64_t *net_minor, int64_t *tax_minor);

/* Taxes every line under profile p (mode INV_TAX_MODE_PROFILE: the
 * profile's) and fills totals. 0, or BW_EINVAL with a message naming the
 * unknown category / the line that overflows in err. */
int inv_tax_compute(const inv_tax_profile_t *p, inv_tax_mode_t mode, inv_tax_line_t *lines,
                    size_t n, inv_tax_totals_t *totals, char *err, size_t errlen);

/* Writes a rate as a percentage with no trailing zeros: "13%", "8.25%". */
void inv_tax_rate_format(int32_t rate_ppm, char *buf, size_t len);

#endif
