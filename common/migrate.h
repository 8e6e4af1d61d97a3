/* Schema migrations: numbered SQL files embedded in each binary (see
 * deploy/embed-sql.sh), applied in one transaction under an advisory lock
 * so that several processes of one service starting together migrate once.
 * Applied versions are recorded in <schema>.schema_migrations. */
#ifndef BW_MIGRATE_H
#define BW_MIGRATE_H

typedef struct {
    int version;
    const char *name;
    const char *sql;
} bw_migration_t;

/* The stream tables every service has (outbox, cursors, idempotency). */
extern const bw_migration_t bw_migrations_common[];

typedef struct bw_db bw_db_t;

/* Applies the common migrations, then `list` (terminated by a NULL name)
 * recorded under `component`. *version gets the newest applied version of
 * `component`. Returns 0 or BW_EDB (nothing applied: one transaction). */
int bw_migrate(bw_db_t *db, const char *component, const bw_migration_t *list, int *version);

#endif
