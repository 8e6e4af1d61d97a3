/* Tests for services/notification/pgarray.c: literals that PostgreSQL
 * reads back as the same strings, and parsing of text[] output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pgarray.h"

static void test_build_quotes_and_escapes(void **state)
{
    (void)state;
    bw_pgarr_t a;
    bw_pgarr_init(&a);
    assert_string_equal(bw_pgarr_str(&a), "{}");
    bw_pgarr_add(&a, "plain");
    bw_pgarr_add(&a, "with \"quote\" and \\ backslash, comma {brace}");
    bw_pgarr_add(&a, NULL);
    bw_pgarr_addf(&a, "%d", 42);
    assert_string_equal(bw_pgarr_str(&a),
                        "{\"plain\",\"with \\\"quote\\\" and \\\\ backslash, comma {brace}\",NULL,"
                        "\"42\"}");
    /* str may be called again and the array extended after it. */
    bw_pgarr_add(&a, "x");
    assert_string_equal(bw_pgarr_str(&a) + strlen(bw_pgarr_str(&a)) - 5, ",\"x\"}");
    assert_int_equal(a.n, 5);
    bw_pgarr_free(&a);
}

static void test_parse_round_trip(void **state)
{
    (void)state;
    bw_arena_t *arena = bw_arena_new();
    const char *out[8];
    size_t n = bw_pgarr_parse("{email,sms,webhook}", out, 8, arena);
    assert_int_equal(n, 3);
    assert_string_equal(out[0], "email");
    assert_string_equal(out[2], "webhook");
    n = bw_pgarr_parse("{\"a b\",\"c\\\"d\",e}", out, 8, arena);
    assert_int_equal(n, 3);
    assert_string_equal(out[0], "a b");
    assert_string_equal(out[1], "c\"d");
    assert_int_equal(bw_pgarr_parse("{}", out, 8, arena), 0);
    assert_int_equal(bw_pgarr_parse("", out, 8, arena), 0);
    assert_int_equal(bw_pgarr_parse(NULL, out, 8, arena), 0);
    /* Truncated or hostile input never reads past the end. */
    assert_int_equal(bw_pgarr_parse("{\"unterminated", out, 8, arena), 1);
    assert_int_equal(bw_pgarr_parse("{a,b,c,d}", out, 2, arena), 2);
    bw_arena_destroy(&arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_quotes_and_escapes),
        cmocka_unit_test(test_parse_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
