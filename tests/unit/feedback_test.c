/* Unit tests for the feedback service's pure logic: UTF-8 and text-field
 * validation, SLA targets from settings and the breach rule, report medians
 * and aggregation, and the CSV/HTML renderings (escaping, inline SVG). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "errors.h"
#include "feedback/report.h"
#include "feedback/sla.h"
#include "feedback/text.h"

static void test_utf8(void **state)
{
    (void)state;
    assert_true(fb_utf8_valid("abc", 3));
    assert_true(fb_utf8_valid("价格太高", strlen("价格太高")));
    assert_true(fb_utf8_valid("\xF0\x9F\x98\x80", 4));    /* emoji */
    assert_false(fb_utf8_valid("\xFF", 1));
    assert_false(fb_utf8_valid("\xC0\xAF", 2));             /* overlong '/' */
    assert_false(fb_utf8_valid("\xED\xA0\x80", 3));         /* surrogate */
    assert_false(fb_utf8_valid("\xF4\x90\x80\x80", 4));     /* past U+10FFFF */
    assert_false(fb_utf8_valid("\xE4\xBB", 2));             /* truncated */
    assert_int_equal(fb_utf8_len("价格ab"), 4);
}

static void test_text_check(void **state)
{
    (void)state;
    char err[200];
    assert_int_equal(fb_text_check("text", "我对账单有异议\n第二行", 8192, true, true, err, sizeof err), 0);
    assert_int_equal(fb_text_check("text", "", 8192, true, true, err, sizeof err), BW_EINVAL);
    assert_string_equal(err, "text: required, must not be empty");
    assert_int_equal(fb_text_check("category", "", 64, false, false, err, sizeof err), 0);
    assert_int_equal(fb_text_check("text", " \n\t　", 8192, true, true, err, sizeof err), BW_EINVAL);
    assert_string_equal(err, "text: must not be blank");
    assert_int_equal(fb_text_check("category", "a\nb", 64, false, false, err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "U+000A"));
    assert_int_equal(fb_text_check("text", "x\x1b[31m", 8192, true, true, err, sizeof err), BW_EINVAL);
    assert_int_equal(fb_text_check("text", "x\xC2\x85", 8192, true, true, err, sizeof err), BW_EINVAL);
    assert_int_equal(fb_text_check("text", "bad \xFF", 8192, true, true, err, sizeof err), BW_EINVAL);
    assert_string_equal(err, "text: not valid UTF-8 (at byte 4)");
    char big[8194];
    memset(big, 'a', 8193);
    big[8193] = '\0';
    assert_int_equal(fb_text_check("text", big, 8192, true, true, err, sizeof err), BW_EINVAL);
    assert_string_equal(err, "text: too long (8193 bytes, at most 8192)");
    big[8192] = '\0';
    assert_int_equal(fb_text_check("text", big, 8192, true, true, err, sizeof err), 0);
}

static void test_sla(void **state)
{
    (void)state;
    fb_sla_t s;
    char err[200];
    fb_sla_defaults(&s);
    int d = fb_type_index("dispute"), c = fb_type_index("complaint");
    int hi = fb_priority_index("high"), ur = fb_priority_index("urgent"), lo = fb_priority_index("low");
    assert_int_equal(s.first_response_s[d][hi], 4 * 3600);
    assert_int_equal(s.resolution_s[d][lo], 240 * 3600);
    assert_int_equal(fb_sla_parse("12, urgent=0.5 ,dispute.high=2", s.first_response_s, err, sizeof err), 0);
    assert_int_equal(s.first_response_s[c][lo], 12 * 3600);
    assert_int_equal(s.first_response_s[c][ur], 1800);
    assert_int_equal(s.first_response_s[d][hi], 7200);
    assert_int_equal(s.first_response_s[c][hi], 12 * 3600);
    assert_int_equal(fb_sla_parse("complaint=48", s.resolution_s, err, sizeof err), 0);
    assert_int_equal(s.resolution_s[c][ur], 48 * 3600);
    assert_int_equal(s.resolution_s[d][ur], 24 * 3600);
    int64_t before = s.first_response_s[c][lo];
    assert_int_equal(fb_sla_parse("low=3,bogus=1", s.first_response_s, err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "unknown type or priority"));
    assert_int_equal(s.first_response_s[c][lo], before); /* nothing applied on error */
    assert_int_equal(fb_sla_parse("high=-1", s.first_response_s, err, sizeof err), BW_EINVAL);
    assert_int_equal(fb_sla_parse("high=", s.first_response_s, err, sizeof err), BW_EINVAL);
    assert_int_equal(fb_sla_parse("dispute.nope=1", s.first_response_s, err, sizeof err), BW_EINVAL);
    assert_int_equal(fb_sla_parse("", s.first_response_s, err, sizeof err), 0);
    /* breach rule */
    assert_false(fb_sla_breached(100, 100, 500));
    assert_true(fb_sla_breached(100, 101, 50));
    assert_false(fb_sla_breached(100, 0, 100));
    assert_true(fb_sla_breached(100, 0, 101));
}

static void test_median(void **state)
{
    (void)state;
    int64_t a[] = {36000, 3600, 3600};
    assert_int_equal(fb_median(a, 3), 3600);
    int64_t b[] = {3600, 36000};
    assert_int_equal(fb_median(b, 2), 19800);
    int64_t c[] = {1, 2};
    assert_int_equal(fb_median(c, 2), 1); /* rounded down */
    assert_int_equal(fb_median(NULL, 0), -1);
}

static void test_report_build(void **state)
{
    (void)state;
    bw_arena_t *a = bw_arena_new();
    fb_report_row_t rows[] = {
        {"storage", "价格", 3600, 36000, false, 4},
        {"storage", "价格", 36000, -1, true, 0},
        {"(none)", "账单", 3600, 36000, false, 2},
        {"storage\x1fsupport", "", -1, -1, true, 0},
    };
    Billow__FeedbackReport r = BILLOW__FEEDBACK_REPORT__INIT;
    r.by = "fee-item";
    r.from = "2026-11-01";
    r.to = "2026-11-30";
    r.generated_at = "2026-11-02T19:00:00Z";
    assert_int_equal(fb_report_build(&r, rows, 4, a), 0);
    assert_int_equal(r.total->tickets, 4);
    assert_int_equal(r.total->resolved, 2);
    assert_int_equal(r.total->median_first_response_s, 3600);
    assert_int_equal(r.total->median_resolution_s, 36000);
    assert_int_equal(r.total->breached, 2);
    assert_true(r.total->breach_rate == 0.5);
    assert_int_equal(r.total->csat_count, 2);
    assert_true(r.total->csat_avg == 3.0);
    assert_int_equal(r.n_groups, 3);
    assert_string_equal(r.groups[0]->key, "storage");
    assert_int_equal(r.groups[0]->tickets, 3);
    assert_int_equal(r.groups[0]->median_first_response_s, 19800);
    assert_string_equal(r.groups[1]->key, "(none)");
    assert_string_equal(r.groups[2]->key, "support");
    assert_int_equal(r.groups[2]->median_first_response_s, -1);
    assert_int_equal(r.n_top_categories, 3);
    assert_string_equal(r.top_categories[0]->category, "价格");
    assert_int_equal(r.top_categories[0]->tickets, 2);
    assert_string_equal(r.top_categories[1]->category, "(none)");

    char *csv = fb_report_csv(&r, a);
    assert_non_null(csv);
    assert_non_null(strstr(csv, "fee-item,tickets,resolved,"));
    assert_non_null(strstr(csv, "\r\nstorage,3,1,19800,36000,2,0.6667,1,4.00\r\n"));
    assert_non_null(strstr(csv, "\r\ntotal,4,2,3600,36000,2,0.5000,2,3.00\r\n"));

    /* HTML escapes what it shows and draws charts as inline SVG. */
    rows[0].keys = "<b>&\"x\"";
    Billow__FeedbackReport r2 = BILLOW__FEEDBACK_REPORT__INIT;
    r2.by = "fee-item";
    r2.from = r2.to = r2.generated_at = "";
    assert_int_equal(fb_report_build(&r2, rows, 4, a), 0);
    char *html = fb_report_html(&r2, a);
    assert_non_null(html);
    assert_non_null(strstr(html, "<svg"));
    assert_non_null(strstr(html, "&lt;b&gt;&amp;&quot;x&quot;"));
    assert_null(strstr(html, "<b>"));
    assert_null(strstr(html, "<script"));
    bw_arena_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8),        cmocka_unit_test(test_text_check),
        cmocka_unit_test(test_sla),         cmocka_unit_test(test_median),
        cmocka_unit_test(test_report_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
