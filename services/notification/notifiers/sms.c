/* The SMS notifier: hands a text to an HTTP SMS gateway as a JSON POST
 * {"to", "text", "idempotency_key", "from"?} and reads back the gateway's
 * message id ("id" or "message_id" in a JSON answer). Gateways differ in
 * their payloads; one that needs another shape is a plugin's job.
 *
 * Settings (BILLOW_NOTIFIER_SMS_*): URL (required), TOKEN (sent as
 * "Authorization: Bearer ..."), or USER and PASSWORD (basic auth), SENDER
 * (optional "from"), TIMEOUT_MS (10000), CONNECT_TIMEOUT_MS (5000),
 * INSECURE (1: skip TLS checks, tests). Outcome as for webhooks: 2xx ok;
 * 408, 429, 5xx, timeouts and connection errors temporary; other 4xx
 * permanent. */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "notification/curl_loop.h"
#include "notification/notifier.h"
#include "notification/notifier_registry.h"

typedef struct sreq {
    struct sms_notifier *s;
    uint64_t id;
    ntf_http_call_t *call;
    ntf_done_fn done;
    void *arg;
    struct sreq *prev, *next;
} sreq_t;

typedef struct sms_notifier {
    const ntf_host_t *host;
    ntf_curl_loop_t *curl;
    char *url, *auth_header, *userpwd, *sender;
    long timeout_ms, connect_timeout_ms;
    bool insecure;
    uint64_t next_id;
    sreq_t *reqs;
} sms_notifier_t;

static long parse_ms(const char *v, long def)
{
    char *end;
    long n = strtol(v ? v : "", &end, 10);
    return (v && *v && !*end && n > 0) ? n : def;
}

static void sms_free(sms_notifier_t *s)
{
    free(s->url);
    free(s->auth_header);
    free(s->userpwd);
    free(s->sender);
    free(s);
}

static int sms_init(const ntf_host_t *host, const ntf_setting_t *st, size_t n, void **instance,
                    char *err, size_t errlen)
{
    if (!host->priv) {
        snprintf(err, errlen, "the host offers no curl driver");
        return BW_EINVAL;
    }
    const char *url = ntf_setting(st, n, "url", NULL);
    if (!url || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)) {
        snprintf(err, errlen, "url is required and must start with http:// or https://");
        return BW_EINVAL;
    }
    const char *token = ntf_setting(st, n, "token", NULL);
    const char *user = ntf_setting(st, n, "user", NULL);
    const char *password = ntf_setting(st, n, "password", "");
    const char *sender = ntf_setting(st, n, "sender", NULL);
    if (token && strpbrk(token, "\r\n")) {
        snprintf(err, errlen, "token must be one line");
        return BW_EINVAL;
    }
    sms_notifier_t *s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->host = host;
    s->curl = host->priv;
    s->url = strdup(url);
    if (!s->url)
        goto nomem;
    if (token && asprintf(&s->auth_header, "Authorization: Bearer %s", token) < 0) {
        s->auth_header = NULL;
        goto nomem;
    }
    if (user && asprintf(&s->userpwd, "%s:%s", user, password) < 0) {
        s->userpwd = NULL;
        goto nomem;
    }
    if (sender && !(s->sender = strdup(sender)))
        goto nomem;
    s->timeout_ms = parse_ms(ntf_setting(st, n, "timeout_ms", NULL), 10000);
    s->connect_timeout_ms = parse_ms(ntf_setting(st, n, "connect_timeout_ms", NULL), 5000);
    s->insecure = strcmp(ntf_setting(st, n, "insecure", "0"), "1") == 0;
    *instance = s;
    return 0;
nomem:
    if (s)
        sms_free(s);
    snprintf(err, errlen, "out of memory");
    return BW_ENOMEM;
}

static void sreq_unlink(sms_notifier_t *s, sreq_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        s->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void sms_done_cb(void *arg, ntf_status_t status, long http_code, const char *body,
                        const char *errmsg)
{
    sreq_t *r = arg;
    sreq_unlink(r->s, r);
    json_object *resp = status == NTF_OK ? json_tokener_parse(body) : NULL;
    json_object *idv = NULL;
    const char *pid = NULL;
    if (resp && json_object_is_type(resp, json_type_object) &&
        (json_object_object_get_ex(resp, "message_id", &idv) ||
         json_object_object_get_ex(resp, "id", &idv)))
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

/* A phone number as gateways take it: "+" and digits, 6 to 16 long. */
static bool phone_ok(const char *p)
{
    if (!p)
        return false;
    size_t digits = 0;
    for (const char *c = p; *c; c++) {
        if (*c >= '0' && *c <= '9')
            digits++;
        else if (!(c == p && *c == '+'))
            return false;
    }
    return digits >= 6 && digits <= 16;
}

static int sms_send(void *instance, const ntf_message_t *msg, ntf_done_fn done, void *arg,
                    uint64_t *request)
{
    sms_notifier_t *s = instance;
    if (!phone_ok(msg->address) || (msg->idempotency_key && strpbrk(msg->idempotency_key, "\r\n")))
        return BW_EINVAL;
    int rc = BW_ENOMEM;
    struct curl_slist *h = NULL;
    sreq_t *r = NULL;
    char *idem = NULL;
    json_object *o = json_object_new_object();
    if (!o)
        return BW_ENOMEM;
    json_object_object_add(o, "to", json_object_new_string(msg->address));
    json_object_object_add(o, "text", json_object_new_string(msg->text));
    if (msg->idempotency_key)
        json_object_object_add(o, "idempotency_key", json_object_new_string(msg->idempotency_key));
    if (s->sender)
        json_object_object_add(o, "from", json_object_new_string(s->sender));
    const char *body = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    if (!body)
        goto fail;
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    if (!l)
        goto fail;
    h = l;
    if (s->auth_header) {
        if (!(l = curl_slist_append(h, s->auth_header)))
            goto fail;
        h = l;
    }
    if (msg->idempotency_key) {
        if (asprintf(&idem, "Idempotency-Key: %s", msg->idempotency_key) < 0) {
            idem = NULL;
            goto fail;
        }
        if (!(l = curl_slist_append(h, idem)))
            goto fail;
        h = l;
    }
    r = calloc(1, sizeof *r);
    if (!r)
        goto fail;
    r->s = s;
    r->done = done;
    r->arg = arg;
    ntf_http_req_t req = {.url = s->url,
                          .body = body,
                          .body_len = strlen(body),
                          .headers = h,
                          .userpwd = s->userpwd,
                          .timeout_ms = s->timeout_ms,
                          .connect_timeout_ms = s->connect_timeout_ms,
                          .insecure = s->insecure};
    h = NULL; /* ntf_http_post takes the list in every case */
    rc = ntf_http_post(s->curl, &req, sms_done_cb, r, &r->call);
    if (rc < 0)
        goto fail;
    r->id = ++s->next_id;
    r->next = s->reqs;
    if (s->reqs)
        s->reqs->prev = r;
    s->reqs = r;
    if (request)
        *request = r->id;
    free(idem);
    json_object_put(o);
    return 0;
fail:
    curl_slist_free_all(h);
    free(idem);
    free(r);
    json_object_put(o);
    return rc;
}

static int sms_cancel(void *instance, uint64_t request)
{
    sms_notifier_t *s = instance;
    for (sreq_t *r = s->reqs; r; r = r->next)
        if (r->id == request) {
            ntf_http_cancel(&r->call);
            sreq_unlink(s, r);
            free(r);
            return 0;
        }
    return BW_ENOTFOUND;
}

static void sms_shutdown(void **instance)
{
    if (!instance || !*instance)
        return;
    sms_notifier_t *s = *instance;
    while (s->reqs)
        sms_cancel(s, s->reqs->id);
    sms_free(s);
    *instance = NULL;
}

const ntf_notifier_t ntf_sms_notifier = {
    .abi_version = NTF_ABI_VERSION,
    .struct_size = sizeof(ntf_notifier_t),
    .name = "sms",
    .description = "SMS through an HTTP gateway (JSON POST, bearer or basic auth)",
    .init = sms_init,
    .send = sms_send,
    .cancel = sms_cancel,
    .shutdown = sms_shutdown,
};
