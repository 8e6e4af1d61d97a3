/* Stands in for the rating service in invoicing tests: appends one
 * AccountRated per account ACC-000001..ACC-<N> to its own outbox (schema
 * fake_rating), in batches, then serves them on ENDPOINT until SIGTERM. Every
 * tenth account has nothing to charge; the others get a subscription line
 * (standard tax) and a usage line (services tax) whose amounts depend on the
 * account number, so totals can be checked in SQL.
 *   fake_rating ENDPOINT RUN_ID PERIOD START END N CURRENCY   (BW_PG_ADMIN) */
#include "db.h"
#include "events.pb-c.h"
#include "log.h"
#include "migrate.h"
#include "outbox.h"
#include "stream_server.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: fake_rating ENDPOINT RUN_ID PERIOD START END N CURRENCY\n");
        return 2;
    }
    bw_log_init("fake_rating");
    const char *conninfo = getenv("BW_PG_ADMIN");
    bw_db_t *db = bw_db_new(conninfo ? conninfo : "", NULL, "fake_rating");
    bw_db_t *sdb = bw_db_new(conninfo ? conninfo : "", NULL, "fake_rating");
    if (bw_db_connect(db, 5000) < 0 || bw_db_connect(sdb, 5000) < 0)
        return 1;
    bw_db_exec(db, "CREATE SCHEMA IF NOT EXISTS fake_rating", 0, NULL);
    if (bw_migrate(db, "fake_rating", NULL, NULL) < 0)
        return 1;
    int n = atoi(argv[6]);
    for (int base = 1; base <= n; base += 500) {
        bw_outbox_event_t evs[500];
        uint8_t *bufs[500];
        char ids[500][24];
        int k = 0;
        for (int i = base; i < base + 500 && i <= n; i++, k++) {
            Billow__AccountRated ar = BILLOW__ACCOUNT_RATED__INIT;
            Billow__RatedLine l1 = BILLOW__RATED_LINE__INIT, l2 = BILLOW__RATED_LINE__INIT;
            Billow__RatedLine *lines[2] = {&l1, &l2};
            snprintf(ids[k], sizeof ids[k], "ACC-%06d", i);
            ar.run_id = argv[2];
            ar.account_id = ids[k];
            ar.period = argv[3];
            ar.period_start = argv[4];
            ar.period_end = argv[5];
            ar.currency = argv[7];
            ar.language = "en";
            l1.fee_item = "PLAN";
            l1.description = "Monthly plan";
            l1.kind = "charge";
            l1.quantity = "1";
            l1.unit_price = "99.00";
            l1.amount_minor = 9900;
            l1.tax_category = "standard";
            l1.period_start = argv[4];
            l1.period_end = argv[5];
            l2.fee_item = "API";
            l2.description = "API calls";
            l2.kind = "charge";
            l2.quantity = "1234";
            l2.unit_price = "0.01";
            l2.amount_minor = 1234 + i % 100;
            l2.tax_category = "services";
            l2.period_start = argv[4];
            l2.period_end = argv[5];
            if (i % 10 != 0) {
                ar.n_lines = 2;
                ar.lines = lines;
                ar.total_minor = l1.amount_minor + l2.amount_minor;
            }
            Billow__Event ev = BILLOW__EVENT__INIT;
            ev.body_case = BILLOW__EVENT__BODY_ACCOUNT_RATED;
            ev.account_rated = &ar;
            size_t len = billow__event__get_packed_size(&ev);
            bufs[k] = malloc(len);
            billow__event__pack(&ev, bufs[k]);
            evs[k] = (bw_outbox_event_t){.type = "AccountRated", .partition_key = ids[k],
                                         .payload = bufs[k], .len = len};
        }
        bw_db_begin(db);
        if (bw_outbox_append(db, evs, (size_t)k) < 0 || bw_db_commit(db) < 0) {
            fprintf(stderr, "append failed: %s\n", bw_db_error(db));
            return 1;
        }
        for (int i = 0; i < k; i++)
            free(bufs[i]);
    }
    fprintf(stderr, "emitted %d AccountRated\n", n);
    struct ev_loop *loop = ev_default_loop(0);
    void *z = zmq_ctx_new();
    bw_stream_server_t *s = bw_stream_server_new(loop, z, argv[1], sdb);
    if (!s)
        return 1;
    ev_signal term;
    ev_signal_init(&term, sig_cb, SIGTERM);
    ev_signal_start(loop, &term);
    ev_run(loop, 0);
    ev_signal_stop(loop, &term);
    bw_stream_server_destroy(&s);
    zmq_ctx_term(z);
    ev_loop_destroy(loop);
    bw_db_destroy(&db);
    bw_db_destroy(&sdb);
    return 0;
}
