/* Serves a service's outbox as a durable event stream (DESIGN.md §3, step
 * 2): a ROUTER socket answers Fetch with a Batch of events after the
 * consumer's cursor, filtered by partition; when nothing is new the request
 * is parked (long poll) until a NOTIFY from an outbox writer, a periodic
 * re-check, or its wait time runs out. It also records each consumer's
 * acknowledged position and prunes outbox rows every registered consumer
 * has passed, once they are older than BILLOW_STREAM_RETENTION_S. */
#ifndef BW_STREAM_SERVER_H
#define BW_STREAM_SERVER_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;
typedef struct bw_stream_server bw_stream_server_t;

/* db must be a connection of its own (it LISTENs); the server does not own
 * it. Returns NULL when the socket cannot be bound. */
bw_stream_server_t *bw_stream_server_new(struct ev_loop *loop, void *zctx, const char *endpoint,
                                         bw_db_t *db);
void bw_stream_server_destroy(bw_stream_server_t **ps);
/* The newest sequence number in the outbox (0 when empty), read now. */
int64_t bw_stream_server_head(bw_stream_server_t *s);

/* The consumers registered with this stream (`billctl stream consumers`),
 * each holding back pruning until it passes. With forget, that
 * registration is removed first (BW_ENOTFOUND when there is none): pruning
 * stops waiting for it, and should it come back behind what was pruned,
 * its fetches are refused rather than served with a hole. */
int bw_stream_server_consumers(bw_stream_server_t *s, const char *forget,
                               Billow__StreamConsumersReply *out, bw_arena_t *a);

/* The event types one Fetch may name, and what a name may be: 1 to 63
 * letters, digits and '_' (the server refuses a fetch with another). */
#define BW_STREAM_MAX_TYPES 32
#define BW_STREAM_TYPE_LEN 64
bool bw_stream_type_ok(const char *name);

#endif
