/* Event stream benchmark: events/s from outbox write to consumer applied.
 * The parent writes N events through bw_outbox_append (1000 per
 * transaction) and serves them; a child process consumes them with the real
 * consumer client, applying each batch with one INSERT and committing its
 * cursor with it. The baseline is a raw COPY of the same rows, in the same
 * transactions, into a plain table: the cost of just writing them once.
 *   stream_bench [N]      (BW_PG_ADMIN: database; BILLOW_PORT_BASE: ports)
 * Prints a human line and a RESULT line of JSON for bench/run.sh. */
#include "consumer.h"
#include "copybuf.h"
#include "db.h"
#include "events.pb-c.h"
#include "log.h"
#include "migrate.h"
#include "outbox.h"
#include "stream_server.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define BATCH 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const bw_migration_t prod_mig[] = {
    {1, "001.sql",
     "CREATE TABLE baseline (part integer, event_type text, event_id uuid, payload bytea,"
     " caused_by text);"},
    {0, NULL, NULL},
};
static const bw_migration_t cons_mig[] = {
    {1, "001.sql",
     "CREATE TABLE applied (seq bigint NOT NULL, account text NOT NULL, n bigint NOT NULL);"},
    {0, NULL, NULL},
};

typedef struct {
    uint8_t payload[BATCH][96];
    char keys[BATCH][24];
    bw_outbox_event_t evs[BATCH];
} batch_t;

static void make_batch(batch_t *b, long long base)
{
    for (int i = 0; i < BATCH; i++) {
        Billow__TestEvent te = BILLOW__TEST_EVENT__INIT;
        Billow__Event ev = BILLOW__EVENT__INIT;
        te.n = base + i;
        te.note = "invoice issued for account";
        ev.body_case = BILLOW__EVENT__BODY_TEST_EVENT;
        ev.test_event = &te;
        snprintf(b->keys[i], sizeof b->keys[i], "acct-%lld", (base + i) % 100000);
        b->evs[i] = (bw_outbox_event_t){.type = "TestEvent", .partition_key = b->keys[i],
                                        .payload = b->payload[i],
                                        .len = billow__event__pack(&ev, b->payload[i])};
    }
}

/* --- consumer child ------------------------------------------------------ */
static long long target;
static bw_consumer_t *consumer;

/* Applies a batch with one COPY (the bulk path a real consumer would use). */
static int apply(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                 bw_arena_t *arena)
{
    (void)arg;
    bw_copybuf_t b;
    bw_copybuf_init(&b);
    for (size_t i = 0; i < n; i++) {
        Billow__Event *ev =
            billow__event__unpack(bw_arena_pb(arena), evs[i]->payload.len, evs[i]->payload.data);
        if (!ev || ev->body_case != BILLOW__EVENT__BODY_TEST_EVENT) {
            bw_copybuf_free(&b);
            return -1;
        }
        bw_copybuf_int(&b, evs[i]->seq);
        bw_copybuf_int(&b, evs[i]->partition);
        bw_copybuf_int(&b, ev->test_event->n);
        bw_copybuf_end(&b);
    }
    int rc = b.failed ? -1 : 0;
    if (rc == 0 && (bw_db_copy_begin(db, "COPY applied (seq, account, n) FROM STDIN") < 0 ||
                    bw_db_copy_put(db, b.data, b.len) < 0 || bw_db_copy_end(db) < 0))
        rc = -1;
    bw_copybuf_free(&b);
    return rc;
}

static void check_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t;
    (void)revents;
    if (bw_consumer_cursor(consumer) >= target)
        ev_break(loop, EVBREAK_ALL);
}

static int run_consumer(const char *conninfo, const char *ep)
{
    bw_db_t *db = bw_db_new(conninfo, NULL, "bench_consumer");
    if (bw_db_connect(db, 5000) < 0)
        return 1;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    void *z = zmq_ctx_new();
    bw_consumer_opts_t o = {.producer = "bench", .endpoint = ep, .name = "bench",
                            .batch_max = 2000, .wait_ms = 1000, .apply = apply};
    consumer = bw_consumer_new(loop, z, db, &o);
    ev_timer t;
    ev_timer_init(&t, check_cb, 0.005, 0.005);
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    ev_timer_stop(loop, &t);
    bw_consumer_destroy(&consumer);
    zmq_ctx_term(z);
    ev_loop_destroy(loop);
    bw_db_destroy(&db);
    return 0;
}

/* --- producer parent ----------------------------------------------------- */
typedef struct {
    bw_db_t *db;
    batch_t *batch;
    long long n, written;
    ev_idle idle;
    double t_written;
} producer_t;

static void produce_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    producer_t *p = w->data;
    make_batch(p->batch, p->written);
    bw_db_begin(p->db);
    if (bw_outbox_append(p->db, p->batch->evs, BATCH) < 0 || bw_db_commit(p->db) < 0) {
        fprintf(stderr, "append failed: %s\n", bw_db_error(p->db));
        exit(1);
    }
    p->written += BATCH;
    if (p->written >= p->n) {
        p->t_written = now_s();
        ev_idle_stop(loop, w);
    }
}

static void child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static double baseline(bw_db_t *db, batch_t *b, long long n)
{
    static const char hex[] = "0123456789abcdef";
    char *buf = malloc(BATCH * 320);
    double t0 = now_s();
    for (long long done = 0; done < n; done += BATCH) {
        make_batch(b, done);
        size_t len = 0;
        for (int i = 0; i < BATCH; i++) {
            char id[37];
            bw_uuid(id);
            len += (size_t)sprintf(buf + len, "%u\t%s\t%s\t\\\\x", bw_partition_of(b->keys[i]),
                                   b->evs[i].type, id);
            for (size_t k = 0; k < b->evs[i].len; k++) {
                buf[len++] = hex[b->payload[i][k] >> 4];
                buf[len++] = hex[b->payload[i][k] & 15];
            }
            buf[len++] = '\t';
            buf[len++] = '\n';
        }
        bw_db_begin(db);
        bw_db_copy_begin(db, "COPY baseline FROM STDIN");
        bw_db_copy_put(db, buf, len);
        if (bw_db_copy_end(db) < 0 || bw_db_commit(db) < 0) {
            fprintf(stderr, "baseline copy failed: %s\n", bw_db_error(db));
            exit(1);
        }
    }
    double t = now_s() - t0;
    free(buf);
    return t;
}

int main(int argc, char **argv)
{
    bw_log_init("stream_bench");
    bw_log_set_level(BW_WARN);
    long long n = argc > 1 ? atoll(argv[1]) : 200000;
    n = (n + BATCH - 1) / BATCH * BATCH;
    const char *conninfo = getenv("BW_PG_ADMIN");
    const char *base = getenv("BILLOW_PORT_BASE");
    if (!conninfo) {
        fprintf(stderr, "BW_PG_ADMIN is not set\n");
        return 2;
    }
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", (base ? atoi(base) : 21000) + 70);
    bw_db_t *db = bw_db_new(conninfo, NULL, "bench"), *sdb = bw_db_new(conninfo, NULL, "bench");
    bw_db_t *cdb = bw_db_new(conninfo, NULL, "bench_consumer");
    if (bw_db_connect(db, 5000) < 0 || bw_db_connect(sdb, 5000) < 0 || bw_db_connect(cdb, 5000) < 0)
        return 1;
    bw_db_exec(db, "DROP SCHEMA IF EXISTS bench CASCADE", 0, NULL);
    bw_db_exec(db, "DROP SCHEMA IF EXISTS bench_consumer CASCADE", 0, NULL);
    bw_db_exec(db, "CREATE SCHEMA bench", 0, NULL);
    bw_db_exec(db, "CREATE SCHEMA bench_consumer", 0, NULL);
    if (bw_migrate(db, "bench", prod_mig, NULL) < 0 || bw_migrate(cdb, "bench", cons_mig, NULL) < 0)
        return 1;
    batch_t *b = malloc(sizeof *b);
    double t_copy = baseline(db, b, n);

    target = n;
    pid_t pid = fork();
    if (pid == 0) {
        /* The parent's connections are shared sockets: closing them here
         * would end the parent's sessions, so the child leaves them alone. */
        free(b);
        _exit(run_consumer(conninfo, ep));
    }
    struct ev_loop *loop = ev_default_loop(0);
    void *z = zmq_ctx_new();
    bw_stream_server_t *srv = bw_stream_server_new(loop, z, ep, sdb);
    producer_t p = {.db = db, .batch = b, .n = n};
    ev_idle_init(&p.idle, produce_cb);
    p.idle.data = &p;
    ev_child cw;
    ev_child_init(&cw, child_cb, pid, 0);
    ev_child_start(loop, &cw);
    double t0 = now_s();
    ev_idle_start(loop, &p.idle);
    ev_run(loop, 0);
    double t_total = now_s() - t0;
    double t_write = p.t_written - t0;
    PGresult *res = bw_db_query(cdb, "SELECT count(*), count(DISTINCT n) FROM applied", 0, NULL);
    long long applied = res ? atoll(PQgetvalue(res, 0, 0)) : -1;
    long long distinct = res ? atoll(PQgetvalue(res, 0, 1)) : -1;
    PQclear(res);
    printf("stream: %lld events written in %.2fs, applied by the consumer in %.2fs: %.0f events/s;"
           " raw COPY of the same rows %.2fs (%.0f rows/s); pipeline/COPY time %.2fx; applied %lld"
           " distinct %lld\n",
           n, t_write, t_total, n / t_total, t_copy, n / t_copy, t_total / t_copy, applied,
           distinct);
    printf("RESULT {\"bench\":\"stream\",\"events\":%lld,\"seconds\":%.3f,\"events_per_s\":%.0f,"
           "\"copy_seconds\":%.3f,\"copy_rows_per_s\":%.0f,\"ratio_to_copy\":%.2f,\"ok\":%s}\n",
           n, t_total, n / t_total, t_copy, n / t_copy, t_total / t_copy,
           applied == n && distinct == n ? "true" : "false");
    ev_child_stop(loop, &cw);
    bw_stream_server_destroy(&srv);
    zmq_ctx_term(z);
    bw_db_destroy(&db);
    bw_db_destroy(&sdb);
    bw_db_destroy(&cdb);
    free(b);
    return applied == n && distinct == n ? 0 : 1;
}
