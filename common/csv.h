/* CSV in and out (RFC 4180), for imports such as usage files, payment
 * statements and bank transfers, and for exports. The reader works over a
 * memory buffer or a FILE*, one record at a time: quoted fields may hold
 * commas, doubled quotes and line breaks; records end in CRLF, LF or a lone
 * CR; a UTF-8 byte-order mark is skipped; blank lines are skipped. Every
 * record knows the physical line it starts on, so an import can say "line 12:
 * unterminated quoted field". Limits bound memory on hostile input, and any
 * input is an ordinary error at worst, never a crash.
 *
 * A bad record (a field or line over the limits, too many columns, a stray
 * character after a closing quote, a NUL byte) is reported by bw_csv_next
 * and skipped: the next call goes on with the following record, so an import
 * can list every bad line at once. An unterminated quote runs to the end of
 * the input, so it is the last error. */
#ifndef BW_CSV_H
#define BW_CSV_H

#include <stddef.h>
#include <stdio.h>

#define BW_CSV_DEFAULT_MAX_FIELD (64 * 1024)
#define BW_CSV_DEFAULT_MAX_COLS 256
#define BW_CSV_DEFAULT_MAX_LINE (1024 * 1024)

/* Zero members take the defaults; pass NULL for all defaults. */
typedef struct {
    size_t max_field; /* bytes in one field, after unquoting */
    size_t max_cols;  /* fields in one record */
    size_t max_line;  /* bytes in one physical line, line break excluded */
    char delim;       /* ',' unless set; never '"', CR or LF */
} bw_csv_opts_t;

typedef struct bw_csv bw_csv_t;

/* A reader over len bytes at data, which it borrows: data must outlive the
 * reader. NULL when out of memory or when opts name an invalid delimiter. */
bw_csv_t *bw_csv_new_mem(const char *data, size_t len, const bw_csv_opts_t *opts);
/* A reader over f, which it borrows and never closes. NULL as above. */
bw_csv_t *bw_csv_new_file(FILE *f, const bw_csv_opts_t *opts);
void bw_csv_destroy(bw_csv_t **pr);

/* Reads the next record: 1 when there is one, 0 at the end of input, or a
 * negative BW_E code with bw_csv_error set (BW_EINVAL malformed, BW_ETOOBIG
 * over a limit, BW_EIO read error, BW_ENOMEM). After BW_EINVAL or
 * BW_ETOOBIG the caller may call again to go on with the next record; after
 * BW_EIO or BW_ENOMEM every call fails the same way. */
int bw_csv_next(bw_csv_t *r);
/* Reads the next record as the header row: column names, trimmed of spaces
 * and tabs, matched case-insensitively by bw_csv_col. 0, or BW_EINVAL for
 * empty input or a duplicate name (named in bw_csv_error), or as bw_csv_next. */
int bw_csv_read_header(bw_csv_t *r);

/* Fields of the current record; the pointers stay valid until the next
 * bw_csv_next. bw_csv_field returns NULL past the last field. */
size_t bw_csv_nfields(const bw_csv_t *r);
const char *bw_csv_field(const bw_csv_t *r, size_t i);
size_t bw_csv_field_len(const bw_csv_t *r, size_t i);
/* Physical line (1-based) where the current record starts; after an error,
 * where the bad record starts. */
long bw_csv_line(const bw_csv_t *r);

/* Index of the header column named name, or BW_ENOTFOUND. */
int bw_csv_col(const bw_csv_t *r, const char *name);
/* The current record's field in column name; NULL when there is no such
 * column or this record is shorter than the header. */
const char *bw_csv_get(const bw_csv_t *r, const char *name);
/* 0 when the header has every one of names, else BW_EINVAL with
 * "missing column \"amount\"" in bw_csv_error. */
int bw_csv_require(bw_csv_t *r, const char *const *names, size_t n);
/* Number of header columns (0 before bw_csv_read_header). */
size_t bw_csv_ncols(const bw_csv_t *r);

/* The last error, "line 12: unterminated quoted field"; "" when none. */
const char *bw_csv_error(const bw_csv_t *r);

/* Writes one record of n fields to out, separated by commas and ended by
 * CRLF. A field is quoted when it holds a comma, quote, CR or LF or starts
 * or ends with a space or tab; quotes inside are doubled; NULL writes an
 * empty field. 0 or BW_EIO. */
int bw_csv_write_row(FILE *out, const char *const *fields, size_t n);
/* Writes one field as above, without separator or line end. 0 or BW_EIO. */
int bw_csv_write_field(FILE *out, const char *s);

#endif
