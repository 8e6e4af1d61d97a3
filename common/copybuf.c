/* COPY text rows. */
#include "copybuf.h"
#include "db.h"
#include "errors.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bw_copybuf_init(bw_copybuf_t *b) { memset(b, 0, sizeof *b); }

void bw_copybuf_free(bw_copybuf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void bw_copybuf_reset(bw_copybuf_t *b)
{
    b->len = 0;
    b->col = 0;
}

static int reserve(bw_copybuf_t *b, size_t more)
{
    if (b->failed)
        return -1;
    if (bw_grow(&b->data, &b->cap, b->len + more, 65536) < 0) {
        b->failed = 1;
        return -1;
    }
    return 0;
}

static void sep(bw_copybuf_t *b)
{
    if (b->col++ > 0)
        b->data[b->len++] = '\t';
}

void bw_copybuf_str(bw_copybuf_t *b, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (reserve(b, 2 * n + 4) < 0)
        return;
    sep(b);
    if (!s) {
        b->data[b->len++] = '\\';
        b->data[b->len++] = 'N';
        return;
    }
    for (; *s; s++) {
        char c = *s;
        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
            b->data[b->len++] = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
        }
        b->data[b->len++] = c;
    }
}

void bw_copybuf_int(bw_copybuf_t *b, long long v)
{
    if (reserve(b, 24) < 0)
        return;
    sep(b);
    b->len += (size_t)snprintf(b->data + b->len, 24, "%lld", v);
}

void bw_copybuf_bytea(bw_copybuf_t *b, const uint8_t *p, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (reserve(b, 2 * len + 8) < 0)
        return;
    sep(b);
    b->data[b->len++] = '\\';
    b->data[b->len++] = '\\';
    b->data[b->len++] = 'x';
    for (size_t i = 0; i < len; i++) {
        b->data[b->len++] = hex[p[i] >> 4];
        b->data[b->len++] = hex[p[i] & 15];
    }
}

void bw_copybuf_end(bw_copybuf_t *b)
{
    if (reserve(b, 2) < 0)
        return;
    b->data[b->len++] = '\n';
    b->col = 0;
}

int bw_copybuf_send(const bw_copybuf_t *b, bw_db_t *db, const char *sql)
{
    if (b->len == 0)
        return 0;
    if (b->failed)
        return BW_ENOMEM;
    return bw_db_copy(db, sql, b->data, b->len);
}
