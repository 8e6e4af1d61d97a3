/* Test consumer for the stream test: applies TestEvents from the producer's
 * stream into c_NAME.applied (one multi-row INSERT per batch), with its
 * cursor committed in the same transaction. With TYPES (comma-separated)
 * it fetches only events stored under those types.
 *   stream_consumer NAME ENDPOINT PARTITIONS [TYPES]     (BW_PG_ADMIN: database) */
#include "consumer.h"
#include "db.h"
#include "errors.h"
#include "events.h"
#include "log.h"
#include "migrate.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static const bw_migration_t migrations[] = {
    {1, "001_applied.sql",
     "CREATE TABLE applied (id bigserial PRIMARY KEY, seq bigint NOT NULL, p integer NOT NULL,"
     " pseq bigint NOT NULL, n bigint NOT NULL);"},
    {0, NULL, NULL},
};

static const char SQL_APPLY[] =
    "INSERT INTO applied (seq, p, pseq, n) SELECT * FROM"
    " unnest($1::int8[], $2::int4[], $3::int8[], $4::int8[])";

/* Appends "v," to an array literal being built in the arena buffer. */
static int apply(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                 bw_arena_t *arena)
{
    (void)arg;
    size_t cap = n * 24 + 4;
    char *a[4];
    size_t off[4] = {0};
    for (int k = 0; k < 4; k++) {
        a[k] = bw_arena_alloc(arena, cap);
        a[k][off[k]++] = '{';
    }
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        Billow__Event *ev =
            billow__event__unpack(bw_arena_pb(arena), evs[i]->payload.len, evs[i]->payload.data);
        if (!ev || ev->body_case != BILLOW__EVENT__BODY_TEST_EVENT)
            continue;
        const char *sep = used ? "," : "";
        long long v[4] = {evs[i]->seq, ev->test_event->partition, ev->test_event->partition_seq,
                          ev->test_event->n};
        for (int k = 0; k < 4; k++)
            off[k] += (size_t)snprintf(a[k] + off[k], cap - off[k], "%s%lld", sep, v[k]);
        used++;
    }
    if (!used)
        return 0;
    for (int k = 0; k < 4; k++) {
        a[k][off[k]++] = '}';
        a[k][off[k]] = '\0';
    }
    const char *p[4] = {a[0], a[1], a[2], a[3]};
    return bw_db_exec(db, SQL_APPLY, 4, p);
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
        fprintf(stderr, "usage: stream_consumer NAME ENDPOINT PARTITIONS [TYPES]\n");
        return 2;
    }
    const char *types[33] = {NULL};
    for (int n = 0; argc == 5 && n < 32 && (types[n] = strtok(n ? NULL : argv[4], ",")); n++)
        ;
    bw_log_init("consumer");
    char schema[64], err[128];
    snprintf(schema, sizeof schema, "c_%s", argv[1]);
    bw_partset_t parts;
    if (bw_partset_parse(argv[3], &parts, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    const char *conninfo = getenv("BW_PG_ADMIN");
    bw_db_t *db = bw_db_new(conninfo ? conninfo : "", NULL, schema);
    if (!db || bw_db_connect(db, 10000) < 0)
        return 1;
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE SCHEMA IF NOT EXISTS %s", schema);
    bw_db_exec(db, sql, 0, NULL);
    if (bw_migrate(db, "consumer", migrations, NULL) < 0)
        return 1;
    struct ev_loop *loop = ev_default_loop(0);
    void *zctx = zmq_ctx_new();
    bw_consumer_opts_t o = {.producer = "producer", .endpoint = argv[2], .name = argv[1],
                            .partitions = &parts, .batch_max = 500, .wait_ms = 500,
                            .apply = apply, .types = argc == 5 ? types : NULL};
    bw_consumer_t *c = bw_consumer_new(loop, zctx, db, &o);
    if (!c)
        return 1;
    ev_signal term;
    ev_signal_init(&term, sig_cb, SIGTERM);
    ev_signal_start(loop, &term);
    ev_run(loop, 0);
    ev_signal_stop(loop, &term);
    bw_consumer_destroy(&c);
    zmq_ctx_term(zctx);
    ev_loop_destroy(loop);
    bw_db_destroy(&db);
    return 0;
}
