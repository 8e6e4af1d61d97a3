/* CSV reader and writer: RFC 4180 cases, line numbers, limits and their
 * error messages, headers, FILE input and the writer's quoting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "errors.h"

static bw_csv_t *mem(const char *s, const bw_csv_opts_t *o)
{
    bw_csv_t *r = bw_csv_new_mem(s, strlen(s), o);
    assert_non_null(r);
    return r;
}

static void expect_record(bw_csv_t *r, long line, size_t n, ...)
{
    int rc = bw_csv_next(r);
    if (rc != 1)
        fail_msg("expected a record at line %ld, got %d (%s)", line, rc, bw_csv_error(r));
    assert_int_equal(bw_csv_line(r), line);
    assert_int_equal(bw_csv_nfields(r), n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(bw_csv_field(r, i), va_arg(ap, const char *));
    va_end(ap);
}

static void expect_error(bw_csv_t *r, int code, const char *msg)
{
    assert_int_equal(bw_csv_next(r), code);
    if (!strstr(bw_csv_error(r), msg))
        fail_msg("error \"%s\" does not contain \"%s\"", bw_csv_error(r), msg);
    assert_int_equal(bw_csv_nfields(r), 0);
}

static void test_basic(void **state)
{
    (void)state;
    bw_csv_t *r = mem("a,b,c\n1,2,3\n", NULL);
    expect_record(r, 1, 3, "a", "b", "c");
    expect_record(r, 2, 3, "1", "2", "3");
    assert_int_equal(bw_csv_next(r), 0);
    assert_int_equal(bw_csv_next(r), 0);
    bw_csv_destroy(&r);
    assert_null(r);
    bw_csv_destroy(&r);

    /* No final newline, empty fields, CRLF, lone CR, trailing comma. */
    r = mem("x,,y\r\n,\r\rlast,", NULL);
    expect_record(r, 1, 3, "x", "", "y");
    expect_record(r, 2, 2, "", "");
    expect_record(r, 4, 2, "last", ""); /* line 3 was blank */
    assert_int_equal(bw_csv_next(r), 0);
    bw_csv_destroy(&r);

    r = mem("", NULL);
    assert_int_equal(bw_csv_next(r), 0);
    bw_csv_destroy(&r);
    r = bw_csv_new_mem(NULL, 5, NULL);
    assert_int_equal(bw_csv_next(r), 0);
    bw_csv_destroy(&r);
}

static void test_quoted(void **state)
{
    (void)state;
    bw_csv_t *r = mem("\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"\"\n"
                      "\"crlf\r\ninside\",plain\"quote\n"
                      "next,\"\"\"\"\n",
                      NULL);
    expect_record(r, 1, 4, "a,b", "say \"hi\"", "two\nlines", "");
    /* Line numbers are physical: the record above spans lines 1-2. */
    expect_record(r, 3, 2, "crlf\r\ninside", "plain\"quote");
    expect_record(r, 5, 2, "next", "\"");
    assert_int_equal(bw_csv_next(r), 0);
    bw_csv_destroy(&r);
}

static void test_bom_and_blank_lines(void **state)
{
    (void)state;
    bw_csv_t *r = mem("\xEF\xBB\xBF" "id,name\n\n\r\n1,\xE5\xAE\xA2\xE6\x88\xB7\n\n", NULL);
    expect_record(r, 1, 2, "id", "name");
    expect_record(r, 4, 2, "1", "客户");
    assert_int_equal(bw_csv_next(r), 0);
    bw_csv_destroy(&r);
    /* A partial BOM is data. */
    r = mem("\xEF\xBB" "x\n", NULL);
    expect_record(r, 1, 1, "\xEF\xBB" "x");
    bw_csv_destroy(&r);
}

static void test_errors_and_recovery(void **state)
{
    (void)state;
    bw_csv_t *r = mem("a,b\n\"x\"y,z\nok,1\n", NULL);
    expect_record(r, 1, 2, "a", "b");
    expect_error(r, BW_EINVAL, "line 2: unexpected character after closing quote");
    assert_int_equal(bw_csv_line(r), 2);
    expect_record(r, 3, 2, "ok", "1");
    bw_csv_destroy(&r);

    /* The brief's example: an unterminated quote names where it opened. */
    char big[512] = "";
    for (int i = 1; i <= 11; i++)
        strcat(big, "1,2\n");
    strcat(big, "3,\"never closed\n4,5\n6,7\n");
    r = mem(big, NULL);
    for (int i = 1; i <= 11; i++)
        expect_record(r, i, 2, "1", "2");
    expect_error(r, BW_EINVAL, "line 12: unterminated quoted field");
    assert_int_equal(bw_csv_next(r), 0);
    bw_csv_destroy(&r);

    r = bw_csv_new_mem("a\0b\nc\n", 6, NULL);
    expect_error(r, BW_EINVAL, "line 1: NUL byte");
    expect_record(r, 2, 1, "c");
    bw_csv_destroy(&r);
}

static void test_limits(void **state)
{
    (void)state;
    bw_csv_opts_t o = {.max_field = 4, .max_cols = 3, .max_line = 12};
    bw_csv_t *r = mem("abcd,e\nabcde\n1,2,3,4\n\"ab\ncd\",x\n123456789012\n1234567890123\nok\n",
                      &o);
    expect_record(r, 1, 2, "abcd", "e");
    expect_error(r, BW_ETOOBIG, "line 2: field 1 longer than 4 bytes");
    expect_error(r, BW_ETOOBIG, "line 3: more than 3 columns");
    /* A quoted field over two lines: each line is short, the field is 5. */
    expect_error(r, BW_ETOOBIG, "line 4: field 1 longer than 4 bytes");
    expect_error(r, BW_ETOOBIG, "line 6: field 1 longer"); /* 12 bytes: line ok */
    expect_error(r, BW_ETOOBIG, "line 7: field 1 longer"); /* first problem wins */
    expect_record(r, 8, 1, "ok");
    assert_int_equal(bw_csv_next(r), 0);
    bw_csv_destroy(&r);

    bw_csv_opts_t ol = {.max_line = 12};
    r = mem("123456789012\r\n\"12345\n1234567890123\",x\nok\n", &ol);
    expect_record(r, 1, 1, "123456789012");
    expect_error(r, BW_ETOOBIG, "line 3: line longer than 12 bytes");
    expect_record(r, 4, 1, "ok");
    bw_csv_destroy(&r);

    /* A long field inside quotes across many lines, default limits. */
    size_t n = BW_CSV_DEFAULT_MAX_FIELD + 10;
    char *s = malloc(n + 8);
    assert_non_null(s);
    s[0] = '"';
    memset(s + 1, 'x', n);
    strcpy(s + 1 + n, "\"\nz\n");
    r = mem(s, NULL);
    expect_error(r, BW_ETOOBIG, "line 1: field 1 longer than 65536 bytes");
    expect_record(r, 2, 1, "z");
    bw_csv_destroy(&r);
    free(s);

    bw_csv_opts_t bad = {.delim = '"'};
    assert_null(bw_csv_new_mem("x", 1, &bad));
    bw_csv_opts_t semi = {.delim = ';'};
    r = mem("a;\"b;c\";d,e\n", &semi);
    expect_record(r, 1, 3, "a", "b;c", "d,e");
    bw_csv_destroy(&r);
}

static void test_header(void **state)
{
    (void)state;
    bw_csv_t *r = mem(" Account , amount,currency\nA-1,12.50,CNY\nA-2,7\n", NULL);
    assert_int_equal(bw_csv_read_header(r), 0);
    assert_int_equal(bw_csv_ncols(r), 3);
    assert_int_equal(bw_csv_col(r, "account"), 0);
    assert_int_equal(bw_csv_col(r, "AMOUNT"), 1);
    assert_int_equal(bw_csv_col(r, "missing"), BW_ENOTFOUND);
    const char *need[] = {"account", "amount"};
    assert_int_equal(bw_csv_require(r, need, 2), 0);
    const char *need2[] = {"account", "due_date"};
    assert_int_equal(bw_csv_require(r, need2, 2), BW_EINVAL);
    assert_string_equal(bw_csv_error(r), "missing column \"due_date\"");
    assert_int_equal(bw_csv_next(r), 1);
    assert_string_equal(bw_csv_get(r, "amount"), "12.50");
    assert_string_equal(bw_csv_get(r, "currency"), "CNY");
    assert_int_equal(bw_csv_next(r), 1);
    assert_int_equal(bw_csv_line(r), 3);
    assert_null(bw_csv_get(r, "currency")); /* short record */
    assert_null(bw_csv_get(r, "nope"));
    bw_csv_destroy(&r);

    r = mem("a,b,A\n", NULL);
    assert_int_equal(bw_csv_read_header(r), BW_EINVAL);
    assert_string_equal(bw_csv_error(r), "line 1: duplicate column \"A\"");
    bw_csv_destroy(&r);

    r = mem("\n\n", NULL);
    assert_int_equal(bw_csv_read_header(r), BW_EINVAL);
    assert_string_equal(bw_csv_error(r), "empty input: no header row");
    bw_csv_destroy(&r);
}

static void test_file(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    fputs("\xEF\xBB\xBFqty,desc\r\n", f);
    for (int i = 0; i < 20000; i++)
        fprintf(f, "%d,\"item, number %d\nsecond line\"\r\n", i, i);
    rewind(f);
    bw_csv_t *r = bw_csv_new_file(f, NULL);
    assert_non_null(r);
    assert_int_equal(bw_csv_read_header(r), 0);
    assert_int_equal(bw_csv_col(r, "qty"), 0);
    for (int i = 0; i < 20000; i++) {
        char want[64];
        assert_int_equal(bw_csv_next(r), 1);
        assert_int_equal(bw_csv_line(r), 2 + 2 * i);
        snprintf(want, sizeof want, "item, number %d\nsecond line", i);
        assert_string_equal(bw_csv_get(r, "desc"), want);
    }
    assert_int_equal(bw_csv_next(r), 0);
    bw_csv_destroy(&r);
    fclose(f);
}

static void test_writer(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    const char *row1[] = {"plain", "a,b", "say \"hi\"", "two\nlines", NULL, " pad", "客户"};
    const char *row2[] = {"", "x"};
    assert_int_equal(bw_csv_write_row(f, row1, 7), 0);
    assert_int_equal(bw_csv_write_row(f, row2, 2), 0);
    fclose(f);
    assert_string_equal(out, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",,\" pad\",客户\r\n"
                             ",x\r\n");
    /* What we write, we read back. */
    bw_csv_t *r = bw_csv_new_mem(out, len, NULL);
    expect_record(r, 1, 7, "plain", "a,b", "say \"hi\"", "two\nlines", "", " pad", "客户");
    expect_record(r, 3, 2, "", "x");
    bw_csv_destroy(&r);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),  cmocka_unit_test(test_quoted),
        cmocka_unit_test(test_bom_and_blank_lines),
        cmocka_unit_test(test_errors_and_recovery),
        cmocka_unit_test(test_limits), cmocka_unit_test(test_header),
        cmocka_unit_test(test_file),   cmocka_unit_test(test_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
