/* The invoicing service's entry point. Billing accounts, bill runs, gap-free invoices, payments and credit notes; emits AccountChanged, BillRunStarted, InvoiceIssued and the payment events.
 * This file only wires modules together (STYLE.md 2). */
#include "events.h"
#include "service.h"

extern const bw_migration_t bw_migrations_invoicing[];

/* Events from rating this service does not act on yet only advance the cursor. */
static int from_rating(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                   bw_arena_t *arena)
{
    (void)arg;
    return bw_events_apply(db, evs, n, arena, NULL, NULL);
}

/* Events from feedback this service does not act on yet only advance the cursor. */
static int from_feedback(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                   bw_arena_t *arena)
{
    (void)arg;
    return bw_events_apply(db, evs, n, arena, NULL, NULL);
}

static int init(bw_service_t *svc)
{
    int rc = 0;
    rc = rc ? rc : bw_service_consume(svc, "rating", from_rating, NULL);
    rc = rc ? rc : bw_service_consume(svc, "feedback", from_feedback, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    static const bw_service_def_t def = {
        .name = "invoicing",
        .migrations = bw_migrations_invoicing,
        .init = init,
    };
    return bw_service_main(&def, argc, argv);
}
