/* Invoice number reservations; the scheme and why it is safe are in
 * numres.h. */
#include "invoicing/numres.h"

#include "config.h"
#include "db.h"
#include "errors.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    long long grace_s;
    bw_db_t *resdb; /* the second connection, opened on first use */
} st;

/* A fresh block asked for and taken by someone else before this batch
 * claimed it is used by them; after this many in a row something is wrong
 * (the batch is rolled back and retried). */
#define FRESH_TRIES 8

int inv_numres_init(void)
{
    return bw_env_int("BILLOW_NUMBER_RESERVATION_GRACE_S", 60, 5, 86400, &st.grace_s) < 0
               ? BW_EINVAL
               : 0;
}

void inv_numres_fini(void) { bw_db_destroy(&st.resdb); }

/* The lease row that the consumer renewed at the start of this very
 * transaction (consumer.h: a leased consumer renews its lease in every
 * batch's transaction) is the one row of stream_leases whose version this
 * transaction wrote: its xmin is our transaction id (32 bits of the 64 of
 * pg_current_xact_id). */
static const char SQL_HOLDER[] =
    "SELECT 'rating:' || partitions FROM stream_leases WHERE producer = 'rating'"
    " AND xmin = (pg_current_xact_id()::text::int8 % 4294967296)::text::xid";

int inv_numres_holder(bw_db_t *db, const char *fallback, char *buf, size_t len)
{
    PGresult *r = bw_db_query(db, SQL_HOLDER, 0, NULL);
    if (!r)
        return bw_db_lost(db) ? BW_EUNAVAIL : BW_EDB;
    snprintf(buf, len, "%s", PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : fallback);
    PQclear(r);
    return 0;
}

static int add_block(inv_numclaim_t *c, long long first, long long last, const char *at)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4;
        inv_numblock_t *b = realloc(c->blocks, cap * sizeof *b);
        if (!b)
            return BW_ENOMEM;
        c->blocks = b;
        c->cap = cap;
    }
    inv_numblock_t *b = &c->blocks[c->n++];
    b->first = first;
    b->last = last;
    snprintf(b->reserved_at, sizeof b->reserved_at, "%s", at);
    return 0;
}

static long long claimed(const inv_numclaim_t *c)
{
    long long n = 0;
    for (size_t i = 0; i < c->n; i++)
        n += c->blocks[i].last - c->blocks[i].first + 1;
    return n;
}

/* Outstanding blocks of the series that this batch may take: its holder's
 * own (what a crashed predecessor left), free ones (holder '': numbers a
 * batch claimed and did not need), those of a partition set with no live
 * lease (its worker died and nobody adopted it, or the layout changed), and
 * those of a consumer without a lease ("nolease:...") once older than the
 * grace period. Rows another transaction has claimed are skipped, not
 * waited for: that transaction uses them. One block at a time, its own
 * first, until the batch has what it needs: a batch that took more than it
 * needs leaves the rest as a free block, which is a gap should no batch of
 * the series come after it. */
static const char SQL_CLAIM_OUTSTANDING[] =
    "WITH c AS MATERIALIZED (SELECT series, first FROM number_reservations x"
    "  WHERE series = $1 AND (holder = $2 OR holder = ''"
    "   OR (holder LIKE 'nolease:%' AND reserved_at < now() - make_interval(secs => $3::int))"
    "   OR (holder NOT LIKE 'nolease:%' AND NOT EXISTS (SELECT 1 FROM stream_leases l"
    "    WHERE l.producer = 'rating' AND 'rating:' || l.partitions = x.holder"
    "    AND l.expires_at > now())))"
    "  ORDER BY holder = $2 DESC, holder = '' DESC, first LIMIT 1 FOR UPDATE SKIP LOCKED)"
    " DELETE FROM number_reservations r USING c WHERE r.series = c.series AND r.first = c.first"
    " RETURNING r.first, r.last, r.holder, r.reserved_at::text";
/* A fresh block, reserved and committed on the second connection. */
static const char SQL_RESERVE[] =
    "WITH s AS (INSERT INTO number_series AS s (series, last) VALUES ($1, $2::int8)"
    "  ON CONFLICT (series) DO UPDATE SET last = s.last + $2::int8 RETURNING last)"
    " INSERT INTO number_reservations (series, first, last, holder)"
    " SELECT $1, last - $2::int8 + 1, last, $3 FROM s RETURNING first, last";
/* Claiming a block this batch reserved; no row: someone took it. */
static const char SQL_CLAIM_FRESH[] =
    "DELETE FROM number_reservations r WHERE (series, first) IN (SELECT series, first"
    "  FROM number_reservations WHERE series = $1 AND first = $2::int8 AND holder = $3"
    "  FOR UPDATE SKIP LOCKED) RETURNING last, reserved_at::text";
/* Giving numbers back: the series' row is locked to the commit (only a
 * batch that claimed more than it used does this, rarely); a free block at
 * the top is taken back too. No deadlock: a batch takes the series' row
 * after its claims and before the runs' rows and the outbox's lock, always
 * in that order; a reservation holds only the series' row, for one
 * statement; and a batch waiting on its second connection's reservation
 * holds only its lease and its claimed reservations, which other batches
 * skip rather than wait for. */
static const char SQL_TOP_LOCK[] = "SELECT last FROM number_series WHERE series = $1 FOR UPDATE";
static const char SQL_TAKE_FREE_TOP[] =
    "DELETE FROM number_reservations r WHERE (series, first) IN (SELECT series, first"
    "  FROM number_reservations WHERE series = $1 AND holder = '' AND last = $2::int8"
    "  FOR UPDATE SKIP LOCKED) RETURNING first";
static const char SQL_SET_TOP[] = "UPDATE number_series SET last = $2::int8 WHERE series = $1";
static const char SQL_FREE[] =
    "INSERT INTO number_reservations (series, first, last, holder, reserved_at)"
    " SELECT $1, f, l, '', a FROM unnest($2::int8[], $3::int8[], $4::timestamptz[]) AS u(f, l, a)";

static int claim_outstanding(bw_db_t *db, const char *holder, inv_numclaim_t *c)
{
    char grace[24];
    snprintf(grace, sizeof grace, "%lld", st.grace_s);
    const char *p[3] = {c->series, holder, grace};
    int rc = 0, got = 1;
    while (rc == 0 && got > 0 && claimed(c) < c->need) {
        PGresult *r = bw_db_query(db, SQL_CLAIM_OUTSTANDING, 3, p);
        if (!r)
            return bw_db_lost(db) ? BW_EUNAVAIL : BW_EDB;
        /* Every row deleted is this transaction's now and must be used or
         * given back, however many there are. */
        got = PQntuples(r);
        for (int i = 0; i < got && rc == 0; i++) {
            rc = add_block(c, atoll(PQgetvalue(r, i, 0)), atoll(PQgetvalue(r, i, 1)),
                           PQgetvalue(r, i, 3));
            const char *h = PQgetvalue(r, i, 2);
            if (*h && strcmp(h, holder) != 0)
                bw_log(BW_WARN, "claimed numbers another holder left", "series",
                       BW_S(c->series), "first", BW_S(PQgetvalue(r, i, 0)), "last",
                       BW_S(PQgetvalue(r, i, 1)), "holder", BW_S(h), NULL);
        }
        PQclear(r);
    }
    return rc;
}

/* Reserves count numbers on the second connection; first is set. */
static int reserve(bw_db_t *db, const char *series, long long count, const char *holder,
                   long long *first)
{
    if (!st.resdb && !(st.resdb = bw_db_new_like(db)))
        return BW_ENOMEM;
    int rc = bw_db_ensure(st.resdb);
    if (rc < 0)
        return rc;
    char cnt[24];
    snprintf(cnt, sizeof cnt, "%lld", count);
    const char *p[3] = {series, cnt, holder};
    PGresult *r = bw_db_query(st.resdb, SQL_RESERVE, 3, p);
    if (!r) {
        bw_log(BW_WARN, "could not reserve invoice numbers", "series", BW_S(series), "pg_error",
               BW_S(bw_db_error(st.resdb)), NULL);
        return bw_db_lost(st.resdb) ? BW_EUNAVAIL : BW_EDB;
    }
    rc = PQntuples(r) == 1 ? 0 : BW_EDB;
    if (rc == 0)
        *first = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

/* 1 when this transaction now holds the block at first, 0 when another
 * transaction took it. */
static int claim_fresh(bw_db_t *db, const char *holder, inv_numclaim_t *c, long long first)
{
    char f[24];
    snprintf(f, sizeof f, "%lld", first);
    const char *p[3] = {c->series, f, holder};
    PGresult *r = bw_db_query(db, SQL_CLAIM_FRESH, 3, p);
    if (!r)
        return bw_db_lost(db) ? BW_EUNAVAIL : BW_EDB;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc >= 0; i++)
        rc = add_block(c, first, atoll(PQgetvalue(r, i, 0)), PQgetvalue(r, i, 1)) < 0 ? BW_ENOMEM
                                                                                      : 1;
    PQclear(r);
    return rc;
}

static int block_cmp(const void *a, const void *b)
{
    const inv_numblock_t *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

int inv_numres_claim(bw_db_t *db, const char *holder, inv_numclaim_t *c)
{
    int rc = claim_outstanding(db, holder, c);
    for (int tries = 0; rc == 0 && claimed(c) < c->need; tries++) {
        long long first;
        if (tries == FRESH_TRIES)
            return BW_ECONFLICT;
        if ((rc = reserve(db, c->series, c->need - claimed(c), holder, &first)) < 0)
            return rc;
        rc = claim_fresh(db, holder, c, first);
        if (rc == 0)
            bw_log(BW_WARN, "reserved numbers were claimed by another batch", "series",
                   BW_S(c->series), "first", BW_I(first), NULL);
        rc = rc > 0 ? 0 : rc;
    }
    if (rc == 0)
        qsort(c->blocks, c->n, sizeof *c->blocks, block_cmp);
    return rc;
}

long long inv_numres_nth(const inv_numclaim_t *c, long long k)
{
    for (size_t i = 0; i < c->n; i++) {
        long long len = c->blocks[i].last - c->blocks[i].first + 1;
        if (k < len)
            return c->blocks[i].first + k;
        k -= len;
    }
    return -1; /* past what was claimed: the caller's error */
}

/* What is left of the claimed blocks from the used-th number on, ascending
 * (caller frees; *n pieces). */
static inv_numblock_t *leftovers(const inv_numclaim_t *c, long long used, size_t *n)
{
    inv_numblock_t *left = calloc(c->n + 1, sizeof *left);
    *n = 0;
    for (size_t i = 0; left && i < c->n; i++) {
        long long len = c->blocks[i].last - c->blocks[i].first + 1;
        if (used >= len) {
            used -= len;
            continue;
        }
        left[*n] = c->blocks[i];
        left[(*n)++].first += used;
        used = 0;
    }
    return left;
}

static int exec_ll(bw_db_t *db, const char *sql, const char *series, long long v, PGresult **out)
{
    char b[24];
    snprintf(b, sizeof b, "%lld", v);
    const char *p[2] = {series, b};
    PGresult *r = bw_db_query(db, sql, 2, p);
    if (!r)
        return bw_db_lost(db) ? BW_EUNAVAIL : BW_EDB;
    *out = r;
    return 0;
}

/* Lowers the series' counter past the pieces and free blocks that sit at
 * its top (they are this transaction's: nobody else can hold a number
 * above them); *n becomes the pieces left below. */
static int give_back_top(bw_db_t *db, const char *series, inv_numblock_t *left, size_t *n)
{
    const char *p[1] = {series};
    PGresult *r = bw_db_query(db, SQL_TOP_LOCK, 1, p);
    if (!r)
        return bw_db_lost(db) ? BW_EUNAVAIL : BW_EDB;
    long long top = PQntuples(r) == 1 ? atoll(PQgetvalue(r, 0, 0)) : -1, was = top;
    PQclear(r);
    if (top < 0)
        return BW_EDB;
    for (;;) {
        if (*n > 0 && left[*n - 1].last == top) {
            top = left[--*n].first - 1;
            continue;
        }
        int rc = exec_ll(db, SQL_TAKE_FREE_TOP, series, top, &r);
        if (rc < 0)
            return rc;
        /* Blocks never overlap: at most one ends at the top. */
        int got = PQntuples(r);
        long long f = got == 1 ? atoll(PQgetvalue(r, 0, 0)) : 0;
        PQclear(r);
        if (got > 1)
            return BW_EDB;
        if (f == 0)
            break;
        top = f - 1;
    }
    if (top == was)
        return 0;
    int rc = exec_ll(db, SQL_SET_TOP, series, top, &r);
    if (rc == 0)
        PQclear(r);
    return rc;
}

/* The pieces as free reservations, each with the time its numbers were
 * first reserved (so the audit sees how long they have waited). */
static int free_pieces(bw_db_t *db, const char *series, const inv_numblock_t *left, size_t n)
{
    size_t cap = 2 + n * 48;
    char *f = malloc(cap), *l = malloc(cap), *a = malloc(cap);
    int rc = BW_ENOMEM;
    if (f && l && a) {
        size_t fl = 0, ll = 0, al = 0;
        for (size_t i = 0; i < n; i++) {
            const char *sep = i ? "," : "{";
            fl += (size_t)snprintf(f + fl, cap - fl, "%s%lld", sep, left[i].first);
            ll += (size_t)snprintf(l + ll, cap - ll, "%s%lld", sep, left[i].last);
            al += (size_t)snprintf(a + al, cap - al, "%s\"%s\"", sep, left[i].reserved_at);
        }
        snprintf(f + fl, cap - fl, "}");
        snprintf(l + ll, cap - ll, "}");
        snprintf(a + al, cap - al, "}");
        const char *p[4] = {series, f, l, a};
        rc = bw_db_exec(db, SQL_FREE, 4, p);
    }
    free(f);
    free(l);
    free(a);
    return rc;
}

int inv_numres_keep_rest(bw_db_t *db, const inv_numclaim_t *c, long long used)
{
    if (used >= claimed(c))
        return 0;
    size_t n;
    inv_numblock_t *left = leftovers(c, used, &n);
    if (!left)
        return BW_ENOMEM;
    int rc = give_back_top(db, c->series, left, &n);
    if (rc == 0 && n > 0)
        rc = free_pieces(db, c->series, left, n);
    free(left);
    return rc;
}

void inv_numclaim_free(inv_numclaim_t *c)
{
    free(c->blocks);
    c->blocks = NULL;
    c->n = c->cap = 0;
}
