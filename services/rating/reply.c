/* Reply helpers for the rating service. */
#include "rating/reply.h"

#include "clock.h"
#include "db.h"
#include "log.h"
#include "rpc.h"

Billow__RatingReply *rt_reply_body(Billow__Reply *reply, bw_arena_t *arena)
{
    Billow__RatingReply *rr = bw_arena_alloc(arena, sizeof *rr);
    billow__rating_reply__init(rr);
    reply->body_case = BILLOW__REPLY__BODY_RATING;
    reply->rating = rr;
    return rr;
}

void rt_reply_db(Billow__Reply *reply, bw_db_t *db, const char *what, bw_arena_t *arena)
{
    bw_log(BW_WARN, what, "pg_error", BW_S(bw_db_error(db)), NULL);
    bw_reply_error(reply, bw_db_lost(db) ? BILLOW__CODE__UNAVAILABLE : BILLOW__CODE__INTERNAL,
                   what, bw_arena_strdup(arena, bw_db_error(db)));
}

/* Formatted in place in the arena (no copy: a close formats several per
 * line), at the price of a few unused bytes. */
char *rt_dec_str(bw_arena_t *a, bw_dec_t v)
{
    char *s = bw_arena_alloc(a, BW_DEC_STRLEN);
    if (s)
        bw_dec_format(v, s, BW_DEC_STRLEN);
    return s;
}

char *rt_date_str(bw_arena_t *a, int64_t day)
{
    char buf[16];
    bw_date_format(day, buf, sizeof buf);
    return bw_arena_strdup(a, buf);
}

int rt_empty(const char *s) { return !s || !*s; }
