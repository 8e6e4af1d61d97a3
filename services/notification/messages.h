/* Notifications created from the events customers must hear about
 * (invoicing, rating and feedback streams): one row per (source event,
 * account, channel), inserted inside the consumer's transaction with ON
 * CONFLICT DO NOTHING, so a replayed batch or a restart never creates a
 * second one. The messages of a batch's events go in together (one contact
 * lookup, one INSERT), each resolved against the contact as it stood when
 * its event came; fee-change notices, which also create tokens and
 * reminders, go one by one. The row holds the template variables; delivery.c renders and
 * sends it. Fee-change notices also get an acknowledgement token and their
 * scheduled reminders. */
#ifndef NTF_MESSAGES_H
#define NTF_MESSAGES_H

#include "consumer.h"

/* The due-queue (message_queue, see migration 002): every statement that
 * makes a message due (pending, scheduled, retry) also queues it, with
 * this INSERT over the rows it RETURNs (id, channel, due_at, not_before,
 * status) from the data-modifying CTE named by cte. */
#define NTF_SQL_QUEUE(cte)                                                                     \
    "INSERT INTO message_queue (message_id, channel, due_at, not_before)"                     \
    " SELECT id, channel, due_at, not_before FROM " cte                                        \
    " WHERE status IN ('scheduled', 'pending', 'retry')"

typedef struct {
    const char *company_name;  /* BILLOW_COMPANY_NAME */
    const char *support_email; /* BILLOW_SUPPORT_EMAIL */
    const char *support_phone; /* BILLOW_SUPPORT_PHONE */
    const char *portal_url;    /* BILLOW_PORTAL_URL: links (pay, invoice, ack, survey) hang off it */
    /* Called after a batch created messages (delivery picks them up). */
    void (*kick)(void *arg);
    void *kick_arg;
} ntf_messages_opts_t;

/* Fills opts from the environment (strings live for the process). */
void ntf_messages_opts_from_env(ntf_messages_opts_t *opts);

/* bw_consumer_apply_fn for the invoicing, rating and feedback streams; arg
 * is an ntf_messages_opts_t that outlives the consumer. AccountChanged
 * updates contacts; the events customers hear about create messages. */
int ntf_messages_apply(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                       bw_arena_t *arena);

#endif
