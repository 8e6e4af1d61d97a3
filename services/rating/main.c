/* The rating service's entry point. Prices what customers used: catalog,
 * subscriptions, usage and period close; emits AccountRated. Invoicing's
 * stream feeds the accounts view and close jobs; notification's and
 * feedback's streams bring back the proof of price-change notices and the
 * objections to them (notice_view.c). This file only wires modules together
 * (STYLE.md 2).
 *
 * `rating --closer` runs only the period close (close.c): no API or stream
 * socket, no consumers. Any number of them, on any host, take slices of a
 * close job beside the API process. */
#include "service.h"

#include "rating/api.h"
#include "rating/catalog_store.h"
#include "rating/close.h"
#include "rating/notice_view.h"
#include "rating/pricechange_api.h"
#include "rating/usage.h"

#include <stdbool.h>
#include <string.h>

extern const bw_migration_t bw_migrations_rating[];

static bool closer;

/* The event types each stream's apply function acts on: only these are
 * fetched, so a type its switch gains must be added here too
 * (tests/integration/test_type_lists.sh compares them). */
static const char *const from_invoicing[] = {"AccountChanged", "BillRunStarted", NULL};
static const char *const from_notification[] = {"NoticeDelivered", "NotificationFailed",
                                                "NoticeAcknowledged", NULL};
static const char *const from_feedback[] = {"FeedbackReceived", "TicketResolved", NULL};

static int init(bw_service_t *svc)
{
    int rc = rt_close_start(bw_service_loop(svc), bw_service_db(svc));
    if (closer)
        return rc;
    if (rc == 0 && !bw_service_is_worker(svc))
        rc = rt_usage_start(bw_service_loop(svc), bw_service_db(svc));
    rc = rc ? rc : bw_service_consume(svc, "invoicing", rt_api_from_invoicing, svc, from_invoicing);
    rc = rc ? rc : bw_service_consume(svc, "notification", rt_notice_from_notification, NULL,
                                     from_notification);
    rc = rc ? rc : bw_service_consume(svc, "feedback", rt_notice_from_feedback, NULL,
                                     from_feedback);
    return rc;
}

static void fini(bw_service_t *svc)
{
    (void)svc;
    rt_close_stop();
    rt_store_clear();
    rt_pc_cache_clear();
    rt_usage_stop();
}

int main(int argc, char **argv)
{
    static const bw_service_def_t def = {
        .name = "rating",
        .migrations = bw_migrations_rating,
        .init = init,
        .fini = fini,
        .handle = rt_api_handle,
    };
    /* --closer is a worker (no sockets) that consumes nothing. */
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--closer") == 0) {
            closer = true;
            argv[i] = "--worker";
        }
    return bw_service_main(&def, argc, argv);
}
