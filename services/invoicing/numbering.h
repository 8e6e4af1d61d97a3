/* Document numbers (DESIGN.md §1 [invoice], §4): every invoice, credit note
 * and receipt carries a number from a per-series sequence that is unique and
 * gap-free. This module only formats, parses and validates numbers; the
 * counter itself is allocated by the service in the database, in the same
 * transaction that writes the document.
 *
 * Series rules:
 *   - A number reads PREFIX-YYYYMM-NNNNNN: INV for invoices, CN for credit
 *     notes, RCP for receipts; YYYYMM is the month of the issue date in the
 *     seller's time zone; NNNNNN is the counter.
 *   - The series key is PREFIX-YYYYMM ("INV-202611"). Each key has its own
 *     counter, starting at 1 and increasing by exactly 1, never reused: a
 *     number once allocated is issued (a failed issue rolls the counter back
 *     with its transaction; it never leaves a hole).
 *   - The counter is zero-padded to six digits. A series that passes 999999
 *     keeps going with seven, eight or nine digits (INV-202611-1000000), so
 *     a large month never runs out; a longer counter must not start with 0,
 *     so every number has exactly one spelling and text equality is number
 *     equality.
 *   - Numbers sort by series and counter when compared as (prefix, period,
 *     counter), not as text once counters pass six digits. */
#ifndef INV_NUMBERING_H
#define INV_NUMBERING_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    INV_SERIES_INVOICE = 0,
    INV_SERIES_CREDIT_NOTE,
    INV_SERIES_RECEIPT,
} inv_series_t;

#define INV_DOCNO_COUNTER_MAX 999999999
/* Buffer sizes, NUL included: "RCP-202611-999999999", "RCP-202611". */
#define INV_DOCNO_LEN 24
#define INV_SERIES_KEY_LEN 16

typedef struct {
    inv_series_t series;
    int year;      /* 1970..9999 */
    int month;     /* 1..12 */
    int64_t counter; /* 1..INV_DOCNO_COUNTER_MAX */
} inv_docno_t;

/* "INV", "CN" or "RCP"; NULL for a value outside the enum. */
const char *inv_series_prefix(inv_series_t series);
/* The series whose prefix is s (exact, upper case); BW_EINVAL otherwise. */
int inv_series_parse(const char *s, inv_series_t *series);
/* The series key "INV-202611" of a series and period; BW_EINVAL for a bad
 * series or period, BW_ETOOBIG when buf is too small. */
int inv_series_key(inv_series_t series, int year, int month, char *buf, size_t len);
/* The series key for a document issued on issue_days (days since
 * 1970-01-01, already in the seller's time zone). */
int inv_series_key_for_date(inv_series_t series, int64_t issue_days, char *buf, size_t len);
/* 0 when every field of d is in range, else BW_EINVAL with a reason in err. */
int inv_docno_validate(const inv_docno_t *d, char *err, size_t errlen);
/* Writes "INV-202611-000042"; BW_EINVAL for an invalid d, BW_ETOOBIG when
 * buf is too small (INV_DOCNO_LEN always fits). */
int inv_docno_format(const inv_docno_t *d, char *buf, size_t len);
/* Parses a number in canonical form only (no spaces, upper case, six-digit
 * minimum, no leading zero beyond six digits); BW_EINVAL with a reason in
 * err for anything else. */
int inv_docno_parse(const char *s, inv_docno_t *d, char *err, size_t errlen);

#endif
