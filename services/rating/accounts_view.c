/* The accounts view: AccountChanged upserts, newest version wins. */
#include "rating/accounts_view.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_UPSERT[] =
    "INSERT INTO accounts AS a (id, currency, cycle, anchor_day, tier, language, status,"
    " created_on, version, caused_by)"
    " VALUES ($1, $2, $3, $4::int, $5, $6, $7, $8::date, $9::bigint, $10)"
    " ON CONFLICT (id) DO UPDATE SET currency = EXCLUDED.currency, cycle = EXCLUDED.cycle,"
    " anchor_day = EXCLUDED.anchor_day, tier = EXCLUDED.tier, language = EXCLUDED.language,"
    " status = EXCLUDED.status, version = EXCLUDED.version, caused_by = EXCLUDED.caused_by,"
    " updated_at = now() WHERE a.version < EXCLUDED.version";
static const char SQL_GET[] =
    "SELECT id, currency, cycle, anchor_day, tier, language, status, created_on - '1970-01-01'::date"
    " FROM accounts WHERE id = $1";

static const char *or_default(const char *s, const char *def) { return s && *s ? s : def; }

int rt_accounts_apply(bw_db_t *db, const Billow__StreamEvent *se, const Billow__AccountChanged *ac)
{
    if (!ac->account_id || !*ac->account_id || !ac->currency || !*ac->currency) {
        bw_log(BW_WARN, "skipping account without id or currency", "event_id",
               BW_S(se->event_id), NULL);
        return 0;
    }
    char created[16], anchor[16], version[24];
    int64_t us;
    if (!ac->changed_at || bw_time_parse(ac->changed_at, &us) < 0)
        us = bw_now_us();
    bw_date_format(us / 86400000000LL, created, sizeof created);
    snprintf(anchor, sizeof anchor, "%d", ac->anchor_day ? ac->anchor_day : 1);
    snprintf(version, sizeof version, "%lld", (long long)(ac->version ? ac->version : 1));
    const char *p[10] = {ac->account_id,
                         ac->currency,
                         or_default(ac->cycle, "monthly"),
                         anchor,
                         or_default(ac->tier, ""),
                         or_default(ac->language, "en"),
                         or_default(ac->status, "active"),
                         created,
                         version,
                         se->event_id};
    return bw_db_exec(db, SQL_UPSERT, 10, p);
}

int rt_account_get(bw_db_t *db, const char *id, rt_account_t *out, bw_arena_t *a)
{
    const char *p[1] = {id ? id : ""};
    PGresult *res = bw_db_query(db, SQL_GET, 1, p);
    if (!res)
        return BW_EDB;
    int rc = BW_ENOTFOUND;
    if (PQntuples(res) == 1) {
        out->id = bw_arena_strdup(a, PQgetvalue(res, 0, 0));
        out->currency = bw_arena_strdup(a, PQgetvalue(res, 0, 1));
        out->cycle = bw_arena_strdup(a, PQgetvalue(res, 0, 2));
        out->anchor_day = atoi(PQgetvalue(res, 0, 3));
        out->tier = bw_arena_strdup(a, PQgetvalue(res, 0, 4));
        out->language = bw_arena_strdup(a, PQgetvalue(res, 0, 5));
        out->status = bw_arena_strdup(a, PQgetvalue(res, 0, 6));
        out->created_on = atoll(PQgetvalue(res, 0, 7));
        rc = 0;
    }
    PQclear(res);
    return rc;
}
