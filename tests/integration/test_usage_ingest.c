/* Usage ingest's storage paths against a real PostgreSQL, calling the
 * service code directly: a batch of good and bad records (the bad ones come
 * back with their index and line, the good ones are stored by the binary
 * COPY path); the same batch again (the COPY meets a stored event id and
 * the batch goes through the staging path: all duplicates, nothing added);
 * a batch half old and half new, and one naming an event id twice; the
 * aggregates always equal the records; quantities and times survive the
 * binary encoding exactly; the accounts kept in memory follow the view:
 * an account created after a batch rejected it, a subscription added,
 * changed or deleted behind the service's back are all seen by the next
 * batch, also after the preloader read the whole view; every record is
 * listed by its aggregate row, through which a percentage fee item is priced
 * per record and explain shows the first records; big requests spread over
 * two connections count new, duplicate and bad records alike, also when
 * the second connection was cut, and honestly when one of the two commits
 * failed after the other; a closed period rejects, also in a request of
 * many periods;
 * a close skips the account closed already and emits once. */
#include "arena.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "migrate.h"
#include "rpc.h"

#include "rating/catalog_store.h"
#include "rating/close.h"
#include "rating/inspect.h"
#include "rating/usage.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const bw_migration_t bw_migrations_rating[];


typedef struct {
    const char *event_id, *account, *fee_item, *quantity, *timestamp, *currency;
} rec_t;

static bw_db_t *db;

/* Sends recs as one IngestUsage; the reply's usage part (NULL on error). */
static Billow__IngestUsageReply *ingest(const rec_t *recs, size_t n, bw_arena_t *a)
{
    Billow__IngestUsage iu = BILLOW__INGEST_USAGE__INIT;
    iu.n_records = n;
    iu.records = bw_arena_alloc(a, sizeof *iu.records * (n + 1));
    for (size_t i = 0; i < n; i++) {
        Billow__UsageRecord *u = bw_arena_alloc(a, sizeof *u);
        billow__usage_record__init(u);
        u->event_id = (char *)recs[i].event_id;
        u->account_id = (char *)recs[i].account;
        u->fee_item = (char *)recs[i].fee_item;
        u->quantity = (char *)recs[i].quantity;
        u->timestamp = (char *)(recs[i].timestamp ? recs[i].timestamp : "");
        u->currency = (char *)(recs[i].currency ? recs[i].currency : "");
        u->line = (int32_t)i + 2;
        iu.records[i] = u;
    }
    Billow__Reply *reply = bw_arena_alloc(a, sizeof *reply);
    billow__reply__init(reply);
    rt_usage_ingest(db, &iu, "test", reply, a);
    if (reply->code != BILLOW__CODE__OK || !reply->rating || !reply->rating->usage) {
        printf("ingest failed: %s: %s\n", reply->error ? reply->error : "",
               reply->detail ? reply->detail : "");
        return NULL;
    }
    return reply->rating->usage;
}

static bool counts(const Billow__IngestUsageReply *r, int accepted, int dups, int rejected)
{
    if (!r)
        return false;
    if (r->accepted == accepted && r->duplicates == dups && (int)r->n_rejected == rejected)
        return true;
    printf("     got accepted %d duplicates %d rejected %zu\n", r->accepted, r->duplicates,
           r->n_rejected);
    return false;
}

/* The first column of the first row of sql, as text ("" when none). */
static char *one(const char *sql, bw_arena_t *a)
{
    PGresult *res = bw_db_query(db, sql, 0, NULL);
    char *v = bw_arena_strdup(a, res && PQntuples(res) ? PQgetvalue(res, 0, 0) : "");
    if (!res)
        printf("query failed: %s\n", bw_db_error(db));
    PQclear(res);
    return v;
}

static bool has_rejection(const Billow__IngestUsageReply *r, int index, const char *text)
{
    for (size_t i = 0; r && i < r->n_rejected; i++)
        if (r->rejected[i]->index == index && r->rejected[i]->line == index + 2 &&
            strstr(r->rejected[i]->error, text))
            return true;
    return false;
}

/* Aggregates equal the records, key by key. */
static const char SQL_AGG_CHECK[] =
    "SELECT count(*) FROM (SELECT period, account_id, fee_item, sum(quantity) "
    "q, count(*) n"
    " FROM usage_records GROUP BY 1, 2, 3) r FULL JOIN (SELECT period, "
    "account_id, fee_item,"
    " sum(quantity) q, sum(records) n FROM usage_aggregates GROUP BY 1, 2, 3) g"
    " USING (period, account_id, fee_item) WHERE r.q IS DISTINCT FROM g.q"
    " OR r.n IS DISTINCT FROM g.n";

/* Every record is listed by exactly one aggregate row of its own key, and
 * each row lists its records by (at, event_id). */
static const char SQL_IDS_CHECK[] =
    "SELECT (SELECT count(*) FROM usage_records r FULL JOIN (SELECT e.id, g.period, g.account_id,"
    " g.fee_item FROM usage_aggregates g, unnest(g.event_ids) e(id)) l ON l.id = r.event_id"
    " WHERE r.event_id IS NULL OR l.id IS NULL OR (r.period, r.account_id, r.fee_item)"
    " IS DISTINCT FROM (l.period, l.account_id, l.fee_item))"
    " + (SELECT count(*) FROM usage_aggregates g WHERE cardinality(g.event_ids) <> g.records"
    " OR g.event_ids <> (SELECT array_agg(r.event_id ORDER BY r.at, r.event_id)"
    " FROM unnest(g.event_ids) e(id) JOIN usage_records r ON r.event_id = e.id))";

/* U1's PAYMENT_PROCESSING line in November's preview, in minor units (-1
 * when missing). */
static long long payment_fee(bw_arena_t *a)
{
    Billow__RatePreview pv = BILLOW__RATE_PREVIEW__INIT;
    pv.account_id = "U1";
    pv.period = "2026-11";
    Billow__Reply *reply = bw_arena_alloc(a, sizeof *reply);
    billow__reply__init(reply);
    rt_rate_preview(db, &pv, reply, a);
    if (reply->code != BILLOW__CODE__OK || !reply->rating || !reply->rating->preview) {
        printf("preview failed: %s: %s\n", reply->error, reply->detail);
        return -1;
    }
    const Billow__AccountRated *ar = reply->rating->preview->rated;
    for (size_t i = 0; ar && i < ar->n_lines; i++)
        if (strcmp(ar->lines[i]->fee_item, "PAYMENT_PROCESSING") == 0)
            return ar->lines[i]->amount_minor;
    return -1;
}

/* "N: ID ID ...": the record count and event ids explain shows for U1's
 * PAYMENT_PROCESSING in November. */
static const char *explained(bw_arena_t *a)
{
    Billow__RateExplain ex = BILLOW__RATE_EXPLAIN__INIT;
    ex.account_id = "U1";
    ex.period = "2026-11";
    ex.fee_item = "PAYMENT_PROCESSING";
    Billow__Reply *reply = bw_arena_alloc(a, sizeof *reply);
    billow__reply__init(reply);
    rt_rate_explain(db, &ex, reply, a);
    if (reply->code != BILLOW__CODE__OK || !reply->rating || !reply->rating->explain ||
        reply->rating->explain->n_items != 1)
        return "explain failed";
    const Billow__ExplainItem *it = reply->rating->explain->items[0];
    char *s = bw_arena_printf(a, "%lld:", (long long)it->usage_records);
    for (size_t i = 0; i < it->n_records; i++)
        s = bw_arena_printf(a, "%s %s", s, it->records[i]->event_id);
    return s;
}

/* A deferred trigger refuses the commit of the connections fail_commit
 * names: the request's own (others false), whose part commits last, or
 * every other one (others true), the extra that commits first. */
static const char *const SQL_FAIL_SETUP[] = {
    "CREATE TABLE fail_commit (pid int NOT NULL, others bool NOT NULL)",
    "CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    " IF EXISTS (SELECT 1 FROM fail_commit WHERE (pid = pg_backend_pid()) <> others) THEN"
    " RAISE EXCEPTION 'commit refused by the test'; END IF; RETURN NULL; END $$",
    "CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON usage_records"
    " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit()"};
static const char *const SQL_FAIL_DROP[] = {"DROP TRIGGER fail_commit ON usage_records",
                                            "DROP FUNCTION fail_commit()", "DROP TABLE fail_commit"};

/* How many records with event ids starting with prefix are stored. */
static long long stored_like(const char *prefix, bw_arena_t *a)
{
    return atoll(one(bw_arena_printf(a, "SELECT count(*) FROM usage_records WHERE event_id LIKE"
                                        " '%s%%'", prefix), a));
}

/* Whether every rejection of r says the record was not stored. */
static bool all_not_stored(const Billow__IngestUsageReply *r)
{
    for (size_t i = 0; i < r->n_rejected; i++)
        if (!strstr(r->rejected[i]->error, "not stored") ||
            !strstr(r->rejected[i]->error, "commit refused by the test"))
            return false;
    return true;
}

/* A split request (3000 records, fr's accounts) whose own commit fails
 * after the extra part committed: the reply accepts what is stored and
 * rejects the rest as not stored; the resend stores those and counts only
 * the accepted ones as duplicates. When the extra's commit fails, nothing
 * is stored and the request fails. */
static bool lost_commits(rec_t *fr, bw_arena_t *a)
{
    bool ok = true;
    for (size_t i = 0; i < sizeof SQL_FAIL_SETUP / sizeof SQL_FAIL_SETUP[0]; i++)
        ok = ok && bw_db_exec(db, SQL_FAIL_SETUP[i], 0, NULL) == 0;
    ok = ok && bw_db_exec(db, "INSERT INTO fail_commit SELECT pg_backend_pid(), false", 0,
                          NULL) == 0;
    for (int i = 0; i < 3000; i++)
        fr[i].event_id = bw_arena_printf(a, "l-%d", i);
    Billow__IngestUsageReply *r = ingest(fr, 3000, a);
    ok = ok && r && r->accepted > 0 && r->n_rejected > 0 && r->duplicates == 0 &&
         r->accepted + (int)r->n_rejected == 3000 && all_not_stored(r) &&
         stored_like("l-", a) == r->accepted;
    int accepted = r ? r->accepted : -1;
    ok = ok && bw_db_exec(db, "DELETE FROM fail_commit", 0, NULL) == 0;
    r = ingest(fr, 3000, a);
    ok = ok && counts(r, 3000 - accepted, accepted, 0) && stored_like("l-", a) == 3000;
    if (!ok)
        printf("     the request's own commit refused: accepted %d first\n", accepted);

    ok = ok && bw_db_exec(db, "INSERT INTO fail_commit SELECT pg_backend_pid(), true", 0,
                          NULL) == 0;
    for (int i = 0; i < 3000; i++)
        fr[i].event_id = bw_arena_printf(a, "o-%d", i);
    ok = ok && !ingest(fr, 3000, a) && stored_like("o-", a) == 0;
    ok = ok && bw_db_exec(db, "DELETE FROM fail_commit", 0, NULL) == 0;
    ok = ok && counts(ingest(fr, 3000, a), 3000, 0, 0);
    for (size_t i = 0; i < sizeof SQL_FAIL_DROP / sizeof SQL_FAIL_DROP[0]; i++)
        ok = bw_db_exec(db, SQL_FAIL_DROP[i], 0, NULL) == 0 && ok;
    return ok;
}

int main(void)
{
    bw_log_init("test_usage_ingest");
    const char *conninfo = getenv("BW_PG_ADMIN");
    if (!conninfo) {
        printf("needs BW_PG_ADMIN\n");
        return 77;
    }
    db = bw_db_new(conninfo, NULL, "rating");
    if (bw_db_connect(db, 5000) < 0)
        return 1;
    bw_db_exec(db, "CREATE SCHEMA IF NOT EXISTS rating", 0, NULL);
    if (bw_migrate(db, "rating", bw_migrations_rating, NULL) < 0)
        return 1;
    bw_arena_t *a = bw_arena_new();
    FILE *f = fopen("services/rating/catalog.example.json", "rb");
    if (!f) {
        printf("run from the repository root\n");
        return 1;
    }
    static char doc[1 << 16];
    doc[fread(doc, 1, sizeof doc - 1, f)] = '\0';
    fclose(f);
    Billow__CatalogLoad cl = BILLOW__CATALOG_LOAD__INIT;
    cl.json = doc;
    Billow__Reply reply = BILLOW__REPLY__INIT;
    rt_catalog_load(db, &cl, "test", "test", &reply, a);
    CHECK(reply.code == BILLOW__CODE__OK, "catalog loaded");
    CHECK(bw_db_exec(db,
                     "INSERT INTO accounts (id, currency, cycle, status, "
                     "created_on, version,"
                     " caused_by) VALUES ('U1', 'CNY', 'monthly', 'active', "
                     "'2026-09-01', 1, 't'),"
                     " ('U2', 'CNY', 'monthly', 'active', '2026-09-01', 1, 't')",
                     0, NULL) == 0 &&
              bw_db_exec(db,
                         "INSERT INTO subscriptions (account_id, plan, quantity, "
                         "start_date, origin,"
                         " caused_by) VALUES ('U1', 'SAAS_PRO', 1, '2026-10-01', "
                         "'2026-10-01', 't'),"
                         " ('U2', 'SAAS_PRO', 1, '2026-10-01', '2026-10-01', 't')",
                         0, NULL) == 0,
          "two accounts with subscriptions");

    /* Mixed good and bad. */
    static const rec_t b1[] = {
        {"m1", "U1", "API_CALLS", "100", "2026-11-05T10:00:00Z", NULL},
        {"m2", "U1", "API_CALLS", "0.000000001", "2026-11-06T10:00:00Z", "CNY"},
        {"m3", "NOPE", "API_CALLS", "5", "2026-11-05T10:00:00Z", NULL},
        {"m4", "U2", "SMS", "12345678.123456789", "2026-11-30T23:59:59.5Z", NULL},
        {"m5", "U1", "API_CALLS", "-1", "2026-11-05T10:00:00Z", NULL},
        {"m6", "U2", "API_CALLS", "7", "2026-10-31T23:00:00Z", NULL},
        {"m7", "U3", "API_CALLS", "1", "2026-11-05T10:00:00Z", NULL},
        {"m8", "U1", "API_CALLS", "x", "2026-11-05T10:00:00Z", NULL},
        {"m9", "U2", "API_CALLS", "3", "2026-11-07T00:00:00Z", "JPY"},
    };
    Billow__IngestUsageReply *r = ingest(b1, 9, a);
    CHECK(counts(r, 4, 0, 5), "mixed batch: 4 accepted, 5 rejected");
    CHECK(has_rejection(r, 2, "unknown account NOPE") &&
              has_rejection(r, 4, "must not be negative") &&
              has_rejection(r, 6, "unknown account U3") && has_rejection(r, 7, "quantity: ") &&
              has_rejection(r, 8, "bills in CNY"),
          "rejections carry index, line and reason");
    CHECK(strcmp(one("SELECT quantity::text || ' ' || period || ' ' || "
                     "to_char(at AT TIME ZONE"
                     " 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM usage_records "
                     "WHERE event_id = 'm4'",
                     a),
                 "12345678.123456789 2026-11 2026-11-30 23:59:59.500000") == 0,
          "quantity and time stored exactly (binary COPY)");
    CHECK(strcmp(one("SELECT quantity::text FROM usage_records WHERE event_id = 'm2'", a),
                 "0.000000001") == 0,
          "smallest quantity stored exactly");
    CHECK(strcmp(one("SELECT period FROM usage_records WHERE event_id = 'm6'", a), "2026-10") == 0,
          "record counted in the period of its date");
    CHECK(strcmp(one(SQL_AGG_CHECK, a), "0") == 0, "aggregates equal the records");
    char *before =
        one("SELECT sum(quantity)::text || '/' || sum(records) FROM usage_aggregates", a);

    /* The same batch again: nothing new. */
    r = ingest(b1, 9, a);
    CHECK(counts(r, 0, 4, 5), "re-sent batch: 4 duplicates, 5 rejected, none accepted");
    CHECK(strcmp(one("SELECT count(*) FROM usage_records", a), "4") == 0, "no record added");
    CHECK(strcmp(one("SELECT sum(quantity)::text || '/' || sum(records) FROM "
                     "usage_aggregates",
                     a),
                 before) == 0,
          "aggregates unchanged by the re-sent batch");

    /* Half old, half new; then an event id twice in one batch. */
    static const rec_t b2[] = {
        {"m1", "U1", "API_CALLS", "100", "2026-11-05T10:00:00Z", NULL},
        {"n1", "U1", "API_CALLS", "50", "2026-11-08T10:00:00Z", NULL},
        {"m4", "U2", "SMS", "12345678.123456789", "2026-11-30T23:59:59.5Z", NULL},
        {"n2", "U2", "SMS", "2", "2026-11-08T10:00:00Z", NULL},
    };
    r = ingest(b2, 4, a);
    CHECK(counts(r, 2, 2, 0), "half-old batch: 2 accepted, 2 duplicates");
    static const rec_t b3[] = {
        {"d1", "U1", "API_CALLS", "1", "2026-11-09T10:00:00Z", NULL},
        {"d1", "U1", "API_CALLS", "1", "2026-11-09T10:00:00Z", NULL},
        {"d2", "U1", "API_CALLS", "1", "2026-11-09T10:00:00Z", NULL},
    };
    r = ingest(b3, 3, a);
    CHECK(counts(r, 2, 1, 0), "event id twice in a batch: stored once");
    CHECK(strcmp(one("SELECT sum(quantity)::int || '/' || sum(records) FROM "
                     "usage_aggregates"
                     " WHERE account_id = 'U1' AND fee_item = 'API_CALLS' AND "
                     "period = '2026-11'",
                     a),
                 "152/5") == 0,
          "U1's API calls: 152 in 5 records");
    CHECK(strcmp(one(SQL_AGG_CHECK, a), "0") == 0, "aggregates still equal the records");
    CHECK(strcmp(one(SQL_IDS_CHECK, a), "0") == 0,
          "every record listed once, by its own aggregate, in time order");

    /* A percentage fee item is priced per record: close and preview find
     * the records through the aggregates that list them (no index on
     * account), and explain shows the first ones by time. 1000 and 100000
     * at 0.6% + 0.30 (at least 0.50, at most 100) and 10: 6.30 + 100.00 +
     * 0.50; the sum taken as one transaction would be 100.00. */
    static const rec_t b7[] = {
        {"pp1", "U1", "PAYMENT_PROCESSING", "1000", "2026-11-03T10:00:00Z", NULL},
        {"pp2", "U1", "PAYMENT_PROCESSING", "100000", "2026-11-02T10:00:00Z", NULL},
    };
    static const rec_t b8[] = {
        {"pp3", "U1", "PAYMENT_PROCESSING", "10", "2026-11-01T10:00:00Z", NULL},
        {"pp1", "U1", "PAYMENT_PROCESSING", "1000", "2026-11-03T10:00:00Z", NULL},
    };
    r = ingest(b7, 2, a);
    CHECK(counts(r, 2, 0, 0), "two payments in one batch");
    r = ingest(b8, 2, a);
    CHECK(counts(r, 1, 1, 0), "a third payment and a re-sent one");
    CHECK(payment_fee(a) == 10680, "percentage fee item priced per record: 106.80");
    CHECK(strcmp(explained(a), "3: pp3 pp2 pp1") == 0, "explain lists the records by time");
    CHECK(strcmp(one(SQL_IDS_CHECK, a), "0") == 0, "records listed once after the staging path");

    /* An unknown fee item, twice (the second answer is remembered). */
    static const rec_t bf[] = {{"uf1", "U1", "NO_SUCH", "1", "2026-11-05T10:00:00Z", NULL},
                               {"uf2", "U2", "NO_SUCH", "1", "2026-11-05T10:00:00Z", NULL}};
    r = ingest(bf, 2, a);
    CHECK(counts(r, 0, 0, 2) && has_rejection(r, 0, "unknown fee item NO_SUCH") &&
              has_rejection(r, 1, "unknown fee item NO_SUCH"),
          "unknown fee item rejected");

    /* The view changes behind the service's back. */
    static const rec_t b4[] = {{"u3-1", "U3", "CONSULTING", "1", "2026-11-05T10:00:00Z", NULL}};
    r = ingest(b4, 1, a);
    CHECK(counts(r, 0, 0, 1) && has_rejection(r, 0, "unknown account U3"), "U3 unknown");
    bw_db_exec(db,
               "INSERT INTO accounts (id, currency, cycle, status, created_on, "
               "version, caused_by)"
               " VALUES ('U3', 'CNY', 'monthly', 'active', '2026-09-01', 1, 't')",
               0, NULL);
    r = ingest(b4, 1, a);
    CHECK(counts(r, 0, 0, 1) && has_rejection(r, 0, "has no subscription"),
          "U3 known at once, without subscription");
    bw_db_exec(db,
               "INSERT INTO subscriptions (account_id, plan, quantity, start_date, "
               "origin, caused_by)"
               " VALUES ('U3', 'SAAS_STANDARD_JP', 1, '2026-10-01', '2026-10-01', 't')",
               0, NULL);
    r = ingest(b4, 1, a);
    CHECK(counts(r, 0, 0, 1) && has_rejection(r, 0, "is not charged by plan SAAS_STANDARD_JP"),
          "U3's plan seen at once");
    bw_db_exec(db, "UPDATE subscriptions SET plan = 'SAAS_PRO' WHERE account_id = 'U3'", 0, NULL);
    r = ingest(b4, 1, a);
    CHECK(counts(r, 1, 0, 0), "U3's plan change seen at once: accepted");
    static const rec_t b4b[] = {{"u3-2", "U3", "CONSULTING", "1", "2026-11-06T10:00:00Z", NULL},
                                {"u1-2", "U1", "CONSULTING", "1", "2026-11-06T10:00:00Z", NULL}};
    bw_db_exec(db, "DELETE FROM subscriptions WHERE account_id = 'U3'", 0, NULL);
    r = ingest(b4b, 2, a);
    CHECK(counts(r, 1, 0, 1) && has_rejection(r, 0, "has no subscription"),
          "U3's subscription deleted: seen at once, U1 still accepted");

    /* A closed period rejects (closed_periods rows come from a close job). */
    bw_db_exec(db,
               "INSERT INTO close_jobs (id, period, cycle, period_start, period_end, status,"
               " catalog_version, caused_by) VALUES ('j', '2026-11', 'monthly', '2026-11-01',"
               " '2026-12-01', 'done', 1, 't')",
               0, NULL);
    bw_db_exec(db,
               "INSERT INTO closed_periods (account_id, period, job_id, catalog_version,"
               " total_minor, currency, event_id, rated, caused_by) VALUES ('U2', "
               "'2026-11', 'j',"
               " 1, 0, 'CNY', 'e', '', 't')",
               0, NULL);
    static const rec_t b5[] = {
        {"c1", "U2", "API_CALLS", "1", "2026-11-10T10:00:00Z", NULL},
        {"c2", "U1", "API_CALLS", "1", "2026-11-10T10:00:00Z", NULL},
    };
    r = ingest(b5, 2, a);
    CHECK(counts(r, 1, 0, 1) && has_rejection(r, 0, "period 2026-11 is already closed"),
          "closed period rejected, the other record stored");
    /* More periods in one request than are told apart: every record is
     * checked against closed_periods. */
    rec_t *many = bw_arena_alloc(a, sizeof *many * 36);
    for (int i = 0; i < 35; i++)
        many[i] = (rec_t){bw_arena_printf(a, "mp-%d", i), "U2", "API_CALLS", "1",
                          bw_arena_printf(a, "%d-%02d-15T10:00:00Z", 2024 + i / 12, i % 12 + 1),
                          NULL};
    r = ingest(many, 35, a);
    CHECK(counts(r, 34, 0, 1) && has_rejection(r, 34, "period 2026-11 is already closed"),
          "35 periods in one request: the closed one still rejected");
    CHECK(strcmp(one(SQL_AGG_CHECK, a), "0") == 0, "aggregates equal the records at the end");

    /* The preloader reads the whole view; what changes after still shows. */
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    rt_usage_start(loop, db);
    for (int i = 0; i < 10; i++)
        ev_run(loop, EVRUN_NOWAIT);
    bw_db_exec(db, "UPDATE subscriptions SET plan = 'SAAS_STANDARD_JP' WHERE account_id = 'U1'",
               0, NULL);
    static const rec_t b6[] = {{"p1", "U1", "CONSULTING", "1", "2026-11-11T10:00:00Z", NULL},
                               {"p2", "U3", "API_CALLS", "1", "2026-11-11T10:00:00Z", NULL}};
    r = ingest(b6, 2, a);
    CHECK(counts(r, 0, 0, 2) && has_rejection(r, 0, "not charged by plan SAAS_STANDARD_JP") &&
              has_rejection(r, 1, "U3 has no subscription"),
          "after the preloader: a plan change and a missing subscription still seen");
    rt_usage_stop();

    /* A bad limit is refused; a limit of 1000 keeps memory bounded while
     * requests name 2,500 accounts the preloader could not keep. */
    setenv("BILLOW_RATING_ACCOUNT_CACHE", "lots", 1);
    CHECK(rt_usage_start(loop, db) == BW_EINVAL, "bad BILLOW_RATING_ACCOUNT_CACHE refused");
    setenv("BILLOW_RATING_ACCOUNT_CACHE", "1000", 1);
    bw_db_exec(db,
               "INSERT INTO accounts (id, currency, cycle, status, created_on, version, caused_by)"
               " SELECT 'K' || lpad(g::text, 4, '0'), 'CNY', 'monthly', 'active', '2026-09-01', 1,"
               " 't' FROM generate_series(1, 2500) g",
               0, NULL);
    bw_db_exec(db,
               "INSERT INTO subscriptions (account_id, plan, quantity, start_date, origin, caused_by)"
               " SELECT 'K' || lpad(g::text, 4, '0'), 'SAAS_PRO', 1, '2026-10-01', '2026-10-01', 't'"
               " FROM generate_series(1, 2500) g",
               0, NULL);
    CHECK(rt_usage_start(loop, db) == 0, "limit of 1000 accepted");
    for (int i = 0; i < 20; i++)
        ev_run(loop, EVRUN_NOWAIT);
    CHECK(rt_usage_cache_size() == 1000, "preloader stops at the limit");
    bool all = true, bounded = true;
    for (int round = 0; round < 3; round++) {
        rec_t *kr = bw_arena_alloc(a, sizeof *kr * 900);
        for (int i = 0; i < 900; i++) {
            int k = (round * 900 + i) % 2500 + 1;
            kr[i] = (rec_t){bw_arena_printf(a, "k%d-%d", round, i), bw_arena_printf(a, "K%04d", k),
                            "API_CALLS", "1", "2026-11-12T10:00:00Z", NULL};
        }
        r = ingest(kr, 900, a);
        all = all && counts(r, 900, 0, 0);
        bounded = bounded && rt_usage_cache_size() <= 1000;
    }
    CHECK(all, "2,700 records for 2,500 accounts over a limit of 1000: all accepted");
    CHECK(bounded, "no more than 1000 accounts kept after each request");
    unsetenv("BILLOW_RATING_ACCOUNT_CACHE");
    rt_usage_stop();

    /* Big requests are spread over two connections: one request of 3000
     * with 500 records stored before, an event id twice and 10 bad records,
     * then the same again, then 3000 new ones; the counts and aggregates
     * come out as on one connection. */
    setenv("BILLOW_RATING_INGEST_CONNECTIONS", "9", 1);
    CHECK(rt_usage_start(loop, db) == BW_EINVAL, "bad BILLOW_RATING_INGEST_CONNECTIONS refused");
    setenv("BILLOW_RATING_INGEST_CONNECTIONS", "2", 1);
    CHECK(rt_usage_start(loop, db) == 0, "two ingest connections");
    rec_t *br = bw_arena_alloc(a, sizeof *br * 3000), *fr = bw_arena_alloc(a, sizeof *fr * 3000);
    for (int i = 0; i < 3000; i++) {
        const char *id = i < 500    ? bw_arena_printf(a, "k0-%d", i)
                         : i == 2000 ? "s-1999"
                                     : bw_arena_printf(a, "s-%d", i);
        br[i] = (rec_t){id, bw_arena_printf(a, "K%04d", i % 2500 + 1), "API_CALLS",
                        i >= 2990 ? "x" : "2", "2026-11-13T10:00:00Z", NULL};
        fr[i] = (rec_t){bw_arena_printf(a, "f-%d", i), br[i].account, "SMS", "3",
                        "2026-11-14T10:00:00Z", NULL};
    }
    r = ingest(br, 3000, a);
    CHECK(counts(r, 2489, 501, 10) && has_rejection(r, 2995, "quantity: "),
          "split request: 2489 new, 501 duplicates, 10 rejected");
    CHECK(strcmp(one("SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                     " 'billow-rating' AND datname = current_database()",
                     a),
                 "2") == 0,
          "the request used a second connection");
    r = ingest(br, 3000, a);
    CHECK(counts(r, 0, 2990, 10), "split request again: all duplicates");
    r = ingest(fr, 3000, a);
    CHECK(counts(r, 3000, 0, 0), "split request of new records: all stored");
    /* The second connection is cut behind the service's back: the next
     * request goes on the first alone, the one after reconnects. */
    bw_db_exec(db,
               "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name ="
               " 'billow-rating' AND datname = current_database() AND pid <> pg_backend_pid()",
               0, NULL);
    for (int i = 0; i < 3000; i++)
        fr[i].event_id = bw_arena_printf(a, "g-%d", i);
    r = ingest(fr, 3000, a);
    CHECK(counts(r, 3000, 0, 0), "second connection cut: the request is stored all the same");
    for (int i = 0; i < 3000; i++)
        fr[i].event_id = bw_arena_printf(a, "h-%d", i);
    r = ingest(fr, 3000, a);
    CHECK(counts(r, 3000, 0, 0) &&
              strcmp(one("SELECT count(*) FROM pg_stat_activity WHERE application_name ="
                         " 'billow-rating' AND datname = current_database()",
                         a),
                     "2") == 0,
          "and the next one has its second connection again");
    CHECK(lost_commits(fr, a), "a commit that fails after the other part's: counts stay honest");
    CHECK(strcmp(one(SQL_AGG_CHECK, a), "0") == 0 && strcmp(one(SQL_IDS_CHECK, a), "0") == 0,
          "split requests: aggregates equal the records, each listed once");
    unsetenv("BILLOW_RATING_INGEST_CONNECTIONS");
    rt_usage_stop();
    static const char *const cleanup[] = {
        "DELETE FROM usage_records WHERE account_id LIKE 'K%'",
        "DELETE FROM usage_aggregates WHERE account_id LIKE 'K%'",
        "DELETE FROM subscriptions WHERE account_id LIKE 'K%'",
        "DELETE FROM accounts WHERE id LIKE 'K%'"};
    for (size_t i = 0; i < sizeof cleanup / sizeof cleanup[0]; i++)
        bw_db_exec(db, cleanup[i], 0, NULL);
    ev_loop_destroy(loop);

    /* A close with one account closed already (U2, above): the others are
     * rated, U2 is skipped, and closing again rates nobody. */
    bw_db_exec(db, "UPDATE subscriptions SET plan = 'SAAS_PRO' WHERE account_id = 'U1'", 0, NULL);
    Billow__RateClose rc = BILLOW__RATE_CLOSE__INIT;
    rc.period = "2026-11";
    rc.cycle = "monthly";
    Billow__Reply cr = BILLOW__REPLY__INIT;
    rt_close_request(db, &rc, "test", &cr, a);
    int steps = 0;
    while (rt_close_step(db) > 0 && steps < 100)
        steps++;
    CHECK(strcmp(one("SELECT string_agg(account_id, ',' ORDER BY account_id) FROM closed_periods"
                     " WHERE period = '2026-11'",
                     a),
                 "U1,U2,U3") == 0 &&
              strcmp(one("SELECT count(*) FROM outbox WHERE event_type = 'AccountRated'", a),
                     "2") == 0,
          "close: U1 and U3 rated and emitted, U2 (closed before) skipped");
    Billow__Reply cr2 = BILLOW__REPLY__INIT;
    rt_close_request(db, &rc, "test", &cr2, a);
    while (rt_close_step(db) > 0 && steps < 200)
        steps++;
    CHECK(strcmp(one("SELECT count(*) FROM outbox WHERE event_type = 'AccountRated'", a), "2") ==
              0,
          "closing again emits nothing");
    rt_store_clear();
    bw_arena_destroy(&a);
    bw_db_destroy(&db);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
