/* ROUTER request server and DEALER client. */
#include "rpc.h"
#include "config.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "zsec.h"
#include "zwatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

struct bw_rpc_server {
    void *sock;
    bw_zwatch_t watch;
    bw_db_t *db;
    bw_rpc_handler_fn handler;
    void *arg;
    bw_arena_t *arena;
    size_t max_frame;
};

static const char SQL_IDEM_GET[] = "SELECT request_type, reply FROM idempotency WHERE key = $1";
static const char SQL_IDEM_PUT[] =
    "INSERT INTO idempotency (key, request_type, reply) VALUES ($1, $2, $3::bytea)";

void bw_reply_error(Billow__Reply *reply, Billow__Code code, const char *error, const char *detail)
{
    reply->code = code;
    reply->error = (char *)(error ? error : "");
    reply->detail = (char *)(detail ? detail : "");
}

static const char *body_name(const Billow__Request *req)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&billow__request__descriptor, req->body_case);
    return f ? f->name : "none";
}

static void send_reply(bw_rpc_server_t *s, zmq_msg_t *identity, Billow__Reply *reply)
{
    size_t len = billow__reply__get_packed_size(reply);
    uint8_t *buf = bw_arena_alloc(s->arena, len ? len : 1);
    if (!buf)
        return;
    billow__reply__pack(reply, buf);
    if (zmq_msg_send(identity, s->sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(s->sock, buf, len, ZMQ_DONTWAIT) < 0)
        bw_log(BW_WARN, "could not send reply", "error", BW_S(zmq_strerror(zmq_errno())), NULL);
}

/* Looks up a stored reply; 1 when found (reply filled), 0 when not, <0. */
static int idem_lookup(bw_rpc_server_t *s, const Billow__Request *req, Billow__Reply **stored,
                       const char **stored_type)
{
    const char *p[1] = {req->idempotency_key};
    PGresult *res = bw_db_query_bin(s->db, SQL_IDEM_GET, 1, p);
    if (!res)
        return bw_db_lost(s->db) ? BW_EUNAVAIL : BW_EDB;
    int found = 0;
    if (PQntuples(res) == 1) {
        *stored_type = bw_arena_strdup(s->arena, PQgetvalue(res, 0, 0));
        *stored = billow__reply__unpack(bw_arena_pb(s->arena), (size_t)PQgetlength(res, 0, 1),
                                        (const uint8_t *)PQgetvalue(res, 0, 1));
        found = *stored ? 1 : BW_EPROTO;
    }
    PQclear(res);
    return found;
}

static int idem_store(bw_rpc_server_t *s, const Billow__Request *req, Billow__Reply *reply)
{
    size_t len = billow__reply__get_packed_size(reply);
    uint8_t *buf = bw_arena_alloc(s->arena, len ? len : 1);
    char *hex = bw_arena_alloc(s->arena, 2 * len + 3);
    if (!buf || !hex)
        return BW_ENOMEM;
    billow__reply__pack(reply, buf);
    static const char digits[] = "0123456789abcdef";
    hex[0] = '\\', hex[1] = 'x';
    for (size_t i = 0; i < len; i++) {
        hex[2 + 2 * i] = digits[buf[i] >> 4];
        hex[3 + 2 * i] = digits[buf[i] & 15];
    }
    hex[2 + 2 * len] = '\0';
    const char *p[3] = {req->idempotency_key, body_name(req), hex};
    return bw_db_exec(s->db, SQL_IDEM_PUT, 3, p);
}

static void handle(bw_rpc_server_t *s, zmq_msg_t *identity, const uint8_t *data, size_t len)
{
    Billow__Reply reply = BILLOW__REPLY__INIT;
    if (len > s->max_frame) {
        bw_log(BW_WARN, "request too large", "bytes", BW_I(len), "max", BW_I(s->max_frame), NULL);
        bw_reply_error(&reply, BILLOW__CODE__INVALID, "request too large", NULL);
        send_reply(s, identity, &reply);
        return;
    }
    Billow__Request *req = billow__request__unpack(bw_arena_pb(s->arena), len, data);
    if (!req) {
        bw_log(BW_WARN, "malformed request", "bytes", BW_I(len), NULL);
        bw_reply_error(&reply, BILLOW__CODE__INVALID, "malformed request",
                       "the frame is not a billow.Request");
        send_reply(s, identity, &reply);
        return;
    }
    reply.id = req->id;
    if (req->body_case == BILLOW__REQUEST__BODY__NOT_SET) {
        bw_log(BW_WARN, "unknown request type", "id", BW_I(req->id), NULL);
        bw_reply_error(&reply, BILLOW__CODE__UNSUPPORTED, "unknown request type",
                       "this service does not know the request's body");
        send_reply(s, identity, &reply);
        return;
    }
    bool keyed = s->db && req->idempotency_key && req->idempotency_key[0];
    if (!keyed) {
        s->handler(s->arg, req, &reply, s->arena);
        send_reply(s, identity, &reply);
        return;
    }
    if (strlen(req->idempotency_key) > 200) {
        bw_reply_error(&reply, BILLOW__CODE__INVALID, "idempotency key too long",
                       "at most 200 bytes");
        send_reply(s, identity, &reply);
        return;
    }
    if (bw_db_begin(s->db) < 0) {
        bw_reply_error(&reply, BILLOW__CODE__UNAVAILABLE, "database unavailable",
                       bw_db_error(s->db));
        send_reply(s, identity, &reply);
        return;
    }
    Billow__Reply *stored = NULL;
    const char *stored_type = NULL;
    int found = idem_lookup(s, req, &stored, &stored_type);
    if (found == 1) {
        bw_db_rollback(s->db);
        if (strcmp(stored_type, body_name(req)) != 0) {
            bw_reply_error(&reply, BILLOW__CODE__CONFLICT,
                           "idempotency key already used for another request", stored_type);
            send_reply(s, identity, &reply);
            return;
        }
        stored->id = req->id;
        stored->replayed = true;
        send_reply(s, identity, stored);
        return;
    }
    if (found < 0) {
        bw_db_rollback(s->db);
        bw_reply_error(&reply, BILLOW__CODE__UNAVAILABLE, "could not read idempotency record",
                       bw_db_error(s->db));
        send_reply(s, identity, &reply);
        return;
    }
    bool changed = s->handler(s->arg, req, &reply, s->arena);
    /* Only successful effects are recorded: a failed request changed nothing
     * and may simply be tried again. */
    if (reply.code == BILLOW__CODE__OK && changed) {
        if (idem_store(s, req, &reply) < 0 || bw_db_commit(s->db) < 0) {
            bw_db_rollback(s->db);
            Billow__Reply err = BILLOW__REPLY__INIT;
            err.id = req->id;
            bw_reply_error(&err, BILLOW__CODE__UNAVAILABLE, "could not commit",
                           bw_db_error(s->db));
            send_reply(s, identity, &err);
            return;
        }
    } else if (reply.code == BILLOW__CODE__OK) {
        if (bw_db_commit(s->db) < 0) {
            bw_reply_error(&reply, BILLOW__CODE__UNAVAILABLE, "could not commit",
                           bw_db_error(s->db));
        }
    } else {
        bw_db_rollback(s->db);
    }
    send_reply(s, identity, &reply);
}

static void recv_cb(bw_zwatch_t *w, int revents, void *arg)
{
    (void)w;
    (void)revents;
    bw_rpc_server_t *s = arg;
    /* Bounded drain: the watcher brings us back while more is queued. */
    for (int i = 0; i < 64; i++) {
        zmq_msg_t identity, body;
        zmq_msg_init(&identity);
        if (zmq_msg_recv(&identity, s->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&identity);
            return;
        }
        if (!zmq_msg_more(&identity)) { /* cannot happen on ROUTER; drop */
            zmq_msg_close(&identity);
            continue;
        }
        zmq_msg_init(&body);
        zmq_msg_recv(&body, s->sock, 0);
        int frames = 2;
        for (bool more = zmq_msg_more(&body); more; frames++) {
            zmq_msg_t extra; /* discarded; the request is rejected below */
            zmq_msg_init(&extra);
            zmq_msg_recv(&extra, s->sock, 0);
            more = zmq_msg_more(&extra);
            zmq_msg_close(&extra);
        }
        if (frames > 2) {
            Billow__Reply reply = BILLOW__REPLY__INIT;
            bw_log(BW_WARN, "malformed request", "frames", BW_I(frames), NULL);
            bw_reply_error(&reply, BILLOW__CODE__INVALID, "malformed request",
                           "expected one frame");
            send_reply(s, &identity, &reply);
        } else {
            handle(s, &identity, zmq_msg_data(&body), zmq_msg_size(&body));
        }
        zmq_msg_close(&body);
        zmq_msg_close(&identity);
        bw_arena_reset(s->arena);
    }
}

bw_rpc_server_t *bw_rpc_server_new(struct ev_loop *loop, void *zctx, const char *endpoint,
                                   bw_db_t *db, bw_rpc_handler_fn handler, void *arg)
{
    bw_rpc_server_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    long long max;
    if (bw_env_int("BILLOW_MAX_FRAME", BW_MAX_FRAME_DEFAULT, 1024, 256 * 1024 * 1024, &max) < 0)
        goto fail;
    s->max_frame = (size_t)max;
    s->db = db;
    s->handler = handler;
    s->arg = arg;
    s->arena = bw_arena_new();
    s->sock = zmq_socket(zctx, ZMQ_ROUTER);
    if (!s->arena || !s->sock)
        goto fail;
    int linger = 0;
    int64_t transport_max = (int64_t)s->max_frame * 4; /* larger: error reply; far larger: cut */
    zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s->sock, ZMQ_MAXMSGSIZE, &transport_max, sizeof transport_max);
    if (bw_zsec_server(s->sock) < 0)
        goto fail;
    if (zmq_bind(s->sock, endpoint) < 0) {
        bw_log(BW_ERROR, "could not bind api socket", "endpoint", BW_S(endpoint), "error",
               BW_S(zmq_strerror(zmq_errno())), NULL);
        goto fail;
    }
    if (bw_zwatch_init(&s->watch, loop, s->sock, ZMQ_POLLIN, recv_cb, s) < 0)
        goto fail;
    bw_zwatch_start(&s->watch);
    return s;
fail:
    bw_rpc_server_destroy(&s);
    return NULL;
}

void bw_rpc_server_destroy(bw_rpc_server_t **ps)
{
    if (!ps || !*ps)
        return;
    bw_rpc_server_t *s = *ps;
    if (s->watch.loop)
        bw_zwatch_stop(&s->watch);
    if (s->sock)
        zmq_close(s->sock);
    bw_arena_destroy(&s->arena);
    free(s);
    *ps = NULL;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int bw_rpc_call(void *zctx, const char *endpoint, Billow__Request *req, int timeout_ms,
                Billow__Reply **reply)
{
    *reply = NULL;
    void *sock = zmq_socket(zctx, ZMQ_DEALER);
    if (!sock)
        return BW_EIO;
    int rc = BW_ETIMEOUT;
    int zero = 0, one = 1;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(sock, ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms);
    uint8_t *buf = NULL;
    if (bw_zsec_client(sock) < 0 || zmq_connect(sock, endpoint) < 0) {
        rc = BW_EINVAL;
        goto out;
    }
    if (!req->id)
        req->id = (uint64_t)mono_ms() ^ ((uint64_t)rand() << 20);
    size_t len = billow__request__get_packed_size(req);
    buf = malloc(len ? len : 1);
    if (!buf) {
        rc = BW_ENOMEM;
        goto out;
    }
    billow__request__pack(req, buf);
    int64_t deadline = mono_ms() + timeout_ms;
    if (zmq_send(sock, buf, len, 0) < 0)
        goto out; /* no peer connected within the timeout */
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            goto out;
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, (long)left) <= 0)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            continue;
        }
        Billow__Reply *r = billow__reply__unpack(NULL, zmq_msg_size(&msg), zmq_msg_data(&msg));
        zmq_msg_close(&msg);
        if (!r) {
            rc = BW_EPROTO;
            goto out;
        }
        /* The socket is this call's own, so any reply answers it; id 0 is
         * the server's answer to a request it could not read (too large,
         * malformed), which it cannot echo the id of. */
        if (r->id != req->id && r->id != 0) {
            billow__reply__free_unpacked(r, NULL);
            continue;
        }
        *reply = r;
        rc = 0;
        goto out;
    }
out:
    free(buf);
    zmq_close(sock);
    return rc;
}
