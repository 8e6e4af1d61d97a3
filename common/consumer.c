/* Stream consumer over a DEALER socket. One fetch is in flight at a time; a
 * reply whose request id is not the current one is a late answer to a fetch
 * that timed out (or a prefetch whose batch failed), and is dropped. The
 * next batch is fetched while the current one is applied (prefetch), so
 * the producer reads it while this side writes. ZMQ_IMMEDIATE keeps fetches from queueing
 * towards a producer that is down: the send fails and is retried. */
#include "consumer.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "stream_server.h"
#include "zsec.h"
#include "zwatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

/* A scanned place with nothing to apply is stored at most this often. */
#define STORE_EVERY_MS 1000

struct bw_consumer {
    struct ev_loop *loop;
    void *sock;
    bw_zwatch_t watch;
    ev_timer timer;
    bw_db_t *db;
    char producer[32];
    char name[160];
    char spec[64];
    bw_partset_t parts;
    unsigned batch_max, wait_ms;
    bw_consumer_apply_fn apply;
    void *arg;
    char **types; /* the caller's, NULL-terminated; NULL: every type */
    size_t ntypes;
    long long cursor;      /* stored: applied everything wanted up to here */
    char cursor_event[40]; /* the event id at cursor ("" unknown) */
    long long pos;         /* fetched from here: cursor, or a scanned place past it */
    char pos_event[40];
    int64_t stored_ms;     /* when the cursor was last stored */
    long long head;
    bool cursor_loaded;
    bool inflight;
    uint64_t req_id;
    int64_t last_ok_ms;
    int64_t sent_ms; /* when the fetch in flight went out */
    int failures;
    bw_arena_t *arena;
    char owner[96];    /* lease owner; "" without leases */
    unsigned ttl_s;
    bool adopted;
    bool holding;      /* holds the lease */
    bool stopped;      /* lost or handed back: does nothing more */
    bool give_back;    /* hand the lease back after this batch */
    ev_timer renew;
};

static const char SQL_CURSOR_GET[] =
    "SELECT last_seq, last_event_id FROM stream_cursors WHERE producer = $1 AND partitions = $2";
static const char SQL_CURSOR_PUT[] =
    "INSERT INTO stream_cursors (producer, partitions, last_seq, last_event_id, updated_at)"
    " VALUES ($1, $2, $3, $4, now()) ON CONFLICT (producer, partitions)"
    " DO UPDATE SET last_seq = EXCLUDED.last_seq, last_event_id = EXCLUDED.last_event_id,"
    " updated_at = now()";

static const char SQL_LEASE_TAKE[] =
    "INSERT INTO stream_leases AS l (producer, partitions, owner, expires_at)"
    " VALUES ($1, $2, $3, now() + make_interval(secs => $4::int))"
    " ON CONFLICT (producer, partitions) DO UPDATE SET owner = EXCLUDED.owner,"
    " expires_at = EXCLUDED.expires_at, wanted_by = NULL"
    " WHERE l.owner = EXCLUDED.owner OR (l.expires_at < now() AND (l.wanted_by IS NULL"
    " OR l.wanted_by = EXCLUDED.owner OR l.expires_at < now() - make_interval(secs => 3 * $4::int)))"
    " RETURNING owner";
static const char SQL_LEASE_WANT[] =
    "UPDATE stream_leases SET wanted_by = $3 WHERE producer = $1 AND partitions = $2"
    " AND owner <> $3";
/* Renewal doubles as the fence: no row means someone else owns it now. */
static const char SQL_LEASE_RENEW[] =
    "UPDATE stream_leases SET expires_at = now() + make_interval(secs => $4::int)"
    " WHERE producer = $1 AND partitions = $2 AND owner = $3 RETURNING coalesce(wanted_by, '')";
/* Letting go is expiring at once, so the next holder need not wait. */
static const char SQL_LEASE_DROP[] =
    "UPDATE stream_leases SET expires_at = now() - interval '1 second'"
    " WHERE producer = $1 AND partitions = $2 AND owner = $3";

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void arm(bw_consumer_t *c, double seconds)
{
    ev_timer_stop(c->loop, &c->timer);
    ev_timer_set(&c->timer, seconds, 0.);
    ev_timer_start(c->loop, &c->timer);
}

static int load_cursor(bw_consumer_t *c)
{
    const char *p[2] = {c->producer, c->spec};
    PGresult *res = bw_db_query(c->db, SQL_CURSOR_GET, 2, p);
    if (!res)
        return BW_EDB;
    c->cursor = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    snprintf(c->cursor_event, sizeof c->cursor_event, "%s", PQntuples(res) ? PQgetvalue(res, 0, 1) : "");
    PQclear(res);
    c->pos = c->cursor;
    memcpy(c->pos_event, c->cursor_event, sizeof c->pos_event);
    c->cursor_loaded = true;
    return 0;
}

static void stop(bw_consumer_t *c, const char *why)
{
    c->stopped = true;
    c->holding = false;
    ev_timer_stop(c->loop, &c->timer);
    ev_timer_stop(c->loop, &c->renew);
    bw_log(BW_INFO, why, "producer", BW_S(c->producer), "partitions", BW_S(c->spec), "owner",
           BW_S(c->owner), NULL);
}

/* Renews the lease (inside the batch's transaction or on its own). Returns
 * 1 when held, 0 when someone else holds it, <0 on database error. */
static int lease_renew(bw_consumer_t *c)
{
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%u", c->ttl_s);
    const char *p[4] = {c->producer, c->spec, c->owner, ttl};
    PGresult *res = bw_db_query(c->db, SQL_LEASE_RENEW, 4, p);
    if (!res)
        return BW_EDB;
    int held = PQntuples(res) == 1;
    if (held && c->adopted && *PQgetvalue(res, 0, 0) && strcmp(PQgetvalue(res, 0, 0), c->owner))
        c->give_back = true;
    PQclear(res);
    return held;
}

static void lease_give_back(bw_consumer_t *c)
{
    const char *p[3] = {c->producer, c->spec, c->owner};
    bw_db_exec(c->db, SQL_LEASE_DROP, 3, p);
    stop(c, "partitions handed back");
}

/* Takes the lease; 1 when held, 0 when another live worker holds it. */
static int lease_take(bw_consumer_t *c)
{
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%u", c->ttl_s);
    const char *p[4] = {c->producer, c->spec, c->owner, ttl};
    PGresult *res = bw_db_query(c->db, SQL_LEASE_TAKE, 4, p);
    if (!res)
        return BW_EDB;
    int held = PQntuples(res) == 1;
    PQclear(res);
    if (!held && !c->adopted)
        bw_db_exec(c->db, SQL_LEASE_WANT, 3, p); /* ask the adopter to hand it back */
    if (held) {
        bw_log(BW_INFO, c->adopted ? "partitions adopted" : "partitions leased", "producer",
               BW_S(c->producer), "partitions", BW_S(c->spec), "owner", BW_S(c->owner), NULL);
        c->cursor_loaded = false; /* the previous holder moved it */
        ev_timer_again(c->loop, &c->renew);
    }
    return held;
}

static void renew_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    bw_consumer_t *c = (bw_consumer_t *)((char *)t - offsetof(bw_consumer_t, renew));
    if (!c->holding || c->stopped || bw_db_in_tx(c->db))
        return;
    int held = lease_renew(c);
    if (held == 0)
        stop(c, "partition lease lost");
    else if (held > 0 && c->give_back && !c->inflight)
        lease_give_back(c);
}

static void fetch_after(bw_consumer_t *c, long long after, const char *after_event, bool prefetch);

static void send_fetch(bw_consumer_t *c)
{
    if (c->stopped)
        return;
    if (c->owner[0] && !c->holding) {
        int held = lease_take(c);
        if (held <= 0) {
            if (c->adopted && held == 0) {
                stop(c, "partitions taken by another worker");
                return;
            }
            arm(c, 1.0);
            return;
        }
        c->holding = true;
    }
    if (c->give_back) {
        lease_give_back(c);
        return;
    }
    if (!c->cursor_loaded && load_cursor(c) < 0) {
        arm(c, 1.0);
        return;
    }
    /* Past the stored cursor only the stored cursor is acked. */
    fetch_after(c, c->pos, c->pos_event, c->pos > c->cursor);
}

/* Sends one fetch for the events after `after` (whose id is after_event).
 * With prefetch `after` is past the stored cursor (the batch up to it is
 * still being applied, or it was scanned and not yet stored). */
static void fetch_after(bw_consumer_t *c, long long after, const char *after_event, bool prefetch)
{
    Billow__Fetch f = BILLOW__FETCH__INIT;
    f.request_id = ++c->req_id;
    f.consumer = c->name;
    f.after_seq = after;
    f.after_event_id = (char *)after_event;
    f.prefetch = prefetch;
    f.committed_seq = c->cursor;
    f.max = c->batch_max;
    f.wait_ms = c->wait_ms;
    f.partition_count = c->parts.count;
    f.n_partitions = c->parts.n;
    f.partitions = c->parts.parts;
    f.n_types = c->ntypes;
    f.types = c->types;
    uint8_t buf[16384];
    size_t len = billow__fetch__get_packed_size(&f);
    if (len > sizeof buf) {
        /* Cannot happen with the limits checked in bw_consumer_new; if it
         * did, say so and try again rather than stop without a word. */
        bw_log(BW_ERROR, "fetch too large to send", "producer", BW_S(c->producer), NULL);
        arm(c, 5.0);
        return;
    }
    billow__fetch__pack(&f, buf);
    if (zmq_send(c->sock, buf, len, ZMQ_DONTWAIT) < 0) {
        /* No producer connected (ZMQ_IMMEDIATE): try again shortly. */
        c->inflight = false;
        arm(c, 0.25);
        return;
    }
    c->inflight = true;
    c->sent_ms = mono_ms();
    arm(c, c->wait_ms / 1000.0 + 5.0);
}

/* Applies the batch's events (none: only moves the cursor) and stores the
 * cursor at `to` in the same transaction. */
static int apply_batch(bw_consumer_t *c, Billow__Batch *b, long long to, const char *to_event)
{
    if (bw_db_begin(c->db) < 0)
        return BW_EUNAVAIL;
    if (c->owner[0]) {
        int held = lease_renew(c);
        if (held <= 0) {
            bw_db_rollback(c->db);
            if (held == 0)
                stop(c, "partition lease lost: batch not applied");
            return held < 0 ? held : BW_ECONFLICT;
        }
    }
    int rc = b->n_events ? c->apply(c->arg, c->db, b->events, b->n_events, c->arena) : 0;
    if (rc == 0) {
        char seq[32];
        snprintf(seq, sizeof seq, "%lld", to);
        const char *p[4] = {c->producer, c->spec, seq, to_event};
        rc = bw_db_exec(c->db, SQL_CURSOR_PUT, 4, p);
    }
    if (rc == 0)
        rc = bw_db_commit(c->db);
    else
        bw_db_rollback(c->db);
    if (rc == 0)
        c->stored_ms = mono_ms();
    return rc;
}

/* Where the batch leaves the consumer: after its last event, or after the
 * place the producer scanned up to (a filtered fetch) when that is further.
 * An old producer sends no scanned place. A place without an event id (the
 * scan met only gaps or pruned seqs) is taken too; the restore check has
 * no event to compare there until the next applied one. */
static void batch_end(const bw_consumer_t *c, const Billow__Batch *b, long long *to, char *to_event,
                      size_t len)
{
    *to = c->pos;
    snprintf(to_event, len, "%s", c->pos_event);
    if (b->n_events) {
        const Billow__StreamEvent *last = b->events[b->n_events - 1];
        *to = last->seq;
        snprintf(to_event, len, "%s", last->event_id ? last->event_id : "");
    }
    if (b->scanned_seq > *to) {
        *to = b->scanned_seq;
        snprintf(to_event, len, "%s", b->scanned_event_id ? b->scanned_event_id : "");
    }
}

/* After an empty batch: a place scanned past the stored cursor is fetched
 * from at once and stored now and then (the empty batches of a long poll
 * come at least every wait_ms), in a transaction of its own, so that a
 * restart does not scan it again and the producer may prune up to it. */
static void pass_over(bw_consumer_t *c, Billow__Batch *b, long long to, const char *to_event)
{
    if (to > c->pos) {
        c->pos = to;
        snprintf(c->pos_event, sizeof c->pos_event, "%s", to_event);
    }
    if (c->pos == c->cursor || mono_ms() - c->stored_ms < STORE_EVERY_MS)
        return;
    int rc = apply_batch(c, b, c->pos, c->pos_event);
    if (rc == 0) {
        c->cursor = c->pos;
        memcpy(c->cursor_event, c->pos_event, sizeof c->cursor_event);
    } else if (!c->stopped) {
        /* Only the stored place lags; a later empty batch tries again. */
        bw_log(BW_WARN, "could not store the stream position", "producer", BW_S(c->producer),
               "position", BW_I(c->pos), "pg_error", BW_S(bw_db_error(c->db)), NULL);
        c->stored_ms = mono_ms();
    }
}

static void recv_cb(bw_zwatch_t *w, int revents, void *arg)
{
    (void)w;
    (void)revents;
    bw_consumer_t *c = arg;
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            return;
        }
        Billow__Batch *b =
            billow__batch__unpack(bw_arena_pb(c->arena), zmq_msg_size(&msg), zmq_msg_data(&msg));
        zmq_msg_close(&msg);
        if (c->stopped) {
            if (b)
                bw_arena_reset(c->arena);
            continue; /* a late answer to a consumer that has stopped */
        }
        if (!b) {
            bw_log(BW_WARN, "malformed batch", "producer", BW_S(c->producer), NULL);
            bw_arena_reset(c->arena);
            continue;
        }
        if (b->request_id != c->req_id || !c->inflight) {
            bw_arena_reset(c->arena);
            continue; /* stale */
        }
        c->inflight = false;
        if (b->error && b->error[0]) {
            bw_log(BW_WARN, "fetch rejected", "producer", BW_S(c->producer), "error",
                   BW_S(b->error), NULL);
            bw_arena_reset(c->arena);
            arm(c, 1.0);
            continue;
        }
        c->last_ok_ms = mono_ms();
        if (b->head_seq > c->head)
            c->head = b->head_seq;
        long long last;
        char last_event[sizeof c->cursor_event];
        batch_end(c, b, &last, last_event, sizeof last_event);
        if (b->n_events == 0) {
            pass_over(c, b, last, last_event);
            bw_arena_reset(c->arena);
            if (c->stopped)
                return;
            send_fetch(c);
            continue;
        }
        /* Not while the lease is being handed back or not held: the next
         * fetch goes through send_fetch, which sees to the lease. */
        bool prefetched = false;
        if (!c->give_back && (!c->owner[0] || c->holding)) {
            fetch_after(c, last, last_event, true);
            prefetched = c->inflight;
        }
        int rc = apply_batch(c, b, last, last_event);
        bw_arena_reset(c->arena);
        if (c->stopped)
            return;
        if (rc < 0) {
            if (prefetched) {
                c->req_id++; /* its answer starts after a batch not applied */
                c->inflight = false;
            }
            /* A COMMIT whose answer was lost may have happened: the stored
             * cursor says, so read it again rather than apply twice. */
            c->cursor_loaded = false;
            c->failures++;
            double delay = c->failures < 6 ? 0.1 * (1 << c->failures) : 5.0;
            bw_log(BW_WARN, "could not apply batch", "producer", BW_S(c->producer), "after",
                   BW_I(c->cursor), "error", BW_S(bw_strerror(rc)), "pg_error",
                   BW_S(rc == BW_EDB || rc == BW_EUNAVAIL ? bw_db_error(c->db) : ""), "retry_s",
                   BW_F(delay), NULL);
            arm(c, delay);
            continue;
        }
        c->failures = 0;
        c->cursor = c->pos = last;
        memcpy(c->cursor_event, last_event, sizeof c->cursor_event);
        memcpy(c->pos_event, last_event, sizeof c->pos_event);
        if (!prefetched)
            send_fetch(c);
    }
}

static void timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    bw_consumer_t *c = (bw_consumer_t *)((char *)t - offsetof(bw_consumer_t, timer));
    /* Either a retry is due or the fetch in flight went unanswered. */
    send_fetch(c);
}

bw_consumer_t *bw_consumer_new(struct ev_loop *loop, void *zctx, bw_db_t *db,
                               const bw_consumer_opts_t *o)
{
    bw_consumer_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->loop = loop;
    c->db = db;
    snprintf(c->producer, sizeof c->producer, "%s", o->producer);
    if (o->partitions)
        c->parts = *o->partitions;
    bw_partset_format(&c->parts, c->spec, sizeof c->spec);
    snprintf(c->name, sizeof c->name, "%s[%s]", o->name, c->spec);
    c->batch_max = o->batch_max ? o->batch_max : 1000;
    c->wait_ms = o->wait_ms ? o->wait_ms : 1000;
    c->apply = o->apply;
    c->arg = o->arg;
    for (c->ntypes = 0; o->types && o->types[c->ntypes]; c->ntypes++)
        ;
    c->types = c->ntypes ? (char **)o->types : NULL;
    if (c->ntypes > BW_STREAM_MAX_TYPES) {
        bw_log(BW_ERROR, "too many event types for a stream", "producer", BW_S(o->producer), NULL);
        free(c);
        return NULL;
    }
    /* The producer refuses other names with every fetch: fail at start. */
    for (size_t i = 0; i < c->ntypes; i++) {
        if (!bw_stream_type_ok(o->types[i])) {
            bw_log(BW_ERROR, "not an event type name", "producer", BW_S(o->producer), "type",
                   BW_S(o->types[i]), NULL);
            free(c);
            return NULL;
        }
    }
    c->head = -1;
    if (o->lease_owner) {
        snprintf(c->owner, sizeof c->owner, "%s", o->lease_owner);
        c->ttl_s = o->lease_ttl_s ? o->lease_ttl_s : 10;
        c->adopted = o->adopted;
    }
    ev_init(&c->renew, renew_cb);
    c->renew.repeat = c->ttl_s ? c->ttl_s / 3.0 : 0.;
    c->arena = bw_arena_new();
    c->sock = zmq_socket(zctx, ZMQ_DEALER);
    if (!c->arena || !c->sock)
        goto fail;
    int zero = 0, one = 1;
    int64_t maxmsg = 256LL << 20;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (bw_zsec_client(c->sock) < 0 || zmq_connect(c->sock, o->endpoint) < 0) {
        bw_log(BW_ERROR, "could not connect to stream", "endpoint", BW_S(o->endpoint), NULL);
        goto fail;
    }
    if (bw_zwatch_init(&c->watch, loop, c->sock, ZMQ_POLLIN, recv_cb, c) < 0)
        goto fail;
    bw_zwatch_start(&c->watch);
    ev_init(&c->timer, timer_cb);
    arm(c, 0.0);
    return c;
fail:
    bw_consumer_destroy(&c);
    return NULL;
}

void bw_consumer_destroy(bw_consumer_t **pc)
{
    if (!pc || !*pc)
        return;
    bw_consumer_t *c = *pc;
    if (c->loop) {
        ev_timer_stop(c->loop, &c->timer);
        ev_timer_stop(c->loop, &c->renew);
    }
    if (c->holding && c->db) {
        /* A clean stop hands the partitions over at once instead of making
         * the others wait for the lease to expire. */
        const char *p[3] = {c->producer, c->spec, c->owner};
        bw_db_exec(c->db, SQL_LEASE_DROP, 3, p);
    }
    if (c->watch.loop)
        bw_zwatch_stop(&c->watch);
    if (c->sock)
        zmq_close(c->sock);
    bw_arena_destroy(&c->arena);
    free(c);
    *pc = NULL;
}

void bw_consumer_status(bw_consumer_t *c, Billow__ConsumerStatus *st)
{
    st->producer = c->producer;
    st->partitions = c->spec;
    st->cursor = c->pos;
    st->head = c->head;
    st->lag = c->head >= c->pos ? c->head - c->pos : 0;
    /* With ZMQ_IMMEDIATE a fetch only goes out over a live connection, so a
     * fetch in flight (long polling) also means connected. */
    int64_t now = mono_ms();
    st->connected = (c->last_ok_ms && now - c->last_ok_ms < c->wait_ms + 5000) ||
                    (c->inflight && now - c->sent_ms < c->wait_ms + 5000);
}

long long bw_consumer_cursor(const bw_consumer_t *c) { return c->cursor; }
bool bw_consumer_stopped(const bw_consumer_t *c) { return c->stopped; }
const char *bw_consumer_partitions(const bw_consumer_t *c) { return c->spec; }
