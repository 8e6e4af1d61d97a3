/* Automatic bill runs at cycle boundaries. */
#include "invoicing/autorun.h"
#include "invoicing/billrun.h"

#include "arena.h"
#include "clock.h"
#include "config.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct inv_autorun {
    struct ev_loop *loop;
    bw_db_t *db;
    ev_timer timer;
    bw_arena_t *arena;
};

void inv_autorun_last_period(const char *cycle, int64_t today, char *buf, size_t len)
{
    int y, m, d;
    bw_civil_from_days(today, &y, &m, &d);
    int months = !strcmp(cycle, "quarterly") ? 3 : !strcmp(cycle, "annual") ? 12 : 1;
    /* First month of the period containing today, then one period back. */
    int idx = y * 12 + (m - 1);
    idx -= (m - 1) % months;
    if (months == 12)
        idx = y * 12;
    idx -= months;
    snprintf(buf, len, "%04d-%02d", idx / 12, idx % 12 + 1);
}

static void check_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    inv_autorun_t *a = (inv_autorun_t *)((char *)t - offsetof(inv_autorun_t, timer));
    static const char *const cycles[] = {"monthly", "quarterly", "annual"};
    int64_t today = bw_now_us() / 86400000000LL;
    for (int i = 0; i < 3; i++) {
        char period[16];
        inv_autorun_last_period(cycles[i], today, period, sizeof period);
        const char *p[2] = {period, cycles[i]};
        /* Due: active accounts of the cycle that existed before the period
         * ended, and no run yet. */
        PGresult *res = bw_db_query(
            a->db,
            "SELECT NOT EXISTS (SELECT 1 FROM bill_runs WHERE period = $1 AND cycle = $2)"
            " AND EXISTS (SELECT 1 FROM accounts WHERE status = 'active' AND cycle = $2"
            " AND created_at < (to_date($1, 'YYYY-MM') + CASE $2 WHEN 'monthly' THEN 1"
            " WHEN 'quarterly' THEN 3 ELSE 12 END * interval '1 month'))",
            2, p);
        if (!res)
            return; /* the database is down: try at the next tick */
        bool due = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        if (!due)
            continue;
        Billow__BillRunStart st = BILLOW__BILL_RUN_START__INIT;
        Billow__Reply reply = BILLOW__REPLY__INIT;
        st.period = period;
        st.cycle = (char *)cycles[i];
        inv_billrun_start(a->db, &st, "auto-billrun", &reply, a->arena);
        if (reply.code == BILLOW__CODE__OK)
            bw_log(BW_INFO, "automatic bill run", "period", BW_S(period), "cycle",
                   BW_S(cycles[i]), NULL);
        else
            bw_log(BW_WARN, "automatic bill run failed", "period", BW_S(period), "cycle",
                   BW_S(cycles[i]), "error", BW_S(reply.error), "detail", BW_S(reply.detail),
                   NULL);
        bw_arena_reset(a->arena);
    }
}

inv_autorun_t *inv_autorun_new(struct ev_loop *loop, bw_db_t *db)
{
    long long on, every;
    if (bw_env_int("BILLOW_AUTO_BILLRUN", 0, 0, 1, &on) < 0 || !on)
        return NULL;
    if (bw_env_int("BILLOW_AUTO_BILLRUN_CHECK_S", 60, 1, 86400, &every) < 0)
        return NULL;
    inv_autorun_t *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->loop = loop;
    a->db = db;
    a->arena = bw_arena_new();
    if (!a->arena) {
        free(a);
        return NULL;
    }
    ev_timer_init(&a->timer, check_cb, 1.0, (double)every);
    ev_timer_start(loop, &a->timer);
    bw_log(BW_INFO, "automatic bill runs on", "check_s", BW_I(every), NULL);
    return a;
}

void inv_autorun_destroy(inv_autorun_t **pa)
{
    if (!pa || !*pa)
        return;
    ev_timer_stop((*pa)->loop, &(*pa)->timer);
    bw_arena_destroy(&(*pa)->arena);
    free(*pa);
    *pa = NULL;
}
