/* The invoicing service's request dispatch: one InvoicingRequest operation
 * to the module that owns it. */
#ifndef INV_API_H
#define INV_API_H

#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"

/* bw_rpc_handler_fn for the service (arg is the bw_service_t). */
bool inv_api_handle(void *svc, const Billow__Request *req, Billow__Reply *reply,
                    bw_arena_t *arena);

#endif
