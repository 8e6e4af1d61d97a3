/* Rows in PostgreSQL's binary COPY format, for rating's bulk writes (usage
 * records, their aggregates, closed periods): no text escaping on our side
 * and no parsing of numbers, timestamps or hex bytea on the server's. */
#ifndef RT_BINCOPY_H
#define RT_BINCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"

typedef struct {
    uint8_t *data;
    size_t len, cap;
    bool failed; /* out of memory: the buffer is unusable */
} rt_bincopy_t;

/* Starts (or restarts) a buffer with the COPY header. */
void rt_bincopy_begin(rt_bincopy_t *b);
void rt_bincopy_free(rt_bincopy_t *b);
/* Starts a row of n fields. */
void rt_bincopy_row(rt_bincopy_t *b, int n);
void rt_bincopy_text(rt_bincopy_t *b, const char *s);
void rt_bincopy_bytes(rt_bincopy_t *b, const void *p, size_t n);
void rt_bincopy_i32(rt_bincopy_t *b, int32_t v);
void rt_bincopy_i64(rt_bincopy_t *b, int64_t v);
/* A timestamptz from microseconds since the Unix epoch. */
void rt_bincopy_ts(rt_bincopy_t *b, int64_t unix_us);
/* A numeric from a fixed-point decimal (9 places). */
void rt_bincopy_dec(rt_bincopy_t *b, bw_dec_t v);
/* Appends the trailer; the buffer is then ready to send. */
void rt_bincopy_end(rt_bincopy_t *b);

#endif
