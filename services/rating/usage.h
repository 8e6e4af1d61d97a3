/* Usage ingest: a batch of records (event id, account, fee item, quantity,
 * timestamp, optional currency) validated one by one; good records are
 * stored and added to the running aggregates of their (period, account, fee
 * item) in one statement, bad ones come back with their line and reason. A
 * record whose event id was seen before is a no-op. Records in a period
 * already closed for the account are rejected. */
#ifndef RT_USAGE_H
#define RT_USAGE_H

#include <ev.h>
#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;

/* Most records one IngestUsage may carry. */
#define RT_USAGE_MAX_BATCH 50000

/* The lock usage ingest holds shared and a close batch exclusive, so a
 * record can never slip into a period between its close check and the
 * close reading the aggregates. */
#define RT_USAGE_LOCK_SQL_SHARED "SELECT pg_advisory_xact_lock_shared(hashtext('rating.usage'))"
#define RT_USAGE_LOCK_SQL "SELECT pg_advisory_xact_lock(hashtext('rating.usage'))"

/* Usage ingest keeps what it validates against (account, currency, cycle,
 * plan of the latest subscription) in memory, follows the view's change log
 * (migration 003) per request, and reads the whole view in the background
 * (an idle watcher on loop, a page of 20000 accounts at a time) after start
 * and whenever it had to drop everything. Without rt_usage_start (tests),
 * accounts are loaded as requests name them. */
#define RT_USAGE_CACHE_DEFAULT 500000
/* At most BILLOW_RATING_ACCOUNT_CACHE accounts are kept (about 90 bytes
 * each; the preloader stops there); when a request needs more, all are
 * dropped first. 0, or BW_EINVAL for a bad setting. */
int rt_usage_start(struct ev_loop *loop, bw_db_t *db);
/* How many accounts are kept now (tests). */
size_t rt_usage_cache_size(void);
/* Stops the preloader and drops the accounts kept. */
void rt_usage_stop(void);
/* Requests with at least RT_USAGE_SPLIT_MIN good records are stored over
 * BILLOW_RATING_INGEST_CONNECTIONS connections at once (the request's own
 * and extra ones rt_usage_start makes), each COPYing the records whose
 * event id hashes to it, with their aggregates, in its own transaction;
 * the extras commit just before the request's. Once one part committed, a
 * part whose commit fails has its records rejected as "not stored" (the
 * reply counts only what is stored); before, the request fails whole.
 * Smaller requests, and all without rt_usage_start, use the request's
 * connection alone. */
#define RT_USAGE_SPLIT_MIN 2000
#define RT_USAGE_CONNECTIONS_DEFAULT 2
#define RT_USAGE_MAX_CONNECTIONS 8
/* Drops the accounts kept (tests). */
void rt_usage_cache_clear(void);

bool rt_usage_ingest(bw_db_t *db, const Billow__IngestUsage *req, const char *cause,
                     Billow__Reply *reply, bw_arena_t *arena);

#endif
