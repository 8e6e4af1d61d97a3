/* Decoding stream events for a consumer's apply callback: each payload is
 * unpacked into a billow.Event (in the batch's arena) and handed to the
 * service's handler. A payload that does not decode is logged and skipped,
 * so one bad event cannot stall a stream. */
#ifndef BW_EVENTS_H
#define BW_EVENTS_H

#include "arena.h"
#include "events.pb-c.h"
#include "stream.pb-c.h"

typedef struct bw_db bw_db_t;

/* Applies one decoded event inside the consumer's transaction; 0 or a
 * negative code (the batch is rolled back and retried). */
typedef int (*bw_event_fn)(void *arg, bw_db_t *db, const Billow__StreamEvent *se,
                           const Billow__Event *ev, bw_arena_t *arena);

/* Decodes and applies evs in order; fn may be NULL (nothing to apply: the
 * cursor alone advances). */
int bw_events_apply(bw_db_t *db, Billow__StreamEvent *const *evs, size_t n, bw_arena_t *arena,
                    bw_event_fn fn, void *arg);

#endif
