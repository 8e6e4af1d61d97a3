/* The notification service's request dispatch (contacts, notification
 * listing, detail with every attempt, dead-letter retry, acknowledgement).
 * The service data (bw_service_data) is an ntf_api_ctx_t. */
#ifndef NTF_API_H
#define NTF_API_H

#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"

typedef struct ntf_delivery ntf_delivery_t;

typedef struct {
    ntf_delivery_t *delivery; /* kicked after a retry; NULL in a worker */
} ntf_api_ctx_t;

/* bw_rpc_handler_fn for the service (arg is the bw_service_t). */
bool ntf_api_handle(void *svc, const Billow__Request *req, Billow__Reply *reply,
                    bw_arena_t *arena);

#endif
