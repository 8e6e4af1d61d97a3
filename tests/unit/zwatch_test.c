/* The ZeroMQ watcher must not lose messages to the edge-triggered ZMQ_FD:
 * messages queued before the loop starts, bursts larger than one callback
 * drains, and messages that arrive while the callback sends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <zmq.h>

#include "zwatch.h"

typedef struct {
    void *sock;
    void *peer;
    int received;
    int want;
    int per_call; /* messages read per callback at most */
    int echo;     /* send one message back to peer per message received */
    struct ev_loop *loop;
} ctx_t;

static void recv_cb(bw_zwatch_t *w, int revents, void *arg)
{
    (void)w;
    assert_true(revents & ZMQ_POLLIN);
    ctx_t *c = arg;
    for (int i = 0; i < c->per_call; i++) {
        char buf[16];
        if (zmq_recv(c->sock, buf, sizeof buf, ZMQ_DONTWAIT) < 0)
            break;
        c->received++;
        if (c->echo)
            zmq_send(c->sock, "e", 1, ZMQ_DONTWAIT);
    }
    if (c->received >= c->want)
        ev_break(c->loop, EVBREAK_ALL);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void run(int n, int per_call, int echo)
{
    void *z = zmq_ctx_new();
    ctx_t c = {.want = n, .per_call = per_call, .echo = echo};
    c.sock = zmq_socket(z, ZMQ_PAIR);
    c.peer = zmq_socket(z, ZMQ_PAIR);
    int hwm = 0;
    zmq_setsockopt(c.sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c.sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c.peer, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c.peer, ZMQ_RCVHWM, &hwm, sizeof hwm);
    assert_int_equal(zmq_bind(c.sock, "inproc://zw"), 0);
    assert_int_equal(zmq_connect(c.peer, "inproc://zw"), 0);
    /* Everything is queued before the loop runs: the fd edge has passed. */
    for (int i = 0; i < n; i++)
        assert_int_equal(zmq_send(c.peer, "m", 1, 0), 1);
    c.loop = ev_loop_new(EVFLAG_AUTO);
    bw_zwatch_t w;
    assert_int_equal(bw_zwatch_init(&w, c.loop, c.sock, ZMQ_POLLIN, recv_cb, &c), 0);
    bw_zwatch_start(&w);
    ev_timer t;
    ev_timer_init(&t, timeout_cb, 5.0, 0.);
    ev_timer_start(c.loop, &t);
    ev_run(c.loop, 0);
    assert_int_equal(c.received, n);
    ev_timer_stop(c.loop, &t);
    bw_zwatch_stop(&w);
    ev_loop_destroy(c.loop);
    zmq_close(c.sock);
    zmq_close(c.peer);
    zmq_ctx_term(z);
}

static void test_queued_before_start(void **s) { (void)s; run(1000, 1000000, 0); }
static void test_one_per_callback(void **s) { (void)s; run(500, 1, 0); }
static void test_send_inside_callback(void **s) { (void)s; run(300, 7, 1); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queued_before_start),
        cmocka_unit_test(test_one_per_callback),
        cmocka_unit_test(test_send_inside_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
