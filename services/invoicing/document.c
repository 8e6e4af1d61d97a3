/* Invoice documents: the audit check and three renderers. Every renderer
 * goes through inv_document_check first, so nothing that does not add up is
 * ever shown to a customer. Untrusted text (names, addresses, descriptions
 * come from customers and operators) is HTML-escaped in HTML, left to json-c
 * in JSON, and stripped of control characters in text so it cannot drive the
 * terminal; invalid UTF-8 becomes U+FFFD or '?' rather than passing through.
 * Labels for both languages live in one table below. */
#include "invoicing/document.h"
#include "clock.h"
#include "errors.h"
#include "money.h"
#include "util.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- buffer ----------------------------------------------------------------- */

struct inv_buf {
    char *data;
    size_t len, cap;
    bool failed; /* an allocation failed: renderers check once at the end */
    size_t *marks; /* set: the HTML renderer marks where the number goes */
    size_t nmarks, maxmarks;
};

inv_buf_t *inv_buf_new(void)
{
    inv_buf_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    if (!(b->data = malloc(1024))) {
        free(b);
        return NULL;
    }
    b->cap = 1024;
    b->data[0] = '\0';
    return b;
}

void inv_buf_destroy(inv_buf_t **pb)
{
    if (!pb || !*pb)
        return;
    free((*pb)->data);
    free(*pb);
    *pb = NULL;
}

const char *inv_buf_data(const inv_buf_t *b)
{
    return b->data;
}

size_t inv_buf_len(const inv_buf_t *b)
{
    return b->len;
}

void inv_buf_reset(inv_buf_t *b)
{
    b->len = 0;
    b->data[0] = '\0';
    b->failed = false;
}

static void put(inv_buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (bw_grow(&b->data, &b->cap, b->len + n + 1, 256) < 0) {
        b->failed = true;
        return;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void puts_(inv_buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

static void printf_(inv_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void printf_(inv_buf_t *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n < sizeof small) {
        put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    put(b, big, (size_t)n);
    free(big);
}

static void spaces(inv_buf_t *b, size_t n)
{
    while (n--)
        put(b, " ", 1);
}

static const char *s0(const char *s)
{
    return s ? s : "";
}

/* --- names and labels --------------------------------------------------------- */

static const char *const line_kind_names[] = {"charge", "discount", "proration", "true_up",
                                              "setup"};
static const char *const status_names[] = {"draft", "issued", "partially_paid",
                                           "paid",  "overdue", "void"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *inv_line_kind_name(inv_line_kind_t k)
{
    return (unsigned)k < COUNT(line_kind_names) ? line_kind_names[k] : "?";
}

inv_line_kind_t inv_line_kind_parse(const char *name)
{
    for (size_t k = 0; name && k < COUNT(line_kind_names); k++)
        if (!strcmp(name, line_kind_names[k]))
            return (inv_line_kind_t)k;
    return INV_LINE_CHARGE;
}

const char *inv_doc_status_name(inv_doc_status_t s)
{
    return (unsigned)s < COUNT(status_names) ? status_names[s] : "?";
}

const char *inv_lang_name(inv_lang_t l)
{
    return l == INV_LANG_EN ? "en" : l == INV_LANG_ZH_CN ? "zh-CN" : "?";
}

int inv_lang_parse(const char *s, inv_lang_t *out)
{
    if (!s)
        return BW_EINVAL;
    if (strcasecmp(s, "en") == 0) {
        *out = INV_LANG_EN;
        return 0;
    }
    if (strcasecmp(s, "zh-CN") == 0 || strcasecmp(s, "zh_CN") == 0 ||
        strcasecmp(s, "zh") == 0) {
        *out = INV_LANG_ZH_CN;
        return 0;
    }
    return BW_EINVAL;
}

typedef enum {
    L_INVOICE, L_CREDIT_NOTE, L_INV_NUMBER, L_CN_NUMBER, L_ISSUE_DATE, L_DUE_DATE, L_PERIOD,
    L_STATUS, L_BILL_RUN, L_CREDIT_FOR, L_REASON, L_SELLER, L_CUSTOMER, L_ACCOUNT, L_TAX_ID,
    L_EMAIL, L_BANK, L_BANK_ACCOUNT, L_ITEMS, L_NO, L_DESCRIPTION, L_KIND, L_QTY, L_UNIT,
    L_UNIT_PRICE, L_NET, L_TAX_RATE, L_TAX, L_TAX_SUMMARY, L_CATEGORY, L_BASE, L_SUBTOTAL,
    L_TOTAL, L_TOTAL_CREDIT, L_PAYMENT, L_SCHEDULE, L_INSTALMENT, L_AMOUNT_DUE,
    L_ON_COMPLETION, L_CURRENCY, L_COUNT
} label_t;

static const char *const labels[2][L_COUNT] = {
    [INV_LANG_EN] = {
        [L_INVOICE] = "Invoice", [L_CREDIT_NOTE] = "Credit note",
        [L_INV_NUMBER] = "Invoice number", [L_CN_NUMBER] = "Credit note number",
        [L_ISSUE_DATE] = "Issue date", [L_DUE_DATE] = "Due date",
        [L_PERIOD] = "Billing period", [L_STATUS] = "Status", [L_BILL_RUN] = "Bill run",
        [L_CREDIT_FOR] = "Credits invoice", [L_REASON] = "Reason", [L_SELLER] = "From",
        [L_CUSTOMER] = "Bill to", [L_ACCOUNT] = "Account", [L_TAX_ID] = "Tax ID",
        [L_EMAIL] = "Email", [L_BANK] = "Bank", [L_BANK_ACCOUNT] = "Account number",
        [L_ITEMS] = "Itemized charges", [L_NO] = "#", [L_DESCRIPTION] = "Description",
        [L_KIND] = "Type", [L_QTY] = "Qty", [L_UNIT] = "Unit", [L_UNIT_PRICE] = "Unit price",
        [L_NET] = "Amount", [L_TAX_RATE] = "Tax rate", [L_TAX] = "Tax",
        [L_TAX_SUMMARY] = "Tax summary", [L_CATEGORY] = "Category",
        [L_BASE] = "Taxable amount", [L_SUBTOTAL] = "Subtotal", [L_TOTAL] = "Total",
        [L_TOTAL_CREDIT] = "Total credit", [L_PAYMENT] = "Payment instructions",
        [L_SCHEDULE] = "Instalment schedule", [L_INSTALMENT] = "Instalment",
        [L_AMOUNT_DUE] = "Amount due", [L_ON_COMPLETION] = "On completion",
        [L_CURRENCY] = "Currency",
    },
    [INV_LANG_ZH_CN] = {
        [L_INVOICE] = "发票", [L_CREDIT_NOTE] = "贷项通知单",
        [L_INV_NUMBER] = "发票号码", [L_CN_NUMBER] = "贷项通知单号码",
        [L_ISSUE_DATE] = "开票日期", [L_DUE_DATE] = "到期日", [L_PERIOD] = "计费周期",
        [L_STATUS] = "状态", [L_BILL_RUN] = "账单批次", [L_CREDIT_FOR] = "原发票号码",
        [L_REASON] = "原因", [L_SELLER] = "销售方", [L_CUSTOMER] = "购买方",
        [L_ACCOUNT] = "客户编号", [L_TAX_ID] = "纳税人识别号", [L_EMAIL] = "电子邮箱",
        [L_BANK] = "开户银行", [L_BANK_ACCOUNT] = "银行账号", [L_ITEMS] = "费用明细",
        [L_NO] = "序号", [L_DESCRIPTION] = "项目", [L_KIND] = "类型", [L_QTY] = "数量",
        [L_UNIT] = "单位", [L_UNIT_PRICE] = "单价", [L_NET] = "金额", [L_TAX_RATE] = "税率",
        [L_TAX] = "税额", [L_TAX_SUMMARY] = "税额汇总", [L_CATEGORY] = "税目",
        [L_BASE] = "计税金额", [L_SUBTOTAL] = "小计", [L_TOTAL] = "合计",
        [L_TOTAL_CREDIT] = "贷项合计", [L_PAYMENT] = "付款说明",
        [L_SCHEDULE] = "分期付款计划", [L_INSTALMENT] = "期次", [L_AMOUNT_DUE] = "应付金额",
        [L_ON_COMPLETION] = "完成时", [L_CURRENCY] = "币种",
    },
};

static const char *const kind_labels[2][5] = {
    [INV_LANG_EN] = {"Charge", "Discount", "Proration", "True-up", "Setup fee"},
    [INV_LANG_ZH_CN] = {"费用", "折扣", "按比例折算", "差额调整", "开通费"},
};

static const char *const status_labels[2][6] = {
    [INV_LANG_EN] = {"Draft", "Issued", "Partially paid", "Paid", "Overdue", "Void"},
    [INV_LANG_ZH_CN] = {"草稿", "已开具", "部分付款", "已付款", "已逾期", "已作废"},
};

static const char *L(const inv_document_t *d, label_t l)
{
    return labels[d->lang][l];
}

/* The category's label from the document's tax profile, else its name. */
static const char *category_label(const inv_document_t *d, const char *cat)
{
    const inv_tax_profile_t *p = inv_tax_profile_find(d->tax_profile);
    const inv_tax_category_t *c;
    if (p && cat && *cat && inv_tax_category_find(p, cat, &c, NULL, 0) == 0)
        return d->lang == INV_LANG_ZH_CN ? c->label_zh : c->label_en;
    return s0(cat);
}

/* --- money and dates ---------------------------------------------------------- */

/* Copies s into out (len bytes), cut if it does not fit. */
static void copy_str(char *out, size_t len, const char *s)
{
    if (len == 0)
        return;
    size_t n = strlen(s);
    if (n >= len)
        n = len - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* Digits of |minor| with thousands separators and exp decimals. */
static void format_amount(int64_t minor, int exp, char *out, size_t len)
{
    char digits[32], tmp[48];
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    /* By hand rather than snprintf: a document formats dozens of amounts
     * and a month end renders one document per invoice. */
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag > 0 || nd < exp + 1);
    for (int i = 0; i < nd / 2; i++) {
        char t = digits[i];
        digits[i] = digits[nd - 1 - i];
        digits[nd - 1 - i] = t;
    }
    int nint = nd - exp;
    size_t k = 0;
    if (minor < 0)
        tmp[k++] = '-';
    for (int i = 0; i < nint; i++) {
        if (i > 0 && (nint - i) % 3 == 0)
            tmp[k++] = ',';
        tmp[k++] = digits[i];
    }
    if (exp > 0) {
        tmp[k++] = '.';
        for (int i = nint; i < nd; i++)
            tmp[k++] = digits[i];
    }
    tmp[k] = '\0';
    copy_str(out, len, tmp);
}

int inv_format_money(int64_t minor, const char *currency, char *buf, size_t len)
{
    int exp = bw_currency_exponent(currency);
    char amt[40];
    if (exp < 0 || exp > 9)
        return BW_EINVAL;
    format_amount(minor, exp, amt, sizeof amt);
    size_t nc = strlen(currency), na = strlen(amt);
    if (nc + 1 + na >= len)
        return BW_ETOOBIG;
    memcpy(buf, currency, nc);
    buf[nc] = ' ';
    memcpy(buf + nc + 1, amt, na + 1);
    return 0;
}

/* Amount without the currency code, for table cells. */
static void amount_cell(const inv_document_t *d, int64_t minor, char *out, size_t len)
{
    format_amount(minor, bw_currency_exponent(d->currency), out, len);
}

static void money(const inv_document_t *d, int64_t minor, char *out, size_t len)
{
    if (inv_format_money(minor, d->currency, out, len) < 0)
        snprintf(out, len, "?");
}

static bool date_set(int64_t days)
{
    return days != INV_DATE_UNSET && days >= 0 && days <= bw_days_from_civil(9999, 12, 31);
}

static void date_str(const inv_document_t *d, int64_t days, char *out, size_t len)
{
    int y, m, dd;
    if (!date_set(days)) {
        snprintf(out, len, "%s", "-");
        return;
    }
    bw_civil_from_days(days, &y, &m, &dd);
    if (d->lang == INV_LANG_ZH_CN) {
        snprintf(out, len, "%d年%d月%d日", y, m, dd);
    } else if (len >= 11 && y >= 0 && y <= 9999) {
        const int v[3] = {y, m, dd}, w[3] = {4, 2, 2};
        char *p = out;
        for (int f = 0; f < 3; f++) {
            if (f)
                *p++ = '-';
            for (int k = w[f] - 1, x = v[f]; k >= 0; k--, x /= 10)
                p[k] = (char)('0' + x % 10);
            p += w[f];
        }
        *p = '\0';
    } else {
        snprintf(out, len, "%04d-%02d-%02d", y, m, dd);
    }
}

static void period_str(const inv_document_t *d, char *out, size_t len)
{
    char a[32], b[32];
    date_str(d, d->period_start, a, sizeof a);
    /* The period is half-open: show the last day it includes. */
    date_str(d, date_set(d->period_end) ? d->period_end - 1 : d->period_end, b, sizeof b);
    snprintf(out, len, "%s – %s", a, b);
}

/* --- compute and check --------------------------------------------------------- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return BW_EINVAL;
}

int inv_document_compute(inv_document_t *d, const inv_tax_profile_t *p, inv_tax_mode_t mode,
                         char *err, size_t errlen)
{
    int rc;
    inv_tax_totals_t t;
    inv_tax_line_t *tl = calloc(d->nlines ? d->nlines : 1, sizeof *tl);
    if (!tl) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    for (size_t i = 0; i < d->nlines; i++) {
        tl[i].category = d->lines[i].tax_category;
        tl[i].amount_minor = d->lines[i].amount_minor;
    }
    if ((rc = inv_tax_compute(p, mode, tl, d->nlines, &t, err, errlen)) < 0)
        goto fail;
    for (size_t i = 0; i < d->nlines; i++) {
        d->lines[i].tax_category = tl[i].category_name; /* static storage */
        d->lines[i].tax_rate_ppm = tl[i].rate_ppm;
        d->lines[i].net_minor = tl[i].net_minor;
        d->lines[i].tax_minor = tl[i].tax_minor;
    }
    d->ntax_rows = t.nsummary;
    for (size_t k = 0; k < t.nsummary; k++) {
        d->tax_rows[k].category = t.summary[k].category->name;
        d->tax_rows[k].rate_ppm = t.summary[k].rate_ppm;
        d->tax_rows[k].base_minor = t.summary[k].base_minor;
        d->tax_rows[k].tax_minor = t.summary[k].tax_minor;
    }
    d->subtotal_minor = t.subtotal_minor;
    d->tax_minor = t.tax_minor;
    d->total_minor = t.total_minor;
    d->tax_profile = p->id;
fail:
    free(tl);
    return rc;
}

static bool add_ok(int64_t *acc, int64_t v)
{
    if ((v > 0 && *acc > INT64_MAX - v) || (v < 0 && *acc < INT64_MIN - v))
        return false;
    *acc += v;
    return true;
}

int inv_document_check(const inv_document_t *d, char *err, size_t errlen)
{
    int64_t net = 0, tax = 0, total = 0;
    if ((unsigned)d->kind > INV_DOC_CREDIT_NOTE)
        return fail(err, errlen, "unknown document kind %d", (int)d->kind);
    if ((unsigned)d->lang > INV_LANG_ZH_CN)
        return fail(err, errlen, "unknown language %d", (int)d->lang);
    if ((unsigned)d->status >= COUNT(status_names))
        return fail(err, errlen, "unknown status %d", (int)d->status);
    if (bw_currency_exponent(d->currency) < 0)
        return fail(err, errlen, "unknown currency \"%.8s\"", s0(d->currency));
    if (d->status != INV_STATUS_DRAFT && (!d->number || !*d->number))
        return fail(err, errlen, "an issued document needs a number");
    if (d->kind == INV_DOC_CREDIT_NOTE && (!d->credit_for || !*d->credit_for))
        return fail(err, errlen, "a credit note must name the invoice it corrects");
    if (d->nlines && !d->lines)
        return fail(err, errlen, "lines missing");
    if (d->ntax_rows > INV_TAX_MAX_CATEGORIES)
        return fail(err, errlen, "too many tax rows");
    if (d->ninstalments && !d->instalments)
        return fail(err, errlen, "instalments missing");

    for (size_t i = 0; i < d->nlines; i++) {
        const inv_line_t *l = &d->lines[i];
        size_t k;
        if ((unsigned)l->kind >= COUNT(line_kind_names))
            return fail(err, errlen, "line %zu: unknown kind %d", i + 1, (int)l->kind);
        if (!add_ok(&net, l->net_minor) || !add_ok(&tax, l->tax_minor))
            return fail(err, errlen, "line %zu: sums out of range", i + 1);
        for (k = 0; k < d->ntax_rows; k++)
            if (strcmp(s0(d->tax_rows[k].category), s0(l->tax_category)) == 0)
                break;
        if (k == d->ntax_rows)
            return fail(err, errlen, "line %zu: tax category \"%.32s\" not in the tax summary",
                        i + 1, s0(l->tax_category));
        if (d->tax_rows[k].rate_ppm != l->tax_rate_ppm)
            return fail(err, errlen, "line %zu: tax rate differs from the tax summary", i + 1);
    }
    if (net != d->subtotal_minor)
        return fail(err, errlen, "subtotal %lld is not the sum of the lines %lld",
                    (long long)d->subtotal_minor, (long long)net);
    if (tax != d->tax_minor)
        return fail(err, errlen, "tax %lld is not the sum of the line taxes %lld",
                    (long long)d->tax_minor, (long long)tax);
    total = net;
    if (!add_ok(&total, tax) || total != d->total_minor)
        return fail(err, errlen, "total %lld is not subtotal plus tax",
                    (long long)d->total_minor);
    for (size_t k = 0; k < d->ntax_rows; k++) {
        int64_t b = 0, t = 0;
        for (size_t j = 0; j < k; j++)
            if (strcmp(s0(d->tax_rows[j].category), s0(d->tax_rows[k].category)) == 0)
                return fail(err, errlen, "tax category \"%.32s\" listed twice",
                            s0(d->tax_rows[k].category));
        for (size_t i = 0; i < d->nlines; i++) {
            if (strcmp(s0(d->tax_rows[k].category), s0(d->lines[i].tax_category)) == 0) {
                b += d->lines[i].net_minor; /* cannot overflow: the totals did not */
                t += d->lines[i].tax_minor;
            }
        }
        if (b != d->tax_rows[k].base_minor || t != d->tax_rows[k].tax_minor)
            return fail(err, errlen, "tax summary for \"%.32s\" does not match the lines",
                        s0(d->tax_rows[k].category));
    }
    if (d->ninstalments) {
        int64_t s = 0;
        for (size_t i = 0; i < d->ninstalments; i++)
            if (!add_ok(&s, d->instalments[i].amount_minor))
                return fail(err, errlen, "instalments out of range");
        if (s != d->total_minor)
            return fail(err, errlen, "instalments sum to %lld, not the total %lld",
                        (long long)s, (long long)d->total_minor);
    }
    return 0;
}

/* --- UTF-8 -------------------------------------------------------------------- */

/* Decodes one code point at s (n bytes left): its length, or 0 when the
 * bytes are not valid UTF-8 (overlong, surrogate, truncated, > U+10FFFF). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if ((s[0] & 0xE0) == 0xC0)
        len = 2, c = s[0] & 0x1F, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0)
        len = 3, c = s[0] & 0x0F, min = 0x800;
    else if ((s[0] & 0xF8) == 0xF0)
        len = 4, c = s[0] & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return len;
}

/* Terminal columns of a code point: 2 for East Asian wide and fullwidth
 * forms (the ranges that matter for Chinese and Japanese text), else 1. */
static size_t cp_width(uint32_t c)
{
    return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
                   (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
                   (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
                   (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x20000 && c <= 0x3FFFD)
               ? 2
               : 1;
}

/* A copy of s safe for a terminal: control characters (ESC included) become
 * spaces, or are kept as line breaks when multiline; invalid UTF-8 becomes
 * '?'. NULL when out of memory. */
static char *clean_text(const char *s, bool multiline)
{
    s = s0(s);
    size_t n = strlen(s), k = 0;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_next(p + i, n - i, &cp);
        if (len == 0) {
            out[k++] = '?';
            i++;
            continue;
        }
        if (cp == '\n' && multiline)
            out[k++] = '\n';
        else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))
            out[k++] = ' ';
        else
            for (size_t j = 0; j < len; j++)
                out[k++] = (char)p[i + j];
        i += len;
    }
    out[k] = '\0';
    return out;
}

static size_t display_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), w = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = utf8_next(p + i, n - i, &cp);
        if (len == 0) {
            w++, i++;
            continue;
        }
        w += cp_width(cp);
        i += len;
    }
    return w;
}

/* --- text --------------------------------------------------------------------- */

/* A table of nrows x ncols cleaned cells (row 0 is the header), printed with
 * columns padded to their widest cell; right[c] right-aligns column c. */
typedef struct {
    size_t ncols, nrows;
    char **cells;
    const bool *right;
} table_t;

static void table_print(inv_buf_t *b, const table_t *t, const char *indent)
{
    size_t w[16] = {0};
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t dw = display_width(s0(t->cells[r * t->ncols + c]));
            if (dw > w[c])
                w[c] = dw;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        puts_(b, indent);
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = s0(t->cells[r * t->ncols + c]);
            size_t pad = w[c] - display_width(cell);
            if (c)
                puts_(b, "  ");
            if (t->right[c])
                spaces(b, pad);
            puts_(b, cell);
            if (!t->right[c] && c + 1 < t->ncols)
                spaces(b, pad);
        }
        puts_(b, "\n");
        if (r == 0) {
            size_t total = 0;
            for (size_t c = 0; c < t->ncols; c++)
                total += w[c] + (c ? 2 : 0);
            puts_(b, indent);
            for (size_t i = 0; i < total; i++)
                put(b, "-", 1);
            puts_(b, "\n");
        }
    }
}

static void table_free(table_t *t)
{
    for (size_t i = 0; t->cells && i < t->ncols * t->nrows; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
}

/* Sets a cell to a cleaned copy of s; false when out of memory. */
static bool cell(table_t *t, size_t r, size_t c, const char *s)
{
    return (t->cells[r * t->ncols + c] = clean_text(s, false)) != NULL;
}

static void text_field(inv_buf_t *b, const char *label, const char *value, bool *ok)
{
    char *v = clean_text(value, true);
    if (!v) {
        *ok = false;
        return;
    }
    char *line = v;
    if (*label)
        printf_(b, "%s: ", label);
    else
        puts_(b, "    "); /* a continuation block, e.g. an address */
    for (char *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        put(b, line, (size_t)(nl - line));
        puts_(b, "\n    ");
    }
    printf_(b, "%s\n", line);
    free(v);
}

int inv_document_render_text(const inv_document_t *d, inv_buf_t *out, char *err,
                             size_t errlen)
{
    int rc = inv_document_check(d, err, errlen);
    if (rc < 0)
        return rc;
    bool ok = true, cn = d->kind == INV_DOC_CREDIT_NOTE;
    char a[96], c2[64], t1[64], t2[64];
    table_t lt = {0}, st = {0}, it = {0};

    text_field(out, L(d, cn ? L_CREDIT_NOTE : L_INVOICE), d->number ? d->number : "-", &ok);
    text_field(out, L(d, L_STATUS), status_labels[d->lang][d->status], &ok);
    date_str(d, d->issue_date, a, sizeof a);
    text_field(out, L(d, L_ISSUE_DATE), a, &ok);
    if (date_set(d->due_date)) {
        date_str(d, d->due_date, a, sizeof a);
        text_field(out, L(d, L_DUE_DATE), a, &ok);
    }
    if (date_set(d->period_start) && date_set(d->period_end)) {
        period_str(d, a, sizeof a);
        text_field(out, L(d, L_PERIOD), a, &ok);
    }
    text_field(out, L(d, L_CURRENCY), d->currency, &ok);
    if (d->bill_run)
        text_field(out, L(d, L_BILL_RUN), d->bill_run, &ok);
    if (cn) {
        text_field(out, L(d, L_CREDIT_FOR), d->credit_for, &ok);
        if (d->credit_reason)
            text_field(out, L(d, L_REASON), d->credit_reason, &ok);
    }
    puts_(out, "\n");
    text_field(out, L(d, L_SELLER), d->seller.name, &ok);
    if (d->seller.address)
        text_field(out, "", d->seller.address, &ok);
    if (d->seller.tax_id)
        text_field(out, L(d, L_TAX_ID), d->seller.tax_id, &ok);
    text_field(out, L(d, L_CUSTOMER), d->customer.name, &ok);
    text_field(out, L(d, L_ACCOUNT), d->customer.account_id, &ok);
    if (d->customer.address)
        text_field(out, "", d->customer.address, &ok);
    if (d->customer.email)
        text_field(out, L(d, L_EMAIL), d->customer.email, &ok);
    if (d->customer.tax_id)
        text_field(out, L(d, L_TAX_ID), d->customer.tax_id, &ok);
    puts_(out, "\n");

    static const bool line_right[] = {true, false, false, true, false, true, true, true, true};
    lt = (table_t){9, d->nlines + 1, calloc(9 * (d->nlines + 1), sizeof(char *)), line_right};
    if (!lt.cells)
        goto nomem;
    const label_t lh[] = {L_NO,  L_DESCRIPTION, L_KIND,      L_QTY,     L_UNIT,
                          L_UNIT_PRICE, L_NET,  L_TAX_RATE, L_TAX};
    for (size_t c = 0; c < 9; c++)
        ok = ok && cell(&lt, 0, c, L(d, lh[c]));
    for (size_t i = 0; i < d->nlines; i++) {
        const inv_line_t *l = &d->lines[i];
        snprintf(a, sizeof a, "%zu", i + 1);
        amount_cell(d, l->net_minor, t1, sizeof t1);
        amount_cell(d, l->tax_minor, t2, sizeof t2);
        inv_tax_rate_format(l->tax_rate_ppm, c2, sizeof c2);
        ok = ok && cell(&lt, i + 1, 0, a) && cell(&lt, i + 1, 1, l->description) &&
             cell(&lt, i + 1, 2, kind_labels[d->lang][l->kind]) &&
             cell(&lt, i + 1, 3, l->quantity) && cell(&lt, i + 1, 4, l->unit) &&
             cell(&lt, i + 1, 5, l->unit_price) && cell(&lt, i + 1, 6, t1) &&
             cell(&lt, i + 1, 7, c2) && cell(&lt, i + 1, 8, t2);
    }
    if (!ok)
        goto nomem;
    table_print(out, &lt, "");
    puts_(out, "\n");

    static const bool sum_right[] = {false, true, true, true};
    st = (table_t){4, d->ntax_rows + 1, calloc(4 * (d->ntax_rows + 1), sizeof(char *)),
                   sum_right};
    if (!st.cells)
        goto nomem;
    ok = cell(&st, 0, 0, L(d, L_CATEGORY)) && cell(&st, 0, 1, L(d, L_TAX_RATE)) &&
         cell(&st, 0, 2, L(d, L_BASE)) && cell(&st, 0, 3, L(d, L_TAX));
    for (size_t k = 0; k < d->ntax_rows; k++) {
        const inv_doc_tax_row_t *r = &d->tax_rows[k];
        inv_tax_rate_format(r->rate_ppm, c2, sizeof c2);
        amount_cell(d, r->base_minor, t1, sizeof t1);
        amount_cell(d, r->tax_minor, t2, sizeof t2);
        ok = ok && cell(&st, k + 1, 0, category_label(d, r->category)) &&
             cell(&st, k + 1, 1, c2) && cell(&st, k + 1, 2, t1) && cell(&st, k + 1, 3, t2);
    }
    if (!ok)
        goto nomem;
    printf_(out, "%s\n", L(d, L_TAX_SUMMARY));
    table_print(out, &st, "");
    puts_(out, "\n");

    money(d, d->subtotal_minor, t1, sizeof t1);
    text_field(out, L(d, L_SUBTOTAL), t1, &ok);
    money(d, d->tax_minor, t1, sizeof t1);
    text_field(out, L(d, L_TAX), t1, &ok);
    money(d, d->total_minor, t1, sizeof t1);
    text_field(out, L(d, cn ? L_TOTAL_CREDIT : L_TOTAL), t1, &ok);

    if (d->seller.payment_instructions || d->seller.bank_account) {
        puts_(out, "\n");
        if (d->seller.payment_instructions)
            text_field(out, L(d, L_PAYMENT), d->seller.payment_instructions, &ok);
        if (d->seller.bank_name)
            text_field(out, L(d, L_BANK), d->seller.bank_name, &ok);
        if (d->seller.bank_account)
            text_field(out, L(d, L_BANK_ACCOUNT), d->seller.bank_account, &ok);
    }
    if (d->ninstalments) {
        static const bool inst_right[] = {false, false, true};
        it = (table_t){3, d->ninstalments + 1,
                       calloc(3 * (d->ninstalments + 1), sizeof(char *)), inst_right};
        if (!it.cells)
            goto nomem;
        ok = ok && cell(&it, 0, 0, L(d, L_INSTALMENT)) && cell(&it, 0, 1, L(d, L_DUE_DATE)) &&
             cell(&it, 0, 2, L(d, L_AMOUNT_DUE));
        for (size_t i = 0; i < d->ninstalments; i++) {
            const inv_instalment_t *in = &d->instalments[i];
            if (in->due_days == INV_DATE_UNSET)
                snprintf(a, sizeof a, "%s", L(d, L_ON_COMPLETION));
            else
                date_str(d, in->due_days, a, sizeof a);
            money(d, in->amount_minor, t1, sizeof t1);
            ok = ok && cell(&it, i + 1, 0, in->label) && cell(&it, i + 1, 1, a) &&
                 cell(&it, i + 1, 2, t1);
        }
        if (!ok)
            goto nomem;
        printf_(out, "\n%s\n", L(d, L_SCHEDULE));
        table_print(out, &it, "");
    }
    if (!ok || out->failed)
        goto nomem;
    table_free(&lt);
    table_free(&st);
    table_free(&it);
    return 0;
nomem:
    table_free(&lt);
    table_free(&st);
    table_free(&it);
    if (err && errlen)
        snprintf(err, errlen, "out of memory");
    return BW_ENOMEM;
}

/* --- JSON --------------------------------------------------------------------- */

/* Adds key: value, where NULL strings become JSON null. Returns false when
 * out of memory. */
static bool jstr(json_object *o, const char *key, const char *v)
{
    json_object *s = NULL;
    if (v && !(s = json_object_new_string(v)))
        return false;
    return json_object_object_add(o, key, s) == 0;
}

static bool jint(json_object *o, const char *key, int64_t v)
{
    json_object *i = json_object_new_int64(v);
    return i && json_object_object_add(o, key, i) == 0;
}

/* "name_minor": 1234 and "name": "CNY 12.34". */
static bool jmoney(json_object *o, const inv_document_t *d, const char *name, int64_t v)
{
    char key[48], m[64];
    snprintf(key, sizeof key, "%s_minor", name);
    money(d, v, m, sizeof m);
    return jint(o, key, v) && jstr(o, name, m);
}

static bool jdate(json_object *o, const char *key, int64_t days)
{
    char b[16];
    if (!date_set(days))
        return jstr(o, key, NULL);
    bw_date_format(days, b, sizeof b);
    return jstr(o, key, b);
}

static bool jadd(json_object *parent, const char *key, json_object *child)
{
    if (!child)
        return false;
    if (json_object_object_add(parent, key, child) != 0) {
        json_object_put(child);
        return false;
    }
    return true;
}

static bool jpush(json_object *arr, json_object *child)
{
    if (!child)
        return false;
    if (json_object_array_add(arr, child) != 0) {
        json_object_put(child);
        return false;
    }
    return true;
}

int inv_document_render_json(const inv_document_t *d, inv_buf_t *out, char *err,
                             size_t errlen)
{
    int rc = inv_document_check(d, err, errlen);
    if (rc < 0)
        return rc;
    char b[64];
    json_object *o = json_object_new_object(), *x;
    bool ok = o != NULL;
    ok = ok && jstr(o, "kind", d->kind == INV_DOC_CREDIT_NOTE ? "credit_note" : "invoice") &&
         jstr(o, "number", d->number) && jstr(o, "status", inv_doc_status_name(d->status)) &&
         jstr(o, "language", inv_lang_name(d->lang)) && jstr(o, "currency", d->currency) &&
         jint(o, "currency_exponent", bw_currency_exponent(d->currency)) &&
         jdate(o, "issue_date", d->issue_date) && jdate(o, "due_date", d->due_date) &&
         jdate(o, "period_start", d->period_start) && jdate(o, "period_end", d->period_end) &&
         jstr(o, "bill_run", d->bill_run) && jstr(o, "tax_profile", d->tax_profile);
    if (ok && d->kind == INV_DOC_CREDIT_NOTE)
        ok = jstr(o, "credit_for", d->credit_for) && jstr(o, "credit_reason", d->credit_reason);
    if (ok && (ok = jadd(o, "seller", x = json_object_new_object())))
        ok = jstr(x, "name", d->seller.name) && jstr(x, "address", d->seller.address) &&
             jstr(x, "tax_id", d->seller.tax_id) && jstr(x, "bank_name", d->seller.bank_name) &&
             jstr(x, "bank_account", d->seller.bank_account) &&
             jstr(x, "payment_instructions", d->seller.payment_instructions);
    if (ok && (ok = jadd(o, "customer", x = json_object_new_object())))
        ok = jstr(x, "account_id", d->customer.account_id) &&
             jstr(x, "name", d->customer.name) && jstr(x, "address", d->customer.address) &&
             jstr(x, "email", d->customer.email) && jstr(x, "tax_id", d->customer.tax_id);
    json_object *arr = NULL;
    if (ok && (ok = jadd(o, "lines", arr = json_object_new_array())))
        for (size_t i = 0; ok && i < d->nlines; i++) {
            const inv_line_t *l = &d->lines[i];
            inv_tax_rate_format(l->tax_rate_ppm, b, sizeof b);
            ok = jpush(arr, x = json_object_new_object()) &&
                 jstr(x, "description", l->description) && jstr(x, "fee_item", l->fee_item) &&
                 jstr(x, "kind", inv_line_kind_name(l->kind)) &&
                 jstr(x, "quantity", l->quantity) && jstr(x, "unit", l->unit) &&
                 jstr(x, "unit_price", l->unit_price) && jmoney(x, d, "net", l->net_minor) &&
                 jstr(x, "tax_category", l->tax_category) &&
                 jint(x, "tax_rate_ppm", l->tax_rate_ppm) && jstr(x, "tax_rate", b) &&
                 jmoney(x, d, "tax", l->tax_minor);
        }
    if (ok && (ok = jadd(o, "tax_summary", arr = json_object_new_array())))
        for (size_t k = 0; ok && k < d->ntax_rows; k++) {
            const inv_doc_tax_row_t *r = &d->tax_rows[k];
            inv_tax_rate_format(r->rate_ppm, b, sizeof b);
            ok = jpush(arr, x = json_object_new_object()) &&
                 jstr(x, "category", r->category) && jint(x, "rate_ppm", r->rate_ppm) &&
                 jstr(x, "rate", b) && jmoney(x, d, "base", r->base_minor) &&
                 jmoney(x, d, "tax", r->tax_minor);
        }
    ok = ok && jmoney(o, d, "subtotal", d->subtotal_minor) && jmoney(o, d, "tax", d->tax_minor) &&
         jmoney(o, d, "total", d->total_minor);
    if (ok && (ok = jadd(o, "instalments", arr = json_object_new_array())))
        for (size_t i = 0; ok && i < d->ninstalments; i++) {
            const inv_instalment_t *in = &d->instalments[i];
            ok = jpush(arr, x = json_object_new_object()) && jint(x, "seq", in->seq) &&
                 jstr(x, "label", in->label) && jdate(x, "due_date", in->due_days) &&
                 jmoney(x, d, "amount", in->amount_minor) &&
                 (in->share_bp == 0 || jint(x, "share_bp", in->share_bp));
        }
    if (ok) {
        const char *s = json_object_to_json_string_ext(
            o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (s) {
            puts_(out, s);
            puts_(out, "\n");
        }
        ok = s != NULL && !out->failed;
    }
    json_object_put(o);
    if (!ok) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    return 0;
}

/* --- HTML --------------------------------------------------------------------- */

/* Appends s HTML-escaped for text and attribute values alike. Control
 * characters other than tab and line feed, and invalid UTF-8, become
 * U+FFFD: the page stays well formed whatever the input. */
static void esc(inv_buf_t *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s0(s);
    size_t n = strlen((const char *)p);
    for (size_t i = 0; i < n;) {
        /* Printable ASCII that needs no entity goes in runs, not one
         * character at a time (most of a document is such text). */
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x7F && p[run] != '&' && p[run] != '<' &&
               p[run] != '>' && p[run] != '"' && p[run] != '\'')
            run++;
        if (run > i) {
            put(b, (const char *)p + i, run - i);
            i = run;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_next(p + i, n - i, &cp);
        if (len == 0) {
            puts_(b, "\xEF\xBF\xBD");
            i++;
            continue;
        }
        switch (cp) {
        case '&': puts_(b, "&amp;"); break;
        case '<': puts_(b, "&lt;"); break;
        case '>': puts_(b, "&gt;"); break;
        case '"': puts_(b, "&quot;"); break;
        case '\'': puts_(b, "&#39;"); break;
        default:
            if ((cp < 0x20 && cp != '\n' && cp != '\t') || cp == 0x7F ||
                (cp >= 0x80 && cp < 0xA0))
                puts_(b, "\xEF\xBF\xBD");
            else
                put(b, (const char *)p + i, len);
        }
        i += len;
    }
}

/* The document number, or while rendering an unnumbered document its mark
 * (inv_document_render_html_unnumbered): the place it goes, left empty. */
static void html_number(inv_buf_t *b, const char *number)
{
    if (!b->marks) {
        esc(b, number);
        return;
    }
    if (b->nmarks == b->maxmarks) {
        b->failed = true;
        return;
    }
    b->marks[b->nmarks++] = b->len;
}

/* <tr><th>label</th><td>value</td></tr>, skipped when value is NULL. */
static void html_meta_row_(inv_buf_t *b, const char *label, const char *value, bool number)
{
    if (!value)
        return;
    puts_(b, "<tr><th>");
    esc(b, label);
    puts_(b, "</th><td>");
    if (number)
        html_number(b, value);
    else
        esc(b, value);
    puts_(b, "</td></tr>\n");
}

static void html_meta_row(inv_buf_t *b, const char *label, const char *value)
{
    html_meta_row_(b, label, value, false);
}

static void html_td(inv_buf_t *b, const char *cls, const char *value)
{
    if (cls)
        puts_(b, "<td class=\""), puts_(b, cls), puts_(b, "\">");
    else
        puts_(b, "<td>");
    esc(b, value);
    puts_(b, "</td>");
}

static void html_th(inv_buf_t *b, const char *cls, const char *value)
{
    if (cls)
        puts_(b, "<th class=\""), puts_(b, cls), puts_(b, "\">");
    else
        puts_(b, "<th>");
    esc(b, value);
    puts_(b, "</th>");
}

static const char html_css[] =
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:#f2f3f5;color:#1d2129;font:14px/1.5 -apple-system,"
    "\"Segoe UI\",\"Helvetica Neue\",Arial,\"PingFang SC\",\"Hiragino Sans GB\","
    "\"Microsoft YaHei\",\"Noto Sans CJK SC\",sans-serif}\n"
    ".doc{max-width:210mm;margin:24px auto;padding:18mm 16mm;background:#fff;"
    "box-shadow:0 1px 4px rgba(0,0,0,.15)}\n"
    "header{display:flex;justify-content:space-between;gap:24px;border-bottom:2px solid "
    "#1d2129;padding-bottom:12px}\n"
    "h1{font-size:20px;margin:0 0 4px}h2{font-size:26px;margin:0 0 8px;text-align:right;"
    "letter-spacing:.05em}h3{font-size:13px;text-transform:uppercase;color:#4e5969;"
    "margin:20px 0 6px}\n"
    ".ml{white-space:pre-line}.muted{color:#4e5969}\n"
    "table{border-collapse:collapse;width:100%}\n"
    "table.meta th{text-align:left;font-weight:normal;color:#4e5969;padding:1px 12px 1px 0}\n"
    "table.meta td{text-align:right;font-weight:600}\n"
    "table.grid th{text-align:left;border-bottom:1px solid #1d2129;padding:6px 4px;"
    "font-size:12px}\n"
    "table.grid td{border-bottom:1px solid #e5e6eb;padding:6px 4px;vertical-align:top}\n"
    ".num{text-align:right !important;white-space:nowrap;font-variant-numeric:tabular-nums}\n"
    ".sums{display:flex;justify-content:space-between;gap:24px;margin-top:12px}\n"
    ".sums>div{flex:1}\n"
    "table.totals td{padding:3px 4px}table.totals tr.grand td{border-top:2px solid #1d2129;"
    "font-size:16px;font-weight:700}\n"
    ".parties{display:flex;gap:24px}.parties>div{flex:1}\n"
    "footer{margin-top:24px;border-top:1px solid #e5e6eb;padding-top:8px;font-size:12px;"
    "color:#86909c}\n"
    "@page{size:A4;margin:12mm}\n"
    "@media print{body{background:#fff}.doc{margin:0;padding:0;box-shadow:none;"
    "max-width:none}tr{page-break-inside:avoid}thead{display:table-header-group}"
    "a{color:inherit;text-decoration:none}}\n";

int inv_document_render_html(const inv_document_t *d, inv_buf_t *out, char *err,
                             size_t errlen)
{
    int rc = inv_document_check(d, err, errlen);
    if (rc < 0)
        return rc;
    bool cn = d->kind == INV_DOC_CREDIT_NOTE;
    const char *title = L(d, cn ? L_CREDIT_NOTE : L_INVOICE);
    char a[96], m[64], r[32];

    printf_(out, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n",
            inv_lang_name(d->lang));
    puts_(out, "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n"
               "<title>");
    esc(out, title);
    puts_(out, " ");
    html_number(out, d->number);
    /* puts_, not printf_: the style sheet is longer than printf_'s buffer
     * and was formatted twice per document. */
    puts_(out, "</title>\n<style>\n");
    puts_(out, html_css);
    puts_(out, "</style>\n</head>\n<body>\n<main class=\"doc\">\n");

    /* Seller and document facts. */
    puts_(out, "<header>\n<div>\n<div class=\"muted\">");
    esc(out, L(d, L_SELLER));
    puts_(out, "</div>\n<h1>");
    esc(out, d->seller.name);
    puts_(out, "</h1>\n");
    if (d->seller.address) {
        puts_(out, "<div class=\"ml muted\">");
        esc(out, d->seller.address);
        puts_(out, "</div>\n");
    }
    if (d->seller.tax_id) {
        puts_(out, "<div class=\"muted\">");
        esc(out, L(d, L_TAX_ID));
        puts_(out, ": ");
        esc(out, d->seller.tax_id);
        puts_(out, "</div>\n");
    }
    puts_(out, "</div>\n<div>\n<h2>");
    esc(out, title);
    puts_(out, "</h2>\n<table class=\"meta\">\n");
    html_meta_row_(out, L(d, cn ? L_CN_NUMBER : L_INV_NUMBER), d->number ? d->number : "-",
                   d->number != NULL);
    date_str(d, d->issue_date, a, sizeof a);
    html_meta_row(out, L(d, L_ISSUE_DATE), a);
    if (date_set(d->due_date)) {
        date_str(d, d->due_date, a, sizeof a);
        html_meta_row(out, L(d, L_DUE_DATE), a);
    }
    if (date_set(d->period_start) && date_set(d->period_end)) {
        period_str(d, a, sizeof a);
        html_meta_row(out, L(d, L_PERIOD), a);
    }
    html_meta_row(out, L(d, L_STATUS), status_labels[d->lang][d->status]);
    html_meta_row(out, L(d, L_CURRENCY), d->currency);
    if (cn) {
        html_meta_row(out, L(d, L_CREDIT_FOR), d->credit_for);
        html_meta_row(out, L(d, L_REASON), d->credit_reason);
    }
    html_meta_row(out, L(d, L_BILL_RUN), d->bill_run);
    puts_(out, "</table>\n</div>\n</header>\n");

    /* Customer. */
    puts_(out, "<section class=\"parties\">\n<div>\n<h3>");
    esc(out, L(d, L_CUSTOMER));
    puts_(out, "</h3>\n<div><strong>");
    esc(out, d->customer.name);
    puts_(out, "</strong></div>\n");
    if (d->customer.address) {
        puts_(out, "<div class=\"ml\">");
        esc(out, d->customer.address);
        puts_(out, "</div>\n");
    }
    if (d->customer.email) {
        puts_(out, "<div>");
        esc(out, d->customer.email);
        puts_(out, "</div>\n");
    }
    puts_(out, "<div class=\"muted\">");
    esc(out, L(d, L_ACCOUNT));
    puts_(out, ": ");
    esc(out, d->customer.account_id);
    puts_(out, "</div>\n");
    if (d->customer.tax_id) {
        puts_(out, "<div class=\"muted\">");
        esc(out, L(d, L_TAX_ID));
        puts_(out, ": ");
        esc(out, d->customer.tax_id);
        puts_(out, "</div>\n");
    }
    puts_(out, "</div>\n</section>\n");

    /* Lines. */
    puts_(out, "<section>\n<h3>");
    esc(out, L(d, L_ITEMS));
    puts_(out, "</h3>\n<table class=\"grid lines\">\n<thead><tr>");
    html_th(out, "num", L(d, L_NO));
    html_th(out, NULL, L(d, L_DESCRIPTION));
    html_th(out, NULL, L(d, L_KIND));
    html_th(out, "num", L(d, L_QTY));
    html_th(out, NULL, L(d, L_UNIT));
    html_th(out, "num", L(d, L_UNIT_PRICE));
    html_th(out, "num", L(d, L_NET));
    html_th(out, "num", L(d, L_TAX_RATE));
    html_th(out, "num", L(d, L_TAX));
    puts_(out, "</tr></thead>\n<tbody>\n");
    for (size_t i = 0; i < d->nlines; i++) {
        const inv_line_t *l = &d->lines[i];
        snprintf(a, sizeof a, "%zu", i + 1);
        puts_(out, "<tr>");
        html_td(out, "num", a);
        html_td(out, NULL, l->description);
        html_td(out, NULL, kind_labels[d->lang][l->kind]);
        html_td(out, "num", l->quantity);
        html_td(out, NULL, l->unit);
        html_td(out, "num", l->unit_price);
        amount_cell(d, l->net_minor, m, sizeof m);
        html_td(out, "num", m);
        inv_tax_rate_format(l->tax_rate_ppm, r, sizeof r);
        html_td(out, "num", r);
        amount_cell(d, l->tax_minor, m, sizeof m);
        html_td(out, "num", m);
        puts_(out, "</tr>\n");
    }
    puts_(out, "</tbody>\n</table>\n</section>\n");

    /* Tax summary and totals side by side. */
    puts_(out, "<section class=\"sums\">\n<div>\n<h3>");
    esc(out, L(d, L_TAX_SUMMARY));
    puts_(out, "</h3>\n<table class=\"grid tax\">\n<thead><tr>");
    html_th(out, NULL, L(d, L_CATEGORY));
    html_th(out, "num", L(d, L_TAX_RATE));
    html_th(out, "num", L(d, L_BASE));
    html_th(out, "num", L(d, L_TAX));
    puts_(out, "</tr></thead>\n<tbody>\n");
    for (size_t k = 0; k < d->ntax_rows; k++) {
        const inv_doc_tax_row_t *t = &d->tax_rows[k];
        puts_(out, "<tr>");
        html_td(out, NULL, category_label(d, t->category));
        inv_tax_rate_format(t->rate_ppm, r, sizeof r);
        html_td(out, "num", r);
        amount_cell(d, t->base_minor, m, sizeof m);
        html_td(out, "num", m);
        amount_cell(d, t->tax_minor, m, sizeof m);
        html_td(out, "num", m);
        puts_(out, "</tr>\n");
    }
    puts_(out, "</tbody>\n</table>\n</div>\n<div>\n<h3>&nbsp;</h3>\n"
               "<table class=\"totals\">\n<tr><td>");
    esc(out, L(d, L_SUBTOTAL));
    money(d, d->subtotal_minor, m, sizeof m);
    puts_(out, "</td>");
    html_td(out, "num", m);
    puts_(out, "</tr>\n<tr><td>");
    esc(out, L(d, L_TAX));
    money(d, d->tax_minor, m, sizeof m);
    puts_(out, "</td>");
    html_td(out, "num", m);
    puts_(out, "</tr>\n<tr class=\"grand\"><td>");
    esc(out, L(d, cn ? L_TOTAL_CREDIT : L_TOTAL));
    money(d, d->total_minor, m, sizeof m);
    puts_(out, "</td>");
    html_td(out, "num", m);
    puts_(out, "</tr>\n</table>\n</div>\n</section>\n");

    /* How to pay. */
    if (d->seller.payment_instructions || d->seller.bank_account || date_set(d->due_date)) {
        puts_(out, "<section class=\"pay\">\n<h3>");
        esc(out, L(d, L_PAYMENT));
        puts_(out, "</h3>\n<table class=\"meta\" style=\"width:auto\">\n");
        if (date_set(d->due_date) && !cn) {
            date_str(d, d->due_date, a, sizeof a);
            html_meta_row(out, L(d, L_DUE_DATE), a);
        }
        html_meta_row(out, L(d, L_BANK), d->seller.bank_name);
        html_meta_row(out, L(d, L_BANK_ACCOUNT), d->seller.bank_account);
        puts_(out, "</table>\n");
        if (d->seller.payment_instructions) {
            puts_(out, "<div class=\"ml\">");
            esc(out, d->seller.payment_instructions);
            puts_(out, "</div>\n");
        }
        puts_(out, "</section>\n");
    }

    if (d->ninstalments) {
        puts_(out, "<section>\n<h3>");
        esc(out, L(d, L_SCHEDULE));
        puts_(out, "</h3>\n<table class=\"grid schedule\">\n<thead><tr>");
        html_th(out, NULL, L(d, L_INSTALMENT));
        html_th(out, NULL, L(d, L_DUE_DATE));
        html_th(out, "num", L(d, L_AMOUNT_DUE));
        puts_(out, "</tr></thead>\n<tbody>\n");
        for (size_t i = 0; i < d->ninstalments; i++) {
            const inv_instalment_t *in = &d->instalments[i];
            puts_(out, "<tr>");
            html_td(out, NULL, in->label);
            if (in->due_days == INV_DATE_UNSET)
                snprintf(a, sizeof a, "%s", L(d, L_ON_COMPLETION));
            else
                date_str(d, in->due_days, a, sizeof a);
            html_td(out, NULL, a);
            money(d, in->amount_minor, m, sizeof m);
            html_td(out, "num", m);
            puts_(out, "</tr>\n");
        }
        puts_(out, "</tbody>\n</table>\n</section>\n");
    }

    puts_(out, "<footer>");
    esc(out, d->seller.name);
    puts_(out, " · ");
    html_number(out, d->number);
    puts_(out, "</footer>\n</main>\n</body>\n</html>\n");
    if (out->failed) {
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    return 0;
}

int inv_document_render_html_unnumbered(const inv_document_t *d, inv_buf_t *out,
                                        size_t *marks, size_t *nmarks, char *err,
                                        size_t errlen)
{
    inv_document_t t = *d;
    t.number = "#"; /* passes the check; html_number marks its places instead */
    out->marks = marks;
    out->maxmarks = *nmarks;
    out->nmarks = 0;
    int rc = inv_document_render_html(&t, out, err, errlen);
    *nmarks = out->nmarks;
    out->marks = NULL;
    return rc;
}
