/* Proof of notice and objections from notification's and feedback's
 * streams (see notice_view.h). */
#include "rating/notice_view.h"
#include "rating/pricechange.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "events.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_DELIVERY[] =
    "SELECT pc.effective_date - '1970-01-01'::date, pc.min_notice_days"
    " FROM price_change_accounts pa JOIN price_changes pc ON pc.id = pa.change_id"
    " WHERE pa.change_id = $1 AND pa.account_id = $2"
    " AND (pa.first_delivered_at IS NULL OR pa.first_delivered_at > $3::timestamptz)"
    " FOR UPDATE OF pa";
static const char SQL_DELIVERED[] =
    "UPDATE price_change_accounts SET first_delivered_at = $3::timestamptz, delivered_by = $4,"
    " delivered_channel = $5, effective_on = '1970-01-01'::date + $6::int"
    " WHERE change_id = $1 AND account_id = $2";
static const char SQL_FAILED[] =
    "UPDATE price_change_accounts SET failed_at = coalesce(failed_at, $3::timestamptz),"
    " fail_reason = CASE WHEN fail_reason = '' THEN $4 ELSE fail_reason END"
    " WHERE change_id = $1 AND account_id = $2";
static const char SQL_ACKED[] =
    "UPDATE price_change_accounts SET acknowledged_at = $3::timestamptz, ack_channel = $4"
    " WHERE change_id = $1 AND account_id = $2 AND acknowledged_at IS NULL";
static const char SQL_TICKET[] =
    "INSERT INTO price_change_tickets (ticket_id, change_id, account_id, type, category, channel,"
    " opened_at, caused_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";
static const char SQL_RESOLVED[] =
    "UPDATE price_change_tickets SET outcome = $2, resolved_at = $3 WHERE ticket_id = $1";

static bool fee_change_type(const char *t)
{
    return t && (strcmp(t, "price_change_notice") == 0 || strcmp(t, "price_change_reminder") == 0);
}

static int on_delivered(bw_db_t *db, const Billow__StreamEvent *se, const Billow__NoticeDelivered *e)
{
    if (!fee_change_type(e->message_type) || !*e->ref_id)
        return 0;
    int64_t at;
    if (bw_time_parse(e->delivered_at, &at) < 0) {
        bw_log(BW_WARN, "notice delivered without a valid time", "event_id", BW_S(se->event_id),
               NULL);
        return 0;
    }
    char ts[40];
    bw_time_format(at, ts, sizeof ts);
    const char *p[3] = {e->ref_id, e->account_id, ts};
    PGresult *res = bw_db_query(db, SQL_DELIVERY, 3, p);
    if (!res)
        return BW_EDB;
    if (PQntuples(res) != 1) {
        PQclear(res); /* not ours, or an earlier delivery is known already */
        return 0;
    }
    int64_t eff = atoll(PQgetvalue(res, 0, 0));
    int notice = atoi(PQgetvalue(res, 0, 1));
    PQclear(res);
    int64_t day = at / 86400000000LL;
    if (at < 0 && at % 86400000000LL)
        day--;
    char from[24];
    snprintf(from, sizeof from, "%lld", (long long)rt_pc_effective_day(eff, day, notice));
    const char *u[6] = {e->ref_id, e->account_id, ts, se->event_id, e->channel, from};
    return bw_db_exec(db, SQL_DELIVERED, 6, u) < 0 ? BW_EDB : 0;
}

static int on_failed(bw_db_t *db, const Billow__StreamEvent *se, const Billow__NotificationFailed *e)
{
    (void)se;
    if (!fee_change_type(e->message_type) || !*e->ref_id)
        return 0;
    int64_t at;
    if (bw_time_parse(e->failed_at, &at) < 0)
        at = bw_now_us();
    char ts[40];
    bw_time_format(at, ts, sizeof ts);
    /* notification dead-letters a message with no address at all as "no
     * address on any channel"; anything else is a channel that failed. */
    char reason[300];
    if (strstr(e->reason, "no address"))
        snprintf(reason, sizeof reason, "no contact: %s", e->reason);
    else
        snprintf(reason, sizeof reason, "all channels failed: %.250s", e->reason);
    const char *p[4] = {e->ref_id, e->account_id, ts, reason};
    return bw_db_exec(db, SQL_FAILED, 4, p) < 0 ? BW_EDB : 0;
}

static int on_acked(bw_db_t *db, const Billow__NoticeAcknowledged *e)
{
    if (!fee_change_type(e->message_type) || !*e->ref_id)
        return 0;
    int64_t at;
    if (bw_time_parse(e->acknowledged_at, &at) < 0)
        at = bw_now_us();
    char ts[40];
    bw_time_format(at, ts, sizeof ts);
    const char *p[4] = {e->ref_id, e->account_id, ts, e->channel};
    return bw_db_exec(db, SQL_ACKED, 4, p) < 0 ? BW_EDB : 0;
}

static int on_notification_event(void *arg, bw_db_t *db, const Billow__StreamEvent *se,
                                  const Billow__Event *ev, bw_arena_t *arena)
{
    (void)arg;
    (void)arena;
    switch (ev->body_case) {
    case BILLOW__EVENT__BODY_NOTICE_DELIVERED:
        return on_delivered(db, se, ev->notice_delivered);
    case BILLOW__EVENT__BODY_NOTIFICATION_FAILED:
        return on_failed(db, se, ev->notification_failed);
    case BILLOW__EVENT__BODY_NOTICE_ACKNOWLEDGED:
        return on_acked(db, ev->notice_acknowledged);
    default:
        return 0;
    }
}

static int on_feedback_event(void *arg, bw_db_t *db, const Billow__StreamEvent *se,
                             const Billow__Event *ev, bw_arena_t *arena)
{
    (void)arg;
    (void)arena;
    if (ev->body_case == BILLOW__EVENT__BODY_FEEDBACK_RECEIVED) {
        const Billow__FeedbackReceived *e = ev->feedback_received;
        if (!*e->price_change_id)
            return 0;
        const char *p[8] = {e->ticket_id, e->price_change_id, e->account_id, e->type,
                            e->category,  e->channel,         e->opened_at,  se->event_id};
        return bw_db_exec(db, SQL_TICKET, 8, p) < 0 ? BW_EDB : 0;
    }
    if (ev->body_case == BILLOW__EVENT__BODY_TICKET_RESOLVED) {
        const Billow__TicketResolved *e = ev->ticket_resolved;
        const char *p[3] = {e->ticket_id, e->outcome, e->resolved_at};
        return bw_db_exec(db, SQL_RESOLVED, 3, p) < 0 ? BW_EDB : 0;
    }
    return 0;
}

int rt_notice_from_notification(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                                bw_arena_t *arena)
{
    return bw_events_apply(db, evs, n, arena, on_notification_event, arg);
}

int rt_notice_from_feedback(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                            bw_arena_t *arena)
{
    return bw_events_apply(db, evs, n, arena, on_feedback_event, arg);
}
