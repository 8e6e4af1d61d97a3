/* Price change documents and the pure rules of enforcement (format and
 * contracts in pricechange.h). The document is kept as its json-c tree;
 * strings point into it. The new price version is not parsed here: it is
 * added to a copy of the catalog and parsed by the catalog parser, so the
 * charges follow exactly the catalog's rules and error messages. */
#include "rating/pricechange.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"

#define MAX_DOC (1024 * 1024)

typedef struct {
    json_object *root;
    const char **strs; /* every list's storage, freed together */
    size_t nstrs, capstrs;
} priv_t;

static int failf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return BW_EINVAL;
}

static bool code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static int get_str(json_object *o, const char *key, bool required, const char **out, char *err,
                   size_t errlen)
{
    json_object *v;
    *out = "";
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return required ? failf(err, errlen, "%s: required", key) : 0;
    if (!json_object_is_type(v, json_type_string))
        return failf(err, errlen, "%s: must be a string", key);
    *out = json_object_get_string(v);
    if (required && !**out)
        return failf(err, errlen, "%s: must not be empty", key);
    if (strlen(*out) > 4000)
        return failf(err, errlen, "%s: at most 4000 bytes", key);
    return 0;
}

static int get_code(json_object *o, const char *key, const char **out, char *err, size_t errlen)
{
    int rc = get_str(o, key, true, out, err, errlen);
    if (rc == 0 && !code_ok(*out))
        return failf(err, errlen, "%s: 1-63 letters, digits, '_', '-' or '.'", key);
    return rc;
}

/* A text: a string (every language) or {"zh-CN": ..., "en": ...}. */
static int get_text(json_object *o, const char *key, rt_names_t *out, char *err, size_t errlen)
{
    json_object *v;
    out->en = out->zh_cn = NULL;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return failf(err, errlen, "%s: required", key);
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (!*s)
            return failf(err, errlen, "%s: must not be empty", key);
        out->en = out->zh_cn = s;
        return 0;
    }
    if (!json_object_is_type(v, json_type_object))
        return failf(err, errlen, "%s: a string or {\"zh-CN\": ..., \"en\": ...}", key);
    json_object_object_foreach(v, k, val)
    {
        if (strcmp(k, "en") != 0 && strcmp(k, "zh-CN") != 0)
            return failf(err, errlen, "%s.%s: unknown language (en or zh-CN)", key, k);
        if (!json_object_is_type(val, json_type_string) || !*json_object_get_string(val))
            return failf(err, errlen, "%s.%s: must be a non-empty string", key, k);
        if (strcmp(k, "en") == 0)
            out->en = json_object_get_string(val);
        else
            out->zh_cn = json_object_get_string(val);
    }
    if (!out->en && !out->zh_cn)
        return failf(err, errlen, "%s: give at least one language", key);
    if (!out->en)
        out->en = out->zh_cn;
    if (!out->zh_cn)
        out->zh_cn = out->en;
    return 0;
}

static int get_list(priv_t *pv, json_object *o, const char *key, const char *path, bool codes,
                    rt_pc_list_t *out, char *err, size_t errlen)
{
    json_object *v;
    out->v = NULL;
    out->n = 0;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_array))
        return failf(err, errlen, "%s: must be an array of strings", path);
    size_t n = json_object_array_length(v);
    if (n > 10000)
        return failf(err, errlen, "%s: at most 10000 entries", path);
    if (n == 0)
        return 0;
    const char **arr = calloc(n, sizeof *arr);
    if (!arr)
        return failf(err, errlen, "out of memory");
    if (pv->nstrs == pv->capstrs) {
        size_t cap = pv->capstrs ? pv->capstrs * 2 : 8;
        const char **ns = realloc(pv->strs, sizeof *ns * cap);
        if (!ns) {
            free(arr);
            return failf(err, errlen, "out of memory");
        }
        pv->strs = ns;
        pv->capstrs = cap;
    }
    pv->strs[pv->nstrs++] = (const char *)arr;
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(v, i);
        if (!json_object_is_type(e, json_type_string) || !*json_object_get_string(e))
            return failf(err, errlen, "%s[%zu]: must be a non-empty string", path, i);
        if (codes && !code_ok(json_object_get_string(e)))
            return failf(err, errlen, "%s[%zu]: not a valid code", path, i);
        arr[i] = json_object_get_string(e);
    }
    out->v = arr;
    out->n = n;
    return 0;
}

static int check_keys(json_object *o, const char *path, const char *const *keys, char *err,
                      size_t errlen)
{
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        bool known = false;
        for (size_t i = 0; keys[i] && !known; i++)
            known = strcmp(keys[i], k) == 0;
        if (!known)
            return failf(err, errlen, "%s%s%s: unknown field", path, *path ? "." : "", k);
    }
    return 0;
}

static int get_int(json_object *o, const char *key, const char *path, int def, int min, int max,
                   int *out, char *err, size_t errlen)
{
    json_object *v;
    *out = def;
    if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return failf(err, errlen, "%s: must be a whole number", path);
    int64_t x = json_object_get_int64(v);
    if (x < min || x > max)
        return failf(err, errlen, "%s: must be between %d and %d", path, min, max);
    *out = (int)x;
    return 0;
}

static int scope_lists(priv_t *pv, json_object *root, const char *key, rt_pc_list_t *tiers,
                       rt_pc_list_t *accounts, char *err, size_t errlen)
{
    json_object *o;
    if (!json_object_object_get_ex(root, key, &o) || json_object_is_type(o, json_type_null))
        return 0;
    if (!json_object_is_type(o, json_type_object))
        return failf(err, errlen, "%s: must be {\"tiers\": [...], \"accounts\": [...]}", key);
    static const char *const keys[] = {"tiers", "accounts", NULL};
    char tp[64], ap[64];
    snprintf(tp, sizeof tp, "%s.tiers", key);
    snprintf(ap, sizeof ap, "%s.accounts", key);
    int rc = check_keys(o, key, keys, err, errlen);
    rc = rc ? rc : get_list(pv, o, "tiers", tp, true, tiers, err, errlen);
    rc = rc ? rc : get_list(pv, o, "accounts", ap, false, accounts, err, errlen);
    return rc;
}

static int parse(rt_pc_doc_t *d, priv_t *pv, char *err, size_t errlen)
{
    json_object *root = pv->root;
    if (!json_object_is_type(root, json_type_object))
        return failf(err, errlen, "document: must be a JSON object");
    static const char *const keys[] = {
        "id",          "plan",        "currency",   "charges",         "reason",
        "value",       "scope",       "exclude",    "grandfather",     "effective_date",
        "transition",  "min_notice_days", "reminder_days", "feedback_channels", NULL};
    int rc = check_keys(root, "", keys, err, errlen);
    rc = rc ? rc : get_code(root, "id", &d->id, err, errlen);
    rc = rc ? rc : get_code(root, "plan", &d->plan, err, errlen);
    rc = rc ? rc : get_str(root, "currency", true, &d->currency, err, errlen);
    if (rc)
        return rc;
    if (bw_currency_exponent(d->currency) < 0)
        return failf(err, errlen, "currency: not an ISO 4217 code this system knows");
    json_object *ch;
    if (!json_object_object_get_ex(root, "charges", &ch))
        return failf(err, errlen, "charges: required (the new price list)");
    if (!json_object_is_type(ch, json_type_array) || json_object_array_length(ch) == 0)
        return failf(err, errlen, "charges: must be a non-empty array of charges");
    rc = get_text(root, "reason", &d->reason, err, errlen);
    rc = rc ? rc : get_text(root, "value", &d->value, err, errlen);
    rc = rc ? rc : get_str(root, "scope", false, &d->scope, err, errlen);
    rc = rc ? rc : scope_lists(pv, root, "exclude", &d->exclude_tiers, &d->exclude_accounts, err, errlen);
    rc = rc ? rc : scope_lists(pv, root, "grandfather", &d->grandfather_tiers,
                               &d->grandfather_accounts, err, errlen);
    const char *eff;
    rc = rc ? rc : get_str(root, "effective_date", true, &eff, err, errlen);
    if (rc)
        return rc;
    if (bw_date_parse(eff, &d->effective_day) < 0)
        return failf(err, errlen, "effective_date: not a date (YYYY-MM-DD)");
    json_object *tr;
    if (json_object_object_get_ex(root, "transition", &tr) && !json_object_is_type(tr, json_type_null)) {
        if (!json_object_is_type(tr, json_type_object))
            return failf(err, errlen, "transition: must be {\"periods\": N, \"percent\": \"50\"}");
        static const char *const tkeys[] = {"periods", "percent", NULL};
        rc = check_keys(tr, "transition", tkeys, err, errlen);
        rc = rc ? rc : get_int(tr, "periods", "transition.periods", -1, 1, 24,
                               &d->transition_periods, err, errlen);
        if (rc)
            return rc;
        if (d->transition_periods < 0)
            return failf(err, errlen, "transition.periods: required");
        const char *pct;
        rc = get_str(tr, "percent", true, &pct, err, errlen);
        if (rc)
            return rc;
        char e2[96];
        if (bw_dec_parse(pct, &d->transition_percent, e2, sizeof e2) < 0)
            return failf(err, errlen, "transition.percent: %s", e2);
        if (d->transition_percent <= 0 || d->transition_percent > BW_DEC(100))
            return failf(err, errlen, "transition.percent: must be more than 0 and at most 100");
    }
    rc = get_int(root, "min_notice_days", "min_notice_days", 30, 0, 365, &d->min_notice_days, err,
                 errlen);
    if (rc)
        return rc;
    json_object *rd;
    if (json_object_object_get_ex(root, "reminder_days", &rd) && !json_object_is_type(rd, json_type_null)) {
        if (!json_object_is_type(rd, json_type_array))
            return failf(err, errlen, "reminder_days: must be an array of whole numbers");
        size_t n = json_object_array_length(rd);
        if (n > RT_PC_MAX_REMINDERS)
            return failf(err, errlen, "reminder_days: at most %d entries", RT_PC_MAX_REMINDERS);
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(rd, i);
            int64_t x = json_object_is_type(e, json_type_int) ? json_object_get_int64(e) : -1;
            if (x < 1 || x > 365)
                return failf(err, errlen, "reminder_days[%zu]: a whole number of days, 1 to 365", i);
            for (size_t j = 0; j < i; j++)
                if (d->reminder_days[j] == (int)x)
                    return failf(err, errlen, "reminder_days[%zu]: %d is listed twice", i, (int)x);
            d->reminder_days[d->n_reminder_days++] = (int)x;
        }
    } else {
        static const int def[] = {30, 7, 1};
        for (size_t i = 0; i < 3; i++)
            d->reminder_days[d->n_reminder_days++] = def[i];
    }
    rc = get_list(pv, root, "feedback_channels", "feedback_channels", false, &d->feedback_channels,
                  err, errlen);
    if (rc)
        return rc;
    if (d->feedback_channels.n == 0)
        return failf(err, errlen, "feedback_channels: give at least one way to reach you "
                                  "(the notice prints them)");
    return 0;
}

rt_pc_doc_t *rt_pc_doc_new(const char *json, char *err, size_t errlen)
{
    if (!json || strlen(json) > MAX_DOC) {
        failf(err, errlen, "document: empty or larger than %d bytes", MAX_DOC);
        return NULL;
    }
    rt_pc_doc_t *d = calloc(1, sizeof *d);
    priv_t *pv = calloc(1, sizeof *pv);
    if (!d || !pv) {
        free(d);
        free(pv);
        failf(err, errlen, "out of memory");
        return NULL;
    }
    d->priv = pv;
    enum json_tokener_error jerr = json_tokener_success;
    pv->root = json_tokener_parse_verbose(json, &jerr);
    if (!pv->root) {
        failf(err, errlen, "document: not JSON (%s)", json_tokener_error_desc(jerr));
        rt_pc_doc_destroy(&d);
        return NULL;
    }
    if (parse(d, pv, err, errlen) < 0) {
        rt_pc_doc_destroy(&d);
        return NULL;
    }
    return d;
}

void rt_pc_doc_destroy(rt_pc_doc_t **pd)
{
    if (!pd || !*pd)
        return;
    priv_t *pv = (*pd)->priv;
    if (pv) {
        for (size_t i = 0; i < pv->nstrs; i++)
            free((void *)pv->strs[i]);
        free(pv->strs);
        if (pv->root)
            json_object_put(pv->root);
        free(pv);
    }
    free(*pd);
    *pd = NULL;
}

/* Rewrites the catalog parser's path of the added version into the
 * change's own field names. */
static void rename_error(const char *cerr, int plan_idx, size_t ver_idx, char *err, size_t errlen)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "plans[%d].versions[%zu].", plan_idx, ver_idx);
    size_t pl = strlen(prefix);
    if (strncmp(cerr, prefix, pl) == 0) {
        const char *rest = cerr + pl;
        if (strncmp(rest, "effective_from", 14) == 0)
            snprintf(err, errlen, "effective_date%s", rest + 14);
        else
            snprintf(err, errlen, "%s", rest);
    } else {
        snprintf(err, errlen, "catalog: %s", cerr);
    }
}

char *rt_pc_catalog_doc(const rt_pc_doc_t *d, const char *catalog_json, char *err, size_t errlen)
{
    const priv_t *pv = d->priv;
    if (!catalog_json || !*catalog_json) {
        failf(err, errlen, "plan: no catalog is loaded");
        return NULL;
    }
    json_object *cat = json_tokener_parse(catalog_json);
    json_object *plans = NULL;
    if (!cat || !json_object_object_get_ex(cat, "plans", &plans) ||
        !json_object_is_type(plans, json_type_array)) {
        if (cat)
            json_object_put(cat);
        failf(err, errlen, "catalog: the stored catalog does not parse");
        return NULL;
    }
    int plan_idx = -1;
    json_object *plan = NULL;
    for (size_t i = 0; i < json_object_array_length(plans); i++) {
        json_object *p = json_object_array_get_idx(plans, i), *code;
        if (json_object_object_get_ex(p, "code", &code) &&
            strcmp(json_object_get_string(code), d->plan) == 0) {
            plan = p;
            plan_idx = (int)i;
        }
    }
    json_object *versions = NULL;
    if (!plan || !json_object_object_get_ex(plan, "versions", &versions) ||
        !json_object_is_type(versions, json_type_array)) {
        json_object_put(cat);
        failf(err, errlen, "plan: no plan %s in the catalog", d->plan);
        return NULL;
    }
    bool has_currency = false;
    for (size_t i = 0; i < json_object_array_length(versions); i++) {
        json_object *cur;
        if (json_object_object_get_ex(json_object_array_get_idx(versions, i), "currency", &cur) &&
            strcmp(json_object_get_string(cur), d->currency) == 0)
            has_currency = true;
    }
    if (!has_currency) {
        json_object_put(cat);
        failf(err, errlen, "currency: plan %s has no price in %s to change", d->plan, d->currency);
        return NULL;
    }
    char day[16];
    bw_date_format(d->effective_day, day, sizeof day);
    json_object *ch = NULL;
    json_object_object_get_ex(pv->root, "charges", &ch);
    json_object *v = json_object_new_object();
    json_object_object_add(v, "effective_from", json_object_new_string(day));
    json_object_object_add(v, "currency", json_object_new_string(d->currency));
    json_object_object_add(v, "charges", json_object_get(ch));
    size_t ver_idx = json_object_array_length(versions);
    json_object_array_add(versions, v);
    char *out = strdup(json_object_to_json_string_ext(cat, JSON_C_TO_STRING_PLAIN));
    json_object_put(cat);
    if (!out) {
        failf(err, errlen, "out of memory");
        return NULL;
    }
    char cerr[512];
    rt_catalog_t *c = rt_catalog_new_from_json(out, cerr, sizeof cerr);
    if (!c) {
        rename_error(cerr, plan_idx, ver_idx, err, errlen);
        free(out);
        return NULL;
    }
    rt_catalog_destroy(&c);
    return out;
}

const rt_price_version_t *rt_pc_version(const rt_catalog_t *cat, const char *plan,
                                        const char *currency, int64_t effective_day)
{
    const rt_plan_t *p = cat ? rt_catalog_plan(cat, plan) : NULL;
    for (size_t i = 0; p && i < p->n_versions; i++)
        if (strcmp(p->versions[i].currency, currency) == 0 &&
            p->versions[i].effective_from == effective_day)
            return &p->versions[i];
    return NULL;
}

int64_t rt_pc_effective_day(int64_t effective_day, int64_t delivered_day, int min_notice_days)
{
    if (delivered_day < 0)
        return -1;
    int64_t earliest = delivered_day + (min_notice_days > 0 ? min_notice_days : 0);
    return earliest > effective_day ? earliest : effective_day;
}

int rt_pc_transition_discount(int64_t old_minor, int64_t new_minor, bw_dec_t percent,
                              bw_rounding_t r, int64_t *out)
{
    *out = 0;
    if (new_minor <= old_minor || percent <= 0)
        return 0;
    bw_i128_t diff = (bw_i128_t)new_minor - old_minor;
    /* diff * percent / 100, percent scaled by 10^9: one rounding. */
    return bw_round_div(diff * percent, (bw_i128_t)100 * BW_DEC_SCALE, r, out);
}

bool rt_pc_in_transition(int transition_periods, int period_number)
{
    return transition_periods > 0 && period_number >= 1 && period_number <= transition_periods;
}

static bool listed(const rt_pc_list_t *l, const char *s)
{
    for (size_t i = 0; s && i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

const char *rt_pc_scope_of(const rt_pc_doc_t *d, const char *account, const char *tier)
{
    if (listed(&d->exclude_accounts, account) || (tier && *tier && listed(&d->exclude_tiers, tier)))
        return "excluded";
    if (listed(&d->grandfather_accounts, account) ||
        (tier && *tier && listed(&d->grandfather_tiers, tier)))
        return "grandfathered";
    return "affected";
}

void rt_pc_diff_percent(int64_t old_minor, int64_t new_minor, char *buf, size_t len)
{
    buf[0] = '\0';
    if (old_minor == 0)
        return;
    int64_t hundredths;
    bw_i128_t num = ((bw_i128_t)new_minor - old_minor) * 10000;
    bw_i128_t den = old_minor;
    if (den < 0) {
        num = -num;
        den = -den;
    }
    if (bw_round_div(num, den, BW_ROUND_HALF_EVEN, &hundredths) < 0)
        return;
    bw_dec_t v = hundredths * (BW_DEC_SCALE / 100);
    bw_dec_format(v, buf, len);
}

void rt_pc_transition_text(int periods, bw_dec_t percent, const char *language, char *buf,
                           size_t len)
{
    buf[0] = '\0';
    if (periods <= 0)
        return;
    char p[BW_DEC_STRLEN];
    bw_dec_format(percent, p, sizeof p);
    if (language && strcmp(language, "zh-CN") == 0)
        snprintf(buf, len, "前 %d 个计费周期减免涨价部分的 %s%%", periods, p);
    else
        snprintf(buf, len, "%s%% of the increase waived for the first %d billing period%s", p,
                 periods, periods == 1 ? "" : "s");
}
