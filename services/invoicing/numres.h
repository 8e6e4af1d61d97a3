/* Invoice number reservations (migration 007, README.md "Numbering").
 *
 * A batch of AccountRated does not take its numbers from the series' row in
 * its own transaction (that row lock would be held to its commit and every
 * worker's write would queue on it). Instead:
 *
 *   1. reserve: on a second connection of the worker, in a transaction of
 *      its own, the series' counter moves past a block of numbers and a row
 *      of number_reservations (series, first, last, holder) records the
 *      block; that commits at once, so the series' row is locked only for
 *      that one statement;
 *   2. claim: the batch's transaction deletes the block's row (DELETE ...
 *      RETURNING) before it writes anything. From there the row is the
 *      batch's: if the batch commits, the numbers are issued and the row is
 *      gone; if it rolls back or its process dies, the delete is undone and
 *      the block is reserved again;
 *   3. what the batch did not use (a replay found on the second pass, or a
 *      claimed block bigger than its need) goes back to the counter when it
 *      sits at the top of the series (the batch then locks the series' row
 *      to its commit; rare), and otherwise becomes a free reservation that
 *      the next batch of the series claims, whoever it is.
 *
 * So at every commit each number up to number_series.last is either on a
 * document or inside exactly one reservation row: nothing is handed out
 * twice (unique), and nothing is lost while batches of the series follow.
 *
 * Why two processes can never use one number, even when a guess about
 * liveness below is wrong: a block is reserved once (the counter only moves
 * up under the series' row lock, and comes down only past numbers of the
 * transaction lowering it, under that lock too; a block re-inserted is a
 * part of a block that the inserting transaction deleted, so blocks never
 * overlap). A transaction uses a number only from a row it deleted. Two
 * transactions cannot both delete one row: the second waits for the first's
 * row lock or skips the row (SKIP LOCKED), and once the first commits the
 * row is gone for it (0 rows); if the first rolls back, its delete never
 * happened. So a number is used by at most one committed transaction. The
 * liveness guesses (a holder's lease, the grace period) only decide which
 * outstanding block a batch tries first, never whether two can have it.
 *
 * Why no gap is left while the series goes on: a block is outstanding only
 * while the batch that claimed it runs, or after that batch died or rolled
 * back, or as a free leftover. Its holder is what the same events come back
 * to ("rating:0-3/8": the stream and the partition set whose lease the
 * consumer renewed in this transaction; a consumer without a lease, the API
 * process's, is "nolease:rating:all"), and every batch that needs numbers
 * claims, one block at a time until it has enough: its own holder's
 * outstanding blocks (the replay after a SIGKILL fills the hole its
 * predecessor left, whatever its batch boundaries), free ones, those of a
 * partition set without a live lease, and those of a consumer without a
 * lease once older than BILLOW_NUMBER_RESERVATION_GRACE_S; it reserves
 * fresh numbers only for the rest. A run's invoices are all issued on the
 * day the run started (bill_runs.issue_date), so a batch replayed after
 * midnight is numbered in the series it reserved in. What no batch of its
 * series comes back to (a run-less batch killed before midnight; a free
 * leftover of the last batch of a month, which needs a batch to have
 * skipped a block another was claiming and then rolled back) stays
 * reserved: the audit reports it after 10 minutes. */
#ifndef INV_NUMRES_H
#define INV_NUMRES_H

#include <stddef.h>

typedef struct bw_db bw_db_t;

#define INV_NUMRES_HOLDER_LEN 96

typedef struct {
    long long first, last;
    char reserved_at[40]; /* when its numbers were first reserved */
} inv_numblock_t;

/* The numbers a batch's transaction holds in one series. */
typedef struct {
    char series[24];
    long long need;         /* numbers wanted */
    inv_numblock_t *blocks; /* claimed, ascending */
    size_t n, cap;
} inv_numclaim_t;

/* Reads BILLOW_NUMBER_RESERVATION_GRACE_S; BW_EINVAL when it is bad. */
int inv_numres_init(void);
/* Closes the second connection. */
void inv_numres_fini(void);

/* The holder of the batch whose transaction is open on db: the partition
 * set whose lease this transaction renewed, else fallback (the consumer's
 * fixed partition set). */
int inv_numres_holder(bw_db_t *db, const char *fallback, char *buf, size_t len);
/* Claims at least c->need numbers of c->series for the transaction open on
 * db: the holder's outstanding blocks, then blocks left by holders without
 * a live lease, then freshly reserved ones. 0, BW_EDB, BW_EUNAVAIL (the
 * second connection is down), BW_ENOMEM. */
int inv_numres_claim(bw_db_t *db, const char *holder, inv_numclaim_t *c);
/* The k-th number (from 0) of the claimed blocks in ascending order; -1
 * past them. */
long long inv_numres_nth(const inv_numclaim_t *c, long long k);
/* Every claimed number from the used-th on, in the transaction open on db:
 * what sits at the top of the series goes back to its counter (the series'
 * row is then locked to the commit), the rest becomes free reservations,
 * which the next batch of the series claims whoever it is. */
int inv_numres_keep_rest(bw_db_t *db, const inv_numclaim_t *c, long long used);
void inv_numclaim_free(inv_numclaim_t *c);

#endif
