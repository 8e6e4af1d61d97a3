/* Rating benchmark: usage ingest records/s over the API socket and period
 * close accounts/s, each next to a raw COPY of the same rows in the same run.
 * A child process runs the real rating service; the parent loads the
 * example catalog, creates N accounts with a subscription each (straight
 * into rating's tables: the accounts view is not what is measured), sends
 * R usage records as IngestUsage requests of 5000, then closes November and
 * follows the close job to the end, with BW_BENCH_CLOSERS (default 1) more
 * processes closing beside the service, as `rating --closer` does.
 *   rating_bench [RECORDS [ACCOUNTS]]   (default 200000 and 100000)
 * BW_PG_ADMIN and BILLOW_DATABASE_URL name the database, BILLOW_PORT_BASE
 * the ports. Prints a human line and a RESULT line of JSON per measure.
 * The COPY baseline is the same rows COPYed in the same transactions, text
 * and binary; the ratio is to the faster (binary, which the service uses).
 * Rating reads the accounts into memory before the clock starts, and
 * October is closed for every account during the ingest (closed_periods
 * rows, as in any month but the first).
 * The record mix is the hardest for the aggregates: each request names 5000
 * different accounts, and every account's two records land in different
 * requests, so every record makes an aggregate row of its own. */
#include "clock.h"
#include "config.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "rpc.h"
#include "service.h"

#include "rating/api.h"
#include "bincopy.h"
#include "rating/catalog_store.h"
#include "rating/close.h"
#include "rating/usage.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define BATCH 5000

extern const bw_migration_t bw_migrations_rating[];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- the service, in a child --------------------------------------------- */

static int svc_init(bw_service_t *svc)
{
    rt_usage_start(bw_service_loop(svc), bw_service_db(svc));
    return rt_close_start(bw_service_loop(svc), bw_service_db(svc));
}

static void svc_fini(bw_service_t *svc)
{
    (void)svc;
    rt_close_stop();
    rt_store_clear();
    rt_usage_stop();
}

static int run_service(void)
{
    static const bw_service_def_t def = {
        .name = "rating",
        .migrations = bw_migrations_rating,
        .init = svc_init,
        .fini = svc_fini,
        .handle = rt_api_handle,
    };
    char *argv[] = {"rating", NULL};
    return bw_service_main(&def, 1, argv);
}

/* --- where the time goes --------------------------------------------------- */

/* CPU seconds (user + system) a process has used so far, from /proc; 0 when
 * it cannot be read. */
static double proc_cpu_s(long pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15 (utime, stime), counted after the command's ")". */
    const char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds so far of the rating service's database backends (every
 * connection of its role), of the service and of this process. */
typedef struct {
    double backends, service, client;
} cpu_t;

static cpu_t cpu_now(bw_db_t *db, pid_t service)
{
    cpu_t c = {0, proc_cpu_s(service), proc_cpu_s(getpid())};
    PGresult *res =
        bw_db_query(db, "SELECT pid FROM pg_stat_activity WHERE usename = 'billow_rating'", 0, NULL);
    for (int i = 0; res && i < PQntuples(res); i++)
        c.backends += proc_cpu_s(atol(PQgetvalue(res, i, 0)));
    PQclear(res);
    return c;
}

/* CPU seconds of every process of the close: the service, the closers and
 * every backend of rating's role, each remembered by pid so that a backend
 * that appears during the close counts from zero and one that is gone
 * counts nothing. */
#define CLOSE_PIDS 64
typedef struct {
    long pid[CLOSE_PIDS];
    double s[CLOSE_PIDS];
    int n;
} pidcpu_t;

static void pidcpu_add(pidcpu_t *pc, long pid)
{
    if (pc->n < CLOSE_PIDS) {
        pc->pid[pc->n] = pid;
        pc->s[pc->n++] = proc_cpu_s(pid);
    }
}

static pidcpu_t backends_cpu(bw_db_t *db)
{
    pidcpu_t pc = {.n = 0};
    PGresult *res =
        bw_db_query(db, "SELECT pid FROM pg_stat_activity WHERE usename = 'billow_rating'", 0, NULL);
    for (int i = 0; res && i < PQntuples(res); i++)
        pidcpu_add(&pc, atol(PQgetvalue(res, i, 0)));
    PQclear(res);
    return pc;
}

/* CPU used between two readings of the same kind of processes. */
static double pidcpu_since(const pidcpu_t *before, const pidcpu_t *after)
{
    double sum = 0;
    for (int i = 0; i < after->n; i++) {
        double s0 = 0;
        for (int j = 0; j < before->n; j++)
            if (before->pid[j] == after->pid[i])
                s0 = before->s[j];
        sum += after->s[i] - s0;
    }
    return sum;
}

/* Where the server's WAL is now, as a byte count (0 when unknown). */
static double wal_now(bw_db_t *db)
{
    PGresult *res =
        bw_db_query(db, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn", 0, NULL);
    double v = res ? atof(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return v;
}

/* Waits (up to 30 s) until no connection of the rating service has run a
 * statement for 300 ms: the preloader has read the accounts into memory. */
static void wait_quiet(bw_db_t *db)
{
    static const char SQL[] =
        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'billow_rating'"
        " AND (state <> 'idle' OR state_change > now() - interval '300 ms')";
    for (int i = 0; i < 300; i++) {
        PGresult *res = bw_db_query(db, SQL, 0, NULL);
        bool quiet = res && strcmp(PQgetvalue(res, 0, 0), "0") == 0;
        PQclear(res);
        if (quiet)
            return;
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "rating still busy after 30 s; measuring anyway\n");
}

/* A closer: the close worker alone, no sockets (`rating --closer`). */
static int closer_init(bw_service_t *svc)
{
    return rt_close_start(bw_service_loop(svc), bw_service_db(svc));
}

static void closer_fini(bw_service_t *svc)
{
    (void)svc;
    rt_close_stop();
    rt_store_clear();
}

static int run_closer(void)
{
    static const bw_service_def_t def = {
        .name = "rating",
        .migrations = bw_migrations_rating,
        .init = closer_init,
        .fini = closer_fini,
    };
    char *argv[] = {"rating", "--worker", NULL};
    return bw_service_main(&def, 2, argv);
}

/* --- client helpers ------------------------------------------------------ */

static Billow__Reply *call(void *z, const char *ep, Billow__RatingRequest *rr, int timeout_ms)
{
    Billow__Request req = BILLOW__REQUEST__INIT;
    req.body_case = BILLOW__REQUEST__BODY_RATING;
    req.rating = rr;
    Billow__Reply *reply = NULL;
    if (bw_rpc_call(z, ep, &req, timeout_ms, &reply) < 0)
        return NULL;
    if (reply->code != BILLOW__CODE__OK) {
        fprintf(stderr, "rating: %s: %s\n", reply->error, reply->detail);
        billow__reply__free_unpacked(reply, NULL);
        return NULL;
    }
    return reply;
}

static void die(const char *what, bw_db_t *db)
{
    fprintf(stderr, "%s: %s\n", what, db ? bw_db_error(db) : "");
    exit(1);
}

/* Reads `sql` (a COPY ... TO STDOUT) into memory. */
static char *copy_out(bw_db_t *db, const char *sql, size_t *len)
{
    PGconn *c = bw_db_conn(db);
    PGresult *res = PQexec(c, sql);
    if (PQresultStatus(res) != PGRES_COPY_OUT)
        die("copy out", db);
    PQclear(res);
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap), *row;
    int r;
    while ((r = PQgetCopyData(c, &row, 0)) > 0) {
        if (n + (size_t)r + 1 > cap) {
            while (n + (size_t)r + 1 > cap)
                cap *= 2;
            buf = realloc(buf, cap);
        }
        memcpy(buf + n, row, (size_t)r);
        n += (size_t)r;
        PQfreemem(row);
    }
    while ((res = PQgetResult(c)))
        PQclear(res);
    *len = n;
    return buf;
}

/* COPYs buf into table, `rows` lines per transaction; returns seconds. */
static double copy_in(bw_db_t *db, const char *copy_sql, const char *buf, size_t len, int rows)
{
    double t0 = now_s();
    size_t off = 0;
    while (off < len) {
        size_t end = off;
        for (int k = 0; k < rows && end < len; k++) {
            const char *nl = memchr(buf + end, '\n', len - end);
            end = nl ? (size_t)(nl - buf) + 1 : len;
        }
        if (bw_db_begin(db) < 0 || bw_db_copy_begin(db, copy_sql) < 0 ||
            bw_db_copy_put(db, buf + off, end - off) < 0 || bw_db_copy_end(db) < 0 ||
            bw_db_commit(db) < 0)
            die("copy in", db);
        off = end;
    }
    return now_s() - t0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* COPYs a whole binary COPY stream (header, rows, trailer) into table,
 * `rows` rows per transaction, each part with its own header and trailer;
 * returns seconds. */
static double copy_in_bin(bw_db_t *db, const char *copy_sql, const char *buf, size_t len, int rows)
{
    const unsigned char *b = (const unsigned char *)buf;
    size_t hdr = 19 + be32(b + 15), off = hdr;
    static const char trailer[2] = {(char)0xff, (char)0xff};
    double t0 = now_s();
    while (off + 2 <= len && !(b[off] == 0xff && b[off + 1] == 0xff)) {
        size_t end = off;
        for (int k = 0; k < rows && end + 2 <= len && !(b[end] == 0xff && b[end + 1] == 0xff); k++) {
            int nf = b[end] << 8 | b[end + 1];
            end += 2;
            for (int f = 0; f < nf; f++) {
                uint32_t fl = be32(b + end);
                end += 4 + (fl == 0xffffffffu ? 0 : fl);
            }
        }
        if (bw_db_begin(db) < 0 || bw_db_copy_begin(db, copy_sql) < 0 ||
            bw_db_copy_put(db, buf, hdr) < 0 || bw_db_copy_put(db, buf + off, end - off) < 0 ||
            bw_db_copy_put(db, trailer, 2) < 0 || bw_db_copy_end(db) < 0 || bw_db_commit(db) < 0)
            die("copy in (binary)", db);
        off = end;
    }
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    bw_log_init("rating_bench");
    bw_log_set_level(BW_WARN);
    long long nrec = argc > 1 ? atoll(argv[1]) : 200000;
    long long nacc = argc > 2 ? atoll(argv[2]) : 100000;
    nrec = (nrec + BATCH - 1) / BATCH * BATCH;
    const char *admin = getenv("BW_PG_ADMIN");
    if (!admin || !getenv("BILLOW_DATABASE_URL")) {
        fprintf(stderr, "BW_PG_ADMIN and BILLOW_DATABASE_URL must be set\n");
        return 2;
    }
    setenv("BILLOW_NOW", "2026-11-30T12:00:00Z", 1);
    if (!getenv("BILLOW_LOG_LEVEL"))
        setenv("BILLOW_LOG_LEVEL", "warn", 1);
    bw_db_t *db = bw_db_new(admin, NULL, "rating_bench");
    if (bw_db_connect(db, 5000) < 0)
        die("connect", db);
    /* A clean rating schema and a baseline schema for the COPYs. */
    if (bw_db_exec(db, "DROP SCHEMA IF EXISTS rating CASCADE", 0, NULL) < 0 ||
        bw_db_exec(db, "CREATE SCHEMA rating AUTHORIZATION billow_rating", 0, NULL) < 0 ||
        bw_db_exec(db, "DROP SCHEMA IF EXISTS rating_bench CASCADE", 0, NULL) < 0 ||
        bw_db_exec(db, "CREATE SCHEMA rating_bench", 0, NULL) < 0)
        die("schemas", db);

    pid_t pid = fork();
    if (pid == 0)
        _exit(run_service());
    char ep[256];
    bw_endpoint("rating", "api", 0, ep, sizeof ep);
    void *z = zmq_ctx_new();
    int status = 1;
    /* Wait for the service (migrations included). */
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__RatingDescribe rd = BILLOW__RATING_DESCRIBE__INIT;
    rr.op_case = BILLOW__RATING_REQUEST__OP_DESCRIBE;
    rr.describe = &rd;
    Billow__Reply *reply = NULL;
    for (int i = 0; i < 100 && !(reply = call(z, ep, &rr, 300)); i++)
        ;
    if (!reply) {
        fprintf(stderr, "rating did not start\n");
        goto out;
    }
    billow__reply__free_unpacked(reply, NULL);

    FILE *f = fopen("services/rating/catalog.example.json", "rb");
    if (!f) {
        fprintf(stderr, "run from the repository root\n");
        goto out;
    }
    static char doc[1 << 16];
    doc[fread(doc, 1, sizeof doc - 1, f)] = '\0';
    fclose(f);
    Billow__CatalogLoad cl = BILLOW__CATALOG_LOAD__INIT;
    cl.json = doc;
    rr.op_case = BILLOW__RATING_REQUEST__OP_CATALOG_LOAD;
    rr.catalog_load = &cl;
    if (!(reply = call(z, ep, &rr, 10000)))
        goto out;
    billow__reply__free_unpacked(reply, NULL);

    char na[24];
    snprintf(na, sizeof na, "%lld", nacc);
    const char *pa[1] = {na};
    if (bw_db_exec(db,
                   "INSERT INTO rating.accounts (id, currency, cycle, tier, language, status,"
                   " created_on, version, caused_by) SELECT 'B' || lpad(g::text, 8, '0'), 'CNY',"
                   " 'monthly', CASE WHEN g % 10 = 0 THEN 'gold' ELSE 'standard' END,"
                   " CASE WHEN g % 2 = 0 THEN 'zh-CN' ELSE 'en' END, 'active', '2026-09-01', 1,"
                   " 'bench' FROM generate_series(1, $1::int) g", 1, pa) < 0 ||
        bw_db_exec(db,
                   "INSERT INTO rating.subscriptions (account_id, plan, quantity, start_date,"
                   " origin, caused_by) SELECT 'B' || lpad(g::text, 8, '0'), 'SAAS_PRO', 5,"
                   " '2026-10-01', '2026-10-01', 'bench' FROM generate_series(1, $1::int) g",
                   1, pa) < 0 ||
        bw_db_exec(db, "ANALYZE rating.accounts", 0, NULL) < 0 ||
        bw_db_exec(db, "ANALYZE rating.subscriptions", 0, NULL) < 0)
        die("accounts", db);

    /* --- ingest ----------------------------------------------------------- */
    /* As in every month but the first, the month before is closed: each
     * account has a closed_periods row for October, which the ingest's
     * closed-period check could probe. They go before the close. */
    if (bw_db_exec(db,
                   "INSERT INTO rating.close_jobs (id, period, cycle, period_start, period_end,"
                   " status, catalog_version, caused_by) VALUES ('close:2026-10:monthly',"
                   " '2026-10', 'monthly', '2026-10-01', '2026-11-01', 'done', 1, 'bench')",
                   0, NULL) < 0 ||
        bw_db_exec(db,
                   "INSERT INTO rating.closed_periods (account_id, period, job_id, catalog_version,"
                   " total_minor, currency, event_id, rated, caused_by) SELECT id, '2026-10',"
                   " 'close:2026-10:monthly', 1, 0, currency, gen_random_uuid()::text, '', 'bench'"
                   " FROM rating.accounts",
                   0, NULL) < 0 ||
        bw_db_exec(db, "ANALYZE rating.closed_periods", 0, NULL) < 0)
        die("October closed", db);
    /* The accounts view is not what is measured: one request (a record of
     * an unknown account, rejected) makes rating see the new accounts, and
     * its preloader reads them before the clock starts. */
    Billow__UsageRecord warm = BILLOW__USAGE_RECORD__INIT, *warmp = &warm;
    warm.event_id = "warm-up";
    warm.account_id = "no-such-account";
    warm.fee_item = "API_CALLS";
    warm.quantity = "1";
    Billow__IngestUsage wiu = BILLOW__INGEST_USAGE__INIT;
    wiu.records = &warmp;
    wiu.n_records = 1;
    rr.op_case = BILLOW__RATING_REQUEST__OP_INGEST_USAGE;
    rr.ingest_usage = &wiu;
    if (!(reply = call(z, ep, &rr, 60000)))
        goto out;
    billow__reply__free_unpacked(reply, NULL);
    wait_quiet(db);
    Billow__UsageRecord *recs = calloc(BATCH, sizeof *recs);
    Billow__UsageRecord **rp = calloc(BATCH, sizeof *rp);
    char (*strs)[4][40] = calloc(BATCH, sizeof *strs);
    size_t cap = (size_t)nrec * 110 + 64, blen = 0;
    char *copybuf = malloc(cap);
    bw_bincopy_t bin = {0};
    bw_bincopy_begin(&bin);
    long long accepted = 0;
    double t_ingest = 0;
    cpu_t cpu0 = cpu_now(db, pid);
    double wal0 = wal_now(db);
    for (long long done = 0; done < nrec; done += BATCH) {
        for (int i = 0; i < BATCH; i++) {
            long long k = done + i;
            billow__usage_record__init(&recs[i]);
            snprintf(strs[i][0], 40, "u-%lld", k);
            snprintf(strs[i][1], 40, "B%08lld", k % nacc + 1);
            snprintf(strs[i][2], 40, "%lld", k % 100 + 1);
            snprintf(strs[i][3], 40, "2026-11-%02lldT%02lld:00:00Z", k % 28 + 1, k % 24);
            recs[i].event_id = strs[i][0];
            recs[i].account_id = strs[i][1];
            recs[i].fee_item = k % 5 == 0 ? "SMS" : "API_CALLS";
            recs[i].quantity = strs[i][2];
            recs[i].timestamp = strs[i][3];
            rp[i] = &recs[i];
            int64_t at_us = 0;
            bw_time_parse(strs[i][3], &at_us);
            bw_bincopy_row(&bin, 7);
            bw_bincopy_text(&bin, strs[i][0]);
            bw_bincopy_text(&bin, strs[i][1]);
            bw_bincopy_text(&bin, recs[i].fee_item);
            bw_bincopy_dec(&bin, BW_DEC(k % 100 + 1));
            bw_bincopy_ts(&bin, at_us);
            bw_bincopy_text(&bin, "2026-11");
            bw_bincopy_text(&bin, "bench");
            blen += (size_t)snprintf(copybuf + blen, cap - blen, "%s\t%s\t%s\t%s\t%s\t2026-11\tbench\n",
                                     strs[i][0], strs[i][1], recs[i].fee_item, strs[i][2],
                                     strs[i][3]);
        }
        Billow__IngestUsage iu = BILLOW__INGEST_USAGE__INIT;
        iu.records = rp;
        iu.n_records = BATCH;
        rr.op_case = BILLOW__RATING_REQUEST__OP_INGEST_USAGE;
        rr.ingest_usage = &iu;
        double t0 = now_s();
        reply = call(z, ep, &rr, 60000);
        t_ingest += now_s() - t0;
        if (!reply)
            goto out;
        accepted += reply->rating->usage->accepted;
        if (reply->rating->usage->n_rejected)
            fprintf(stderr, "rejected: %s\n", reply->rating->usage->rejected[0]->error);
        billow__reply__free_unpacked(reply, NULL);
    }
    cpu_t cpu1 = cpu_now(db, pid);
    double wal_ingest = wal_now(db) - wal0;
    if (bw_db_exec(db, "TRUNCATE rating.closed_periods", 0, NULL) < 0 ||
        bw_db_exec(db, "DELETE FROM rating.close_jobs", 0, NULL) < 0)
        die("October reopened", db);
    free(recs);
    free(rp);
    free(strs);
    if (bw_db_exec(db,
                   "CREATE TABLE rating_bench.usage_copy (event_id text, account_id text,"
                   " fee_item text, quantity numeric(28,9), at timestamptz, period text,"
                   " caused_by text)", 0, NULL) < 0 ||
        bw_db_exec(db, "CREATE TABLE rating_bench.usage_copy_bin (LIKE rating_bench.usage_copy)",
                   0, NULL) < 0)
        die("baseline table", db);
    /* The baseline is the faster of text and binary COPY (the service writes
     * binary); both are printed. */
    bw_bincopy_end(&bin);
    if (bin.failed)
        die("out of memory", NULL);
    double c_text = copy_in(db, "COPY rating_bench.usage_copy FROM STDIN", copybuf, blen, BATCH);
    long backend = (long)PQbackendPID(bw_db_conn(db));
    double bin_cpu0 = proc_cpu_s(backend), bin_wal0 = wal_now(db);
    double c_bin = copy_in_bin(db, "COPY rating_bench.usage_copy_bin FROM STDIN (FORMAT binary)",
                               (const char *)bin.data, bin.len, BATCH);
    double bin_cpu = proc_cpu_s(backend) - bin_cpu0, bin_wal = wal_now(db) - bin_wal0;
    double c_ingest = c_bin < c_text ? c_bin : c_text;
    free(copybuf);
    bw_bincopy_free(&bin);
    printf("usage ingest: %lld records over the API in %.2fs (%.0f records/s, %d per request);"
           " raw COPY of the same rows %.2fs (%.0f rows/s; text %.2fs, binary %.2fs); %.2fx COPY"
           " time; accepted %lld\n",
           nrec, t_ingest, nrec / t_ingest, BATCH, c_ingest, nrec / c_ingest, c_text, c_bin,
           t_ingest / c_ingest, accepted);
    /* CPU time is steadier than wall time on a shared machine: it says which
     * process to speed up. The client's includes building the requests. */
    printf("usage ingest CPU: database backends %.2fs, rating %.2fs, client %.2fs"
           " (microseconds per record: %.1f, %.1f, %.1f); the binary COPY's backend %.2fs\n",
           cpu1.backends - cpu0.backends, cpu1.service - cpu0.service, cpu1.client - cpu0.client,
           (cpu1.backends - cpu0.backends) * 1e6 / nrec, (cpu1.service - cpu0.service) * 1e6 / nrec,
           (cpu1.client - cpu0.client) * 1e6 / nrec, bin_cpu);
    printf("usage ingest WAL: %.0f bytes per record; the binary COPY's %.0f\n", wal_ingest / nrec,
           bin_wal / nrec);
    printf("RESULT {\"bench\":\"rating_ingest\",\"records\":%lld,\"seconds\":%.3f,"
           "\"records_per_s\":%.0f,\"copy_seconds\":%.3f,\"copy_rows_per_s\":%.0f,"
           "\"ratio_to_copy\":%.2f,\"copy_text_seconds\":%.3f,\"copy_binary_seconds\":%.3f,"
           "\"cpu_backends_s\":%.2f,\"cpu_service_s\":%.2f,\"ok\":%s}\n",
           nrec, t_ingest, nrec / t_ingest, c_ingest, nrec / c_ingest, t_ingest / c_ingest, c_text,
           c_bin, cpu1.backends - cpu0.backends, cpu1.service - cpu0.service,
           accepted == nrec ? "true" : "false");

    /* --- close ------------------------------------------------------------ */
    long long ncloser = 1;
    if (bw_env_int("BW_BENCH_CLOSERS", 1, 0, 16, &ncloser) < 0)
        goto out;
    pid_t closers[16];
    for (long long i = 0; i < ncloser; i++)
        if ((closers[i] = fork()) == 0)
            _exit(run_closer());
    Billow__RateClose rc = BILLOW__RATE_CLOSE__INIT;
    rc.period = "2026-11";
    rc.cycle = "monthly";
    rr.op_case = BILLOW__RATING_REQUEST__OP_RATE_CLOSE;
    rr.rate_close = &rc;
    pidcpu_t procs0 = {.n = 0}, back0 = backends_cpu(db);
    pidcpu_add(&procs0, pid);
    for (long long i = 0; i < ncloser; i++)
        pidcpu_add(&procs0, closers[i]);
    double t0 = now_s(), worst = 0;
    if (!(reply = call(z, ep, &rr, 10000)))
        goto out;
    long long rated = 0;
    for (;;) {
        bool done = strcmp(reply->rating->close_job->job->status, "done") == 0;
        rated = reply->rating->close_job->job->rated;
        billow__reply__free_unpacked(reply, NULL);
        if (done)
            break;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
        Billow__CloseStatus cs = BILLOW__CLOSE_STATUS__INIT;
        cs.job_id = "close:2026-11:monthly";
        rr.op_case = BILLOW__RATING_REQUEST__OP_CLOSE_STATUS;
        rr.close_status = &cs;
        /* The status request doubles as a probe of API latency mid-close. */
        double q0 = now_s();
        if (!(reply = call(z, ep, &rr, 30000)))
            goto out;
        if (now_s() - q0 > worst)
            worst = now_s() - q0;
    }
    double t_close = now_s() - t0;
    /* Read before the closers stop: their backends go with them. */
    pidcpu_t procs1 = {.n = 0}, back1 = backends_cpu(db);
    pidcpu_add(&procs1, pid);
    for (long long i = 0; i < ncloser; i++)
        pidcpu_add(&procs1, closers[i]);
    double cpu_procs = pidcpu_since(&procs0, &procs1), cpu_back = pidcpu_since(&back0, &back1);
    for (long long i = 0; i < ncloser; i++) {
        kill(closers[i], SIGTERM);
        waitpid(closers[i], NULL, 0);
    }
    size_t l1, l2, l3, l4;
    static const char EVENTS[] = "COPY (SELECT part, event_type, event_id, payload, caused_by FROM"
                                 " rating.outbox WHERE event_type = 'AccountRated') TO STDOUT";
    char *closed = copy_out(db, "COPY rating.closed_periods TO STDOUT", &l1);
    char *events = copy_out(db, EVENTS, &l2);
    char *closed_b = copy_out(db, "COPY rating.closed_periods TO STDOUT (FORMAT binary)", &l3);
    char sql[512];
    snprintf(sql, sizeof sql, "%s (FORMAT binary)", EVENTS);
    char *events_b = copy_out(db, sql, &l4);
    if (bw_db_exec(db, "CREATE TABLE rating_bench.closed_copy (LIKE rating.closed_periods)", 0, NULL) < 0 ||
        bw_db_exec(db, "CREATE TABLE rating_bench.outbox_copy (part int, event_type text,"
                       " event_id uuid, payload bytea, caused_by text)", 0, NULL) < 0 ||
        bw_db_exec(db, "CREATE TABLE rating_bench.closed_copy_bin (LIKE rating.closed_periods)", 0,
                   NULL) < 0 ||
        bw_db_exec(db, "CREATE TABLE rating_bench.outbox_copy_bin (LIKE rating_bench.outbox_copy)",
                   0, NULL) < 0)
        die("baseline tables", db);
    /* Text COPY sends each event as hex: binary (what the service writes) is
     * the fair baseline; both are printed. */
    double ct = copy_in(db, "COPY rating_bench.closed_copy FROM STDIN", closed, l1, 2000) +
                copy_in(db, "COPY rating_bench.outbox_copy FROM STDIN", events, l2, 2000);
    double cb = copy_in_bin(db, "COPY rating_bench.closed_copy_bin FROM STDIN (FORMAT binary)",
                            closed_b, l3, 2000) +
                copy_in_bin(db, "COPY rating_bench.outbox_copy_bin FROM STDIN (FORMAT binary)",
                            events_b, l4, 2000);
    double c_close = cb < ct ? cb : ct;
    free(closed);
    free(events);
    free(closed_b);
    free(events_b);
    printf("period close: %lld accounts rated and emitted in %.2fs (%.0f accounts/s; the service"
           " and %lld closer(s)); raw COPY of the same closed rows and events %.2fs (%.0f rows/s;"
           " text %.2fs, binary %.2fs); %.2fx COPY time; slowest API reply during the close %.0f"
           " ms\n",
           rated, t_close, rated / t_close, ncloser, c_close, rated / c_close, ct, cb,
           t_close / c_close, worst * 1000);
    /* On a shared machine the CPU per account moves far less than the
     * rate: it is the figure to compare between runs. */
    printf("period close CPU: rating processes %.2fs, their database backends %.2fs"
           " (microseconds per account: %.1f + %.1f = %.1f)\n",
           cpu_procs, cpu_back, cpu_procs * 1e6 / rated, cpu_back * 1e6 / rated,
           (cpu_procs + cpu_back) * 1e6 / rated);
    printf("RESULT {\"bench\":\"rating_close\",\"accounts\":%lld,\"seconds\":%.3f,"
           "\"accounts_per_s\":%.0f,\"closers\":%lld,\"copy_seconds\":%.3f,"
           "\"copy_rows_per_s\":%.0f,\"ratio_to_copy\":%.2f,\"copy_text_seconds\":%.3f,"
           "\"copy_binary_seconds\":%.3f,\"max_api_ms\":%.0f,\"cpu_processes_s\":%.2f,"
           "\"cpu_backends_s\":%.2f,\"ok\":%s}\n",
           rated, t_close, rated / t_close, ncloser, c_close, rated / c_close, t_close / c_close,
           ct, cb, worst * 1000, cpu_procs, cpu_back, rated == nacc ? "true" : "false");
    status = 0;
out:
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    zmq_ctx_term(z);
    bw_db_destroy(&db);
    return status;
}
