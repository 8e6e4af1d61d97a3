/* Catalog parsing and validation (format in catalog.h). The parser walks the
 * json-c tree once, keeping the JSON path of the node in hand so that any
 * problem can be reported as "path.field: message"; references between
 * sections (fee items, customer tiers, plans) are checked against what was
 * parsed before, which is why sections are read in a fixed order. All
 * memory comes from one arena owned by the catalog, so a failure half-way
 * leaks nothing and destroy is one call. */
#include "rating/catalog.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "clock.h"
#include "errors.h"

#define MAX_DOC (16 * 1024 * 1024)

typedef struct {
    bw_arena_t *a;
    rt_catalog_t *cat;
    char path[512];
    size_t plen;
    char *err;
    size_t errlen;
    bool failed;
    const char *currency; /* of the version being parsed */
} pc_t;

static const char *const service_names[] = {"subscription", "usage",  "one_time",
                                            "consulting",   "repair", "after_sales"};
static const char *const cycle_names[] = {"monthly", "quarterly", "annual"};
static const char *const model_names[] = {"flat",      "per_unit", "graduated", "volume",
                                          "stairstep", "package",  "percentage"};
static const char *const kind_names[] = {"new_customer", "loyal", "volume", "coupon"};
static const char *const proration_names[] = {"actual_days", "30_day_month"};
static const char *const rounding_names[] = {"half_even", "half_up"};
static const char *const bounds_names[] = {"inclusive", "exclusive"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *rt_service_type_name(rt_service_type_t t)
{
    return (unsigned)t < COUNT(service_names) ? service_names[t] : "?";
}

const char *rt_cycle_name(rt_cycle_t c)
{
    return (unsigned)c < COUNT(cycle_names) ? cycle_names[c] : "?";
}

/* --- paths and errors ------------------------------------------------------ */

static size_t push_key(pc_t *p, const char *key)
{
    size_t old = p->plen;
    int n = snprintf(p->path + p->plen, sizeof p->path - p->plen, "%s%s", p->plen ? "." : "",
                     key);
    if (n > 0)
        p->plen += (size_t)n < sizeof p->path - p->plen ? (size_t)n : sizeof p->path - p->plen - 1;
    return old;
}

static size_t push_index(pc_t *p, size_t i)
{
    size_t old = p->plen;
    int n = snprintf(p->path + p->plen, sizeof p->path - p->plen, "[%zu]", i);
    if (n > 0)
        p->plen += (size_t)n < sizeof p->path - p->plen ? (size_t)n : sizeof p->path - p->plen - 1;
    return old;
}

static void pop(pc_t *p, size_t len)
{
    p->plen = len;
    p->path[len] = '\0';
}

/* Reports "path.field: message" (field may be NULL) and returns BW_EINVAL.
 * Only the first error is kept. */
__attribute__((format(printf, 3, 4))) static int fail(pc_t *p, const char *field,
                                                      const char *fmt, ...)
{
    if (p->failed)
        return BW_EINVAL;
    p->failed = true;
    if (!p->err || !p->errlen)
        return BW_EINVAL;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->plen && field)
        snprintf(p->err, p->errlen, "%s.%s: %s", p->path, field, msg);
    else if (p->plen || field)
        snprintf(p->err, p->errlen, "%s: %s", p->plen ? p->path : field, msg);
    else
        snprintf(p->err, p->errlen, "(root): %s", msg);
    return BW_EINVAL;
}

static int oom(pc_t *p)
{
    if (!p->failed && p->err && p->errlen)
        snprintf(p->err, p->errlen, "out of memory");
    p->failed = true;
    return BW_ENOMEM;
}

static void *alloc(pc_t *p, size_t n, size_t size)
{
    if (n == 0)
        n = 1;
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *m = bw_arena_alloc(p->a, n * size);
    if (m)
        memset(m, 0, n * size);
    return m;
}

/* --- typed field readers ---------------------------------------------------- */

static bool in_list(const char *key, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(key, *list) == 0)
            return true;
    return false;
}

/* Rejects keys outside `allowed`; keys in `other` (fields of other models or
 * kinds) get "not used by <what>". */
static int check_keys(pc_t *p, json_object *o, const char *const *allowed,
                      const char *const *other, const char *what)
{
    json_object_object_foreach(o, key, val)
    {
        (void)val;
        if (in_list(key, allowed))
            continue;
        if (other && in_list(key, other))
            return fail(p, key, "not used by %s", what);
        return fail(p, key, "unknown field");
    }
    return 0;
}

static const char *type_word(json_type t)
{
    switch (t) {
    case json_type_array:
        return "an array";
    case json_type_object:
        return "an object";
    case json_type_string:
        return "a string";
    case json_type_boolean:
        return "true or false";
    default:
        return "a value";
    }
}

/* The member `key` of o checked for type t; *v NULL when absent or null. */
static int member(pc_t *p, json_object *o, const char *key, json_type t, bool required,
                  json_object **v)
{
    *v = NULL;
    json_object *m = NULL;
    if (!json_object_object_get_ex(o, key, &m) || !m) {
        if (required)
            return fail(p, key, "is required");
        return 0;
    }
    if (!json_object_is_type(m, t))
        return fail(p, key, "must be %s", type_word(t));
    *v = m;
    return 0;
}

static int read_string(pc_t *p, json_object *o, const char *key, bool required, const char **out)
{
    json_object *v;
    int rc = member(p, o, key, json_type_string, required, &v);
    if (rc < 0 || !v)
        return rc;
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (n == 0)
        return fail(p, key, "must not be empty");
    if (strlen(s) != n)
        return fail(p, key, "must not contain NUL characters");
    if (n > 1000)
        return fail(p, key, "is too long (max 1000 bytes)");
    *out = bw_arena_strdup(p->a, s);
    return *out ? 0 : oom(p);
}

static int read_code(pc_t *p, json_object *o, const char *key, bool required, const char **out)
{
    const char *s = NULL;
    int rc = read_string(p, o, key, required, &s);
    if (rc < 0 || !s)
        return rc;
    size_t n = strlen(s);
    bool ok = n < RT_CODE_MAX;
    for (size_t i = 0; ok && i < n; i++) {
        char c = s[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-' || c == '.';
    }
    if (!ok)
        return fail(p, key, "must be 1 to %d letters, digits, '_', '-' or '.'", RT_CODE_MAX - 1);
    *out = s;
    return 0;
}

/* A decimal from a JSON string or integer; *present says whether given. */
static int read_dec(pc_t *p, json_object *o, const char *key, bool required, bw_dec_t *out,
                    bool *present)
{
    json_object *m = NULL;
    if (present)
        *present = false;
    if (!json_object_object_get_ex(o, key, &m) || !m)
        return required ? fail(p, key, "is required") : 0;
    if (json_object_is_type(m, json_type_int)) {
        errno = 0;
        int64_t i = json_object_get_int64(m);
        if (errno || __builtin_mul_overflow(i, BW_DEC_SCALE, out))
            return fail(p, key, "out of range");
    } else if (json_object_is_type(m, json_type_double)) {
        return fail(p, key,
                    "must be a string such as \"12.50\" (floating-point numbers are not accepted)");
    } else if (json_object_is_type(m, json_type_string)) {
        char why[64] = "not a decimal number";
        if (bw_dec_parse(json_object_get_string(m), out, why, sizeof why) < 0 ||
            strlen(json_object_get_string(m)) != (size_t)json_object_get_string_len(m))
            return fail(p, key, "%s", why);
    } else {
        return fail(p, key, "must be a decimal number in a string, e.g. \"12.50\"");
    }
    if (present)
        *present = true;
    return 0;
}

static int read_dec_min(pc_t *p, json_object *o, const char *key, bool required, bool positive,
                        bw_dec_t *out, bool *present)
{
    bw_dec_t v = 0;
    bool have = false;
    int rc = read_dec(p, o, key, required, &v, &have);
    if (rc < 0)
        return rc;
    if (present)
        *present = have;
    if (!have)
        return 0;
    if (positive ? v <= 0 : v < 0)
        return fail(p, key, positive ? "must be greater than 0" : "must not be negative");
    *out = v;
    return 0;
}

/* A money amount in `currency`, given as a string or integer. */
static int read_money(pc_t *p, json_object *o, const char *key, const char *currency,
                      int64_t *out, bool *present)
{
    json_object *m = NULL;
    *present = false;
    if (!json_object_object_get_ex(o, key, &m) || !m)
        return 0;
    char buf[32];
    const char *s;
    if (json_object_is_type(m, json_type_int)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_object_get_int64(m));
        s = buf;
    } else if (json_object_is_type(m, json_type_string)) {
        s = json_object_get_string(m);
        if (strlen(s) != (size_t)json_object_get_string_len(m))
            return fail(p, key, "not a decimal number");
    } else if (json_object_is_type(m, json_type_double)) {
        return fail(p, key,
                    "must be a string such as \"12.50\" (floating-point numbers are not accepted)");
    } else {
        return fail(p, key, "must be an amount in a string, e.g. \"12.50\"");
    }
    char why[96];
    if (bw_money_parse(s, currency, out, why, sizeof why) < 0)
        return fail(p, key, "%s", why);
    if (*out < 0)
        return fail(p, key, "must not be negative");
    *present = true;
    return 0;
}

static int read_date(pc_t *p, json_object *o, const char *key, bool required, int64_t *out)
{
    const char *s = NULL;
    int rc = read_string(p, o, key, required, &s);
    if (rc < 0 || !s)
        return rc;
    if (bw_date_parse(s, out) < 0)
        return fail(p, key, "must be a date YYYY-MM-DD");
    return 0;
}

static int read_int(pc_t *p, json_object *o, const char *key, bool required, int64_t min,
                    int64_t max, int64_t *out)
{
    json_object *m = NULL;
    if (!json_object_object_get_ex(o, key, &m) || !m)
        return required ? fail(p, key, "is required") : 0;
    if (!json_object_is_type(m, json_type_int))
        return fail(p, key, "must be a whole number");
    errno = 0;
    int64_t v = json_object_get_int64(m);
    if (errno || v < min || v > max)
        return fail(p, key, "must be between %lld and %lld", (long long)min, (long long)max);
    *out = v;
    return 0;
}

static int read_enum(pc_t *p, json_object *o, const char *key, bool required,
                     const char *const *names, size_t n, int *out)
{
    const char *s = NULL;
    json_object *m = NULL;
    if (json_object_object_get_ex(o, key, &m) && m && !json_object_is_type(m, json_type_string))
        goto bad;
    int rc = read_string(p, o, key, required, &s);
    if (rc < 0 || !s)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
bad:;
    char list[256] = "";
    size_t len = 0;
    for (size_t i = 0; i < n && len < sizeof list; i++) {
        int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    return fail(p, key, "must be one of %s", list);
}

static int read_names(pc_t *p, json_object *o, const char *key, rt_names_t *out)
{
    json_object *v;
    int rc = member(p, o, key, json_type_object, true, &v);
    if (rc < 0)
        return rc;
    size_t old = push_key(p, key);
    static const char *const keys[] = {"zh-CN", "en", NULL};
    rc = check_keys(p, v, keys, NULL, NULL);
    if (rc == 0)
        rc = read_string(p, v, "zh-CN", true, &out->zh_cn);
    if (rc == 0)
        rc = read_string(p, v, "en", true, &out->en);
    pop(p, old);
    return rc;
}

/* An array member; *n 0 and *arr NULL when absent and not required. */
static int read_array(pc_t *p, json_object *o, const char *key, bool required, bool nonempty,
                      json_object **arr, size_t *n)
{
    int rc = member(p, o, key, json_type_array, required, arr);
    if (rc < 0)
        return rc;
    *n = *arr ? json_object_array_length(*arr) : 0;
    if (*arr && nonempty && *n == 0)
        return fail(p, key, "must not be empty");
    return 0;
}

/* The element i of arr as an object, with the path pushed (caller pops). */
static int element(pc_t *p, json_object *arr, size_t i, json_object **el)
{
    push_index(p, i);
    *el = json_object_array_get_idx(arr, i);
    if (!*el || !json_object_is_type(*el, json_type_object))
        return fail(p, NULL, "must be an object");
    return 0;
}

/* --- sections ---------------------------------------------------------------- */

static int parse_settings(pc_t *p, json_object *root)
{
    json_object *s;
    int rc = member(p, root, "settings", json_type_object, false, &s);
    if (rc < 0 || !s)
        return rc;
    size_t old = push_key(p, "settings");
    static const char *const keys[] = {"proration", "rounding", "tier_bounds", NULL};
    int v;
    rt_settings_t *set = &p->cat->settings;
    rc = check_keys(p, s, keys, NULL, NULL);
    if (rc == 0 && (v = (int)set->proration,
                    (rc = read_enum(p, s, "proration", false, proration_names,
                                    COUNT(proration_names), &v)) == 0))
        set->proration = (rt_proration_t)v;
    if (rc == 0 && (v = (int)set->rounding,
                    (rc = read_enum(p, s, "rounding", false, rounding_names,
                                    COUNT(rounding_names), &v)) == 0))
        set->rounding = (bw_rounding_t)v;
    if (rc == 0 && (v = (int)set->tier_bounds,
                    (rc = read_enum(p, s, "tier_bounds", false, bounds_names, COUNT(bounds_names),
                                    &v)) == 0))
        set->tier_bounds = (rt_tier_bounds_t)v;
    pop(p, old);
    return rc;
}

static int parse_fee_items(pc_t *p, json_object *root)
{
    json_object *arr;
    size_t n;
    int rc = read_array(p, root, "fee_items", true, true, &arr, &n);
    if (rc < 0)
        return rc;
    rt_fee_item_t *items = alloc(p, n, sizeof *items);
    if (!items)
        return oom(p);
    size_t old = push_key(p, "fee_items");
    static const char *const keys[] = {"code", "name", "service_type", "unit", "tax_category",
                                       NULL};
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *o;
        size_t at = p->plen;
        rt_fee_item_t *f = &items[i];
        int st = 0;
        if ((rc = element(p, arr, i, &o)) < 0 || (rc = check_keys(p, o, keys, NULL, NULL)) < 0 ||
            (rc = read_code(p, o, "code", true, &f->code)) < 0 ||
            (rc = read_names(p, o, "name", &f->name)) < 0 ||
            (rc = read_enum(p, o, "service_type", true, service_names, COUNT(service_names),
                            &st)) < 0 ||
            (rc = read_string(p, o, "unit", true, &f->unit)) < 0 ||
            (rc = read_code(p, o, "tax_category", true, &f->tax_category)) < 0)
            break;
        f->service_type = (rt_service_type_t)st;
        for (size_t j = 0; j < i; j++)
            if (strcmp(items[j].code, f->code) == 0) {
                rc = fail(p, "code", "duplicate code \"%s\"", f->code);
                break;
            }
        pop(p, at);
    }
    pop(p, old);
    p->cat->fee_items = items;
    p->cat->n_fee_items = rc == 0 ? n : 0;
    return rc;
}

static int parse_tiers_section(pc_t *p, json_object *root)
{
    json_object *arr;
    size_t n;
    int rc = read_array(p, root, "customer_tiers", false, false, &arr, &n);
    if (rc < 0)
        return rc;
    rt_customer_tier_t *tiers = alloc(p, n, sizeof *tiers);
    if (!tiers)
        return oom(p);
    size_t old = push_key(p, "customer_tiers");
    static const char *const keys[] = {"code", "name", NULL};
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *o;
        size_t at = p->plen;
        if ((rc = element(p, arr, i, &o)) < 0 || (rc = check_keys(p, o, keys, NULL, NULL)) < 0 ||
            (rc = read_code(p, o, "code", true, &tiers[i].code)) < 0 ||
            (rc = read_names(p, o, "name", &tiers[i].name)) < 0)
            break;
        for (size_t j = 0; j < i; j++)
            if (strcmp(tiers[j].code, tiers[i].code) == 0) {
                rc = fail(p, "code", "duplicate code \"%s\"", tiers[i].code);
                break;
            }
        pop(p, at);
    }
    pop(p, old);
    p->cat->tiers = tiers;
    p->cat->n_tiers = rc == 0 ? n : 0;
    return rc;
}

/* Price fields by model; a field of another model is "not used by model X". */
static const char *const *model_fields(rt_model_t m)
{
    static const char *const flat[] = {"price", NULL};
    static const char *const per_unit[] = {"unit_price", NULL};
    static const char *const tiered[] = {"tiers", NULL};
    static const char *const package[] = {"package_size", "package_price", NULL};
    static const char *const pct[] = {"percent", "fixed_fee", "min_fee", "max_fee", NULL};
    switch (m) {
    case RT_MODEL_FLAT:
        return flat;
    case RT_MODEL_PER_UNIT:
        return per_unit;
    case RT_MODEL_GRADUATED:
    case RT_MODEL_VOLUME:
    case RT_MODEL_STAIRSTEP:
        return tiered;
    case RT_MODEL_PACKAGE:
        return package;
    case RT_MODEL_PERCENTAGE:
        return pct;
    }
    return flat;
}

static const char *const all_price_fields[] = {"price",        "unit_price",    "tiers",
                                               "package_size", "package_price", "percent",
                                               "fixed_fee",    "min_fee",       "max_fee",
                                               NULL};

static int parse_tiers(pc_t *p, json_object *o, rt_model_t model, bool required, rt_price_t *pr)
{
    json_object *arr;
    size_t n;
    int rc = read_array(p, o, "tiers", required, true, &arr, &n);
    if (rc < 0 || !arr)
        return rc;
    if (n > RT_MAX_TIERS)
        return fail(p, "tiers", "must have at most %d tiers", RT_MAX_TIERS);
    rt_tier_t *tiers = alloc(p, n, sizeof *tiers);
    if (!tiers)
        return oom(p);
    size_t old = push_key(p, "tiers");
    static const char *const tier_keys[] = {"up_to", "unit_price", "flat_fee", NULL};
    static const char *const step_keys[] = {"up_to", "price", NULL};
    static const char *const step_other[] = {"unit_price", "flat_fee", NULL};
    static const char *const tier_other[] = {"price", NULL};
    bool step = model == RT_MODEL_STAIRSTEP;
    char what[64];
    snprintf(what, sizeof what, "model %s", model_names[model]);
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *t, *up = NULL;
        size_t at = p->plen;
        rt_tier_t *tr = &tiers[i];
        bool last = i + 1 == n;
        if ((rc = element(p, arr, i, &t)) < 0 ||
            (rc = check_keys(p, t, step ? step_keys : tier_keys, step ? step_other : tier_other,
                             what)) < 0)
            break;
        json_object_object_get_ex(t, "up_to", &up);
        if (!up) {
            if (!last) {
                rc = fail(p, "up_to", "is required (only the last tier is unbounded)");
                break;
            }
            tr->unbounded = true;
        } else if (last) {
            rc = fail(p, "up_to", "must be null: the last tier is unbounded");
            break;
        } else {
            bw_dec_t prev = i ? tiers[i - 1].up_to : 0;
            if ((rc = read_dec(p, t, "up_to", true, &tr->up_to, NULL)) < 0)
                break;
            if (tr->up_to <= prev) {
                char b[BW_DEC_STRLEN];
                bw_dec_format(prev, b, sizeof b);
                rc = fail(p, "up_to", "must be greater than %s", b);
                break;
            }
        }
        if (step)
            rc = read_dec_min(p, t, "price", true, false, &tr->flat_fee, NULL);
        else if ((rc = read_dec_min(p, t, "unit_price", true, false, &tr->unit_price, NULL)) == 0)
            rc = read_dec_min(p, t, "flat_fee", false, false, &tr->flat_fee, NULL);
        if (rc == 0)
            pop(p, at);
    }
    if (rc == 0) {
        pop(p, old);
        pr->tiers = tiers;
        pr->n_tiers = n;
    }
    return rc;
}

/* Reads the model's price fields into pr; with partial (an override) every
 * field is optional and keeps the value pr already has. */
static int parse_price(pc_t *p, json_object *o, rt_model_t model, bool partial, rt_price_t *pr)
{
    bool req = !partial;
    int rc = 0;
    switch (model) {
    case RT_MODEL_FLAT:
        return read_dec_min(p, o, "price", req, false, &pr->amount, NULL);
    case RT_MODEL_PER_UNIT:
        return read_dec_min(p, o, "unit_price", req, false, &pr->unit_price, NULL);
    case RT_MODEL_GRADUATED:
    case RT_MODEL_VOLUME:
    case RT_MODEL_STAIRSTEP:
        return parse_tiers(p, o, model, req, pr);
    case RT_MODEL_PACKAGE:
        if ((rc = read_dec_min(p, o, "package_size", req, true, &pr->package_size, NULL)) < 0)
            return rc;
        return read_dec_min(p, o, "package_price", req, false, &pr->amount, NULL);
    case RT_MODEL_PERCENTAGE: {
        bool have = false;
        if ((rc = read_dec(p, o, "percent", req, &pr->percent, &have)) < 0)
            return rc;
        if (have && (pr->percent <= 0 || pr->percent > BW_DEC(100)))
            return fail(p, "percent", "must be greater than 0 and at most 100");
        if ((rc = read_dec_min(p, o, "fixed_fee", false, false, &pr->fixed_fee, NULL)) < 0)
            return rc;
        if ((rc = read_dec_min(p, o, "min_fee", false, false, &pr->min_fee, &have)) < 0)
            return rc;
        pr->has_min |= have;
        if ((rc = read_dec_min(p, o, "max_fee", false, false, &pr->max_fee, &have)) < 0)
            return rc;
        pr->has_max |= have;
        if (pr->has_min && pr->has_max && pr->max_fee < pr->min_fee)
            return fail(p, have ? "max_fee" : "min_fee", "max_fee must not be less than min_fee");
        return 0;
    }
    }
    return fail(p, "model", "unknown model");
}

static int parse_overrides(pc_t *p, json_object *o, rt_charge_t *ch)
{
    json_object *ov;
    int rc = member(p, o, "overrides", json_type_object, false, &ov);
    if (rc < 0 || !ov)
        return rc;
    size_t n = (size_t)json_object_object_length(ov);
    rt_override_t *list = alloc(p, n, sizeof *list);
    if (!list)
        return oom(p);
    size_t old = push_key(p, "overrides"), i = 0;
    const char *const *fields = model_fields(ch->model);
    char what[64];
    snprintf(what, sizeof what, "model %s", model_names[ch->model]);
    json_object_object_foreach(ov, tier, val)
    {
        if (!rt_catalog_tier(p->cat, tier)) {
            rc = fail(p, tier, "unknown customer tier \"%s\"", tier);
            break;
        }
        if (!val || !json_object_is_type(val, json_type_object)) {
            rc = fail(p, tier, "must be an object");
            break;
        }
        size_t at = push_key(p, tier);
        list[i].tier = bw_arena_strdup(p->a, tier);
        list[i].price = ch->price;
        if (!list[i].tier)
            rc = oom(p);
        if (rc == 0)
            rc = check_keys(p, val, fields, all_price_fields, what);
        if (rc == 0)
            rc = parse_price(p, val, ch->model, true, &list[i].price);
        if (rc < 0)
            break;
        pop(p, at);
        i++;
    }
    if (rc == 0) {
        pop(p, old);
        ch->overrides = list;
        ch->n_overrides = i;
    }
    return rc;
}

static int parse_charge(pc_t *p, json_object *o, rt_charge_t *ch)
{
    int rc, m = 0;
    if ((rc = read_code(p, o, "fee_item", true, &ch->fee_item)) < 0)
        return rc;
    if (!rt_catalog_fee_item(p->cat, ch->fee_item))
        return fail(p, "fee_item", "unknown fee item \"%s\"", ch->fee_item);
    if ((rc = read_enum(p, o, "model", true, model_names, COUNT(model_names), &m)) < 0)
        return rc;
    ch->model = (rt_model_t)m;
    static const char *const common[] = {"fee_item", "minimum", "setup_fee", "free_units",
                                         "prorate", "overrides", NULL};
    const char *const *fields = model_fields(ch->model);
    const char *allowed[16];
    size_t k = 0;
    for (size_t i = 0; common[i]; i++)
        allowed[k++] = common[i];
    allowed[k++] = "model";
    for (size_t i = 0; fields[i]; i++)
        allowed[k++] = fields[i];
    allowed[k] = NULL;
    char what[64];
    snprintf(what, sizeof what, "model %s", model_names[m]);
    if ((rc = check_keys(p, o, allowed, all_price_fields, what)) < 0)
        return rc;
    if ((rc = parse_price(p, o, ch->model, false, &ch->price)) < 0)
        return rc;
    if ((rc = read_dec_min(p, o, "setup_fee", false, false, &ch->setup_fee, NULL)) < 0)
        return rc;
    bool have = false;
    if ((rc = read_dec_min(p, o, "free_units", false, false, &ch->free_units, &have)) < 0)
        return rc;
    if (have && (ch->model == RT_MODEL_FLAT || ch->model == RT_MODEL_PERCENTAGE))
        return fail(p, "free_units", "not used by %s", what);
    if ((rc = read_money(p, o, "minimum", p->currency, &ch->minimum, &ch->has_minimum)) < 0)
        return rc;
    ch->prorate = ch->model == RT_MODEL_FLAT;
    json_object *b;
    if ((rc = member(p, o, "prorate", json_type_boolean, false, &b)) < 0)
        return rc;
    if (b)
        ch->prorate = json_object_get_boolean(b);
    return parse_overrides(p, o, ch);
}

static int parse_version(pc_t *p, json_object *o, const char *plan, rt_price_version_t *v)
{
    static const char *const keys[] = {"effective_from", "currency", "charges", NULL};
    int rc;
    const char *cur = NULL;
    if ((rc = check_keys(p, o, keys, NULL, NULL)) < 0 ||
        (rc = read_date(p, o, "effective_from", true, &v->effective_from)) < 0 ||
        (rc = read_string(p, o, "currency", true, &cur)) < 0)
        return rc;
    if (strlen(cur) != 3 || bw_currency_exponent(cur) < 0)
        return fail(p, "currency", "unknown currency \"%s\"", cur);
    memcpy(v->currency, cur, 4);
    v->plan = plan;
    p->currency = v->currency;
    json_object *arr;
    size_t n;
    if ((rc = read_array(p, o, "charges", true, true, &arr, &n)) < 0)
        return rc;
    rt_charge_t *charges = alloc(p, n, sizeof *charges);
    if (!charges)
        return oom(p);
    size_t old = push_key(p, "charges");
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *c;
        size_t at = p->plen;
        if ((rc = element(p, arr, i, &c)) < 0 || (rc = parse_charge(p, c, &charges[i])) < 0)
            break;
        for (size_t j = 0; j < i; j++)
            if (strcmp(charges[j].fee_item, charges[i].fee_item) == 0) {
                rc = fail(p, "fee_item", "fee item \"%s\" is already charged in this version",
                          charges[i].fee_item);
                break;
            }
        pop(p, at);
    }
    if (rc == 0) {
        pop(p, old);
        v->charges = charges;
        v->n_charges = n;
    }
    return rc;
}

static int parse_plans(pc_t *p, json_object *root)
{
    json_object *arr;
    size_t n;
    int rc = read_array(p, root, "plans", true, true, &arr, &n);
    if (rc < 0)
        return rc;
    rt_plan_t *plans = alloc(p, n, sizeof *plans);
    if (!plans)
        return oom(p);
    size_t old = push_key(p, "plans");
    static const char *const keys[] = {"code", "name", "billing_cycle", "versions", NULL};
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *o, *va;
        size_t at = p->plen, nv;
        rt_plan_t *pl = &plans[i];
        int cyc = 0;
        if ((rc = element(p, arr, i, &o)) < 0 || (rc = check_keys(p, o, keys, NULL, NULL)) < 0 ||
            (rc = read_code(p, o, "code", true, &pl->code)) < 0)
            break;
        for (size_t j = 0; j < i; j++)
            if (strcmp(plans[j].code, pl->code) == 0)
                rc = fail(p, "code", "duplicate code \"%s\"", pl->code);
        if (rc < 0 || (rc = read_names(p, o, "name", &pl->name)) < 0 ||
            (rc = read_enum(p, o, "billing_cycle", true, cycle_names, COUNT(cycle_names),
                            &cyc)) < 0 ||
            (rc = read_array(p, o, "versions", true, true, &va, &nv)) < 0)
            break;
        pl->cycle = (rt_cycle_t)cyc;
        rt_price_version_t *vs = alloc(p, nv, sizeof *vs);
        if (!vs) {
            rc = oom(p);
            break;
        }
        size_t vat = push_key(p, "versions");
        for (size_t k = 0; k < nv && rc == 0; k++) {
            json_object *vo;
            size_t kat = p->plen;
            if ((rc = element(p, va, k, &vo)) < 0 || (rc = parse_version(p, vo, pl->code, &vs[k])) < 0)
                break;
            for (size_t j = 0; j < k; j++)
                if (strcmp(vs[j].currency, vs[k].currency) == 0 &&
                    vs[j].effective_from == vs[k].effective_from) {
                    char d[16];
                    bw_date_format(vs[k].effective_from, d, sizeof d);
                    rc = fail(p, "effective_from", "another %s version is effective from %s",
                              vs[k].currency, d);
                    break;
                }
            pop(p, kat);
        }
        if (rc < 0)
            break;
        pop(p, vat);
        pl->versions = vs;
        pl->n_versions = nv;
        pop(p, at);
    }
    pop(p, old);
    p->cat->plans = plans;
    p->cat->n_plans = rc == 0 ? n : 0;
    return rc;
}

static int parse_amounts(pc_t *p, json_object *o, rt_discount_t *d)
{
    json_object *am;
    int rc = member(p, o, "amount", json_type_object, false, &am);
    if (rc < 0 || !am)
        return rc;
    size_t n = (size_t)json_object_object_length(am), i = 0;
    if (n == 0)
        return fail(p, "amount", "must name at least one currency, e.g. {\"CNY\": \"50.00\"}");
    rt_amount_t *list = alloc(p, n, sizeof *list);
    if (!list)
        return oom(p);
    size_t old = push_key(p, "amount");
    json_object_object_foreach(am, cur, val)
    {
        (void)val;
        bool have;
        if (strlen(cur) != 3 || bw_currency_exponent(cur) < 0) {
            rc = fail(p, cur, "unknown currency \"%s\"", cur);
            break;
        }
        memcpy(list[i].currency, cur, 4);
        if ((rc = read_money(p, am, cur, cur, &list[i].minor, &have)) < 0)
            break;
        if (!have) {
            rc = fail(p, cur, "is required");
            break;
        }
        i++;
    }
    if (rc == 0) {
        pop(p, old);
        d->amounts = list;
        d->n_amounts = i;
    }
    return rc;
}

static int parse_coupon(pc_t *p, json_object *o, rt_discount_t *d)
{
    json_object *c;
    int rc = member(p, o, "coupon", json_type_object, true, &c);
    if (rc < 0)
        return rc;
    size_t old = push_key(p, "coupon");
    static const char *const keys[] = {"code", "valid_from", "valid_to", "max_redemptions", NULL};
    if ((rc = check_keys(p, c, keys, NULL, NULL)) == 0 &&
        (rc = read_code(p, c, "code", true, &d->coupon)) == 0 &&
        (rc = read_date(p, c, "valid_from", true, &d->valid_from)) == 0 &&
        (rc = read_date(p, c, "valid_to", true, &d->valid_to)) == 0 &&
        (rc = read_int(p, c, "max_redemptions", false, 1, INT64_MAX, &d->max_redemptions)) == 0 &&
        d->valid_to < d->valid_from)
        rc = fail(p, "valid_to", "must not be before valid_from");
    if (rc == 0)
        pop(p, old);
    return rc;
}

static int parse_discount(pc_t *p, json_object *o, rt_discount_t *d, rt_names_t *name)
{
    int rc, kind = 0;
    if ((rc = read_code(p, o, "code", true, &d->code)) < 0 ||
        (rc = read_enum(p, o, "kind", true, kind_names, COUNT(kind_names), &kind)) < 0)
        return rc;
    d->kind = (rt_discount_kind_t)kind;
    static const char *const kind_field[] = {"first_periods", "after_periods", "min_quantity",
                                             "coupon"};
    const char *allowed[] = {"code", "name", "kind", "percent", "amount", "fee_item", "plans",
                             kind_field[kind], NULL};
    char what[64];
    snprintf(what, sizeof what, "kind %s", kind_names[kind]);
    static const char *const other[] = {"first_periods", "after_periods", "min_quantity",
                                        "coupon", NULL};
    if ((rc = check_keys(p, o, allowed, other, what)) < 0 ||
        (rc = read_names(p, o, "name", name)) < 0)
        return rc;
    bool have_pct = false;
    if ((rc = read_dec(p, o, "percent", false, &d->percent, &have_pct)) < 0 ||
        (rc = parse_amounts(p, o, d)) < 0)
        return rc;
    if (have_pct && d->n_amounts)
        return fail(p, "amount", "cannot be combined with percent");
    if (!have_pct && !d->n_amounts)
        return fail(p, NULL, "needs either percent or amount");
    if (have_pct && (d->percent <= 0 || d->percent > BW_DEC(100)))
        return fail(p, "percent", "must be greater than 0 and at most 100");
    d->is_percent = have_pct;
    if ((rc = read_code(p, o, "fee_item", false, &d->fee_item)) < 0)
        return rc;
    if (d->fee_item && !rt_catalog_fee_item(p->cat, d->fee_item))
        return fail(p, "fee_item", "unknown fee item \"%s\"", d->fee_item);
    json_object *pa;
    size_t np;
    if ((rc = read_array(p, o, "plans", false, true, &pa, &np)) < 0)
        return rc;
    if (pa) {
        const char **plans = alloc(p, np, sizeof *plans);
        if (!plans)
            return oom(p);
        size_t old = push_key(p, "plans");
        for (size_t i = 0; i < np; i++) {
            json_object *e = json_object_array_get_idx(pa, i);
            size_t at = push_index(p, i);
            if (!e || !json_object_is_type(e, json_type_string))
                return fail(p, NULL, "must be a plan code");
            plans[i] = bw_arena_strdup(p->a, json_object_get_string(e));
            if (!plans[i])
                return oom(p);
            if (!rt_catalog_plan(p->cat, plans[i]))
                return fail(p, NULL, "unknown plan \"%s\"", plans[i]);
            pop(p, at);
        }
        pop(p, old);
        d->plans = plans;
        d->n_plans = np;
    }
    int64_t periods = 0;
    switch (d->kind) {
    case RT_DISC_NEW_CUSTOMER:
        rc = read_int(p, o, "first_periods", true, 1, 100000, &periods);
        d->periods = (int)periods;
        return rc;
    case RT_DISC_LOYAL:
        rc = read_int(p, o, "after_periods", true, 0, 100000, &periods);
        d->periods = (int)periods;
        return rc;
    case RT_DISC_VOLUME:
        if (!d->fee_item)
            return fail(p, "fee_item", "is required for a volume discount");
        return read_dec_min(p, o, "min_quantity", true, true, &d->min_quantity, NULL);
    case RT_DISC_COUPON:
        return parse_coupon(p, o, d);
    }
    return 0;
}

static int parse_discounts(pc_t *p, json_object *root)
{
    json_object *arr;
    size_t n;
    int rc = read_array(p, root, "discounts", false, false, &arr, &n);
    if (rc < 0)
        return rc;
    rt_discount_t *ds = alloc(p, n, sizeof *ds);
    rt_names_t *names = alloc(p, n, sizeof *names);
    if (!ds || !names)
        return oom(p);
    size_t old = push_key(p, "discounts");
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_object *o;
        size_t at = p->plen;
        if ((rc = element(p, arr, i, &o)) < 0 || (rc = parse_discount(p, o, &ds[i], &names[i])) < 0)
            break;
        for (size_t j = 0; j < i && rc == 0; j++) {
            if (strcmp(ds[j].code, ds[i].code) == 0)
                rc = fail(p, "code", "duplicate code \"%s\"", ds[i].code);
            else if (ds[i].coupon && ds[j].coupon && strcmp(ds[i].coupon, ds[j].coupon) == 0)
                rc = fail(p, "coupon.code", "coupon \"%s\" is already used by discount %s",
                          ds[i].coupon, ds[j].code);
        }
        pop(p, at);
    }
    pop(p, old);
    p->cat->discounts = ds;
    p->cat->discount_names = names;
    p->cat->n_discounts = rc == 0 ? n : 0;
    return rc;
}

/* --- public ---------------------------------------------------------------- */

static json_object *parse_json(pc_t *p, const char *text)
{
    size_t len = strlen(text);
    if (len > MAX_DOC) {
        fail(p, NULL, "document too large (max %d bytes)", MAX_DOC);
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        oom(p);
        return NULL;
    }
    json_object *root = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t off = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success) {
        json_object_put(root);
        if (jerr == json_tokener_continue || jerr == json_tokener_success)
            fail(p, NULL, "invalid JSON: unexpected end of document");
        else
            fail(p, NULL, "invalid JSON: %s at offset %zu", json_tokener_error_desc(jerr), off);
        return NULL;
    }
    for (size_t i = off; i < len; i++)
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
            json_object_put(root);
            fail(p, NULL, "invalid JSON: unexpected text after the document at offset %zu", i);
            return NULL;
        }
    return root;
}

rt_catalog_t *rt_catalog_new_from_json(const char *text, char *err, size_t errlen)
{
    pc_t p = {.err = err, .errlen = errlen};
    json_object *root = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!text) {
        fail(&p, NULL, "no document");
        return NULL;
    }
    p.cat = calloc(1, sizeof *p.cat);
    p.a = bw_arena_new();
    if (!p.cat || !p.a) {
        oom(&p);
        goto fail;
    }
    p.cat->arena = p.a;
    p.cat->settings = rt_settings_default();
    root = parse_json(&p, text);
    if (!root)
        goto fail;
    if (!json_object_is_type(root, json_type_object)) {
        fail(&p, NULL, "must be an object");
        goto fail;
    }
    static const char *const keys[] = {"description", "settings", "fee_items", "customer_tiers",
                                       "plans", "discounts", NULL};
    const char *desc = NULL;
    if (check_keys(&p, root, keys, NULL, NULL) < 0 ||
        read_string(&p, root, "description", false, &desc) < 0 || parse_settings(&p, root) < 0 ||
        parse_fee_items(&p, root) < 0 || parse_tiers_section(&p, root) < 0 ||
        parse_plans(&p, root) < 0 || parse_discounts(&p, root) < 0)
        goto fail;
    json_object_put(root);
    return p.cat;
fail:
    json_object_put(root);
    bw_arena_destroy(&p.a);
    free(p.cat);
    return NULL;
}

rt_catalog_t *rt_catalog_new_from_file(const char *path, char *err, size_t errlen)
{
    char *buf = NULL;
    rt_catalog_t *c = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, len = 0, n;
    buf = malloc(cap + 1);
    if (!buf)
        goto fail;
    while ((n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            if (cap > MAX_DOC) {
                if (err && errlen)
                    snprintf(err, errlen, "%s: too large (max %d bytes)", path, MAX_DOC);
                goto fail;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                goto fail;
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        if (err && errlen)
            snprintf(err, errlen, "%s: read error", path);
        goto fail;
    }
    buf[len] = '\0';
    if (strlen(buf) != len) {
        if (err && errlen)
            snprintf(err, errlen, "%s: contains NUL bytes", path);
        goto fail;
    }
    c = rt_catalog_new_from_json(buf, err, errlen);
fail:
    if (!c && !buf && err && errlen)
        snprintf(err, errlen, "out of memory");
    free(buf);
    fclose(f);
    return c;
}

void rt_catalog_destroy(rt_catalog_t **pc)
{
    if (!pc || !*pc)
        return;
    bw_arena_destroy(&(*pc)->arena);
    free(*pc);
    *pc = NULL;
}

const rt_plan_t *rt_catalog_plan(const rt_catalog_t *c, const char *code)
{
    for (size_t i = 0; code && i < c->n_plans; i++)
        if (strcmp(c->plans[i].code, code) == 0)
            return &c->plans[i];
    return NULL;
}

const rt_fee_item_t *rt_catalog_fee_item(const rt_catalog_t *c, const char *code)
{
    for (size_t i = 0; code && i < c->n_fee_items; i++)
        if (strcmp(c->fee_items[i].code, code) == 0)
            return &c->fee_items[i];
    return NULL;
}

const rt_customer_tier_t *rt_catalog_tier(const rt_catalog_t *c, const char *code)
{
    for (size_t i = 0; code && i < c->n_tiers; i++)
        if (strcmp(c->tiers[i].code, code) == 0)
            return &c->tiers[i];
    return NULL;
}

const rt_discount_t *rt_catalog_discount(const rt_catalog_t *c, const char *code)
{
    for (size_t i = 0; code && i < c->n_discounts; i++)
        if (strcmp(c->discounts[i].code, code) == 0)
            return &c->discounts[i];
    return NULL;
}

const rt_price_version_t *rt_plan_version_at(const rt_plan_t *p, const char *currency,
                                             int64_t day)
{
    const rt_price_version_t *best = NULL;
    for (size_t i = 0; currency && i < p->n_versions; i++) {
        const rt_price_version_t *v = &p->versions[i];
        if (strcmp(v->currency, currency) == 0 && v->effective_from <= day &&
            (!best || v->effective_from > best->effective_from))
            best = v;
    }
    return best;
}
