/* Helper for tests/integration/test_notification.sh: creates accounts
 * through invoicing's API (so AccountChanged flows as in production) and
 * injects InvoiceIssued / PriceChangeAnnounced events into the producers'
 * outboxes (BW_PG_ADMIN, schemas "invoicing" and "rating"), as the real
 * producers would write them.
 *
 *   notif_helper account ID [--email E] [--phone P] [--webhook URL] [--language L]
 *   notif_helper invoice ACCOUNT NUMBER [COUNT]   (COUNT > 1: NUMBER-1 .. NUMBER-COUNT)
 *   notif_helper price ACCOUNT CHANGE_ID EFFECTIVE_DATE [REMINDER_DAYS...]
 */
#include "api.pb-c.h"
#include "config.h"
#include "db.h"
#include "errors.h"
#include "events.pb-c.h"
#include "log.h"
#include "outbox.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static int account(int argc, char **argv)
{
    if (argc < 1)
        return 2;
    Billow__AccountChanged ac = BILLOW__ACCOUNT_CHANGED__INIT;
    ac.account_id = argv[0];
    ac.name = "Test Customer";
    ac.currency = "CNY";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--email"))
            ac.email = argv[i + 1];
        else if (!strcmp(argv[i], "--phone"))
            ac.phone = argv[i + 1];
        else if (!strcmp(argv[i], "--webhook"))
            ac.webhook_url = argv[i + 1];
        else if (!strcmp(argv[i], "--language"))
            ac.language = argv[i + 1];
        else
            return 2;
    }
    Billow__AccountUpsert up = BILLOW__ACCOUNT_UPSERT__INIT;
    up.account = &ac;
    Billow__InvoicingRequest ir = BILLOW__INVOICING_REQUEST__INIT;
    ir.op_case = BILLOW__INVOICING_REQUEST__OP_ACCOUNT_UPSERT;
    ir.account_upsert = &up;
    Billow__Request req = BILLOW__REQUEST__INIT;
    req.id = 1;
    req.body_case = BILLOW__REQUEST__BODY_INVOICING;
    req.invoicing = &ir;
    char ep[256];
    bw_endpoint("invoicing", "api", 0, ep, sizeof ep);
    void *z = zmq_ctx_new();
    Billow__Reply *rep = NULL;
    int rc = bw_rpc_call(z, ep, &req, 5000, &rep);
    int out = 1;
    if (rc < 0)
        fprintf(stderr, "invoicing: %s\n", bw_strerror(rc));
    else if (rep->code != BILLOW__CODE__OK)
        fprintf(stderr, "invoicing: %s %s\n", rep->error, rep->detail);
    else
        out = 0;
    if (rep)
        billow__reply__free_unpacked(rep, NULL);
    zmq_ctx_term(z);
    return out;
}

static bw_db_t *admin_db(const char *schema)
{
    const char *url = getenv("BW_PG_ADMIN");
    if (!url) {
        fprintf(stderr, "BW_PG_ADMIN is not set\n");
        return NULL;
    }
    bw_db_t *db = bw_db_new(url, NULL, schema);
    if (db && bw_db_connect(db, 5000) < 0)
        bw_db_destroy(&db);
    return db;
}

static int invoice(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int count = argc > 2 ? atoi(argv[2]) : 1;
    bw_db_t *db = admin_db("invoicing");
    if (!db || bw_db_begin(db) < 0)
        return 1;
    for (int i = 1; i <= count; i++) {
        char number[128], html[256];
        if (count > 1)
            snprintf(number, sizeof number, "%s-%d", argv[1], i);
        else
            snprintf(number, sizeof number, "%s", argv[1]);
        snprintf(html, sizeof html, "<html><body><h1>Invoice %s</h1></body></html>", number);
        Billow__InvoiceLine line = BILLOW__INVOICE_LINE__INIT, *lines[1] = {&line};
        line.fee_item = "hosting";
        line.description = "Hosting, November";
        line.quantity = "1";
        line.unit_price = "100.00";
        line.amount_minor = 10000;
        line.tax_category = "standard";
        line.tax_minor = 600;
        Billow__InvoiceIssued ii = BILLOW__INVOICE_ISSUED__INIT;
        ii.invoice_number = number;
        ii.account_id = argv[0];
        ii.account_name = "Test Customer";
        ii.period = "2026-11";
        ii.currency = "CNY";
        ii.subtotal_minor = 10000;
        ii.tax_minor = 600;
        ii.total_minor = 10600;
        ii.issue_date = "2026-12-01";
        ii.due_date = "2026-12-31";
        ii.language = "en";
        ii.lines = lines;
        ii.n_lines = 1;
        ii.html = html;
        ii.payment_instructions = "Bank transfer to Billow Ltd, quote the invoice number";
        Billow__Event ev = BILLOW__EVENT__INIT;
        ev.body_case = BILLOW__EVENT__BODY_INVOICE_ISSUED;
        ev.invoice_issued = &ii;
        if (bw_outbox_emit(db, &ev, argv[0], "test") < 0) {
            fprintf(stderr, "emit: %s\n", bw_db_error(db));
            bw_db_rollback(db);
            bw_db_destroy(&db);
            return 1;
        }
    }
    int rc = bw_db_commit(db) < 0;
    bw_db_destroy(&db);
    return rc;
}

static int price(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    int32_t days[16];
    size_t nd = 0;
    for (int i = 3; i < argc && nd < 16; i++)
        days[nd++] = atoi(argv[i]);
    Billow__PriceItemChange it = BILLOW__PRICE_ITEM_CHANGE__INIT, *items[1] = {&it};
    it.fee_item = "hosting";
    it.old_price = "100";
    it.new_price = "120";
    it.unit = "month";
    Billow__PriceChangeAnnounced pc = BILLOW__PRICE_CHANGE_ANNOUNCED__INIT;
    pc.change_id = argv[1];
    pc.account_id = argv[0];
    pc.reason = "higher energy costs";
    pc.value = "twice the storage";
    pc.scope = "Hosting plan";
    pc.effective_date = argv[2];
    pc.transition = "30 days at the old price";
    pc.min_notice_days = 30;
    pc.currency = "CNY";
    pc.old_amount_minor = 10000;
    pc.new_amount_minor = 12000;
    pc.diff_minor = 2000;
    pc.diff_percent = "20";
    pc.items = items;
    pc.n_items = 1;
    pc.language = "en";
    pc.reminder_days = days;
    pc.n_reminder_days = nd;
    Billow__Event ev = BILLOW__EVENT__INIT;
    ev.body_case = BILLOW__EVENT__BODY_PRICE_CHANGE_ANNOUNCED;
    ev.price_change_announced = &pc;
    bw_db_t *db = admin_db("rating");
    if (!db || bw_db_begin(db) < 0)
        return 1;
    int rc = bw_outbox_emit(db, &ev, argv[0], "test") < 0 || bw_db_commit(db) < 0;
    bw_db_destroy(&db);
    return rc;
}

int main(int argc, char **argv)
{
    bw_log_init("notif_helper");
    if (argc < 2) {
        fprintf(stderr, "usage: notif_helper account|invoice|price ...\n");
        return 2;
    }
    int rc = 2;
    if (!strcmp(argv[1], "account"))
        rc = account(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "invoice"))
        rc = invoice(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "price"))
        rc = price(argc - 2, argv + 2);
    if (rc == 2)
        fprintf(stderr, "notif_helper: bad arguments\n");
    return rc;
}
