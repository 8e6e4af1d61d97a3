/* The invoicing service's entry point: billing accounts, bill runs,
 * gap-free invoices. The API process serves requests and the stream; any
 * number of `--worker --partitions L/N` processes turn rating's AccountRated
 * events into invoices. This file only wires modules together (STYLE.md 2). */
#include "config.h"
#include "events.h"
#include "service.h"

#include "invoicing/api.h"
#include "invoicing/invoices.h"

extern const bw_migration_t bw_migrations_invoicing[];

/* Feedback's CreditRequested is handled by the credit-note work; until then
 * its events only advance the cursor. */
static int from_feedback(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                         bw_arena_t *arena)
{
    (void)arg;
    return bw_events_apply(db, evs, n, arena, NULL, NULL);
}

static int init(bw_service_t *svc)
{
    if (inv_invoices_init() < 0)
        return -1;
    /* With BILLOW_API_WORKS=0 the API process leaves AccountRated to the
     * --worker processes, so a scaled-out run has no idle overlap. */
    long long api_works;
    if (bw_env_int("BILLOW_API_WORKS", 1, 0, 1, &api_works) < 0)
        return -1;
    int rc = 0;
    if (bw_service_is_worker(svc) || api_works)
        rc = bw_service_consume(svc, "rating", inv_invoices_apply, NULL);
    if (rc == 0 && !bw_service_is_worker(svc))
        rc = bw_service_consume(svc, "feedback", from_feedback, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    static const bw_service_def_t def = {
        .name = "invoicing",
        .migrations = bw_migrations_invoicing,
        .init = init,
        .handle = inv_api_handle,
    };
    return bw_service_main(&def, argc, argv);
}
