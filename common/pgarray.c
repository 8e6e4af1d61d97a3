/* PostgreSQL text-array literals: see pgarray.h. Elements are always
 * double-quoted on output, so only '"' and '\' need escaping. */
#include "pgarray.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bw_pgarr_init(bw_pgarr_t *a) { memset(a, 0, sizeof *a); }

static void put(bw_pgarr_t *a, const char *s, size_t n)
{
    if (a->failed)
        return;
    if (bw_grow(&a->data, &a->cap, a->len + n + 3, 256) < 0) {
        a->failed = 1;
        return;
    }
    memcpy(a->data + a->len, s, n);
    a->len += n;
}

void bw_pgarr_add(bw_pgarr_t *a, const char *s)
{
    put(a, a->n ? "," : "{", 1);
    a->n++;
    if (!s) {
        put(a, "NULL", 4);
        return;
    }
    put(a, "\"", 1);
    /* Runs of plain text at once; only '"' and '\\' are escaped. */
    for (const char *p = s; *p;) {
        size_t run = strcspn(p, "\"\\");
        put(a, p, run);
        p += run;
        if (*p) {
            put(a, "\\", 1);
            put(a, p++, 1);
        }
    }
    put(a, "\"", 1);
}

void bw_pgarr_addf(bw_pgarr_t *a, const char *fmt, ...)
{
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    bw_pgarr_add(a, buf);
}

const char *bw_pgarr_str(bw_pgarr_t *a)
{
    if (a->n == 0)
        return "{}";
    put(a, "}", 1);
    if (a->failed)
        return NULL;
    a->data[a->len] = '\0';
    a->len--; /* the closing brace is re-added by the next call */
    return a->data;
}

void bw_pgarr_free(bw_pgarr_t *a)
{
    free(a->data);
    memset(a, 0, sizeof *a);
}

size_t bw_pgarr_parse(const char *lit, const char **out, size_t max, bw_arena_t *arena)
{
    size_t n = 0;
    if (!lit || *lit != '{')
        return 0;
    const char *p = lit + 1;
    size_t cap = strlen(lit) + 1;
    while (*p && *p != '}' && n < max) {
        char *buf = bw_arena_alloc(arena, cap);
        if (!buf)
            return n;
        size_t k = 0;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                buf[k++] = *p;
            }
            if (*p == '"')
                p++;
        } else {
            while (*p && *p != ',' && *p != '}')
                buf[k++] = *p++;
        }
        buf[k] = '\0';
        out[n++] = buf;
        if (*p == ',')
            p++;
    }
    return n;
}
