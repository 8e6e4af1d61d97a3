/* Tax profiles and per-line tax. Amounts are int64 minor units and rates are
 * parts per million; the one rounding step is half-even on an exact rational
 * (amount * num / den) computed without a wider integer type, so results are
 * the same on every platform and never pass through a double. */
#include "invoicing/tax.h"
#include "errors.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* --- the profile table ------------------------------------------------------
 * To add a profile: define its categories as a static array below (name,
 * rate in ppm, English and Chinese labels), then add one row to `profiles`
 * with a unique lower-case id, a description, the mode (exclusive when the
 * catalog's prices are net of tax, inclusive when they are gross) and the
 * default category for lines that carry none. Keep at most
 * INV_TAX_MAX_CATEGORIES categories per profile. Rates and ids are part of
 * issued invoices: never change a rate in place, add a new profile (e.g.
 * "cn-vat-general-2027") and move accounts over, so old invoices stay
 * recomputable. tax_test.c checks the table is well formed. */

/* The categories the catalog's fee items name (catalog.example.json):
 * standard, services, telecom, goods, financial, plus reduced and exempt. */
static const inv_tax_category_t cn_vat_general[] = {
    {"standard", 130000, "Standard rate", "标准税率"},
    {"goods", 130000, "Goods", "货物"},
    {"services", 60000, "Services", "现代服务"},
    {"telecom", 60000, "Value-added telecom", "增值电信服务"},
    {"financial", 60000, "Financial services", "金融服务"},
    {"exempt", 0, "Exempt", "免税"},
};

static const inv_tax_category_t cn_vat_small[] = {
    {"standard", 30000, "Simplified rate", "简易征收"},
    {"goods", 30000, "Goods", "货物"},
    {"services", 30000, "Services", "现代服务"},
    {"telecom", 30000, "Telecom", "电信服务"},
    {"financial", 30000, "Financial services", "金融服务"},
    {"exempt", 0, "Exempt", "免税"},
};

static const inv_tax_category_t jp_consumption[] = {
    {"standard", 100000, "Standard rate", "标准税率"},
    {"goods", 100000, "Goods", "货物"},
    {"services", 100000, "Services", "服务"},
    {"telecom", 100000, "Telecom", "电信服务"},
    {"financial", 0, "Non-taxable financial", "非课税金融服务"},
    {"reduced", 80000, "Reduced rate", "轻减税率"},
    {"exempt", 0, "Exempt", "免税"},
};

/* "none" accepts every category name the others use, at 0%, so an account
 * can move to it without recategorising the catalog. */
static const inv_tax_category_t no_tax[] = {
    {"standard", 0, "No tax", "不征税"},
    {"goods", 0, "No tax", "不征税"},
    {"services", 0, "No tax", "不征税"},
    {"telecom", 0, "No tax", "不征税"},
    {"financial", 0, "No tax", "不征税"},
    {"reduced", 0, "No tax", "不征税"},
    {"exempt", 0, "No tax", "不征税"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const inv_tax_profile_t profiles[] = {
    {"cn-vat-general", "China VAT, general taxpayer", INV_TAX_EXCLUSIVE, "standard",
     cn_vat_general, N(cn_vat_general)},
    {"cn-vat-small", "China VAT, small-scale taxpayer", INV_TAX_EXCLUSIVE, "standard",
     cn_vat_small, N(cn_vat_small)},
    {"jp-consumption", "Japan consumption tax", INV_TAX_INCLUSIVE, "standard", jp_consumption,
     N(jp_consumption)},
    {"none", "No tax", INV_TAX_EXCLUSIVE, "standard", no_tax, N(no_tax)},
};

const inv_tax_profile_t *inv_tax_profile_find(const char *id)
{
    if (!id)
        return NULL;
    for (size_t i = 0; i < N(profiles); i++)
        if (strcmp(profiles[i].id, id) == 0)
            return &profiles[i];
    return NULL;
}

const inv_tax_profile_t *inv_tax_profile_at(size_t i)
{
    return i < N(profiles) ? &profiles[i] : NULL;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return BW_EINVAL;
}

int inv_tax_category_find(const inv_tax_profile_t *p, const char *name,
                          const inv_tax_category_t **out, char *err, size_t errlen)
{
    if (!p)
        return fail(err, errlen, "no tax profile");
    if (!name || !*name)
        name = p->default_category;
    for (size_t i = 0; i < p->ncategories; i++) {
        if (strcmp(p->categories[i].name, name) == 0) {
            *out = &p->categories[i];
            return 0;
        }
    }
    return fail(err, errlen, "unknown tax category \"%.64s\" in profile \"%s\"",
                name, p->id);
}

/* round_half_even(a * num / den) for num >= 0 and 0 < den, with
 * num * den < 2^63 so the remainder product cannot overflow. Splitting
 * |a| = q*den + r keeps every intermediate in range: the quotient part
 * q*num only overflows when the result itself would. */
static int mul_div_round(int64_t a, int64_t num, int64_t den, int64_t *out)
{
    bool neg = a < 0;
    uint64_t mag = neg ? (uint64_t)0 - (uint64_t)a : (uint64_t)a;
    uint64_t q = mag / (uint64_t)den, r = mag % (uint64_t)den;
    uint64_t whole, rn = r * (uint64_t)num;
    if (num != 0 && q > (uint64_t)INT64_MAX / (uint64_t)num)
        return BW_EINVAL;
    whole = q * (uint64_t)num + rn / (uint64_t)den;
    uint64_t rem = rn % (uint64_t)den;
    if (2 * rem > (uint64_t)den || (2 * rem == (uint64_t)den && (whole & 1)))
        whole++;
    if (whole > (uint64_t)INT64_MAX)
        return BW_EINVAL;
    *out = neg ? -(int64_t)whole : (int64_t)whole;
    return 0;
}

int inv_tax_amount(inv_tax_mode_t mode, int64_t amount_minor, int32_t rate_ppm,
                   int64_t *net_minor, int64_t *tax_minor)
{
    int64_t net, tax;
    if (rate_ppm < 0 || rate_ppm > INV_TAX_RATE_MAX || amount_minor == INT64_MIN)
        return BW_EINVAL;
    if (mode == INV_TAX_EXCLUSIVE) {
        net = amount_minor;
        if (mul_div_round(amount_minor, rate_ppm, INV_TAX_RATE_SCALE, &tax) < 0)
            return BW_EINVAL;
        /* net + tax must fit too: the invoice total is built from it. */
        if ((net > 0 && tax > INT64_MAX - net) || (net < 0 && tax < -INT64_MAX - net))
            return BW_EINVAL;
    } else if (mode == INV_TAX_INCLUSIVE) {
        if (mul_div_round(amount_minor, INV_TAX_RATE_SCALE,
                          (int64_t)INV_TAX_RATE_SCALE + rate_ppm, &net) < 0)
            return BW_EINVAL;
        tax = amount_minor - net; /* same sign, |net| <= |amount|: no overflow */
    } else {
        return BW_EINVAL;
    }
    *net_minor = net;
    *tax_minor = tax;
    return 0;
}

static int add(int64_t *acc, int64_t v)
{
    if ((v > 0 && *acc > INT64_MAX - v) || (v < 0 && *acc < -INT64_MAX - v))
        return BW_EINVAL;
    *acc += v;
    return 0;
}

int inv_tax_compute(const inv_tax_profile_t *p, inv_tax_mode_t mode, inv_tax_line_t *lines,
                    size_t n, inv_tax_totals_t *totals, char *err, size_t errlen)
{
    int rc;
    memset(totals, 0, sizeof *totals);
    if (!p)
        return fail(err, errlen, "no tax profile");
    if (mode == INV_TAX_MODE_PROFILE)
        mode = p->mode;
    /* Per category index: where its summary row is, -1 before first use. */
    int slot[INV_TAX_MAX_CATEGORIES];
    bool used[INV_TAX_MAX_CATEGORIES] = {false};
    if (p->ncategories > INV_TAX_MAX_CATEGORIES)
        return fail(err, errlen, "tax profile \"%s\" has too many categories", p->id);

    for (size_t i = 0; i < n; i++) {
        const inv_tax_category_t *c;
        if ((rc = inv_tax_category_find(p, lines[i].category, &c, err, errlen)) < 0)
            goto fail;
        lines[i].category_name = c->name;
        lines[i].rate_ppm = c->rate_ppm;
        if (inv_tax_amount(mode, lines[i].amount_minor, c->rate_ppm, &lines[i].net_minor,
                           &lines[i].tax_minor) < 0) {
            rc = fail(err, errlen, "line %zu: amount out of range", i + 1);
            goto fail;
        }
        used[c - p->categories] = true;
    }
    /* Summary rows in the profile's order, so two invoices list categories
     * the same way whatever order their lines came in. */
    for (size_t k = 0; k < p->ncategories; k++) {
        slot[k] = -1;
        if (!used[k])
            continue;
        slot[k] = (int)totals->nsummary;
        inv_tax_summary_t *s = &totals->summary[totals->nsummary++];
        s->category = &p->categories[k];
        s->rate_ppm = p->categories[k].rate_ppm;
    }
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (strcmp(p->categories[k].name, lines[i].category_name) != 0)
            k++;
        inv_tax_summary_t *s = &totals->summary[slot[k]];
        if (add(&s->base_minor, lines[i].net_minor) < 0 ||
            add(&s->tax_minor, lines[i].tax_minor) < 0 ||
            add(&totals->subtotal_minor, lines[i].net_minor) < 0 ||
            add(&totals->tax_minor, lines[i].tax_minor) < 0) {
            rc = fail(err, errlen, "invoice totals out of range");
            goto fail;
        }
    }
    totals->total_minor = totals->subtotal_minor;
    if (add(&totals->total_minor, totals->tax_minor) < 0) {
        rc = fail(err, errlen, "invoice totals out of range");
        goto fail;
    }
    return 0;
fail:
    memset(totals, 0, sizeof *totals);
    return rc;
}

void inv_tax_rate_format(int32_t rate_ppm, char *buf, size_t len)
{
    if (!len)
        return;
    if (rate_ppm < 0) {
        snprintf(buf, len, "?");
        return;
    }
    int32_t whole = rate_ppm / 10000, frac = rate_ppm % 10000;
    if (frac == 0) {
        snprintf(buf, len, "%d%%", (int)whole);
        return;
    }
    char f[8];
    snprintf(f, sizeof f, "%04d", (int)frac);
    for (size_t e = strlen(f); e > 0 && f[e - 1] == '0'; e--)
        f[e - 1] = '\0';
    snprintf(buf, len, "%d.%s%%", (int)whole, f);
}
