/* Bump allocator over a list of chunks. Large requests get a chunk of their
 * own; reset frees all but the first chunk so steady traffic allocates
 * nothing. */
#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    max_align_t data[];
} chunk_t;

struct bw_arena {
    chunk_t *head;
    ProtobufCAllocator pb;
};

static void *pb_alloc(void *data, size_t size) { return bw_arena_alloc(data, size); }
static void pb_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

static chunk_t *chunk_new(size_t size)
{
    chunk_t *c = malloc(sizeof *c + size);
    if (!c)
        return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

bw_arena_t *bw_arena_new(void)
{
    bw_arena_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->head = chunk_new(CHUNK);
    if (!a->head) {
        free(a);
        return NULL;
    }
    a->pb.alloc = pb_alloc;
    a->pb.free = pb_free;
    a->pb.allocator_data = a;
    return a;
}

void bw_arena_destroy(bw_arena_t **pa)
{
    if (!pa || !*pa)
        return;
    chunk_t *c = (*pa)->head;
    while (c) {
        chunk_t *n = c->next;
        free(c);
        c = n;
    }
    free(*pa);
    *pa = NULL;
}

void *bw_arena_alloc(bw_arena_t *a, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    size = (size + align - 1) / align * align;
    if (size == 0)
        size = align;
    chunk_t *c = a->head;
    if (c->size - c->used < size) {
        chunk_t *n = chunk_new(size > CHUNK ? size : CHUNK);
        if (!n)
            return NULL;
        /* The first chunk stays first so reset can keep it. */
        n->next = c->next;
        c->next = n;
        if (size > CHUNK) {
            n->used = size;
            return n->data;
        }
        /* swap roles: new chunk becomes the one we bump in */
        c->next = n->next;
        n->next = c;
        a->head = n;
        c = n;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    return p;
}

char *bw_arena_strdup(bw_arena_t *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = bw_arena_alloc(a, n);
    if (p)
        memcpy(p, s, n);
    return p;
}

const char *bw_arena_html(bw_arena_t *a, const char *s)
{
    char *o = bw_arena_alloc(a, strlen(s) * 6 + 1), *p = o;
    if (!o)
        return "";
    for (; *s; s++) {
        const char *r = *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : *s == '&' ? "&amp;"
                      : *s == '"' ? "&quot;" : NULL;
        if (r) {
            size_t n = strlen(r);
            memcpy(p, r, n);
            p += n;
        } else {
            *p++ = *s;
        }
    }
    *p = '\0';
    return o;
}

const char *bw_arena_json(bw_arena_t *a, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    char *o = bw_arena_alloc(a, strlen(s) * 6 + 1), *p = o;
    if (!o)
        return "";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20) {
            memcpy(p, "\\u00", 4);
            p[4] = hex[c >> 4];
            p[5] = hex[c & 15];
            p += 6;
        } else {
            *p++ = (char)c;
        }
    }
    *p = '\0';
    return o;
}

char *bw_arena_printf(bw_arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = bw_arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void bw_arena_reset(bw_arena_t *a)
{
    /* Keep the last chunk in the list (the oldest, always CHUNK sized or
     * larger); free the rest. */
    chunk_t *c = a->head;
    while (c->next) {
        chunk_t *n = c->next;
        free(c);
        c = n;
    }
    c->used = 0;
    a->head = c;
}

ProtobufCAllocator *bw_arena_pb(bw_arena_t *a) { return &a->pb; }

void bw_abuf_printf(bw_abuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *s = bw_arena_alloc(b->a, cap);
        if (!s)
            return;
        if (b->len)
            memcpy(s, b->s, b->len);
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
