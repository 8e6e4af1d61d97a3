/* Invoice documents: escaping of hostile text, Chinese labels, JSON totals,
 * text output, the audit check, and money formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "invoicing/document.h"

static int64_t day(const char *s)
{
    int64_t d = 0;
    assert_int_equal(bw_date_parse(s, &d), 0);
    return d;
}

static void contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("output does not contain \"%s\"", needle);
}

static void lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        fail_msg("output contains \"%s\"", needle);
}

typedef struct {
    inv_document_t d;
    inv_line_t lines[4];
    inv_payplan_t *plan;
} fixture_t;

static const char evil[] = "<script>alert(\"x\")</script> & 'Co'";

static int setup(void **state)
{
    fixture_t *f = test_calloc(1, sizeof *f);
    inv_document_t *d = &f->d;
    f->lines[0] = (inv_line_t){.description = "Cloud hosting, November", .fee_item = "HOST-M",
                               .kind = INV_LINE_CHARGE, .quantity = "1", .unit = "month",
                               .unit_price = "9999.00", .amount_minor = 999900,
                               .tax_category = "standard"};
    f->lines[1] = (inv_line_t){.description = "Consulting <b>hours</b>", .fee_item = "CONS-H",
                               .kind = INV_LINE_CHARGE, .quantity = "12.5", .unit = "hour",
                               .unit_price = "800", .amount_minor = 1000000,
                               .tax_category = "services"};
    f->lines[2] = (inv_line_t){.description = "Loyal customer discount 忠诚客户折扣",
                               .fee_item = "DISC-L", .kind = INV_LINE_DISCOUNT,
                               .quantity = "1", .unit = "", .unit_price = "-500.00",
                               .amount_minor = -50000, .tax_category = "standard"};
    f->lines[3] = (inv_line_t){.description = "Repair parts", .fee_item = "PARTS",
                               .kind = INV_LINE_SETUP, .quantity = "3", .unit = "pc",
                               .unit_price = "0.50", .amount_minor = 150,
                               .tax_category = "exempt"};
    d->kind = INV_DOC_INVOICE;
    d->status = INV_STATUS_ISSUED;
    d->lang = INV_LANG_EN;
    d->number = "INV-202611-000042";
    d->bill_run = "BR-2026-11";
    d->currency = "CNY";
    d->period_start = day("2026-11-01");
    d->period_end = day("2026-12-01");
    d->issue_date = day("2026-11-30");
    d->due_date = day("2026-12-30");
    d->seller = (inv_seller_t){"Billow Services Ltd.", "1 Harbour Road\nShanghai 200000",
                               "91310000MA1FL0000X", "Bank of Example, Shanghai Branch",
                               "6222 0000 1111 2222",
                               "Pay by bank transfer quoting the invoice number.\n"
                               "Alipay / WeChat Pay accepted."};
    d->customer = (inv_customer_t){"A-1001", evil, "2 River St\nSuzhou", "ap@example.com",
                                   NULL};
    d->lines = f->lines;
    d->nlines = 4;
    char err[128];
    assert_int_equal(inv_document_compute(d, inv_tax_profile_find("cn-vat-general"),
                                          INV_TAX_MODE_PROFILE, err, sizeof err), 0);
    inv_plan_spec_t s = {.kind = INV_PLAN_INSTALMENTS, .terms_days = 30, .count = 3,
                         .cycle = {INV_CYCLE_MONTH, 1}};
    assert_int_equal(inv_payplan_build(&s, d->issue_date, d->total_minor, &f->plan, err,
                                       sizeof err), 0);
    d->instalments = f->plan->items;
    d->ninstalments = f->plan->n;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    inv_payplan_destroy(&f->plan);
    test_free(f);
    return 0;
}

static void test_compute(void **state)
{
    fixture_t *f = *state;
    inv_document_t *d = &f->d;
    /* standard: 999900 -> 129987; -50000 -> -6500; services 1000000 -> 60000. */
    assert_int_equal(f->lines[0].tax_minor, 129987);
    assert_int_equal(f->lines[1].tax_minor, 60000);
    assert_int_equal(f->lines[2].tax_minor, -6500);
    assert_int_equal(f->lines[3].tax_minor, 0);
    assert_int_equal(d->subtotal_minor, 999900 + 1000000 - 50000 + 150);
    assert_int_equal(d->tax_minor, 129987 + 60000 - 6500);
    assert_int_equal(d->total_minor, d->subtotal_minor + d->tax_minor);
    assert_int_equal(d->ntax_rows, 3);
    assert_string_equal(d->tax_profile, "cn-vat-general");
    assert_int_equal(inv_document_check(d, NULL, 0), 0);
}

static void test_html_escaping(void **state)
{
    fixture_t *f = *state;
    inv_buf_t *b = inv_buf_new();
    char err[128];
    f->d.seller.payment_instructions = "Ref: \x1b[31m</div><iframe src=x>";
    assert_int_equal(inv_document_render_html(&f->d, b, err, sizeof err), 0);
    const char *h = inv_buf_data(b);
    contains(h, "<!DOCTYPE html>");
    contains(h, "<html lang=\"en\">");
    contains(h, "@media print");
    lacks(h, "<script");
    lacks(h, "<iframe");
    lacks(h, "<b>hours");
    lacks(h, "\x1b");
    lacks(h, "http"); /* self-contained: no external resources */
    contains(h, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Co&#39;");
    contains(h, "Consulting &lt;b&gt;hours&lt;/b&gt;");
    contains(h, "&lt;/div&gt;&lt;iframe src=x&gt;");
    /* Amounts, dates, schedule. */
    contains(h, "CNY 21,335.37");   /* total: 19500.50 + 1834.87 */
    contains(h, "9,999.00");
    contains(h, "Instalment schedule");
    contains(h, "2026-12-30");
    contains(h, "2027-01-30");
    contains(h, "2026-11-01 – 2026-11-30"); /* half-open period shown inclusive */
    contains(h, "Payment instructions");
    contains(h, "Bank of Example");
    inv_buf_destroy(&b);
    assert_null(b);
}

static void test_zh_cn(void **state)
{
    fixture_t *f = *state;
    f->d.lang = INV_LANG_ZH_CN;
    inv_buf_t *b = inv_buf_new();
    char err[128];
    assert_int_equal(inv_document_render_html(&f->d, b, err, sizeof err), 0);
    const char *h = inv_buf_data(b);
    const char *want[] = {"<html lang=\"zh-CN\">", "发票", "发票号码", "开票日期", "到期日",
                          "计费周期", "小计", "税额", "合计", "付款说明", "分期付款计划",
                          "税额汇总", "购买方", "销售方", "纳税人识别号", "单价", "税率",
                          "2026年11月30日", "2026年12月30日", "标准税率", "现代服务",
                          "免税", "折扣", "已开具"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        contains(h, want[i]);
    lacks(h, "Invoice number");
    inv_buf_reset(b);
    assert_int_equal(inv_document_render_text(&f->d, b, err, sizeof err), 0);
    contains(inv_buf_data(b), "合计: CNY 21,335.37");
    contains(inv_buf_data(b), "发票: INV-202611-000042");
    inv_buf_destroy(&b);
}

static void test_json_roundtrip(void **state)
{
    fixture_t *f = *state;
    inv_buf_t *b = inv_buf_new();
    char err[128];
    assert_int_equal(inv_document_render_json(&f->d, b, err, sizeof err), 0);
    json_object *o = json_tokener_parse(inv_buf_data(b)), *x, *lines;
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "subtotal_minor", &x));
    assert_int_equal(json_object_get_int64(x), f->d.subtotal_minor);
    assert_true(json_object_object_get_ex(o, "tax_minor", &x));
    assert_int_equal(json_object_get_int64(x), f->d.tax_minor);
    assert_true(json_object_object_get_ex(o, "total_minor", &x));
    assert_int_equal(json_object_get_int64(x), f->d.total_minor);
    assert_true(json_object_object_get_ex(o, "total", &x));
    assert_string_equal(json_object_get_string(x), "CNY 21,335.37");
    assert_true(json_object_object_get_ex(o, "customer", &x));
    assert_true(json_object_object_get_ex(x, "name", &x));
    assert_string_equal(json_object_get_string(x), evil);
    /* Totals recomputed from the JSON lines agree. */
    assert_true(json_object_object_get_ex(o, "lines", &lines));
    assert_int_equal(json_object_array_length(lines), 4);
    int64_t net = 0, tax = 0;
    for (size_t i = 0; i < 4; i++) {
        json_object *l = json_object_array_get_idx(lines, i);
        assert_true(json_object_object_get_ex(l, "net_minor", &x));
        net += json_object_get_int64(x);
        assert_true(json_object_object_get_ex(l, "tax_minor", &x));
        tax += json_object_get_int64(x);
    }
    assert_int_equal(net, f->d.subtotal_minor);
    assert_int_equal(tax, f->d.tax_minor);
    assert_true(json_object_object_get_ex(o, "instalments", &x));
    assert_int_equal(json_object_array_length(x), 3);
    int64_t inst = 0;
    for (size_t i = 0; i < 3; i++) {
        json_object *it = json_object_array_get_idx(x, i), *v;
        assert_true(json_object_object_get_ex(it, "amount_minor", &v));
        inst += json_object_get_int64(v);
    }
    assert_int_equal(inst, f->d.total_minor);
    assert_true(json_object_object_get_ex(o, "issue_date", &x));
    assert_string_equal(json_object_get_string(x), "2026-11-30");
    json_object_put(o);
    inv_buf_destroy(&b);
}

static void test_text(void **state)
{
    fixture_t *f = *state;
    inv_buf_t *b = inv_buf_new();
    char err[128];
    f->d.customer.name = "Evil\x1b]0;owned\x07 Corp";
    assert_int_equal(inv_document_render_text(&f->d, b, err, sizeof err), 0);
    const char *t = inv_buf_data(b);
    for (size_t i = 0; i < f->d.nlines; i++)
        contains(t, f->lines[i].description);
    contains(t, "9,999.00");
    contains(t, "10,000.00");
    contains(t, "-500.00");
    contains(t, "1.50");
    contains(t, "Total: CNY 21,335.37");
    contains(t, "INV-202611-000042");
    contains(t, "1/3");
    lacks(t, "\x1b");
    lacks(t, "\x07");
    contains(t, "Evil ]0;owned  Corp");
    /* Columns line up: every row of the line table ends at the same width. */
    const char *hdr = strstr(t, "#  Description");
    assert_non_null(hdr);
    const char *dash = strchr(hdr, '\n') + 1;
    size_t width = (size_t)(strchr(dash, '\n') - dash);
    const char *row = strchr(dash, '\n') + 1;
    for (int i = 0; i < 4; i++) {
        const char *end = strchr(row, '\n');
        size_t bytes = (size_t)(end - row), extra = 0;
        /* The Chinese text is 3 bytes per 2 columns. */
        for (const char *p = row; p < end; p++)
            if ((*p & 0xC0) == 0x80)
                extra++;
        size_t cjk = extra / 2; /* each CJK char: 2 continuation bytes */
        assert_int_equal(bytes - extra + cjk, width);
        row = end + 1;
    }
    inv_buf_destroy(&b);
}

static void test_check_refuses(void **state)
{
    fixture_t *f = *state;
    inv_document_t d = f->d;
    inv_buf_t *b = inv_buf_new();
    char err[128];
    d.total_minor += 1;
    assert_int_equal(inv_document_render_html(&d, b, err, sizeof err), BW_EINVAL);
    contains(err, "total");
    assert_int_equal(inv_buf_len(b), 0);
    d = f->d;
    d.tax_rows[0].tax_minor -= 1;
    d.tax_minor -= 1;
    d.total_minor -= 1;
    d.instalments = NULL;
    d.ninstalments = 0;
    assert_int_equal(inv_document_check(&d, err, sizeof err), BW_EINVAL);
    contains(err, "line taxes");
    d = f->d;
    d.currency = "XXX";
    assert_int_equal(inv_document_render_json(&d, b, err, sizeof err), BW_EINVAL);
    contains(err, "unknown currency \"XXX\"");
    d = f->d;
    d.ninstalments = 2;
    assert_int_equal(inv_document_check(&d, err, sizeof err), BW_EINVAL);
    contains(err, "instalments sum");
    d = f->d;
    d.kind = INV_DOC_CREDIT_NOTE;
    assert_int_equal(inv_document_check(&d, err, sizeof err), BW_EINVAL);
    contains(err, "credit note");
    d.credit_for = "INV-202611-000042";
    d.credit_reason = "Complaint #88 upheld";
    d.number = "CN-202612-000001";
    d.ninstalments = 0;
    assert_int_equal(inv_document_render_html(&d, b, err, sizeof err), 0);
    contains(inv_buf_data(b), "Credit note");
    contains(inv_buf_data(b), "Credits invoice");
    contains(inv_buf_data(b), "Total credit");
    inv_buf_reset(b);
    d.lang = INV_LANG_ZH_CN;
    assert_int_equal(inv_document_render_json(&d, b, err, sizeof err), 0);
    contains(inv_buf_data(b), "\"credit_for\":\"INV-202611-000042\"");
    contains(inv_buf_data(b), "\"kind\":\"credit_note\"");
    d = f->d;
    d.lines[1].tax_category = "luxury";
    assert_int_equal(inv_document_check(&d, err, sizeof err), BW_EINVAL);
    contains(err, "\"luxury\"");
    f->lines[1].tax_category = "services";
    inv_buf_destroy(&b);
}

static void test_jpy_document(void **state)
{
    (void)state;
    inv_line_t l[] = {{.description = "月額プラン", .kind = INV_LINE_CHARGE, .quantity = "1",
                       .unit = "月", .unit_price = "11000", .amount_minor = 11000},
                      {.description = "Food", .kind = INV_LINE_CHARGE, .quantity = "2",
                       .unit = "box", .unit_price = "540", .amount_minor = 1080,
                       .tax_category = "reduced"}};
    inv_document_t d = {.status = INV_STATUS_DRAFT, .currency = "JPY", .lines = l,
                        .nlines = 2, .issue_date = day("2026-11-30"),
                        .due_date = INV_DATE_UNSET, .period_start = INV_DATE_UNSET,
                        .period_end = INV_DATE_UNSET,
                        .seller = {.name = "Billow KK"},
                        .customer = {.account_id = "J-1", .name = "Tanaka"}};
    char err[128];
    assert_int_equal(inv_document_compute(&d, inv_tax_profile_find("jp-consumption"),
                                          INV_TAX_MODE_PROFILE, err, sizeof err), 0);
    assert_int_equal(d.subtotal_minor, 10000 + 1000);
    assert_int_equal(d.tax_minor, 1000 + 80);
    assert_int_equal(d.total_minor, 12080);
    inv_buf_t *b = inv_buf_new();
    assert_int_equal(inv_document_render_text(&d, b, err, sizeof err), 0);
    contains(inv_buf_data(b), "JPY 12,080");
    contains(inv_buf_data(b), "月額プラン");
    lacks(inv_buf_data(b), "12,080.");
    inv_buf_destroy(&b);
    assert_int_equal(inv_document_compute(&d, inv_tax_profile_find("cn-vat-small"),
                                          INV_TAX_MODE_PROFILE, err, sizeof err), BW_EINVAL);
    contains(err, "unknown tax category \"reduced\"");
}

static void test_money_format(void **state)
{
    (void)state;
    char b[48];
    assert_int_equal(inv_format_money(1234567, "CNY", b, sizeof b), 0);
    assert_string_equal(b, "CNY 12,345.67");
    assert_int_equal(inv_format_money(1000, "JPY", b, sizeof b), 0);
    assert_string_equal(b, "JPY 1,000");
    assert_int_equal(inv_format_money(-5, "CNY", b, sizeof b), 0);
    assert_string_equal(b, "CNY -0.05");
    assert_int_equal(inv_format_money(0, "CNY", b, sizeof b), 0);
    assert_string_equal(b, "CNY 0.00");
    assert_int_equal(inv_format_money(999, "JPY", b, sizeof b), 0);
    assert_string_equal(b, "JPY 999");
    assert_int_equal(inv_format_money(-1234567, "JPY", b, sizeof b), 0);
    assert_string_equal(b, "JPY -1,234,567");
    assert_int_equal(inv_format_money(1234, "KWD", b, sizeof b), 0);
    assert_string_equal(b, "KWD 1.234");
    assert_int_equal(inv_format_money(INT64_MIN, "CNY", b, sizeof b), 0);
    assert_string_equal(b, "CNY -92,233,720,368,547,758.08");
    assert_int_equal(inv_format_money(100, "XYZ", b, sizeof b), BW_EINVAL);
    assert_int_equal(inv_format_money(100, NULL, b, sizeof b), BW_EINVAL);
    assert_int_equal(inv_format_money(123456789, "CNY", b, 8), BW_ETOOBIG);

    inv_lang_t l;
    assert_int_equal(inv_lang_parse("zh-cn", &l), 0);
    assert_int_equal(l, INV_LANG_ZH_CN);
    assert_int_equal(inv_lang_parse("fr", &l), BW_EINVAL);
    assert_string_equal(inv_lang_name(INV_LANG_ZH_CN), "zh-CN");
    assert_string_equal(inv_line_kind_name(INV_LINE_TRUE_UP), "true_up");
    assert_string_equal(inv_doc_status_name(INV_STATUS_PARTIALLY_PAID), "partially_paid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_compute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html_escaping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zh_cn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_refuses, setup, teardown),
        cmocka_unit_test(test_jpy_document),
        cmocka_unit_test(test_money_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
