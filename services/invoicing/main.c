/* The invoicing service's entry point: billing accounts, bill runs,
 * gap-free invoices. The API process serves requests and the stream; any
 * number of `--worker --partitions L/N` processes turn rating's AccountRated
 * events into invoices. This file only wires modules together (STYLE.md 2). */
#include "config.h"
#include "events.h"
#include "service.h"

#include "invoicing/api.h"
#include "invoicing/autorun.h"
#include "invoicing/credit.h"
#include "invoicing/dunning.h"
#include "invoicing/invoices.h"
#include "invoicing/payments.h"

#include <stdlib.h>

extern const bw_migration_t bw_migrations_invoicing[];

static inv_autorun_t *autorun;

/* The event types each stream's apply function acts on: only these are
 * fetched, so a type its switch gains must be added here too
 * (tests/integration/test_type_lists.sh compares them). */
static const char *const from_rating[] = {"AccountRated", NULL};
static const char *const from_feedback[] = {"CreditRequested", NULL};

/* A month end is applied in batches of AccountRated, one transaction each.
 * Per-batch costs (a dozen statements, a commit, index pages revisited by
 * each COPY) made batches of 1000 slow: in bench/invoicing_bench.sh a
 * worker's database time for 90,000 invoices fell from 7.2 s to 4.8 s at
 * 3000. An operator's BILLOW_CONSUMER_BATCH still wins. */
#define INV_CONSUMER_BATCH "3000"

static int init(bw_service_t *svc)
{
    if (!getenv("BILLOW_CONSUMER_BATCH") && setenv("BILLOW_CONSUMER_BATCH", INV_CONSUMER_BATCH, 0) < 0)
        return -1;
    if (inv_invoices_init() < 0 || inv_payments_init() < 0 || inv_dunning_init(svc) < 0)
        return -1;
    /* With BILLOW_API_WORKS=0 the API process leaves AccountRated to the
     * --worker processes, so a scaled-out run has no idle overlap. */
    long long api_works;
    if (bw_env_int("BILLOW_API_WORKS", 1, 0, 1, &api_works) < 0)
        return -1;
    int rc = 0;
    if (bw_service_is_worker(svc) || api_works)
        rc = bw_service_consume(svc, "rating", inv_invoices_apply, NULL, from_rating);
    if (rc == 0 && !bw_service_is_worker(svc)) {
        rc = bw_service_consume(svc, "feedback", inv_credit_apply, NULL, from_feedback);
        autorun = inv_autorun_new(bw_service_loop(svc), bw_service_db(svc));
    }
    return rc;
}

static void fini(bw_service_t *svc)
{
    (void)svc;
    inv_autorun_destroy(&autorun);
    inv_dunning_fini();
}

int main(int argc, char **argv)
{
    static const bw_service_def_t def = {
        .name = "invoicing",
        .migrations = bw_migrations_invoicing,
        .init = init,
        .fini = fini,
        .handle = inv_api_handle,
    };
    return bw_service_main(&def, argc, argv);
}
