/* Unit tests for the pure rules of price changes (rating/pricechange.h):
 * the effective-date rule, the transition discount, the percentage of a
 * difference, scope, and validation of the change document with errors
 * that name the field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "money.h"
#include "rating/pricechange.h"

static int64_t day(const char *s)
{
    int64_t d = 0;
    assert_int_equal(bw_date_parse(s, &d), 0);
    return d;
}

static void test_effective_day(void **state)
{
    (void)state;
    int64_t eff = day("2027-01-01");
    /* Notified 40 days ahead: the effective date. */
    assert_int_equal(rt_pc_effective_day(eff, day("2026-11-22"), 30), eff);
    /* Exactly 30 days ahead: still the effective date. */
    assert_int_equal(rt_pc_effective_day(eff, day("2026-12-02"), 30), eff);
    /* 10 days ahead: 30 days after delivery. */
    assert_int_equal(rt_pc_effective_day(eff, day("2026-12-22"), 30), day("2027-01-21"));
    /* Delivered after the effective date. */
    assert_int_equal(rt_pc_effective_day(eff, day("2027-01-05"), 30), day("2027-02-04"));
    /* Never reached: old price. */
    assert_int_equal(rt_pc_effective_day(eff, -1, 30), -1);
    /* No minimum notice: the later of the two dates. */
    assert_int_equal(rt_pc_effective_day(eff, day("2026-12-31"), 0), eff);
    assert_int_equal(rt_pc_effective_day(eff, day("2027-01-03"), 0), day("2027-01-03"));
}

static void test_transition(void **state)
{
    (void)state;
    int64_t w = -1;
    /* 50% of a 40.00 increase. */
    assert_int_equal(rt_pc_transition_discount(40000, 44000, BW_DEC(50), BW_ROUND_HALF_EVEN, &w), 0);
    assert_int_equal(w, 2000);
    /* A price cut waives nothing. */
    assert_int_equal(rt_pc_transition_discount(44000, 40000, BW_DEC(50), BW_ROUND_HALF_EVEN, &w), 0);
    assert_int_equal(w, 0);
    /* Rounded once: 33.333...% of 0.25 = 0.0833 -> 8 minor units. */
    bw_dec_t third;
    assert_int_equal(bw_dec_parse("33.333333333", &third, NULL, 0), 0);
    assert_int_equal(rt_pc_transition_discount(100, 125, third, BW_ROUND_HALF_EVEN, &w), 0);
    assert_int_equal(w, 8);
    /* Half-even vs half-up on an exact half: 50% of 0.01. */
    assert_int_equal(rt_pc_transition_discount(0, 1, BW_DEC(50), BW_ROUND_HALF_EVEN, &w), 0);
    assert_int_equal(w, 0);
    assert_int_equal(rt_pc_transition_discount(0, 1, BW_DEC(50), BW_ROUND_HALF_UP, &w), 0);
    assert_int_equal(w, 1);
    assert_true(rt_pc_in_transition(2, 1));
    assert_true(rt_pc_in_transition(2, 2));
    assert_false(rt_pc_in_transition(2, 3));
    assert_false(rt_pc_in_transition(0, 1));
    assert_false(rt_pc_in_transition(2, 0));
}

static void test_diff_percent(void **state)
{
    (void)state;
    char b[32];
    rt_pc_diff_percent(40000, 44000, b, sizeof b);
    assert_string_equal(b, "10");
    rt_pc_diff_percent(30000, 31000, b, sizeof b);
    assert_string_equal(b, "3.33");
    rt_pc_diff_percent(30000, 29000, b, sizeof b);
    assert_string_equal(b, "-3.33");
    rt_pc_diff_percent(0, 100, b, sizeof b);
    assert_string_equal(b, "");
}

static const char GOOD[] =
    "{\"id\": \"PC-1\", \"plan\": \"PRO\", \"currency\": \"CNY\","
    " \"charges\": [{\"fee_item\": \"PLATFORM\", \"model\": \"flat\", \"price\": \"330.00\"}],"
    " \"reason\": {\"en\": \"Costs rose.\", \"zh-CN\": \"成本上升。\"}, \"value\": \"Support.\","
    " \"exclude\": {\"tiers\": [\"gold\"], \"accounts\": [\"A7\"]},"
    " \"grandfather\": {\"accounts\": [\"A9\"]},"
    " \"effective_date\": \"2027-01-01\", \"transition\": {\"periods\": 2, \"percent\": \"50\"},"
    " \"feedback_channels\": [\"phone 400\"]}";

static void test_doc(void **state)
{
    (void)state;
    char err[256];
    rt_pc_doc_t *d = rt_pc_doc_new(GOOD, err, sizeof err);
    assert_non_null(d);
    assert_string_equal(d->id, "PC-1");
    assert_string_equal(d->reason.zh_cn, "成本上升。");
    assert_int_equal(d->min_notice_days, 30);
    assert_int_equal(d->n_reminder_days, 3);
    assert_int_equal(d->reminder_days[0], 30);
    assert_int_equal(d->transition_periods, 2);
    assert_true(d->transition_percent == BW_DEC(50));
    assert_string_equal(rt_pc_scope_of(d, "A1", "gold"), "excluded");
    assert_string_equal(rt_pc_scope_of(d, "A7", ""), "excluded");
    assert_string_equal(rt_pc_scope_of(d, "A9", ""), "grandfathered");
    assert_string_equal(rt_pc_scope_of(d, "A1", "standard"), "affected");
    rt_pc_doc_destroy(&d);
    assert_null(d);
    rt_pc_doc_destroy(&d); /* safe on NULL */
}

static void expect_error(const char *from, const char *to, const char *want)
{
    char doc[2048], err[256] = "";
    const char *at = strstr(GOOD, from);
    assert_non_null(at);
    snprintf(doc, sizeof doc, "%.*s%s%s", (int)(at - GOOD), GOOD, to, at + strlen(from));
    rt_pc_doc_t *d = rt_pc_doc_new(doc, err, sizeof err);
    if (d)
        fail_msg("accepted: %s", doc);
    if (!strstr(err, want))
        fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void test_doc_errors(void **state)
{
    (void)state;
    expect_error("\"id\": \"PC-1\"", "\"id\": \"PC 1\"", "id:");
    expect_error("\"2027-01-01\"", "\"2027-02-30\"", "effective_date:");
    expect_error("\"percent\": \"50\"", "\"percent\": \"150\"", "transition.percent:");
    expect_error("\"periods\": 2", "\"periods\": 0", "transition.periods:");
    expect_error("\"feedback_channels\": [\"phone 400\"]", "\"feedback_channels\": []",
                 "feedback_channels:");
    expect_error("\"value\": \"Support.\"", "\"value\": 3", "value:");
    expect_error("\"currency\": \"CNY\"", "\"currency\": \"XXQ\"", "currency:");
    expect_error("\"exclude\"", "\"exclud\"", "exclud: unknown field");
    expect_error("\"tiers\": [\"gold\"]", "\"tiers\": [\"\"]", "exclude.tiers[0]");
    expect_error("\"effective_date\"", "\"min_notice_days\": 400, \"effective_date\"",
                 "min_notice_days:");
    char err[128];
    assert_null(rt_pc_doc_new("{", err, sizeof err));
    assert_non_null(strstr(err, "not JSON"));
    assert_null(rt_pc_doc_new("[]", err, sizeof err));
}

static const char CATALOG[] =
    "{\"fee_items\": [{\"code\": \"PLATFORM\", \"name\": {\"en\": \"Platform\", \"zh-CN\": \"平台\"},"
    " \"service_type\": \"subscription\", \"unit\": \"month\", \"tax_category\": \"standard\"}],"
    " \"plans\": [{\"code\": \"PRO\", \"name\": {\"en\": \"Pro\", \"zh-CN\": \"专业\"}, \"billing_cycle\": \"monthly\","
    " \"versions\": [{\"effective_from\": \"2026-01-01\", \"currency\": \"CNY\", \"charges\":"
    " [{\"fee_item\": \"PLATFORM\", \"model\": \"flat\", \"price\": \"300.00\"}]}]}]}";

static void test_catalog_doc(void **state)
{
    (void)state;
    char err[256];
    rt_pc_doc_t *d = rt_pc_doc_new(GOOD, err, sizeof err);
    assert_non_null(d);
    char *doc = rt_pc_catalog_doc(d, CATALOG, err, sizeof err);
    if (!doc)
        fail_msg("%s", err);
    rt_catalog_t *c = rt_catalog_new_from_json(doc, err, sizeof err);
    assert_non_null(c);
    const rt_price_version_t *pv = rt_pc_version(c, "PRO", "CNY", day("2027-01-01"));
    assert_non_null(pv);
    assert_true(pv->charges[0].price.amount == BW_DEC(330));
    rt_catalog_destroy(&c);
    free(doc);
    rt_pc_doc_destroy(&d);

    /* A bad charge is named from the change's point of view. */
    char bad[2048];
    snprintf(bad, sizeof bad, "%s", GOOD);
    char *p = strstr(bad, "330.00");
    memcpy(p, "3.3.00", 6);
    d = rt_pc_doc_new(bad, err, sizeof err);
    assert_non_null(d);
    assert_null(rt_pc_catalog_doc(d, CATALOG, err, sizeof err));
    assert_non_null(strstr(err, "charges[0].price"));
    assert_null(strstr(err, "plans["));
    rt_pc_doc_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_effective_day), cmocka_unit_test(test_transition),
        cmocka_unit_test(test_diff_percent),  cmocka_unit_test(test_doc),
        cmocka_unit_test(test_doc_errors),    cmocka_unit_test(test_catalog_doc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
