/* See zwatch.h for why prepare/check/idle surround the io watcher. */
#include "zwatch.h"
#include "errors.h"

#include <stddef.h>
#include <zmq.h>

static int zmq_events(bw_zwatch_t *w)
{
    int ev = 0;
    size_t len = sizeof ev;
    if (zmq_getsockopt(w->sock, ZMQ_EVENTS, &ev, &len) < 0)
        return 0;
    return ev & w->events;
}

static void io_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    /* Only wakes the loop; the check watcher does the work. */
    (void)loop;
    (void)io;
    (void)revents;
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *p, int revents)
{
    (void)revents;
    bw_zwatch_t *w = (bw_zwatch_t *)((char *)p - offsetof(bw_zwatch_t, prepare));
    if (zmq_events(w))
        ev_idle_start(loop, &w->idle);
    else
        ev_idle_stop(loop, &w->idle);
}

static void check_cb(struct ev_loop *loop, ev_check *c, int revents)
{
    (void)revents;
    bw_zwatch_t *w = (bw_zwatch_t *)((char *)c - offsetof(bw_zwatch_t, check));
    ev_idle_stop(loop, &w->idle);
    int ev = zmq_events(w);
    if (ev)
        w->cb(w, ev, w->arg);
}

static void idle_cb(struct ev_loop *loop, ev_idle *i, int revents)
{
    (void)loop;
    (void)i;
    (void)revents;
}

int bw_zwatch_init(bw_zwatch_t *w, struct ev_loop *loop, void *sock, int events, bw_zwatch_cb cb,
                   void *arg)
{
    int fd;
    size_t len = sizeof fd;
    if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len) < 0)
        return BW_EIO;
    w->loop = loop;
    w->sock = sock;
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    w->active = 0;
    ev_io_init(&w->io, io_cb, fd, EV_READ);
    ev_prepare_init(&w->prepare, prepare_cb);
    ev_check_init(&w->check, check_cb);
    ev_idle_init(&w->idle, idle_cb);
    return 0;
}

void bw_zwatch_start(bw_zwatch_t *w)
{
    if (w->active)
        return;
    ev_io_start(w->loop, &w->io);
    ev_prepare_start(w->loop, &w->prepare);
    ev_check_start(w->loop, &w->check);
    w->active = 1;
}

void bw_zwatch_stop(bw_zwatch_t *w)
{
    if (!w->active)
        return;
    ev_io_stop(w->loop, &w->io);
    ev_prepare_stop(w->loop, &w->prepare);
    ev_check_stop(w->loop, &w->check);
    ev_idle_stop(w->loop, &w->idle);
    w->active = 0;
}

void bw_zwatch_set_events(bw_zwatch_t *w, int events) { w->events = events; }
