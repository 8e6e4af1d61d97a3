/* Document numbers: format, parse, the series key and every rejection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "clock.h"
#include "errors.h"
#include "invoicing/numbering.h"

static void test_format(void **state)
{
    (void)state;
    char b[INV_DOCNO_LEN];
    inv_docno_t d = {INV_SERIES_INVOICE, 2026, 11, 42};
    assert_int_equal(inv_docno_format(&d, b, sizeof b), 0);
    assert_string_equal(b, "INV-202611-000042");
    d = (inv_docno_t){INV_SERIES_CREDIT_NOTE, 2027, 1, 1};
    assert_int_equal(inv_docno_format(&d, b, sizeof b), 0);
    assert_string_equal(b, "CN-202701-000001");
    d = (inv_docno_t){INV_SERIES_RECEIPT, 2026, 12, 999999};
    assert_int_equal(inv_docno_format(&d, b, sizeof b), 0);
    assert_string_equal(b, "RCP-202612-999999");
    d.counter = 1000000;
    assert_int_equal(inv_docno_format(&d, b, sizeof b), 0);
    assert_string_equal(b, "RCP-202612-1000000");
    d.counter = INV_DOCNO_COUNTER_MAX;
    assert_int_equal(inv_docno_format(&d, b, sizeof b), 0);
    assert_string_equal(b, "RCP-202612-999999999");

    char small[8];
    assert_int_equal(inv_docno_format(&d, small, sizeof small), BW_ETOOBIG);
    d.counter = 0;
    assert_int_equal(inv_docno_format(&d, b, sizeof b), BW_EINVAL);
    d = (inv_docno_t){INV_SERIES_INVOICE, 2026, 13, 1};
    assert_int_equal(inv_docno_format(&d, b, sizeof b), BW_EINVAL);
    d = (inv_docno_t){(inv_series_t)7, 2026, 1, 1};
    assert_int_equal(inv_docno_format(&d, b, sizeof b), BW_EINVAL);
}

static void test_parse_roundtrip(void **state)
{
    (void)state;
    const char *good[] = {"INV-202611-000042", "CN-202701-000001", "RCP-199912-123456",
                          "INV-202611-1000000", "INV-999912-999999999"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        inv_docno_t d;
        char b[INV_DOCNO_LEN], err[128];
        assert_int_equal(inv_docno_parse(good[i], &d, err, sizeof err), 0);
        assert_int_equal(inv_docno_format(&d, b, sizeof b), 0);
        assert_string_equal(b, good[i]);
    }
    inv_docno_t d;
    assert_int_equal(inv_docno_parse("CN-202701-000007", &d, NULL, 0), 0);
    assert_int_equal(d.series, INV_SERIES_CREDIT_NOTE);
    assert_int_equal(d.year, 2027);
    assert_int_equal(d.month, 1);
    assert_int_equal(d.counter, 7);
}

static void test_parse_rejects(void **state)
{
    (void)state;
    const char *bad[] = {
        "",                    "INV",                 "INV-",
        "inv-202611-000042",   "XX-202611-000042",    "INV-202611-42",
        "INV-202611-00042",    "INV-202613-000042",   "INV-202600-000042",
        "INV-196912-000001",   "INV-202611-000000",   "INV-202611-0000042",
        "INV-202611-1234567890", "INV-2026-11-000042", "INV-202611-000042 ",
        " INV-202611-000042",  "INV-202611-00004a",   "INV-20261a-000042",
        "INV-202611_000042",   "INVOICE-202611-000001", "INV-202611-+00042",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        inv_docno_t d = {INV_SERIES_RECEIPT, 1, 1, 1};
        char err[128] = "";
        assert_int_equal(inv_docno_parse(bad[i], &d, err, sizeof err), BW_EINVAL);
        assert_true(strlen(err) > 0);
        assert_int_equal(d.year, 1); /* untouched on failure */
    }
    char err[128];
    inv_docno_t d;
    inv_docno_parse("ZZ-202611-000001", &d, err, sizeof err);
    assert_non_null(strstr(err, "unknown series \"ZZ\""));
    inv_docno_parse("INV-202611-0000042", &d, err, sizeof err);
    assert_non_null(strstr(err, "leading zero"));
    assert_int_equal(inv_docno_parse(NULL, &d, err, sizeof err), BW_EINVAL);
}

static void test_series_key(void **state)
{
    (void)state;
    char b[INV_SERIES_KEY_LEN];
    inv_series_t s;
    assert_int_equal(inv_series_key(INV_SERIES_INVOICE, 2026, 11, b, sizeof b), 0);
    assert_string_equal(b, "INV-202611");
    int64_t day;
    assert_int_equal(bw_date_parse("2026-12-31", &day), 0);
    assert_int_equal(inv_series_key_for_date(INV_SERIES_CREDIT_NOTE, day, b, sizeof b), 0);
    assert_string_equal(b, "CN-202612");
    assert_int_equal(bw_date_parse("2027-01-01", &day), 0);
    assert_int_equal(inv_series_key_for_date(INV_SERIES_RECEIPT, day, b, sizeof b), 0);
    assert_string_equal(b, "RCP-202701");
    assert_int_equal(inv_series_key_for_date(INV_SERIES_RECEIPT, -1, b, sizeof b), BW_EINVAL);
    assert_int_equal(inv_series_key(INV_SERIES_INVOICE, 2026, 0, b, sizeof b), BW_EINVAL);
    assert_int_equal(inv_series_key(INV_SERIES_INVOICE, 2026, 1, b, 5), BW_ETOOBIG);
    assert_string_equal(inv_series_prefix(INV_SERIES_CREDIT_NOTE), "CN");
    assert_null(inv_series_prefix((inv_series_t)3));
    assert_int_equal(inv_series_parse("RCP", &s), 0);
    assert_int_equal(s, INV_SERIES_RECEIPT);
    assert_int_equal(inv_series_parse("rcp", &s), BW_EINVAL);
    assert_int_equal(inv_series_parse(NULL, &s), BW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_parse_roundtrip),
        cmocka_unit_test(test_parse_rejects),
        cmocka_unit_test(test_series_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
