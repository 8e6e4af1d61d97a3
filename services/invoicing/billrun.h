/* Bill runs: `billrun start --period 2026-11 --cycle monthly` records the
 * run and emits BillRunStarted in one transaction; rating answers with one
 * AccountRated per due account, which invoices.c turns into invoices (the
 * accounts not invoiced into bill_run_results). Each batch counts its
 * outcomes on the run's row, under the number series' lock it already
 * holds, and that row is what status reads. Starting the same period and
 * cycle again returns the existing run and bills nobody twice. */
#ifndef INV_BILLRUN_H
#define INV_BILLRUN_H

#include <stdbool.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;

/* The half-open period [start, end) in days for "YYYY-MM" and a cycle:
 * monthly any month, quarterly a month starting a quarter (01, 04, 07, 10),
 * annual January. BW_EINVAL with the reason in err. */
int inv_period_parse(const char *period, const char *cycle, int64_t *start, int64_t *end,
                     char *err, size_t errlen);

bool inv_billrun_start(bw_db_t *db, const Billow__BillRunStart *req, const char *cause,
                       Billow__Reply *reply, bw_arena_t *arena);
void inv_billrun_get(bw_db_t *db, const Billow__BillRunGet *req, Billow__Reply *reply,
                     bw_arena_t *arena);
void inv_billrun_list(bw_db_t *db, const Billow__BillRunList *req, Billow__Reply *reply,
                      bw_arena_t *arena);

#endif
