/* The webhook notifier: POSTs the event as JSON to the customer's endpoint,
 * signed the way Stripe signs its webhooks so receivers can reuse what they
 * know: header Billow-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
 * "<t>.<body>" keyed with the shared secret>. Receivers should recompute it
 * over the raw body and reject stale timestamps; Idempotency-Key (the same
 * on every retry) lets them drop duplicates.
 *
 * Body: {"id", "type", "created", "idempotency_key", "data"}, where data is
 * the message's payload_json, or {"subject", "text"} when it has none.
 * Endpoint: the message's address when it is an http(s) URL, else URL.
 *
 * Settings (BILLOW_NOTIFIER_WEBHOOK_*): URL, SECRET (required), TIMEOUT_MS
 * (10000), CONNECT_TIMEOUT_MS (5000), INSECURE (1: skip TLS checks, tests).
 * Outcome: 2xx ok; 408, 429, 5xx, timeouts and connection errors temporary;
 * any other status permanent. */
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "errors.h"
#include "notification/curl_loop.h"
#include "notification/notifier.h"
#include "notification/notifier_registry.h"

typedef struct wreq {
    struct webhook_notifier *w;
    uint64_t id;
    ntf_http_call_t *call;
    ntf_done_fn done;
    void *arg;
    struct wreq *prev, *next;
} wreq_t;

typedef struct webhook_notifier {
    const ntf_host_t *host;
    ntf_curl_loop_t *curl;
    char *url, *secret;
    long timeout_ms, connect_timeout_ms;
    bool insecure;
    uint64_t next_id;
    wreq_t *reqs;
} webhook_notifier_t;

static long parse_ms(const char *v, long def)
{
    char *end;
    long n = strtol(v ? v : "", &end, 10);
    return (v && *v && !*end && n > 0) ? n : def;
}

static bool is_http_url(const char *s)
{
    return s && (strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0);
}

static int webhook_init(const ntf_host_t *host, const ntf_setting_t *st, size_t n,
                        void **instance, char *err, size_t errlen)
{
    if (!host->priv) {
        snprintf(err, errlen, "the host offers no curl driver");
        return BW_EINVAL;
    }
    const char *url = ntf_setting(st, n, "url", NULL);
    const char *secret = ntf_setting(st, n, "secret", NULL);
    if (url && !is_http_url(url)) {
        snprintf(err, errlen, "url must start with http:// or https://");
        return BW_EINVAL;
    }
    if (!secret || strlen(secret) < 16) {
        snprintf(err, errlen, "secret is required (at least 16 characters)");
        return BW_EINVAL;
    }
    webhook_notifier_t *w = calloc(1, sizeof *w);
    if (!w)
        goto nomem;
    w->host = host;
    w->curl = host->priv;
    w->url = url ? strdup(url) : NULL;
    w->secret = strdup(secret);
    if ((url && !w->url) || !w->secret)
        goto nomem;
    w->timeout_ms = parse_ms(ntf_setting(st, n, "timeout_ms", NULL), 10000);
    w->connect_timeout_ms = parse_ms(ntf_setting(st, n, "connect_timeout_ms", NULL), 5000);
    w->insecure = strcmp(ntf_setting(st, n, "insecure", "0"), "1") == 0;
    *instance = w;
    return 0;
nomem:
    if (w) {
        free(w->url);
        free(w->secret);
        free(w);
    }
    snprintf(err, errlen, "out of memory");
    return BW_ENOMEM;
}

static void wreq_unlink(webhook_notifier_t *w, wreq_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        w->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void webhook_done_cb(void *arg, ntf_status_t status, long http_code, const char *body,
                            const char *errmsg)
{
    wreq_t *r = arg;
    wreq_unlink(r->w, r);
    /* A receiver that names its record of the event gives us a provider id. */
    json_object *resp = status == NTF_OK ? json_tokener_parse(body) : NULL;
    json_object *idv = NULL;
    const char *pid = NULL;
    if (resp && json_object_is_type(resp, json_type_object) &&
        json_object_object_get_ex(resp, "id", &idv))
        pid = json_object_get_string(idv);
    char msg[256];
    if (errmsg && *errmsg)
        snprintf(msg, sizeof msg, "%s", errmsg);
    else
        snprintf(msg, sizeof msg, "HTTP %ld: %.200s", http_code, body);
    ntf_result_t res = {
        .status = status, .code = (int)http_code, .message = msg, .provider_id = pid};
    r->done(r->arg, &res);
    json_object_put(resp);
    free(r);
}

/* Hex HMAC-SHA256 of "<ts>.<body>"; 0 or BW_EIO. */
static int sign(const char *secret, long long ts, const char *body, char hex[65])
{
    char *data = NULL;
    int len = asprintf(&data, "%lld.%s", ts, body);
    if (len < 0)
        return BW_ENOMEM;
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    unsigned char *ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret, strlen(secret),
                                  (const unsigned char *)data, (size_t)len, mac, sizeof mac,
                                  &mac_len);
    free(data);
    if (!ok || mac_len != 32)
        return BW_EIO;
    for (size_t i = 0; i < mac_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

/* The event body, or NULL (bad payload JSON or out of memory). */
static char *event_body(const ntf_message_t *msg, long long ts)
{
    json_object *o = json_object_new_object();
    json_object *data = NULL;
    if (msg->payload_json) {
        data = json_tokener_parse(msg->payload_json);
        if (!data) {
            json_object_put(o);
            return NULL;
        }
    } else {
        data = json_object_new_object();
        if (msg->subject)
            json_object_object_add(data, "subject", json_object_new_string(msg->subject));
        json_object_object_add(data, "text", json_object_new_string(msg->text));
    }
    json_object_object_add(o, "id", json_object_new_string(msg->id));
    if (msg->type)
        json_object_object_add(o, "type", json_object_new_string(msg->type));
    json_object_object_add(o, "created", json_object_new_int64(ts));
    if (msg->idempotency_key)
        json_object_object_add(o, "idempotency_key",
                               json_object_new_string(msg->idempotency_key));
    json_object_object_add(o, "data", data);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char *out = s ? strdup(s) : NULL;
    json_object_put(o);
    return out;
}

static int add_header(struct curl_slist **h, const char *name, const char *value)
{
    char *line = NULL;
    if (asprintf(&line, "%s: %s", name, value) < 0)
        return BW_ENOMEM;
    struct curl_slist *l = curl_slist_append(*h, line);
    free(line);
    if (!l)
        return BW_ENOMEM;
    *h = l;
    return 0;
}

static int webhook_send(void *instance, const ntf_message_t *msg, ntf_done_fn done, void *arg,
                        uint64_t *request)
{
    webhook_notifier_t *w = instance;
    const char *url = is_http_url(msg->address) ? msg->address : w->url;
    if (!url || !msg->id || (msg->idempotency_key && strpbrk(msg->idempotency_key, "\r\n")) ||
        strpbrk(msg->id, "\r\n"))
        return BW_EINVAL;
    /* The signature's timestamp is real time, not the service clock: the
     * receiver compares it with its own clock to refuse replays, and a clock
     * pinned for a back-dated run would make every delivery look stale. */
    long long ts = (long long)time(NULL);
    int rc = BW_ENOMEM;
    struct curl_slist *h = NULL;
    wreq_t *r = NULL;
    char *body = event_body(msg, ts);
    if (!body)
        return msg->payload_json ? BW_EINVAL : BW_ENOMEM;
    char hex[65], sig[128];
    rc = sign(w->secret, ts, body, hex);
    if (rc < 0)
        goto fail;
    snprintf(sig, sizeof sig, "t=%lld,v1=%s", ts, hex);
    rc = BW_ENOMEM;
    if (add_header(&h, "Content-Type", "application/json") < 0 ||
        add_header(&h, "Billow-Signature", sig) < 0 || add_header(&h, "Billow-Event-Id", msg->id) < 0 ||
        (msg->idempotency_key && add_header(&h, "Idempotency-Key", msg->idempotency_key) < 0))
        goto fail;
    r = calloc(1, sizeof *r);
    if (!r)
        goto fail;
    r->w = w;
    r->done = done;
    r->arg = arg;
    ntf_http_req_t req = {.url = url,
                          .body = body,
                          .body_len = strlen(body),
                          .headers = h,
                          .timeout_ms = w->timeout_ms,
                          .connect_timeout_ms = w->connect_timeout_ms,
                          .insecure = w->insecure};
    h = NULL; /* ntf_http_post takes the list in every case */
    rc = ntf_http_post(w->curl, &req, webhook_done_cb, r, &r->call);
    if (rc < 0)
        goto fail;
    free(body);
    r->id = ++w->next_id;
    r->next = w->reqs;
    if (w->reqs)
        w->reqs->prev = r;
    w->reqs = r;
    if (request)
        *request = r->id;
    return 0;
fail:
    curl_slist_free_all(h);
    free(r);
    free(body);
    return rc;
}

static int webhook_cancel(void *instance, uint64_t request)
{
    webhook_notifier_t *w = instance;
    for (wreq_t *r = w->reqs; r; r = r->next)
        if (r->id == request) {
            ntf_http_cancel(&r->call);
            wreq_unlink(w, r);
            free(r);
            return 0;
        }
    return BW_ENOTFOUND;
}

static void webhook_shutdown(void **instance)
{
    if (!instance || !*instance)
        return;
    webhook_notifier_t *w = *instance;
    while (w->reqs)
        webhook_cancel(w, w->reqs->id);
    free(w->url);
    free(w->secret);
    free(w);
    *instance = NULL;
}

const ntf_notifier_t ntf_webhook_notifier = {
    .abi_version = NTF_ABI_VERSION,
    .struct_size = sizeof(ntf_notifier_t),
    .name = "webhook",
    .description = "signed JSON POST (Billow-Signature: t=..,v1=HMAC-SHA256)",
    .init = webhook_init,
    .send = webhook_send,
    .cancel = webhook_cancel,
    .shutdown = webhook_shutdown,
};
