/* Dunning runs and the dunning timer; see dunning.h. A run reads the open
 * invoices that have a step due with one query, decides in memory, and
 * writes steps and trail rows with COPY and the events with one outbox
 * append, so a run over many invoices is a few round trips. */
#include "invoicing/dunning.h"
#include "invoicing/payments.h"
#include "invoicing/trail.h"

#include "clock.h"
#include "config.h"
#include "copybuf.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "outbox.h"
#include "rpc.h"
#include "service.h"

#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
    inv_dunning_schedule_t sched;
    long long interval_s;
    bw_service_t *svc;
    ev_timer timer;
    bool started;
} dn;

int inv_dunning_parse(const char *spec, inv_dunning_schedule_t *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    const char *p = spec;
    while (*p) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',')) {
            snprintf(err, errlen, "not a comma-separated list of day offsets");
            return BW_EINVAL;
        }
        if (v < -365 || v > 365) {
            snprintf(err, errlen, "step %ld out of range (-365..365)", v);
            return BW_EINVAL;
        }
        if (s->n == INV_DUNNING_MAX_STEPS) {
            snprintf(err, errlen, "too many steps (max %d)", INV_DUNNING_MAX_STEPS);
            return BW_EINVAL;
        }
        size_t i = s->n;
        while (i > 0 && s->steps[i - 1] > v) {
            s->steps[i] = s->steps[i - 1];
            i--;
        }
        if (i > 0 && s->steps[i - 1] == v) {
            snprintf(err, errlen, "step %ld given twice", v);
            return BW_EINVAL;
        }
        s->steps[i] = (int)v;
        s->n++;
        p = *end ? end + 1 : end;
    }
    if (s->n == 0) {
        snprintf(err, errlen, "no steps");
        return BW_EINVAL;
    }
    return 0;
}

int inv_dunning_next(const inv_dunning_schedule_t *s, int64_t due_day, int64_t as_of_day,
                     uint32_t taken_mask)
{
    int best = -1;
    for (size_t i = 0; i < s->n; i++)
        if (due_day + s->steps[i] <= as_of_day)
            best = (int)i;
    if (best < 0)
        return -1;
    /* Never go back: a later step taken means earlier ones are moot. */
    if (taken_mask >> best)
        return -1;
    return best;
}

int inv_dunning_level(const inv_dunning_schedule_t *s, size_t i)
{
    if (i >= s->n || s->steps[i] <= 0)
        return 0;
    int level = 1;
    for (size_t j = 0; j < i; j++)
        if (s->steps[j] > 0)
            level++;
    return level;
}

static const char SQL_CANDIDATES[] =
    "SELECT i.number, i.account_id, i.due_date - DATE '1970-01-01',"
    " i.total_minor - i.paid_minor - i.credited_minor, i.currency, a.language, i.due_date::text,"
    " coalesce((SELECT string_agg(step_days::text, ',') FROM dunning_steps d"
    "           WHERE d.invoice_number = i.number), '')"
    " FROM invoices i JOIN accounts a ON a.id = i.account_id"
    " WHERE i.status IN ('issued', 'partially_paid', 'overdue')"
    " AND i.total_minor - i.paid_minor - i.credited_minor > 0"
    " AND i.due_date <= $1::date - $2::int" /* along invoices_open_due */
    " AND NOT EXISTS (SELECT 1 FROM dunning_steps d WHERE d.invoice_number = i.number"
    "                 AND d.step_days = $3::int)"
    " ORDER BY i.number";

static const char SQL_OVERDUE[] =
    "WITH c AS (UPDATE invoices SET status = 'overdue'"
    " WHERE status IN ('issued', 'partially_paid') AND due_date < $1::date"
    " AND total_minor - paid_minor - credited_minor > 0 RETURNING number, account_id)"
    " INSERT INTO trail (actor, cause, entity, entity_id, action, detail)"
    " SELECT $2, $3, 'invoice', number, 'status', 'overdue as of ' || $1 FROM c";

static const char SQL_LEVELS[] =
    "WITH l AS (SELECT i.account_id, max(d.level) AS lv FROM dunning_steps d"
    " JOIN invoices i ON i.number = d.invoice_number"
    " WHERE i.status IN ('issued', 'partially_paid', 'overdue') AND d.outcome = 'sent'"
    " GROUP BY i.account_id),"
    " z AS (UPDATE account_dunning SET level = 0, updated_at = now()"
    " WHERE level <> 0 AND account_id NOT IN (SELECT account_id FROM l))"
    " INSERT INTO account_dunning (account_id, level) SELECT account_id, lv FROM l"
    " ON CONFLICT (account_id) DO UPDATE SET level = EXCLUDED.level, updated_at = now()"
    " WHERE account_dunning.level <> EXCLUDED.level";

int inv_dunning_run_as_of(bw_db_t *db, int64_t as_of_day, const char *actor, const char *cause,
                          long long *sent, long long *skipped)
{
    const inv_dunning_schedule_t *s = &dn.sched;
    *sent = *skipped = 0;
    char asof[16], first[16], last[16];
    bw_date_format(as_of_day, asof, sizeof asof);
    snprintf(first, sizeof first, "%d", s->steps[0]);
    snprintf(last, sizeof last, "%d", s->steps[s->n - 1]);
    const char *p[3] = {asof, first, last};
    PGresult *r = bw_db_query(db, SQL_CANDIDATES, 3, p);
    if (!r)
        return BW_EDB;
    int n = PQntuples(r);
    bw_copybuf_t steps, trail;
    bw_copybuf_init(&steps);
    bw_copybuf_init(&trail);
    bw_outbox_event_t *evs = calloc((size_t)n + 1, sizeof *evs);
    uint8_t **bufs = calloc((size_t)n + 1, sizeof *bufs);
    size_t nev = 0;
    int rc = 0;
    if (!evs || !bufs) {
        rc = BW_ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        const char *num = PQgetvalue(r, i, 0), *acct = PQgetvalue(r, i, 1);
        int64_t due = atoll(PQgetvalue(r, i, 2)), open = atoll(PQgetvalue(r, i, 3));
        uint32_t mask = 0;
        for (const char *t = PQgetvalue(r, i, 7); *t;) {
            int v = atoi(t);
            for (size_t k = 0; k < s->n; k++)
                if (s->steps[k] == v)
                    mask |= 1u << k;
            t = strchr(t, ',');
            t = t ? t + 1 : "";
        }
        int step = inv_dunning_next(s, due, as_of_day, mask);
        if (step < 0)
            continue;
        for (int k = 0; k <= step; k++) {
            if (mask & (1u << k))
                continue;
            bool send = k == step;
            int level = inv_dunning_level(s, (size_t)k);
            bw_copybuf_str(&steps, num);
            bw_copybuf_int(&steps, s->steps[k]);
            bw_copybuf_int(&steps, level);
            bw_copybuf_str(&steps, send ? "sent" : "skipped");
            bw_copybuf_str(&steps, asof);
            bw_copybuf_str(&steps, cause);
            bw_copybuf_end(&steps);
            char detail[96];
            snprintf(detail, sizeof detail, "step %+d level %d as of %s", s->steps[k], level, asof);
            bw_copybuf_str(&trail, actor);
            bw_copybuf_str(&trail, cause);
            bw_copybuf_str(&trail, "invoice");
            bw_copybuf_str(&trail, num);
            bw_copybuf_str(&trail, send ? "dunning" : "dunning skipped");
            bw_copybuf_str(&trail, detail);
            bw_copybuf_end(&trail);
            if (!send) {
                (*skipped)++;
                continue;
            }
            Billow__Event ev = BILLOW__EVENT__INIT;
            Billow__PaymentReminderDue rd = BILLOW__PAYMENT_REMINDER_DUE__INIT;
            Billow__InvoiceOverdue od = BILLOW__INVOICE_OVERDUE__INIT;
            if (s->steps[k] <= 0) {
                rd.invoice_number = (char *)num;
                rd.account_id = (char *)acct;
                rd.due_date = PQgetvalue(r, i, 6);
                rd.amount_due_minor = open;
                rd.currency = PQgetvalue(r, i, 4);
                rd.step_days = s->steps[k];
                rd.level = level;
                rd.language = PQgetvalue(r, i, 5);
                ev.body_case = BILLOW__EVENT__BODY_PAYMENT_REMINDER_DUE;
                ev.payment_reminder_due = &rd;
            } else {
                od.invoice_number = (char *)num;
                od.account_id = (char *)acct;
                od.due_date = PQgetvalue(r, i, 6);
                od.amount_due_minor = open;
                od.currency = PQgetvalue(r, i, 4);
                od.days_overdue = (int32_t)(as_of_day - due);
                od.level = level;
                od.language = PQgetvalue(r, i, 5);
                ev.body_case = BILLOW__EVENT__BODY_INVOICE_OVERDUE;
                ev.invoice_overdue = &od;
            }
            size_t len = billow__event__get_packed_size(&ev);
            if (!(bufs[nev] = malloc(len ? len : 1))) {
                rc = BW_ENOMEM;
                goto out;
            }
            billow__event__pack(&ev, bufs[nev]);
            evs[nev] = (bw_outbox_event_t){.type = bw_event_type_name(&ev),
                                           .partition_key = acct,
                                           .payload = bufs[nev],
                                           .len = len,
                                           .caused_by = cause};
            nev++;
        }
    }
    const char *o[3] = {asof, actor, cause};
    if ((rc = bw_copybuf_send(&steps, db,
                        "COPY dunning_steps (invoice_number, step_days, level, outcome, as_of,"
                        " caused_by) FROM STDIN")) < 0 ||
        (rc = bw_copybuf_send(&trail, db,
                        "COPY trail (actor, cause, entity, entity_id, action, detail) FROM STDIN")) < 0 ||
        (rc = bw_db_exec(db, SQL_OVERDUE, 3, o)) < 0 || (rc = bw_db_exec(db, SQL_LEVELS, 0, NULL)) < 0)
        goto out;
    if (nev > 0)
        rc = bw_outbox_append(db, evs, nev);
    *sent = (long long)nev;
out:
    for (size_t i = 0; bufs && i < nev; i++)
        free(bufs[i]);
    free(bufs);
    free(evs);
    bw_copybuf_free(&steps);
    bw_copybuf_free(&trail);
    PQclear(r);
    return rc;
}

bool inv_dunning_run(bw_db_t *db, const Billow__DunningRun *req, const char *actor,
                     const char *cause, Billow__Reply *reply, bw_arena_t *a)
{
    int64_t day = bw_now_us() / 86400000000LL;
    if (req->as_of && *req->as_of && bw_date_parse(req->as_of, &day) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "as-of: not a date (YYYY-MM-DD)",
                       bw_arena_strdup(a, req->as_of));
        return false;
    }
    if (inv_pay_begin(db, reply) < 0)
        return false;
    long long sent, skipped;
    int rc = inv_dunning_run_as_of(db, day, actor, cause, &sent, &skipped);
    if (rc < 0) {
        inv_pay_db_error(reply, db, "could not run dunning", a);
        return inv_pay_end(db, reply, false);
    }
    char d[16];
    bw_date_format(day, d, sizeof d);
    Billow__PaymentsReply *pr = inv_pay_reply(reply, a);
    pr->count = sent;
    pr->summary = bw_arena_printf(a, "dunning as of %s: %lld reminders/overdue notices, %lld"
                                     " missed steps skipped", d, sent, skipped);
    return inv_pay_end(db, reply, sent + skipped > 0);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    bw_db_t *db = bw_service_db(dn.svc);
    if (bw_db_begin(db) < 0)
        return;
    long long sent, skipped;
    char cause[64];
    char now[40];
    bw_time_format(bw_now_us(), now, sizeof now);
    snprintf(cause, sizeof cause, "timer:dunning:%s", now);
    int rc = inv_dunning_run_as_of(db, bw_now_us() / 86400000000LL, "invoicing", cause, &sent,
                                   &skipped);
    if (rc < 0 || bw_db_commit(db) < 0) {
        bw_db_rollback(db);
        bw_log(BW_WARN, "dunning run failed", "pg_error", BW_S(bw_db_error(db)), NULL);
        return;
    }
    if (sent)
        bw_log(BW_INFO, "dunning run", "sent", BW_I(sent), "skipped", BW_I(skipped), NULL);
}

int inv_dunning_init(bw_service_t *svc)
{
    char err[128];
    const char *spec = bw_env_str("BILLOW_DUNNING_SCHEDULE", "-3,1,7,15,30");
    if (inv_dunning_parse(spec, &dn.sched, err, sizeof err) < 0) {
        bw_log(BW_ERROR, "bad setting", "name", BW_S("BILLOW_DUNNING_SCHEDULE"), "error",
               BW_S(err), NULL);
        return BW_EINVAL;
    }
    if (bw_env_int("BILLOW_DUNNING_INTERVAL_S", 3600, 0, 86400 * 7, &dn.interval_s) < 0)
        return BW_EINVAL;
    dn.svc = svc;
    if (!svc || bw_service_is_worker(svc) || dn.interval_s == 0)
        return 0;
    ev_timer_init(&dn.timer, timer_cb, 5.0, (double)dn.interval_s);
    ev_timer_start(bw_service_loop(svc), &dn.timer);
    dn.started = true;
    return 0;
}

void inv_dunning_fini(void)
{
    if (dn.started)
        ev_timer_stop(bw_service_loop(dn.svc), &dn.timer);
    dn.started = false;
}
