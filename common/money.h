/* Exact money arithmetic (DESIGN.md §4): no floating point anywhere.
 * Quantities and unit prices are bw_dec_t, a signed fixed-point decimal
 * held as int64 scaled by 10^9 (nine decimal places, about ±9.2e9 units).
 * Amounts a customer pays are int64 minor units of an ISO 4217 currency
 * (CNY 2 decimals, JPY 0, KWD 3). Products and ratios are carried in 128-bit
 * integers and rounded once, half-even by default, by bw_round_div. */
#ifndef BW_MONEY_H
#define BW_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 128-bit intermediates; __extension__ keeps -std=c11 -Wpedantic quiet. */
__extension__ typedef __int128 bw_i128_t;

typedef int64_t bw_dec_t;

#define BW_DEC_DIGITS 9
#define BW_DEC_SCALE INT64_C(1000000000)
#define BW_DEC(units) ((bw_dec_t)(units) * BW_DEC_SCALE)
/* Longest formatted decimal: sign, 10 integer digits, point, 9 decimals. */
#define BW_DEC_STRLEN 24

typedef enum {
    BW_ROUND_HALF_EVEN = 0, /* banker's rounding: 0.125 -> 0.12, 0.135 -> 0.14 */
    BW_ROUND_HALF_UP,       /* half away from zero: 0.125 -> 0.13, -0.125 -> -0.13 */
} bw_rounding_t;

/* Parses "12.5", "-3", "+0.000001" (digits on both sides of the point, at
 * most 9 decimals, no spaces or exponents). Returns 0, or BW_EINVAL with a
 * short reason in err ("not a decimal number", "too many decimal places (max
 * 9)", "out of range"); err may be NULL. */
int bw_dec_parse(const char *s, bw_dec_t *out, char *err, size_t errlen);
/* Formats with trailing zeros trimmed ("12.5", "-3", "0.000001"). Returns 0
 * or BW_ETOOBIG when buf is shorter than needed (BW_DEC_STRLEN always fits). */
int bw_dec_format(bw_dec_t v, char *buf, size_t len);
/* a + b, a - b, a * b (rounded to 9 decimals with r): 0 or BW_ETOOBIG on
 * overflow (*out untouched). */
int bw_dec_add(bw_dec_t a, bw_dec_t b, bw_dec_t *out);
int bw_dec_sub(bw_dec_t a, bw_dec_t b, bw_dec_t *out);
int bw_dec_mul(bw_dec_t a, bw_dec_t b, bw_rounding_t r, bw_dec_t *out);
/* -1, 0 or 1. */
int bw_dec_cmp(bw_dec_t a, bw_dec_t b);
/* The number of decimal places v needs (0..9): 12.50 -> 1. */
int bw_dec_places(bw_dec_t v);

/* num / den rounded to an integer with r; den must be > 0. Returns 0,
 * BW_EINVAL (den <= 0) or BW_ETOOBIG (result beyond int64). */
int bw_round_div(bw_i128_t num, bw_i128_t den, bw_rounding_t r, int64_t *out);

/* ISO 4217 minor-unit exponent of an upper-case code ("CNY" -> 2, "JPY" ->
 * 0, "KWD" -> 3), or -1 for a code not in the table. */
int bw_currency_exponent(const char *code);

/* A decimal amount in major units rounded to minor units of a currency with
 * the given exponent: 0, BW_EINVAL (bad exponent) or BW_ETOOBIG. */
int bw_dec_to_minor(bw_dec_t amount, int exponent, bw_rounding_t r, int64_t *minor);
/* Minor units back to a decimal in major units (exact): 0 or BW_ETOOBIG. */
int bw_minor_to_dec(int64_t minor, int exponent, bw_dec_t *out);

/* Parses an amount in major units of currency ("123.45" CNY -> 12345, "100"
 * JPY -> 100). More decimals than the currency has ("1.234" CNY) are an
 * error, not rounded. Returns 0 or BW_EINVAL with a reason in err. */
int bw_money_parse(const char *s, const char *currency, int64_t *minor, char *err, size_t errlen);
/* Formats minor units in major units with exactly the currency's decimals
 * (12345 CNY -> "123.45", 100 JPY -> "100", -5 CNY -> "-0.05"). Returns 0,
 * BW_EINVAL (unknown currency) or BW_ETOOBIG (buf too short; 32 fits). */
int bw_money_format(int64_t minor, const char *currency, char *buf, size_t len);

#endif
