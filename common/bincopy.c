/* PostgreSQL binary COPY rows (see bincopy.h). */
#include "bincopy.h"

#include "errors.h"
#include "util.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

static void put(bw_bincopy_t *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (bw_grow(&b->data, &b->cap, b->len + n, 65536) < 0) {
        b->failed = true;
        return;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void u16(bw_bincopy_t *b, uint16_t v)
{
    uint16_t be = htobe16(v);
    put(b, &be, 2);
}

static void u32(bw_bincopy_t *b, uint32_t v)
{
    uint32_t be = htobe32(v);
    put(b, &be, 4);
}

void bw_bincopy_begin(bw_bincopy_t *b)
{
    static const uint8_t header[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n',
                                     0,   0,   0,   0,   0,   0,   0,    0,    0};
    b->len = 0;
    b->failed = false;
    put(b, header, sizeof header);
}

void bw_bincopy_free(bw_bincopy_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void bw_bincopy_row(bw_bincopy_t *b, int n) { u16(b, (uint16_t)n); }

void bw_bincopy_null(bw_bincopy_t *b) { u32(b, UINT32_MAX); }

void bw_bincopy_bytes(bw_bincopy_t *b, const void *p, size_t n)
{
    u32(b, (uint32_t)n);
    put(b, p, n);
}

void bw_bincopy_text(bw_bincopy_t *b, const char *s) { bw_bincopy_bytes(b, s, strlen(s)); }

void bw_bincopy_i32(bw_bincopy_t *b, int32_t v)
{
    u32(b, 4);
    u32(b, (uint32_t)v);
}

void bw_bincopy_i64(bw_bincopy_t *b, int64_t v)
{
    uint64_t be = htobe64((uint64_t)v);
    u32(b, 8);
    put(b, &be, 8);
}

/* PostgreSQL counts timestamps and dates from 2000-01-01. */
#define PG_EPOCH_DAYS 10957
#define PG_EPOCH_US ((int64_t)PG_EPOCH_DAYS * INT64_C(86400000000))

void bw_bincopy_ts(bw_bincopy_t *b, int64_t unix_us) { bw_bincopy_i64(b, unix_us - PG_EPOCH_US); }

void bw_bincopy_date(bw_bincopy_t *b, int64_t unix_days)
{
    bw_bincopy_i32(b, (int32_t)(unix_days - PG_EPOCH_DAYS));
}

/* numeric's wire form: ndigits, weight (of the first digit, in base-10000
 * places), sign, display scale, then the base-10000 digits. The 9 decimal
 * places become three digits after the point (the last padded with 000). */
void bw_bincopy_dec(bw_bincopy_t *b, bw_dec_t v)
{
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t ip = m / (uint64_t)BW_DEC_SCALE, fp = m % (uint64_t)BW_DEC_SCALE;
    uint16_t d[8], rev[5];
    int nint = 0, n = 0;
    while (ip > 0) {
        rev[nint++] = (uint16_t)(ip % 10000);
        ip /= 10000;
    }
    for (int i = nint - 1; i >= 0; i--)
        d[n++] = rev[i];
    uint64_t f12 = fp * 1000; /* 12 fractional digits: three base-10000 digits */
    d[n++] = (uint16_t)(f12 / 100000000);
    d[n++] = (uint16_t)(f12 / 10000 % 10000);
    d[n++] = (uint16_t)(f12 % 10000);
    int weight = nint - 1;
    /* Leading and trailing zero digits are not sent. */
    int first = 0, last = n;
    while (first < last && d[first] == 0) {
        first++;
        weight--;
    }
    while (last > first && d[last - 1] == 0)
        last--;
    int nd = last - first;
    if (nd == 0)
        weight = 0;
    u32(b, (uint32_t)(8 + 2 * nd));
    u16(b, (uint16_t)nd);
    u16(b, (uint16_t)(int16_t)weight);
    u16(b, v < 0 ? 0x4000 : 0x0000);
    u16(b, 9);
    for (int i = first; i < last; i++)
        u16(b, d[i]);
}

/* An array's wire form: dimensions, a has-nulls flag, the element type's
 * oid, each dimension's length and lower bound, then the elements as
 * fields. */
void bw_bincopy_text_array(bw_bincopy_t *b, const char *const *v, size_t n)
{
    enum { TEXT_OID = 25 };
    size_t bytes = n ? 20 : 12;
    for (size_t i = 0; i < n; i++)
        bytes += 4 + strlen(v[i]);
    u32(b, (uint32_t)bytes);
    u32(b, n ? 1 : 0);
    u32(b, 0);
    u32(b, TEXT_OID);
    if (n) {
        u32(b, (uint32_t)n);
        u32(b, 1);
    }
    for (size_t i = 0; i < n; i++)
        bw_bincopy_text(b, v[i]);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int bw_bincopy_uuid(bw_bincopy_t *b, const char *s)
{
    uint8_t out[16];
    int k = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '-')
            continue;
        int hi = hexval(p[0]), lo = p[1] ? hexval(p[1]) : -1;
        if (hi < 0 || lo < 0 || k == 16)
            return BW_EINVAL;
        out[k++] = (uint8_t)(hi << 4 | lo);
        p++;
    }
    if (k != 16)
        return BW_EINVAL;
    bw_bincopy_bytes(b, out, sizeof out);
    return 0;
}

void bw_bincopy_end(bw_bincopy_t *b) { u16(b, 0xffff); }
