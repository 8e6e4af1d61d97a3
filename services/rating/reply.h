/* Reply helpers shared by the rating request handlers: the RatingReply body
 * of a reply, database errors as replies, and small string conversions. */
#ifndef RT_REPLY_H
#define RT_REPLY_H

#include <stdint.h>

#include "api.pb-c.h"
#include "arena.h"
#include "money.h"

typedef struct bw_db bw_db_t;

/* Sets reply's body to a new RatingReply (arena memory) and returns it. */
Billow__RatingReply *rt_reply_body(Billow__Reply *reply, bw_arena_t *arena);
/* Logs the database error and fills reply (UNAVAILABLE when the connection
 * was lost, else INTERNAL) with `what` and the PostgreSQL message. */
void rt_reply_db(Billow__Reply *reply, bw_db_t *db, const char *what, bw_arena_t *arena);
/* Formats a decimal / a date into arena memory. */
char *rt_dec_str(bw_arena_t *a, bw_dec_t v);
char *rt_date_str(bw_arena_t *a, int64_t day);
/* True for NULL or "". */
int rt_empty(const char *s);

#endif
