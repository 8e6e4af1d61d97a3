/* A PostgreSQL connection owned by one service: connects as the service's
 * own role with search_path set to its schema, reconnects with backoff when
 * the server goes away, and keeps the last error for logs and replies.
 * Transactions nest: an inner begin/commit pair is a no-op, so a request
 * handler can run inside the transaction the RPC layer opened for its
 * idempotency record. All SQL goes through PQexecParams (parameterised). */
#ifndef BW_DB_H
#define BW_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

typedef struct bw_db bw_db_t;
/* Called after every successful (re)connect, e.g. to LISTEN again. */
typedef int (*bw_db_connect_fn)(bw_db_t *db, void *arg);

/* conninfo may be a URL or key=value string; user (may be NULL) overrides
 * its user; schema becomes the search_path. Does not connect yet. */
bw_db_t *bw_db_new(const char *conninfo, const char *user, const char *schema);
/* Another handle like db (conninfo, user, schema), not connected yet: for a
 * second connection of the same service. NULL when out of memory. */
bw_db_t *bw_db_new_like(const bw_db_t *db);
void bw_db_destroy(bw_db_t **pdb);
void bw_db_on_connect(bw_db_t *db, bw_db_connect_fn fn, void *arg);

/* Connects, retrying with backoff for up to wait_ms; BW_EUNAVAIL after. */
int bw_db_connect(bw_db_t *db, int wait_ms);
/* 0 when connected; otherwise tries to reconnect unless the backoff delay
 * since the last attempt has not passed (then fails fast: BW_EUNAVAIL). */
int bw_db_ensure(bw_db_t *db);
PGconn *bw_db_conn(bw_db_t *db);
const char *bw_db_schema(const bw_db_t *db);

/* Runs a parameterised statement. Returns the result (caller PQclears) when
 * it succeeded (COMMAND_OK or TUPLES_OK), NULL on failure with the error
 * kept in bw_db_error(). Text parameters; NULL entries are SQL NULLs. */
PGresult *bw_db_query(bw_db_t *db, const char *sql, int n, const char *const *params);
/* The same, for statements whose result is not needed: 0 or BW_EDB /
 * BW_EUNAVAIL. */
int bw_db_exec(bw_db_t *db, const char *sql, int n, const char *const *params);
/* Same as bw_db_query with binary results (resultFormat 1). */
PGresult *bw_db_query_bin(bw_db_t *db, const char *sql, int n, const char *const *params);

int bw_db_begin(bw_db_t *db);
/* Commits the outermost transaction; BW_EDB when it (or an inner part that
 * called rollback) failed, in which case everything was rolled back. */
int bw_db_commit(bw_db_t *db);
void bw_db_rollback(bw_db_t *db);
bool bw_db_in_tx(const bw_db_t *db);
/* A savepoint inside the open transaction, for a statement that may fail in
 * an expected way (a unique violation) and be taken back without losing the
 * transaction: bw_db_savepoint before it; after a failure
 * bw_db_rollback_to undoes everything since the savepoint and forgets the
 * failure (one level: a second savepoint replaces the first). 0, BW_EDB,
 * or BW_EUNAVAIL when the connection is gone. */
int bw_db_savepoint(bw_db_t *db);
int bw_db_rollback_to(bw_db_t *db);

const char *bw_db_error(const bw_db_t *db);
/* The SQLSTATE of the last failure ("23505" unique violation), or "". */
const char *bw_db_sqlstate(const bw_db_t *db);
/* True when the last failure was a lost connection. */
bool bw_db_lost(const bw_db_t *db);

/* Feeds `len` bytes of COPY data after a COPY ... FROM STDIN statement was
 * started with bw_db_copy_begin; bw_db_copy_end finishes it. */
int bw_db_copy_begin(bw_db_t *db, const char *sql);
int bw_db_copy_put(bw_db_t *db, const char *data, size_t len);
int bw_db_copy_end(bw_db_t *db);
/* The three in one: runs sql (a COPY ... FROM STDIN) with data, always
 * ending the COPY so the connection stays usable. 0, BW_EDB or
 * BW_EUNAVAIL. */
int bw_db_copy(bw_db_t *db, const char *sql, const void *data, size_t len);
/* bw_db_copy in two halves, so that COPYs on several connections run at
 * once: send starts the COPY and sends all of data without waiting for the
 * server to finish; wait collects the outcome. After a successful send,
 * wait must follow before anything else runs on db. Both return 0, BW_EDB
 * or BW_EUNAVAIL (a send that failed needs no wait). */
int bw_db_copy_send(bw_db_t *db, const char *sql, const void *data, size_t len);
int bw_db_copy_wait(bw_db_t *db);

#endif
