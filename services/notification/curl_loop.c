/* libcurl multi-socket driven by libev. Each socket curl cares about gets an
 * ev_io in a small record attached with curl_multi_assign; curl's single
 * timeout is one ev_timer. After every curl_multi_socket_action we drain
 * curl_multi_info_read so finished transfers are reported at once. Callbacks
 * of ours are never run from inside a curl callback: curl forbids calling
 * back into the multi handle from there. */
#include "notification/curl_loop.h"

#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"

typedef struct xfer {
    CURL *easy;
    ntf_curl_done_fn done;
    void *arg;
    struct xfer *prev, *next;
} xfer_t;

typedef struct sock {
    ev_io io; /* first: the watcher pointer is the record */
    curl_socket_t fd;
    ntf_curl_loop_t *c;
    struct sock *prev, *next;
} sock_t;

struct ntf_curl_loop {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;
    xfer_t *xfers;
    sock_t *socks;
    size_t pending;
};

static void xfer_unlink(ntf_curl_loop_t *c, xfer_t *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        c->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    c->pending--;
}

static void sock_free(ntf_curl_loop_t *c, sock_t *s)
{
    ev_io_stop(c->loop, &s->io);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

/* Hands every finished transfer to its owner. */
static void check_done(ntf_curl_loop_t *c)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result; /* msg dies with remove_handle */
        xfer_t *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(c->multi, easy);
        if (!x)
            continue;
        xfer_unlink(c, x);
        ntf_curl_done_fn done = x->done;
        void *arg = x->arg;
        free(x);
        done(arg, easy, rc);
    }
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    sock_t *s = (sock_t *)w;
    ntf_curl_loop_t *c = s->c;
    curl_socket_t fd = s->fd; /* s may be freed inside socket_action */
    int flags = ((revents & EV_READ) ? CURL_CSELECT_IN : 0) |
                ((revents & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    check_done(c);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    ntf_curl_loop_t *c = (ntf_curl_loop_t *)((char *)w - offsetof(ntf_curl_loop_t, timer));
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching one socket. */
static int socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    ntf_curl_loop_t *c = userp;
    sock_t *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            curl_multi_assign(c->multi, fd, NULL);
            sock_free(c, s);
        }
        return 0;
    }
    int events = ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->fd = fd;
        s->c = c;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
        ev_io_init(&s->io, io_cb, fd, events);
        curl_multi_assign(c->multi, fd, s);
    } else {
        ev_io_stop(c->loop, &s->io);
        ev_io_set(&s->io, fd, events);
    }
    ev_io_start(c->loop, &s->io);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: curl wants to be woken after timeout_ms (-1: never).
 * A zero timeout still goes through the loop, never straight back into curl. */
static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    ntf_curl_loop_t *c = userp;
    ev_timer_stop(c->loop, &c->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&c->timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(c->loop, &c->timer);
    }
    return 0;
}

ntf_curl_loop_t *ntf_curl_loop_new(struct ev_loop *loop)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    ntf_curl_loop_t *c = calloc(1, sizeof *c);
    if (!c)
        goto fail;
    c->loop = loop;
    c->multi = curl_multi_init();
    if (!c->multi)
        goto fail;
    ev_timer_init(&c->timer, timer_cb, 0., 0.);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
fail:
    free(c);
    curl_global_cleanup();
    return NULL;
}

void ntf_curl_loop_destroy(ntf_curl_loop_t **pc)
{
    if (!pc || !*pc)
        return;
    ntf_curl_loop_t *c = *pc;
    while (c->xfers) {
        xfer_t *x = c->xfers;
        curl_multi_remove_handle(c->multi, x->easy);
        xfer_unlink(c, x);
        free(x);
    }
    curl_multi_cleanup(c->multi);
    /* Cached connections may close without a CURL_POLL_REMOVE. */
    while (c->socks)
        sock_free(c, c->socks);
    ev_timer_stop(c->loop, &c->timer);
    free(c);
    curl_global_cleanup();
    *pc = NULL;
}

int ntf_curl_loop_add(ntf_curl_loop_t *c, CURL *easy, long timeout_ms, long connect_timeout_ms,
                      ntf_curl_done_fn done, void *arg)
{
    xfer_t *x = calloc(1, sizeof *x);
    if (!x)
        return BW_ENOMEM;
    x->easy = easy;
    x->done = done;
    x->arg = arg;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     connect_timeout_ms > 0 ? connect_timeout_ms : 0L);
    CURLMcode mc = curl_multi_add_handle(c->multi, easy);
    if (mc != CURLM_OK) {
        bw_log(BW_WARN, "could not start transfer", "curl_error", BW_S(curl_multi_strerror(mc)),
               NULL);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
        free(x);
        return BW_EIO;
    }
    x->next = c->xfers;
    if (c->xfers)
        c->xfers->prev = x;
    c->xfers = x;
    c->pending++;
    return 0;
}

int ntf_curl_loop_remove(ntf_curl_loop_t *c, CURL *easy)
{
    xfer_t *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x)
        return BW_ENOTFOUND;
    curl_multi_remove_handle(c->multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)NULL);
    xfer_unlink(c, x);
    free(x);
    return 0;
}

size_t ntf_curl_loop_pending(const ntf_curl_loop_t *c) { return c->pending; }

ntf_status_t ntf_http_classify(CURLcode rc, long http_code)
{
    if (rc != CURLE_OK)
        return NTF_TEMPFAIL; /* no answer: refused, timed out, reset, TLS */
    if (http_code >= 200 && http_code < 300)
        return NTF_OK;
    if (http_code == 408 || http_code == 429 || http_code >= 500)
        return NTF_TEMPFAIL;
    return NTF_PERMFAIL;
}

/* --- JSON POST ------------------------------------------------------------ */

#define RESP_MAX 4096

struct ntf_http_call {
    ntf_curl_loop_t *c;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    ntf_http_done_fn done;
    void *arg;
    size_t resp_len;
    char resp[RESP_MAX];
    char errbuf[CURL_ERROR_SIZE];
};

static void call_free(ntf_http_call_t *call)
{
    if (call->easy)
        curl_easy_cleanup(call->easy);
    curl_slist_free_all(call->headers);
    free(call->body);
    free(call);
}

/* Keeps the start of the response for the log and the result; the rest is
 * read and dropped so the connection stays usable. */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    ntf_http_call_t *call = userdata;
    size_t n = size * nmemb;
    size_t room = RESP_MAX - 1 - call->resp_len;
    size_t take = n < room ? n : room;
    memcpy(call->resp + call->resp_len, ptr, take);
    call->resp_len += take;
    call->resp[call->resp_len] = '\0';
    return n;
}

static void http_done_cb(void *arg, CURL *easy, CURLcode rc)
{
    ntf_http_call_t *call = arg;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    const char *err = "";
    if (rc != CURLE_OK)
        err = call->errbuf[0] ? call->errbuf : curl_easy_strerror(rc);
    call->done(call->arg, ntf_http_classify(rc, code), code, call->resp, err);
    call_free(call);
}

int ntf_http_post(ntf_curl_loop_t *c, ntf_http_req_t *req, ntf_http_done_fn done, void *arg,
                  ntf_http_call_t **out)
{
    int rc = BW_ENOMEM;
    ntf_http_call_t *call = calloc(1, sizeof *call);
    if (!call) {
        curl_slist_free_all(req->headers);
        req->headers = NULL;
        return BW_ENOMEM;
    }
    call->headers = req->headers;
    req->headers = NULL;
    call->c = c;
    call->done = done;
    call->arg = arg;
    /* "Expect: 100-continue" would stall small POSTs on servers that ignore it. */
    struct curl_slist *h = curl_slist_append(call->headers, "Expect:");
    if (!h)
        goto fail;
    call->headers = h;
    call->body = malloc(req->body_len + 1);
    call->easy = curl_easy_init();
    if (!call->body || !call->easy)
        goto fail;
    memcpy(call->body, req->body, req->body_len);
    call->body[req->body_len] = '\0';

    CURL *e = call->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "billow-notification/1");
    if (req->userpwd) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERPWD, req->userpwd);
    }
    if (req->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    rc = ntf_curl_loop_add(c, e, req->timeout_ms, req->connect_timeout_ms, http_done_cb, call);
    if (rc < 0)
        goto fail;
    if (out)
        *out = call;
    return 0;
fail:
    call_free(call);
    return rc;
}

void ntf_http_cancel(ntf_http_call_t **pcall)
{
    if (!pcall || !*pcall)
        return;
    ntf_http_call_t *call = *pcall;
    ntf_curl_loop_remove(call->c, call->easy);
    call_free(call);
    *pcall = NULL;
}
