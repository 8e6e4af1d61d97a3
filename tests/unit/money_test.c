/* Unit tests for common/money: decimal parsing and formatting, overflow
 * edges, exact rounding (half-even vs half-up on exact ties), currency
 * exponents and money parsing in major units. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "errors.h"
#include "money.h"

static bw_dec_t dec(const char *s)
{
    bw_dec_t v = 0;
    assert_int_equal(bw_dec_parse(s, &v, NULL, 0), 0);
    return v;
}

static void test_parse_ok(void **state)
{
    (void)state;
    assert_int_equal(dec("12.5"), INT64_C(12500000000));
    assert_int_equal(dec("-3"), INT64_C(-3000000000));
    assert_int_equal(dec("0.000001"), INT64_C(1000));
    assert_int_equal(dec("+7"), BW_DEC(7));
    assert_int_equal(dec("0.000000001"), 1);
    assert_int_equal(dec("1.50000000000"), INT64_C(1500000000)); /* zeros past 9 places */
    assert_int_equal(dec("9223372036.854775807"), INT64_MAX);
    assert_int_equal(dec("-9223372036.854775808"), INT64_MIN);
    assert_int_equal(dec("-0"), 0);
}

static void expect_parse_error(const char *s, const char *msg)
{
    char err[64] = "";
    bw_dec_t v = 42;
    assert_int_equal(bw_dec_parse(s, &v, err, sizeof err), BW_EINVAL);
    assert_string_equal(err, msg);
    assert_int_equal(v, 42);
}

static void test_parse_errors(void **state)
{
    (void)state;
    expect_parse_error("", "empty");
    expect_parse_error(NULL, "empty");
    expect_parse_error("abc", "not a decimal number");
    expect_parse_error("1.2.3", "not a decimal number");
    expect_parse_error(".5", "not a decimal number");
    expect_parse_error("5.", "not a decimal number");
    expect_parse_error(" 5", "not a decimal number");
    expect_parse_error("5 ", "not a decimal number");
    expect_parse_error("1e3", "not a decimal number");
    expect_parse_error("-", "not a decimal number");
    expect_parse_error("--1", "not a decimal number");
    expect_parse_error("0.0000000001", "too many decimal places (max 9)");
    expect_parse_error("9223372036.854775808", "out of range");
    expect_parse_error("-9223372036.854775809", "out of range");
    expect_parse_error("99999999999999999999999999", "out of range");
}

static void expect_format(bw_dec_t v, const char *want)
{
    char buf[BW_DEC_STRLEN];
    assert_int_equal(bw_dec_format(v, buf, sizeof buf), 0);
    assert_string_equal(buf, want);
}

static void test_format(void **state)
{
    (void)state;
    expect_format(dec("12.5"), "12.5");
    expect_format(dec("-3"), "-3");
    expect_format(dec("0.000001"), "0.000001");
    expect_format(dec("-0.5"), "-0.5");
    expect_format(0, "0");
    expect_format(INT64_MAX, "9223372036.854775807");
    expect_format(INT64_MIN, "-9223372036.854775808");
    char small[4];
    assert_int_equal(bw_dec_format(dec("12.5"), small, sizeof small), BW_ETOOBIG);
}

static void test_arith(void **state)
{
    (void)state;
    bw_dec_t r;
    assert_int_equal(bw_dec_add(dec("1.1"), dec("2.2"), &r), 0);
    assert_int_equal(r, dec("3.3"));
    assert_int_equal(bw_dec_sub(dec("1.1"), dec("2.2"), &r), 0);
    assert_int_equal(r, dec("-1.1"));
    assert_int_equal(bw_dec_add(INT64_MAX, 1, &r), BW_ETOOBIG);
    assert_int_equal(bw_dec_sub(INT64_MIN, 1, &r), BW_ETOOBIG);
    /* 1.5 * 2.25 = 3.375 exactly */
    assert_int_equal(bw_dec_mul(dec("1.5"), dec("2.25"), BW_ROUND_HALF_EVEN, &r), 0);
    assert_int_equal(r, dec("3.375"));
    /* 0.000000001 * 0.5 = 0.0000000005: a tie at the 9th place: even -> 0, up -> 1e-9 */
    assert_int_equal(bw_dec_mul(1, dec("0.5"), BW_ROUND_HALF_EVEN, &r), 0);
    assert_int_equal(r, 0);
    assert_int_equal(bw_dec_mul(1, dec("0.5"), BW_ROUND_HALF_UP, &r), 0);
    assert_int_equal(r, 1);
    /* 3e9 * 4e9 overflows */
    assert_int_equal(bw_dec_mul(dec("3000000000"), dec("4"), BW_ROUND_HALF_EVEN, &r), BW_ETOOBIG);
    assert_int_equal(bw_dec_cmp(dec("1"), dec("2")), -1);
    assert_int_equal(bw_dec_cmp(dec("2"), dec("2")), 0);
    assert_int_equal(bw_dec_cmp(dec("-1"), dec("-2")), 1);
    assert_int_equal(bw_dec_places(dec("12.50")), 1);
    assert_int_equal(bw_dec_places(dec("12")), 0);
    assert_int_equal(bw_dec_places(1), 9);
}

static void test_round_div(void **state)
{
    (void)state;
    int64_t q;
    /* 5/2 = 2.5: even -> 2, up -> 3; 7/2 = 3.5: both -> 4 */
    assert_int_equal(bw_round_div(5, 2, BW_ROUND_HALF_EVEN, &q), 0);
    assert_int_equal(q, 2);
    assert_int_equal(bw_round_div(5, 2, BW_ROUND_HALF_UP, &q), 0);
    assert_int_equal(q, 3);
    assert_int_equal(bw_round_div(7, 2, BW_ROUND_HALF_EVEN, &q), 0);
    assert_int_equal(q, 4);
    /* negatives mirror: -2.5 -> -2 (even) / -3 (up, away from zero) */
    assert_int_equal(bw_round_div(-5, 2, BW_ROUND_HALF_EVEN, &q), 0);
    assert_int_equal(q, -2);
    assert_int_equal(bw_round_div(-5, 2, BW_ROUND_HALF_UP, &q), 0);
    assert_int_equal(q, -3);
    /* not ties: 10/3 = 3.33 -> 3, 20/3 = 6.67 -> 7 */
    assert_int_equal(bw_round_div(10, 3, BW_ROUND_HALF_UP, &q), 0);
    assert_int_equal(q, 3);
    assert_int_equal(bw_round_div(20, 3, BW_ROUND_HALF_EVEN, &q), 0);
    assert_int_equal(q, 7);
    assert_int_equal(bw_round_div(1, 0, BW_ROUND_HALF_EVEN, &q), BW_EINVAL);
    assert_int_equal(bw_round_div((bw_i128_t)INT64_MAX * 4, 2, BW_ROUND_HALF_EVEN, &q),
                     BW_ETOOBIG);
    assert_int_equal(bw_round_div((bw_i128_t)INT64_MIN, 1, BW_ROUND_HALF_EVEN, &q), 0);
    assert_int_equal(q, INT64_MIN);
}

static void test_currency(void **state)
{
    (void)state;
    static const struct {
        const char *code;
        int exp;
    } want[] = {{"CNY", 2}, {"USD", 2}, {"EUR", 2}, {"GBP", 2}, {"JPY", 0}, {"KRW", 0},
                {"HKD", 2}, {"TWD", 2}, {"SGD", 2}, {"CHF", 2}, {"BHD", 3}, {"KWD", 3}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        assert_int_equal(bw_currency_exponent(want[i].code), want[i].exp);
    assert_int_equal(bw_currency_exponent("XXX"), -1);
    assert_int_equal(bw_currency_exponent("cny"), -1);
    assert_int_equal(bw_currency_exponent(""), -1);
    assert_int_equal(bw_currency_exponent(NULL), -1);
}

static void test_to_minor(void **state)
{
    (void)state;
    int64_t m;
    /* 0.125 CNY is exactly half a fen: half-even -> 0.12, half-up -> 0.13 */
    assert_int_equal(bw_dec_to_minor(dec("0.125"), 2, BW_ROUND_HALF_EVEN, &m), 0);
    assert_int_equal(m, 12);
    assert_int_equal(bw_dec_to_minor(dec("0.125"), 2, BW_ROUND_HALF_UP, &m), 0);
    assert_int_equal(m, 13);
    /* 0.135 -> 0.14 either way (4 is even) */
    assert_int_equal(bw_dec_to_minor(dec("0.135"), 2, BW_ROUND_HALF_EVEN, &m), 0);
    assert_int_equal(m, 14);
    /* JPY has no minor unit: 100.5 -> 100 (even), 101 (up); 101.5 -> 102 */
    assert_int_equal(bw_dec_to_minor(dec("100.5"), 0, BW_ROUND_HALF_EVEN, &m), 0);
    assert_int_equal(m, 100);
    assert_int_equal(bw_dec_to_minor(dec("100.5"), 0, BW_ROUND_HALF_UP, &m), 0);
    assert_int_equal(m, 101);
    assert_int_equal(bw_dec_to_minor(dec("101.5"), 0, BW_ROUND_HALF_EVEN, &m), 0);
    assert_int_equal(m, 102);
    /* KWD: 3 places, 1.2345 -> 1.234 (even) */
    assert_int_equal(bw_dec_to_minor(dec("1.2345"), 3, BW_ROUND_HALF_EVEN, &m), 0);
    assert_int_equal(m, 1234);
    assert_int_equal(bw_dec_to_minor(dec("-0.125"), 2, BW_ROUND_HALF_UP, &m), 0);
    assert_int_equal(m, -13);
    assert_int_equal(bw_dec_to_minor(1, -1, BW_ROUND_HALF_UP, &m), BW_EINVAL);
    bw_dec_t d;
    assert_int_equal(bw_minor_to_dec(12345, 2, &d), 0);
    assert_int_equal(d, dec("123.45"));
    assert_int_equal(bw_minor_to_dec(INT64_MAX, 2, &d), BW_ETOOBIG);
}

static void test_money_parse_format(void **state)
{
    (void)state;
    int64_t m;
    char err[64];
    assert_int_equal(bw_money_parse("123.45", "CNY", &m, err, sizeof err), 0);
    assert_int_equal(m, 12345);
    assert_int_equal(bw_money_parse("100", "JPY", &m, err, sizeof err), 0);
    assert_int_equal(m, 100);
    assert_int_equal(bw_money_parse("1.230", "CNY", &m, err, sizeof err), 0);
    assert_int_equal(m, 123);
    assert_int_equal(bw_money_parse("1.234", "KWD", &m, err, sizeof err), 0);
    assert_int_equal(m, 1234);
    assert_int_equal(bw_money_parse("1.234", "CNY", &m, err, sizeof err), BW_EINVAL);
    assert_string_equal(err, "too many decimal places for CNY (max 2)");
    assert_int_equal(bw_money_parse("100.5", "JPY", &m, err, sizeof err), BW_EINVAL);
    assert_string_equal(err, "too many decimal places for JPY (max 0)");
    assert_int_equal(bw_money_parse("12,5", "CNY", &m, err, sizeof err), BW_EINVAL);
    assert_string_equal(err, "not a decimal number");
    assert_int_equal(bw_money_parse("1", "ABC", &m, err, sizeof err), BW_EINVAL);
    assert_string_equal(err, "unknown currency \"ABC\"");

    char buf[32];
    assert_int_equal(bw_money_format(12345, "CNY", buf, sizeof buf), 0);
    assert_string_equal(buf, "123.45");
    assert_int_equal(bw_money_format(100, "CNY", buf, sizeof buf), 0);
    assert_string_equal(buf, "1.00");
    assert_int_equal(bw_money_format(-5, "CNY", buf, sizeof buf), 0);
    assert_string_equal(buf, "-0.05");
    assert_int_equal(bw_money_format(100, "JPY", buf, sizeof buf), 0);
    assert_string_equal(buf, "100");
    assert_int_equal(bw_money_format(1, "BHD", buf, sizeof buf), 0);
    assert_string_equal(buf, "0.001");
    assert_int_equal(bw_money_format(INT64_MIN, "CNY", buf, sizeof buf), 0);
    assert_string_equal(buf, "-92233720368547758.08");
    assert_int_equal(bw_money_format(1, "ZZZ", buf, sizeof buf), BW_EINVAL);
    assert_int_equal(bw_money_format(123456, "CNY", buf, 4), BW_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok),       cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format),         cmocka_unit_test(test_arith),
        cmocka_unit_test(test_round_div),      cmocka_unit_test(test_currency),
        cmocka_unit_test(test_to_minor),       cmocka_unit_test(test_money_parse_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
