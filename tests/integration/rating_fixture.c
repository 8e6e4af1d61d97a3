/* Helper for test_rating.sh (not a test itself):
 *   rating_fixture accounts ID:CURRENCY:CYCLE:TIER:LANG ...
 *       creates accounts through invoicing's API (AccountUpsert), which
 *       emits the AccountChanged events rating builds its view from;
 *   rating_fixture billrun PERIOD
 *       starts invoicing's bill run for a monthly period (BillRunStarted);
 *   rating_fixture rated [AFTER_SEQ]
 *       decodes the AccountRated events in rating's outbox (BW_PG_ADMIN) and
 *       prints one line per event and one per rated line, for the script to
 *       compare with hand-computed amounts. */
#include "config.h"
#include "db.h"
#include "errors.h"
#include "events.pb-c.h"
#include "log.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static int accounts(int argc, char **argv)
{
    char ep[256];
    if (bw_endpoint("invoicing", "api", 0, ep, sizeof ep) < 0)
        return 2;
    void *z = zmq_ctx_new();
    int status = 0;
    for (int i = 0; i < argc; i++) {
        char *spec = strdup(argv[i]), *save = NULL;
        char *f[5] = {0};
        int n = 0;
        for (char *t = strtok_r(spec, ":", &save); t && n < 5; t = strtok_r(NULL, ":", &save))
            f[n++] = t;
        if (n != 5) {
            fprintf(stderr, "bad account spec %s (ID:CURRENCY:CYCLE:TIER:LANG)\n", argv[i]);
            free(spec);
            status = 2;
            continue;
        }
        Billow__AccountChanged ac = BILLOW__ACCOUNT_CHANGED__INIT;
        ac.account_id = f[0];
        ac.name = f[0];
        ac.currency = f[1];
        ac.cycle = f[2];
        ac.tier = f[3];
        ac.language = f[4];
        ac.email = "billing@example.com";
        Billow__AccountUpsert up = BILLOW__ACCOUNT_UPSERT__INIT;
        up.account = &ac;
        Billow__InvoicingRequest ir = BILLOW__INVOICING_REQUEST__INIT;
        ir.op_case = BILLOW__INVOICING_REQUEST__OP_ACCOUNT_UPSERT;
        ir.account_upsert = &up;
        Billow__Request req = BILLOW__REQUEST__INIT;
        req.body_case = BILLOW__REQUEST__BODY_INVOICING;
        req.invoicing = &ir;
        Billow__Reply *reply = NULL;
        int rc = bw_rpc_call(z, ep, &req, 5000, &reply);
        if (rc < 0 || reply->code != BILLOW__CODE__OK) {
            fprintf(stderr, "account %s: %s %s\n", f[0], rc < 0 ? bw_strerror(rc) : reply->error,
                    rc < 0 ? "" : reply->detail);
            status = 1;
        }
        if (reply)
            billow__reply__free_unpacked(reply, NULL);
        free(spec);
    }
    zmq_ctx_term(z);
    return status;
}

static int billrun(const char *period)
{
    char ep[256];
    if (bw_endpoint("invoicing", "api", 0, ep, sizeof ep) < 0)
        return 2;
    void *z = zmq_ctx_new();
    Billow__BillRunStart bs = BILLOW__BILL_RUN_START__INIT;
    bs.period = (char *)period;
    bs.cycle = "monthly";
    Billow__InvoicingRequest ir = BILLOW__INVOICING_REQUEST__INIT;
    ir.op_case = BILLOW__INVOICING_REQUEST__OP_BILL_RUN_START;
    ir.bill_run_start = &bs;
    Billow__Request req = BILLOW__REQUEST__INIT;
    req.body_case = BILLOW__REQUEST__BODY_INVOICING;
    req.invoicing = &ir;
    Billow__Reply *reply = NULL;
    int rc = bw_rpc_call(z, ep, &req, 5000, &reply);
    int status = 0;
    if (rc < 0 || reply->code != BILLOW__CODE__OK) {
        fprintf(stderr, "bill run: %s %s\n", rc < 0 ? bw_strerror(rc) : reply->error,
                rc < 0 ? "" : reply->detail);
        status = 1;
    }
    if (reply)
        billow__reply__free_unpacked(reply, NULL);
    zmq_ctx_term(z);
    return status;
}

static int rated(const char *after)
{
    const char *conninfo = getenv("BW_PG_ADMIN");
    if (!conninfo)
        return 2;
    bw_db_t *db = bw_db_new(conninfo, NULL, "rating");
    if (bw_db_connect(db, 5000) < 0) {
        bw_db_destroy(&db);
        return 1;
    }
    const char *p[1] = {after ? after : "0"};
    PGresult *res = bw_db_query_bin(
        db, "SELECT payload FROM outbox WHERE event_type = 'AccountRated' AND seq > $1::bigint"
            " ORDER BY seq", 1, p);
    if (!res) {
        fprintf(stderr, "%s\n", bw_db_error(db));
        bw_db_destroy(&db);
        return 1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        Billow__Event *ev = billow__event__unpack(NULL, (size_t)PQgetlength(res, r, 0),
                                                  (const uint8_t *)PQgetvalue(res, r, 0));
        if (!ev || ev->body_case != BILLOW__EVENT__BODY_ACCOUNT_RATED) {
            printf("undecodable\n");
            if (ev)
                billow__event__free_unpacked(ev, NULL);
            continue;
        }
        const Billow__AccountRated *ar = ev->account_rated;
        printf("rated %s %s %s %s run=%s lines=%zu total=%lld\n", ar->account_id, ar->period,
               ar->currency, ar->language, ar->run_id, ar->n_lines, (long long)ar->total_minor);
        for (size_t i = 0; i < ar->n_lines; i++) {
            const Billow__RatedLine *l = ar->lines[i];
            printf("line %s %s %s qty=%s price=%s amount=%lld tiers=%zu pv=%s %s|%s\n", ar->account_id,
                   l->kind, *l->fee_item ? l->fee_item : "-", l->quantity, l->unit_price,
                   (long long)l->amount_minor, l->n_tiers, l->price_version, l->period_start,
                   l->description);
        }
        billow__event__free_unpacked(ev, NULL);
    }
    PQclear(res);
    bw_db_destroy(&db);
    return 0;
}

int main(int argc, char **argv)
{
    bw_log_init("rating_fixture");
    bw_log_set_level(BW_ERROR);
    if (argc >= 2 && strcmp(argv[1], "accounts") == 0)
        return accounts(argc - 2, argv + 2);
    if (argc == 3 && strcmp(argv[1], "billrun") == 0)
        return billrun(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "rated") == 0)
        return rated(argc > 2 ? argv[2] : NULL);
    fprintf(stderr, "usage: rating_fixture accounts ID:CUR:CYCLE:TIER:LANG ... | rated [AFTER_SEQ]\n");
    return 2;
}
