/* The database wrapper against a real PostgreSQL whose backend is killed
 * in the middle of a transaction: every later statement of that
 * transaction fails (none runs on a new connection outside it), commit
 * reports the connection lost, nothing of it is stored, and the next
 * transaction reconnects and works. Also savepoints: a unique violation
 * rolled back to the savepoint leaves the rest of the transaction to
 * commit. */
#include "db.h"
#include "errors.h"
#include "log.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static long count(bw_db_t *db, const char *sql)
{
    PGresult *res = bw_db_query(db, sql, 0, NULL);
    long n = res ? atol(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return n;
}

static int kill_backend(bw_db_t *admin, bw_db_t *victim)
{
    char pid[16];
    snprintf(pid, sizeof pid, "%d", PQbackendPID(bw_db_conn(victim)));
    const char *p[1] = {pid};
    PGresult *res = bw_db_query(admin, "SELECT pg_terminate_backend($1::int)", 1, p);
    int ok = res && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    usleep(200000);
    return ok ? 0 : -1;
}

int main(void)
{
    bw_log_init("test_db");
    const char *conninfo = getenv("BW_PG_ADMIN");
    if (!conninfo) {
        printf("needs BW_PG_ADMIN\n");
        return 77;
    }
    bw_db_t *db = bw_db_new(conninfo, NULL, "public");
    bw_db_t *admin = bw_db_new(conninfo, NULL, "public");
    if (bw_db_connect(db, 5000) < 0 || bw_db_connect(admin, 5000) < 0)
        return 1;
    bw_db_exec(admin, "DROP TABLE IF EXISTS public.dbtest_t", 0, NULL);
    if (bw_db_exec(admin, "CREATE TABLE public.dbtest_t (k int PRIMARY KEY)", 0, NULL) < 0)
        return 1;

    CHECK(bw_db_begin(db) == 0 && bw_db_exec(db, "INSERT INTO dbtest_t VALUES (1)", 0, NULL) == 0,
          "transaction started, one row written");
    CHECK(kill_backend(admin, db) == 0, "its backend terminated");
    int rc = bw_db_exec(db, "INSERT INTO dbtest_t VALUES (2)", 0, NULL);
    CHECK(rc == BW_EUNAVAIL, "the next statement reports the connection lost");
    rc = bw_db_exec(db, "INSERT INTO dbtest_t VALUES (3)", 0, NULL);
    CHECK(rc == BW_EUNAVAIL && bw_db_in_tx(db), "later statements fail too, still in the transaction");
    CHECK(bw_db_commit(db) == BW_EUNAVAIL && !bw_db_in_tx(db), "commit reports the loss and ends it");
    CHECK(count(admin, "SELECT count(*) FROM dbtest_t") == 0, "nothing of it was stored");

    /* Lost between transactions, then nested begin: the reconnect happens
     * before the transaction starts. */
    rc = bw_db_exec(db, "SELECT 1", 0, NULL);
    for (int i = 0; rc < 0 && i < 50; i++) { /* reconnect backoff */
        usleep(100000);
        rc = bw_db_exec(db, "SELECT 1", 0, NULL);
    }
    CHECK(rc == 0, "outside a transaction it reconnects");
    CHECK(kill_backend(admin, db) == 0, "backend terminated between transactions");
    bw_db_exec(db, "SELECT 1", 0, NULL); /* notices the loss */
    usleep(100000);
    rc = bw_db_begin(db);
    for (int i = 0; rc == BW_EUNAVAIL && i < 50; i++) { /* reconnect backoff */
        usleep(100000);
        rc = bw_db_begin(db);
    }
    CHECK(rc == 0, "next transaction reconnects");
    CHECK(bw_db_begin(db) == 0 && bw_db_exec(db, "INSERT INTO dbtest_t VALUES (10)", 0, NULL) == 0 &&
              bw_db_commit(db) == 0,
          "nested part");
    CHECK(bw_db_exec(db, "INSERT INTO dbtest_t VALUES (11)", 0, NULL) == 0 && bw_db_commit(db) == 0,
          "outer commit");
    CHECK(count(admin, "SELECT count(*) FROM dbtest_t") == 2, "both rows stored");

    /* Savepoint: an expected unique violation taken back. */
    CHECK(bw_db_begin(db) == 0 && bw_db_exec(db, "INSERT INTO dbtest_t VALUES (20)", 0, NULL) == 0 &&
              bw_db_savepoint(db) == 0,
          "savepoint taken");
    rc = bw_db_exec(db, "INSERT INTO dbtest_t VALUES (10)", 0, NULL);
    CHECK(rc == BW_EDB && strcmp(bw_db_sqlstate(db), "23505") == 0, "unique violation reported");
    CHECK(bw_db_rollback_to(db) == 0 && bw_db_exec(db, "INSERT INTO dbtest_t VALUES (21)", 0, NULL) == 0,
          "rolled back to the savepoint, the transaction goes on");
    CHECK(bw_db_commit(db) == 0, "and commits");
    CHECK(count(admin, "SELECT count(*) FROM dbtest_t WHERE k IN (20, 21)") == 2,
          "work before and after the savepoint stored");
    /* Without the savepoint the failure still fails the commit. */
    CHECK(bw_db_begin(db) == 0 && bw_db_exec(db, "INSERT INTO dbtest_t VALUES (10)", 0, NULL) == BW_EDB &&
              bw_db_commit(db) == BW_EDB,
          "a failed statement fails the commit");

    bw_db_exec(admin, "DROP TABLE public.dbtest_t", 0, NULL);
    bw_db_destroy(&db);
    bw_db_destroy(&admin);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
