/* Rating one account for one period: reads its subscription segments and
 * usage aggregates (for a whole batch of accounts in three statements),
 * picks the price version in force for each segment, calls rt_rate, and
 * turns the result into an AccountRated event with descriptions in the
 * account's language. Close, preview and explain all go through here, so
 * what a preview shows is what a close emits. */
#ifndef RT_RATER_H
#define RT_RATER_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "events.pb-c.h"
#include "money.h"
#include "rating/accounts_view.h"
#include "rating/catalog.h"

typedef struct bw_db bw_db_t;

typedef struct {
    int64_t id;
    char *plan;
    bw_dec_t quantity;
    char *coupon;
    int64_t start, end; /* days, [start, end); end INT32_MAX while open */
    int64_t origin;     /* first day of the customer's subscription */
} rt_segment_t;

typedef struct {
    char *fee_item;
    bw_dec_t quantity;
    int64_t records;
    bw_dec_t *tx;       /* percentage fee items: each record's amount */
    size_t ntx, txcap;
} rt_aggregate_t;

/* A price change in force for an account from from_day (pricechange_api.c
 * loads them with the batch): segments of plan in currency are rated with
 * pv from that day on, the catalog's version before it. */
typedef struct {
    const char *change_id;
    const char *plan, *currency;
    int64_t from_day;
    const rt_price_version_t *pv;
    int transition_periods;
    bw_dec_t transition_percent;
} rt_pc_applied_t;

typedef struct {
    rt_account_t acct;
    rt_segment_t *segs;
    size_t nsegs;
    rt_aggregate_t *aggs;
    size_t naggs;
    const char *error;  /* data that could not be read (bad quantity) */
    const rt_pc_applied_t *pcs; /* price changes in force for the account */
    size_t npcs;
} rt_acct_data_t;

typedef struct {
    const char *period; /* "2026-11" */
    int64_t start, end; /* days */
    int months;         /* of the accounts' cycle */
    const char *run_id;
    const rt_catalog_t *cat;
} rt_period_t;

/* Loads segments, aggregates and the price changes in force for
 * accounts[0..n) (acct filled; sorted by
 * id with strcmp on return). lo and hi are the first and last id of the
 * batch in the database's order (ORDER BY id): rows are read by that range.
 * 0 or BW_EDB. */
int rt_load_data(bw_db_t *db, rt_acct_data_t *accounts, size_t n, const char *lo,
                 const char *hi, const rt_period_t *p, bw_arena_t *a);
/* The same, and *usage_rows is the number of usage_aggregates rows of the
 * period in [lo, hi] it read (close.c compares it with a count taken under
 * the usage lock). */
int rt_load_data_counted(bw_db_t *db, rt_acct_data_t *accounts, size_t n, const char *lo,
                         const char *hi, const rt_period_t *p, bw_arena_t *a,
                         long long *usage_rows);
/* Rates one account into ar (arena memory; run_id, period, lines, total).
 * Returns 0, or BW_EINVAL with the reason in err (no price in the account's
 * currency, plan not in the catalog, an amount overflowing). */
int rt_rate_account(const rt_acct_data_t *d, const rt_period_t *p, Billow__AccountRated *ar,
                    bw_arena_t *a, char *err, size_t errlen);
/* "SAAS_PRO/CNY/2026-01-01": how lines name their price version. */
char *rt_price_version_name(const rt_price_version_t *pv, bw_arena_t *a);

#endif
