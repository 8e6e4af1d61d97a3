/* A growable buffer of rows in PostgreSQL COPY text format, for the bulk
 * paths (STYLE.md 8: COPY, never a round trip per row). Fields are escaped
 * as COPY requires; NULL is \N; bytea goes as \\x hex. */
#ifndef BW_COPYBUF_H
#define BW_COPYBUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *data;
    size_t len, cap;
    int failed; /* out of memory: the buffer is unusable */
    int col;    /* fields written in the current row */
} bw_copybuf_t;

void bw_copybuf_init(bw_copybuf_t *b);
void bw_copybuf_free(bw_copybuf_t *b);
void bw_copybuf_reset(bw_copybuf_t *b);
/* Appends one field (NULL pointer: SQL NULL). */
void bw_copybuf_str(bw_copybuf_t *b, const char *s);
void bw_copybuf_int(bw_copybuf_t *b, long long v);
void bw_copybuf_bytea(bw_copybuf_t *b, const uint8_t *p, size_t len);
/* Ends the row. */
void bw_copybuf_end(bw_copybuf_t *b);
/* COPYs the rows with sql (a COPY ... FROM STDIN): 0 when there are none,
 * BW_ENOMEM when the buffer ran out of memory, else as bw_db_copy. */
struct bw_db;
int bw_copybuf_send(const bw_copybuf_t *b, struct bw_db *db, const char *sql);

#endif
