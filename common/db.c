/* libpq wrapper with reconnect, nesting transactions and error capture. */
#include "db.h"
#include "clock.h"
#include "errors.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct bw_db {
    PGconn *conn;
    char *conninfo, *user, *schema;
    int depth;       /* transaction nesting */
    bool failed;     /* an inner part rolled back */
    bool sp_failed;  /* failed when the savepoint was taken */
    bool tx_lost;    /* the connection broke inside the open transaction */
    char error[512];
    char sqlstate[6];
    bool lost;
    int64_t next_try_us; /* monotonic-ish backoff deadline */
    int backoff_ms;
    bw_db_connect_fn on_connect;
    void *on_connect_arg;
    int copy_rc; /* how sending the data of a COPY went, until its wait */
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bw_db_t *bw_db_new(const char *conninfo, const char *user, const char *schema)
{
    bw_db_t *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->conninfo = strdup(conninfo);
    db->user = user ? strdup(user) : NULL;
    db->schema = strdup(schema);
    db->backoff_ms = 100;
    if (!db->conninfo || !db->schema || (user && !db->user))
        bw_db_destroy(&db);
    return db;
}

bw_db_t *bw_db_new_like(const bw_db_t *db)
{
    return bw_db_new(db->conninfo, db->user, db->schema);
}

void bw_db_destroy(bw_db_t **pdb)
{
    if (!pdb || !*pdb)
        return;
    bw_db_t *db = *pdb;
    if (db->conn)
        PQfinish(db->conn);
    free(db->conninfo);
    free(db->user);
    free(db->schema);
    free(db);
    *pdb = NULL;
}

void bw_db_on_connect(bw_db_t *db, bw_db_connect_fn fn, void *arg)
{
    db->on_connect = fn;
    db->on_connect_arg = arg;
}

static void set_error(bw_db_t *db, const char *msg, const PGresult *res)
{
    snprintf(db->error, sizeof db->error, "%s", msg ? msg : "");
    size_t n = strlen(db->error);
    while (n && (db->error[n - 1] == '\n' || db->error[n - 1] == ' '))
        db->error[--n] = '\0';
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", st ? st : "");
    db->lost = db->conn == NULL || PQstatus(db->conn) == CONNECTION_BAD;
    if (db->lost && db->depth > 0)
        db->tx_lost = true;
}

static void quiet_notice(void *arg, const char *msg)
{
    (void)arg;
    bw_log(BW_DEBUG, "postgresql notice", "notice", BW_S(msg), NULL);
}

static int try_connect(bw_db_t *db)
{
    if (db->conn) {
        PQfinish(db->conn);
        db->conn = NULL;
    }
    /* jit=off: the services' statements are short, and the planner's cost
     * estimates for the batch lookups (unnest of 1,000 keys joined to a
     * big table) cross jit_above_cost, so a JIT compile (about as long as
     * the query itself) was paid on most month-end batches. */
    char options[128];
    snprintf(options, sizeof options, "-c search_path=%s -c jit=off", db->schema);
    char appname[64];
    snprintf(appname, sizeof appname, "billow-%s", db->schema);
    const char *keys[6], *vals[6];
    int k = 0;
    keys[k] = "dbname", vals[k++] = db->conninfo;
    if (db->user)
        keys[k] = "user", vals[k++] = db->user;
    keys[k] = "options", vals[k++] = options;
    keys[k] = "application_name", vals[k++] = appname;
    keys[k] = "connect_timeout", vals[k++] = "5";
    keys[k] = NULL, vals[k] = NULL;
    db->conn = PQconnectdbParams(keys, vals, 1);
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
        set_error(db, db->conn ? PQerrorMessage(db->conn) : "out of memory", NULL);
        db->lost = true;
        return BW_EUNAVAIL;
    }
    /* Server notices (e.g. "already exists, skipping") are not our log format. */
    PQsetNoticeProcessor(db->conn, quiet_notice, NULL);
    db->depth = 0;
    db->failed = false;
    db->lost = false;
    db->backoff_ms = 100;
    if (db->on_connect && db->on_connect(db, db->on_connect_arg) < 0)
        return BW_EUNAVAIL;
    return 0;
}

int bw_db_connect(bw_db_t *db, int wait_ms)
{
    int64_t deadline = mono_us() + (int64_t)wait_ms * 1000;
    int delay = 100;
    for (;;) {
        if (try_connect(db) == 0)
            return 0;
        if (mono_us() + delay * 1000LL > deadline) {
            bw_log(BW_ERROR, "could not connect to database", "schema", BW_S(db->schema),
                   "pg_error", BW_S(db->error), NULL);
            return BW_EUNAVAIL;
        }
        usleep((useconds_t)delay * 1000);
        delay = delay < 2000 ? delay * 2 : 2000;
    }
}

int bw_db_ensure(bw_db_t *db)
{
    if (db->conn && PQstatus(db->conn) == CONNECTION_OK && !db->tx_lost)
        return 0;
    if (db->depth > 0) {
        /* Never reconnect inside a transaction: its work died with the
         * connection, and statements on a new one would run outside it.
         * The caller's rollback or commit ends it; then we reconnect. */
        db->tx_lost = db->failed = db->lost = true;
        snprintf(db->error, sizeof db->error, "the database connection was lost in a transaction");
        db->sqlstate[0] = '\0';
        return BW_EUNAVAIL;
    }
    int64_t now = mono_us();
    if (now < db->next_try_us)
        return BW_EUNAVAIL;
    if (try_connect(db) == 0) {
        bw_log(BW_INFO, "database reconnected", "schema", BW_S(db->schema), NULL);
        return 0;
    }
    db->next_try_us = now + db->backoff_ms * 1000LL;
    db->backoff_ms = db->backoff_ms < 5000 ? db->backoff_ms * 2 : 5000;
    bw_log(BW_WARN, "database unavailable", "schema", BW_S(db->schema), "pg_error",
           BW_S(db->error), "retry_ms", BW_I(db->backoff_ms), NULL);
    return BW_EUNAVAIL;
}

PGconn *bw_db_conn(bw_db_t *db) { return db->conn; }
const char *bw_db_schema(const bw_db_t *db) { return db->schema; }

static PGresult *query(bw_db_t *db, const char *sql, int n, const char *const *params, int fmt)
{
    if (bw_db_ensure(db) < 0)
        return NULL;
    PGresult *res = PQexecParams(db->conn, sql, n, NULL, params, NULL, NULL, fmt);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    set_error(db, res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn), res);
    if (res)
        PQclear(res);
    if (db->depth > 0)
        db->failed = true;
    return NULL;
}

PGresult *bw_db_query(bw_db_t *db, const char *sql, int n, const char *const *params)
{
    return query(db, sql, n, params, 0);
}

PGresult *bw_db_query_bin(bw_db_t *db, const char *sql, int n, const char *const *params)
{
    return query(db, sql, n, params, 1);
}

int bw_db_exec(bw_db_t *db, const char *sql, int n, const char *const *params)
{
    PGresult *res = query(db, sql, n, params, 0);
    if (!res)
        return db->lost ? BW_EUNAVAIL : BW_EDB;
    PQclear(res);
    return 0;
}

int bw_db_begin(bw_db_t *db)
{
    if (db->depth > 0) {
        db->depth++;
        return 0;
    }
    /* Connect first: a reconnect must not happen once the depth counts a
     * transaction the server does not have. */
    int rc = bw_db_ensure(db);
    if (rc < 0)
        return rc;
    db->failed = db->tx_lost = false;
    db->depth = 1;
    rc = bw_db_exec(db, "BEGIN", 0, NULL);
    if (rc < 0)
        db->depth = 0, db->failed = db->tx_lost = false;
    return rc;
}

static void end_tx(bw_db_t *db) { db->depth = 0, db->failed = db->tx_lost = false; }

int bw_db_commit(bw_db_t *db)
{
    if (db->depth == 0)
        return BW_EDB;
    if (db->depth > 1) {
        db->depth--;
        return 0;
    }
    if (db->tx_lost) {
        end_tx(db);
        return BW_EUNAVAIL;
    }
    if (db->failed) {
        PGresult *res = PQexec(db->conn, "ROLLBACK");
        PQclear(res);
        end_tx(db);
        return BW_EDB;
    }
    /* Still at depth 1, so a broken connection fails here instead of
     * reconnecting and "committing" nothing. */
    PGresult *res = query(db, "COMMIT", 0, NULL, 0);
    int rc = res ? 0 : db->lost ? BW_EUNAVAIL : BW_EDB;
    PQclear(res);
    end_tx(db);
    return rc;
}

void bw_db_rollback(bw_db_t *db)
{
    if (db->depth == 0)
        return;
    if (--db->depth > 0) {
        db->failed = true;
        return;
    }
    if (!db->tx_lost && db->conn && PQstatus(db->conn) == CONNECTION_OK) {
        PGresult *res = PQexec(db->conn, "ROLLBACK");
        PQclear(res);
    }
    end_tx(db);
}

int bw_db_savepoint(bw_db_t *db)
{
    if (db->depth == 0)
        return BW_EDB;
    db->sp_failed = db->failed;
    return bw_db_exec(db, "SAVEPOINT bw_sp", 0, NULL);
}

int bw_db_rollback_to(bw_db_t *db)
{
    if (db->depth == 0 || !db->conn)
        return BW_EDB;
    if (db->tx_lost)
        return BW_EUNAVAIL;
    PGresult *res = PQexec(db->conn, "ROLLBACK TO SAVEPOINT bw_sp");
    int rc = 0;
    if (res && PQresultStatus(res) == PGRES_COMMAND_OK) {
        db->failed = db->sp_failed;
    } else {
        set_error(db, res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn), res);
        rc = db->lost ? BW_EUNAVAIL : BW_EDB;
    }
    PQclear(res);
    return rc;
}

bool bw_db_in_tx(const bw_db_t *db) { return db->depth > 0; }
const char *bw_db_error(const bw_db_t *db) { return db->error; }
const char *bw_db_sqlstate(const bw_db_t *db) { return db->sqlstate; }
bool bw_db_lost(const bw_db_t *db) { return db->lost; }

int bw_db_copy_begin(bw_db_t *db, const char *sql)
{
    if (bw_db_ensure(db) < 0)
        return BW_EUNAVAIL;
    PGresult *res = PQexec(db->conn, sql);
    if (!res || PQresultStatus(res) != PGRES_COPY_IN) {
        set_error(db, res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn), res);
        PQclear(res);
        if (db->depth > 0)
            db->failed = true;
        return BW_EDB;
    }
    PQclear(res);
    return 0;
}

int bw_db_copy_put(bw_db_t *db, const char *data, size_t len)
{
    if (PQputCopyData(db->conn, data, (int)len) != 1) {
        set_error(db, PQerrorMessage(db->conn), NULL);
        return BW_EDB;
    }
    return 0;
}

/* Ends the data of a COPY; the server's outcome is read by copy_results. */
static int copy_put_end(bw_db_t *db)
{
    if (PQputCopyEnd(db->conn, NULL) != 1) {
        set_error(db, PQerrorMessage(db->conn), NULL);
        return BW_EDB;
    }
    return 0;
}

/* Reads a COPY's results; rc is what ending it returned. */
static int copy_results(bw_db_t *db, int rc)
{
    PGresult *res;
    while ((res = PQgetResult(db->conn)) != NULL) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            set_error(db, PQresultErrorMessage(res), res);
            rc = BW_EDB;
        }
        PQclear(res);
    }
    if (rc < 0 && db->depth > 0)
        db->failed = true;
    return rc;
}

int bw_db_copy_end(bw_db_t *db) { return copy_results(db, copy_put_end(db)); }

int bw_db_copy(bw_db_t *db, const char *sql, const void *data, size_t len)
{
    int rc = bw_db_copy_send(db, sql, data, len);
    return rc < 0 ? rc : bw_db_copy_wait(db);
}

int bw_db_copy_send(bw_db_t *db, const char *sql, const void *data, size_t len)
{
    int rc = bw_db_copy_begin(db, sql);
    if (rc < 0)
        return rc;
    int put = bw_db_copy_put(db, data, len);
    rc = copy_put_end(db);
    db->copy_rc = put < 0 ? put : rc;
    return 0;
}

int bw_db_copy_wait(bw_db_t *db)
{
    int rc = copy_results(db, db->copy_rc);
    db->copy_rc = 0;
    return rc < 0 && db->lost ? BW_EUNAVAIL : rc;
}
