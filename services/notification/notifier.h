/* The notifier plugin ABI: how the notification service hands one rendered
 * message to a delivery channel (email, SMS, webhook, a file, or anything a
 * plugin adds) and learns how delivery went. Built-in notifiers and plugins
 * loaded from BILLOW_NOTIFIER_DIR implement the same struct, so this header
 * is the whole contract a plugin author needs; it depends only on libev and
 * the C library.
 *
 * A plugin is a shared object exporting one data symbol,
 *
 *     const ntf_notifier_t billow_notifier = {
 *         .abi_version = NTF_ABI_VERSION, .name = "pager", ...
 *     };
 *
 * The host refuses it unless abi_version equals its own NTF_ABI_VERSION,
 * struct_size covers every field the host knows, and init, send and shutdown
 * are set. Everything runs on the host's single libev loop thread: a plugin
 * must never block it (no blocking sockets, no sleeping, no waiting on a
 * child); slow work goes through non-blocking APIs driven by watchers on
 * host->loop, or a thread of the plugin's own that reports back through an
 * ev_async. See tests/plugins/example_notifier.c for a small complete one. */
#ifndef NTF_NOTIFIER_H
#define NTF_NOTIFIER_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bumped on any incompatible change of the structs below. */
#define NTF_ABI_VERSION 1u
/* The symbol the host looks up with dlsym in a plugin. */
#define NTF_NOTIFIER_SYMBOL "billow_notifier"

/* Return codes: 0 or one of these negative values (the same numbers as the
 * service's BW_E codes, so the host can pass them on unchanged). */
enum {
    NTF_E_INVAL = -1,    /* bad settings or a message this notifier cannot send */
    NTF_E_NOMEM = -2,
    NTF_E_UNAVAIL = -4,  /* the notifier is shutting down or cannot take work */
    NTF_E_NOTFOUND = -5, /* cancel: no such request (already completed) */
    NTF_E_IO = -8,
};

/* How a delivery attempt ended. The host retries TEMPFAIL later with the
 * same idempotency key and gives up on PERMFAIL. */
typedef enum {
    NTF_OK = 0,       /* the provider accepted the message */
    NTF_TEMPFAIL = 1, /* try again later: timeout, refused connection, 4xx SMTP, HTTP 5xx/408/429 */
    NTF_PERMFAIL = 2, /* retrying will not help: 5xx SMTP, HTTP 4xx, invalid address */
} ntf_status_t;

typedef enum { NTF_LOG_DEBUG = 0, NTF_LOG_INFO, NTF_LOG_WARN, NTF_LOG_ERROR } ntf_log_level_t;

/* One setting. The host builds them from the environment: for a notifier
 * named "smtp", BILLOW_NOTIFIER_SMTP_URL=... becomes {"url", "..."} (the
 * part after the prefix, lower-cased). Strings live until init returns. */
typedef struct {
    const char *key;
    const char *value;
} ntf_setting_t;

typedef struct ntf_host ntf_host_t;

/* What the host offers a notifier; valid from init until shutdown returns. */
struct ntf_host {
    uint32_t abi_version;  /* the host's NTF_ABI_VERSION */
    struct ev_loop *loop;  /* the one loop every watcher must run on */
    /* Writes one JSON log line: msg is short and lower-case; fields is NULL
     * or a NULL-terminated list of key, value, key, value... strings. Never
     * log secrets (passwords, tokens, signing keys). */
    void (*log)(const ntf_host_t *host, ntf_log_level_t level, const char *msg,
                const char *const *fields);
    /* "Now" in microseconds since the epoch as the service sees it (a
     * setting can pin it for tests and back-dated runs). */
    int64_t (*now_us)(const ntf_host_t *host);
    /* Host-private state (built-in notifiers find the shared libcurl driver
     * here). Plugins must leave it alone. */
    void *priv;
};

/* An attachment; the bytes are only borrowed for the duration of send. */
typedef struct {
    const char *filename;     /* shown to the recipient, e.g. "INV-2026-000123.pdf" */
    const char *content_type; /* e.g. "application/pdf"; NULL: application/octet-stream */
    const void *data;
    size_t len;
} ntf_attachment_t;

/* One message to deliver. Strings are UTF-8 and NUL-terminated. Everything
 * is borrowed: send must copy what it keeps before it returns. */
typedef struct {
    const char *id;              /* the notification's id, unique; stable across retries */
    const char *idempotency_key; /* the same on every retry; providers that support it dedupe on it */
    const char *type;            /* message type, e.g. "invoice_issued" (may be NULL) */
    const char *channel;         /* "email", "sms", "webhook", ... */
    const char *address;         /* where to: e-mail address, E.164 phone number, URL ... */
    const char *subject;         /* NULL when the channel has none */
    const char *text;            /* the plain-text body; never NULL (may be "") */
    const char *html;            /* optional HTML alternative, or NULL */
    const char *payload_json;    /* optional JSON object for machine channels, or NULL */
    const ntf_attachment_t *attachments; /* optional, n_attachments long */
    size_t n_attachments;
} ntf_message_t;

/* The outcome of one send, valid only during the completion callback. */
typedef struct {
    ntf_status_t status;
    int code;                /* provider's status: HTTP status, SMTP reply code; 0 when none was received */
    const char *message;     /* provider's answer or our error text; never NULL */
    const char *provider_id; /* provider's message id, or NULL */
} ntf_result_t;

/* Completion: called exactly once per successful send, from the loop and
 * never from inside send itself, unless the request was cancelled or the
 * instance shut down first (then never). */
typedef void (*ntf_done_fn)(void *arg, const ntf_result_t *result);

typedef struct {
    uint32_t abi_version; /* NTF_ABI_VERSION the plugin was built against */
    uint32_t struct_size; /* sizeof(ntf_notifier_t) the plugin was built with */
    const char *name;     /* [a-z0-9_]+, unique in a process: "smtp", "webhook" ... */
    const char *description;

    /* Creates an instance from its settings (see ntf_setting_t). On success
     * sets *instance and returns 0; otherwise writes a short reason into err
     * (never a secret) and returns a negative NTF_E code. host stays valid
     * until shutdown. */
    int (*init)(const ntf_host_t *host, const ntf_setting_t *settings, size_t n_settings,
                void **instance, char *err, size_t errlen);

    /* Starts delivering msg and returns at once. On 0, done(arg, result) is
     * called later from the loop and *request (when request is not NULL)
     * holds a non-zero id for cancel. On a negative NTF_E code (bad message,
     * shutting down) done is never called. */
    int (*send)(void *instance, const ntf_message_t *msg, ntf_done_fn done, void *arg,
                uint64_t *request);

    /* Abandons a request: done will not be called for it. Whether the
     * provider already got the message is unknown, so the caller treats it
     * as not delivered. Returns NTF_E_NOTFOUND when the request has already
     * completed. May be NULL when a notifier cannot cancel. */
    int (*cancel)(void *instance, uint64_t request);

    /* Stops every request in flight without calling their done callbacks,
     * frees the instance and sets *instance to NULL; safe on NULL. */
    void (*shutdown)(void **instance);
} ntf_notifier_t;

/* The value of setting key, or def when it is absent or empty. */
static inline const char *ntf_setting(const ntf_setting_t *settings, size_t n, const char *key,
                                      const char *def)
{
    for (size_t i = 0; i < n; i++)
        if (settings[i].key && strcmp(settings[i].key, key) == 0)
            return settings[i].value && *settings[i].value ? settings[i].value : def;
    return def;
}

#endif
