/* The rating service's request dispatch (one RatingRequest operation to the
 * module that owns it) and its event dispatch for the streams it consumes. */
#ifndef RT_API_H
#define RT_API_H

#include <stdbool.h>
#include <stddef.h>

#include "api.pb-c.h"
#include "arena.h"
#include "stream.pb-c.h"

typedef struct bw_db bw_db_t;

/* bw_rpc_handler_fn for the service (arg is the bw_service_t). */
bool rt_api_handle(void *svc, const Billow__Request *req, Billow__Reply *reply,
                   bw_arena_t *arena);
/* bw_consumer_apply_fn for invoicing's stream: AccountChanged into the
 * accounts view, BillRunStarted into a close job. */
int rt_api_from_invoicing(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                          bw_arena_t *arena);

#endif
