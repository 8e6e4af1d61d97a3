/* Dunning (DESIGN.md §1 [dunning]): a schedule of steps in days relative to
 * an invoice's due date (BILLOW_DUNNING_SCHEDULE, default -3,1,7,15,30).
 * Evaluated as of a date, by a timer on the service clock and by `billctl
 * dunning run --as-of`: each open invoice takes the latest step that is due
 * and not yet taken (earlier missed steps are recorded as skipped), emitting
 * PaymentReminderDue (steps <= 0) or InvoiceOverdue (steps > 0) once per
 * step per invoice. The level is the step's position among the overdue
 * steps; the account's escalation level is the highest of its open
 * invoices. An invoice paid or credited is no longer open, so dunning stops
 * the moment it is settled. One run is one transaction, written in bulk. */
#ifndef INV_DUNNING_H
#define INV_DUNNING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;
typedef struct bw_service bw_service_t;

#define INV_DUNNING_MAX_STEPS 16

typedef struct {
    int steps[INV_DUNNING_MAX_STEPS]; /* ascending, distinct */
    size_t n;
} inv_dunning_schedule_t;

/* Parses "-3,1,7,15,30" (integers within +-365, any order, no duplicates)
 * into ascending steps. 0 or BW_EINVAL with the reason in err. */
int inv_dunning_parse(const char *spec, inv_dunning_schedule_t *s, char *err, size_t errlen);
/* The step an invoice due on due_day should take as of as_of_day: the index
 * of the latest step with due_day + step <= as_of_day whose bit in
 * taken_mask is clear and that is later than every taken step; -1 when
 * none. */
int inv_dunning_next(const inv_dunning_schedule_t *s, int64_t due_day, int64_t as_of_day,
                     uint32_t taken_mask);
/* The escalation level of step index i: 0 for reminders (step <= 0), else
 * 1 + the number of overdue steps before it. */
int inv_dunning_level(const inv_dunning_schedule_t *s, size_t i);

/* Reads BILLOW_DUNNING_SCHEDULE and BILLOW_DUNNING_INTERVAL_S and, in the
 * API process, starts the timer. 0 or BW_EINVAL. */
int inv_dunning_init(bw_service_t *svc);
void inv_dunning_fini(void);
/* Runs dunning as of as_of_day inside one transaction; *sent counts the
 * events. 0 or a BW_E code. */
int inv_dunning_run_as_of(bw_db_t *db, int64_t as_of_day, const char *actor, const char *cause,
                          long long *sent, long long *skipped);
bool inv_dunning_run(bw_db_t *db, const Billow__DunningRun *req, const char *actor,
                     const char *cause, Billow__Reply *reply, bw_arena_t *a);

#endif
