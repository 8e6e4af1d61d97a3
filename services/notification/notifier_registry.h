/* The notifiers a notification process can deliver through: the built-in
 * ones (file, smtp, webhook, sms) and any plugin found in BILLOW_NOTIFIER_DIR,
 * each checked against the ABI in notifier.h before it is used. The registry
 * also owns what the notifiers share: the host API handed to them and the
 * libcurl driver on the service's loop. An instance is a configured notifier
 * (settings from BILLOW_NOTIFIER_<NAME>_* or given explicitly). */
#ifndef NTF_NOTIFIER_REGISTRY_H
#define NTF_NOTIFIER_REGISTRY_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "notification/notifier.h"

typedef struct ntf_registry ntf_registry_t;
typedef struct ntf_instance ntf_instance_t;

/* The built-in notifiers (services/notification/notifiers/). */
extern const ntf_notifier_t ntf_file_notifier;
extern const ntf_notifier_t ntf_smtp_notifier;
extern const ntf_notifier_t ntf_webhook_notifier;
extern const ntf_notifier_t ntf_sms_notifier;

/* A registry on loop holding the built-in notifiers; NULL when out of memory
 * or libcurl cannot be set up. */
ntf_registry_t *ntf_registry_new(struct ev_loop *loop);
/* Shuts down every instance still open (no callbacks run), unloads plugins
 * and frees; sets *pr to NULL. Safe on NULL. */
void ntf_registry_destroy(ntf_registry_t **pr);

/* The ABI checks a notifier must pass; 0 or BW_EINVAL with the reason in err. */
int ntf_notifier_check(const ntf_notifier_t *n, char *err, size_t errlen);
/* Registers n (borrowed; must outlive the registry) after ntf_notifier_check;
 * BW_ECONFLICT when its name is taken. */
int ntf_registry_add(ntf_registry_t *r, const ntf_notifier_t *n, char *err, size_t errlen);
/* dlopens one shared object, checks and registers its billow_notifier. */
int ntf_registry_load_file(ntf_registry_t *r, const char *path, char *err, size_t errlen);
/* Loads every *.so in dir, in name order; stops at the first failure. */
int ntf_registry_load_dir(ntf_registry_t *r, const char *dir, char *err, size_t errlen);
/* ntf_registry_load_dir(BILLOW_NOTIFIER_DIR) when that is set; else 0. */
int ntf_registry_load_env(ntf_registry_t *r, char *err, size_t errlen);

/* The registered notifier called name, or NULL. */
const ntf_notifier_t *ntf_registry_find(const ntf_registry_t *r, const char *name);
/* Registered notifiers by index (0 .. count-1), for listings. */
size_t ntf_registry_count(const ntf_registry_t *r);
const ntf_notifier_t *ntf_registry_at(const ntf_registry_t *r, size_t i);
/* The host API handed to notifiers (loop, log, clock). */
const ntf_host_t *ntf_registry_host(const ntf_registry_t *r);

/* Settings for notifier name from the environment: BILLOW_NOTIFIER_<NAME>_KEY
 * becomes {"key", value}. *out (free with ntf_settings_free) may be empty. */
int ntf_settings_from_env(const char *name, ntf_setting_t **out, size_t *n);
void ntf_settings_free(ntf_setting_t **ps, size_t n);

/* Configures notifier name with the given settings; on failure err says why
 * (BW_ENOTFOUND: no such notifier, else what its init returned). */
int ntf_instance_new(ntf_registry_t *r, const char *name, const ntf_setting_t *settings,
                     size_t n_settings, ntf_instance_t **out, char *err, size_t errlen);
/* The same with settings from the environment (ntf_settings_from_env). */
int ntf_instance_from_env(ntf_registry_t *r, const char *name, ntf_instance_t **out, char *err,
                          size_t errlen);
/* Shuts the instance down (no callbacks run) and sets *pi to NULL. */
void ntf_instance_destroy(ntf_instance_t **pi);
/* The notifier's send/cancel (notifier.h gives the contracts). */
int ntf_instance_send(ntf_instance_t *in, const ntf_message_t *msg, ntf_done_fn done, void *arg,
                      uint64_t *request);
int ntf_instance_cancel(ntf_instance_t *in, uint64_t request);
const char *ntf_instance_name(const ntf_instance_t *in);

/* Names an ntf_status_t: "ok", "temporary", "permanent". */
const char *ntf_status_name(ntf_status_t st);

#endif
