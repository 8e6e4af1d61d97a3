/* The runtime every service binary shares: settings, logging, database
 * connection and migrations, the API socket (Status built in), the stream
 * server over the service's outbox, consumers of other services' streams,
 * and graceful shutdown on SIGTERM/SIGINT. A service's main.c fills a
 * bw_service_def_t and calls bw_service_main.
 *
 * Roles: by default a process serves the API and the stream and runs every
 * consumer; `--worker` runs consumers only, and `--partitions 0-3/8` (or
 * BILLOW_PARTITIONS) limits the partitions its consumers take. */
#ifndef BW_SERVICE_H
#define BW_SERVICE_H

#include <ev.h>
#include <stdbool.h>

#include "consumer.h"
#include "migrate.h"
#include "rpc.h"

typedef struct bw_service bw_service_t;

typedef struct {
    const char *name;                    /* "rating": schema, role suffix, log name */
    const bw_migration_t *migrations;    /* this service's, NULL-name terminated */
    /* Called after migrations, before the loop runs; sets up consumers and
     * module state. Non-zero stops the service. */
    int (*init)(bw_service_t *svc);
    void (*fini)(bw_service_t *svc);
    /* Handles every request but Status. */
    bw_rpc_handler_fn handle;
} bw_service_def_t;

/* Runs the service until SIGTERM/SIGINT; returns the process exit code. */
int bw_service_main(const bw_service_def_t *def, int argc, char **argv);

bw_db_t *bw_service_db(bw_service_t *svc);
struct ev_loop *bw_service_loop(bw_service_t *svc);
void *bw_service_zctx(bw_service_t *svc);
bool bw_service_is_worker(const bw_service_t *svc);
const bw_partset_t *bw_service_partitions(const bw_service_t *svc);
/* Module state a service keeps for its handlers. */
void bw_service_set_data(bw_service_t *svc, void *data);
void *bw_service_data(bw_service_t *svc);

/* Subscribes to `producer`'s stream with this process's partitions. types
 * (NULL-terminated, static) are the event types apply acts on: the producer
 * sends only those (NULL: every type). See bw_consumer_opts_t.types. */
int bw_service_consume(bw_service_t *svc, const char *producer, bw_consumer_apply_fn apply,
                       void *arg, const char *const *types);

#endif
