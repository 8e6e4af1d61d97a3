/* Notification delivery benchmark: messages/s from "pending" rows to
 * delivered and recorded (attempt row, status, NoticeDelivered in the
 * outbox), through the real delivery engine (services/notification/
 * delivery.c) with real templates. Two runs: the e-mail channel mapped to
 * the file notifier, and the webhook channel mapped to the webhook notifier
 * POSTing to a small keep-alive HTTP server on 127.0.0.1 running in a
 * thread of this process (so client and server share the machine, as in
 * the DESIGN.md figures).
 *
 * The baseline, measured in the same run on the same database: a raw text
 * COPY of the rows one delivery writes (a messages row version with the
 * same variables, an attempts row, an outbox row of NoticeDelivered's size)
 * into plain tables without indexes, 1000 messages per transaction, with
 * the same durability (synchronous commit), once before and once after the
 * file run; the mean of the two is the baseline, so that a burst of load
 * on this shared machine during one of them shows as a spread rather than
 * a wrong ratio. The ratio is delivery time over that COPY time: 1.0 would
 * mean delivery costs no more than writing its rows once.
 *   notify_bench [FILE_N [WEBHOOK_N]]   (BW_PG_ADMIN: database)
 * Prints human lines and RESULT lines of JSON for bench/run.sh.
 *
 * Each run also prints the CPU it used per message: this process (loop,
 * recorder thread, notifier threads), the loop's backend (claims) and the
 * recorder's (outcomes), read from getrusage and /proc; the baseline line
 * prints its backend's. On a machine shared with other work these move far
 * less than the wall time.
 *
 * Where a file delivery's CPU goes (perf, pg_stat_statements, 50,000
 * messages, 2026-11-24 07:45, machine load 6): about 34 us per message in
 * this process (the loop: variables parsed from JSON about a fifth,
 * templates a sixth, the JSON line; the file writer's write and fdatasync; the
 * recorder's arrays and COPY data), 15 us in the claims' backend (queue
 * entry deleted, row updated in place) and 24 us in the outcomes' backend
 * (about half the update in place, the rest the attempt and outbox COPYs
 * and the commit). The COPY baseline costs 13-17 us in its backend. */
#include "arena.h"
#include "copybuf.h"
#include "db.h"
#include "log.h"
#include "migrate.h"
#include "notification/delivery.h"
#include "notification/messages.h"
#include "notification/notifier_registry.h"
#include "notification/template.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

extern const bw_migration_t bw_migrations_notification[];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* --- a minimal HTTP/1.1 keep-alive receiver: 200 {} to every POST ------- */

#define MAXC 512
static int listen_fd = -1;
static volatile int stop_server;

typedef struct {
    int fd;
    char buf[65536];
    size_t len;
} conn_t;

static conn_t *conns[MAXC];

/* Answers every complete request in c's buffer; -1 when the peer is gone. */
static int serve(conn_t *c)
{
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: 2\r\n\r\n{}";
    for (;;) {
        c->buf[c->len] = '\0';
        char *end = strstr(c->buf, "\r\n\r\n");
        if (!end)
            return c->len >= sizeof c->buf - 1 ? -1 : 0;
        size_t head = (size_t)(end - c->buf) + 4, clen = 0;
        char *cl = strcasestr(c->buf, "content-length:");
        if (cl && cl < end)
            clen = strtoul(cl + 15, NULL, 10);
        if (head + clen > sizeof c->buf - 1)
            return -1;
        if (c->len < head + clen)
            return 0;
        if (write(c->fd, ok, sizeof ok - 1) != (ssize_t)(sizeof ok - 1))
            return -1;
        memmove(c->buf, c->buf + head + clen, c->len - head - clen);
        c->len -= head + clen;
    }
}

static void *server_main(void *arg)
{
    (void)arg;
    struct pollfd pfd[MAXC + 1];
    while (!stop_server) {
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
        for (int i = 0; i < MAXC; i++)
            if (conns[i])
                pfd[n++] = (struct pollfd){.fd = conns[i]->fd, .events = POLLIN};
        if (poll(pfd, (nfds_t)n, 100) <= 0)
            continue;
        if (pfd[0].revents & POLLIN) {
            int fd = accept(listen_fd, NULL, NULL);
            int one = 1;
            if (fd >= 0)
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            for (int i = 0; fd >= 0 && i < MAXC; i++)
                if (!conns[i]) {
                    conns[i] = calloc(1, sizeof *conns[i]);
                    if (conns[i])
                        conns[i]->fd = fd;
                    fd = -1;
                }
            if (fd >= 0)
                close(fd);
        }
        for (int k = 1; k < n; k++) {
            if (!(pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            for (int i = 0; i < MAXC; i++) {
                conn_t *c = conns[i];
                if (!c || c->fd != pfd[k].fd)
                    continue;
                ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
                if (r > 0)
                    c->len += (size_t)r;
                if (r <= 0 || serve(c) < 0) {
                    close(c->fd);
                    free(c);
                    conns[i] = NULL;
                }
                break;
            }
        }
    }
    for (int i = 0; i < MAXC; i++)
        if (conns[i]) {
            close(conns[i]->fd);
            free(conns[i]);
            conns[i] = NULL;
        }
    return NULL;
}

static int start_server(int *port)
{
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(listen_fd, 128) < 0 || getsockname(listen_fd, (struct sockaddr *)&a, &al) < 0)
        return -1;
    *port = ntohs(a.sin_port);
    return 0;
}

/* --- the benchmark ------------------------------------------------------ */

static const char SQL_FILL[] =
    "WITH m AS (INSERT INTO messages (id, source_event_id, account_id, channel, type, ref_id,"
    " address, language, vars, status, due_at, caused_by)"
    " SELECT gen_random_uuid()::text, $1 || g, 'acct-' || (g % 1000), $2, 'invoice_issued',"
    " 'INV-' || g, $3, 'en', $4, 'pending', now(), 'bench' FROM generate_series(1, $5::int) g"
    " RETURNING id, channel, due_at, not_before, status) " NTF_SQL_QUEUE("m");

static const char VARS[] =
    "{\"company_name\":\"Billow\",\"customer_name\":\"Bench Customer\",\"account_id\":\"acct-1\","
    "\"invoice_number\":\"INV-2026-000001\",\"issue_date\":\"2026-12-01\",\"due_date\":"
    "\"2026-12-31\",\"period_start\":\"2026-11\",\"period_end\":\"2026-11\",\"currency\":\"CNY\","
    "\"subtotal\":\"100.00\",\"tax_total\":\"6.00\",\"total\":\"106.00\",\"amount_due\":\"106.00\","
    "\"payment_reference\":\"INV-2026-000001\",\"lines\":[{\"description\":\"Hosting\","
    "\"quantity\":\"1\",\"unit\":\"month\",\"unit_price\":\"100.00\",\"amount\":\"100.00\"}]}";

static const char *const SQL_BASE_TABLES[3] = {
    "CREATE TABLE base_messages (id text, source_event_id text, account_id text, channel text,"
    " type text, ref_id text, address text, language text, vars text, status text,"
    " attempts integer, due_at timestamptz, provider_id text, delivered_at timestamptz,"
    " caused_by text, created_at timestamptz, updated_at timestamptz)",
    "CREATE TABLE base_attempts (message_id text, attempt integer, channel text, notifier text,"
    " address text, status text, code integer, answer text, provider_id text,"
    " started_at timestamptz, finished_at timestamptz, caused_by text)",
    "CREATE TABLE base_outbox (part integer, event_type text, event_id uuid, payload bytea,"
    " caused_by text, created_at timestamptz)"};

/* CPU seconds used so far by the backend of db (from /proc: the cluster
 * runs on this machine), or -1. Time on this shared machine depends on
 * what else runs; CPU per message much less. */
static double backend_cpu(bw_db_t *db)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", PQbackendPID(bw_db_conn(db)));
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[1024];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* utime and stime are the 12th and 13th fields after the command. */
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of this process (the loop, the recorder, the notifiers). */
static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

typedef struct {
    double self, claims, outcomes;
} cpu_t;

static cpu_t cpu_now(bw_db_t *db, bw_db_t *rdb)
{
    return (cpu_t){self_cpu(), backend_cpu(db), backend_cpu(rdb)};
}

static double copy_cpu; /* CPU seconds of the baseline COPYs' backend, all runs */

/* Seconds to COPY the rows of n deliveries (see the header), or -1. */
static double baseline(bw_db_t *db, long n)
{
    bw_db_exec(db, "DROP TABLE IF EXISTS base_messages, base_attempts, base_outbox", 0, NULL);
    for (int t = 0; t < 3; t++)
        if (bw_db_exec(db, SQL_BASE_TABLES[t], 0, NULL) < 0) {
            fprintf(stderr, "baseline tables: %s\n", bw_db_error(db));
            return -1;
        }
    static const char *const copies[3] = {
        "COPY base_messages FROM STDIN", "COPY base_attempts FROM STDIN",
        "COPY base_outbox FROM STDIN"};
    const char *ts = "2026-12-01 10:00:00+00";
    uint8_t payload[200];
    memset(payload, 0x5a, sizeof payload);
    bw_copybuf_t cb[3];
    for (int t = 0; t < 3; t++)
        bw_copybuf_init(&cb[t]);
    double t0 = now_s(), c0 = backend_cpu(db);
    int rc = 0;
    for (long done = 0; done < n && rc == 0;) {
        long k = n - done < 1000 ? n - done : 1000;
        for (int t = 0; t < 3; t++)
            bw_copybuf_reset(&cb[t]);
        for (long i = done; i < done + k; i++) {
            char id[64], ev[48], acct[48], ref[48];
            snprintf(id, sizeof id, "00000000-0000-4000-8000-%012ld", i);
            snprintf(ev, sizeof ev, "base-%ld", i);
            snprintf(acct, sizeof acct, "acct-%ld", i % 1000);
            snprintf(ref, sizeof ref, "INV-%ld", i);
            const char *m[] = {id, ev, acct, "email", "invoice_issued", ref, "bench@example.com",
                               "en", VARS, "delivered"};
            for (size_t c = 0; c < sizeof m / sizeof *m; c++)
                bw_copybuf_str(&cb[0], m[c]);
            bw_copybuf_int(&cb[0], 1);
            const char *m2[] = {ts, "file-1", ts, ev, ts, ts};
            for (size_t c = 0; c < sizeof m2 / sizeof *m2; c++)
                bw_copybuf_str(&cb[0], m2[c]);
            bw_copybuf_end(&cb[0]);
            const char *a[] = {id, "1", "email", "file", "bench@example.com", "ok", "0",
                               "appended to email.jsonl", "file-1", ts, ts, ev};
            for (size_t c = 0; c < sizeof a / sizeof *a; c++)
                bw_copybuf_str(&cb[1], a[c]);
            bw_copybuf_end(&cb[1]);
            bw_copybuf_int(&cb[2], i % 64);
            bw_copybuf_str(&cb[2], "NoticeDelivered");
            bw_copybuf_str(&cb[2], id);
            bw_copybuf_bytea(&cb[2], payload, sizeof payload);
            bw_copybuf_str(&cb[2], id);
            bw_copybuf_str(&cb[2], ts);
            bw_copybuf_end(&cb[2]);
        }
        rc = bw_db_begin(db);
        for (int t = 0; t < 3 && rc == 0; t++)
            if (cb[t].failed || bw_db_copy_begin(db, copies[t]) < 0 ||
                bw_db_copy_put(db, cb[t].data, cb[t].len) < 0 || bw_db_copy_end(db) < 0)
                rc = -1;
        if (rc == 0)
            rc = bw_db_commit(db);
        else
            bw_db_rollback(db);
        done += k;
    }
    double secs = now_s() - t0;
    if (c0 >= 0)
        copy_cpu += backend_cpu(db) - c0;
    for (int t = 0; t < 3; t++)
        bw_copybuf_free(&cb[t]);
    if (rc < 0)
        fprintf(stderr, "baseline failed: %s\n", bw_db_error(db));
    return rc < 0 ? -1 : secs;
}

static long copy_n; /* messages the baseline was measured for */
static cpu_t file_cpu, hook_cpu; /* used during each run */
static long file_done, hook_done;
static double file_secs, hook_secs;

/* Prints the human line and the RESULT line of one run. */
static void report(const char *name, long done, long n, double secs, double copy_secs,
                   const cpu_t *cpu)
{
    /* The COPY baseline was measured for the file run's size: scale it. */
    double base = copy_secs > 0 ? copy_secs * (double)n / (double)copy_n : -1;
    printf("%s: %ld of %ld messages delivered in %.2f s: %.0f messages/s", name, done, n, secs,
           done / secs);
    if (base > 0)
        printf("; raw COPY of the same rows %.2f s (%.0f messages/s); %.2fx COPY time", base,
               n / base, secs / base);
    printf("\n");
    if (done > 0 && cpu->claims >= 0 && cpu->outcomes >= 0)
        printf("  CPU per message: %.1f us in this process, %.1f us in the loop's backend, %.1f us"
               " in the recorder's\n",
               cpu->self * 1e6 / (double)done, cpu->claims * 1e6 / (double)done,
               cpu->outcomes * 1e6 / (double)done);
    printf("RESULT {\"bench\":\"%s\",\"messages\":%ld,\"seconds\":%.3f,\"messages_per_s\":%.0f",
           name, done, secs, done / secs);
    if (base > 0)
        printf(",\"copy_seconds\":%.3f,\"copy_rows_per_s\":%.0f,\"ratio_to_copy\":%.2f", base,
               n / base, secs / base);
    printf("}\n");
    fflush(stdout);
}

/* --- message creation: InvoiceIssued events through the consumer's apply */

static const char SQL_CONTACTS[] =
    "INSERT INTO contacts (account_id, name, email, caused_by) SELECT 'acct-' || g,"
    " 'Customer ' || g, 'c' || g || '@example.com', 'bench' FROM generate_series(0, 999) g"
    " ON CONFLICT DO NOTHING";

/* n InvoiceIssued events for 1000 accounts that have contacts, packed as a
 * stream would deliver them; NULL when out of memory. */
static Billow__StreamEvent **invoice_events(long n)
{
    Billow__StreamEvent **evs = calloc((size_t)n, sizeof *evs);
    if (!evs)
        return NULL;
    for (long i = 0; i < n; i++) {
        char num[32], acct[32], id[37];
        snprintf(num, sizeof num, "INV-C-%06ld", i);
        snprintf(acct, sizeof acct, "acct-%ld", i % 1000);
        bw_uuid(id);
        Billow__InvoiceLine line = BILLOW__INVOICE_LINE__INIT;
        line.fee_item = "hosting";
        line.description = "Hosting";
        line.quantity = "1";
        line.unit_price = "100.00";
        line.amount_minor = 10000;
        line.tax_category = "standard";
        line.tax_minor = 600;
        Billow__InvoiceLine *lines[1] = {&line};
        Billow__InvoiceIssued inv = BILLOW__INVOICE_ISSUED__INIT;
        inv.invoice_number = num;
        inv.account_id = acct;
        inv.account_name = "Bench Customer";
        inv.period = "2026-11";
        inv.currency = "CNY";
        inv.subtotal_minor = 10000;
        inv.tax_minor = 600;
        inv.total_minor = 10600;
        inv.issue_date = "2026-12-01";
        inv.due_date = "2026-12-31";
        inv.language = "en";
        inv.n_lines = 1;
        inv.lines = lines;
        Billow__Event ev = BILLOW__EVENT__INIT;
        ev.body_case = BILLOW__EVENT__BODY_INVOICE_ISSUED;
        ev.invoice_issued = &inv;
        Billow__StreamEvent *se = calloc(1, sizeof *se);
        size_t len = billow__event__get_packed_size(&ev);
        uint8_t *buf = malloc(len ? len : 1);
        char *eid = strdup(id);
        if (!se || !buf || !eid) {
            free(se);
            free(buf);
            free(eid);
            break;
        }
        billow__stream_event__init(se);
        billow__event__pack(&ev, buf);
        se->seq = i + 1;
        se->type = "InvoiceIssued";
        se->event_id = eid;
        se->payload.data = buf;
        se->payload.len = len;
        evs[i] = se;
    }
    for (long i = 0; i < n; i++)
        if (!evs[i]) {
            for (long k = 0; k < i; k++) {
                free(evs[k]->payload.data);
                free(evs[k]->event_id);
                free(evs[k]);
            }
            free(evs);
            return NULL;
        }
    return evs;
}

/* Messages/s created from n InvoiceIssued events, applied 1000 per
 * transaction as the consumer does; prints its lines. -1 on failure. */
static int create_run(bw_db_t *db, bw_db_t *rdb, long n)
{
    Billow__StreamEvent **evs = invoice_events(n);
    bw_arena_t *arena = bw_arena_new();
    ntf_messages_opts_t mo;
    ntf_messages_opts_from_env(&mo);
    int rc = evs && arena && bw_db_exec(db, SQL_CONTACTS, 0, NULL) == 0 ? 0 : -1;
    cpu_t c0 = cpu_now(db, rdb);
    double t0 = now_s();
    for (long done = 0; done < n && rc == 0; done += 1000) {
        size_t k = n - done < 1000 ? (size_t)(n - done) : 1000;
        rc = bw_db_begin(db);
        if (rc == 0 && ntf_messages_apply(&mo, db, evs + done, k, arena) < 0)
            rc = -1;
        if (rc == 0)
            rc = bw_db_commit(db);
        else
            bw_db_rollback(db);
        bw_arena_reset(arena);
    }
    double secs = now_s() - t0;
    cpu_t c1 = cpu_now(db, rdb);
    PGresult *res = rc == 0 ? bw_db_query(db,
                                          "SELECT count(*) FROM messages WHERE ref_id LIKE"
                                          " 'INV-C-%'",
                                          0, NULL)
                            : NULL;
    long made = res && PQntuples(res) == 1 ? atol(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    if (rc < 0)
        fprintf(stderr, "creation failed: %s\n", bw_db_error(db));
    printf("notify_create: %ld messages from %ld InvoiceIssued in %.2f s: %.0f messages/s\n",
           made, n, secs, made / secs);
    if (made > 0 && c0.claims >= 0)
        printf("  CPU per message: %.1f us in this process, %.1f us in its backend\n",
               (c1.self - c0.self) * 1e6 / (double)made,
               (c1.claims - c0.claims) * 1e6 / (double)made);
    printf("RESULT {\"bench\":\"notify_create\",\"messages\":%ld,\"seconds\":%.3f,"
           "\"messages_per_s\":%.0f}\n",
           made, secs, made / secs);
    fflush(stdout);
    for (long i = 0; evs && i < n; i++) {
        free(evs[i]->payload.data);
        free(evs[i]->event_id);
        free(evs[i]);
    }
    free(evs);
    bw_arena_destroy(&arena);
    return rc == 0 && made == n ? 0 : -1;
}

typedef struct {
    ntf_delivery_t *d;
    uint64_t target;
    double deadline;
} run_t;

static void check_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    run_t *r = w->data;
    ntf_delivery_stats_t st;
    ntf_delivery_stats(r->d, &st);
    if (st.delivered + st.dead + st.failed_over >= r->target || now_s() > r->deadline)
        ev_break(loop, EVBREAK_ALL);
}

static int run(struct ev_loop *loop, bw_db_t *db, bw_db_t *rdb, ntf_delivery_t *d,
               const char *name, const char *channel, const char *address, long n)
{
    char ns[24], prefix[32];
    snprintf(ns, sizeof ns, "%ld", n);
    snprintf(prefix, sizeof prefix, "%s-", name);
    const char *p[5] = {prefix, channel, address, VARS, ns};
    if (bw_db_exec(db, SQL_FILL, 5, p) < 0) {
        fprintf(stderr, "fill failed: %s\n", bw_db_error(db));
        return -1;
    }
    ntf_delivery_stats_t before;
    ntf_delivery_stats(d, &before);
    run_t r = {.d = d, .target = before.delivered + before.dead + before.failed_over + (uint64_t)n,
               .deadline = now_s() + 40};
    ev_timer check;
    ev_timer_init(&check, check_cb, 0.005, 0.005);
    check.data = &r;
    ev_timer_start(loop, &check);
    ntf_delivery_kick(d);
    cpu_t c0 = cpu_now(db, rdb);
    double t0 = now_s();
    ev_run(loop, 0);
    double secs = now_s() - t0;
    cpu_t c1 = cpu_now(db, rdb);
    cpu_t used = {c1.self - c0.self, c0.claims < 0 ? -1 : c1.claims - c0.claims,
                  c0.outcomes < 0 ? -1 : c1.outcomes - c0.outcomes};
    ev_timer_stop(loop, &check);
    ntf_delivery_stats_t st;
    ntf_delivery_stats(d, &st);
    long done = (long)(st.delivered - before.delivered);
    if (strcmp(name, "notify_file") == 0) {
        file_done = done;
        file_secs = secs;
        file_cpu = used;
    } else {
        hook_done = done;
        hook_secs = secs;
        hook_cpu = used;
    }
    fflush(stdout);
    return done == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    bw_log_init("notify_bench");
    bw_log_set_level(BW_WARN);
    long nfile = argc > 1 ? atol(argv[1]) : 50000, nhook = argc > 2 ? atol(argv[2]) : 5000;
    const char *conninfo = getenv("BW_PG_ADMIN");
    if (!conninfo || nfile < 1 || nhook < 1) {
        fprintf(stderr, "usage: notify_bench [FILE_N [WEBHOOK_N]] (BW_PG_ADMIN: database)\n");
        return 2;
    }
    char dir[] = "/tmp/notify-bench.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    int port;
    if (start_server(&port) < 0) {
        perror("listen");
        return 1;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
    setenv("BILLOW_NOTIFIER_FILE_DIR", dir, 1);
    setenv("BILLOW_NOTIFIER_WEBHOOK_SECRET", "bench-secret-0123456789", 1);
    pthread_t th;
    pthread_create(&th, NULL, server_main, NULL);

    int rc = 1;
    bw_db_t *db = bw_db_new(conninfo, NULL, "bench_notify");
    bw_db_t *rdb = bw_db_new(conninfo, NULL, "bench_notify");
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    ntf_templates_t *tpl = NULL;
    ntf_registry_t *reg = NULL;
    ntf_delivery_t *d = NULL;
    char err[4096];
    if (!db || !rdb || bw_db_connect(db, 10000) < 0 || bw_db_connect(rdb, 10000) < 0)
        goto out;
    bw_db_exec(db, "DROP SCHEMA IF EXISTS bench_notify CASCADE", 0, NULL);
    bw_db_exec(db, "CREATE SCHEMA bench_notify", 0, NULL);
    if (bw_migrate(db, "notification", bw_migrations_notification, NULL) < 0) {
        fprintf(stderr, "migrate: %s\n", bw_db_error(db));
        goto out;
    }
    if (ntf_templates_load("services/notification/templates", &tpl, err, sizeof err) < 0) {
        fprintf(stderr, "templates: %s\n", err);
        goto out;
    }
    reg = ntf_registry_new(loop);
    ntf_delivery_opts_t o;
    if (!reg || ntf_delivery_opts_from_env(&o) < 0)
        goto out;
    o.notifier[NTF_CH_EMAIL] = "file";
    o.notifier[NTF_CH_SMS] = "file";
    o.notifier[NTF_CH_WEBHOOK] = "webhook";
    o.concurrency[NTF_CH_EMAIL] = 2000;
    o.concurrency[NTF_CH_WEBHOOK] = 128;
    o.batch = 1000;
    d = ntf_delivery_new(loop, db, rdb, reg, tpl, &o, err, sizeof err);
    if (!d || ntf_delivery_start(d) < 0) {
        fprintf(stderr, "delivery: %s\n", d ? "start failed" : err);
        goto out;
    }
    copy_n = nfile;
    double copy_before = baseline(db, nfile);
    rc = 0;
    if (run(loop, db, rdb, d, "notify_file", "email", "bench@example.com", nfile) < 0)
        rc = 1;
    double copy_after = baseline(db, nfile);
    double copy_secs = copy_before > 0 && copy_after > 0 ? (copy_before + copy_after) / 2 : -1;
    printf("raw COPY baseline: %.2f s before, %.2f s after the file run; CPU per message %.1f us"
           " in its backend\n",
           copy_before, copy_after, copy_cpu * 1e6 / (2.0 * (double)nfile));
    report("notify_file", file_done, nfile, file_secs, copy_secs, &file_cpu);
    if (run(loop, db, rdb, d, "notify_webhook", "webhook", url, nhook) < 0)
        rc = 1;
    report("notify_webhook", hook_done, nhook, hook_secs, copy_secs, &hook_cpu);
    /* Last: the messages it creates stay queued (the loop no longer runs). */
    if (create_run(db, rdb, nfile) < 0)
        rc = 1;
    /* How many status updates PostgreSQL could do in place (HOT). */
    if (bw_db_exec(db, "SELECT pg_stat_force_next_flush()", 0, NULL) == 0) {
        PGresult *res = bw_db_query(db,
                                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
                                    " WHERE schemaname = current_schema() AND relname = 'messages'",
                                    0, NULL);
        if (res && PQntuples(res) == 1)
            printf("messages: %s row updates, %s of them HOT\n", PQgetvalue(res, 0, 0),
                   PQgetvalue(res, 0, 1));
        PQclear(res);
    }
out:
    ntf_delivery_destroy(&d);
    ntf_registry_destroy(&reg);
    ntf_templates_destroy(&tpl);
    if (db)
        bw_db_exec(db, "DROP SCHEMA IF EXISTS bench_notify CASCADE", 0, NULL);
    bw_db_destroy(&db);
    bw_db_destroy(&rdb);
    if (loop)
        ev_loop_destroy(loop);
    stop_server = 1;
    pthread_join(th, NULL);
    close(listen_fd);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
