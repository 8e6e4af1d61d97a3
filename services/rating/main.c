/* The rating service's entry point. Prices what customers used: catalog,
 * subscriptions, usage and period close; emits AccountRated. Invoicing's
 * stream feeds the accounts view and close jobs; notification's stream is
 * consumed for the price-change work to come (cursor only for now). This
 * file only wires modules together (STYLE.md 2). */
#include "events.h"
#include "service.h"

#include "rating/api.h"
#include "rating/catalog_store.h"
#include "rating/close.h"

extern const bw_migration_t bw_migrations_rating[];

/* Price-change acknowledgements belong to a later issue: cursor only. */
static int from_notification(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                             bw_arena_t *arena)
{
    (void)arg;
    return bw_events_apply(db, evs, n, arena, NULL, NULL);
}

static int init(bw_service_t *svc)
{
    int rc = rt_close_start(bw_service_loop(svc), bw_service_db(svc));
    rc = rc ? rc : bw_service_consume(svc, "invoicing", rt_api_from_invoicing, svc);
    rc = rc ? rc : bw_service_consume(svc, "notification", from_notification, NULL);
    return rc;
}

static void fini(bw_service_t *svc)
{
    (void)svc;
    rt_close_stop();
    rt_store_clear();
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
    return bw_service_main(&def, argc, argv);
}
