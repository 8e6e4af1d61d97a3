/* Request dispatch for notification, and the read side of notifications:
 * list (filters, newest first, paging), show (with every attempt) and the
 * dead-letter retry. */
#include "notification/api.h"
#include "notification/ack.h"
#include "notification/contacts.h"
#include "notification/delivery.h"
#include "notification/messages.h"

#include "db.h"
#include "errors.h"
#include "log.h"
#include "rpc.h"
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T(col) "coalesce(to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"

#define SUMMARY_COLS                                                                               \
    "m.id, m.source_event_id, m.account_id, m.channel, m.type, m.ref_id, m.address, m.status,"    \
    " m.attempts, " T("m.due_at") ", m.last_error, " T("m.created_at") ", " T(                    \
        "m.delivered_at") ", m.provider_id, m.ack_token IS NOT NULL, " T("a.acknowledged_at")    \
        ", m.caused_by"

static const char SQL_LIST[] =
    "SELECT " SUMMARY_COLS " FROM messages m LEFT JOIN acks a ON a.token = m.ack_token"
    " WHERE ($1 = '' OR m.account_id = $1) AND ($2 = '' OR m.status = $2)"
    /* lets the dead-letter list use its partial index (messages_dead) */
    " AND ($2 <> 'dead' OR m.dead)"
    " AND ($3 = '' OR (m.created_at, m.id) < (SELECT created_at, id FROM messages WHERE id = $3))"
    " ORDER BY m.created_at DESC, m.id DESC LIMIT $4::int";
static const char SQL_SHOW[] =
    "SELECT " SUMMARY_COLS " FROM messages m LEFT JOIN acks a ON a.token = m.ack_token"
    " WHERE m.id = $1";
static const char SQL_ATTEMPTS[] =
    "SELECT attempt, notifier, address, status, code, answer, provider_id, " T("started_at")
    ", " T("finished_at") " FROM attempts WHERE message_id = $1 ORDER BY id";
/* A retry takes the contact's current address for the channel, so an
 * operator can fix a contact (billctl contact set) and then retry. */
static const char SQL_RETRY[] =
    "WITH r AS (UPDATE messages m SET status = 'retry', attempts = 0, not_before = now(),"
    " last_error = 'retry requested by ' || $2, updated_at = now(),"
    " address = coalesce((SELECT nullif(CASE m.channel WHEN 'email' THEN c.email"
    " WHEN 'sms' THEN c.phone ELSE c.webhook_url END, '') FROM contacts c"
    " WHERE c.account_id = m.account_id), m.address)"
    " WHERE m.id = $1 AND m.status = 'dead'"
    " RETURNING m.id, m.channel, m.due_at, m.not_before, m.status),"
    " q AS (" NTF_SQL_QUEUE("r") ") SELECT id FROM r";

static const char *const statuses[] = {"scheduled", "pending", "sending",   "retry",   "delivered",
                                       "failed",    "dead",    "cancelled", "skipped", NULL};

static void db_error(Billow__Reply *reply, bw_db_t *db, const char *what, bw_arena_t *arena)
{
    bw_log(BW_WARN, what, "pg_error", BW_S(bw_db_error(db)), NULL);
    bw_reply_error(reply, bw_db_lost(db) ? BILLOW__CODE__UNAVAILABLE : BILLOW__CODE__INTERNAL, what,
                   bw_arena_strdup(arena, bw_db_error(db)));
}

static Billow__NotificationReply *nreply(Billow__Reply *reply, bw_arena_t *arena)
{
    Billow__NotificationReply *nr = bw_arena_alloc(arena, sizeof *nr);
    billow__notification_reply__init(nr);
    reply->body_case = BILLOW__REPLY__BODY_NOTIFICATION;
    reply->notification = nr;
    return nr;
}

static char *val(PGresult *res, int r, int c, bw_arena_t *a)
{
    return bw_arena_strdup(a, PQgetvalue(res, r, c));
}

static Billow__NotificationSummary *row_summary(PGresult *res, int r, bw_arena_t *a)
{
    Billow__NotificationSummary *s = bw_arena_alloc(a, sizeof *s);
    billow__notification_summary__init(s);
    s->id = val(res, r, 0, a);
    s->source_event_id = val(res, r, 1, a);
    s->account_id = val(res, r, 2, a);
    s->channel = val(res, r, 3, a);
    s->type = val(res, r, 4, a);
    s->ref_id = val(res, r, 5, a);
    s->address = val(res, r, 6, a);
    s->status = val(res, r, 7, a);
    s->attempts = atoi(PQgetvalue(res, r, 8));
    s->due_at = val(res, r, 9, a);
    s->last_error = val(res, r, 10, a);
    s->created_at = val(res, r, 11, a);
    s->delivered_at = val(res, r, 12, a);
    s->provider_id = val(res, r, 13, a);
    s->needs_ack = PQgetvalue(res, r, 14)[0] == 't';
    s->acknowledged_at = val(res, r, 15, a);
    return s;
}

static bool id_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') || *s == '-'))
            return false;
    return true;
}

static void notify_list(bw_db_t *db, const Billow__NotifyList *r, Billow__Reply *reply,
                        bw_arena_t *arena)
{
    if (*r->status) {
        bool known = false;
        for (const char *const *s = statuses; *s; s++)
            known = known || strcmp(*s, r->status) == 0;
        if (!known) {
            bw_reply_error(reply, BILLOW__CODE__INVALID,
                           "status: scheduled, pending, sending, retry, delivered, failed, dead,"
                           " cancelled or skipped",
                           r->status);
            return;
        }
    }
    if (*r->before && !id_ok(r->before)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "before: a notification id", NULL);
        return;
    }
    unsigned limit = r->limit ? r->limit : 100;
    if (limit > 10000)
        limit = 10000;
    char lim[16];
    snprintf(lim, sizeof lim, "%u", limit);
    const char *p[4] = {r->account_id, r->status, r->before, lim};
    PGresult *res = bw_db_query(db, SQL_LIST, 4, p);
    if (!res) {
        db_error(reply, db, "could not list notifications", arena);
        return;
    }
    Billow__NotifyListReply *lr = bw_arena_alloc(arena, sizeof *lr);
    billow__notify_list_reply__init(lr);
    int n = PQntuples(res);
    lr->notifications = bw_arena_alloc(arena, (size_t)(n ? n : 1) * sizeof *lr->notifications);
    for (int i = 0; i < n; i++)
        lr->notifications[lr->n_notifications++] = row_summary(res, i, arena);
    PQclear(res);
    Billow__NotificationReply *nr = nreply(reply, arena);
    nr->op_case = BILLOW__NOTIFICATION_REPLY__OP_NOTIFICATIONS;
    nr->notifications = lr;
}

static void notify_show(bw_db_t *db, const char *id, Billow__Reply *reply, bw_arena_t *arena)
{
    if (!id_ok(id)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "id: a notification id (uuid)", NULL);
        return;
    }
    PGresult *res = bw_db_query(db, SQL_SHOW, 1, &id);
    if (!res) {
        db_error(reply, db, "could not read notification", arena);
        return;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such notification", id);
        return;
    }
    Billow__NotificationDetail *dt = bw_arena_alloc(arena, sizeof *dt);
    billow__notification_detail__init(dt);
    dt->notification = row_summary(res, 0, arena);
    dt->caused_by = val(res, 0, 16, arena);
    PQclear(res);
    res = bw_db_query(db, SQL_ATTEMPTS, 1, &id);
    if (!res) {
        db_error(reply, db, "could not read attempts", arena);
        return;
    }
    int n = PQntuples(res);
    dt->attempts = bw_arena_alloc(arena, (size_t)(n ? n : 1) * sizeof *dt->attempts);
    for (int i = 0; i < n; i++) {
        Billow__DeliveryAttempt *a = bw_arena_alloc(arena, sizeof *a);
        billow__delivery_attempt__init(a);
        a->attempt = atoi(PQgetvalue(res, i, 0));
        a->notifier = val(res, i, 1, arena);
        a->address = val(res, i, 2, arena);
        a->status = val(res, i, 3, arena);
        a->code = atoi(PQgetvalue(res, i, 4));
        a->answer = val(res, i, 5, arena);
        a->provider_id = val(res, i, 6, arena);
        a->started_at = val(res, i, 7, arena);
        a->finished_at = val(res, i, 8, arena);
        dt->attempts[dt->n_attempts++] = a;
    }
    PQclear(res);
    Billow__NotificationReply *nr = nreply(reply, arena);
    nr->op_case = BILLOW__NOTIFICATION_REPLY__OP_NOTIFICATION;
    nr->notification = dt;
}

static bool notify_retry(bw_service_t *svc, const char *id, const char *cause, Billow__Reply *reply,
                         bw_arena_t *arena)
{
    bw_db_t *db = bw_service_db(svc);
    if (!id_ok(id)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "id: a notification id (uuid)", NULL);
        return false;
    }
    const char *p[2] = {id, cause};
    PGresult *res = bw_db_query(db, SQL_RETRY, 2, p);
    if (!res) {
        db_error(reply, db, "could not retry notification", arena);
        return false;
    }
    bool changed = PQntuples(res) == 1;
    PQclear(res);
    if (!changed) {
        const char *p1[1] = {id};
        res = bw_db_query(db, "SELECT status FROM messages WHERE id = $1", 1, p1);
        if (res && PQntuples(res) == 1)
            bw_reply_error(reply, BILLOW__CODE__CONFLICT,
                           "only dead-lettered notifications can be retried",
                           bw_arena_printf(arena, "status is %s", PQgetvalue(res, 0, 0)));
        else if (res)
            bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such notification", id);
        else
            db_error(reply, db, "could not read notification", arena);
        PQclear(res);
        return false;
    }
    bw_log(BW_INFO, "dead-lettered notification retried", "id", BW_S(id), "cause", BW_S(cause),
           NULL);
    ntf_api_ctx_t *ctx = bw_service_data(svc);
    if (ctx && ctx->delivery)
        ntf_delivery_kick(ctx->delivery);
    notify_show(db, id, reply, arena);
    return true;
}

bool ntf_api_handle(void *arg, const Billow__Request *req, Billow__Reply *reply,
                    bw_arena_t *arena)
{
    bw_service_t *svc = arg;
    bw_db_t *db = bw_service_db(svc);
    if (req->body_case != BILLOW__REQUEST__BODY_NOTIFICATION || !req->notification) {
        bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "unknown request type",
                       "notification serves notification requests");
        return false;
    }
    const Billow__NotificationRequest *r = req->notification;
    char *cause = bw_arena_printf(arena, "request:%llu%s%s", (unsigned long long)req->id,
                                  req->operator_ && *req->operator_ ? " by " : "",
                                  req->operator_ ? req->operator_ : "");
    switch (r->op_case) {
    case BILLOW__NOTIFICATION_REQUEST__OP_CONTACT_SET:
        return ntf_contact_set(db, r->contact_set, cause, reply, arena);
    case BILLOW__NOTIFICATION_REQUEST__OP_CONTACT_GET:
        ntf_contact_get(db, r->contact_get, reply, arena);
        return false;
    case BILLOW__NOTIFICATION_REQUEST__OP_NOTIFY_LIST:
        notify_list(db, r->notify_list, reply, arena);
        return false;
    case BILLOW__NOTIFICATION_REQUEST__OP_NOTIFY_SHOW:
        notify_show(db, r->notify_show->id, reply, arena);
        return false;
    case BILLOW__NOTIFICATION_REQUEST__OP_NOTIFY_RETRY:
        return notify_retry(svc, r->notify_retry->id, cause, reply, arena);
    case BILLOW__NOTIFICATION_REQUEST__OP_NOTICE_ACK:
        return ntf_ack(db, r->notice_ack, cause, reply, arena);
    default:
        bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "unknown notification operation", NULL);
        return false;
    }
}
