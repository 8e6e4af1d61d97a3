/* Unit tests for the notification template engine: escaping, raw blocks,
 * if/else and each, errors with file:line, the shipped templates (all load,
 * every message type has e-mail and SMS in en and zh-CN), and SMS segment
 * counting for GSM-7 and UCS-2 texts. Run from the repository root, or set
 * BW_TEMPLATES to the template directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "notification/template.h"

static const ntf_var_spec_t item_fields[] = {{"name", NULL}, {"price", NULL}, {NULL, NULL}};
static const ntf_var_spec_t vars[] = {{"name", NULL},  {"body", NULL},  {"flag", NULL},
                                      {"items", item_fields}, {"currency", NULL}, {NULL, NULL}};

/* Compiles src against vars and renders it with json; returns the output. */
static char *render(const char *src, bool html, const char *json)
{
    ntf_template_t *t = NULL;
    char err[256] = "";
    int rc = ntf_template_compile("t", src, strlen(src), html, vars, &t, err, sizeof err);
    if (rc != 0)
        fail_msg("compile failed: %s", err);
    json_object *v = json ? json_tokener_parse(json) : NULL;
    char *out = NULL;
    assert_int_equal(ntf_template_render(t, v, &out), 0);
    json_object_put(v);
    ntf_template_destroy(&t);
    assert_null(t);
    return out;
}

static void expect(const char *src, bool html, const char *json, const char *want)
{
    char *got = render(src, html, json);
    assert_string_equal(got, want);
    free(got);
}

/* The error text compiling src gives; asserts it fails. */
static void expect_error(const char *src, const char *want)
{
    ntf_template_t *t = NULL;
    char err[256] = "";
    assert_int_equal(
        ntf_template_compile("x.email.en.html", src, strlen(src), true, vars, &t, err, sizeof err),
        BW_EINVAL);
    assert_null(t);
    if (!strstr(err, want))
        fail_msg("error '%s' does not contain '%s'", err, want);
}

static void test_html_escaping(void **state)
{
    (void)state;
    const char *j = "{\"name\": \"<b>Tom & \\\"Jerry's\\\"</b>\"}";
    expect("Hi {{name}}!", true, j, "Hi &lt;b&gt;Tom &amp; &quot;Jerry&#39;s&quot;&lt;/b&gt;!");
    expect("Hi {{ name }}!", false, j, "Hi <b>Tom & \"Jerry's\"</b>!");
    expect("{{{name}}}", true, j, "<b>Tom & \"Jerry's\"</b>");
    expect("<div>{{{body}}}</div>", true, "{\"body\": \"<table><tr><td>1</td></tr></table>\"}",
           "<div><table><tr><td>1</td></tr></table></div>");
}

static void test_values(void **state)
{
    (void)state;
    expect("[{{name}}][{{body}}]", false, "{\"name\": 42, \"body\": null}", "[42][]");
    expect("[{{name}}]", false, NULL, "[]");
    expect("{{name}}", false, "{\"name\": \"张三\"}", "张三");
    expect("{{! a comment }}x", false, NULL, "x");
}

static void test_if_else(void **state)
{
    (void)state;
    const char *src = "{{#if flag}}yes{{else}}no{{/if}}";
    expect(src, false, "{\"flag\": true}", "yes");
    expect(src, false, "{\"flag\": false}", "no");
    expect(src, false, "{\"flag\": \"\"}", "no");
    expect(src, false, "{\"flag\": 0}", "no");
    expect(src, false, "{\"flag\": \"x\"}", "yes");
    expect(src, false, "{}", "no");
    expect("{{#if items}}some{{/if}}", false, "{\"items\": []}", "");
    expect("{{#if items}}some{{/if}}", false, "{\"items\": [{}]}", "some");
    /* Block tags alone on a line take the line with them. */
    expect("a\n  {{#if flag}}\nb\n{{/if}}\nc\n", false, "{\"flag\": 1}", "a\nb\nc\n");
    expect("a\n{{#if flag}}\nb\n{{/if}}\nc\n", false, "{\"flag\": 0}", "a\nc\n");
}

static void test_each(void **state)
{
    (void)state;
    const char *j = "{\"currency\": \"CNY\", \"items\": [{\"name\": \"A<1>\", \"price\": \"1.00\"},"
                    " {\"name\": \"B\", \"price\": \"2.50\"}]}";
    expect("{{#each items}}{{name}}={{price}} {{currency}};{{/each}}", true, j,
           "A&lt;1&gt;=1.00 CNY;B=2.50 CNY;");
    expect("<ul>\n{{#each items}}\n<li>{{name}}</li>\n{{/each}}\n</ul>\n", true, j,
           "<ul>\n<li>A&lt;1&gt;</li>\n<li>B</li>\n</ul>\n");
    expect("{{#each items}}x{{/each}}", false, "{\"items\": \"notalist\"}", "");
    expect("{{#each items}}{{#if price}}{{name}}{{/if}}{{/each}}", false,
           "{\"items\": [{\"name\": \"a\"}, {\"name\": \"b\", \"price\": 1}]}", "b");
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("line1\n{{nope}}", "x.email.en.html:2: unknown variable 'nope'");
    expect_error("a\nb\n{{#if flag}}\nc", "x.email.en.html:3: {{#if flag}} is never closed");
    expect_error("{{#each items}}{{/if}}", ":1: {{/if}} where {{/each}}");
    expect_error("\n\n{{/each}}", ":3: {{/each}} without a matching opening tag");
    expect_error("x\n{{name", "x.email.en.html:2: unterminated tag");
    expect_error("{{{name}}", ":1: unterminated tag");
    expect_error("{{#unless flag}}{{/unless}}", "unknown block tag");
    expect_error("{{Name}}", "bad variable name");
    expect_error("{{items}}", "'items' is a list");
    expect_error("{{#each name}}{{/each}}", "'name' is not a list");
    expect_error("{{#each items}}{{price}}{{/each}}{{price}}", ":1: unknown variable 'price'");
    expect_error("{{else}}", "{{else}} without a matching");
}

static const char *tpl_dir(void)
{
    const char *d = getenv("BW_TEMPLATES");
    return d && *d ? d : "services/notification/templates";
}

static void test_shipped_templates(void **state)
{
    (void)state;
    ntf_templates_t *t = NULL;
    char err[4096] = "";
    int rc = ntf_templates_load(tpl_dir(), &t, err, sizeof err);
    if (rc != 0)
        fail_msg("templates do not load:\n%s", err);
    const char *langs[] = {"en", "zh-CN"};
    for (const ntf_message_type_t *m = ntf_message_types; m->type; m++)
        for (size_t i = 0; i < 2; i++) {
            if (!ntf_templates_has(t, m->type, "email", langs[i]) ||
                !ntf_templates_has(t, m->type, "sms", langs[i]))
                fail_msg("%s lacks email or sms in %s", m->type, langs[i]);
            /* Every type renders, with a subject and an HTML part, from empty values. */
            ntf_rendered_t r;
            json_object *v = json_object_new_object();
            assert_int_equal(ntf_templates_render(t, m->type, "email", langs[i], v, &r), 0);
            assert_non_null(r.subject);
            assert_true(strlen(r.subject) > 0);
            assert_non_null(r.text);
            assert_non_null(r.html);
            assert_string_equal(r.lang, langs[i]);
            ntf_rendered_clear(&r);
            json_object_put(v);
        }
    ntf_templates_destroy(&t);
    assert_null(t);
}

static void test_render_and_fallback(void **state)
{
    (void)state;
    ntf_templates_t *t = NULL;
    char err[4096] = "";
    assert_int_equal(ntf_templates_load(tpl_dir(), &t, err, sizeof err), 0);
    json_object *v = json_tokener_parse(
        "{\"customer_name\": \"A & B Ltd\", \"invoice_number\": \"INV-2026-000123\","
        " \"currency\": \"CNY\", \"total\": \"1,130.00\", \"amount_due\": \"1,130.00\","
        " \"due_date\": \"2026-12-15\", \"invoice_html\": \"<table id='inv'></table>\","
        " \"lines\": [{\"description\": \"Support <hours>\", \"quantity\": \"10\","
        " \"unit_price\": \"100.00\", \"amount\": \"1,000.00\"}]}");
    ntf_rendered_t r;
    assert_int_equal(ntf_templates_render(t, "invoice_issued", "email", "zh-TW", v, &r), 0);
    assert_string_equal(r.lang, "zh-CN");
    assert_non_null(strstr(r.subject, "INV-2026-000123"));
    assert_non_null(strstr(r.html, "<table id='inv'></table>"));
    assert_non_null(strstr(r.html, "A &amp; B Ltd"));
    assert_non_null(strstr(r.text, "A & B Ltd"));
    assert_non_null(strstr(r.text, "Support <hours>"));
    ntf_rendered_clear(&r);
    /* Without the pre-rendered block the HTML lists the lines itself. */
    json_object_object_del(v, "invoice_html");
    assert_int_equal(ntf_templates_render(t, "invoice_issued", "email", "en", v, &r), 0);
    assert_non_null(strstr(r.html, "<td>Support &lt;hours&gt;</td>"));
    ntf_rendered_clear(&r);
    assert_int_equal(ntf_templates_render(t, "invoice_issued", "email", "fr", v, &r), 0);
    assert_string_equal(r.lang, "en");
    ntf_rendered_clear(&r);
    assert_int_equal(ntf_templates_render(t, "invoice_issued", "sms", "zh-CN", v, &r), 0);
    assert_null(r.subject);
    assert_null(r.html);
    assert_non_null(strstr(r.text, "INV-2026-000123"));
    ntf_rendered_clear(&r);
    assert_int_equal(ntf_templates_render(t, "invoice_issued", "pager", "en", v, &r),
                     BW_ENOTFOUND);
    ntf_rendered_clear(&r);
    json_object_put(v);
    ntf_templates_destroy(&t);
}

/* Writes name with content into dir. */
static void write_file(const char *dir, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static void test_load_errors(void **state)
{
    (void)state;
    char dir[] = "/tmp/ntf_tpl_XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(dir, "invoice_issued.email.en.txt", "Subject: Invoice {{invoice_number}}\n\nHi {{customer_nam}}\n");
    write_file(dir, "invoice_issued.email.en.html", "<p>{{#if total}}</p>\n");
    write_file(dir, "nosuch_type.sms.en.txt", "x\n");
    write_file(dir, "payment_reminder.email.en.txt", "no subject line\n");
    write_file(dir, "payment_received.email.de.html", "<p>hi</p>\n");
    write_file(dir, "README.md", "ignored\n");
    ntf_templates_t *t = NULL;
    char err[4096] = "";
    assert_int_equal(ntf_templates_load(dir, &t, err, sizeof err), BW_EINVAL);
    assert_null(t);
    const char *want[] = {
        "invoice_issued.email.en.txt:3: unknown variable 'customer_nam'",
        "invoice_issued.email.en.html:1: {{#if total}} is never closed",
        "nosuch_type.sms.en.txt:1: unknown message type",
        "payment_reminder.email.en.txt:1: e-mail text templates start with 'Subject: ...'",
        "payment_received.email.de.html:1: has no payment_received.email.de.txt",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(err, want[i]))
            fail_msg("errors:\n%s\nlack: %s", err, want[i]);
    const char *names[] = {"invoice_issued.email.en.txt", "invoice_issued.email.en.html",
                           "nosuch_type.sms.en.txt",      "payment_reminder.email.en.txt",
                           "payment_received.email.de.html", "README.md"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_sms_segments(void **state)
{
    (void)state;
    ntf_sms_info_t i;
    ntf_sms_measure("", &i);
    assert_int_equal(i.segments, 0);
    ntf_sms_measure("Hello, your invoice is ready.", &i);
    assert_false(i.ucs2);
    assert_int_equal(i.units, 29);
    assert_int_equal(i.segments, 1);
    char buf[400];
    memset(buf, 'a', 160);
    buf[160] = '\0';
    ntf_sms_measure(buf, &i);
    assert_int_equal(i.segments, 1);
    buf[160] = 'a';
    buf[161] = '\0';
    ntf_sms_measure(buf, &i);
    assert_int_equal(i.segments, 2);
    assert_int_equal(i.per_segment, 153);
    /* Extension characters take two septets; the euro sign is one of them. */
    ntf_sms_measure("{€}", &i);
    assert_false(i.ucs2);
    assert_int_equal(i.units, 6);
    ntf_sms_measure("Café ü Ñ", &i);
    assert_false(i.ucs2);
    /* Chinese forces UCS-2: 70 per segment, 67 when concatenated. */
    ntf_sms_measure("您的账单已出,请及时付款。", &i);
    assert_true(i.ucs2);
    assert_int_equal(i.units, 13);
    assert_int_equal(i.segments, 1);
    buf[0] = '\0';
    for (int k = 0; k < 71; k++)
        strcat(buf, "费");
    ntf_sms_measure(buf, &i);
    assert_true(i.ucs2);
    assert_int_equal(i.units, 71);
    assert_int_equal(i.segments, 2);
    assert_int_equal(i.per_segment, 67);
    /* One character outside the GSM alphabet switches the whole text. */
    ntf_sms_measure("Price `new`", &i);
    assert_true(i.ucs2);
    /* Truncation keeps whole characters. */
    size_t len = ntf_sms_truncate(buf, 1);
    assert_int_equal(len, 70 * 3);
    ntf_sms_measure(buf, &i);
    assert_int_equal(i.segments, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_html_escaping),     cmocka_unit_test(test_values),
        cmocka_unit_test(test_if_else),           cmocka_unit_test(test_each),
        cmocka_unit_test(test_errors),            cmocka_unit_test(test_shipped_templates),
        cmocka_unit_test(test_render_and_fallback), cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_sms_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
