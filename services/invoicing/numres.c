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
    return bw_env_int("BILLOW_NUMBER_RESERVATION_GRACE_S", 60, 0, 86400, &st.grace_s) < 0
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

static int add_block(inv_numclaim_t *c, long long first, long long last)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4;
        inv_numblock_t *b = realloc(c->blocks, cap * sizeof *b);
        if (!b)
            return BW_ENOMEM;
        c->blocks = b;
        c->cap = cap;
    }
    c->blocks[c->n++] = (inv_numblock_t){first, last};
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
 * own (what a crashed predecessor left), and those whose holder has no live
 * lease and that are older than the grace period. Rows another transaction
 * has claimed are skipped, not waited for: that transaction uses them. */
static const char SQL_CLAIM_OUTSTANDING[] =
    "DELETE FROM number_reservations r USING (SELECT series, first FROM number_reservations x"
    "  WHERE series = $1 AND (holder = $2 OR (reserved_at < now() - make_interval(secs => $3::int)"
    "   AND NOT EXISTS (SELECT 1 FROM stream_leases l WHERE l.producer = 'rating'"
    "    AND 'rating:' || l.partitions = x.holder AND l.expires_at > now())))"
    "  FOR UPDATE SKIP LOCKED) c"
    " WHERE r.series = c.series AND r.first = c.first RETURNING r.first, r.last, r.holder";
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
    "  FOR UPDATE SKIP LOCKED) RETURNING last";
static const char SQL_KEEP[] =
    "INSERT INTO number_reservations (series, first, last, holder)"
    " SELECT $1, f, l, $2 FROM unnest($3::int8[], $4::int8[]) AS u(f, l)";

static int claim_outstanding(bw_db_t *db, const char *holder, inv_numclaim_t *c)
{
    char grace[24];
    snprintf(grace, sizeof grace, "%lld", st.grace_s);
    const char *p[3] = {c->series, holder, grace};
    PGresult *r = bw_db_query(db, SQL_CLAIM_OUTSTANDING, 3, p);
    if (!r)
        return bw_db_lost(db) ? BW_EUNAVAIL : BW_EDB;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        rc = add_block(c, atoll(PQgetvalue(r, i, 0)), atoll(PQgetvalue(r, i, 1)));
        if (strcmp(PQgetvalue(r, i, 2), holder) != 0)
            bw_log(BW_WARN, "claimed numbers another holder left", "series", BW_S(c->series),
                   "first", BW_S(PQgetvalue(r, i, 0)), "last", BW_S(PQgetvalue(r, i, 1)),
                   "holder", BW_S(PQgetvalue(r, i, 2)), NULL);
    }
    PQclear(r);
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
    *first = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
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
    if (PQntuples(r) == 1)
        rc = add_block(c, first, atoll(PQgetvalue(r, 0, 0))) < 0 ? BW_ENOMEM : 1;
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
    return 0; /* cannot happen: callers take at most what they claimed */
}

/* The int8[] literal of what is kept of each block: the firsts (lasts
 * false) or the lasts, from the used-th number on (caller frees). */
static char *kept_literal(const inv_numclaim_t *c, long long used, bool lasts)
{
    size_t cap = 2 + c->n * 22;
    char *s = malloc(cap), *p = s;
    if (!s)
        return NULL;
    *p++ = '{';
    for (size_t i = 0; i < c->n; i++) {
        long long len = c->blocks[i].last - c->blocks[i].first + 1;
        if (used >= len) {
            used -= len;
            continue;
        }
        p += snprintf(p, cap - (size_t)(p - s), "%s%lld", p > s + 1 ? "," : "",
                      lasts ? c->blocks[i].last : c->blocks[i].first + used);
        used = 0;
    }
    snprintf(p, cap - (size_t)(p - s), "}");
    return s;
}

int inv_numres_keep_rest(bw_db_t *db, const char *holder, const inv_numclaim_t *c,
                         long long used)
{
    if (used >= claimed(c))
        return 0;
    char *f = kept_literal(c, used, false), *l = kept_literal(c, used, true);
    int rc = BW_ENOMEM;
    if (f && l) {
        const char *p[4] = {c->series, holder, f, l};
        rc = bw_db_exec(db, SQL_KEEP, 4, p);
    }
    free(f);
    free(l);
    return rc;
}

void inv_numclaim_free(inv_numclaim_t *c)
{
    free(c->blocks);
    c->blocks = NULL;
    c->n = c->cap = 0;
}
