/* Service runtime: wires config, db, migrations, rpc, stream server and
 * consumers into one libev loop. */
#include "service.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "stream_server.h"
#include "zsec.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_CONSUMERS 64
#define MAX_SUBS 8

/* A stream this service consumes, remembered so that adopted partitions
 * get the same apply callback. */
typedef struct {
    char producer[32];
    bw_consumer_apply_fn apply;
    void *arg;
    const char *const *types;
} sub_t;

struct bw_service {
    const bw_service_def_t *def;
    struct ev_loop *loop;
    void *zctx;
    bw_db_t *db;        /* requests and consumers */
    bw_db_t *stream_db; /* the stream server's own connection (LISTEN) */
    bw_rpc_server_t *rpc;
    bw_stream_server_t *stream;
    bw_zap_t *zap; /* checks client keys when CURVE is on with a key list */
    bw_consumer_t *consumers[MAX_CONSUMERS];
    int nconsumers;
    sub_t subs[MAX_SUBS];
    int nsubs;
    char lease_owner[96]; /* workers with partitions: host:pid */
    long long lease_ttl_s;
    ev_timer adopt;
    bool worker;
    bw_partset_t parts;
    int schema_version;
    time_t started;
    ev_signal sigterm, sigint;
    void *data;
};

bw_db_t *bw_service_db(bw_service_t *svc) { return svc->db; }
struct ev_loop *bw_service_loop(bw_service_t *svc) { return svc->loop; }
void *bw_service_zctx(bw_service_t *svc) { return svc->zctx; }
bool bw_service_is_worker(const bw_service_t *svc) { return svc->worker; }
const bw_partset_t *bw_service_partitions(const bw_service_t *svc) { return &svc->parts; }
void bw_service_set_data(bw_service_t *svc, void *data) { svc->data = data; }
void *bw_service_data(bw_service_t *svc) { return svc->data; }

static bw_consumer_t *add_consumer(bw_service_t *svc, const sub_t *sub, const bw_partset_t *parts,
                                   bool adopted)
{
    if (svc->nconsumers == MAX_CONSUMERS) {
        /* Make room by dropping consumers that stopped for good. */
        int k = 0;
        for (int i = 0; i < svc->nconsumers; i++) {
            if (bw_consumer_stopped(svc->consumers[i]))
                bw_consumer_destroy(&svc->consumers[i]);
            else
                svc->consumers[k++] = svc->consumers[i];
        }
        svc->nconsumers = k;
        if (k == MAX_CONSUMERS)
            return NULL;
    }
    char ep[256];
    if (bw_endpoint(sub->producer, "stream", 0, ep, sizeof ep) < 0)
        return NULL;
    long long batch;
    if (bw_env_int("BILLOW_CONSUMER_BATCH", 1000, 1, 10000, &batch) < 0)
        return NULL;
    bw_consumer_opts_t o = {
        .producer = sub->producer,
        .endpoint = ep,
        .name = svc->def->name,
        .partitions = parts,
        .batch_max = (unsigned)batch,
        .apply = sub->apply,
        .arg = sub->arg,
        .types = sub->types,
        .lease_owner = svc->lease_owner[0] ? svc->lease_owner : NULL,
        .lease_ttl_s = (unsigned)svc->lease_ttl_s,
        .adopted = adopted,
    };
    bw_consumer_t *c = bw_consumer_new(svc->loop, svc->zctx, svc->db, &o);
    if (c)
        svc->consumers[svc->nconsumers++] = c;
    return c;
}

int bw_service_consume(bw_service_t *svc, const char *producer, bw_consumer_apply_fn apply,
                       void *arg, const char *const *types)
{
    if (svc->nsubs == MAX_SUBS)
        return BW_EINVAL;
    sub_t *sub = &svc->subs[svc->nsubs++];
    snprintf(sub->producer, sizeof sub->producer, "%s", producer);
    sub->apply = apply;
    sub->arg = arg;
    sub->types = types;
    return add_consumer(svc, sub, &svc->parts, false) ? 0 : BW_EIO;
}

/* Workers adopt partition sets whose lease expired (their worker died) if
 * they split the stream the same way (same partition count). */
static void adopt_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    bw_service_t *svc = (bw_service_t *)((char *)t - offsetof(bw_service_t, adopt));
    char suffix[16];
    snprintf(suffix, sizeof suffix, "/%u", svc->parts.count);
    for (int i = 0; i < svc->nsubs; i++) {
        const char *p[1] = {svc->subs[i].producer};
        PGresult *res = bw_db_query(svc->db,
                                    "SELECT partitions FROM stream_leases WHERE producer = $1"
                                    " AND expires_at < now() ORDER BY partitions",
                                    1, p);
        if (!res)
            return;
        for (int r = 0; r < PQntuples(res); r++) {
            const char *spec = PQgetvalue(res, r, 0);
            size_t n = strlen(spec), m = strlen(suffix);
            if (n <= m || strcmp(spec + n - m, suffix) != 0)
                continue;
            bool mine = false;
            for (int k = 0; k < svc->nconsumers && !mine; k++)
                mine = !bw_consumer_stopped(svc->consumers[k]) &&
                       !strcmp(bw_consumer_partitions(svc->consumers[k]), spec);
            bw_partset_t ps;
            if (mine || bw_partset_parse(spec, &ps, NULL, 0) < 0)
                continue;
            if (add_consumer(svc, &svc->subs[i], &ps, true))
                bw_log(BW_INFO, "adopting expired partitions", "producer",
                       BW_S(svc->subs[i].producer), "partitions", BW_S(spec), NULL);
        }
        PQclear(res);
    }
}

static void status(bw_service_t *svc, Billow__Reply *reply, bw_arena_t *arena)
{
    Billow__StatusReply *st = bw_arena_alloc(arena, sizeof *st);
    billow__status_reply__init(st);
    st->service = (char *)svc->def->name;
    st->version = BW_VERSION;
    st->schema_version = svc->schema_version;
    st->stream_head = svc->stream ? bw_stream_server_head(svc->stream) : -1;
    st->uptime_s = time(NULL) - svc->started;
    st->role = svc->worker ? "worker" : "api";
    st->pid = getpid();
    char now[40];
    bw_time_format(bw_now_us(), now, sizeof now);
    st->now = bw_arena_strdup(arena, now);
    st->n_consumers = 0;
    st->consumers = bw_arena_alloc(arena, sizeof *st->consumers * (size_t)(svc->nconsumers + 1));
    for (int i = 0; i < svc->nconsumers; i++) {
        if (bw_consumer_stopped(svc->consumers[i]))
            continue;
        Billow__ConsumerStatus *cs = bw_arena_alloc(arena, sizeof *cs);
        billow__consumer_status__init(cs);
        bw_consumer_status(svc->consumers[i], cs);
        st->consumers[st->n_consumers++] = cs;
    }
    reply->body_case = BILLOW__REPLY__BODY_STATUS;
    reply->status = st;
}

/* billctl stream consumers | forget. Returns true when a registration was
 * removed (a change, kept with an idempotency key). */
static bool stream_consumers(bw_service_t *svc, const Billow__StreamConsumersRequest *req,
                             Billow__Reply *reply, bw_arena_t *arena)
{
    if (!svc->stream) {
        bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "this process serves no stream",
                       "ask the service's API process, not a worker");
        return false;
    }
    Billow__StreamConsumersReply *out = bw_arena_alloc(arena, sizeof *out);
    billow__stream_consumers_reply__init(out);
    const char *forget = req && req->forget && *req->forget ? req->forget : NULL;
    int rc = bw_stream_server_consumers(svc->stream, forget, out, arena);
    if (rc == BW_ENOTFOUND) {
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such consumer",
                       bw_arena_printf(arena, "%s is not registered; see billctl stream consumers", forget));
        return false;
    }
    if (rc < 0) {
        bw_reply_error(reply, BILLOW__CODE__UNAVAILABLE, "could not read stream consumers", NULL);
        return false;
    }
    reply->body_case = BILLOW__REPLY__BODY_STREAM_CONSUMERS;
    reply->stream_consumers = out;
    return out->forgotten;
}

/* `<service>.describe` lists the operations of the service's request oneof,
 * found through the descriptors, so it can never fall out of date. Returns
 * false when the request is not a describe. */
static bool describe(const Billow__Request *req, Billow__Reply *reply, bw_arena_t *arena)
{
    const ProtobufCFieldDescriptor *body =
        protobuf_c_message_descriptor_get_field(&billow__request__descriptor, req->body_case);
    if (!body || body->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessage *sub = *(ProtobufCMessage *const *)((const char *)req + body->offset);
    const ProtobufCMessageDescriptor *sd = body->descriptor;
    if (!sub || sd->n_fields == 0 || !(sd->fields[0].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return false;
    uint32_t op = *(const uint32_t *)((const char *)sub + sd->fields[0].quantifier_offset);
    const ProtobufCFieldDescriptor *of = protobuf_c_message_descriptor_get_field(sd, op);
    if (!of || strcmp(of->name, "describe") != 0)
        return false;
    /* Reply.<service> is a message whose oneof has `description` first. */
    const ProtobufCFieldDescriptor *rb = protobuf_c_message_descriptor_get_field_by_name(
        &billow__reply__descriptor, body->name);
    if (!rb)
        return false;
    const ProtobufCMessageDescriptor *rd = rb->descriptor;
    const ProtobufCFieldDescriptor *df = protobuf_c_message_descriptor_get_field_by_name(rd, "description");
    if (!df)
        return false;
    ProtobufCMessage *rmsg = bw_arena_alloc(arena, rd->sizeof_message);
    ProtobufCMessage *desc = bw_arena_alloc(arena, df->descriptor
                                                       ? ((const ProtobufCMessageDescriptor *)df->descriptor)->sizeof_message
                                                       : 0);
    if (!rmsg || !desc)
        return false;
    protobuf_c_message_init(rd, rmsg);
    protobuf_c_message_init(df->descriptor, desc);
    /* description.operations: repeated string, the first field. */
    const ProtobufCFieldDescriptor *ops = &((const ProtobufCMessageDescriptor *)df->descriptor)->fields[0];
    char **names = bw_arena_alloc(arena, sizeof(char *) * sd->n_fields);
    for (unsigned i = 0; i < sd->n_fields; i++)
        names[i] = (char *)sd->fields[i].name;
    *(size_t *)((char *)desc + ops->quantifier_offset) = sd->n_fields;
    *(char ***)((char *)desc + ops->offset) = names;
    *(uint32_t *)((char *)rmsg + df->quantifier_offset) = df->id;
    *(ProtobufCMessage **)((char *)rmsg + df->offset) = desc;
    reply->body_case = (Billow__Reply__BodyCase)rb->id;
    *(ProtobufCMessage **)((char *)reply + rb->offset) = rmsg;
    return true;
}

static bool handle(void *arg, const Billow__Request *req, Billow__Reply *reply, bw_arena_t *arena)
{
    bw_service_t *svc = arg;
    if (req->body_case == BILLOW__REQUEST__BODY_STATUS) {
        status(svc, reply, arena);
        return false;
    }
    if (req->body_case == BILLOW__REQUEST__BODY_STREAM_CONSUMERS)
        return stream_consumers(svc, req->stream_consumers, reply, arena);
    if (describe(req, reply, arena))
        return false;
    if (svc->def->handle)
        return svc->def->handle(svc, req, reply, arena);
    bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "unknown request type",
                   "this service does not handle it");
    return false;
}

static void signal_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    bw_log(BW_INFO, "shutting down", "signal", BW_I(w->signum), NULL);
    /* Handlers run to completion inside the loop, so the transaction in hand
     * has finished by the time we get here. */
    ev_break(loop, EVBREAK_ALL);
}

static void usage(const char *name)
{
    fprintf(stderr,
            "usage: %s [--worker] [--partitions LIST/COUNT] [--version]\n"
            "  --worker       consume streams only: no API or stream socket\n"
            "  --partitions   e.g. 0-3/8: consume only these partitions (default all)\n"
            "Settings come from environment variables; see README.md.\n",
            name);
}

static int connect_db(bw_service_t *svc, bw_db_t **out)
{
    char conninfo[1024], role[64];
    const char *user;
    if (bw_db_conninfo(svc->def->name, conninfo, sizeof conninfo, &user) < 0) {
        bw_log(BW_ERROR, "no database configured",
               "hint", BW_S("set BILLOW_DATABASE_URL or use make run"), NULL);
        return BW_EINVAL;
    }
    if (user)
        snprintf(role, sizeof role, "billow_%s", user);
    *out = bw_db_new(conninfo, user ? role : NULL, svc->def->name);
    if (!*out)
        return BW_ENOMEM;
    long long wait_s;
    if (bw_env_int("BILLOW_DB_WAIT_S", 30, 0, 3600, &wait_s) < 0)
        return BW_EINVAL;
    return bw_db_connect(*out, (int)wait_s * 1000);
}

int bw_service_main(const bw_service_def_t *def, int argc, char **argv)
{
    bw_service_t svc_s = {.def = def, .started = time(NULL)};
    bw_service_t *svc = &svc_s;
    int rc = 1;
    bw_log_init(def->name);
    const char *spec = bw_env_str("BILLOW_PARTITIONS", NULL);
    svc->worker = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--worker") == 0) {
            svc->worker = true;
        } else if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc) {
            spec = argv[++i];
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("%s %s\n", def->name, BW_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(argv[0]);
            return 0;
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    char err[128];
    if (bw_partset_parse(spec, &svc->parts, err, sizeof err) < 0) {
        bw_log(BW_ERROR, "invalid partitions", "error", BW_S(err), NULL);
        return 2;
    }
    if (bw_clock_init() < 0) {
        bw_log(BW_ERROR, "invalid clock setting", "hint",
               BW_S("BILLOW_NOW is RFC 3339, e.g. 2026-11-30T23:00:00Z"), NULL);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    svc->loop = ev_default_loop(EVFLAG_AUTO);
    svc->zctx = zmq_ctx_new();
    if (!svc->zctx)
        goto out;
    if (bw_zsec_init() < 0 || bw_zap_start(svc->loop, svc->zctx, &svc->zap) < 0)
        goto out;
    if (bw_zsec_on())
        bw_log(BW_INFO, "CURVE on: connections are encrypted", "client_keys",
               BW_S(getenv("BILLOW_CURVE_CLIENT_KEYS") ? "checked" : "any with the server key"), NULL);
    if (connect_db(svc, &svc->db) < 0)
        goto out;
    if (bw_migrate(svc->db, def->name, def->migrations, &svc->schema_version) < 0)
        goto out;
    if (!svc->worker) {
        char api[256], stream[256];
        if (bw_endpoint(def->name, "api", 1, api, sizeof api) < 0 ||
            bw_endpoint(def->name, "stream", 1, stream, sizeof stream) < 0)
            goto out;
        if (connect_db(svc, &svc->stream_db) < 0)
            goto out;
        svc->stream = bw_stream_server_new(svc->loop, svc->zctx, stream, svc->stream_db);
        svc->rpc = bw_rpc_server_new(svc->loop, svc->zctx, api, svc->db, handle, svc);
        if (!svc->stream || !svc->rpc)
            goto out;
        bw_log(BW_INFO, "listening", "api", BW_S(api), "stream", BW_S(stream), NULL);
    }
    if (bw_env_int("BILLOW_LEASE_TTL_S", 10, 0, 3600, &svc->lease_ttl_s) < 0)
        goto out;
    ev_init(&svc->adopt, adopt_cb);
    if (svc->worker && svc->parts.count > 1 && svc->lease_ttl_s > 0) {
        char host[64] = "host";
        gethostname(host, sizeof host - 1);
        snprintf(svc->lease_owner, sizeof svc->lease_owner, "%s:%d", host, (int)getpid());
        svc->adopt.repeat = svc->lease_ttl_s / 2.0 > 1.0 ? svc->lease_ttl_s / 2.0 : 1.0;
        ev_timer_again(svc->loop, &svc->adopt);
    }
    if (def->init && def->init(svc) != 0) {
        bw_log(BW_ERROR, "service init failed", NULL);
        goto out;
    }
    ev_signal_init(&svc->sigterm, signal_cb, SIGTERM);
    ev_signal_init(&svc->sigint, signal_cb, SIGINT);
    ev_signal_start(svc->loop, &svc->sigterm);
    ev_signal_start(svc->loop, &svc->sigint);
    char pspec[64];
    bw_partset_format(&svc->parts, pspec, sizeof pspec);
    bw_log(BW_INFO, "started", "version", BW_S(BW_VERSION), "role",
           BW_S(svc->worker ? "worker" : "api"), "partitions", BW_S(pspec), "schema_version",
           BW_I(svc->schema_version), NULL);
    ev_run(svc->loop, 0);
    rc = 0;
out:
    if (svc->loop)
        ev_timer_stop(svc->loop, &svc->adopt);
    if (def->fini)
        def->fini(svc);
    for (int i = 0; i < svc->nconsumers; i++)
        bw_consumer_destroy(&svc->consumers[i]);
    bw_rpc_server_destroy(&svc->rpc);
    bw_stream_server_destroy(&svc->stream);
    bw_zap_stop(&svc->zap);
    bw_db_destroy(&svc->stream_db);
    bw_db_destroy(&svc->db);
    if (svc->zctx)
        zmq_ctx_term(svc->zctx);
    if (svc->loop) {
        ev_signal_stop(svc->loop, &svc->sigterm);
        ev_signal_stop(svc->loop, &svc->sigint);
        ev_loop_destroy(svc->loop);
    }
    bw_log(rc == 0 ? BW_INFO : BW_ERROR, rc == 0 ? "stopped" : "exiting after error", NULL);
    return rc;
}
