/* The notification service's entry point: tells customers what they must
 * hear about (invoices, reminders, payments, credit notes, fee changes,
 * replies) over pluggable channels and records delivery and acknowledgement.
 * Every process consumes the invoicing, rating and feedback streams and
 * creates notifications; the API process (not --worker) also delivers them.
 * This file only wires modules together (STYLE.md 2). */
#include "config.h"
#include "db.h"
#include "log.h"
#include "service.h"

#include "notification/api.h"
#include "notification/delivery.h"
#include "notification/messages.h"
#include "notification/notifier_registry.h"
#include "notification/template.h"

#include <stdio.h>

extern const bw_migration_t bw_migrations_notification[];

static struct {
    ntf_templates_t *templates;
    ntf_registry_t *registry;
    ntf_messages_opts_t messages;
    ntf_api_ctx_t api;
    bw_db_t *rdb; /* delivery's second connection: outcomes are written on it */
} g;

/* The event types ntf_messages_apply acts on, whichever stream they come
 * from: only these are fetched, so a type its switch gains must be added
 * here too (tests/integration/test_type_lists.sh compares them). */
static const char *const wanted[] = {"AccountChanged",       "InvoiceIssued",  "PaymentReceived",
                                     "PaymentReminderDue",   "InvoiceOverdue", "CreditNoteIssued",
                                     "PriceChangeAnnounced", "ReplyRequested", NULL};

/* Another connection like the service's own (same role and schema). */
static bw_db_t *connect_again(bw_service_t *svc)
{
    bw_db_t *db = bw_db_new_like(bw_service_db(svc));
    long long wait_s;
    if (!db || bw_env_int("BILLOW_DB_WAIT_S", 30, 0, 3600, &wait_s) < 0 ||
        bw_db_connect(db, (int)wait_s * 1000) < 0)
        bw_db_destroy(&db);
    return db;
}

static int init(bw_service_t *svc)
{
    static char err[8192];
    const char *dir = bw_env_str("BILLOW_TEMPLATE_DIR", "services/notification/templates");
    if (ntf_templates_load(dir, &g.templates, err, sizeof err) < 0) {
        bw_log(BW_ERROR, "cannot load templates", "dir", BW_S(dir), "error", BW_S(err), NULL);
        return -1;
    }
    ntf_messages_opts_from_env(&g.messages);
    if (!bw_service_is_worker(svc)) {
        ntf_delivery_opts_t o;
        if (ntf_delivery_opts_from_env(&o) < 0)
            return -1;
        g.registry = ntf_registry_new(bw_service_loop(svc));
        if (!g.registry) {
            bw_log(BW_ERROR, "cannot set up notifiers", NULL);
            return -1;
        }
        if (ntf_registry_load_env(g.registry, err, sizeof err) < 0) {
            bw_log(BW_ERROR, "cannot load notifier plugins", "error", BW_S(err), NULL);
            return -1;
        }
        g.rdb = connect_again(svc);
        if (!g.rdb) {
            bw_log(BW_ERROR, "cannot open the delivery connection", NULL);
            return -1;
        }
        g.api.delivery = ntf_delivery_new(bw_service_loop(svc), bw_service_db(svc), g.rdb,
                                          g.registry, g.templates, &o, err, sizeof err);
        if (!g.api.delivery) {
            bw_log(BW_ERROR, "cannot set up delivery", "error", BW_S(err), NULL);
            return -1;
        }
        if (ntf_delivery_start(g.api.delivery) < 0)
            return -1;
        g.messages.kick = ntf_delivery_kick;
        g.messages.kick_arg = g.api.delivery;
    }
    bw_service_set_data(svc, &g.api);
    int rc = 0;
    rc = rc ? rc : bw_service_consume(svc, "invoicing", ntf_messages_apply, &g.messages, wanted);
    rc = rc ? rc : bw_service_consume(svc, "rating", ntf_messages_apply, &g.messages, wanted);
    rc = rc ? rc : bw_service_consume(svc, "feedback", ntf_messages_apply, &g.messages, wanted);
    return rc;
}

static void fini(bw_service_t *svc)
{
    (void)svc;
    ntf_delivery_destroy(&g.api.delivery);
    bw_db_destroy(&g.rdb);
    ntf_registry_destroy(&g.registry);
    ntf_templates_destroy(&g.templates);
}

int main(int argc, char **argv)
{
    static const bw_service_def_t def = {
        .name = "notification",
        .migrations = bw_migrations_notification,
        .init = init,
        .fini = fini,
        .handle = ntf_api_handle,
    };
    return bw_service_main(&def, argc, argv);
}
