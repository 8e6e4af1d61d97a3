/* Request/reply over ZeroMQ (DESIGN.md §3): a ROUTER API socket served from
 * the libev loop, and a blocking DEALER client for billctl and tests.
 *
 * The server decodes every frame into a billow.Request; frames that are too
 * large, do not decode or name no known body get an error Reply and a log
 * line, never a crash. A request with an idempotency key runs inside one
 * transaction with the record of its reply, so a retry after success replays
 * the first reply instead of acting twice. */
#ifndef BW_RPC_H
#define BW_RPC_H

#include <ev.h>
#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;
typedef struct bw_rpc_server bw_rpc_server_t;

/* Fills `reply` (code, error, body) for `req`. Memory for the reply comes
 * from `arena`, valid until the reply is sent. Return true when the request
 * changed state (its reply is then recorded for its idempotency key). */
typedef bool (*bw_rpc_handler_fn)(void *arg, const Billow__Request *req, Billow__Reply *reply,
                                  bw_arena_t *arena);

#define BW_MAX_FRAME_DEFAULT (8 * 1024 * 1024)

/* Binds a ROUTER socket at endpoint. db may be NULL (no idempotency). */
bw_rpc_server_t *bw_rpc_server_new(struct ev_loop *loop, void *zctx, const char *endpoint,
                                   bw_db_t *db, bw_rpc_handler_fn handler, void *arg);
void bw_rpc_server_destroy(bw_rpc_server_t **ps);

/* Fills an error reply: reply->code, error (static or arena string). */
void bw_reply_error(Billow__Reply *reply, Billow__Code code, const char *error,
                    const char *detail);

/* Sends req to endpoint and waits up to timeout_ms for the reply, which the
 * caller frees with billow__reply__free_unpacked. Returns 0, BW_ETIMEOUT when
 * nothing came back (service down or busy), BW_EPROTO for a bad reply. */
int bw_rpc_call(void *zctx, const char *endpoint, Billow__Request *req, int timeout_ms,
                Billow__Reply **reply);

#endif
