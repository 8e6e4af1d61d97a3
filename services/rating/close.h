/* Period close: on BillRunStarted (or `billctl rate close`), every active
 * account of the cycle is rated once for the period and gets one
 * AccountRated event, even with nothing to charge. The consumer only records
 * a close job in its own transaction; the first process to take it up cuts
 * it into slices (ranges of account ids, each with its own cursor). Every
 * rating process (API, --worker, --closer) runs a worker driven by its loop
 * (an idle watcher, so requests are served first, and a poll timer) that
 * claims a free slice with SKIP LOCKED and closes its next
 * BILLOW_RATING_CLOSE_BATCH accounts in one transaction: read the batch's
 * accounts, subscriptions and usage aggregates, rate in C, COPY the
 * closed_periods rows, move the slice's cursor, append the events with one
 * outbox COPY. A crash rolls back the batch in hand and frees its slice;
 * the slice cursors and the closed_periods primary key make the close
 * resumable and exactly-once. */
#ifndef RT_CLOSE_H
#define RT_CLOSE_H

#include <ev.h>
#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"
#include "events.pb-c.h"
#include "stream.pb-c.h"

typedef struct bw_db bw_db_t;

/* Starts the worker on loop with db (borrowed); reads settings. It looks for
 * pending jobs at once (a close interrupted by a crash resumes) and every
 * BILLOW_RATING_CLOSE_POLL_MS. 0 or BW_EINVAL (bad setting) / BW_ENOMEM. */
int rt_close_start(struct ev_loop *loop, bw_db_t *db);
void rt_close_stop(void);
/* Wakes the worker: a job may be pending. */
void rt_close_kick(void);

/* Records a close job for a bill run (consumer transaction): 0 or BW_EDB. */
int rt_close_on_bill_run(bw_db_t *db, const Billow__StreamEvent *se,
                         const Billow__BillRunStarted *br);

bool rt_close_request(bw_db_t *db, const Billow__RateClose *req, const char *cause,
                      Billow__Reply *reply, bw_arena_t *arena);
void rt_close_status(bw_db_t *db, const Billow__CloseStatus *req, Billow__Reply *reply,
                     bw_arena_t *arena);

/* Runs one step of the oldest pending job now (tests, benchmark): cutting
 * it into slices or one batch of a free slice. 1 when a step ran, 0 when no
 * job is pending or all its pending slices are held by other processes,
 * negative on error. */
int rt_close_step(bw_db_t *db);

#endif
