/* Price changes in rating's database: create (validate and store a draft),
 * preview (old vs new charge per affected account), announce (one
 * PriceChangeAnnounced per affected account, once), status (who was told,
 * reached, acknowledged, objected, and from when each pays the new price)
 * and list. It also loads, for a batch being rated, the changes in force
 * for each account (rt_pc_load_applied), which is how the close enforces
 * the notice rule. Parsed change versions are cached by change id. */
#ifndef RT_PRICECHANGE_API_H
#define RT_PRICECHANGE_API_H

#include <stdbool.h>
#include <stddef.h>

#include "api.pb-c.h"
#include "arena.h"
#include "rating/rater.h"

typedef struct bw_db bw_db_t;

bool rt_pc_create(bw_db_t *db, const Billow__PriceChangeCreate *req, const char *operator_,
                  const char *cause, Billow__Reply *reply, bw_arena_t *arena);
void rt_pc_preview(bw_db_t *db, const Billow__PriceChangePreview *req, Billow__Reply *reply,
                   bw_arena_t *arena);
bool rt_pc_announce(bw_db_t *db, const Billow__PriceChangeAnnounce *req, const char *operator_,
                    const char *cause, Billow__Reply *reply, bw_arena_t *arena);
void rt_pc_status(bw_db_t *db, const Billow__PriceChangeStatus *req, Billow__Reply *reply,
                  bw_arena_t *arena);
void rt_pc_list(bw_db_t *db, Billow__Reply *reply, bw_arena_t *arena);

/* Fills pcs/npcs of accounts[0..n) (sorted by id) with the changes in force
 * for them before the end of period p (arena memory). lo/hi as for
 * rt_load_data. 0 or BW_EDB. */
int rt_pc_load_applied(bw_db_t *db, rt_acct_data_t *accounts, size_t n, const char *lo,
                       const char *hi, const rt_period_t *p, bw_arena_t *a);

/* Drops the cache of parsed changes (service shutdown). */
void rt_pc_cache_clear(void);

#endif
