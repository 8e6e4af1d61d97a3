/* Automatic bill runs (BILLOW_AUTO_BILLRUN=1): the API process checks the
 * service clock every minute and starts the run of each cycle's most
 * recently completed period (last month, last quarter, last year) when it
 * has none yet and accounts of that cycle are due. Starting is the same
 * idempotent operation as `billctl billrun start`, so several API processes
 * or a manual start at the same time bill nobody twice. */
#ifndef INV_AUTORUN_H
#define INV_AUTORUN_H

#include <ev.h>
#include <stdint.h>

typedef struct bw_db bw_db_t;
typedef struct inv_autorun inv_autorun_t;

/* The period ("YYYY-MM", its first month) of the cycle's last complete
 * period before `today` (days since 1970-01-01). */
void inv_autorun_last_period(const char *cycle, int64_t today, char *buf, size_t len);

/* Starts the timer when BILLOW_AUTO_BILLRUN is on; NULL when it is off (not
 * an error) or on failure (logged). */
inv_autorun_t *inv_autorun_new(struct ev_loop *loop, bw_db_t *db);
void inv_autorun_destroy(inv_autorun_t **pa);

#endif
