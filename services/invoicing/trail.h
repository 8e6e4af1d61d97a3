/* The audit trail (DESIGN.md §1 [audit]): one append-only row per state
 * change, saying who (operator or service) and what (request or event id)
 * caused it. The table refuses UPDATE, DELETE and TRUNCATE (migration 002),
 * so a row once written stays; writes happen in the caller's transaction,
 * so a change and its trail row commit or vanish together. */
#ifndef INV_TRAIL_H
#define INV_TRAIL_H

typedef struct bw_db bw_db_t;

/* Appends one row; detail may be NULL. 0 or BW_EDB. */
int inv_trail(bw_db_t *db, const char *actor, const char *cause, const char *entity,
              const char *entity_id, const char *action, const char *detail);

#endif
