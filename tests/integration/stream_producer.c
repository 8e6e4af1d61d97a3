/* Test producer for the stream test: emits TOTAL TestEvents over 16 logical
 * partitions at about RATE events/s, in transactions of random size, and
 * serves them on a stream socket. Progress lives in the same transactions
 * as the outbox rows, so a SIGKILLed producer resumes exactly where its
 * last commit left off. TYPE (default TestEvent) is the event type the rows
 * are stored under, for consumers that filter by type.
 *   stream_producer ENDPOINT TOTAL RATE [TYPE]     (BW_PG_ADMIN: database) */
#include "clock.h"
#include "db.h"
#include "errors.h"
#include "events.pb-c.h"
#include "log.h"
#include "migrate.h"
#include "outbox.h"
#include "stream_server.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#define LOGICAL 16

static const bw_migration_t migrations[] = {
    {1, "001_state.sql",
     "CREATE TABLE partition_state (p integer PRIMARY KEY, next_seq bigint NOT NULL);"
     "INSERT INTO partition_state SELECT g, 0 FROM generate_series(0, 15) g;"},
    {0, NULL, NULL},
};

typedef struct {
    bw_db_t *db;
    long long total, rate, emitted;
    long long next[LOGICAL];
    const char *type;
    ev_timer tick;
    unsigned seed;
} producer_t;

static int load(producer_t *p)
{
    PGresult *res = bw_db_query(p->db, "SELECT p, next_seq FROM partition_state ORDER BY p", 0, NULL);
    if (!res)
        return BW_EDB;
    p->emitted = 0;
    for (int i = 0; i < PQntuples(res) && i < LOGICAL; i++) {
        p->next[i] = atoll(PQgetvalue(res, i, 1));
        p->emitted += p->next[i];
    }
    PQclear(res);
    return 0;
}

static int emit_batch(producer_t *p, int n)
{
    bw_outbox_event_t evs[300];
    uint8_t bufs[300][64];
    char keys[300][16];
    long long next[LOGICAL];
    for (int i = 0; i < LOGICAL; i++)
        next[i] = p->next[i];
    for (int i = 0; i < n; i++) {
        int part = rand_r(&p->seed) % LOGICAL;
        Billow__TestEvent te = BILLOW__TEST_EVENT__INIT;
        Billow__Event ev = BILLOW__EVENT__INIT;
        te.n = p->emitted + i;
        te.partition = (uint32_t)part;
        te.partition_seq = next[part]++;
        ev.body_case = BILLOW__EVENT__BODY_TEST_EVENT;
        ev.test_event = &te;
        snprintf(keys[i], sizeof keys[i], "acct-%d", part);
        evs[i] = (bw_outbox_event_t){.type = p->type, .partition_key = keys[i],
                                     .payload = bufs[i], .len = billow__event__pack(&ev, bufs[i])};
    }
    if (bw_db_begin(p->db) < 0)
        return BW_EDB;
    char sql[64 * LOGICAL + 128];
    int off = snprintf(sql, sizeof sql, "UPDATE partition_state SET next_seq = CASE p");
    for (int i = 0; i < LOGICAL; i++)
        off += snprintf(sql + off, sizeof sql - (size_t)off, " WHEN %d THEN %lld", i, next[i]);
    snprintf(sql + off, sizeof sql - (size_t)off, " END");
    if (bw_db_exec(p->db, sql, 0, NULL) < 0 || bw_outbox_append(p->db, evs, (size_t)n) < 0) {
        bw_db_rollback(p->db);
        return BW_EDB;
    }
    if (bw_db_commit(p->db) < 0)
        return BW_EDB;
    for (int i = 0; i < LOGICAL; i++)
        p->next[i] = next[i];
    p->emitted += n;
    return 0;
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)revents;
    producer_t *p = t->data;
    long long quota = p->rate / 100;
    while (quota > 0 && p->emitted < p->total) {
        int n = 1 + rand_r(&p->seed) % 300;
        if (n > quota)
            n = (int)quota;
        if (n > p->total - p->emitted)
            n = (int)(p->total - p->emitted);
        if (emit_batch(p, n) < 0) {
            bw_log(BW_WARN, "emit failed", "pg_error", BW_S(bw_db_error(p->db)), NULL);
            return;
        }
        quota -= n;
    }
    if (p->emitted >= p->total) {
        bw_log(BW_INFO, "all events emitted", "total", BW_I(p->total), NULL);
        ev_timer_stop(loop, t);
    }
}

static void sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: stream_producer ENDPOINT TOTAL RATE [TYPE]\n");
        return 2;
    }
    bw_log_init("producer");
    const char *conninfo = getenv("BW_PG_ADMIN");
    producer_t p = {.total = atoll(argv[2]), .rate = atoll(argv[3]), .seed = (unsigned)getpid(),
                    .type = argc == 5 ? argv[4] : "TestEvent"};
    bw_db_t *sdb = NULL;
    bw_stream_server_t *server = NULL;
    int rc = 1;
    p.db = bw_db_new(conninfo ? conninfo : "", NULL, "producer");
    sdb = bw_db_new(conninfo ? conninfo : "", NULL, "producer");
    if (!p.db || !sdb || bw_db_connect(p.db, 10000) < 0 || bw_db_connect(sdb, 10000) < 0)
        goto out;
    bw_db_exec(p.db, "CREATE SCHEMA IF NOT EXISTS producer", 0, NULL);
    if (bw_migrate(p.db, "producer", migrations, NULL) < 0 || load(&p) < 0)
        goto out;
    struct ev_loop *loop = ev_default_loop(0);
    void *zctx = zmq_ctx_new();
    server = bw_stream_server_new(loop, zctx, argv[1], sdb);
    if (!server)
        goto out_ctx;
    ev_timer_init(&p.tick, tick_cb, 0.01, 0.01);
    p.tick.data = &p;
    ev_timer_start(loop, &p.tick);
    ev_signal term, intr;
    ev_signal_init(&term, sig_cb, SIGTERM);
    ev_signal_init(&intr, sig_cb, SIGINT);
    ev_signal_start(loop, &term);
    ev_signal_start(loop, &intr);
    bw_log(BW_INFO, "producing", "from", BW_I(p.emitted), "total", BW_I(p.total), NULL);
    ev_run(loop, 0);
    ev_timer_stop(loop, &p.tick);
    ev_signal_stop(loop, &term);
    ev_signal_stop(loop, &intr);
    rc = 0;
    bw_stream_server_destroy(&server);
out_ctx:
    zmq_ctx_term(zctx);
    ev_loop_destroy(loop);
out:
    bw_db_destroy(&sdb);
    bw_db_destroy(&p.db);
    return rc;
}
