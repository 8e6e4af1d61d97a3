/* PostgreSQL binary COPY rows (see bincopy.h). */
#include "rating/bincopy.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

static void put(rt_bincopy_t *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->data, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->data = np;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void u16(rt_bincopy_t *b, uint16_t v)
{
    uint16_t be = htobe16(v);
    put(b, &be, 2);
}

static void u32(rt_bincopy_t *b, uint32_t v)
{
    uint32_t be = htobe32(v);
    put(b, &be, 4);
}

void rt_bincopy_begin(rt_bincopy_t *b)
{
    static const uint8_t header[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n',
                                     0,   0,   0,   0,   0,   0,   0,    0,    0};
    b->len = 0;
    b->failed = false;
    put(b, header, sizeof header);
}

void rt_bincopy_free(rt_bincopy_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void rt_bincopy_row(rt_bincopy_t *b, int n) { u16(b, (uint16_t)n); }

void rt_bincopy_bytes(rt_bincopy_t *b, const void *p, size_t n)
{
    u32(b, (uint32_t)n);
    put(b, p, n);
}

void rt_bincopy_text(rt_bincopy_t *b, const char *s) { rt_bincopy_bytes(b, s, strlen(s)); }

void rt_bincopy_i32(rt_bincopy_t *b, int32_t v)
{
    u32(b, 4);
    u32(b, (uint32_t)v);
}

void rt_bincopy_i64(rt_bincopy_t *b, int64_t v)
{
    uint64_t be = htobe64((uint64_t)v);
    u32(b, 8);
    put(b, &be, 8);
}

/* PostgreSQL counts timestamps from 2000-01-01. */
#define PG_EPOCH_US INT64_C(946684800000000)

void rt_bincopy_ts(rt_bincopy_t *b, int64_t unix_us) { rt_bincopy_i64(b, unix_us - PG_EPOCH_US); }

/* numeric's wire form: ndigits, weight (of the first digit, in base-10000
 * places), sign, display scale, then the base-10000 digits. The 9 decimal
 * places become three digits after the point (the last padded with 000). */
void rt_bincopy_dec(rt_bincopy_t *b, bw_dec_t v)
{
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t ip = m / (uint64_t)BW_DEC_SCALE, fp = m % (uint64_t)BW_DEC_SCALE;
    uint16_t d[8];
    int nint = 0;
    uint16_t rev[5];
    while (ip > 0) {
        rev[nint++] = (uint16_t)(ip % 10000);
        ip /= 10000;
    }
    int n = 0;
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

void rt_bincopy_end(rt_bincopy_t *b) { u16(b, 0xffff); }
