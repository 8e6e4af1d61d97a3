/* Read-only views of rating: preview (what an account would be charged for
 * a period so far, rated exactly as a close would) and explain (every line
 * traced to its usage records and aggregate, catalog version, price version
 * and its effective date, pricing model and tiers, and the discounts that
 * applied). For a closed period both show what was emitted. */
#ifndef RT_INSPECT_H
#define RT_INSPECT_H

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;

void rt_rate_preview(bw_db_t *db, const Billow__RatePreview *req, Billow__Reply *reply,
                     bw_arena_t *arena);
void rt_rate_explain(bw_db_t *db, const Billow__RateExplain *req, Billow__Reply *reply,
                     bw_arena_t *arena);

#endif
