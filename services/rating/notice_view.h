/* What rating learns back about its price-change notices: notification's
 * NoticeDelivered / NotificationFailed / NoticeAcknowledged (message types
 * price_change_notice and price_change_reminder, ref_id = the change id)
 * set each announced account's first delivery, failure and acknowledgement,
 * and with the first delivery the day it starts paying the new price
 * (rt_pc_effective_day); feedback's FeedbackReceived (with a
 * price_change_id) and TicketResolved record the objections and their
 * outcomes. Rating cannot read those services' schemas, so these tables are
 * its own copy. Every update is idempotent: a replayed event changes
 * nothing. */
#ifndef RT_NOTICE_VIEW_H
#define RT_NOTICE_VIEW_H

#include <stddef.h>

#include "arena.h"
#include "stream.pb-c.h"

typedef struct bw_db bw_db_t;

/* bw_consumer_apply_fn for notification's stream. */
int rt_notice_from_notification(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                                bw_arena_t *arena);
/* bw_consumer_apply_fn for feedback's stream. */
int rt_notice_from_feedback(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                            bw_arena_t *arena);

#endif
