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
/* A filtered fetch reads windows of seq; an empty one doubles the next, up
 * to MAX_WINDOW. One with types looks at no more than SCAN_BUDGET seqs
 * before answering with how far it got, so a long run of events the
 * consumer does not want neither holds the loop for long nor is read
 * twice. (A consumer that sends no types may predate scanned_seq and would
 * ask for the same seqs again: its fetch scans up to the head.) */
#define MAX_WINDOW 1000000
/* Windows double from a batch's size, so the longest one a typed fetch
 * reads on the loop stays near 131,072 seqs; a longer run of unwanted
 * events costs a few more round trips. */
#define SCAN_BUDGET 200000

/* A place in the outbox: a seq and the id of the event there. */
typedef struct {
    int64_t seq;
    char event_id[40];
} position_t;

typedef struct parked {
    struct parked *next;
    zmq_msg_t identity;
    Billow__Fetch *fetch;
    int64_t from; /* the fetch's after_seq, or how far its scans got */
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
/* With a partition or type filter the planner cannot estimate how many
 * rows match, and when it guesses few it reads everything after the cursor
 * and sorts it (24 ms per fetch at 100,000 rows, growing with the outbox).
 * Filtered fetches therefore read a bounded range of seq along the primary
 * key. */
static const char SQL_FETCH_RANGE[] =
    "SELECT seq, part, event_type, event_id::text, payload,"
    " (extract(epoch FROM created_at) * 1000000)::int8, caused_by FROM outbox"
    " WHERE seq > $1::int8 AND seq <= $5::int8"
    " AND ($2::int4 <= 1 OR part % $2::int4 = ANY($3::int4[]))"
    " AND (cardinality($6::text[]) = 0 OR event_type = ANY($6::text[]))"
    " ORDER BY seq LIMIT $4::int4";
/* The event a scan that ended at $1 stopped at (seq may have gaps). */
static const char SQL_LAST_UPTO[] =
    "SELECT seq, event_id::text FROM outbox WHERE seq <= $1::int8 ORDER BY seq DESC LIMIT 1";
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

static bool filtered(const Billow__Fetch *f)
{
    return f->partition_count > 1 || f->n_types > 0;
}

/* The query parameters a fetch's filter gives ($2, $3, $4, $6). */
typedef struct {
    char count[16], lim[16];
    char parts[BW_MAX_PARTITIONS * 6 + 4];
    char types[BW_STREAM_MAX_TYPES * (BW_STREAM_TYPE_LEN + 3) + 4];
    unsigned max;
} filter_params_t;

static void filter_params(const Billow__Fetch *f, filter_params_t *fp)
{
    fp->max = f->max == 0 ? 1000 : f->max > MAX_BATCH ? MAX_BATCH : f->max;
    snprintf(fp->count, sizeof fp->count, "%u", f->partition_count);
    snprintf(fp->lim, sizeof fp->lim, "%u", fp->max);
    size_t off = 0;
    fp->parts[off++] = '{';
    for (size_t i = 0; i < f->n_partitions; i++)
        off += (size_t)snprintf(fp->parts + off, sizeof fp->parts - off, "%s%u", i ? "," : "",
                                f->partitions[i]);
    fp->parts[off++] = '}';
    fp->parts[off] = '\0';
    /* validate() let through only names of letters, digits and '_'. */
    off = 0;
    fp->types[off++] = '{';
    for (size_t i = 0; i < f->n_types; i++)
        off += (size_t)snprintf(fp->types + off, sizeof fp->types - off, "%s\"%s\"", i ? "," : "",
                                f->types[i]); /* quoted: a type named NULL is not SQL's NULL */
    fp->types[off++] = '}';
    fp->types[off] = '\0';
}

/* Reads the events after `from` that pass the filter, window by window,
 * up to the head read before: seq order is commit order, so every row up
 * to it is committed and a window below it without a match is passed over
 * for good. Sets *res to the first window's rows that has any (NULL when
 * none up to the head or the scan budget) and *upto to the seq up to which
 * every row was looked at. <0 on database error. */
static int scan(bw_stream_server_t *s, const Billow__Fetch *f, const filter_params_t *fp,
                int64_t from, int64_t head, PGresult **res, int64_t *upto)
{
    *res = NULL;
    *upto = from;
    /* About a batch of matches per window when the filter is partitions. */
    int64_t window = (int64_t)fp->max * (f->partition_count > 1 ? f->partition_count : 1);
    int64_t budget = f->n_types > 0 ? SCAN_BUDGET : INT64_MAX;
    for (int64_t lo = from; lo < head && lo - from < budget;) {
        int64_t hi = lo + (window < MAX_WINDOW ? window : MAX_WINDOW);
        if (hi > head)
            hi = head;
        char l[32], h[32];
        snprintf(l, sizeof l, "%lld", (long long)lo);
        snprintf(h, sizeof h, "%lld", (long long)hi);
        const char *p[6] = {l, fp->count, fp->parts, fp->lim, h, fp->types};
        PGresult *r = bw_db_query_bin(s->db, SQL_FETCH_RANGE, 6, p);
        if (!r)
            return BW_EDB;
        int n = PQntuples(r);
        if (n > 0) {
            /* A full batch may have stopped short of the window's end. */
            *upto = n == (int)fp->max ? (int64_t)be64(PQgetvalue(r, n - 1, 0)) : hi;
            *res = r;
            return 0;
        }
        PQclear(r);
        *upto = lo = hi;
        if (window < MAX_WINDOW)
            window *= 2;
    }
    return 0;
}

/* The last event at or before upto, when it is after `after`: the place a
 * scan reached (seq has gaps from rolled-back writers). With no event in
 * (after, upto] (a run of gaps, or the horizon) the place is upto itself,
 * without an event id: the consumer must still move past what was looked
 * at, or it would ask for the same empty range again. */
static int locate(bw_stream_server_t *s, int64_t upto, int64_t after, position_t *pos)
{
    char u[32];
    snprintf(u, sizeof u, "%lld", (long long)upto);
    const char *p[1] = {u};
    PGresult *res = bw_db_query(s->db, SQL_LAST_UPTO, 1, p);
    if (!res)
        return BW_EDB;
    if (PQntuples(res) == 1 && strtoll(PQgetvalue(res, 0, 0), NULL, 10) > after) {
        pos->seq = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        snprintf(pos->event_id, sizeof pos->event_id, "%s", PQgetvalue(res, 0, 1));
    } else if (upto > after) {
        pos->seq = upto;
        pos->event_id[0] = '\0';
    }
    PQclear(res);
    return 0;
}

/* Runs the fetch from *from (its after_seq, or where its earlier scans got
 * while parked; moved on as this one scans). *head is the outbox's head,
 * read here when <0 and kept for the other fetches served in the same
 * pass. Returns the number of events sent, 1 for an empty batch sent to
 * report how far a scan got, 0 when nothing was sent (never when force),
 * <0 on database error (an error batch was sent). */
static int serve(bw_stream_server_t *s, zmq_msg_t *identity, const Billow__Fetch *f,
                 int64_t *from, bool force, int64_t *head)
{
    filter_params_t fp;
    filter_params(f, &fp);
    PGresult *res = NULL;
    int64_t upto = *from;
    int rc = 0;
    if (!filtered(f)) {
        char after[32];
        snprintf(after, sizeof after, "%lld", (long long)*from);
        const char *p[4] = {after, fp.count, fp.parts, fp.lim};
        res = bw_db_query_bin(s->db, SQL_FETCH, 4, p);
        rc = res ? 0 : BW_EDB;
    } else {
        /* Nothing is left at or below the horizon: a new consumer (cursor
         * 0) of a long-pruned outbox would otherwise spend its scan budget
         * on pruned seqs, find no event to report and ask again for ever. */
        if (s->horizon_known && *from < s->horizon)
            *from = upto = s->horizon;
        if (*head < 0 && (*head = bw_stream_server_head(s)) < 0)
            rc = BW_EDB;
        else
            rc = scan(s, f, &fp, *from, *head, &res, &upto);
    }
    int n = res ? PQntuples(res) : 0;
    if (rc == 0 && n == 0) {
        bool ran_out = upto > *from && upto < *head;
        *from = upto;
        /* A scan that ran out of budget below the head reports its place. */
        if (!force && !ran_out)
            return 0;
    }
    /* How far this fetch got: its last event or, with none, the place its
     * scans reached. (Past a last event the next fetch reads again at most
     * the rest of one window: cheaper than looking up the place each time.) */
    position_t reached = {.seq = f->after_seq};
    if (rc == 0 && n > 0) {
        reached.seq = (int64_t)be64(PQgetvalue(res, n - 1, 0));
        snprintf(reached.event_id, sizeof reached.event_id, "%s", PQgetvalue(res, n - 1, 3));
    } else if (rc == 0 && upto > reached.seq) {
        rc = locate(s, upto, reached.seq, &reached);
    }
    if (rc < 0) {
        PQclear(res);
        bw_log(BW_WARN, "could not read outbox", "pg_error", BW_S(bw_db_error(s->db)), NULL);
        send_error(s, identity, f->request_id, "stream unavailable: database error");
        return -1;
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
    if (filtered(f) && reached.seq > f->after_seq) {
        b.scanned_seq = reached.seq;
        b.scanned_event_id = reached.event_id;
    }
    b.head_seq = reached.seq;
    if (*head < 0)
        *head = bw_stream_server_head(s);
    if (*head > b.head_seq)
        b.head_seq = *head;
    send_batch(s, identity, &b);
    free(evs);
    free(ptrs);
    PQclear(res);
    return n > 0 ? n : 1;
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
    if (f->n_types > BW_STREAM_MAX_TYPES)
        return "too many types (at most 32)";
    for (size_t i = 0; i < f->n_types; i++)
        if (!bw_stream_type_ok(f->types[i]))
            return "a type must be an event type name (letters, digits, '_'; under 64)";
    return NULL;
}

bool bw_stream_type_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;
    return len > 0 && len < BW_STREAM_TYPE_LEN &&
           strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == len;
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
    int64_t from = f->after_seq, head = -1;
    int n = serve(s, identity, f, &from, !can_wait, &head);
    if (n != 0) {
        billow__fetch__free_unpacked(f, NULL);
        return;
    }
    parked_t *pk = calloc(1, sizeof *pk);
    if (!pk) {
        serve(s, identity, f, &from, true, &head);
        billow__fetch__free_unpacked(f, NULL);
        return;
    }
    zmq_msg_init(&pk->identity);
    zmq_msg_copy(&pk->identity, identity);
    pk->fetch = f;
    pk->from = from;
    pk->deadline_ms = mono_ms() + f->wait_ms;
    pk->next = s->parked;
    s->parked = pk;
    s->nparked++;
}

/* Re-serves parked fetches: those with events now, and expired ones (empty). */
static void serve_parked(bw_stream_server_t *s, bool recheck)
{
    int64_t now = mono_ms(), head = -1;
    parked_t **pp = &s->parked;
    while (*pp) {
        parked_t *pk = *pp;
        bool expired = now >= pk->deadline_ms;
        int n = (recheck || expired)
                    ? serve(s, &pk->identity, pk->fetch, &pk->from, expired, &head)
                    : 0;
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
