/* An invoice or credit note in memory, and its renderings (DESIGN.md §1
 * [invoice] [terms] [audit]): plain text for terminals, JSON for billctl
 * --json and other services, and a self-contained printable HTML page in the
 * account's language (English or Simplified Chinese) for the customer.
 *
 * inv_document_t is a plain struct the caller fills. It borrows every string
 * and the lines and instalments arrays (the usual owner is the handler's
 * arena or the PGresult it came from): keep them alive while rendering.
 * Amounts are int64 minor units of the document's currency; a credit note
 * carries positive amounts, the credit given. Renderers first check that the
 * document adds up (inv_document_check) and refuse one that does not: an
 * invoice must be recomputable from its lines. */
#ifndef INV_DOCUMENT_H
#define INV_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>

#include "invoicing/payplan.h"
#include "invoicing/tax.h"

typedef enum { INV_DOC_INVOICE = 0, INV_DOC_CREDIT_NOTE } inv_doc_kind_t;

typedef enum {
    INV_LINE_CHARGE = 0,
    INV_LINE_DISCOUNT,
    INV_LINE_PRORATION,
    INV_LINE_TRUE_UP,
    INV_LINE_SETUP,
} inv_line_kind_t;

typedef enum {
    INV_STATUS_DRAFT = 0,
    INV_STATUS_ISSUED,
    INV_STATUS_PARTIALLY_PAID,
    INV_STATUS_PAID,
    INV_STATUS_OVERDUE,
    INV_STATUS_VOID,
} inv_doc_status_t;

typedef enum { INV_LANG_EN = 0, INV_LANG_ZH_CN } inv_lang_t;

typedef struct {
    const char *name;
    const char *address;      /* may hold line breaks */
    const char *tax_id;
    const char *bank_name;
    const char *bank_account;
    const char *payment_instructions; /* may hold line breaks */
} inv_seller_t;

typedef struct {
    const char *account_id;
    const char *name;
    const char *address;
    const char *email;
    const char *tax_id;
} inv_customer_t;

typedef struct {
    const char *description;
    const char *fee_item;     /* catalog code */
    inv_line_kind_t kind;
    const char *quantity;     /* decimal strings, rendered as given */
    const char *unit;
    const char *unit_price;
    int64_t amount_minor;     /* as priced (gross when tax-inclusive); input
                                 of inv_document_compute */
    int64_t net_minor;
    const char *tax_category;
    int32_t tax_rate_ppm;
    int64_t tax_minor;
} inv_line_t;

typedef struct {
    const char *category;
    int32_t rate_ppm;
    int64_t base_minor;
    int64_t tax_minor;
} inv_doc_tax_row_t;

typedef struct {
    inv_doc_kind_t kind;
    inv_doc_status_t status;
    inv_lang_t lang;
    const char *number;       /* "INV-202611-000042" */
    const char *credit_for;   /* credit note: the invoice number it corrects */
    const char *credit_reason;
    const char *bill_run;     /* bill run reference, may be NULL */
    const char *currency;     /* ISO 4217 */
    const char *tax_profile;  /* profile id, for category labels; may be NULL */
    int64_t period_start;     /* days, half-open [start, end); INV_DATE_UNSET */
    int64_t period_end;
    int64_t issue_date;
    int64_t due_date;
    inv_seller_t seller;
    inv_customer_t customer;
    inv_line_t *lines;        /* borrowed */
    size_t nlines;
    inv_doc_tax_row_t tax_rows[INV_TAX_MAX_CATEGORIES];
    size_t ntax_rows;
    int64_t subtotal_minor;
    int64_t tax_minor;
    int64_t total_minor;
    const inv_instalment_t *instalments; /* borrowed; may be NULL */
    size_t ninstalments;
} inv_document_t;

/* A growable byte buffer the renderers append to; always NUL-terminated. */
typedef struct inv_buf inv_buf_t;

inv_buf_t *inv_buf_new(void);
void inv_buf_destroy(inv_buf_t **pb);
const char *inv_buf_data(const inv_buf_t *b);
size_t inv_buf_len(const inv_buf_t *b);
void inv_buf_reset(inv_buf_t *b);

/* Taxes d's lines from their amount_minor and tax_category under profile p
 * (mode as inv_tax_compute), filling each line's net, rate and tax, the tax
 * rows, subtotal, tax and total, and d->tax_profile. 0 or BW_EINVAL with the
 * reason in err (unknown category, overflow); BW_ENOMEM. */
int inv_document_compute(inv_document_t *d, const inv_tax_profile_t *p, inv_tax_mode_t mode,
                         char *err, size_t errlen);
/* Audits d: known currency, language and kinds; subtotal, tax and total are
 * the sums of the lines; the tax rows match the lines grouped by category;
 * instalments (if any) sum to the total; a credit note names its invoice.
 * 0, or BW_EINVAL with the first discrepancy in err. */
int inv_document_check(const inv_document_t *d, char *err, size_t errlen);

/* Append a rendering of d to out. 0, BW_EINVAL (d fails the check, reason in
 * err) or BW_ENOMEM. */
int inv_document_render_text(const inv_document_t *d, inv_buf_t *out, char *err,
                             size_t errlen);
int inv_document_render_json(const inv_document_t *d, inv_buf_t *out, char *err,
                             size_t errlen);
int inv_document_render_html(const inv_document_t *d, inv_buf_t *out, char *err,
                             size_t errlen);
/* The HTML of an issued document before its number is taken (d->number is
 * ignored): each place the number goes is left empty and its offset in out
 * stored in marks, which holds *nmarks; *nmarks is set to the count used
 * (INV_HTML_NUMBER_MARKS suffice). Renders like inv_document_render_html,
 * so a worker can render before it locks the number series. */
#define INV_HTML_NUMBER_MARKS 4
int inv_document_render_html_unnumbered(const inv_document_t *d, inv_buf_t *out,
                                        size_t *marks, size_t *nmarks, char *err,
                                        size_t errlen);

/* "CNY 12,345.67", "JPY 1,000", "CNY -0.05": ISO code, thousands
 * separators, exactly the currency's decimals. 0, BW_EINVAL (unknown
 * currency) or BW_ETOOBIG (buf too short; 48 bytes always fit). */
int inv_format_money(int64_t minor, const char *currency, char *buf, size_t len);

/* Names used in JSON and logs: "charge", "credit_note", "partially_paid",
 * "zh-CN" ...; "?" for a value outside the enum. */
const char *inv_line_kind_name(inv_line_kind_t k);
/* The kind a name stands for; a charge for NULL or a name it does not know. */
inv_line_kind_t inv_line_kind_parse(const char *name);
const char *inv_doc_status_name(inv_doc_status_t s);
const char *inv_lang_name(inv_lang_t l);
/* "en" or "zh-CN" (also "zh", "zh_CN", case-insensitive) to a language. */
int inv_lang_parse(const char *s, inv_lang_t *out);

#endif
