/* Migration runner. The advisory lock key is derived from the schema name so
 * that services sharing one database do not wait for each other. */
#include "migrate.h"
#include "db.h"
#include "errors.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static const char SQL_LOCK[] = "SELECT pg_advisory_xact_lock(hashtext('billow.migrate.' || $1))";
static const char SQL_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " component text NOT NULL, version integer NOT NULL, name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))";
static const char SQL_APPLIED[] =
    "SELECT version FROM schema_migrations WHERE component = $1";
static const char SQL_RECORD[] =
    "INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)";

static bool applied(const PGresult *res, int version)
{
    for (int i = 0; i < PQntuples(res); i++)
        if (atoi(PQgetvalue(res, i, 0)) == version)
            return true;
    return false;
}

/* Applies every file of the list not recorded yet, not only those above the
 * highest recorded: branches developed side by side number their files
 * independently, and one merged later may carry a lower number. *out is the
 * highest version then applied. */
static int apply_list(bw_db_t *db, const char *component, const bw_migration_t *list, int *out)
{
    const char *p[3] = {component};
    PGresult *done = bw_db_query(db, SQL_APPLIED, 1, p);
    if (!done)
        return BW_EDB;
    int current = 0, known = 0;
    for (int i = 0; i < PQntuples(done); i++)
        if (atoi(PQgetvalue(done, i, 0)) > current)
            current = atoi(PQgetvalue(done, i, 0));
    for (const bw_migration_t *m = list; m->name; m++)
        if (m->version > known)
            known = m->version;
    /* A schema a newer version has migrated is not this binary's to run on
     * (an old process restarted after an upgrade would write the old way
     * into the new tables). */
    if (current > known) {
        char have[16], mine[16];
        snprintf(have, sizeof have, "%d", current);
        snprintf(mine, sizeof mine, "%d", known);
        bw_log(BW_ERROR, "the schema is newer than this binary: run the newer version",
               "component", BW_S(component), "schema_version", have, "binary_knows", mine, NULL);
        PQclear(done);
        return BW_EDB;
    }
    int rc = 0;
    for (const bw_migration_t *m = list; m->name && rc == 0; m++) {
        if (applied(done, m->version))
            continue;
        /* Multi-statement file: simple query protocol, no parameters. */
        PGresult *r = PQexec(bw_db_conn(db), m->sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
            bw_log(BW_ERROR, "migration failed", "component", BW_S(component), "file",
                   BW_S(m->name), "pg_error", BW_S(PQresultErrorMessage(r)), NULL);
            PQclear(r);
            rc = BW_EDB;
            break;
        }
        PQclear(r);
        char ver[16];
        snprintf(ver, sizeof ver, "%d", m->version);
        const char *rp[3] = {component, ver, m->name};
        if (bw_db_exec(db, SQL_RECORD, 3, rp) < 0) {
            rc = BW_EDB;
            break;
        }
        bw_log(BW_INFO, "migration applied", "component", BW_S(component), "file",
               BW_S(m->name), NULL);
        if (m->version > current)
            current = m->version;
    }
    PQclear(done);
    *out = current;
    return rc;
}

int bw_migrate(bw_db_t *db, const char *component, const bw_migration_t *list, int *version)
{
    int common_ver = 0, ver = 0;
    const char *schema = bw_db_schema(db);
    if (bw_db_begin(db) < 0)
        return BW_EDB;
    if (bw_db_exec(db, SQL_LOCK, 1, &schema) < 0 || bw_db_exec(db, SQL_TABLE, 0, NULL) < 0 ||
        apply_list(db, "common", bw_migrations_common, &common_ver) < 0 ||
        (list && apply_list(db, component, list, &ver) < 0)) {
        bw_log(BW_ERROR, "could not migrate schema", "schema", BW_S(schema), "pg_error",
               BW_S(bw_db_error(db)), NULL);
        bw_db_rollback(db);
        return BW_EDB;
    }
    if (bw_db_commit(db) < 0)
        return BW_EDB;
    if (version)
        *version = ver;
    return 0;
}
