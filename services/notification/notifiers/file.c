/* The file notifier: appends each message as one JSON line to
 * <dir>/<channel>.jsonl (default dir var/notifications). It is the channel
 * for local runs, demos and tests, and a record operators can grep. The
 * append is one small write(2) to a local file, the only blocking I/O we
 * accept on the loop; completion still goes through a zero-delay ev_timer
 * so done never runs inside send.
 *
 * Settings (BILLOW_NOTIFIER_FILE_*): DIR (var/notifications). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "notification/notifier.h"
#include "notification/notifier_registry.h"

typedef struct pending {
    ev_timer timer; /* first: the watcher pointer is the record */
    struct file_notifier *f;
    uint64_t id;
    ntf_done_fn done;
    void *arg;
    ntf_status_t status;
    char message[160];
    struct pending *prev, *next;
} pending_t;

typedef struct file_notifier {
    const ntf_host_t *host;
    char dir[PATH_MAX - 64];
    uint64_t next_id;
    pending_t *pending;
} file_notifier_t;

static void pending_unlink(file_notifier_t *f, pending_t *p)
{
    ev_timer_stop(f->host->loop, &p->timer);
    if (p->prev)
        p->prev->next = p->next;
    else
        f->pending = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

/* mkdir -p: the default directory lives under var/, which may not exist yet. */
static int make_dirs(const char *dir)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
            return BW_EIO;
        *p = '/';
    }
    if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
        return BW_EIO;
    return 0;
}

static int file_init(const ntf_host_t *host, const ntf_setting_t *settings, size_t n,
                     void **instance, char *err, size_t errlen)
{
    const char *dir = ntf_setting(settings, n, "dir", "var/notifications");
    if (strlen(dir) >= PATH_MAX - 64) {
        snprintf(err, errlen, "dir is too long");
        return BW_EINVAL;
    }
    if (make_dirs(dir) < 0) {
        snprintf(err, errlen, "cannot create directory %s: %s", dir, strerror(errno));
        return BW_EIO;
    }
    file_notifier_t *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    f->host = host;
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    *instance = f;
    return 0;
}

static void complete_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    pending_t *p = (pending_t *)w;
    pending_unlink(p->f, p);
    ntf_result_t res = {.status = p->status, .code = 0, .message = p->message};
    char id[32];
    if (p->status == NTF_OK) {
        snprintf(id, sizeof id, "file-%llu", (unsigned long long)p->id);
        res.provider_id = id;
    }
    /* res points into p: free it only after the callback. */
    p->done(p->arg, &res);
    free(p);
}

static bool channel_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 32)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return false;
    return true;
}

static void add_str(json_object *o, const char *key, const char *v)
{
    if (v)
        json_object_object_add(o, key, json_object_new_string(v));
}

/* The line for msg, newline-terminated; NULL when out of memory. */
static char *render_line(const ntf_message_t *msg, int64_t now_us)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    add_str(o, "id", msg->id);
    add_str(o, "idempotency_key", msg->idempotency_key);
    add_str(o, "type", msg->type);
    add_str(o, "channel", msg->channel);
    add_str(o, "address", msg->address);
    add_str(o, "subject", msg->subject);
    add_str(o, "text", msg->text);
    add_str(o, "html", msg->html);
    json_object_object_add(o, "time_us", json_object_new_int64(now_us));
    if (msg->payload_json) {
        json_object *payload = json_tokener_parse(msg->payload_json);
        json_object_object_add(o, "payload",
                               payload ? payload : json_object_new_string(msg->payload_json));
    }
    if (msg->n_attachments) {
        json_object *atts = json_object_new_array();
        for (size_t i = 0; i < msg->n_attachments; i++) {
            json_object *a = json_object_new_object();
            add_str(a, "filename", msg->attachments[i].filename);
            add_str(a, "content_type", msg->attachments[i].content_type);
            json_object_object_add(a, "size", json_object_new_int64((int64_t)msg->attachments[i].len));
            json_object_array_add(atts, a);
        }
        json_object_object_add(o, "attachments", atts);
    }
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char *line = NULL;
    if (s && asprintf(&line, "%s\n", s) < 0)
        line = NULL;
    json_object_put(o);
    return line;
}

static int file_send(void *instance, const ntf_message_t *msg, ntf_done_fn done, void *arg,
                     uint64_t *request)
{
    file_notifier_t *f = instance;
    if (!channel_ok(msg->channel))
        return BW_EINVAL; /* it names the file: no slashes, no dots */
    pending_t *p = calloc(1, sizeof *p);
    if (!p)
        return BW_ENOMEM;
    p->f = f;
    p->id = ++f->next_id;
    p->done = done;
    p->arg = arg;

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.jsonl", f->dir, msg->channel);
    char *line = render_line(msg, f->host->now_us(f->host));
    if (!line) {
        free(p);
        return BW_ENOMEM;
    }
    /* One write with O_APPEND keeps lines whole even with several writers. */
    size_t len = strlen(line);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    ssize_t w = fd >= 0 ? write(fd, line, len) : -1;
    int saved = errno;
    if (fd >= 0 && close(fd) < 0 && w >= 0) {
        saved = errno;
        w = -1;
    }
    free(line);
    if (w == (ssize_t)len) {
        p->status = NTF_OK;
        snprintf(p->message, sizeof p->message, "appended to %s.jsonl", msg->channel);
    } else {
        /* A full disk or a bad directory is the operator's to fix: retry later. */
        p->status = NTF_TEMPFAIL;
        snprintf(p->message, sizeof p->message, "cannot append to %s.jsonl: %s", msg->channel,
                 w < 0 ? strerror(saved) : "short write");
    }
    ev_timer_init(&p->timer, complete_cb, 0., 0.);
    ev_timer_start(f->host->loop, &p->timer);
    p->next = f->pending;
    if (f->pending)
        f->pending->prev = p;
    f->pending = p;
    if (request)
        *request = p->id;
    return 0;
}

static int file_cancel(void *instance, uint64_t request)
{
    file_notifier_t *f = instance;
    for (pending_t *p = f->pending; p; p = p->next)
        if (p->id == request) {
            pending_unlink(f, p);
            free(p);
            return 0;
        }
    return BW_ENOTFOUND;
}

static void file_shutdown(void **instance)
{
    if (!instance || !*instance)
        return;
    file_notifier_t *f = *instance;
    while (f->pending) {
        pending_t *p = f->pending;
        pending_unlink(f, p);
        free(p);
    }
    free(f);
    *instance = NULL;
}

const ntf_notifier_t ntf_file_notifier = {
    .abi_version = NTF_ABI_VERSION,
    .struct_size = sizeof(ntf_notifier_t),
    .name = "file",
    .description = "appends JSON lines to <dir>/<channel>.jsonl",
    .init = file_init,
    .send = file_send,
    .cancel = file_cancel,
    .shutdown = file_shutdown,
};
