/* The feedback service's request dispatcher: validates who is asking, reads
 * the clock once per request, and hands each FeedbackRequest operation to
 * its module (tickets.c, report.c). State (SLA targets) is read from the
 * settings once at start. */
#ifndef FB_API_H
#define FB_API_H

#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"
#include "service.h"

/* Reads settings (BILLOW_SLA_*) into the service's module state; 0, or
 * BW_EINVAL (logged) when a setting is malformed. */
int fb_api_init(bw_service_t *svc);
void fb_api_fini(bw_service_t *svc);
/* bw_rpc_handler_fn for the service (arg is the bw_service_t). */
bool fb_api_handle(void *svc, const Billow__Request *req, Billow__Reply *reply, bw_arena_t *arena);

#endif
