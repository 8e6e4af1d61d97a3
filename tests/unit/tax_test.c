/* Tax: every expectation below was computed by hand, with the exact
 * rational written next to it so a reader can check the rounding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "errors.h"
#include "invoicing/tax.h"

static void expect_tax(inv_tax_mode_t mode, int64_t amount, int32_t rate, int64_t net,
                       int64_t tax)
{
    int64_t n = -1, t = -1;
    assert_int_equal(inv_tax_amount(mode, amount, rate, &n, &t), 0);
    assert_int_equal(n, net);
    assert_int_equal(t, tax);
}

static void test_exclusive(void **state)
{
    (void)state;
    expect_tax(INV_TAX_EXCLUSIVE, 10000, 130000, 10000, 1300); /* 100.00 * 13% */
    expect_tax(INV_TAX_EXCLUSIVE, 12345, 60000, 12345, 741);   /* 740.7 -> 741 */
    expect_tax(INV_TAX_EXCLUSIVE, 999, 0, 999, 0);
    expect_tax(INV_TAX_EXCLUSIVE, 0, 130000, 0, 0);
}

static void test_half_even_half_fen(void **state)
{
    (void)state;
    expect_tax(INV_TAX_EXCLUSIVE, 25, 60000, 25, 2);   /* 1.5 fen -> 2 (even) */
    expect_tax(INV_TAX_EXCLUSIVE, 75, 60000, 75, 4);   /* 4.5 fen -> 4 (even) */
    expect_tax(INV_TAX_EXCLUSIVE, 50, 130000, 50, 6);  /* 6.5 -> 6 */
    expect_tax(INV_TAX_EXCLUSIVE, 150, 130000, 150, 20); /* 19.5 -> 20 */
    expect_tax(INV_TAX_EXCLUSIVE, 51, 130000, 51, 7);  /* 6.63 -> 7 */
    /* Negative (discount) lines round symmetrically. */
    expect_tax(INV_TAX_EXCLUSIVE, -50, 130000, -50, -6);  /* -6.5 -> -6 */
    expect_tax(INV_TAX_EXCLUSIVE, -150, 130000, -150, -20);
    /* Inclusive at 100%: net = amount / 2, exactly half for odd amounts. */
    expect_tax(INV_TAX_INCLUSIVE, 5, 1000000, 2, 3); /* 2.5 -> 2 */
    expect_tax(INV_TAX_INCLUSIVE, 7, 1000000, 4, 3); /* 3.5 -> 4 */
}

static void test_inclusive(void **state)
{
    (void)state;
    expect_tax(INV_TAX_INCLUSIVE, 11300, 130000, 10000, 1300);
    expect_tax(INV_TAX_INCLUSIVE, 100, 130000, 88, 12);     /* 88.495... */
    expect_tax(INV_TAX_INCLUSIVE, 10600, 60000, 10000, 600);
    expect_tax(INV_TAX_INCLUSIVE, 1, 60000, 1, 0);          /* 0.943 -> 1 */
    expect_tax(INV_TAX_INCLUSIVE, -11300, 130000, -10000, -1300);
}

static void test_jpy_zero_exponent(void **state)
{
    (void)state;
    const inv_tax_profile_t *jp = inv_tax_profile_find("jp-consumption");
    assert_non_null(jp);
    assert_int_equal(jp->mode, INV_TAX_INCLUSIVE);
    /* Minor unit of JPY is the yen itself. */
    expect_tax(INV_TAX_EXCLUSIVE, 1005, 100000, 1005, 100); /* 100.5 -> 100 */
    expect_tax(INV_TAX_EXCLUSIVE, 1015, 100000, 1015, 102); /* 101.5 -> 102 */
    expect_tax(INV_TAX_INCLUSIVE, 1100, 100000, 1000, 100);
    expect_tax(INV_TAX_INCLUSIVE, 1000, 100000, 909, 91);   /* 909.09 */
    expect_tax(INV_TAX_INCLUSIVE, 1080, 80000, 1000, 80);

    inv_tax_line_t lines[] = {
        {.category = "standard", .amount_minor = 1100},
        {.category = "reduced", .amount_minor = 540},  /* 500 + 40 */
        {.category = NULL, .amount_minor = 1000},      /* default: standard */
    };
    inv_tax_totals_t t;
    char err[128];
    assert_int_equal(inv_tax_compute(jp, INV_TAX_MODE_PROFILE, lines, 3, &t, err, sizeof err), 0);
    assert_string_equal(lines[2].category_name, "standard");
    assert_int_equal(t.subtotal_minor, 1000 + 500 + 909);
    assert_int_equal(t.tax_minor, 100 + 40 + 91);
    assert_int_equal(t.total_minor, 1100 + 540 + 1000); /* inclusive: gross kept */
    assert_int_equal(t.nsummary, 2);
    assert_string_equal(t.summary[0].category->name, "standard");
    assert_int_equal(t.summary[0].base_minor, 1909);
    assert_int_equal(t.summary[0].tax_minor, 191);
    assert_string_equal(t.summary[1].category->name, "reduced");
    assert_int_equal(t.summary[1].rate_ppm, 80000);
}

static void test_several_categories(void **state)
{
    (void)state;
    const inv_tax_profile_t *cn = inv_tax_profile_find("cn-vat-general");
    assert_non_null(cn);
    inv_tax_line_t lines[] = {
        {.category = "exempt", .amount_minor = 2000},
        {.category = "standard", .amount_minor = 10000}, /* 1300 */
        {.category = "services", .amount_minor = 5000},  /* 300 */
        {.category = "standard", .amount_minor = 25},    /* 3.25 -> 3 */
        {.category = "services", .amount_minor = 25},    /* 1.5 -> 2 */
        {.category = "standard", .amount_minor = -1000}, /* discount: -130 */
    };
    size_t n = sizeof lines / sizeof lines[0];
    inv_tax_totals_t t;
    char err[128];
    assert_int_equal(inv_tax_compute(cn, INV_TAX_MODE_PROFILE, lines, n, &t, err, sizeof err), 0);
    assert_int_equal(lines[3].tax_minor, 3);
    assert_int_equal(lines[4].tax_minor, 2);
    assert_int_equal(lines[5].tax_minor, -130);
    assert_int_equal(t.nsummary, 3);
    /* Profile order, not line order. */
    assert_string_equal(t.summary[0].category->name, "standard");
    assert_int_equal(t.summary[0].rate_ppm, 130000);
    assert_int_equal(t.summary[0].base_minor, 9025);
    assert_int_equal(t.summary[0].tax_minor, 1173);
    assert_string_equal(t.summary[1].category->name, "services");
    assert_int_equal(t.summary[1].base_minor, 5025);
    assert_int_equal(t.summary[1].tax_minor, 302);
    assert_string_equal(t.summary[2].category->name, "exempt");
    assert_int_equal(t.summary[2].base_minor, 2000);
    assert_int_equal(t.summary[2].tax_minor, 0);
    assert_int_equal(t.subtotal_minor, 16050);
    assert_int_equal(t.tax_minor, 1475);
    assert_int_equal(t.total_minor, 17525);

    /* Totals are the sums of the lines, and of the summary rows. */
    int64_t net = 0, tax = 0, sbase = 0, stax = 0;
    for (size_t i = 0; i < n; i++) {
        net += lines[i].net_minor;
        tax += lines[i].tax_minor;
    }
    for (size_t i = 0; i < t.nsummary; i++) {
        sbase += t.summary[i].base_minor;
        stax += t.summary[i].tax_minor;
    }
    assert_int_equal(net, t.subtotal_minor);
    assert_int_equal(tax, t.tax_minor);
    assert_int_equal(sbase, t.subtotal_minor);
    assert_int_equal(stax, t.tax_minor);
    assert_int_equal(t.total_minor, t.subtotal_minor + t.tax_minor);

    /* The same lines priced inclusive. */
    assert_int_equal(inv_tax_compute(cn, INV_TAX_INCLUSIVE, lines, 2, &t, err, sizeof err), 0);
    assert_int_equal(lines[1].net_minor, 8850); /* 10000 / 1.13 = 8849.56 */
    assert_int_equal(lines[1].tax_minor, 1150);
    assert_int_equal(t.total_minor, 12000);
}

static void test_errors(void **state)
{
    (void)state;
    char err[128] = "";
    int64_t n, t;
    const inv_tax_category_t *c;
    assert_null(inv_tax_profile_find("de-vat"));
    assert_null(inv_tax_profile_find(NULL));
    const inv_tax_profile_t *small = inv_tax_profile_find("cn-vat-small");
    assert_non_null(small);
    assert_int_equal(inv_tax_category_find(small, "luxury", &c, err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "luxury"));
    assert_non_null(strstr(err, "cn-vat-small"));

    inv_tax_line_t lines[] = {{.category = "standard", .amount_minor = 100},
                              {.category = "reduced", .amount_minor = 100}};
    inv_tax_totals_t tot;
    assert_int_equal(inv_tax_compute(small, 0, lines, 2, &tot, err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "\"reduced\""));
    assert_int_equal(tot.total_minor, 0);
    assert_int_equal(inv_tax_compute(NULL, 0, lines, 1, &tot, err, sizeof err), BW_EINVAL);

    assert_int_equal(inv_tax_amount(INV_TAX_EXCLUSIVE, INT64_MAX, 130000, &n, &t), BW_EINVAL);
    assert_int_equal(inv_tax_amount(INV_TAX_EXCLUSIVE, INT64_MIN, 0, &n, &t), BW_EINVAL);
    assert_int_equal(inv_tax_amount(INV_TAX_EXCLUSIVE, 100, -1, &n, &t), BW_EINVAL);
    assert_int_equal(inv_tax_amount(INV_TAX_EXCLUSIVE, 100, INV_TAX_RATE_MAX + 1, &n, &t),
                     BW_EINVAL);
    assert_int_equal(inv_tax_amount(INV_TAX_MODE_PROFILE, 100, 0, &n, &t), BW_EINVAL);
    /* Large but representable amounts stay exact. */
    expect_tax(INV_TAX_EXCLUSIVE, 1000000000000000000LL, 130000, 1000000000000000000LL,
               130000000000000000LL);
    expect_tax(INV_TAX_INCLUSIVE, INT64_MAX, 0, INT64_MAX, 0);

    inv_tax_line_t big[] = {{.category = "standard", .amount_minor = INT64_MAX / 2},
                            {.category = "standard", .amount_minor = INT64_MAX / 2}};
    assert_int_equal(inv_tax_compute(small, 0, big, 2, &tot, err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "out of range"));
}

static void test_table_well_formed(void **state)
{
    (void)state;
    const inv_tax_profile_t *p;
    size_t count = 0;
    for (size_t i = 0; (p = inv_tax_profile_at(i)); i++, count++) {
        const inv_tax_category_t *c;
        assert_true(p->mode == INV_TAX_EXCLUSIVE || p->mode == INV_TAX_INCLUSIVE);
        assert_true(p->ncategories >= 1 && p->ncategories <= INV_TAX_MAX_CATEGORIES);
        assert_int_equal(inv_tax_category_find(p, NULL, &c, NULL, 0), 0);
        assert_ptr_equal(inv_tax_profile_find(p->id), p); /* ids unique */
        for (size_t k = 0; k < p->ncategories; k++) {
            assert_true(p->categories[k].rate_ppm >= 0 &&
                        p->categories[k].rate_ppm <= INV_TAX_RATE_MAX);
            assert_non_null(p->categories[k].label_en);
            assert_non_null(p->categories[k].label_zh);
            for (size_t j = 0; j < k; j++)
                assert_string_not_equal(p->categories[j].name, p->categories[k].name);
        }
    }
    assert_int_equal(count, 4);
    const inv_tax_category_t *c;
    p = inv_tax_profile_find("cn-vat-general");
    assert_int_equal(inv_tax_category_find(p, "standard", &c, NULL, 0), 0);
    assert_int_equal(c->rate_ppm, 130000);
    assert_int_equal(inv_tax_category_find(p, "services", &c, NULL, 0), 0);
    assert_int_equal(c->rate_ppm, 60000);
    assert_int_equal(inv_tax_category_find(p, "exempt", &c, NULL, 0), 0);
    assert_int_equal(c->rate_ppm, 0);
    p = inv_tax_profile_find("cn-vat-small");
    assert_int_equal(inv_tax_category_find(p, NULL, &c, NULL, 0), 0);
    assert_int_equal(c->rate_ppm, 30000);
    p = inv_tax_profile_find("none");
    assert_int_equal(inv_tax_category_find(p, "services", &c, NULL, 0), 0);
    assert_int_equal(c->rate_ppm, 0);
}

static void test_rate_format(void **state)
{
    (void)state;
    char b[16];
    inv_tax_rate_format(130000, b, sizeof b);
    assert_string_equal(b, "13%");
    inv_tax_rate_format(82500, b, sizeof b);
    assert_string_equal(b, "8.25%");
    inv_tax_rate_format(0, b, sizeof b);
    assert_string_equal(b, "0%");
    inv_tax_rate_format(5, b, sizeof b);
    assert_string_equal(b, "0.0005%");
    inv_tax_rate_format(1000000, b, sizeof b);
    assert_string_equal(b, "100%");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exclusive),          cmocka_unit_test(test_half_even_half_fen),
        cmocka_unit_test(test_inclusive),          cmocka_unit_test(test_jpy_zero_exponent),
        cmocka_unit_test(test_several_categories), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_table_well_formed),  cmocka_unit_test(test_rate_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
