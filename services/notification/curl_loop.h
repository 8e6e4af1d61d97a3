/* libcurl's multi-socket interface driven by the service's libev loop, so
 * SMTP and HTTP deliveries never block it (STYLE.md 7). curl tells us which
 * sockets to watch and when to wake it (CURLMOPT_SOCKETFUNCTION and
 * CURLMOPT_TIMERFUNCTION); ev_io and one ev_timer report back through
 * curl_multi_socket_action, and finished transfers are handed to their
 * owner's callback. Also a small JSON-over-HTTP POST with response capture
 * and ok/temporary/permanent classification, shared by the webhook and SMS
 * notifiers. */
#ifndef NTF_CURL_LOOP_H
#define NTF_CURL_LOOP_H

#include <curl/curl.h>
#include <ev.h>
#include <stddef.h>

#include "notification/notifier.h"

typedef struct ntf_curl_loop ntf_curl_loop_t;

/* Called once when a transfer ends (rc is CURLE_OK or why it failed), after
 * the easy handle was removed from the multi handle; the owner may clean the
 * handle up or reuse it. */
typedef void (*ntf_curl_done_fn)(void *arg, CURL *easy, CURLcode rc);

/* A driver on loop; NULL when libcurl cannot be set up. */
ntf_curl_loop_t *ntf_curl_loop_new(struct ev_loop *loop);
/* Abandons every transfer still running (their callbacks are not called;
 * their easy handles stay with their owners), stops the watchers, frees. */
void ntf_curl_loop_destroy(ntf_curl_loop_t **pc);

/* Starts easy (still owned by the caller) with an overall timeout and a
 * connect timeout in milliseconds (0: none). Returns 0, or a negative BW_E
 * code and then done is never called. */
int ntf_curl_loop_add(ntf_curl_loop_t *c, CURL *easy, long timeout_ms, long connect_timeout_ms,
                      ntf_curl_done_fn done, void *arg);
/* Stops a transfer started with ntf_curl_loop_add without calling its
 * callback; BW_ENOTFOUND when it is not running. */
int ntf_curl_loop_remove(ntf_curl_loop_t *c, CURL *easy);
/* Transfers in flight. */
size_t ntf_curl_loop_pending(const ntf_curl_loop_t *c);

/* Classifies an HTTP outcome: 2xx ok; transport errors (refused, timed out,
 * reset), 408, 429 and 5xx temporary; anything else permanent. */
ntf_status_t ntf_http_classify(CURLcode rc, long http_code);

typedef struct ntf_http_call ntf_http_call_t;

/* What a POST got back: body is the response (truncated to a few KiB, never
 * NULL), errmsg libcurl's reason or "" on transport success. */
typedef void (*ntf_http_done_fn)(void *arg, ntf_status_t status, long http_code, const char *body,
                                 const char *errmsg);

typedef struct {
    const char *url;
    const char *body; /* copied */
    size_t body_len;
    struct curl_slist *headers; /* taken over by ntf_http_post, even when it fails */
    const char *userpwd;        /* "user:password" for basic auth, or NULL */
    long timeout_ms;
    long connect_timeout_ms;
    int insecure; /* skip TLS verification (tests against self-signed servers only) */
} ntf_http_req_t;

/* POSTs req->body to req->url. On 0, *out (a handle for ntf_http_cancel) is
 * set and done runs once from the loop; on a negative BW_E code it never
 * runs. The call frees itself after done returns. */
int ntf_http_post(ntf_curl_loop_t *c, ntf_http_req_t *req, ntf_http_done_fn done, void *arg,
                  ntf_http_call_t **out);
/* Abandons a call without calling its callback; sets *pcall to NULL. */
void ntf_http_cancel(ntf_http_call_t **pcall);

#endif
