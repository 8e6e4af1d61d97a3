/* billctl status: one row per service (up/down, version, schema version,
 * stream head, consumers' lag). All four are asked at once, so a service
 * that is down costs one timeout, not four. */
#include "cli.h"
#include "config.h"
#include "zsec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

typedef struct {
    const char *name;
    char endpoint[256];
    void *sock;
    uint64_t id;
    Billow__Reply *reply;
} probe_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void probe_all(cli_t *cli, probe_t *p, int n, int timeout_ms)
{
    int zero = 0, one = 1;
    for (int i = 0; i < n; i++) {
        p[i].sock = zmq_socket(cli->zctx, ZMQ_DEALER);
        zmq_setsockopt(p[i].sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(p[i].sock, ZMQ_IMMEDIATE, &one, sizeof one);
        if (bw_zsec_client(p[i].sock) == 0)
            zmq_connect(p[i].sock, p[i].endpoint);
    }
    int64_t deadline = mono_ms() + timeout_ms;
    int pending = 0;
    bool sent[8] = {false};
    /* Sending waits for a connection (ZMQ_IMMEDIATE); keep trying each until
     * the deadline, polling for replies in between. */
    for (;;) {
        for (int i = 0; i < n; i++) {
            if (sent[i])
                continue;
            Billow__Request req = BILLOW__REQUEST__INIT;
            Billow__StatusRequest sr = BILLOW__STATUS_REQUEST__INIT;
            req.id = p[i].id = (uint64_t)(i + 1) * 7919u + (uint64_t)mono_ms();
            req.body_case = BILLOW__REQUEST__BODY_STATUS;
            req.status = &sr;
            uint8_t buf[64];
            size_t len = billow__request__pack(&req, buf);
            if (zmq_send(p[i].sock, buf, len, ZMQ_DONTWAIT) >= 0) {
                sent[i] = true;
                pending++;
            }
        }
        zmq_pollitem_t items[8];
        for (int i = 0; i < n; i++)
            items[i] = (zmq_pollitem_t){.socket = p[i].sock, .events = ZMQ_POLLIN};
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            break;
        zmq_poll(items, n, left < 20 ? (long)left : 20);
        for (int i = 0; i < n; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, p[i].sock, ZMQ_DONTWAIT) >= 0 && !p[i].reply) {
                Billow__Reply *r = billow__reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
                if (r && r->id == p[i].id && r->body_case == BILLOW__REPLY__BODY_STATUS)
                    p[i].reply = r;
                else if (r)
                    billow__reply__free_unpacked(r, NULL);
            }
            zmq_msg_close(&m);
        }
        bool all = true;
        for (int i = 0; i < n; i++)
            all = all && p[i].reply;
        if (all)
            break;
    }
    (void)pending;
    for (int i = 0; i < n; i++)
        zmq_close(p[i].sock);
}

static void fmt_uptime(long long s, char *buf, size_t len)
{
    if (s < 120)
        snprintf(buf, len, "%llds", s);
    else if (s < 7200)
        snprintf(buf, len, "%lldm", s / 60);
    else if (s < 172800)
        snprintf(buf, len, "%lldh", s / 3600);
    else
        snprintf(buf, len, "%lldd", s / 86400);
}

static int run_status(cli_t *cli, int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        fprintf(stderr, "billctl: status takes no arguments\n");
        return CLI_USAGE;
    }
    probe_t p[4];
    memset(p, 0, sizeof p);
    for (int i = 0; i < 4; i++) {
        p[i].name = bw_service_names[i];
        if (bw_endpoint(p[i].name, "api", 0, p[i].endpoint, sizeof p[i].endpoint) < 0)
            return CLI_USAGE;
    }
    probe_all(cli, p, 4, cli->timeout_ms < 1500 ? cli->timeout_ms : 1500);
    int down = 0;
    json_object *arr = cli->json ? json_object_new_array() : NULL;
    if (!cli->json)
        printf("%-13s %-5s %-14s %-6s %-10s %-7s %s\n", "SERVICE", "STATE", "VERSION", "SCHEMA",
               "HEAD", "UPTIME", "CONSUMERS (producer[partitions] cursor/lag)");
    for (int i = 0; i < 4; i++) {
        Billow__StatusReply *st = p[i].reply ? p[i].reply->status : NULL;
        if (!st)
            down++;
        if (cli->json) {
            json_object *o = json_object_new_object();
            json_object_object_add(o, "service", json_object_new_string(p[i].name));
            json_object_object_add(o, "state", json_object_new_string(st ? "up" : "down"));
            json_object_object_add(o, "endpoint", json_object_new_string(p[i].endpoint));
            if (st) {
                json_object_object_add(o, "version", json_object_new_string(st->version));
                json_object_object_add(o, "schema_version", json_object_new_int(st->schema_version));
                json_object_object_add(o, "stream_head", json_object_new_int64(st->stream_head));
                json_object_object_add(o, "uptime_s", json_object_new_int64(st->uptime_s));
                json_object_object_add(o, "pid", json_object_new_int(st->pid));
                json_object_object_add(o, "now", json_object_new_string(st->now));
                json_object *cs = json_object_new_array();
                for (size_t k = 0; k < st->n_consumers; k++) {
                    Billow__ConsumerStatus *c = st->consumers[k];
                    json_object *co = json_object_new_object();
                    json_object_object_add(co, "producer", json_object_new_string(c->producer));
                    json_object_object_add(co, "partitions", json_object_new_string(c->partitions));
                    json_object_object_add(co, "cursor", json_object_new_int64(c->cursor));
                    json_object_object_add(co, "head", json_object_new_int64(c->head));
                    json_object_object_add(co, "lag", json_object_new_int64(c->lag));
                    json_object_object_add(co, "connected", json_object_new_boolean(c->connected));
                    json_object_array_add(cs, co);
                }
                json_object_object_add(o, "consumers", cs);
            }
            json_object_array_add(arr, o);
            continue;
        }
        if (!st) {
            printf("%-13s %-5s %-14s %-6s %-10s %-7s no answer from %s\n", p[i].name, "down",
                   "-", "-", "-", "-", p[i].endpoint);
            continue;
        }
        char up[32], schema[16], head[24];
        fmt_uptime(st->uptime_s, up, sizeof up);
        snprintf(schema, sizeof schema, "%d", st->schema_version);
        snprintf(head, sizeof head, "%lld", (long long)st->stream_head);
        printf("%-13s %-5s %-14.14s %-6s %-10s %-7s", p[i].name, "up", st->version, schema, head,
               up);
        for (size_t k = 0; k < st->n_consumers; k++) {
            Billow__ConsumerStatus *c = st->consumers[k];
            printf("%s%s[%s] %lld/%lld%s", k ? ", " : " ", c->producer, c->partitions,
                   (long long)c->cursor, (long long)c->lag, c->connected ? "" : " (unreachable)");
        }
        printf("\n");
    }
    if (cli->json)
        cli_print_json(arr);
    for (int i = 0; i < 4; i++)
        if (p[i].reply)
            billow__reply__free_unpacked(p[i].reply, NULL);
    return down ? CLI_FAIL : CLI_OK;
}

/* --- billctl stream consumers | forget ---------------------------------------- */

static bool known_service(const char *name)
{
    static const char *const names[] = {"rating", "invoicing", "notification", "feedback"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static bool print_consumers(cli_t *cli, const Billow__Reply *reply)
{
    (void)cli;
    const Billow__StreamConsumersReply *r = reply->stream_consumers;
    if (reply->body_case != BILLOW__REPLY__BODY_STREAM_CONSUMERS || !r)
        return false;
    if (r->forgotten)
        printf("forgotten; outbox pruning no longer waits for it\n");
    printf("head %lld, pruned up to %lld\n", (long long)r->head, (long long)r->pruned_upto);
    printf("%-32s %-10s %12s %10s  %s\n", "CONSUMER", "PARTITIONS", "ACKED", "BEHIND", "LAST SEEN");
    for (size_t i = 0; i < r->n_consumers; i++) {
        const Billow__StreamRegistration *c = r->consumers[i];
        char idle[80] = "";
        if (c->idle_s >= 3600)
            snprintf(idle, sizeof idle, " (idle %lld h: gone? it holds back pruning)",
                     (long long)(c->idle_s / 3600));
        printf("%-32s %-10s %12lld %10lld  %s%s\n", c->consumer, c->partitions,
               (long long)c->acked_seq, (long long)c->behind, c->last_seen, idle);
    }
    if (r->n_consumers == 0)
        printf("no consumer registered: nothing is pruned\n");
    return true;
}

static int stream_call(cli_t *cli, const char *service, const char *forget)
{
    if (!known_service(service))
        return cli_usage(cli->cmd, "SERVICE is rating, invoicing, notification or feedback");
    Billow__Request req = BILLOW__REQUEST__INIT;
    Billow__StreamConsumersRequest sc = BILLOW__STREAM_CONSUMERS_REQUEST__INIT;
    sc.forget = (char *)(forget ? forget : "");
    req.body_case = BILLOW__REQUEST__BODY_STREAM_CONSUMERS;
    req.stream_consumers = &sc;
    return cli_run(cli, service, &req, print_consumers);
}

static int stream_consumers(cli_t *cli, int argc, char **argv)
{
    const char *pos[1];
    int rc = cli_args(cli, argc, argv, pos, 1, "which service?");
    if (rc)
        return rc;
    return stream_call(cli, pos[0], NULL);
}

static int stream_forget(cli_t *cli, int argc, char **argv)
{
    const char *pos[2];
    int rc = cli_args(cli, argc, argv, pos, 2, "which service and which consumer?");
    if (rc)
        return rc;
    return stream_call(cli, pos[0], pos[1]);
}

/* --- billctl keygen --------------------------------------------------------- */

static int keygen(cli_t *cli, int argc, char **argv)
{
    int rc = cli_parse(cli, argc, argv, NULL, NULL, 0, NULL);
    if (rc)
        return rc;
    char pub[41], sec[41];
    if (bw_zsec_keygen(pub, sec) < 0) {
        fprintf(stderr, "billctl: this libzmq cannot make CURVE keys (built without libsodium?)\n");
        return CLI_FAIL;
    }
    if (cli->json) {
        printf("{\"public_key\":\"%s\",\"secret_key\":\"%s\"}\n", pub, sec);
    } else {
        printf("# public key (give it to peers: BILLOW_CURVE_SERVER_KEY or a line of\n"
               "# BILLOW_CURVE_CLIENT_KEYS):\n%s\n", pub);
        printf("BILLOW_CURVE_SECRET_KEY='%s'\n", sec);
    }
    return CLI_OK;
}

const billctl_cmd_t billctl_status_cmds[] = {
    {"status", NULL, "[--json]", "show every service: up/down, version, schema, stream head, consumer lag",
     run_status},
    {"keygen", NULL, "[--json]", "a new CURVE key pair for encrypted, authenticated connections", keygen},
    {"stream", "consumers", "SERVICE [--json]",
     "the consumers registered with SERVICE's stream: position, how far behind, last seen", stream_consumers},
    {"stream", "forget", "SERVICE CONSUMER",
     "stop keeping SERVICE's events for a consumer that is gone for good (a retired worker layout)",
     stream_forget},
    {NULL, NULL, NULL, NULL, NULL},
};
