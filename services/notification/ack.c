/* Acknowledgements: see ack.h. The token is the whole secret, so it is
 * checked for shape before it reaches SQL and never logged in full. */
#include "notification/ack.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "outbox.h"
#include "rpc.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define TIME_TEXT(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const char SQL_ACK[] =
    "UPDATE acks SET acknowledged_at = $2, channel = $3, acked_by = $4"
    " WHERE token = $1 AND acknowledged_at IS NULL"
    " RETURNING notification_id, account_id, message_type, ref_id, " TIME_TEXT("acknowledged_at");
static const char SQL_GET[] =
    "SELECT notification_id, account_id, message_type, ref_id, " TIME_TEXT("acknowledged_at")
    " FROM acks WHERE token = $1";
static const char SQL_CANCEL[] =
    "UPDATE messages SET status = 'cancelled', last_error = 'acknowledged', updated_at = now()"
    " WHERE ack_token = $1 AND type = 'price_change_reminder'"
    " AND status IN ('scheduled', 'pending', 'retry')";

static bool token_ok(const char *t)
{
    if (!t || strlen(t) != 64)
        return false;
    for (; *t; t++)
        if (!isxdigit((unsigned char)*t) || isupper((unsigned char)*t))
            return false;
    return true;
}

static void set_reply(Billow__Reply *reply, PGresult *res, bool already, bw_arena_t *arena)
{
    Billow__NotificationReply *nr = bw_arena_alloc(arena, sizeof *nr);
    Billow__NoticeAckReply *ar = bw_arena_alloc(arena, sizeof *ar);
    billow__notification_reply__init(nr);
    billow__notice_ack_reply__init(ar);
    ar->already_acknowledged = already;
    ar->notification_id = bw_arena_strdup(arena, PQgetvalue(res, 0, 0));
    ar->account_id = bw_arena_strdup(arena, PQgetvalue(res, 0, 1));
    ar->message_type = bw_arena_strdup(arena, PQgetvalue(res, 0, 2));
    ar->ref_id = bw_arena_strdup(arena, PQgetvalue(res, 0, 3));
    ar->acknowledged_at = bw_arena_strdup(arena, PQgetvalue(res, 0, 4));
    nr->op_case = BILLOW__NOTIFICATION_REPLY__OP_ACK;
    nr->ack = ar;
    reply->body_case = BILLOW__REPLY__BODY_NOTIFICATION;
    reply->notification = nr;
}

static void db_error(Billow__Reply *reply, bw_db_t *db, const char *what, bw_arena_t *arena)
{
    bw_log(BW_WARN, what, "pg_error", BW_S(bw_db_error(db)), NULL);
    bw_reply_error(reply, bw_db_lost(db) ? BILLOW__CODE__UNAVAILABLE : BILLOW__CODE__INTERNAL, what,
                   bw_arena_strdup(arena, bw_db_error(db)));
}

bool ntf_ack(bw_db_t *db, const Billow__NoticeAck *req, const char *cause, Billow__Reply *reply,
             bw_arena_t *arena)
{
    if (!req || !token_ok(req->token)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "token: 64 lower-case hex characters expected",
                       NULL);
        return false;
    }
    const char *channel = req->channel && *req->channel ? req->channel : "api";
    if (strlen(channel) > 32) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "channel: at most 32 bytes", NULL);
        return false;
    }
    char now[40];
    bw_time_format(bw_now_us(), now, sizeof now);
    if (bw_db_begin(db) < 0) {
        db_error(reply, db, "could not begin", arena);
        return false;
    }
    const char *p[4] = {req->token, now, channel, cause};
    PGresult *res = bw_db_query(db, SQL_ACK, 4, p);
    if (!res) {
        db_error(reply, db, "could not record acknowledgement", arena);
        goto fail;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        bw_db_commit(db); /* nothing changed; a rollback would poison an outer transaction */
        res = bw_db_query(db, SQL_GET, 1, p);
        if (!res) {
            db_error(reply, db, "could not read acknowledgement", arena);
            return false;
        }
        if (PQntuples(res) == 0)
            bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "unknown token", NULL);
        else
            set_reply(reply, res, true, arena);
        PQclear(res);
        return false;
    }
    set_reply(reply, res, false, arena);
    PQclear(res);
    if (bw_db_exec(db, SQL_CANCEL, 1, p) < 0) {
        db_error(reply, db, "could not cancel reminders", arena);
        goto fail;
    }
    Billow__NoticeAckReply *ar = reply->notification->ack;
    Billow__NoticeAcknowledged na = BILLOW__NOTICE_ACKNOWLEDGED__INIT;
    na.notification_id = ar->notification_id;
    na.account_id = ar->account_id;
    na.message_type = ar->message_type;
    na.ref_id = ar->ref_id;
    na.acknowledged_at = ar->acknowledged_at;
    na.channel = (char *)channel;
    Billow__Event ev = BILLOW__EVENT__INIT;
    ev.body_case = BILLOW__EVENT__BODY_NOTICE_ACKNOWLEDGED;
    ev.notice_acknowledged = &na;
    if (bw_outbox_emit(db, &ev, ar->account_id, cause) < 0) {
        db_error(reply, db, "could not emit NoticeAcknowledged", arena);
        goto fail;
    }
    if (bw_db_commit(db) < 0) {
        db_error(reply, db, "could not commit", arena);
        reply->body_case = BILLOW__REPLY__BODY__NOT_SET;
        return false;
    }
    bw_log(BW_INFO, "notice acknowledged", "notification", BW_S(ar->notification_id), "account",
           BW_S(ar->account_id), "ref", BW_S(ar->ref_id), NULL);
    return true;
fail:
    reply->body_case = BILLOW__REPLY__BODY__NOT_SET;
    reply->notification = NULL;
    bw_db_rollback(db);
    return false;
}
