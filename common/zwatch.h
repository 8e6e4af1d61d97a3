/* Drives a ZeroMQ socket from the libev loop. ZMQ_FD is edge-triggered and
 * only means "look at ZMQ_EVENTS", so a plain ev_io can miss messages that
 * arrived before the last read. The watcher checks ZMQ_EVENTS in an
 * ev_prepare before the loop blocks and keeps an ev_idle running while the
 * socket is ready, so the loop never sleeps on a readable socket; ev_check
 * calls the callback. The shape follows flux-core's zwatcher. */
#ifndef BW_ZWATCH_H
#define BW_ZWATCH_H

#include <ev.h>

typedef struct bw_zwatch bw_zwatch_t;
/* revents is a mask of ZMQ_POLLIN / ZMQ_POLLOUT now set on the socket. The
 * callback may read (or write) as much as it likes; whatever it leaves is
 * seen again on the next loop iteration. */
typedef void (*bw_zwatch_cb)(bw_zwatch_t *w, int revents, void *arg);

struct bw_zwatch {
    ev_io io;
    ev_prepare prepare;
    ev_check check;
    ev_idle idle;
    struct ev_loop *loop;
    void *sock;
    int events; /* ZMQ_POLLIN | ZMQ_POLLOUT wanted */
    bw_zwatch_cb cb;
    void *arg;
    int active;
};

/* Prepares an embedded watcher; returns BW_EIO when ZMQ_FD cannot be read. */
int bw_zwatch_init(bw_zwatch_t *w, struct ev_loop *loop, void *sock, int events, bw_zwatch_cb cb,
                   void *arg);
void bw_zwatch_start(bw_zwatch_t *w);
void bw_zwatch_stop(bw_zwatch_t *w);
/* Changes the wanted events (e.g. add ZMQ_POLLOUT while a queue is full). */
void bw_zwatch_set_events(bw_zwatch_t *w, int events);

#endif
