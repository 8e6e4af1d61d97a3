/* Catalog parsing tests: the example catalog loads and rates as worked out
 * by hand; each kind of bad document is rejected with the exact JSON path
 * and field of the problem; overrides inherit what they leave out. Run under
 * ASan to show that failures half-way through a document leak nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "errors.h"
#include "money.h"
#include "rating/catalog.h"

static const char *example_path;

/* The example lives in the source tree; tests run from the repository root
 * or from their build directory (build/tests/unit, build/san/tests/unit). */
static const char *find_example(const char *argv0)
{
    static char buf[4096], found[4300];
    const char *rel = "services/rating/catalog.example.json";
    if (access(rel, R_OK) == 0)
        return rel;
    char *abs = realpath(argv0, NULL);
    snprintf(buf, sizeof buf, "%s", abs ? abs : argv0);
    free(abs);
    for (int up = 0; up < 6; up++) {
        char *slash = strrchr(buf, '/');
        if (!slash)
            break;
        *slash = '\0';
        char cand[4200];
        snprintf(cand, sizeof cand, "%s/%s", buf, rel);
        if (access(cand, R_OK) == 0) {
            snprintf(found, sizeof found, "%s", cand);
            return found;
        }
    }
    return rel;
}

static bw_dec_t D(const char *s)
{
    bw_dec_t v = 0;
    assert_int_equal(bw_dec_parse(s, &v, NULL, 0), 0);
    return v;
}

static int64_t day(const char *s)
{
    int64_t d = 0;
    assert_int_equal(bw_date_parse(s, &d), 0);
    return d;
}

static void test_example_loads(void **state)
{
    (void)state;
    char err[256] = "";
    rt_catalog_t *c = rt_catalog_new_from_file(example_path, err, sizeof err);
    if (!c)
        print_error("%s\n", err);
    assert_non_null(c);
    assert_int_equal(c->n_fee_items, 9);
    assert_int_equal(c->n_tiers, 3);
    assert_int_equal(c->n_plans, 2);
    assert_int_equal(c->n_discounts, 4);
    assert_int_equal(c->settings.rounding, BW_ROUND_HALF_EVEN);
    assert_int_equal(c->settings.tier_bounds, RT_BOUNDS_INCLUSIVE);

    const rt_fee_item_t *f = rt_catalog_fee_item(c, "CONSULTING");
    assert_non_null(f);
    assert_int_equal(f->service_type, RT_SVC_CONSULTING);
    assert_string_equal(f->name.zh_cn, "咨询服务费");
    assert_string_equal(f->unit, "hour");
    assert_null(rt_catalog_fee_item(c, "NOPE"));
    assert_non_null(rt_catalog_tier(c, "gold"));

    const rt_plan_t *p = rt_catalog_plan(c, "SAAS_PRO");
    assert_non_null(p);
    assert_int_equal(p->cycle, RT_CYCLE_MONTHLY);
    assert_int_equal(p->n_versions, 2);
    const rt_price_version_t *v = rt_plan_version_at(p, "CNY", day("2026-11-01"));
    assert_non_null(v);
    assert_int_equal(v->effective_from, day("2026-01-01"));
    assert_int_equal(rt_plan_version_at(p, "CNY", day("2027-01-01"))->effective_from,
                     day("2027-01-01"));
    assert_null(rt_plan_version_at(p, "CNY", day("2025-12-31")));
    assert_null(rt_plan_version_at(p, "JPY", day("2026-11-01")));
    assert_int_equal(v->n_charges, 9);
    assert_int_equal(v->charges[2].model, RT_MODEL_GRADUATED);
    assert_int_equal(v->charges[2].price.n_tiers, 3);
    assert_true(v->charges[2].price.tiers[2].unbounded);
    assert_int_equal(v->charges[2].price.tiers[1].unit_price, D("0.0015"));
    assert_true(v->charges[2].has_minimum);
    assert_int_equal(v->charges[2].minimum, 10000);
    assert_true(v->charges[0].prorate);   /* flat: default on */
    assert_false(v->charges[2].prorate);  /* usage: default off */
    assert_true(v->charges[1].prorate);   /* seats: set */

    const rt_plan_t *jp = rt_catalog_plan(c, "SAAS_STANDARD_JP");
    assert_int_equal(jp->cycle, RT_CYCLE_QUARTERLY);
    assert_string_equal(jp->versions[0].currency, "JPY");

    const rt_discount_t *d = rt_catalog_discount(c, "WELCOME_COUPON");
    assert_non_null(d);
    assert_int_equal(d->kind, RT_DISC_COUPON);
    assert_string_equal(d->coupon, "WELCOME2026");
    assert_int_equal(d->max_redemptions, 500);
    assert_int_equal(d->valid_to, day("2026-12-31"));
    assert_int_equal(d->n_amounts, 2);
    d = rt_catalog_discount(c, "NEW_CUSTOMER_10");
    assert_int_equal(d->periods, 3);
    assert_int_equal(d->n_plans, 1);
    assert_string_equal(d->plans[0], "SAAS_PRO");
    rt_catalog_destroy(&c);
    assert_null(c);
    rt_catalog_destroy(&c); /* safe on NULL */
}

/* The example, rated for November 2026 with 10 seats and 60,000 API calls. */
static void test_example_rates(void **state)
{
    (void)state;
    char err[256];
    rt_catalog_t *c = rt_catalog_new_from_file(example_path, err, sizeof err);
    assert_non_null(c);
    const rt_price_version_t *v =
        rt_plan_version_at(rt_catalog_plan(c, "SAAS_PRO"), "CNY", day("2026-11-01"));
    rt_usage_t u[] = {{.fee_item = "SEATS", .quantity = D("10")},
                      {.fee_item = "API_CALLS", .quantity = D("60000")}};
    rt_rate_input_t in = {.period_start = day("2026-11-01"), .period_end = day("2026-12-01"),
                          .active_start = day("2026-11-01"), .active_end = day("2026-12-01"),
                          .period_number = 1, .usage = u, .n_usage = 2};
    rt_result_t *r = NULL;
    /* standard: PLATFORM 299.00; SEATS (10 - 3 free) * 59 = 413.00; API
     * (60000 - 10000 free) * 0.002 = 100.00, exactly the minimum: no true-up;
     * everything else 0. NEW_CUSTOMER_10 (plan-wide): 10% of 812.00 = 81.20.
     * total 730.80 */
    assert_int_equal(rt_rate(v, c->discounts, c->n_discounts, &c->settings, &in, &r, err,
                             sizeof err), 0);
    assert_int_equal(r->n_lines, 10);
    assert_int_equal(r->total, 73080);
    assert_string_equal(r->lines[9].discount, "NEW_CUSTOMER_10");
    assert_int_equal(r->lines[9].amount, -8120);
    rt_result_destroy(&r);
    /* gold: PLATFORM 249.00; SEATS 7 * 49 = 343.00; API 50000 * 0.0016 =
     * 80.00 (gold tiers), short of 100.00: true-up 20.00 (not discounted);
     * 10% of 249 + 343 + 80 = 672.00 is 67.20. total 624.80 */
    in.customer_tier = "gold";
    assert_int_equal(rt_rate(v, c->discounts, c->n_discounts, &c->settings, &in, &r, err,
                             sizeof err), 0);
    assert_int_equal(r->n_lines, 11);
    assert_int_equal(r->lines[3].kind, RT_LINE_TRUE_UP);
    assert_int_equal(r->lines[3].amount, 2000);
    assert_int_equal(r->total, 62480);
    rt_result_destroy(&r);
    rt_catalog_destroy(&c);
}

/* A small valid document around one charge and one discount list. */
static char *doc(const char *charge, const char *discounts)
{
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "{\"fee_items\":[{\"code\":\"A\",\"name\":{\"zh-CN\":\"甲\",\"en\":\"A\"},"
             "\"service_type\":\"usage\",\"unit\":\"u\",\"tax_category\":\"std\"}],"
             "\"customer_tiers\":[{\"code\":\"gold\",\"name\":{\"zh-CN\":\"金\",\"en\":\"Gold\"}}],"
             "\"plans\":[{\"code\":\"P\",\"name\":{\"zh-CN\":\"计划\",\"en\":\"Plan\"},"
             "\"billing_cycle\":\"monthly\",\"versions\":[{\"effective_from\":\"2026-01-01\","
             "\"currency\":\"CNY\",\"charges\":[%s]}]}],\"discounts\":[%s]}",
             charge, discounts);
    return buf;
}

#define PER_UNIT "{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":\"1\"}"
#define NAME "\"name\":{\"zh-CN\":\"折\",\"en\":\"D\"}"

static void test_minimal_doc(void **state)
{
    (void)state;
    char err[256] = "";
    rt_catalog_t *c = rt_catalog_new_from_json(doc(PER_UNIT, ""), err, sizeof err);
    if (!c)
        print_error("%s\n", err);
    assert_non_null(c);
    assert_string_equal(err, "");
    rt_catalog_destroy(&c);
    /* settings other than the defaults */
    c = rt_catalog_new_from_json(
        "{\"settings\":{\"proration\":\"30_day_month\",\"rounding\":\"half_up\","
        "\"tier_bounds\":\"exclusive\"},\"fee_items\":[{\"code\":\"A\",\"name\":{\"zh-CN\":\"甲\","
        "\"en\":\"A\"},\"service_type\":\"usage\",\"unit\":\"u\",\"tax_category\":\"std\"}],"
        "\"plans\":[{\"code\":\"P\",\"name\":{\"zh-CN\":\"计\",\"en\":\"P\"},\"billing_cycle\":"
        "\"annual\",\"versions\":[{\"effective_from\":\"2026-01-01\",\"currency\":\"JPY\","
        "\"charges\":[{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":5}]}]}]}",
        err, sizeof err);
    if (!c)
        print_error("%s\n", err);
    assert_non_null(c);
    assert_int_equal(c->settings.proration, RT_PRORATE_30_DAY_MONTH);
    assert_int_equal(c->settings.rounding, BW_ROUND_HALF_UP);
    assert_int_equal(c->settings.tier_bounds, RT_BOUNDS_EXCLUSIVE);
    assert_int_equal(c->plans[0].cycle, RT_CYCLE_ANNUAL);
    assert_int_equal(c->plans[0].versions[0].charges[0].price.unit_price, BW_DEC(5));
    rt_catalog_destroy(&c);
}

static void test_override_inherits(void **state)
{
    (void)state;
    char err[256];
    rt_catalog_t *c = rt_catalog_new_from_json(
        doc("{\"fee_item\":\"A\",\"model\":\"percentage\",\"percent\":\"2\",\"fixed_fee\":\"0.3\","
            "\"max_fee\":\"9\",\"overrides\":{\"gold\":{\"percent\":\"1.5\"}}}",
            ""),
        err, sizeof err);
    assert_non_null(c);
    const rt_charge_t *ch = &c->plans[0].versions[0].charges[0];
    const rt_price_t *gold = rt_charge_price(ch, "gold");
    assert_ptr_not_equal(gold, &ch->price);
    assert_int_equal(gold->percent, D("1.5"));
    assert_int_equal(gold->fixed_fee, D("0.3")); /* inherited */
    assert_true(gold->has_max);
    assert_int_equal(gold->max_fee, D("9"));
    assert_ptr_equal(rt_charge_price(ch, "silver"), &ch->price);
    assert_ptr_equal(rt_charge_price(ch, NULL), &ch->price);
    rt_catalog_destroy(&c);
}

typedef struct {
    const char *charge, *discounts; /* with doc(); or */
    const char *raw;                /* a whole document */
    const char *want;
} bad_t;

#define CH "plans[0].versions[0].charges[0]"

static const bad_t bad_docs[] = {
    {NULL, NULL, "", "(root): invalid JSON: unexpected end of document"},
    {NULL, NULL, "{\"fee_items\": [}",
     "(root): invalid JSON: unexpected character at offset 15"},
    {NULL, NULL, "{} []", "(root): invalid JSON: unexpected text after the document at offset 3"},
    {NULL, NULL, "[1]", "(root): must be an object"},
    {NULL, NULL, "{}", "fee_items: is required"},
    {NULL, NULL, "{\"fee_items\": {}}", "fee_items: must be an array"},
    {NULL, NULL, "{\"setings\": {}}", "setings: unknown field"},
    {NULL, NULL, "{\"settings\": {\"rounding_mode\": \"half_up\"}}",
     "settings.rounding_mode: unknown field"},
    {NULL, NULL, "{\"settings\": {\"rounding\": \"bankers\"}}",
     "settings.rounding: must be one of half_even, half_up"},
    {NULL, NULL,
     "{\"fee_items\":[{\"code\":\"A\",\"name\":{\"zh-CN\":\"甲\",\"en\":\"A\"},"
     "\"service_type\":\"rental\",\"unit\":\"u\",\"tax_category\":\"std\"}]}",
     "fee_items[0].service_type: must be one of subscription, usage, one_time, consulting, "
     "repair, after_sales"},
    {NULL, NULL,
     "{\"fee_items\":[{\"code\":\"A\",\"name\":{\"zh-CN\":\"甲\"},"
     "\"service_type\":\"usage\",\"unit\":\"u\",\"tax_category\":\"std\"}]}",
     "fee_items[0].name.en: is required"},
    {NULL, NULL,
     "{\"fee_items\":[{\"code\":\"A\",\"name\":{\"zh-CN\":\"甲\",\"en\":\"A\"},"
     "\"service_type\":\"usage\",\"unit\":\"u\",\"tax_category\":\"std\"},"
     "{\"code\":\"A\",\"name\":{\"zh-CN\":\"乙\",\"en\":\"B\"},"
     "\"service_type\":\"usage\",\"unit\":\"u\",\"tax_category\":\"std\"}]}",
     "fee_items[1].code: duplicate code \"A\""},
    {NULL, NULL,
     "{\"fee_items\":[{\"code\":\"A B\",\"name\":{\"zh-CN\":\"甲\",\"en\":\"A\"},"
     "\"service_type\":\"usage\",\"unit\":\"u\",\"tax_category\":\"std\"}]}",
     "fee_items[0].code: must be 1 to 63 letters, digits, '_', '-' or '.'"},
    {"{\"fee_item\":\"B\",\"model\":\"per_unit\",\"unit_price\":\"1\"}", "", NULL,
     CH ".fee_item: unknown fee item \"B\""},
    {"{\"fee_item\":\"A\",\"model\":\"tiered\"}", "", NULL,
     CH ".model: must be one of flat, per_unit, graduated, volume, stairstep, package, "
        "percentage"},
    {"{\"fee_item\":\"A\",\"model\":\"graduated\",\"tiers\":[{\"up_to\":\"100\",\"unit_price\":"
     "\"1\"},{\"up_to\":\"100\",\"unit_price\":\"0.5\"},{\"up_to\":null,\"unit_price\":\"0.1\"}]}",
     "", NULL, CH ".tiers[1].up_to: must be greater than 100"},
    {"{\"fee_item\":\"A\",\"model\":\"volume\",\"tiers\":[{\"up_to\":\"100\",\"unit_price\":"
     "\"1\"},{\"up_to\":\"1000\",\"unit_price\":\"0.5\"}]}",
     "", NULL, CH ".tiers[1].up_to: must be null: the last tier is unbounded"},
    {"{\"fee_item\":\"A\",\"model\":\"graduated\",\"tiers\":[{\"unit_price\":\"1\"},"
     "{\"unit_price\":\"0.5\"}]}",
     "", NULL, CH ".tiers[0].up_to: is required (only the last tier is unbounded)"},
    {"{\"fee_item\":\"A\",\"model\":\"stairstep\",\"tiers\":[{\"up_to\":null,\"unit_price\":"
     "\"1\"}]}",
     "", NULL, CH ".tiers[0].unit_price: not used by model stairstep"},
    {"{\"fee_item\":\"A\",\"model\":\"graduated\",\"tiers\":[]}", "", NULL,
     CH ".tiers: must not be empty"},
    {"{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":1.5}", "", NULL,
     CH ".unit_price: must be a string such as \"12.50\" (floating-point numbers are not "
        "accepted)"},
    {"{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":\"1,5\"}", "", NULL,
     CH ".unit_price: not a decimal number"},
    {"{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":\"-1\"}", "", NULL,
     CH ".unit_price: must not be negative"},
    {"{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":\"0.0000000001\"}", "", NULL,
     CH ".unit_price: too many decimal places (max 9)"},
    {"{\"fee_item\":\"A\",\"model\":\"per_unit\"}", "", NULL, CH ".unit_price: is required"},
    {"{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":\"1\",\"minimum\":\"1.005\"}", "",
     NULL, CH ".minimum: too many decimal places for CNY (max 2)"},
    {"{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":\"1\",\"tiers\":[]}", "", NULL,
     CH ".tiers: not used by model per_unit"},
    {"{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":\"1\",\"colour\":\"red\"}", "",
     NULL, CH ".colour: unknown field"},
    {"{\"fee_item\":\"A\",\"model\":\"flat\",\"price\":\"1\",\"free_units\":\"5\"}", "", NULL,
     CH ".free_units: not used by model flat"},
    {"{\"fee_item\":\"A\",\"model\":\"package\",\"package_size\":\"0\",\"package_price\":\"5\"}",
     "", NULL, CH ".package_size: must be greater than 0"},
    {"{\"fee_item\":\"A\",\"model\":\"percentage\",\"percent\":\"101\"}", "", NULL,
     CH ".percent: must be greater than 0 and at most 100"},
    {"{\"fee_item\":\"A\",\"model\":\"percentage\",\"percent\":\"1\",\"min_fee\":\"5\","
     "\"max_fee\":\"2\"}",
     "", NULL, CH ".max_fee: max_fee must not be less than min_fee"},
    {"{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":\"1\",\"overrides\":"
     "{\"platinum\":{\"unit_price\":\"0.5\"}}}",
     "", NULL, CH ".overrides.platinum: unknown customer tier \"platinum\""},
    {"{\"fee_item\":\"A\",\"model\":\"per_unit\",\"unit_price\":\"1\",\"overrides\":"
     "{\"gold\":{\"price\":\"0.5\"}}}",
     "", NULL, CH ".overrides.gold.price: not used by model per_unit"},
    {"{\"fee_item\":\"A\",\"model\":\"graduated\",\"tiers\":[{\"up_to\":null,\"unit_price\":"
     "\"1\"}],\"overrides\":{\"gold\":{\"tiers\":[{\"up_to\":\"0\",\"unit_price\":\"1\"},"
     "{\"unit_price\":\"1\"}]}}}",
     "", NULL, CH ".overrides.gold.tiers[0].up_to: must be greater than 0"},
    {PER_UNIT "," PER_UNIT, "", NULL,
     "plans[0].versions[0].charges[1].fee_item: fee item \"A\" is already charged in this "
     "version"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"loyal\",\"after_periods\":1,\"percent\":"
               "\"150\"}",
     NULL, "discounts[0].percent: must be greater than 0 and at most 100"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"loyal\",\"after_periods\":1,\"percent\":"
               "\"5\",\"amount\":{\"CNY\":\"5\"}}",
     NULL, "discounts[0].amount: cannot be combined with percent"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"loyal\",\"after_periods\":1}", NULL,
     "discounts[0]: needs either percent or amount"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"loyal\",\"first_periods\":1,\"percent\":"
               "\"5\"}",
     NULL, "discounts[0].first_periods: not used by kind loyal"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"new_customer\",\"percent\":\"5\"}", NULL,
     "discounts[0].first_periods: is required"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"volume\",\"min_quantity\":\"5\",\"percent\":"
               "\"5\"}",
     NULL, "discounts[0].fee_item: is required for a volume discount"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"loyal\",\"after_periods\":1,\"amount\":"
               "{\"JPY\":\"800.5\"}}",
     NULL, "discounts[0].amount.JPY: too many decimal places for JPY (max 0)"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"loyal\",\"after_periods\":1,\"amount\":"
               "{\"XYZ\":\"8\"}}",
     NULL, "discounts[0].amount.XYZ: unknown currency \"XYZ\""},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"loyal\",\"after_periods\":1,\"percent\":"
               "\"5\",\"plans\":[\"Q\"]}",
     NULL, "discounts[0].plans[0]: unknown plan \"Q\""},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"coupon\",\"percent\":\"5\",\"coupon\":"
               "{\"code\":\"C\",\"valid_from\":\"2026-06-01\",\"valid_to\":\"2026-05-31\"}}",
     NULL, "discounts[0].coupon.valid_to: must not be before valid_from"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"coupon\",\"percent\":\"5\",\"coupon\":"
               "{\"code\":\"C\",\"valid_from\":\"2026-02-30\",\"valid_to\":\"2026-05-31\"}}",
     NULL, "discounts[0].coupon.valid_from: must be a date YYYY-MM-DD"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"coupon\",\"percent\":\"5\",\"coupon\":"
               "{\"code\":\"C\",\"valid_from\":\"2026-01-01\",\"valid_to\":\"2026-05-31\","
               "\"max_redemptions\":0}}",
     NULL, "discounts[0].coupon.max_redemptions: must be between 1 and 9223372036854775807"},
    {PER_UNIT, "{\"code\":\"D\"," NAME ",\"kind\":\"loyal\",\"after_periods\":1,\"percent\":"
               "\"5\"},{\"code\":\"D\"," NAME ",\"kind\":\"loyal\",\"after_periods\":2,"
               "\"percent\":\"5\"}",
     NULL, "discounts[1].code: duplicate code \"D\""},
};

static void test_bad_documents(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_docs / sizeof bad_docs[0]; i++) {
        const bad_t *b = &bad_docs[i];
        char err[512] = "";
        const char *text = b->raw ? b->raw : doc(b->charge, b->discounts);
        rt_catalog_t *c = rt_catalog_new_from_json(text, err, sizeof err);
        if (c || strcmp(err, b->want) != 0)
            print_error("case %zu: got \"%s\"\n          want \"%s\"\n", i, err, b->want);
        assert_null(c);
        assert_string_equal(err, b->want);
    }
}

static void test_version_errors(void **state)
{
    (void)state;
    static const char *const base =
        "{\"fee_items\":[{\"code\":\"A\",\"name\":{\"zh-CN\":\"甲\",\"en\":\"A\"},"
        "\"service_type\":\"usage\",\"unit\":\"u\",\"tax_category\":\"std\"}],"
        "\"plans\":[{\"code\":\"P\",\"name\":{\"zh-CN\":\"计划\",\"en\":\"Plan\"},"
        "\"billing_cycle\":\"%s\",\"versions\":[%s]}]}";
    static const char *const v1 =
        "{\"effective_from\":\"2026-01-01\",\"currency\":\"%s\",\"charges\":[" PER_UNIT "]}";
    static const struct {
        const char *cycle, *cur1, *cur2, *want;
    } cases[] = {
        {"weekly", "CNY", NULL,
         "plans[0].billing_cycle: must be one of monthly, quarterly, annual"},
        {"monthly", "XYZ", NULL, "plans[0].versions[0].currency: unknown currency \"XYZ\""},
        {"monthly", "CNY", "CNY",
         "plans[0].versions[1].effective_from: another CNY version is effective from 2026-01-01"},
        {"monthly", "CNY", "JPY", NULL}, /* same date, other currency: fine */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char a[512], b[512], vs[1100], text[2048], err[256] = "";
        snprintf(a, sizeof a, v1, cases[i].cur1);
        if (cases[i].cur2) {
            snprintf(b, sizeof b, v1, cases[i].cur2);
            snprintf(vs, sizeof vs, "%s,%s", a, b);
        } else {
            snprintf(vs, sizeof vs, "%s", a);
        }
        snprintf(text, sizeof text, base, cases[i].cycle, vs);
        rt_catalog_t *c = rt_catalog_new_from_json(text, err, sizeof err);
        if (!cases[i].want) {
            assert_non_null(c);
            rt_catalog_destroy(&c);
            continue;
        }
        assert_null(c);
        assert_string_equal(err, cases[i].want);
    }
    char err[256];
    assert_null(rt_catalog_new_from_json(NULL, err, sizeof err));
    assert_string_equal(err, "(root): no document");
    assert_null(rt_catalog_new_from_file("/nonexistent/catalog.json", err, sizeof err));
    assert_string_equal(err, "/nonexistent/catalog.json: No such file or directory");
    /* no err buffer at all is fine */
    assert_null(rt_catalog_new_from_json("{}", NULL, 0));
}

int main(int argc, char **argv)
{
    (void)argc;
    example_path = find_example(argv[0]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_loads),   cmocka_unit_test(test_example_rates),
        cmocka_unit_test(test_minimal_doc),     cmocka_unit_test(test_override_inherits),
        cmocka_unit_test(test_bad_documents),   cmocka_unit_test(test_version_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
