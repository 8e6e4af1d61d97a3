/* The feedback service's entry point. Complaints, questions and disputes:
 * tickets, their handling, SLA, surveys, credit requests and analysis.
 * This file only wires modules together (STYLE.md 2). */
#include "feedback/api.h"
#include "feedback/views.h"

#include "service.h"

extern const bw_migration_t bw_migrations_feedback[];

/* The event types each stream's apply function acts on: only these are
 * fetched, so a type its switch gains must be added here too
 * (tests/integration/test_type_lists.sh compares them). */
static const char *const from_invoicing[] = {"AccountChanged", "InvoiceIssued", "CreditNoteIssued",
                                             NULL};
static const char *const from_rating[] = {"PriceChangeAnnounced", NULL};
static const char *const from_notification[] = {"NoticeDelivered", "NotificationFailed", NULL};

static int init(bw_service_t *svc)
{
    int rc = fb_api_init(svc);
    rc = rc ? rc : bw_service_consume(svc, "invoicing", fb_views_from_invoicing, NULL,
                                     from_invoicing);
    rc = rc ? rc : bw_service_consume(svc, "rating", fb_views_from_rating, NULL, from_rating);
    rc = rc ? rc : bw_service_consume(svc, "notification", fb_views_from_notification, NULL,
                                     from_notification);
    return rc;
}

int main(int argc, char **argv)
{
    static const bw_service_def_t def = {
        .name = "feedback",
        .migrations = bw_migrations_feedback,
        .init = init,
        .fini = fb_api_fini,
        .handle = fb_api_handle,
    };
    return bw_service_main(&def, argc, argv);
}
