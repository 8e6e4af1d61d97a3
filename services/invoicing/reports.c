/* Reports; see reports.h. */
#include "invoicing/reports.h"

#include "rpc.h"

int inv_aging_bucket(int64_t d)
{
    return d <= 0 ? 0 : d <= 30 ? 1 : d <= 60 ? 2 : d <= 90 ? 3 : 4;
}

const char *inv_aging_bucket_name(int b)
{
    static const char *const names[] = {"current", "1-30", "31-60", "61-90", "90+"};
    return b >= 0 && b < INV_AGING_BUCKETS ? names[b] : "?";
}

int64_t inv_rate_bp(int64_t collected, int64_t billed)
{
    if (billed <= 0)
        return 0;
    __int128 num = (__int128)collected * 10000;
    int64_t q = (int64_t)(num / billed), rem = (int64_t)(num % billed);
    if (2 * rem > billed || (2 * rem == billed && (q & 1)))
        q++;
    return q;
}

void inv_report_get(bw_db_t *db, const Billow__ReportGet *req, Billow__Reply *reply,
                    bw_arena_t *a)
{
    (void)db, (void)req, (void)a;
    bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "not yet", NULL);
}
