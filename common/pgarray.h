/* PostgreSQL text-array literals ('{"a","b"}') built and parsed in C, so a
 * batch of values travels as one parameter of one statement (unnest($1::
 * text[])) instead of a round trip per row (STYLE.md 8). */
#ifndef BW_PGARRAY_H
#define BW_PGARRAY_H

#include <stddef.h>

#include "arena.h"

typedef struct {
    char *data;
    size_t len, cap;
    size_t n;
    int failed; /* out of memory */
} bw_pgarr_t;

void bw_pgarr_init(bw_pgarr_t *a);
/* Appends one element, quoted and escaped; NULL becomes SQL NULL. */
void bw_pgarr_add(bw_pgarr_t *a, const char *s);
void bw_pgarr_addf(bw_pgarr_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The literal ("{}" when empty); valid until the next add or free. NULL
 * when out of memory. */
const char *bw_pgarr_str(bw_pgarr_t *a);
void bw_pgarr_free(bw_pgarr_t *a);

/* Splits a one-dimensional text[] in text output form into at most max
 * elements (strings from arena); returns how many. */
size_t bw_pgarr_parse(const char *lit, const char **out, size_t max, bw_arena_t *arena);

#endif
