/* Fixed-point decimals, ISO 4217 exponents and exact rounding. Every
 * operation works on integers: parsing accumulates digits with overflow
 * checks, products go through 128 bits, and the single rounding step
 * (bw_round_div) decides ties from the exact remainder, so results never
 * depend on binary floating point. */
#include "money.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static const int64_t pow10_tab[19] = {
    INT64_C(1),
    INT64_C(10),
    INT64_C(100),
    INT64_C(1000),
    INT64_C(10000),
    INT64_C(100000),
    INT64_C(1000000),
    INT64_C(10000000),
    INT64_C(100000000),
    INT64_C(1000000000),
    INT64_C(10000000000),
    INT64_C(100000000000),
    INT64_C(1000000000000),
    INT64_C(10000000000000),
    INT64_C(100000000000000),
    INT64_C(1000000000000000),
    INT64_C(10000000000000000),
    INT64_C(100000000000000000),
    INT64_C(1000000000000000000),
};

int bw_dec_parse(const char *s, bw_dec_t *out, char *err, size_t errlen)
{
    if (!s || !*s) {
        set_err(err, errlen, "empty");
        return BW_EINVAL;
    }
    const char *p = s;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    /* Accumulate the magnitude as an unsigned count of 10^-9 units; the
     * limit allows INT64_MIN's magnitude for negative numbers. */
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t ip = 0;
    int idigits = 0;
    bool overflow = false;
    for (; *p >= '0' && *p <= '9'; p++, idigits++) {
        if (ip > (UINT64_MAX - 9) / 10)
            overflow = true;
        else
            ip = ip * 10 + (uint64_t)(*p - '0');
    }
    if (idigits == 0) {
        set_err(err, errlen, "not a decimal number");
        return BW_EINVAL;
    }
    uint64_t frac = 0;
    int fdigits = 0, seen = 0;
    bool too_precise = false;
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++, seen++) {
            /* Zeros past the ninth place are harmless; anything else would
             * be silently lost, so it is an error. */
            if (fdigits < BW_DEC_DIGITS)
                frac = frac * 10 + (uint64_t)(*p - '0'), fdigits++;
            else if (*p != '0')
                too_precise = true;
        }
        if (seen == 0) {
            set_err(err, errlen, "not a decimal number");
            return BW_EINVAL;
        }
    }
    if (*p != '\0') {
        set_err(err, errlen, "not a decimal number");
        return BW_EINVAL;
    }
    if (too_precise) {
        set_err(err, errlen, "too many decimal places (max 9)");
        return BW_EINVAL;
    }
    for (int i = fdigits; i < BW_DEC_DIGITS; i++)
        frac *= 10;
    if (overflow || ip > limit / (uint64_t)BW_DEC_SCALE ||
        ip * (uint64_t)BW_DEC_SCALE > limit - frac) {
        set_err(err, errlen, "out of range");
        return BW_EINVAL;
    }
    uint64_t mag = ip * (uint64_t)BW_DEC_SCALE + frac;
    /* Two's complement negation through unsigned avoids overflow at the
     * INT64_MIN edge. */
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

/* Writes |v| with `places` fixed decimals (trimmed when trim is set). */
static int format_scaled(int64_t v, int scale_digits, int places, bool trim, char *buf,
                         size_t len)
{
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    uint64_t scale = (uint64_t)pow10_tab[scale_digits];
    uint64_t ip = mag / scale, fp = mag % scale;
    char frac[24];
    int n = 0;
    for (int i = scale_digits - 1; i >= 0; i--)
        frac[n++] = (char)('0' + (fp / (uint64_t)pow10_tab[i]) % 10);
    if (places < n)
        n = places;
    if (trim)
        while (n > 0 && frac[n - 1] == '0')
            n--;
    /* By hand rather than snprintf: bulk paths format a number per line. */
    char digits[24];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip);
    size_t w = (size_t)(v < 0) + (size_t)nd + (n ? 1 + (size_t)n : 0);
    if (w >= len)
        return BW_ETOOBIG;
    char *p = buf;
    if (v < 0)
        *p++ = '-';
    while (nd)
        *p++ = digits[--nd];
    if (n) {
        *p++ = '.';
        memcpy(p, frac, (size_t)n);
        p += n;
    }
    *p = '\0';
    return 0;
}

int bw_dec_format(bw_dec_t v, char *buf, size_t len)
{
    if (!buf || !len)
        return BW_ETOOBIG;
    return format_scaled(v, BW_DEC_DIGITS, BW_DEC_DIGITS, true, buf, len);
}

int bw_dec_add(bw_dec_t a, bw_dec_t b, bw_dec_t *out)
{
    bw_dec_t r;
    if (__builtin_add_overflow(a, b, &r))
        return BW_ETOOBIG;
    *out = r;
    return 0;
}

int bw_dec_sub(bw_dec_t a, bw_dec_t b, bw_dec_t *out)
{
    bw_dec_t r;
    if (__builtin_sub_overflow(a, b, &r))
        return BW_ETOOBIG;
    *out = r;
    return 0;
}

int bw_dec_mul(bw_dec_t a, bw_dec_t b, bw_rounding_t r, bw_dec_t *out)
{
    /* |a*b| < 2^126: no overflow in 128 bits; the range check is in
     * bw_round_div. */
    return bw_round_div((bw_i128_t)a * b, BW_DEC_SCALE, r, out);
}

int bw_dec_cmp(bw_dec_t a, bw_dec_t b) { return a < b ? -1 : a > b; }

int bw_dec_places(bw_dec_t v)
{
    int places = BW_DEC_DIGITS;
    while (places > 0 && v % 10 == 0) {
        v /= 10;
        places--;
    }
    return places;
}

int bw_round_div(bw_i128_t num, bw_i128_t den, bw_rounding_t r, int64_t *out)
{
    if (den <= 0)
        return BW_EINVAL;
    bool neg = num < 0;
    /* Work on the magnitude as unsigned so that the most negative value
     * does not overflow on negation. */
    __extension__ typedef unsigned __int128 u128;
    u128 n = neg ? (u128)0 - (u128)num : (u128)num;
    u128 d = (u128)den;
    u128 q = n / d, rem = n % d;
    u128 other = d - rem; /* rem vs half of d without computing 2*rem */
    if (rem > other)
        q++;
    else if (rem != 0 && rem == other) {
        if (r == BW_ROUND_HALF_UP || (q & 1))
            q++;
    }
    u128 limit = neg ? (u128)INT64_MAX + 1 : (u128)INT64_MAX;
    if (q > limit)
        return BW_ETOOBIG;
    *out = neg ? (int64_t)((uint64_t)0 - (uint64_t)q) : (int64_t)(uint64_t)q;
    return 0;
}

typedef struct {
    char code[4];
    int exponent;
} currency_t;

/* ISO 4217 minor units for the currencies we expect to bill in. */
static const currency_t currencies[] = {
    {"AED", 2}, {"AUD", 2}, {"BHD", 3}, {"BRL", 2}, {"CAD", 2}, {"CHF", 2}, {"CLP", 0},
    {"CNY", 2}, {"CZK", 2}, {"DKK", 2}, {"EUR", 2}, {"GBP", 2}, {"HKD", 2}, {"HUF", 2},
    {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"ISK", 0}, {"JOD", 3}, {"JPY", 0},
    {"KRW", 0}, {"KWD", 3}, {"LYD", 3}, {"MOP", 2}, {"MXN", 2}, {"MYR", 2}, {"NOK", 2},
    {"NZD", 2}, {"OMR", 3}, {"PHP", 2}, {"PLN", 2}, {"RUB", 2}, {"SAR", 2}, {"SEK", 2},
    {"SGD", 2}, {"THB", 2}, {"TND", 3}, {"TRY", 2}, {"TWD", 2}, {"UGX", 0}, {"USD", 2},
    {"VND", 0}, {"ZAR", 2},
};

int bw_currency_exponent(const char *code)
{
    if (!code)
        return -1;
    for (size_t i = 0; i < sizeof currencies / sizeof currencies[0]; i++)
        if (strcmp(currencies[i].code, code) == 0)
            return currencies[i].exponent;
    return -1;
}

int bw_dec_to_minor(bw_dec_t amount, int exponent, bw_rounding_t r, int64_t *minor)
{
    if (exponent < 0 || exponent > BW_DEC_DIGITS)
        return BW_EINVAL;
    return bw_round_div(amount, pow10_tab[BW_DEC_DIGITS - exponent], r, minor);
}

int bw_minor_to_dec(int64_t minor, int exponent, bw_dec_t *out)
{
    if (exponent < 0 || exponent > BW_DEC_DIGITS)
        return BW_EINVAL;
    bw_dec_t v;
    if (__builtin_mul_overflow(minor, pow10_tab[BW_DEC_DIGITS - exponent], &v))
        return BW_ETOOBIG;
    *out = v;
    return 0;
}

int bw_money_parse(const char *s, const char *currency, int64_t *minor, char *err, size_t errlen)
{
    int exp = bw_currency_exponent(currency);
    if (exp < 0) {
        if (err && errlen)
            snprintf(err, errlen, "unknown currency \"%.8s\"", currency ? currency : "");
        return BW_EINVAL;
    }
    bw_dec_t v;
    int rc = bw_dec_parse(s, &v, err, errlen);
    if (rc < 0)
        return rc;
    if (bw_dec_places(v) > exp) {
        if (err && errlen)
            snprintf(err, errlen, "too many decimal places for %s (max %d)", currency, exp);
        return BW_EINVAL;
    }
    /* Exact: the value has no more places than the currency. */
    return bw_dec_to_minor(v, exp, BW_ROUND_HALF_EVEN, minor);
}

int bw_money_format(int64_t minor, const char *currency, char *buf, size_t len)
{
    int exp = bw_currency_exponent(currency);
    if (exp < 0)
        return BW_EINVAL;
    if (!buf || !len)
        return BW_ETOOBIG;
    return format_scaled(minor, exp, exp, false, buf, len);
}
