/* Stream server: Fetch/Batch over ROUTER with long polling. */
#include "stream_server.h"
#include "arena.h"
#include "config.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "stream.pb-c.h"
#include "util.h"
#include "zsec.h"
#include "zwatch.h"

#include <endian.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define MAX_PARKED 4096
#define MAX_BATCH 10000
#define MAX_CONSUMERS 256
#define MAX_FETCH_FRAME 65536

typedef struct parked {
    struct parked *next;
    zmq_msg_t identity;
    Billow__Fetch *fetch;
    int64_t deadline_ms;
} parked_t;

typedef struct {
    char name[128];
    char partitions[64];
    int64_t acked;
    bool dirty;
} consumer_t;

struct bw_stream_server {
    struct ev_loop *loop;
    void *sock;
    bw_zwatch_t watch;
    bw_db_t *db;
    ev_io pg_io;
    ev_timer tick;
    parked_t *parked;
    int nparked;
    char channel[96];
    consumer_t consumers[MAX_CONSUMERS];
    int nconsumers;
    int64_t last_flush_ms, last_prune_ms, last_recheck_ms;
    long long retention_s;
    int64_t horizon; /* events up to here were pruned */
    bool horizon_known;
};

static const char SQL_FETCH[] =
    "SELECT seq, part, event_type, event_id::text, payload,"
    " (extract(epoch FROM created_at) * 1000000)::int8, caused_by FROM outbox"
    " WHERE seq > $1::int8 AND ($2::int4 <= 1 OR part % $2::int4 = ANY($3::int4[]))"
    " ORDER BY seq LIMIT $4::int4";
/* With a partition filter the planner cannot estimate how many rows match,
 * and when it guesses few it reads everything after the cursor and sorts
 * it (24 ms per fetch at 100,000 rows, growing with the outbox). Filtered
 * fetches therefore read a bounded range of seq along the primary key. */
static const char SQL_FETCH_RANGE[] =
    "SELECT seq, part, event_type, event_id::text, payload,"
    " (extract(epoch FROM created_at) * 1000000)::int8, caused_by FROM outbox"
    " WHERE seq > $1::int8 AND seq <= $5::int8 AND part % $2::int4 = ANY($3::int4[])"
    " ORDER BY seq LIMIT $4::int4";
static const char SQL_HEAD[] = "SELECT coalesce(max(seq), 0) FROM outbox";
static const char SQL_ACK[] =
    "INSERT INTO stream_consumers (consumer, partitions, acked_seq, last_seen)"
    " VALUES ($1, $2, $3, now()) ON CONFLICT (consumer) DO UPDATE"
    " SET partitions = EXCLUDED.partitions, acked_seq = EXCLUDED.acked_seq, last_seen = now()";
/* Rows are created in seq order, so the oldest come first along the primary
 * key; each pass deletes at most 50,000 rows to keep transactions short. */
static const char SQL_PRUNE[] =
    "WITH d AS (DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox"
    " WHERE seq <= (SELECT min(acked_seq) FROM stream_consumers)"
    " AND created_at < now() - make_interval(secs => $1::int8) ORDER BY seq LIMIT 50000)"
    " RETURNING seq),"
    " h AS (UPDATE stream_horizon SET pruned_upto = (SELECT max(seq) FROM d)"
    " WHERE (SELECT max(seq) FROM d) > pruned_upto)"
    " SELECT count(*), coalesce(max(seq), 0) FROM d";
static const char SQL_HORIZON[] = "SELECT pruned_upto FROM stream_horizon";
static const char SQL_REGISTERED[] =
    "SELECT consumer, partitions, acked_seq, last_seen::text,"
    " extract(epoch FROM now() - last_seen)::int8 FROM stream_consumers ORDER BY consumer";
static const char SQL_EVENT_AT[] = "SELECT event_id::text FROM outbox WHERE seq = $1::int8";
static const char SQL_FORGET[] = "DELETE FROM stream_consumers WHERE consumer = $1";

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void send_batch(bw_stream_server_t *s, zmq_msg_t *identity, Billow__Batch *b)
{
    size_t len = billow__batch__get_packed_size(b);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return;
    billow__batch__pack(b, buf);
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, identity);
    if (zmq_msg_send(&copy, s->sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(s->sock, buf, len, ZMQ_DONTWAIT) < 0)
        bw_log(BW_WARN, "could not send batch", "error", BW_S(zmq_strerror(zmq_errno())), NULL);
    zmq_msg_close(&copy);
    free(buf);
}

static void send_error(bw_stream_server_t *s, zmq_msg_t *identity, uint64_t id, const char *err)
{
    Billow__Batch b = BILLOW__BATCH__INIT;
    b.request_id = id;
    b.error = (char *)err;
    b.head_seq = -1;
    send_batch(s, identity, &b);
}

int64_t bw_stream_server_head(bw_stream_server_t *s)
{
    PGresult *res = bw_db_query(s->db, SQL_HEAD, 0, NULL);
    if (!res)
        return -1;
    int64_t head = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return head;
}

static uint64_t be64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

static uint32_t be32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return be32toh(v);
}

/* Runs the fetch; returns the number of events sent, 0 when none (nothing
 * sent unless force), <0 on database error (an error batch was sent). */
static int serve(bw_stream_server_t *s, zmq_msg_t *identity, const Billow__Fetch *f, bool force)
{
    char after[32], count[16], lim[16];
    char parts[BW_MAX_PARTITIONS * 6 + 4];
    snprintf(after, sizeof after, "%lld", (long long)f->after_seq);
    snprintf(count, sizeof count, "%u", f->partition_count);
    unsigned max = f->max == 0 ? 1000 : f->max > MAX_BATCH ? MAX_BATCH : f->max;
    snprintf(lim, sizeof lim, "%u", max);
    size_t off = 0;
    parts[off++] = '{';
    for (size_t i = 0; i < f->n_partitions; i++)
        off += (size_t)snprintf(parts + off, sizeof parts - off, "%s%u", i ? "," : "",
                                f->partitions[i]);
    parts[off++] = '}';
    parts[off] = '\0';
    PGresult *res = NULL;
    int64_t head = -1;
    if (f->partition_count <= 1) {
        const char *p[4] = {after, count, parts, lim};
        res = bw_db_query_bin(s->db, SQL_FETCH, 4, p);
    } else {
        /* Windows of about `max` matching rows each; an empty window below
         * the head is passed over (every row up to the head is committed:
         * seq order is commit order), so one fetch never answers empty
         * while matching rows exist. */
        int64_t window = (int64_t)max * f->partition_count;
        if (window > 1000000)
            window = 1000000;
        for (int64_t from = f->after_seq;;) {
            char lo[32], hi[32];
            snprintf(lo, sizeof lo, "%lld", (long long)from);
            snprintf(hi, sizeof hi, "%lld", (long long)(from + window));
            const char *p[5] = {lo, count, parts, lim, hi};
            res = bw_db_query_bin(s->db, SQL_FETCH_RANGE, 5, p);
            if (!res || PQntuples(res) > 0)
                break;
            if (head < 0 && (head = bw_stream_server_head(s)) < 0)
                break;
            if (from + window >= head)
                break;
            PQclear(res);
            res = NULL;
            from += window;
        }
    }
    if (!res) {
        bw_log(BW_WARN, "could not read outbox", "pg_error", BW_S(bw_db_error(s->db)), NULL);
        send_error(s, identity, f->request_id, "stream unavailable: database error");
        return -1;
    }
    int n = PQntuples(res);
    if (n == 0 && !force) {
        PQclear(res);
        return 0;
    }
    Billow__Batch b = BILLOW__BATCH__INIT;
    b.request_id = f->request_id;
    Billow__StreamEvent *evs = calloc((size_t)n + 1, sizeof *evs);
    Billow__StreamEvent **ptrs = calloc((size_t)n + 1, sizeof *ptrs);
    if (!evs || !ptrs) {
        free(evs);
        free(ptrs);
        PQclear(res);
        send_error(s, identity, f->request_id, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        Billow__StreamEvent *e = &evs[i];
        billow__stream_event__init(e);
        e->seq = (int64_t)be64(PQgetvalue(res, i, 0));
        e->partition = be32(PQgetvalue(res, i, 1));
        e->type = PQgetvalue(res, i, 2);
        e->event_id = PQgetvalue(res, i, 3);
        e->payload.data = (uint8_t *)PQgetvalue(res, i, 4);
        e->payload.len = (size_t)PQgetlength(res, i, 4);
        e->created_at_us = (int64_t)be64(PQgetvalue(res, i, 5));
        e->caused_by = PQgetvalue(res, i, 6);
        ptrs[i] = e;
    }
    b.events = ptrs;
    b.n_events = (size_t)n;
    b.head_seq = n ? evs[n - 1].seq : f->after_seq;
    if (head < 0)
        head = bw_stream_server_head(s);
    if (head > b.head_seq)
        b.head_seq = head;
    send_batch(s, identity, &b);
    free(evs);
    free(ptrs);
    PQclear(res);
    return n;
}

static void note_consumer(bw_stream_server_t *s, const Billow__Fetch *f)
{
    if (!f->consumer || !f->consumer[0])
        return;
    consumer_t *c = NULL;
    for (int i = 0; i < s->nconsumers; i++)
        if (strcmp(s->consumers[i].name, f->consumer) == 0)
            c = &s->consumers[i];
    if (!c) {
        if (s->nconsumers == MAX_CONSUMERS)
            return;
        c = &s->consumers[s->nconsumers++];
        snprintf(c->name, sizeof c->name, "%s", f->consumer);
    }
    bw_partset_t ps = {.count = f->partition_count, .n = 0};
    for (size_t i = 0; i < f->n_partitions && i < BW_MAX_PARTITIONS; i++)
        ps.parts[ps.n++] = f->partitions[i];
    bw_partset_format(&ps, c->partitions, sizeof c->partitions);
    /* A prefetch comes before the batch up to after_seq is committed. */
    int64_t acked = f->prefetch ? f->committed_seq : f->after_seq;
    if (c->acked != acked || !c->dirty) {
        c->acked = acked;
        c->dirty = true;
    }
}

static void flush_consumers(bw_stream_server_t *s)
{
    for (int i = 0; i < s->nconsumers; i++) {
        consumer_t *c = &s->consumers[i];
        if (!c->dirty)
            continue;
        char acked[32];
        snprintf(acked, sizeof acked, "%lld", (long long)c->acked);
        const char *p[3] = {c->name, c->partitions, acked};
        if (bw_db_exec(s->db, SQL_ACK, 3, p) == 0)
            c->dirty = false;
    }
}

static int load_horizon(bw_stream_server_t *s)
{
    PGresult *res = bw_db_query(s->db, SQL_HORIZON, 0, NULL);
    if (!res)
        return BW_EDB;
    if (PQntuples(res) == 1) {
        int64_t h = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        if (h > s->horizon)
            s->horizon = h;
        s->horizon_known = true;
    }
    PQclear(res);
    return s->horizon_known ? 0 : BW_EDB;
}

int bw_stream_server_consumers(bw_stream_server_t *s, const char *forget,
                               Billow__StreamConsumersReply *out, bw_arena_t *a)
{
    if (forget && *forget) {
        flush_consumers(s);
        const char *p[1] = {forget};
        PGresult *res = bw_db_query(s->db, SQL_FORGET, 1, p);
        if (!res)
            return BW_EDB;
        out->forgotten = atoi(PQcmdTuples(res)) > 0;
        PQclear(res);
        if (!out->forgotten)
            return BW_ENOTFOUND;
        /* Dropped here too, or the next flush would register it again. */
        for (int i = 0; i < s->nconsumers; i++)
            if (strcmp(s->consumers[i].name, forget) == 0) {
                s->consumers[i] = s->consumers[--s->nconsumers];
                break;
            }
        bw_log(BW_INFO, "stream consumer forgotten", "consumer", BW_S(forget), NULL);
    }
    if (!s->horizon_known && load_horizon(s) < 0)
        return BW_EDB;
    out->head = bw_stream_server_head(s);
    out->pruned_upto = s->horizon;
    PGresult *res = bw_db_query(s->db, SQL_REGISTERED, 0, NULL);
    if (out->head < 0 || !res) {
        PQclear(res);
        return BW_EDB;
    }
    int n = PQntuples(res);
    out->consumers = bw_arena_alloc(a, sizeof *out->consumers * (size_t)(n + 1));
    for (int r = 0; r < n; r++) {
        Billow__StreamRegistration *c = bw_arena_alloc(a, sizeof *c);
        billow__stream_registration__init(c);
        c->consumer = bw_arena_strdup(a, PQgetvalue(res, r, 0));
        c->partitions = bw_arena_strdup(a, PQgetvalue(res, r, 1));
        c->acked_seq = strtoll(PQgetvalue(res, r, 2), NULL, 10);
        c->behind = out->head > c->acked_seq ? out->head - c->acked_seq : 0;
        c->last_seen = bw_arena_strdup(a, PQgetvalue(res, r, 3));
        c->idle_s = strtoll(PQgetvalue(res, r, 4), NULL, 10);
        out->consumers[out->n_consumers++] = c;
    }
    PQclear(res);
    return 0;
}

/* The event the consumer last applied must still be at its cursor: if the
 * outbox has another there, or none while nothing was pruned past it, the
 * outbox is not the one the consumer read (restored from an older backup)
 * and serving would skip events. NULL when fine (or not checkable). */
static const char *check_cursor_event(bw_stream_server_t *s, const Billow__Fetch *f)
{
    if (f->after_seq <= s->horizon || !f->after_event_id || !f->after_event_id[0])
        return NULL;
    char seq[32];
    snprintf(seq, sizeof seq, "%lld", (long long)f->after_seq);
    const char *p[1] = {seq};
    PGresult *res = bw_db_query(s->db, SQL_EVENT_AT, 1, p);
    if (!res)
        return "stream unavailable: database error";
    bool same = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), f->after_event_id) == 0;
    PQclear(res);
    if (same)
        return NULL;
    bw_log(BW_ERROR, "fetch from a consumer this outbox does not match", "consumer", BW_S(f->consumer),
           "after_seq", BW_I(f->after_seq), "event_id", BW_S(f->after_event_id), NULL);
    return "the consumer's last event is not at its position in this outbox: the producer's database"
           " is older than the consumer's (restored from a backup?); restore both from one snapshot";
}

static const char *validate(const Billow__Fetch *f)
{
    if (f->after_seq < 0)
        return "after_seq must not be negative";
    if (f->prefetch && (f->committed_seq < 0 || f->committed_seq > f->after_seq))
        return "committed_seq must be between 0 and after_seq";
    if (f->partition_count > BW_MAX_PARTITIONS)
        return "partition_count must be at most 1024";
    if (f->partition_count > 1 && f->n_partitions == 0)
        return "partitions must not be empty when partition_count > 1";
    if (f->n_partitions > BW_MAX_PARTITIONS)
        return "too many partitions";
    for (size_t i = 0; i < f->n_partitions; i++)
        if (f->partition_count > 1 && f->partitions[i] >= f->partition_count)
            return "partition out of range";
    if (f->wait_ms > 60000)
        return "wait_ms must be at most 60000";
    if (f->consumer && strlen(f->consumer) >= 128)
        return "consumer name too long";
    if (f->after_event_id && strlen(f->after_event_id) >= 40)
        return "after_event_id too long";
    return NULL;
}

static void handle(bw_stream_server_t *s, zmq_msg_t *identity, const uint8_t *data, size_t len)
{
    if (len > MAX_FETCH_FRAME) {
        bw_log(BW_WARN, "fetch too large", "bytes", BW_I(len), NULL);
        send_error(s, identity, 0, "fetch too large");
        return;
    }
    Billow__Fetch *f = billow__fetch__unpack(NULL, len, data);
    if (!f) {
        bw_log(BW_WARN, "malformed fetch", "bytes", BW_I(len), NULL);
        send_error(s, identity, 0, "malformed fetch: the frame is not a billow.Fetch");
        return;
    }
    const char *err = validate(f);
    if (err) {
        bw_log(BW_WARN, "invalid fetch", "error", BW_S(err), NULL);
        send_error(s, identity, f->request_id, err);
        billow__fetch__free_unpacked(f, NULL);
        return;
    }
    if (!s->horizon_known && load_horizon(s) < 0) {
        send_error(s, identity, f->request_id, "stream unavailable: database error");
        billow__fetch__free_unpacked(f, NULL);
        return;
    }
    /* A new consumer (cursor 0) starts at the oldest event kept; one that
     * has consumed before but is behind what was pruned would miss events. */
    if (f->after_seq > 0 && f->after_seq < s->horizon) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "events after %lld were pruned up to %lld: this consumer was forgotten or its"
                 " cursor restored from an old backup; it cannot continue without losing events",
                 (long long)f->after_seq, (long long)s->horizon);
        bw_log(BW_ERROR, "fetch behind the pruned outbox", "consumer", BW_S(f->consumer),
               "after_seq", BW_I(f->after_seq), "pruned_upto", BW_I(s->horizon), NULL);
        send_error(s, identity, f->request_id, msg);
        billow__fetch__free_unpacked(f, NULL);
        return;
    }
    const char *diverged = check_cursor_event(s, f);
    if (diverged) {
        send_error(s, identity, f->request_id, diverged);
        billow__fetch__free_unpacked(f, NULL);
        return;
    }
    note_consumer(s, f);
    bool can_wait = f->wait_ms > 0 && s->nparked < MAX_PARKED;
    int n = serve(s, identity, f, !can_wait);
    if (n != 0) {
        billow__fetch__free_unpacked(f, NULL);
        return;
    }
    parked_t *pk = calloc(1, sizeof *pk);
    if (!pk) {
        serve(s, identity, f, true);
        billow__fetch__free_unpacked(f, NULL);
        return;
    }
    zmq_msg_init(&pk->identity);
    zmq_msg_copy(&pk->identity, identity);
    pk->fetch = f;
    pk->deadline_ms = mono_ms() + f->wait_ms;
    pk->next = s->parked;
    s->parked = pk;
    s->nparked++;
}

/* Re-serves parked fetches: those with events now, and expired ones (empty). */
static void serve_parked(bw_stream_server_t *s, bool recheck)
{
    int64_t now = mono_ms();
    parked_t **pp = &s->parked;
    while (*pp) {
        parked_t *pk = *pp;
        bool expired = now >= pk->deadline_ms;
        int n = (recheck || expired) ? serve(s, &pk->identity, pk->fetch, expired) : 0;
        if (n != 0 || expired) {
            *pp = pk->next;
            zmq_msg_close(&pk->identity);
            billow__fetch__free_unpacked(pk->fetch, NULL);
            free(pk);
            s->nparked--;
        } else {
            pp = &pk->next;
        }
    }
}

static void recv_cb(bw_zwatch_t *w, int revents, void *arg)
{
    (void)w;
    (void)revents;
    bw_stream_server_t *s = arg;
    for (int i = 0; i < 64; i++) {
        zmq_msg_t identity, body;
        zmq_msg_init(&identity);
        if (zmq_msg_recv(&identity, s->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&identity);
            return;
        }
        zmq_msg_init(&body);
        int frames = 1;
        if (zmq_msg_more(&identity)) {
            zmq_msg_recv(&body, s->sock, 0);
            frames++;
            for (bool more = zmq_msg_more(&body); more; frames++) {
                zmq_msg_t extra;
                zmq_msg_init(&extra);
                zmq_msg_recv(&extra, s->sock, 0);
                more = zmq_msg_more(&extra);
                zmq_msg_close(&extra);
            }
        }
        if (frames != 2) {
            bw_log(BW_WARN, "malformed fetch", "frames", BW_I(frames), NULL);
            send_error(s, &identity, 0, "malformed fetch: expected one frame");
        } else {
            handle(s, &identity, zmq_msg_data(&body), zmq_msg_size(&body));
        }
        zmq_msg_close(&body);
        zmq_msg_close(&identity);
    }
}

static bool drain_notifies(bw_stream_server_t *s)
{
    PGconn *c = bw_db_conn(s->db);
    bool any = false;
    if (!c || PQstatus(c) != CONNECTION_OK)
        return false;
    if (!PQconsumeInput(c))
        return false;
    PGnotify *n;
    while ((n = PQnotifies(c)) != NULL) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

static void pg_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    (void)loop;
    (void)revents;
    bw_stream_server_t *s = (bw_stream_server_t *)((char *)io - offsetof(bw_stream_server_t, pg_io));
    if (drain_notifies(s) && s->parked)
        serve_parked(s, true);
}

static void tick_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    bw_stream_server_t *s = (bw_stream_server_t *)((char *)t - offsetof(bw_stream_server_t, tick));
    int64_t now = mono_ms();
    if (bw_db_ensure(s->db) < 0)
        return; /* on_connect re-LISTENs once it is back */
    bool notified = drain_notifies(s);
    /* A periodic re-check covers a NOTIFY lost across a reconnect. */
    bool recheck = notified || now - s->last_recheck_ms >= 1000;
    if (recheck)
        s->last_recheck_ms = now;
    if (s->parked)
        serve_parked(s, recheck);
    if (now - s->last_flush_ms >= 1000) {
        flush_consumers(s);
        s->last_flush_ms = now;
    }
    if (now - s->last_prune_ms >= 60000) {
        char ret[32];
        snprintf(ret, sizeof ret, "%lld", s->retention_s);
        const char *p[1] = {ret};
        PGresult *res = bw_db_query(s->db, SQL_PRUNE, 1, p);
        if (res) {
            if (atoll(PQgetvalue(res, 0, 0)) > 0) {
                int64_t upto = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
                if (upto > s->horizon)
                    s->horizon = upto;
                bw_log(BW_INFO, "outbox pruned", "rows", BW_S(PQgetvalue(res, 0, 0)), "upto",
                       BW_I(upto), NULL);
            }
            PQclear(res);
        }
        s->last_prune_ms = now;
    }
}

static int listen_cb(bw_db_t *db, void *arg)
{
    bw_stream_server_t *s = arg;
    char sql[160];
    snprintf(sql, sizeof sql, "LISTEN \"%s\"", s->channel);
    if (bw_db_exec(db, sql, 0, NULL) < 0)
        return BW_EDB;
    if (ev_is_active(&s->pg_io))
        ev_io_stop(s->loop, &s->pg_io);
    ev_io_set(&s->pg_io, PQsocket(bw_db_conn(db)), EV_READ);
    ev_io_start(s->loop, &s->pg_io);
    return 0;
}

bw_stream_server_t *bw_stream_server_new(struct ev_loop *loop, void *zctx, const char *endpoint,
                                         bw_db_t *db)
{
    bw_stream_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->db = db;
    snprintf(s->channel, sizeof s->channel, "billow_outbox_%s", bw_db_schema(db));
    if (bw_env_int("BILLOW_STREAM_RETENTION_S", 7 * 86400, 0, 10LL * 365 * 86400,
                   &s->retention_s) < 0)
        goto fail;
    ev_init(&s->pg_io, pg_cb);
    s->sock = zmq_socket(zctx, ZMQ_ROUTER);
    if (!s->sock)
        goto fail;
    int linger = 0;
    int64_t maxmsg = 1 << 20;
    zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (bw_zsec_server(s->sock) < 0)
        goto fail;
    if (zmq_bind(s->sock, endpoint) < 0) {
        bw_log(BW_ERROR, "could not bind stream socket", "endpoint", BW_S(endpoint), "error",
               BW_S(zmq_strerror(zmq_errno())), NULL);
        goto fail;
    }
    bw_db_on_connect(db, listen_cb, s);
    if (bw_db_conn(db) && listen_cb(db, s) < 0)
        goto fail;
    if (bw_zwatch_init(&s->watch, loop, s->sock, ZMQ_POLLIN, recv_cb, s) < 0)
        goto fail;
    bw_zwatch_start(&s->watch);
    ev_timer_init(&s->tick, tick_cb, 0.05, 0.05);
    ev_timer_start(loop, &s->tick);
    s->last_prune_ms = mono_ms() - 55000; /* first prune soon after start */
    return s;
fail:
    bw_stream_server_destroy(&s);
    return NULL;
}

void bw_stream_server_destroy(bw_stream_server_t **ps)
{
    if (!ps || !*ps)
        return;
    bw_stream_server_t *s = *ps;
    if (s->db) {
        flush_consumers(s);
        bw_db_on_connect(s->db, NULL, NULL);
    }
    if (s->loop) {
        ev_timer_stop(s->loop, &s->tick);
        ev_io_stop(s->loop, &s->pg_io);
        if (s->watch.loop)
            bw_zwatch_stop(&s->watch);
    }
    while (s->parked) {
        parked_t *pk = s->parked;
        s->parked = pk->next;
        zmq_msg_close(&pk->identity);
        billow__fetch__free_unpacked(pk->fetch, NULL);
        free(pk);
    }
    if (s->sock)
        zmq_close(s->sock);
    free(s);
    *ps = NULL;
}
