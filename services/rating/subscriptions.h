/* Subscriptions: which plan an account is on, with what quantity (seats)
 * and coupon, from when. Each row is a segment [start, end); a change of
 * plan or quantity mid-period ends the open segment and starts the next, so
 * the close prorates each by its days. One open segment per account. Dates
 * in a period already closed for the account cannot be changed. */
#ifndef RT_SUBSCRIPTIONS_H
#define RT_SUBSCRIPTIONS_H

#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;

bool rt_subscribe(bw_db_t *db, const Billow__Subscribe *req, const char *cause,
                  Billow__Reply *reply, bw_arena_t *arena);
bool rt_subscription_change(bw_db_t *db, const Billow__SubscriptionChange *req, const char *cause,
                            Billow__Reply *reply, bw_arena_t *arena);
bool rt_subscription_cancel(bw_db_t *db, const Billow__SubscriptionCancel *req, const char *cause,
                            Billow__Reply *reply, bw_arena_t *arena);
/* A CSV file of new subscriptions (account_id,plan,start[,quantity]
 * [,coupon]), each checked as rt_subscribe checks one; any bad row and
 * nothing is written (the reply lists the rows with line and reason). */
bool rt_subscription_import(bw_db_t *db, const Billow__SubscriptionImport *req, const char *cause,
                            Billow__Reply *reply, bw_arena_t *arena);
void rt_subscription_list(bw_db_t *db, const Billow__SubscriptionList *req, Billow__Reply *reply,
                          bw_arena_t *arena);

#endif
