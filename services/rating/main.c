/* The rating service's entry point. Prices what customers used: catalog, subscriptions, usage and period close; emits AccountRated and PriceChangeAnnounced.
 * This file only wires modules together (STYLE.md 2). */
#include "events.h"
#include "service.h"

extern const bw_migration_t bw_migrations_rating[];

/* Events from invoicing this service does not act on yet only advance the cursor. */
static int from_invoicing(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                   bw_arena_t *arena)
{
    (void)arg;
    return bw_events_apply(db, evs, n, arena, NULL, NULL);
}

/* Events from notification this service does not act on yet only advance the cursor. */
static int from_notification(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                   bw_arena_t *arena)
{
    (void)arg;
    return bw_events_apply(db, evs, n, arena, NULL, NULL);
}

static int init(bw_service_t *svc)
{
    int rc = 0;
    rc = rc ? rc : bw_service_consume(svc, "invoicing", from_invoicing, NULL);
    rc = rc ? rc : bw_service_consume(svc, "notification", from_notification, NULL);
    return rc;
}

int main(int argc, char **argv)
{
    static const bw_service_def_t def = {
        .name = "rating",
        .migrations = bw_migrations_rating,
        .init = init,
    };
    return bw_service_main(&def, argc, argv);
}
