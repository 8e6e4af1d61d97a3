/* Catalog versions in the database: `catalog load` validates a document as a
 * whole (rt_catalog_new_from_json) and stores it as the next version with
 * who loaded it; nothing is ever overwritten. A new document must keep every
 * price version already in force unchanged (add a version instead), so a
 * period is always rated with the prices that were in force for it. Parsed
 * catalogs are cached per version; the newest version is checked on every
 * lookup, so several processes see each other's loads. */
#ifndef RT_CATALOG_STORE_H
#define RT_CATALOG_STORE_H

#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"
#include "rating/catalog.h"

typedef struct bw_db bw_db_t;

/* The newest catalog into *cat (NULL when none was ever loaded) and its
 * version (0 then). The catalog stays valid until a lookup of two other
 * versions evicts it. 0 or BW_EDB. */
int rt_store_current(bw_db_t *db, const rt_catalog_t **cat, int *version);
/* Catalog `version`: 0, BW_ENOTFOUND or BW_EDB. */
int rt_store_get(bw_db_t *db, int version, const rt_catalog_t **cat);
/* Who loaded version and when (arena strings); 0 or BW_EDB / BW_ENOTFOUND. */
int rt_store_info(bw_db_t *db, int version, bw_arena_t *a, char **by, char **at);
/* Drops every cached catalog (service shutdown). */
void rt_store_clear(void);

/* The fee item's name in language ("zh-CN" or anything else: English). */
const char *rt_name_in(const rt_names_t *n, const char *language);

/* A one-line summary of a charge's price fields ("59 per unit; 3 free"). */
char *rt_charge_text(const rt_charge_t *ch, const char *cur, bw_arena_t *a);

bool rt_catalog_load(bw_db_t *db, const Billow__CatalogLoad *req, const char *operator_,
                     const char *cause, Billow__Reply *reply, bw_arena_t *arena);
void rt_catalog_show(bw_db_t *db, const Billow__CatalogShow *req, Billow__Reply *reply,
                     bw_arena_t *arena);

#endif
