/* Delivery: claims due notifications from the database, renders them and
 * sends them through the notifier configured for their channel, many at a
 * time and never blocking the loop; records every attempt with the
 * provider's answer. Temporary failures are retried with exponential
 * backoff and jitter up to a limit; permanent ones (and exhausted retries)
 * fall back to the next channel of the contact; a notification that runs
 * out of channels is dead-lettered. State lives in the messages table, so a
 * restart resumes: rows left "sending" by a crash are sent again with the
 * same idempotency key (the message id).
 *
 * Outcomes are written in batches by a recorder thread on a connection of
 * its own: one transaction records the attempts, moves the rows and emits
 * NoticeDelivered / NotificationFailed, while the loop goes on claiming
 * and sending. */
#ifndef NTF_DELIVERY_H
#define NTF_DELIVERY_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "notification/notifier_registry.h"
#include "notification/template.h"

typedef struct bw_db bw_db_t;
typedef struct ntf_delivery ntf_delivery_t;

enum { NTF_CH_EMAIL = 0, NTF_CH_SMS, NTF_CH_WEBHOOK, NTF_CH_COUNT };
extern const char *const ntf_channel_names[NTF_CH_COUNT];

typedef struct {
    const char *notifier[NTF_CH_COUNT]; /* BILLOW_CHANNEL_EMAIL|SMS|WEBHOOK (file) */
    int concurrency[NTF_CH_COUNT];      /* BILLOW_NOTIFY_CONCURRENCY_<CH> (64) */
    int max_attempts;                   /* BILLOW_NOTIFY_MAX_ATTEMPTS (5) per channel */
    int backoff_ms;                     /* BILLOW_NOTIFY_BACKOFF_MS (2000): first retry delay */
    int backoff_max_ms;                 /* BILLOW_NOTIFY_BACKOFF_MAX_MS (600000) */
    int poll_ms;                        /* BILLOW_NOTIFY_POLL_MS (250) */
    int batch;                          /* BILLOW_NOTIFY_BATCH (500): rows claimed at once */
    int sms_segments;                   /* BILLOW_NOTIFY_SMS_SEGMENTS (4) */
} ntf_delivery_opts_t;

/* Reads the settings; BW_EINVAL (logged) when one is malformed. */
int ntf_delivery_opts_from_env(ntf_delivery_opts_t *o);

/* Creates the engine and one notifier instance per channel (settings from
 * BILLOW_NOTIFIER_<NAME>_*). db (claims, used on the loop), rdb (outcomes,
 * used only by the engine's recorder thread: a connection of its own to
 * the same schema), reg and tpl are borrowed. NULL with err set on
 * failure. Call ntf_delivery_start to begin. */
ntf_delivery_t *ntf_delivery_new(struct ev_loop *loop, bw_db_t *db, bw_db_t *rdb,
                                 ntf_registry_t *reg, const ntf_templates_t *tpl,
                                 const ntf_delivery_opts_t *o, char *err, size_t errlen);
/* Recovers rows a previous process left "sending" (records an interrupted
 * attempt, schedules a retry), starts the recorder thread and the poll
 * timer. 0, BW_EDB or BW_ENOMEM. */
int ntf_delivery_start(ntf_delivery_t *d);
/* Something became due: claim soon (arg is the ntf_delivery_t). */
void ntf_delivery_kick(void *d);
/* Writes the outcomes collected so far, abandons what is in flight (it is
 * resent after the next start), frees; sets *pd to NULL. Safe on NULL. */
void ntf_delivery_destroy(ntf_delivery_t **pd);

typedef struct {
    uint64_t sent, delivered, retried, failed_over, dead;
    size_t inflight;
} ntf_delivery_stats_t;
void ntf_delivery_stats(const ntf_delivery_t *d, ntf_delivery_stats_t *st);

#endif
