/* Rows in PostgreSQL's binary COPY format, for the bulk write paths (the
 * outbox, usage records, closed periods): no text escaping on our side and
 * no parsing of numbers, timestamps, UUIDs or hex bytea on the server's.
 * Begin, then per row bw_bincopy_row(n) and n fields, then end; the buffer
 * goes to bw_db_copy_put after a `COPY ... FROM STDIN (FORMAT binary)`. Out
 * of memory sets `failed` and later calls do nothing. */
#ifndef BW_BINCOPY_H
#define BW_BINCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"

typedef struct {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} bw_bincopy_t;

/* Starts (or restarts, keeping the memory) a buffer with the COPY header. */
void bw_bincopy_begin(bw_bincopy_t *b);
void bw_bincopy_free(bw_bincopy_t *b);
/* Starts a row of n fields. */
void bw_bincopy_row(bw_bincopy_t *b, int n);
void bw_bincopy_null(bw_bincopy_t *b);
/* text or bytea */
void bw_bincopy_bytes(bw_bincopy_t *b, const void *p, size_t n);
void bw_bincopy_text(bw_bincopy_t *b, const char *s);
void bw_bincopy_i32(bw_bincopy_t *b, int32_t v);
void bw_bincopy_i64(bw_bincopy_t *b, int64_t v);
/* A timestamptz from microseconds since the Unix epoch. */
void bw_bincopy_ts(bw_bincopy_t *b, int64_t unix_us);
/* A date from days since the Unix epoch. */
void bw_bincopy_date(bw_bincopy_t *b, int64_t unix_days);
/* A numeric from a fixed-point decimal (9 places). */
void bw_bincopy_dec(bw_bincopy_t *b, bw_dec_t v);
/* A one-dimensional text[] of n elements (none NULL); n may be 0. */
void bw_bincopy_text_array(bw_bincopy_t *b, const char *const *v, size_t n);
/* A uuid from its canonical text: BW_EINVAL (and nothing written) when s is
 * not one. */
int bw_bincopy_uuid(bw_bincopy_t *b, const char *s);
/* Appends the trailer; the buffer is then ready to send. */
void bw_bincopy_end(bw_bincopy_t *b);

#endif
