/* The accounts view: AccountChanged upserts, newest version wins. */
#include "rating/accounts_view.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One statement per batch of AccountChanged events (a bulk import sends
 * them by the hundred thousand): the batch travels as one JSON array, the
 * newest version of each account in it wins (of equal versions the first,
 * as when they are applied one by one), and created_on keeps the day rating
 * first heard of the account. */
static const char SQL_UPSERT[] =
    "INSERT INTO accounts AS a (id, currency, cycle, anchor_day, tier, language, status,"
    " created_on, version, caused_by)"
    " SELECT DISTINCT ON (id) id, currency, cycle, anchor_day, tier, language, status,"
    " min(created_on) OVER (PARTITION BY id), version, caused_by"
    " FROM jsonb_to_recordset($1::jsonb) AS x(id text, currency text, cycle text,"
    " anchor_day int, tier text, language text, status text, created_on date, version bigint,"
    " caused_by text, ord int)"
    " ORDER BY id, version DESC, ord"
    " ON CONFLICT (id) DO UPDATE SET currency = EXCLUDED.currency, cycle = EXCLUDED.cycle,"
    " anchor_day = EXCLUDED.anchor_day, tier = EXCLUDED.tier, language = EXCLUDED.language,"
    " status = EXCLUDED.status, version = EXCLUDED.version, caused_by = EXCLUDED.caused_by,"
    " updated_at = now() WHERE a.version < EXCLUDED.version";
static const char SQL_GET[] =
    "SELECT id, currency, cycle, anchor_day, tier, language, status, created_on - '1970-01-01'::date"
    " FROM accounts WHERE id = $1";

static const char *or_default(const char *s, const char *def) { return s && *s ? s : def; }

#define put_str bw_jsonrows_put_str

int rt_accounts_add(rt_accounts_batch_t *b, const Billow__StreamEvent *se,
                    const Billow__AccountChanged *ac)
{
    if (!ac->account_id || !*ac->account_id || !ac->currency || !*ac->currency) {
        bw_log(BW_WARN, "skipping account without id or currency", "event_id",
               BW_S(se->event_id), NULL);
        return 0;
    }
    char created[16];
    int64_t us;
    if (!ac->changed_at || bw_time_parse(ac->changed_at, &us) < 0)
        us = bw_now_us();
    bw_date_format(us / 86400000000LL, created, sizeof created);
    json_object *o = bw_jsonrows_new_row();
    if (!o)
        return BW_ENOMEM;
    put_str(o, "id", ac->account_id);
    put_str(o, "currency", ac->currency);
    put_str(o, "cycle", or_default(ac->cycle, "monthly"));
    json_object_object_add(o, "anchor_day", json_object_new_int(ac->anchor_day ? ac->anchor_day : 1));
    put_str(o, "tier", or_default(ac->tier, ""));
    put_str(o, "language", or_default(ac->language, "en"));
    put_str(o, "status", or_default(ac->status, "active"));
    put_str(o, "created_on", created);
    json_object_object_add(o, "version", json_object_new_int64(ac->version ? ac->version : 1));
    put_str(o, "caused_by", se->event_id);
    return bw_jsonrows_add(b, o);
}

int rt_accounts_flush(bw_db_t *db, rt_accounts_batch_t *b) { return bw_jsonrows_exec(db, b, SQL_UPSERT); }

void rt_accounts_batch_clear(rt_accounts_batch_t *b) { bw_jsonrows_clear(b); }

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
