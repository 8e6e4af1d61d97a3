/* The SMTP notifier: e-mail through libcurl's SMTP client on the shared
 * curl driver, so a slow or dead mail server never blocks the loop. A
 * message goes out as MIME: multipart/alternative with the text part and,
 * when there is one, the HTML part, then any attachments; headers From, To,
 * Subject (RFC 2047 encoded when not ASCII), Date, Message-ID and
 * X-Billow-Idempotency-Key, which lets a relay or a mailbox rule drop a
 * retry the provider already took.
 *
 * Settings (BILLOW_NOTIFIER_SMTP_*): URL (smtp://127.0.0.1:25; smtps:// for
 * implicit TLS), FROM (required: "Billing <billing@example.com>"), USER and
 * PASSWORD (auth when set), STARTTLS (off | try | required; default off),
 * CA_FILE, INSECURE (1: skip certificate checks, tests only), TIMEOUT_MS
 * (30000), CONNECT_TIMEOUT_MS (10000).
 *
 * Outcome: 2xx ok; a 5xx reply permanent; a 4xx reply, a refused or lost
 * connection and a timeout temporary. */
#include <curl/curl.h>
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

typedef struct req {
    struct smtp_notifier *s;
    uint64_t id;
    CURL *easy;
    curl_mime *mime;
    struct curl_slist *headers;
    struct curl_slist *rcpt;
    ntf_done_fn done;
    void *arg;
    char message_id[300];
    char last_reply[512]; /* the server's last reply line */
    char errbuf[CURL_ERROR_SIZE];
    struct req *prev, *next;
} req_t;

typedef struct smtp_notifier {
    const ntf_host_t *host;
    ntf_curl_loop_t *curl;
    char *url, *from_header, *from_addr, *domain, *user, *password, *ca_file;
    long use_ssl;
    bool insecure;
    long timeout_ms, connect_timeout_ms;
    uint64_t next_id;
    req_t *reqs;
} smtp_notifier_t;

static void smtp_free(smtp_notifier_t *s)
{
    free(s->url);
    free(s->from_header);
    free(s->from_addr);
    free(s->domain);
    free(s->user);
    free(s->password);
    free(s->ca_file);
    free(s);
}

static bool has_crlf(const char *v) { return v && strpbrk(v, "\r\n") != NULL; }

static bool is_ascii(const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p >= 0x80)
            return false;
    return true;
}

static long parse_ms(const char *v, long def)
{
    char *end;
    long n = strtol(v ? v : "", &end, 10);
    return (v && *v && !*end && n > 0) ? n : def;
}

static int smtp_init(const ntf_host_t *host, const ntf_setting_t *st, size_t n, void **instance,
                     char *err, size_t errlen)
{
    if (!host->priv) {
        snprintf(err, errlen, "the host offers no curl driver");
        return BW_EINVAL;
    }
    const char *url = ntf_setting(st, n, "url", "smtp://127.0.0.1:25");
    const char *from = ntf_setting(st, n, "from", NULL);
    const char *starttls = ntf_setting(st, n, "starttls", "off");
    if (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0) {
        snprintf(err, errlen, "url must start with smtp:// or smtps://");
        return BW_EINVAL;
    }
    if (!from || has_crlf(from)) {
        snprintf(err, errlen, "from is required (e.g. \"Billing <billing@example.com>\")");
        return BW_EINVAL;
    }
    long use_ssl;
    if (strcmp(starttls, "off") == 0)
        use_ssl = CURLUSESSL_NONE;
    else if (strcmp(starttls, "try") == 0)
        use_ssl = CURLUSESSL_TRY;
    else if (strcmp(starttls, "required") == 0)
        use_ssl = CURLUSESSL_ALL;
    else {
        snprintf(err, errlen, "starttls must be off, try or required");
        return BW_EINVAL;
    }
    /* The envelope sender is the address inside <...>, or all of from. */
    const char *lt = strchr(from, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    const char *addr = lt && gt ? lt + 1 : from;
    size_t addr_len = lt && gt ? (size_t)(gt - lt - 1) : strlen(from);
    const char *at = memchr(addr, '@', addr_len);
    if (!at || addr_len < 3) {
        snprintf(err, errlen, "from has no e-mail address");
        return BW_EINVAL;
    }

    smtp_notifier_t *s = calloc(1, sizeof *s);
    if (!s)
        goto nomem;
    s->host = host;
    s->curl = host->priv;
    s->use_ssl = use_ssl;
    s->insecure = strcmp(ntf_setting(st, n, "insecure", "0"), "1") == 0;
    s->timeout_ms = parse_ms(ntf_setting(st, n, "timeout_ms", NULL), 30000);
    s->connect_timeout_ms = parse_ms(ntf_setting(st, n, "connect_timeout_ms", NULL), 10000);
    s->url = strdup(url);
    s->from_addr = strndup(addr, addr_len);
    s->domain = strndup(at + 1, addr_len - (size_t)(at + 1 - addr));
    const char *user = ntf_setting(st, n, "user", NULL);
    const char *password = ntf_setting(st, n, "password", NULL);
    const char *ca = ntf_setting(st, n, "ca_file", NULL);
    s->user = user ? strdup(user) : NULL;
    s->password = password ? strdup(password) : NULL;
    s->ca_file = ca ? strdup(ca) : NULL;
    if (!s->url || !s->from_addr || !s->domain || (user && !s->user) ||
        (password && !s->password) || (ca && !s->ca_file))
        goto nomem;
    /* A display name that is not ASCII must be an encoded word. */
    if (lt && gt && !is_ascii(from)) {
        size_t name_len = (size_t)(lt - from);
        while (name_len && from[name_len - 1] == ' ')
            name_len--;
        char *name = strndup(from, name_len);
        if (!name)
            goto nomem;
        size_t raw = strlen(name);
        unsigned char *b64 = malloc(4 * ((raw + 2) / 3) + 1);
        if (!b64) {
            free(name);
            goto nomem;
        }
        EVP_EncodeBlock(b64, (const unsigned char *)name, (int)raw);
        if (asprintf(&s->from_header, "=?UTF-8?B?%s?= <%s>", (char *)b64, s->from_addr) < 0)
            s->from_header = NULL;
        free(b64);
        free(name);
    } else {
        s->from_header = strdup(from);
    }
    if (!s->from_header)
        goto nomem;
    *instance = s;
    return 0;
nomem:
    if (s)
        smtp_free(s);
    snprintf(err, errlen, "out of memory");
    return BW_ENOMEM;
}

static void req_unlink(smtp_notifier_t *s, req_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        s->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
}

static void req_free(req_t *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_mime_free(r->mime);
    curl_slist_free_all(r->headers);
    curl_slist_free_all(r->rcpt);
    free(r);
}

/* For SMTP, curl hands every server reply line to the header callback:
 * keep the last, it is the one that decided the outcome, but not the
 * "221 Bye" of the QUIT curl sends after a failure. */
static size_t reply_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
    req_t *r = userdata;
    size_t n = size * nitems;
    if (n >= 4 && memcmp(buf, "221", 3) == 0 && (buf[3] == ' ' || buf[3] == '-'))
        return n;
    size_t take = n < sizeof r->last_reply - 1 ? n : sizeof r->last_reply - 1;
    while (take && (buf[take - 1] == '\n' || buf[take - 1] == '\r'))
        take--;
    if (take) {
        memcpy(r->last_reply, buf, take);
        r->last_reply[take] = '\0';
    }
    return n;
}

static void smtp_done_cb(void *arg, CURL *easy, CURLcode rc)
{
    req_t *r = arg;
    smtp_notifier_t *s = r->s;
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    ntf_result_t res = {.code = (int)code};
    if (rc == CURLE_OK) {
        res.status = NTF_OK;
        res.message = r->last_reply[0] ? r->last_reply : "accepted";
        res.provider_id = r->message_id;
    } else {
        res.status = code >= 500 && code < 600 ? NTF_PERMFAIL : NTF_TEMPFAIL;
        /* The server's words say more than curl's when it answered at all. */
        res.message = code >= 400 && r->last_reply[0] ? r->last_reply
                      : r->errbuf[0]                  ? r->errbuf
                                                      : curl_easy_strerror(rc);
    }
    req_unlink(s, r);
    ntf_done_fn done = r->done;
    void *darg = r->arg;
    done(darg, &res);
    req_free(r);
}

/* Appends "Subject: <value>" style headers, encoding non-ASCII text as
 * RFC 2047 encoded words folded onto continuation lines, each word holding
 * whole UTF-8 characters. */
static int append_encoded(struct curl_slist **list, const char *name, const char *value)
{
    char *line = NULL;
    if (is_ascii(value)) {
        if (asprintf(&line, "%s: %s", name, value) < 0)
            return BW_ENOMEM;
    } else {
        size_t len = strlen(value);
        size_t cap = strlen(name) + 3 + (len / 30 + 1) * 64 + 16;
        line = malloc(cap);
        if (!line)
            return BW_ENOMEM;
        size_t pos = (size_t)snprintf(line, cap, "%s:", name);
        size_t i = 0;
        while (i < len) {
            size_t chunk = len - i < 30 ? len - i : 30;
            /* Do not split a UTF-8 sequence: back up to a lead byte. */
            while (i + chunk < len && chunk > 0 && ((unsigned char)value[i + chunk] & 0xC0) == 0x80)
                chunk--;
            unsigned char b64[64];
            EVP_EncodeBlock(b64, (const unsigned char *)value + i, (int)chunk);
            pos += (size_t)snprintf(line + pos, cap - pos, "%s=?UTF-8?B?%s?=",
                                    i ? "\r\n " : " ", (char *)b64);
            i += chunk;
        }
    }
    struct curl_slist *l = curl_slist_append(*list, line);
    free(line);
    if (!l)
        return BW_ENOMEM;
    *list = l;
    return 0;
}

static int append_header(struct curl_slist **list, const char *fmt, const char *a, const char *b)
{
    char *line = NULL;
    if (asprintf(&line, fmt, a, b) < 0)
        return BW_ENOMEM;
    struct curl_slist *l = curl_slist_append(*list, line);
    free(line);
    if (!l)
        return BW_ENOMEM;
    *list = l;
    return 0;
}

/* RFC 5322 date, spelled out so the C locale does not matter. */
static void format_date(int64_t us, char *buf, size_t len)
{
    static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
             months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int build_mime(req_t *r, const ntf_message_t *msg)
{
    curl_mime *alt = NULL;
    struct curl_slist *inline_hdr = NULL;
    r->mime = curl_mime_init(r->easy);
    alt = curl_mime_init(r->easy);
    if (!r->mime || !alt)
        goto fail;
    curl_mimepart *part = curl_mime_addpart(alt);
    if (!part || curl_mime_data(part, msg->text, CURL_ZERO_TERMINATED) != CURLE_OK ||
        curl_mime_type(part, "text/plain; charset=utf-8") != CURLE_OK ||
        curl_mime_encoder(part, "quoted-printable") != CURLE_OK)
        goto fail;
    if (msg->html) {
        part = curl_mime_addpart(alt);
        if (!part || curl_mime_data(part, msg->html, CURL_ZERO_TERMINATED) != CURLE_OK ||
            curl_mime_type(part, "text/html; charset=utf-8") != CURLE_OK ||
            curl_mime_encoder(part, "quoted-printable") != CURLE_OK)
            goto fail;
    }
    part = curl_mime_addpart(r->mime);
    if (!part || curl_mime_subparts(part, alt) != CURLE_OK)
        goto fail;
    alt = NULL; /* owned by part now */
    if (curl_mime_type(part, "multipart/alternative") != CURLE_OK)
        goto fail;
    inline_hdr = curl_slist_append(NULL, "Content-Disposition: inline");
    if (!inline_hdr || curl_mime_headers(part, inline_hdr, 1) != CURLE_OK)
        goto fail;
    inline_hdr = NULL;
    for (size_t i = 0; i < msg->n_attachments; i++) {
        const ntf_attachment_t *a = &msg->attachments[i];
        part = curl_mime_addpart(r->mime);
        if (!part || curl_mime_data(part, a->data, a->len) != CURLE_OK ||
            curl_mime_filename(part, a->filename ? a->filename : "attachment") != CURLE_OK ||
            curl_mime_type(part, a->content_type ? a->content_type
                                                 : "application/octet-stream") != CURLE_OK ||
            curl_mime_encoder(part, "base64") != CURLE_OK)
            goto fail;
    }
    return 0;
fail:
    curl_mime_free(alt);
    curl_slist_free_all(inline_hdr);
    return BW_ENOMEM;
}

static int smtp_send(void *instance, const ntf_message_t *msg, ntf_done_fn done, void *arg,
                     uint64_t *request)
{
    smtp_notifier_t *s = instance;
    /* Anything that ends up in a header line must not smuggle in another. */
    if (!msg->address || !strchr(msg->address, '@') || strpbrk(msg->address, "<> \t") ||
        has_crlf(msg->address) || has_crlf(msg->subject) || has_crlf(msg->id) ||
        has_crlf(msg->idempotency_key) || !msg->id)
        return BW_EINVAL;
    for (size_t i = 0; i < msg->n_attachments; i++)
        if (has_crlf(msg->attachments[i].filename) || has_crlf(msg->attachments[i].content_type))
            return BW_EINVAL;

    int rc = BW_ENOMEM;
    req_t *r = calloc(1, sizeof *r);
    if (!r)
        return BW_ENOMEM;
    r->s = s;
    r->done = done;
    r->arg = arg;
    r->easy = curl_easy_init();
    if (!r->easy)
        goto fail;
    snprintf(r->message_id, sizeof r->message_id, "<%.200s@%.90s>", msg->id, s->domain);
    char date[64];
    format_date(s->host->now_us(s->host), date, sizeof date);
    if (append_header(&r->headers, "%s%s", "Date: ", date) < 0 ||
        append_header(&r->headers, "%s%s", "From: ", s->from_header) < 0 ||
        append_header(&r->headers, "To: <%s>%s", msg->address, "") < 0 ||
        append_encoded(&r->headers, "Subject", msg->subject ? msg->subject : "") < 0 ||
        append_header(&r->headers, "%s%s", "Message-ID: ", r->message_id) < 0)
        goto fail;
    if (msg->idempotency_key &&
        append_header(&r->headers, "%s%s", "X-Billow-Idempotency-Key: ", msg->idempotency_key) < 0)
        goto fail;
    char rcpt[512];
    snprintf(rcpt, sizeof rcpt, "<%.500s>", msg->address);
    char from[512];
    snprintf(from, sizeof from, "<%.500s>", s->from_addr);
    r->rcpt = curl_slist_append(NULL, rcpt);
    if (!r->rcpt || build_mime(r, msg) < 0)
        goto fail;

    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, r->rcpt);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_MIMEPOST, r->mime);
    curl_easy_setopt(e, CURLOPT_USE_SSL, s->use_ssl);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, reply_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    if (s->user) {
        curl_easy_setopt(e, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, s->password ? s->password : "");
    }
    if (s->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file);
    if (s->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    rc = ntf_curl_loop_add(s->curl, e, s->timeout_ms, s->connect_timeout_ms, smtp_done_cb, r);
    if (rc < 0)
        goto fail;
    r->id = ++s->next_id;
    r->next = s->reqs;
    if (s->reqs)
        s->reqs->prev = r;
    s->reqs = r;
    if (request)
        *request = r->id;
    return 0;
fail:
    req_free(r);
    return rc;
}

static int smtp_cancel(void *instance, uint64_t request)
{
    smtp_notifier_t *s = instance;
    for (req_t *r = s->reqs; r; r = r->next)
        if (r->id == request) {
            ntf_curl_loop_remove(s->curl, r->easy);
            req_unlink(s, r);
            req_free(r);
            return 0;
        }
    return BW_ENOTFOUND;
}

static void smtp_shutdown(void **instance)
{
    if (!instance || !*instance)
        return;
    smtp_notifier_t *s = *instance;
    while (s->reqs)
        smtp_cancel(s, s->reqs->id);
    smtp_free(s);
    *instance = NULL;
}

const ntf_notifier_t ntf_smtp_notifier = {
    .abi_version = NTF_ABI_VERSION,
    .struct_size = sizeof(ntf_notifier_t),
    .name = "smtp",
    .description = "e-mail over SMTP (libcurl; smtps or STARTTLS, optional auth)",
    .init = smtp_init,
    .send = smtp_send,
    .cancel = smtp_cancel,
    .shutdown = smtp_shutdown,
};
