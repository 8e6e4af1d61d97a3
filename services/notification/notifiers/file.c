/* The file notifier: appends each message as one JSON line to
 * <dir>/<channel>.jsonl (default dir var/notifications). It is the channel
 * for local runs, demos and tests, and a record operators can grep.
 *
 * A send is reported delivered only once its line is durable (written and
 * fdatasync'ed), since the host records the outcome as soon as done runs.
 * So that neither the loop waits for the disk nor every line pays for its
 * own flush, a writer thread of the instance does the I/O: sends queue
 * their lines, the thread takes everything queued, appends it with one
 * write per file, flushes each file once and hands the whole batch back
 * through an ev_async (group commit: the more arrive while it flushes, the
 * larger the next batch). Files stay open for the life of the instance.
 *
 * Settings (BILLOW_NOTIFIER_FILE_*): DIR (var/notifications). */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "notification/notifier.h"
#include "notification/notifier_registry.h"
#include "util.h"

#define MAX_FILES 16 /* channel files one instance keeps open */

typedef struct pending {
    uint64_t id;
    ntf_done_fn done;
    void *arg;
    char channel[33];
    char *line; /* freed by the writer once written */
    size_t len;
    bool cancelled;
    bool settled; /* writer thread: status and message are set */
    ntf_status_t status;
    char message[160];
    struct pending *next;
} pending_t;

/* A FIFO of records. */
typedef struct {
    pending_t *head, *tail;
} queue_t;

typedef struct {
    char channel[33];
    int fd;
} open_file_t;

typedef struct file_notifier {
    const ntf_host_t *host;
    char dir[PATH_MAX - 64];
    uint64_t next_id;
    ev_async async;
    pthread_t thread;
    bool thread_started;
    /* Under mu: todo (sends for the writer), done (back from the writer),
     * busy (the batch the writer holds), stop. */
    pthread_mutex_t mu;
    pthread_cond_t cond;
    queue_t todo, done, busy;
    bool stop;
    /* Writer thread only. */
    open_file_t files[MAX_FILES];
    int n_files;
} file_notifier_t;

static void queue_push(queue_t *q, pending_t *p)
{
    p->next = NULL;
    if (q->tail)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
}

static pending_t *queue_take(queue_t *q)
{
    pending_t *h = q->head;
    q->head = q->tail = NULL;
    return h;
}

static void free_list(pending_t *p)
{
    while (p) {
        pending_t *n = p->next;
        free(p->line);
        free(p);
        p = n;
    }
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

/* The open descriptor of channel's file (writer thread); -1 with errno. A
 * file this call creates has its directory entry flushed too, or a crash
 * could lose the whole file after its lines were reported durable. */
static int file_fd(file_notifier_t *f, const char *channel)
{
    for (int i = 0; i < f->n_files; i++)
        if (strcmp(f->files[i].channel, channel) == 0)
            return f->files[i].fd;
    if (f->n_files == MAX_FILES) {
        errno = EMFILE;
        return -1;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.jsonl", f->dir, channel);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        int dfd = fd >= 0 ? open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (fd >= 0 && (dfd < 0 || fsync(dfd) < 0)) {
            int saved = errno;
            close(fd);
            fd = -1;
            errno = saved;
        }
        if (dfd >= 0)
            close(dfd);
    }
    if (fd < 0)
        return -1;
    snprintf(f->files[f->n_files].channel, sizeof f->files[0].channel, "%s", channel);
    f->files[f->n_files++].fd = fd;
    return fd;
}

/* Sets the outcome of every record of batch on channel ch. */
static void settle(pending_t *batch, const char *ch, bool ok, const char *why)
{
    for (pending_t *p = batch; p; p = p->next) {
        if (strcmp(p->channel, ch) != 0)
            continue;
        p->settled = true;
        if (ok) {
            p->status = NTF_OK;
            snprintf(p->message, sizeof p->message, "appended to %s.jsonl", ch);
        } else {
            /* A full disk or a bad directory is the operator's to fix: retry later. */
            p->status = NTF_TEMPFAIL;
            snprintf(p->message, sizeof p->message, "cannot append to %s.jsonl: %s", ch, why);
        }
    }
}

/* Writes batch: per channel, one buffer, one write (O_APPEND keeps lines
 * whole even with several writers), one fdatasync. */
static void write_batch(file_notifier_t *f, pending_t *batch)
{
    for (pending_t *first = batch; first; first = first->next) {
        if (first->settled)
            continue;
        const char *ch = first->channel;
        size_t total = 0;
        for (pending_t *p = first; p; p = p->next)
            if (strcmp(p->channel, ch) == 0)
                total += p->len;
        char *buf = malloc(total ? total : 1);
        if (!buf) {
            settle(first, ch, false, "out of memory");
            continue;
        }
        size_t off = 0;
        for (pending_t *p = first; p; p = p->next)
            if (strcmp(p->channel, ch) == 0) {
                memcpy(buf + off, p->line, p->len);
                off += p->len;
            }
        int fd = file_fd(f, ch);
        const char *why = NULL;
        if (fd < 0) {
            why = strerror(errno);
        } else {
            /* A failed batch is sent again: cut what it wrote, or the file
             * keeps a torn line and then the same lines twice. */
            off_t start = lseek(fd, 0, SEEK_END);
            for (off = 0; off < total && !why;) {
                ssize_t w = write(fd, buf + off, total - off);
                if (w < 0 && errno != EINTR)
                    why = strerror(errno);
                else if (w > 0)
                    off += (size_t)w;
            }
            if (!why && fdatasync(fd) < 0)
                why = strerror(errno);
            if (why && start >= 0 && ftruncate(fd, start) < 0)
                why = "write failed and the partial lines could not be cut";
        }
        free(buf);
        settle(first, ch, why == NULL, why);
    }
    for (pending_t *p = batch; p; p = p->next) {
        free(p->line);
        p->line = NULL;
    }
}

static void *writer_main(void *arg)
{
    file_notifier_t *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->todo.head && !f->stop)
            pthread_cond_wait(&f->cond, &f->mu);
        if (f->stop)
            break;
        f->busy = f->todo;
        pending_t *batch = queue_take(&f->todo);
        pthread_mutex_unlock(&f->mu);
        write_batch(f, batch);
        pthread_mutex_lock(&f->mu);
        for (pending_t *p = batch, *n; p; p = n) {
            n = p->next;
            queue_push(&f->done, p);
        }
        f->busy.head = f->busy.tail = NULL;
        ev_async_send(f->host->loop, &f->async);
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* Back on the loop: reports every finished record. */
static void async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    file_notifier_t *f = w->data;
    pthread_mutex_lock(&f->mu);
    pending_t *p = queue_take(&f->done);
    pthread_mutex_unlock(&f->mu);
    while (p) {
        pending_t *n = p->next;
        if (!p->cancelled) {
            ntf_result_t res = {.status = p->status, .code = 0, .message = p->message};
            char id[32];
            if (p->status == NTF_OK) {
                snprintf(id, sizeof id, "file-%llu", (unsigned long long)p->id);
                res.provider_id = id;
            }
            p->done(p->arg, &res);
        }
        free(p->line);
        free(p);
        p = n;
    }
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
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cond, NULL);
    ev_async_init(&f->async, async_cb);
    f->async.data = f;
    ev_async_start(host->loop, &f->async);
    /* The watcher alone must not keep the loop running. */
    ev_unref(host->loop);
    int rc = pthread_create(&f->thread, NULL, writer_main, f);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the writer thread: %s", strerror(rc));
        ev_ref(host->loop);
        ev_async_stop(host->loop, &f->async);
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->mu);
        free(f);
        return BW_ENOMEM;
    }
    f->thread_started = true;
    *instance = f;
    return 0;
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

/* A growing line; failed stays set once memory ran out. */
typedef struct {
    char *p;
    size_t len, cap;
    bool failed;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (bw_grow(&b->p, &b->cap, b->len + n + 1, 1024) < 0) {
        b->failed = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Bytes that end a run of a JSON string: NUL (the end), controls, '"' and
 * '\\'. A table: strcspn with a set this large falls back to a slow generic
 * scan in glibc. */
static const bool JSON_STOP[256] = {
    [0] = true,   [1] = true,   [2] = true,   [3] = true,   [4] = true,   [5] = true,
    [6] = true,   [7] = true,   [8] = true,   [9] = true,   [10] = true,  [11] = true,
    [12] = true,  [13] = true,  [14] = true,  [15] = true,  [16] = true,  [17] = true,
    [18] = true,  [19] = true,  [20] = true,  [21] = true,  [22] = true,  [23] = true,
    [24] = true,  [25] = true,  [26] = true,  [27] = true,  [28] = true,  [29] = true,
    [30] = true,  [31] = true,  ['"'] = true, ['\\'] = true};

/* s as a JSON string (quotes included). Bytes from 0x80 up pass through:
 * the text is UTF-8 already. Runs without special bytes go in whole. */
static void put_json_str(buf_t *b, const char *s)
{
    put(b, "\"", 1);
    const char *run = s;
    for (;; s++) {
        while (!JSON_STOP[(unsigned char)*s])
            s++;
        if (!*s)
            break;
        unsigned char c = (unsigned char)*s;
        put(b, run, (size_t)(s - run));
        char esc[8];
        switch (c) {
        case '"': put(b, "\\\"", 2); break;
        case '\\': put(b, "\\\\", 2); break;
        case '\n': put(b, "\\n", 2); break;
        case '\r': put(b, "\\r", 2); break;
        case '\t': put(b, "\\t", 2); break;
        default:
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        }
        run = s + 1;
    }
    put(b, run, (size_t)(s - run));
    put(b, "\"", 1);
}

/* ,"key":"value" (nothing when v is NULL); the first field has no comma. */
static void put_field(buf_t *b, const char *key, const char *v)
{
    if (!v)
        return;
    put(b, b->len > 1 ? ",\"" : "\"", b->len > 1 ? 2 : 1);
    put(b, key, strlen(key));
    put(b, "\":", 2);
    put_json_str(b, v);
}

/* The line for msg, newline-terminated; NULL when out of memory. Written by
 * hand rather than through json-c objects: this runs once per message on
 * the loop, and building and freeing a tree cost more than the send. */
static char *render_line(const ntf_message_t *msg, int64_t now_us)
{
    /* Room for the texts and some escaping, so the line rarely grows. */
    size_t guess = 1024;
    const char *big[] = {msg->subject, msg->text, msg->html, msg->payload_json};
    for (size_t i = 0; i < sizeof big / sizeof *big; i++)
        guess += big[i] ? strlen(big[i]) + strlen(big[i]) / 8 : 0;
    buf_t b = {.p = malloc(guess), .cap = guess};
    b.failed = b.p == NULL;
    put(&b, "{", 1);
    put_field(&b, "id", msg->id);
    put_field(&b, "idempotency_key", msg->idempotency_key);
    put_field(&b, "type", msg->type);
    put_field(&b, "channel", msg->channel);
    put_field(&b, "address", msg->address);
    put_field(&b, "subject", msg->subject);
    put_field(&b, "text", msg->text);
    put_field(&b, "html", msg->html);
    char num[48];
    snprintf(num, sizeof num, "%s\"time_us\":%lld", b.len > 1 ? "," : "", (long long)now_us);
    put(&b, num, strlen(num));
    if (msg->payload_json) {
        /* Stored as an object when it parses, else as the string it is. */
        json_object *payload = json_tokener_parse(msg->payload_json);
        put(&b, ",\"payload\":", 11);
        if (payload) {
            const char *js = json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN);
            put(&b, js, strlen(js));
        } else {
            put_json_str(&b, msg->payload_json);
        }
        json_object_put(payload);
    }
    if (msg->n_attachments) {
        put(&b, ",\"attachments\":[", 16);
        for (size_t i = 0; i < msg->n_attachments; i++) {
            const ntf_attachment_t *a = &msg->attachments[i];
            put(&b, i ? ",{" : "{", i ? 2 : 1);
            size_t mark = b.len;
            if (a->filename) {
                put(&b, "\"filename\":", 11);
                put_json_str(&b, a->filename);
            }
            if (a->content_type) {
                put(&b, b.len > mark ? ",\"content_type\":" : "\"content_type\":",
                    b.len > mark ? 16 : 15);
                put_json_str(&b, a->content_type);
            }
            snprintf(num, sizeof num, "%s\"size\":%zu}", b.len > mark ? "," : "", a->len);
            put(&b, num, strlen(num));
        }
        put(&b, "]", 1);
    }
    put(&b, "}\n", 2);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
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
    p->id = ++f->next_id;
    p->done = done;
    p->arg = arg;
    snprintf(p->channel, sizeof p->channel, "%s", msg->channel);
    p->line = render_line(msg, f->host->now_us(f->host));
    if (!p->line) {
        free(p);
        return BW_ENOMEM;
    }
    p->len = strlen(p->line);
    pthread_mutex_lock(&f->mu);
    bool wake = !f->todo.head;
    queue_push(&f->todo, p);
    if (wake)
        pthread_cond_signal(&f->cond);
    pthread_mutex_unlock(&f->mu);
    if (request)
        *request = p->id;
    return 0;
}

static bool cancel_in(queue_t *q, uint64_t request)
{
    for (pending_t *p = q->head; p; p = p->next)
        if (p->id == request && !p->cancelled) {
            p->cancelled = true;
            return true;
        }
    return false;
}

/* The record stays where it is (the writer may be writing it) and is freed
 * without a callback when it comes back. */
static int file_cancel(void *instance, uint64_t request)
{
    file_notifier_t *f = instance;
    pthread_mutex_lock(&f->mu);
    bool found = cancel_in(&f->todo, request) || cancel_in(&f->busy, request) ||
                 cancel_in(&f->done, request);
    pthread_mutex_unlock(&f->mu);
    return found ? 0 : BW_ENOTFOUND;
}

static void file_shutdown(void **instance)
{
    if (!instance || !*instance)
        return;
    file_notifier_t *f = *instance;
    if (f->thread_started) {
        pthread_mutex_lock(&f->mu);
        f->stop = true;
        pthread_cond_signal(&f->cond);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->thread, NULL);
    }
    ev_ref(f->host->loop);
    ev_async_stop(f->host->loop, &f->async);
    free_list(queue_take(&f->todo));
    free_list(queue_take(&f->done));
    for (int i = 0; i < f->n_files; i++)
        close(f->files[i].fd);
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->mu);
    free(f);
    *instance = NULL;
}

const ntf_notifier_t ntf_file_notifier = {
    .abi_version = NTF_ABI_VERSION,
    .struct_size = sizeof(ntf_notifier_t),
    .name = "file",
    .description = "appends JSON lines to <dir>/<channel>.jsonl, durable before done",
    .init = file_init,
    .send = file_send,
    .cancel = file_cancel,
    .shutdown = file_shutdown,
};
