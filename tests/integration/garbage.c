/* Sends garbage to every socket of every running service (started by
 * test_garbage.sh): random bytes, truncated requests, extra frames, empty
 * frames, a request with no known body and oversized frames. API sockets
 * must answer every single-frame request with an error (or a reply); every
 * socket must then still answer a good request. Exit 0 when all held. */
#include "api.pb-c.h"
#include "config.h"
#include "stream.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static int failures;

static void *dealer(void *ctx, const char *ep)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, tmo = 3000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof tmo);
    zmq_connect(s, ep);
    return s;
}

/* Receives one reply; returns its size or -1 on timeout. */
static int recv_reply(void *s, uint8_t *buf, size_t cap)
{
    int n = zmq_recv(s, buf, cap, 0);
    return n;
}

static int good_status(void *ctx, const char *ep)
{
    void *s = dealer(ctx, ep);
    Billow__Request req = BILLOW__REQUEST__INIT;
    Billow__StatusRequest sr = BILLOW__STATUS_REQUEST__INIT;
    req.id = 4242;
    req.body_case = BILLOW__REQUEST__BODY_STATUS;
    req.status = &sr;
    uint8_t out[64], in[65536];
    size_t len = billow__request__pack(&req, out);
    zmq_send(s, out, len, 0);
    int n = recv_reply(s, in, sizeof in);
    int ok = 0;
    if (n > 0) {
        Billow__Reply *r = billow__reply__unpack(NULL, (size_t)n, in);
        ok = r && r->id == 4242 && r->code == BILLOW__CODE__OK && r->status;
        if (r)
            billow__reply__free_unpacked(r, NULL);
    }
    zmq_close(s);
    return ok;
}

static int good_fetch(void *ctx, const char *ep)
{
    void *s = dealer(ctx, ep);
    Billow__Fetch f = BILLOW__FETCH__INIT;
    f.request_id = 77;
    f.consumer = "garbage-test";
    f.max = 10;
    uint8_t out[64], in[1 << 16];
    size_t len = billow__fetch__pack(&f, out);
    zmq_send(s, out, len, 0);
    int n = recv_reply(s, in, sizeof in);
    int ok = 0;
    if (n > 0) {
        Billow__Batch *b = billow__batch__unpack(NULL, (size_t)n, in);
        ok = b && b->request_id == 77 && (!b->error || !b->error[0]);
        if (b)
            billow__batch__free_unpacked(b, NULL);
    }
    zmq_close(s);
    return ok;
}

static void expect(int cond, const char *svc, const char *what)
{
    printf("%s %s: %s\n", cond ? "ok  " : "FAIL", svc, what);
    if (!cond)
        failures++;
}

static void api_garbage(void *ctx, const char *svc, const char *ep)
{
    void *s = dealer(ctx, ep);
    uint8_t buf[8192], in[65536];
    int answered = 0, errors = 0;
    srand(12345);
    for (int i = 0; i < 100; i++) {
        size_t len = 1 + (size_t)(rand() % 2048);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rand();
        zmq_send(s, buf, len, 0);
        int n = recv_reply(s, in, sizeof in);
        if (n > 0) {
            answered++;
            Billow__Reply *r = billow__reply__unpack(NULL, (size_t)n, in);
            if (r && r->code != BILLOW__CODE__OK)
                errors++;
            if (r)
                billow__reply__free_unpacked(r, NULL);
        }
    }
    expect(answered == 100, svc, "api answers 100 random frames");
    expect(errors >= 90, svc, "api rejects random frames with an error");

    /* Truncated good request. */
    Billow__Request req = BILLOW__REQUEST__INIT;
    Billow__StatusRequest sr = BILLOW__STATUS_REQUEST__INIT;
    req.id = 99;
    req.idempotency_key = "abcdefghijklmnopqrstuvwxyz";
    req.body_case = BILLOW__REQUEST__BODY_STATUS;
    req.status = &sr;
    size_t full = billow__request__pack(&req, buf);
    zmq_send(s, buf, full - 3, 0);
    int n = recv_reply(s, in, sizeof in);
    Billow__Reply *r = n > 0 ? billow__reply__unpack(NULL, (size_t)n, in) : NULL;
    expect(r && r->code == BILLOW__CODE__INVALID, svc, "truncated request gets INVALID");
    if (r)
        billow__reply__free_unpacked(r, NULL);

    /* A request with no known body: field 99 is unknown to the service. */
    uint8_t unknown[] = {0x08, 0x07, 0x9a, 0x06, 0x02, 0x08, 0x01};
    zmq_send(s, unknown, sizeof unknown, 0);
    n = recv_reply(s, in, sizeof in);
    r = n > 0 ? billow__reply__unpack(NULL, (size_t)n, in) : NULL;
    expect(r && r->code == BILLOW__CODE__UNSUPPORTED, svc, "unknown body gets UNSUPPORTED");
    if (r)
        billow__reply__free_unpacked(r, NULL);

    /* Empty frame and three frames. */
    zmq_send(s, "", 0, 0);
    n = recv_reply(s, in, sizeof in);
    expect(n > 0, svc, "empty frame answered");
    zmq_send(s, "a", 1, ZMQ_SNDMORE);
    zmq_send(s, "b", 1, ZMQ_SNDMORE);
    zmq_send(s, "c", 1, 0);
    n = recv_reply(s, in, sizeof in);
    r = n > 0 ? billow__reply__unpack(NULL, (size_t)n, in) : NULL;
    expect(r && r->code == BILLOW__CODE__INVALID, svc, "multi-frame request gets INVALID");
    if (r)
        billow__reply__free_unpacked(r, NULL);

    /* Oversized: above the 8 MiB request limit. */
    size_t big = 9u << 20;
    uint8_t *huge = malloc(big);
    memset(huge, 0x41, big);
    zmq_send(s, huge, big, 0);
    free(huge);
    n = recv_reply(s, in, sizeof in);
    r = n > 0 ? billow__reply__unpack(NULL, (size_t)n, in) : NULL;
    expect(r && r->code == BILLOW__CODE__INVALID && strstr(r->error, "too large"), svc,
           "oversized request gets 'request too large'");
    if (r)
        billow__reply__free_unpacked(r, NULL);
    zmq_close(s);

    /* Far beyond the transport limit: the connection is cut, nothing else. */
    s = dealer(ctx, ep);
    big = 40u << 20;
    huge = malloc(big);
    memset(huge, 0x42, big);
    zmq_send(s, huge, big, 0);
    free(huge);
    zmq_close(s);
    expect(good_status(ctx, ep), svc, "api still answers status");
}

static void stream_garbage(void *ctx, const char *svc, const char *ep)
{
    void *s = dealer(ctx, ep);
    uint8_t buf[4096], in[65536];
    srand(999);
    for (int i = 0; i < 100; i++) {
        size_t len = 1 + (size_t)(rand() % 1024);
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)rand();
        zmq_send(s, buf, len, ZMQ_DONTWAIT);
    }
    /* A fetch with invalid partitions gets an error batch. */
    Billow__Fetch f = BILLOW__FETCH__INIT;
    uint32_t parts[1] = {9};
    f.request_id = 5;
    f.partition_count = 4;
    f.n_partitions = 1;
    f.partitions = parts;
    size_t len = billow__fetch__pack(&f, buf);
    zmq_send(s, buf, len, 0);
    int got_error = 0;
    for (int i = 0; i < 120; i++) {
        int n = recv_reply(s, in, sizeof in);
        if (n < 0)
            break;
        Billow__Batch *b = billow__batch__unpack(NULL, (size_t)n, in);
        if (b && b->request_id == 5 && b->error && strstr(b->error, "partition"))
            got_error = 1;
        if (b)
            billow__batch__free_unpacked(b, NULL);
        if (got_error)
            break;
    }
    expect(got_error, svc, "stream rejects an out-of-range partition");
    zmq_send(s, "x", 1, ZMQ_SNDMORE);
    zmq_send(s, "y", 1, 0);
    zmq_close(s);
    s = dealer(ctx, ep);
    size_t big = 4u << 20; /* over the stream socket's 1 MiB limit */
    uint8_t *huge = malloc(big);
    memset(huge, 0x43, big);
    zmq_send(s, huge, big, 0);
    free(huge);
    zmq_close(s);
    expect(good_fetch(ctx, ep), svc, "stream still answers a good fetch");
}

int main(void)
{
    void *ctx = zmq_ctx_new();
    for (int i = 0; i < 4; i++) {
        char api[256], stream[256];
        bw_endpoint(bw_service_names[i], "api", 0, api, sizeof api);
        bw_endpoint(bw_service_names[i], "stream", 0, stream, sizeof stream);
        api_garbage(ctx, bw_service_names[i], api);
        stream_garbage(ctx, bw_service_names[i], stream);
    }
    zmq_ctx_term(ctx);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
