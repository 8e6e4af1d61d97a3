/* Request/reply with idempotency keys against a real PostgreSQL: a retried
 * mutating request replays its first reply and acts once; a failed request
 * records nothing and can be retried; a key reused for another request type
 * is refused; an unreachable endpoint times out promptly. */
#include "db.h"
#include "errors.h"
#include "log.h"
#include "migrate.h"
#include "rpc.h"
#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

static const bw_migration_t migrations[] = {
    {1, "001.sql", "CREATE TABLE effects (id serial PRIMARY KEY, note text);"},
    {0, NULL, NULL},
};


typedef struct {
    struct ev_loop *loop;
    bw_db_t *db;
    ev_async stop;
} server_t;

/* Treats Status as a mutating request so the envelope can be tested before
 * any service has mutating requests of its own. */
static bool handler(void *arg, const Billow__Request *req, Billow__Reply *reply, bw_arena_t *arena)
{
    server_t *s = arg;
    if (req->operator_ && strcmp(req->operator_, "fail") == 0) {
        bw_db_exec(s->db, "INSERT INTO effects (note) VALUES ('should roll back')", 0, NULL);
        bw_reply_error(reply, BILLOW__CODE__INVALID, "told to fail", NULL);
        return false;
    }
    if (bw_db_exec(s->db, "INSERT INTO effects (note) VALUES ('x')", 0, NULL) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INTERNAL, "insert failed", bw_db_error(s->db));
        return false;
    }
    PGresult *res = bw_db_query(s->db, "SELECT count(*) FROM effects", 0, NULL);
    Billow__StatusReply *st = bw_arena_alloc(arena, sizeof *st);
    billow__status_reply__init(st);
    st->service = bw_arena_strdup(arena, res ? PQgetvalue(res, 0, 0) : "?");
    PQclear(res);
    reply->body_case = BILLOW__REPLY__BODY_STATUS;
    reply->status = st;
    return true;
}

static void stop_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *serve(void *arg)
{
    server_t *s = arg;
    ev_run(s->loop, 0);
    return NULL;
}

static Billow__Reply *call(void *z, const char *ep, const char *key, const char *op)
{
    Billow__Request req = BILLOW__REQUEST__INIT;
    Billow__StatusRequest sr = BILLOW__STATUS_REQUEST__INIT;
    req.idempotency_key = (char *)(key ? key : "");
    req.operator_ = (char *)(op ? op : "");
    req.body_case = BILLOW__REQUEST__BODY_STATUS;
    req.status = &sr;
    Billow__Reply *r = NULL;
    if (bw_rpc_call(z, ep, &req, 3000, &r) < 0)
        return NULL;
    return r;
}

static long count_effects(bw_db_t *db)
{
    PGresult *res = bw_db_query(db, "SELECT count(*) FROM effects", 0, NULL);
    long n = res ? atol(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    return n;
}

int main(void)
{
    bw_log_init("test_rpc");
    const char *conninfo = getenv("BW_PG_ADMIN");
    const char *base = getenv("BILLOW_PORT_BASE");
    if (!conninfo || !base) {
        printf("needs BW_PG_ADMIN and BILLOW_PORT_BASE\n");
        return 77;
    }
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", atoi(base) + 60);
    server_t s = {0};
    s.db = bw_db_new(conninfo, NULL, "rpctest");
    bw_db_t *check = bw_db_new(conninfo, NULL, "rpctest");
    if (bw_db_connect(s.db, 5000) < 0 || bw_db_connect(check, 5000) < 0)
        return 1;
    bw_db_exec(s.db, "CREATE SCHEMA IF NOT EXISTS rpctest", 0, NULL);
    if (bw_migrate(s.db, "rpctest", migrations, NULL) < 0)
        return 1;
    void *z = zmq_ctx_new();
    s.loop = ev_loop_new(EVFLAG_AUTO);
    bw_rpc_server_t *srv = bw_rpc_server_new(s.loop, z, ep, s.db, handler, &s);
    if (!srv)
        return 1;
    ev_async_init(&s.stop, stop_cb);
    ev_async_start(s.loop, &s.stop);
    pthread_t th;
    pthread_create(&th, NULL, serve, &s);

    Billow__Reply *r1 = call(z, ep, "key-1", NULL);
    CHECK(r1 && r1->code == BILLOW__CODE__OK && !r1->replayed, "first keyed request applied");
    Billow__Reply *r2 = call(z, ep, "key-1", NULL);
    CHECK(r2 && r2->code == BILLOW__CODE__OK && r2->replayed, "retry is replayed");
    CHECK(r1 && r2 && r1->status && r2->status &&
              strcmp(r1->status->service, r2->status->service) == 0,
          "replay returns the first reply's body");
    CHECK(count_effects(check) == 1, "one effect for two keyed calls");

    Billow__Reply *r3 = call(z, ep, NULL, NULL);
    Billow__Reply *r4 = call(z, ep, NULL, NULL);
    CHECK(r3 && r4 && !r4->replayed && count_effects(check) == 3, "unkeyed calls each act");

    Billow__Reply *r5 = call(z, ep, "key-2", "fail");
    CHECK(r5 && r5->code == BILLOW__CODE__INVALID, "failing request gets its error");
    CHECK(count_effects(check) == 3, "failed request's effects rolled back");
    Billow__Reply *r6 = call(z, ep, "key-2", NULL);
    CHECK(r6 && r6->code == BILLOW__CODE__OK && !r6->replayed && count_effects(check) == 4,
          "failed key can be retried and then acts");

    char longkey[300];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    Billow__Reply *r7 = call(z, ep, longkey, NULL);
    CHECK(r7 && r7->code == BILLOW__CODE__INVALID, "oversized idempotency key refused");

    /* A request over the frame limit is answered with an error, not left
     * waiting for the caller's timeout. */
    size_t big = BW_MAX_FRAME_DEFAULT + 1024;
    char *huge = malloc(big + 1);
    memset(huge, 'x', big);
    huge[big] = '\0';
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    Billow__Reply *r9 = call(z, ep, NULL, huge);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    free(huge);
    CHECK(r9 && r9->code == BILLOW__CODE__INVALID && r9->error && strstr(r9->error, "too large") &&
              ms < 2500,
          "oversized request answered with 'request too large'");

    /* Nobody listens here: the call must fail within its timeout. */
    Billow__Request req = BILLOW__REQUEST__INIT;
    Billow__StatusRequest sr = BILLOW__STATUS_REQUEST__INIT;
    req.body_case = BILLOW__REQUEST__BODY_STATUS;
    req.status = &sr;
    Billow__Reply *r8 = NULL;
    char dead[64];
    snprintf(dead, sizeof dead, "tcp://127.0.0.1:%d", atoi(base) + 61);
    clock_gettime(CLOCK_MONOTONIC, &a);
    int rc = bw_rpc_call(z, dead, &req, 500, &r8);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    CHECK(rc == BW_ETIMEOUT && ms < 1500, "unreachable endpoint times out promptly");

    Billow__Reply *all[] = {r1, r2, r3, r4, r5, r6, r7, r9};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i])
            billow__reply__free_unpacked(all[i], NULL);
    ev_async_send(s.loop, &s.stop);
    pthread_join(th, NULL);
    bw_rpc_server_destroy(&srv);
    ev_async_stop(s.loop, &s.stop);
    ev_loop_destroy(s.loop);
    zmq_ctx_term(z);
    bw_db_destroy(&s.db);
    bw_db_destroy(&check);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
