/* RFC 4180 reader and writer. The reader is a byte-at-a-time state machine
 * over a tiny source abstraction (memory or a buffered FILE*) with one byte
 * of look-ahead, which is all CRLF and doubled quotes need. Line accounting
 * lives in the byte reader so that line numbers stay right whatever the
 * parser is doing, including inside quoted fields and while it skips a bad
 * record. A record's fields are stored back to back, each NUL-terminated, in
 * one growable buffer reused from record to record. */
#include "csv.h"
#include "errors.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SRC_EOF (-1)
#define SRC_ERR (-2)
#define FILE_CHUNK 65536

struct bw_csv {
    /* source */
    const unsigned char *mem;
    size_t memlen, mempos;
    FILE *f;
    unsigned char *fbuf;
    size_t flen, fpos;
    int peeked; /* a byte read ahead, or -3 for none */

    bw_csv_opts_t o;

    /* position */
    long line;       /* physical line of the next byte */
    size_t linelen;  /* bytes read on that line so far */
    long rec_line;   /* where the current record starts */
    bool started;    /* BOM handled */
    bool at_end;     /* no more records */
    int fatal;       /* sticky BW_EIO / BW_ENOMEM */

    /* current record */
    char *buf;
    size_t len, cap;
    size_t *off, *flen_of;
    size_t nfields, fcap;
    size_t cur_len;  /* length of the field being read */
    int rec_err;     /* first problem in this record, 0 when none */

    /* header */
    char **hdr;
    size_t nhdr;

    char err[256];
};

static void set_err(bw_csv_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(bw_csv_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
}

/* Records the first problem of a record; later ones are noise. */
#define REC_ERR(r, code, ...)                                                                 \
    do {                                                                                      \
        if (!(r)->rec_err) {                                                                  \
            (r)->rec_err = (code);                                                            \
            set_err((r), __VA_ARGS__);                                                        \
        }                                                                                     \
    } while (0)

static bw_csv_t *reader_new(const bw_csv_opts_t *opts)
{
    bw_csv_opts_t o = opts ? *opts : (bw_csv_opts_t){0};
    if (!o.max_field)
        o.max_field = BW_CSV_DEFAULT_MAX_FIELD;
    if (!o.max_cols)
        o.max_cols = BW_CSV_DEFAULT_MAX_COLS;
    if (!o.max_line)
        o.max_line = BW_CSV_DEFAULT_MAX_LINE;
    if (!o.delim)
        o.delim = ',';
    if (o.delim == '"' || o.delim == '\r' || o.delim == '\n')
        return NULL;
    bw_csv_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->o = o;
    r->peeked = -3;
    r->line = 1;
    return r;
}

bw_csv_t *bw_csv_new_mem(const char *data, size_t len, const bw_csv_opts_t *opts)
{
    bw_csv_t *r = reader_new(opts);
    if (!r)
        return NULL;
    r->mem = (const unsigned char *)(data ? data : "");
    r->memlen = data ? len : 0;
    return r;
}

bw_csv_t *bw_csv_new_file(FILE *f, const bw_csv_opts_t *opts)
{
    bw_csv_t *r = reader_new(opts);
    if (!r)
        return NULL;
    r->f = f;
    if (!(r->fbuf = malloc(FILE_CHUNK))) {
        free(r);
        return NULL;
    }
    return r;
}

static void free_header(bw_csv_t *r)
{
    for (size_t i = 0; i < r->nhdr; i++)
        free(r->hdr[i]);
    free(r->hdr);
    r->hdr = NULL;
    r->nhdr = 0;
}

void bw_csv_destroy(bw_csv_t **pr)
{
    if (!pr || !*pr)
        return;
    bw_csv_t *r = *pr;
    free_header(r);
    free(r->fbuf);
    free(r->buf);
    free(r->off);
    free(r->flen_of);
    free(r);
    *pr = NULL;
}

/* --- bytes ------------------------------------------------------------------ */

static int raw_get(bw_csv_t *r)
{
    if (r->peeked != -3) {
        int c = r->peeked;
        r->peeked = -3;
        return c;
    }
    if (!r->f)
        return r->mempos < r->memlen ? r->mem[r->mempos++] : SRC_EOF;
    if (r->fpos == r->flen) {
        r->flen = fread(r->fbuf, 1, FILE_CHUNK, r->f);
        r->fpos = 0;
        if (r->flen == 0)
            return ferror(r->f) ? SRC_ERR : SRC_EOF;
    }
    return r->fbuf[r->fpos++];
}

static int peek(bw_csv_t *r)
{
    if (r->peeked == -3)
        r->peeked = raw_get(r);
    return r->peeked;
}

/* The next byte, keeping line numbers: LF and a CR not followed by LF end a
 * physical line. A line over the limit marks the record bad, once. */
static int get(bw_csv_t *r)
{
    int c = raw_get(r);
    if (c == '\n' || (c == '\r' && peek(r) != '\n')) {
        r->line++;
        r->linelen = 0;
    } else if (c >= 0 && c != '\r') {
        if (++r->linelen > r->o.max_line)
            REC_ERR(r, BW_ETOOBIG, "line %ld: line longer than %zu bytes", r->line,
                    r->o.max_line);
    }
    return c;
}

/* --- record storage --------------------------------------------------------- */

static int put(bw_csv_t *r, int c)
{
    if (r->rec_err)
        return 0; /* skipping a bad record: keep parsing, store nothing */
    if (r->cur_len >= r->o.max_field) {
        REC_ERR(r, BW_ETOOBIG, "line %ld: field %zu longer than %zu bytes", r->rec_line,
                r->nfields + 1, r->o.max_field);
        return 0;
    }
    if (c == 0) {
        REC_ERR(r, BW_EINVAL, "line %ld: NUL byte in field %zu", r->line, r->nfields + 1);
        return 0;
    }
    if (r->len + 2 > r->cap) { /* room for c and the field's NUL */
        size_t ncap = r->cap ? r->cap * 2 : 256;
        char *nb = realloc(r->buf, ncap);
        if (!nb)
            return BW_ENOMEM;
        r->buf = nb;
        r->cap = ncap;
    }
    r->buf[r->len++] = (char)c;
    r->cur_len++;
    return 0;
}

static int field_begin(bw_csv_t *r)
{
    r->cur_len = 0;
    if (r->rec_err)
        return 0;
    if (r->nfields >= r->o.max_cols) {
        REC_ERR(r, BW_ETOOBIG, "line %ld: more than %zu columns", r->rec_line, r->o.max_cols);
        return 0;
    }
    if (r->nfields == r->fcap) {
        size_t ncap = r->fcap ? r->fcap * 2 : 16;
        size_t *no = realloc(r->off, ncap * sizeof *no);
        if (!no)
            return BW_ENOMEM;
        r->off = no;
        size_t *nl = realloc(r->flen_of, ncap * sizeof *nl);
        if (!nl)
            return BW_ENOMEM;
        r->flen_of = nl;
        r->fcap = ncap;
    }
    if (r->len + 1 > r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 256;
        char *nb = realloc(r->buf, ncap);
        if (!nb)
            return BW_ENOMEM;
        r->buf = nb;
        r->cap = ncap;
    }
    r->off[r->nfields] = r->len;
    return 0;
}

static void field_end(bw_csv_t *r)
{
    if (r->rec_err)
        return;
    r->buf[r->len++] = '\0'; /* put() always leaves room for it */
    r->flen_of[r->nfields++] = r->cur_len;
}

/* --- parsing ---------------------------------------------------------------- */

static bool is_break(int c)
{
    return c == '\n' || c == '\r';
}

/* Consumes a line break whose first byte c was already read. */
static void eat_break(bw_csv_t *r, int c)
{
    if (c == '\r' && peek(r) == '\n')
        get(r);
}

/* One record; the first byte has not been read yet and is not a break.
 * Returns 1, or BW_ENOMEM / BW_EIO (fatal), or a record error code. */
static int parse_record(bw_csv_t *r)
{
    int rc, c;
    for (;;) { /* one field per turn */
        if ((rc = field_begin(r)) < 0)
            return rc;
        if (peek(r) == '"') {
            long qline = r->line;
            get(r);
            for (;;) {
                c = get(r);
                if (c == SRC_ERR)
                    return BW_EIO;
                if (c == SRC_EOF) {
                    r->at_end = true;
                    r->rec_err = 0; /* this one says more than any earlier */
                    REC_ERR(r, BW_EINVAL, "line %ld: unterminated quoted field", qline);
                    return r->rec_err;
                }
                if (c == '"') {
                    if (peek(r) != '"')
                        break;
                    get(r);
                }
                if ((rc = put(r, c)) < 0)
                    return rc;
            }
            c = peek(r);
            if (c != r->o.delim && c != SRC_EOF && c != SRC_ERR && !is_break(c))
                REC_ERR(r, BW_EINVAL, "line %ld: unexpected character after closing quote",
                        r->line);
        }
        /* Unquoted (or the rest after a bad closing quote): up to a
         * delimiter, a line break or the end. A quote here is kept as data. */
        for (;;) {
            c = get(r);
            if (c == SRC_ERR)
                return BW_EIO;
            if (c == r->o.delim || c == SRC_EOF || is_break(c))
                break;
            if ((rc = put(r, c)) < 0)
                return rc;
        }
        field_end(r);
        if (c == r->o.delim)
            continue;
        if (c == SRC_EOF)
            r->at_end = true;
        else
            eat_break(r, c);
        return r->rec_err ? r->rec_err : 1;
    }
}

int bw_csv_next(bw_csv_t *r)
{
    int c, rc;
    if (r->fatal)
        return r->fatal;
    r->nfields = 0;
    r->len = 0;
    r->rec_err = 0;
    r->err[0] = '\0';
    if (r->at_end)
        return 0;
    if (!r->started) {
        r->started = true;
        if (peek(r) == 0xEF) {
            /* Only a complete BOM is skipped; anything else is data. Three
             * bytes of look-ahead would need more than `peeked`, so compare
             * in the source directly where possible. */
            if (!r->f) {
                if (r->memlen >= 3 && memcmp(r->mem, "\xEF\xBB\xBF", 3) == 0) {
                    r->peeked = -3;
                    r->mempos = 3;
                }
            } else if (r->flen - r->fpos >= 2 && r->fbuf[r->fpos] == 0xBB &&
                       r->fbuf[r->fpos + 1] == 0xBF) {
                r->peeked = -3;
                r->fpos += 2;
            }
        }
    }
    /* Skip blank lines. */
    for (;;) {
        c = peek(r);
        if (c == SRC_ERR) {
            set_err(r, "line %ld: read error", r->line);
            return r->fatal = BW_EIO;
        }
        if (c == SRC_EOF) {
            r->at_end = true;
            return 0;
        }
        if (!is_break(c))
            break;
        get(r);
        eat_break(r, c);
    }
    r->rec_line = r->line;
    rc = parse_record(r);
    if (rc == BW_EIO || rc == BW_ENOMEM) {
        set_err(r, "line %ld: %s", r->line, rc == BW_EIO ? "read error" : "out of memory");
        r->fatal = rc;
    }
    if (rc < 0)
        r->nfields = 0; /* a bad record has no fields to read */
    return rc;
}

/* --- access ----------------------------------------------------------------- */

size_t bw_csv_nfields(const bw_csv_t *r)
{
    return r->nfields;
}

const char *bw_csv_field(const bw_csv_t *r, size_t i)
{
    return i < r->nfields ? r->buf + r->off[i] : NULL;
}

size_t bw_csv_field_len(const bw_csv_t *r, size_t i)
{
    return i < r->nfields ? r->flen_of[i] : 0;
}

long bw_csv_line(const bw_csv_t *r)
{
    return r->rec_line;
}

const char *bw_csv_error(const bw_csv_t *r)
{
    return r->err;
}

size_t bw_csv_ncols(const bw_csv_t *r)
{
    return r->nhdr;
}

static bool name_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y)
            return false;
    }
    return *a == *b;
}

int bw_csv_read_header(bw_csv_t *r)
{
    int rc = bw_csv_next(r);
    if (rc == 0) {
        set_err(r, "empty input: no header row");
        return BW_EINVAL;
    }
    if (rc < 0)
        return rc;
    free_header(r);
    if (!(r->hdr = calloc(r->nfields, sizeof *r->hdr)))
        goto nomem;
    for (size_t i = 0; i < r->nfields; i++) {
        const char *s = bw_csv_field(r, i);
        size_t n = bw_csv_field_len(r, i);
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (!(r->hdr[i] = malloc(n + 1)))
            goto nomem;
        memcpy(r->hdr[i], s, n);
        r->hdr[i][n] = '\0';
        r->nhdr = i + 1;
        for (size_t j = 0; n && j < i; j++) {
            if (name_eq(r->hdr[j], r->hdr[i])) {
                set_err(r, "line %ld: duplicate column \"%.64s\"", r->rec_line, r->hdr[i]);
                free_header(r);
                return BW_EINVAL;
            }
        }
    }
    return 0;
nomem:
    /* calloc'd slots past nhdr are NULL, so free_header is exact. */
    r->nhdr = r->hdr ? r->nfields : 0;
    free_header(r);
    set_err(r, "out of memory");
    return BW_ENOMEM;
}

int bw_csv_col(const bw_csv_t *r, const char *name)
{
    for (size_t i = 0; name && i < r->nhdr; i++)
        if (name_eq(r->hdr[i], name))
            return i > INT32_MAX ? BW_ENOTFOUND : (int)i;
    return BW_ENOTFOUND;
}

const char *bw_csv_get(const bw_csv_t *r, const char *name)
{
    int i = bw_csv_col(r, name);
    return i < 0 ? NULL : bw_csv_field(r, (size_t)i);
}

int bw_csv_require(bw_csv_t *r, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (bw_csv_col(r, names[i]) < 0) {
            set_err(r, "missing column \"%.64s\"", names[i]);
            return BW_EINVAL;
        }
    }
    return 0;
}

/* --- writing ---------------------------------------------------------------- */

int bw_csv_write_field(FILE *out, const char *s)
{
    if (!s || !*s)
        return 0;
    size_t n = strlen(s);
    bool quote = s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t' ||
                 strpbrk(s, ",\"\r\n") != NULL;
    if (!quote)
        return fwrite(s, 1, n, out) == n ? 0 : BW_EIO;
    if (putc('"', out) == EOF)
        return BW_EIO;
    for (const char *p = s; *p; p++) {
        if (*p == '"' && putc('"', out) == EOF)
            return BW_EIO;
        if (putc(*p, out) == EOF)
            return BW_EIO;
    }
    return putc('"', out) == EOF ? BW_EIO : 0;
}

int bw_csv_write_row(FILE *out, const char *const *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i && putc(',', out) == EOF)
            return BW_EIO;
        if (bw_csv_write_field(out, fields[i]) < 0)
            return BW_EIO;
    }
    return fputs("\r\n", out) == EOF ? BW_EIO : 0;
}
