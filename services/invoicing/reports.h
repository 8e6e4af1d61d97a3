/* Management reports (DESIGN.md §1 [report]): ageing of open invoices,
 * billed vs collected per period, the collection rate, and revenue by fee
 * item, tier or currency; rendered as a table, CSV, JSON or a
 * self-contained HTML page whose charts are inline SVG. Plans are not
 * stored in invoicing (rating owns them), so --by plan is refused with a
 * pointer to fee items and tiers. */
#ifndef INV_REPORTS_H
#define INV_REPORTS_H

#include <stdint.h>

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;

#define INV_AGING_BUCKETS 5
/* Bucket of an amount by days past due: 0 current (not yet due), 1: 1-30,
 * 2: 31-60, 3: 61-90, 4: over 90. */
int inv_aging_bucket(int64_t days_past_due);
const char *inv_aging_bucket_name(int b);
/* Collection rate in basis points (collected * 10000 / billed, rounded half
 * even); 0 when nothing was billed. */
int64_t inv_rate_bp(int64_t collected, int64_t billed);

void inv_report_get(bw_db_t *db, const Billow__ReportGet *req, Billow__Reply *reply,
                    bw_arena_t *a);

#endif
