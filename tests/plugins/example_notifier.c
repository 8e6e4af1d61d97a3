/* A minimal notifier plugin, built as build/plugins/example_notifier.so: the
 * shape every plugin takes (one exported billow_notifier, an instance per
 * init, asynchronous completion on the host's loop, cancel and shutdown
 * that never call back). It appends "<id> <address> <subject>" lines to the
 * file named by its "path" setting (BILLOW_NOTIFIER_EXAMPLE_PATH) and
 * reports success after "delay_ms" (default 1) through an ev_timer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notification/notifier.h"

typedef struct job {
    ev_timer timer; /* first: the watcher pointer is the job */
    struct example *ex;
    uint64_t id;
    ntf_done_fn done;
    void *arg;
    struct job *prev, *next;
} job_t;

typedef struct example {
    const ntf_host_t *host;
    char *path;
    double delay;
    uint64_t next_id;
    job_t *jobs;
} example_t;

static void job_unlink(example_t *ex, job_t *j)
{
    ev_timer_stop(ex->host->loop, &j->timer);
    if (j->prev)
        j->prev->next = j->next;
    else
        ex->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
}

static int example_init(const ntf_host_t *host, const ntf_setting_t *settings, size_t n,
                        void **instance, char *err, size_t errlen)
{
    const char *path = ntf_setting(settings, n, "path", NULL);
    if (!path) {
        snprintf(err, errlen, "path is required");
        return NTF_E_INVAL;
    }
    example_t *ex = calloc(1, sizeof *ex);
    if (!ex || !(ex->path = strdup(path))) {
        free(ex);
        snprintf(err, errlen, "out of memory");
        return NTF_E_NOMEM;
    }
    ex->host = host;
    ex->delay = atof(ntf_setting(settings, n, "delay_ms", "1")) / 1000.0;
    const char *fields[] = {"path", path, NULL};
    host->log(host, NTF_LOG_INFO, "example notifier ready", fields);
    *instance = ex;
    return 0;
}

static void job_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    job_t *j = (job_t *)w;
    job_unlink(j->ex, j);
    char pid[32];
    snprintf(pid, sizeof pid, "example-%llu", (unsigned long long)j->id);
    ntf_result_t res = {.status = NTF_OK, .code = 200, .message = "written", .provider_id = pid};
    ntf_done_fn done = j->done;
    void *arg = j->arg;
    free(j);
    done(arg, &res);
}

static int example_send(void *instance, const ntf_message_t *msg, ntf_done_fn done, void *arg,
                        uint64_t *request)
{
    example_t *ex = instance;
    FILE *f = fopen(ex->path, "a");
    if (!f)
        return NTF_E_IO;
    fprintf(f, "%s %s %s\n", msg->id ? msg->id : "-", msg->address ? msg->address : "-",
            msg->subject ? msg->subject : "-");
    if (fclose(f) != 0)
        return NTF_E_IO;
    job_t *j = calloc(1, sizeof *j);
    if (!j)
        return NTF_E_NOMEM;
    j->ex = ex;
    j->id = ++ex->next_id;
    j->done = done;
    j->arg = arg;
    ev_timer_init(&j->timer, job_cb, ex->delay, 0.);
    ev_timer_start(ex->host->loop, &j->timer);
    j->next = ex->jobs;
    if (ex->jobs)
        ex->jobs->prev = j;
    ex->jobs = j;
    if (request)
        *request = j->id;
    return 0;
}

static int example_cancel(void *instance, uint64_t request)
{
    example_t *ex = instance;
    for (job_t *j = ex->jobs; j; j = j->next)
        if (j->id == request) {
            job_unlink(ex, j);
            free(j);
            return 0;
        }
    return NTF_E_NOTFOUND;
}

static void example_shutdown(void **instance)
{
    if (!instance || !*instance)
        return;
    example_t *ex = *instance;
    while (ex->jobs) {
        job_t *j = ex->jobs;
        job_unlink(ex, j);
        free(j);
    }
    free(ex->path);
    free(ex);
    *instance = NULL;
}

/* The one symbol the host looks for (NTF_NOTIFIER_SYMBOL). */
extern const ntf_notifier_t billow_notifier;
const ntf_notifier_t billow_notifier = {
    .abi_version = NTF_ABI_VERSION,
    .struct_size = sizeof(ntf_notifier_t),
    .name = "example",
    .description = "example plugin: appends one line per message to a file",
    .init = example_init,
    .send = example_send,
    .cancel = example_cancel,
    .shutdown = example_shutdown,
};
