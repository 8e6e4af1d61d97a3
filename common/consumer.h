/* Consumes another service's event stream (DESIGN.md §3, step 3): fetches
 * batches after the stored cursor, hands each batch to the apply callback
 * inside one transaction, and stores the new cursor in that same
 * transaction. After a crash it resumes from the cursor, so effects happen
 * exactly once although delivery is at least once.
 *
 * With a type filter the cursor may also be a place the producer scanned
 * up to without finding anything wanted: it is kept in memory, and stored
 * (with the next batch applied, or on its own at most once a second) so
 * that a restart need not scan again and the producer may prune. */
#ifndef BW_CONSUMER_H
#define BW_CONSUMER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "api.pb-c.h"
#include "arena.h"
#include "stream.pb-c.h"
#include "util.h"

typedef struct bw_db bw_db_t;
typedef struct bw_consumer bw_consumer_t;

/* Applies n events inside the open transaction on db. Return 0 to commit
 * (with the cursor after the last event) or a negative code to roll back
 * and retry the batch later. Events that can never apply (bad payload) must
 * be logged and skipped, not failed, or the stream stalls. Scratch memory
 * from arena is freed after the call. */
typedef int (*bw_consumer_apply_fn)(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs,
                                    size_t n, bw_arena_t *arena);

typedef struct {
    const char *producer; /* "invoicing" */
    const char *endpoint; /* the producer's stream socket */
    const char *name;     /* this consumer, e.g. "rating" (partitions appended) */
    const bw_partset_t *partitions;
    unsigned batch_max;   /* default 1000 */
    unsigned wait_ms;     /* long-poll time, default 1000 */
    bw_consumer_apply_fn apply;
    void *arg;
    /* The event types apply acts on (NULL-terminated, at most 32; it must
     * outlive the consumer): the producer sends only those. NULL: every
     * type. A type missing here is never seen, so list every type apply
     * handles. */
    const char *const *types;
    /* Leases (worker processes): when lease_owner is set the consumer only
     * fetches while it holds the lease of its partition set, renews it in
     * every batch's transaction (a consumer that lost it rolls back and
     * stops), and, when `adopted`, hands it back to the worker that asks
     * for it (wanted_by). */
    const char *lease_owner;
    unsigned lease_ttl_s;
    bool adopted;
} bw_consumer_opts_t;

/* Starts consuming on loop. db is shared with its owner (not owned). */
bw_consumer_t *bw_consumer_new(struct ev_loop *loop, void *zctx, bw_db_t *db,
                               const bw_consumer_opts_t *opts);
void bw_consumer_destroy(bw_consumer_t **pc);
/* Fills st (strings point into the consumer; valid while it lives). */
void bw_consumer_status(bw_consumer_t *c, Billow__ConsumerStatus *st);
long long bw_consumer_cursor(const bw_consumer_t *c);
/* True once a leased consumer has stopped for good (lease lost or handed
 * back); it fetches nothing more. */
bool bw_consumer_stopped(const bw_consumer_t *c);
const char *bw_consumer_partitions(const bw_consumer_t *c);

#endif
