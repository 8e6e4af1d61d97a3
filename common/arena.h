/* Per-message scratch memory (STYLE.md 6): a bump allocator reset after each
 * handler returns, so nothing allocated while handling one message can leak
 * into the next. bw_arena_pb() adapts it to protobuf-c's allocator. */
#ifndef BW_ARENA_H
#define BW_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

typedef struct bw_arena bw_arena_t;

bw_arena_t *bw_arena_new(void);
void bw_arena_destroy(bw_arena_t **pa);
/* Aligned memory that lives until the next reset; NULL when out of memory. */
void *bw_arena_alloc(bw_arena_t *a, size_t size);
char *bw_arena_strdup(bw_arena_t *a, const char *s);
char *bw_arena_printf(bw_arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s escaped for HTML text and attribute values (< > & "), or for the inside
 * of a JSON string (" \ and control characters); "" when out of memory. */
const char *bw_arena_html(bw_arena_t *a, const char *s);
const char *bw_arena_json(bw_arena_t *a, const char *s);
/* Frees everything allocated since the last reset, keeping one chunk. */
void bw_arena_reset(bw_arena_t *a);
/* A string grown in the arena by printf-style appends, for documents built
 * while handling one message: `bw_abuf_t b = {.a = arena};`. An append that
 * cannot get memory is dropped (the document comes out short, never
 * corrupt). */
typedef struct {
    char *s;
    size_t len, cap;
    bw_arena_t *a;
} bw_abuf_t;
void bw_abuf_printf(bw_abuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A protobuf-c allocator backed by the arena (free is a no-op). */
ProtobufCAllocator *bw_arena_pb(bw_arena_t *a);

#endif
