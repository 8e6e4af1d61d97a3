/* Notifier registry: built-ins, dlopen'd plugins, the shared host API and
 * the instances configured from them. Plugins stay loaded until the
 * registry is destroyed, after every instance made from them is shut down,
 * so no code is unmapped while a watcher of theirs could still fire. */
#include "notification/notifier_registry.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "errors.h"
#include "log.h"
#include "notification/curl_loop.h"

_Static_assert((int)NTF_E_INVAL == (int)BW_EINVAL && (int)NTF_E_NOMEM == (int)BW_ENOMEM &&
                   (int)NTF_E_UNAVAIL == (int)BW_EUNAVAIL &&
                   (int)NTF_E_NOTFOUND == (int)BW_ENOTFOUND && (int)NTF_E_IO == (int)BW_EIO,
               "notifier.h error codes must equal the BW_E codes");

#define MAX_NOTIFIERS 64
#define MAX_PLUGINS 32
#define LOG_FIELDS 8 /* key/value pairs a notifier's log line keeps */

struct ntf_instance {
    ntf_registry_t *r;
    const ntf_notifier_t *n;
    void *self;
    struct ntf_instance *prev, *next;
};

struct ntf_registry {
    ntf_host_t host;
    ntf_curl_loop_t *curl;
    const ntf_notifier_t *notifiers[MAX_NOTIFIERS];
    size_t n_notifiers;
    void *plugins[MAX_PLUGINS]; /* dlopen handles */
    size_t n_plugins;
    ntf_instance_t *instances;
};

/* The host logger: bw_log stops at the first NULL key, so passing every
 * slot (unused ones NULL) forwards however many fields the notifier gave. */
static void host_log(const ntf_host_t *host, ntf_log_level_t level, const char *msg,
                     const char *const *fields)
{
    (void)host;
    const char *k[LOG_FIELDS + 1] = {0}, *v[LOG_FIELDS + 1] = {0};
    for (size_t i = 0; fields && i < LOG_FIELDS && fields[2 * i]; i++) {
        k[i] = fields[2 * i];
        v[i] = fields[2 * i + 1] ? fields[2 * i + 1] : "";
    }
    bw_log_level_t lv = level <= NTF_LOG_DEBUG ? BW_DEBUG
                        : level == NTF_LOG_INFO ? BW_INFO
                        : level == NTF_LOG_WARN ? BW_WARN
                                                : BW_ERROR;
    bw_log(lv, msg ? msg : "", k[0], BW_S(v[0]), k[1], BW_S(v[1]), k[2], BW_S(v[2]), k[3],
           BW_S(v[3]), k[4], BW_S(v[4]), k[5], BW_S(v[5]), k[6], BW_S(v[6]), k[7], BW_S(v[7]),
           NULL);
}

static int64_t host_now_us(const ntf_host_t *host)
{
    (void)host;
    return bw_now_us();
}

ntf_registry_t *ntf_registry_new(struct ev_loop *loop)
{
    ntf_registry_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->curl = ntf_curl_loop_new(loop);
    if (!r->curl)
        goto fail;
    r->host.abi_version = NTF_ABI_VERSION;
    r->host.loop = loop;
    r->host.log = host_log;
    r->host.now_us = host_now_us;
    r->host.priv = r->curl;
    const ntf_notifier_t *builtins[] = {&ntf_file_notifier, &ntf_smtp_notifier,
                                        &ntf_webhook_notifier, &ntf_sms_notifier};
    char err[256];
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (ntf_registry_add(r, builtins[i], err, sizeof err) < 0) {
            bw_log(BW_ERROR, "could not register notifier", "error", BW_S(err), NULL);
            goto fail;
        }
    return r;
fail:
    ntf_registry_destroy(&r);
    return NULL;
}

void ntf_registry_destroy(ntf_registry_t **pr)
{
    if (!pr || !*pr)
        return;
    ntf_registry_t *r = *pr;
    while (r->instances) {
        ntf_instance_t *in = r->instances;
        ntf_instance_destroy(&in);
    }
    ntf_curl_loop_destroy(&r->curl);
    for (size_t i = 0; i < r->n_plugins; i++)
        dlclose(r->plugins[i]);
    free(r);
    *pr = NULL;
}

static bool name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 32)
        return false;
    for (; *s; s++)
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

int ntf_notifier_check(const ntf_notifier_t *n, char *err, size_t errlen)
{
    if (!n) {
        snprintf(err, errlen, "no notifier");
        return BW_EINVAL;
    }
    if (n->abi_version != NTF_ABI_VERSION) {
        snprintf(err, errlen, "notifier ABI version %u, this host supports %u", n->abi_version,
                 NTF_ABI_VERSION);
        return BW_EINVAL;
    }
    if (n->struct_size < sizeof(ntf_notifier_t)) {
        snprintf(err, errlen, "notifier struct is %u bytes, expected at least %zu",
                 n->struct_size, sizeof(ntf_notifier_t));
        return BW_EINVAL;
    }
    if (!name_ok(n->name)) {
        snprintf(err, errlen, "notifier name must be 1-32 of [a-z0-9_]");
        return BW_EINVAL;
    }
    if (!n->init || !n->send || !n->shutdown) {
        snprintf(err, errlen, "notifier %s lacks init, send or shutdown", n->name);
        return BW_EINVAL;
    }
    return 0;
}

int ntf_registry_add(ntf_registry_t *r, const ntf_notifier_t *n, char *err, size_t errlen)
{
    int rc = ntf_notifier_check(n, err, errlen);
    if (rc < 0)
        return rc;
    if (ntf_registry_find(r, n->name)) {
        snprintf(err, errlen, "notifier %s is already registered", n->name);
        return BW_ECONFLICT;
    }
    if (r->n_notifiers == MAX_NOTIFIERS) {
        snprintf(err, errlen, "too many notifiers (at most %d)", MAX_NOTIFIERS);
        return BW_ETOOBIG;
    }
    r->notifiers[r->n_notifiers++] = n;
    return 0;
}

int ntf_registry_load_file(ntf_registry_t *r, const char *path, char *err, size_t errlen)
{
    if (r->n_plugins == MAX_PLUGINS) {
        snprintf(err, errlen, "%s: too many plugins (at most %d)", path, MAX_PLUGINS);
        return BW_ETOOBIG;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(err, errlen, "%s: cannot load: %s", path, why ? why : "unknown error");
        return BW_EIO;
    }
    dlerror();
    const ntf_notifier_t *n = dlsym(h, NTF_NOTIFIER_SYMBOL);
    if (!n) {
        snprintf(err, errlen, "%s: no symbol %s (see notifier.h)", path, NTF_NOTIFIER_SYMBOL);
        dlclose(h);
        return BW_EINVAL;
    }
    char why[192];
    int rc = ntf_registry_add(r, n, why, sizeof why);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        dlclose(h);
        return rc;
    }
    r->plugins[r->n_plugins++] = h;
    bw_log(BW_INFO, "loaded notifier plugin", "path", BW_S(path), "notifier", BW_S(n->name),
           NULL);
    return 0;
}

static int so_filter(const struct dirent *d)
{
    size_t len = strlen(d->d_name);
    return d->d_name[0] != '.' && len > 3 && strcmp(d->d_name + len - 3, ".so") == 0;
}

int ntf_registry_load_dir(ntf_registry_t *r, const char *dir, char *err, size_t errlen)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, so_filter, alphasort);
    if (n < 0) {
        snprintf(err, errlen, "%s: cannot read notifier directory: %m", dir);
        return BW_EIO;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            rc = ntf_registry_load_file(r, path, err, errlen);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int ntf_registry_load_env(ntf_registry_t *r, char *err, size_t errlen)
{
    const char *dir = getenv("BILLOW_NOTIFIER_DIR");
    if (!dir || !*dir)
        return 0;
    return ntf_registry_load_dir(r, dir, err, errlen);
}

const ntf_notifier_t *ntf_registry_find(const ntf_registry_t *r, const char *name)
{
    for (size_t i = 0; i < r->n_notifiers; i++)
        if (strcmp(r->notifiers[i]->name, name) == 0)
            return r->notifiers[i];
    return NULL;
}

size_t ntf_registry_count(const ntf_registry_t *r) { return r->n_notifiers; }

const ntf_notifier_t *ntf_registry_at(const ntf_registry_t *r, size_t i)
{
    return i < r->n_notifiers ? r->notifiers[i] : NULL;
}

const ntf_host_t *ntf_registry_host(const ntf_registry_t *r) { return &r->host; }

/* --- settings ----------------------------------------------------------- */

extern char **environ;

int ntf_settings_from_env(const char *name, ntf_setting_t **out, size_t *n)
{
    char prefix[64];
    int plen = snprintf(prefix, sizeof prefix, "BILLOW_NOTIFIER_");
    for (const char *p = name; *p && plen < (int)sizeof prefix - 2; p++)
        prefix[plen++] = (char)toupper((unsigned char)*p);
    prefix[plen++] = '_';
    prefix[plen] = '\0';

    size_t count = 0, cap = 0;
    ntf_setting_t *s = NULL;
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, prefix, (size_t)plen) != 0 || eq - *e == plen)
            continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 8;
            ntf_setting_t *ns = realloc(s, cap * sizeof *s);
            if (!ns)
                goto fail;
            s = ns;
        }
        size_t klen = (size_t)(eq - *e) - (size_t)plen;
        char *key = strndup(*e + plen, klen);
        char *value = strdup(eq + 1);
        if (!key || !value) {
            free(key);
            free(value);
            goto fail;
        }
        for (char *k = key; *k; k++)
            *k = (char)tolower((unsigned char)*k);
        s[count].key = key;
        s[count].value = value;
        count++;
    }
    *out = s;
    *n = count;
    return 0;
fail:
    ntf_settings_free(&s, count);
    return BW_ENOMEM;
}

void ntf_settings_free(ntf_setting_t **ps, size_t n)
{
    if (!ps || !*ps)
        return;
    for (size_t i = 0; i < n; i++) {
        free((char *)(*ps)[i].key);
        free((char *)(*ps)[i].value);
    }
    free(*ps);
    *ps = NULL;
}

/* --- instances ---------------------------------------------------------- */

int ntf_instance_new(ntf_registry_t *r, const char *name, const ntf_setting_t *settings,
                     size_t n_settings, ntf_instance_t **out, char *err, size_t errlen)
{
    const ntf_notifier_t *n = ntf_registry_find(r, name);
    if (!n) {
        snprintf(err, errlen, "no notifier named %s", name);
        return BW_ENOTFOUND;
    }
    ntf_instance_t *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    char why[256] = "";
    int rc = n->init(&r->host, settings, n_settings, &in->self, why, sizeof why);
    if (rc < 0 || !in->self) {
        snprintf(err, errlen, "notifier %s: %s", name, why[0] ? why : "init failed");
        free(in);
        return rc < 0 ? rc : BW_EINVAL;
    }
    in->r = r;
    in->n = n;
    in->next = r->instances;
    if (r->instances)
        r->instances->prev = in;
    r->instances = in;
    *out = in;
    return 0;
}

int ntf_instance_from_env(ntf_registry_t *r, const char *name, ntf_instance_t **out, char *err,
                          size_t errlen)
{
    ntf_setting_t *s = NULL;
    size_t n = 0;
    if (ntf_settings_from_env(name, &s, &n) < 0) {
        snprintf(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    int rc = ntf_instance_new(r, name, s, n, out, err, errlen);
    ntf_settings_free(&s, n);
    return rc;
}

void ntf_instance_destroy(ntf_instance_t **pi)
{
    if (!pi || !*pi)
        return;
    ntf_instance_t *in = *pi;
    in->n->shutdown(&in->self);
    if (in->prev)
        in->prev->next = in->next;
    else
        in->r->instances = in->next;
    if (in->next)
        in->next->prev = in->prev;
    free(in);
    *pi = NULL;
}

int ntf_instance_send(ntf_instance_t *in, const ntf_message_t *msg, ntf_done_fn done, void *arg,
                      uint64_t *request)
{
    if (!msg || !done || !msg->text)
        return BW_EINVAL;
    return in->n->send(in->self, msg, done, arg, request);
}

int ntf_instance_cancel(ntf_instance_t *in, uint64_t request)
{
    if (!in->n->cancel)
        return BW_EINVAL;
    return in->n->cancel(in->self, request);
}

const char *ntf_instance_name(const ntf_instance_t *in) { return in->n->name; }

const char *ntf_status_name(ntf_status_t st)
{
    switch (st) {
    case NTF_OK: return "ok";
    case NTF_TEMPFAIL: return "temporary";
    case NTF_PERMFAIL: return "permanent";
    }
    return "unknown";
}
