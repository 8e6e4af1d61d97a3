/* Payment plans on an invoice (DESIGN.md §1 [terms]): pay at once, in N
 * instalments, or by milestone. A plan turns an invoice total in minor units
 * into a schedule whose amounts sum exactly to the total, with due dates
 * derived from the issue date. Dates are days since 1970-01-01 (clock.h).
 * Pure computation: the service stores the schedule with the invoice. */
#ifndef INV_PAYPLAN_H
#define INV_PAYPLAN_H

#include <stddef.h>
#include <stdint.h>

#define INV_PLAN_MAX_INSTALMENTS 120
#define INV_PLAN_MAX_TERMS_DAYS 3660
#define INV_PLAN_LABEL_LEN 96 /* bytes, NUL included */
/* A milestone due "on completion": its date is not known at issue. */
#define INV_DATE_UNSET INT64_MIN

typedef enum {
    INV_PLAN_ONCE = 0,    /* one instalment, due issue + terms_days */
    INV_PLAN_INSTALMENTS, /* count instalments, every cycle from the first */
    INV_PLAN_MILESTONES,  /* one instalment per milestone, by share */
} inv_plan_kind_t;

typedef enum { INV_CYCLE_DAY = 0, INV_CYCLE_MONTH } inv_cycle_unit_t;

/* Every `count` days or months: monthly {MONTH,1}, quarterly {MONTH,3},
 * annual {MONTH,12}, weekly {DAY,7}. */
typedef struct {
    inv_cycle_unit_t unit;
    int count;
} inv_cycle_t;

typedef struct {
    const char *label;  /* "Design approved"; 1..INV_PLAN_LABEL_LEN-1 bytes */
    int32_t share_bp;   /* basis points, 1..10000; all sum to 10000 */
    int64_t due_days;   /* a date, or INV_DATE_UNSET for "on completion" */
} inv_milestone_t;

typedef struct {
    inv_plan_kind_t kind;
    int terms_days;     /* ONCE and INSTALMENTS: first due = issue + terms */
    int count;          /* INSTALMENTS: 1..INV_PLAN_MAX_INSTALMENTS */
    inv_cycle_t cycle;  /* INSTALMENTS */
    const inv_milestone_t *milestones; /* MILESTONES: borrowed */
    size_t nmilestones;
} inv_plan_spec_t;

typedef struct {
    int seq;            /* 1-based */
    char label[INV_PLAN_LABEL_LEN]; /* "1/3" or the milestone's label */
    int64_t due_days;   /* or INV_DATE_UNSET */
    int64_t amount_minor;
    int32_t share_bp;   /* milestones; 0 otherwise */
} inv_instalment_t;

typedef struct {
    inv_plan_kind_t kind;
    size_t n;
    inv_instalment_t *items; /* owned */
} inv_payplan_t;

/* Builds the schedule for an invoice of total_minor issued on issue_days.
 * Instalments: total / count each, the remainder (total mod count minor
 * units) on the first; due dates first_due + k cycles, counted from the
 * first due date so the day of month is kept where it exists and clamped
 * where it does not (Jan 31, Feb 28/29, Mar 31, Apr 30 ...). Milestones:
 * total * share / 10000 rounded down each, the remainder on the first.
 * On success *out is a new plan the caller frees with inv_payplan_destroy;
 * on failure it is NULL and err says why (BW_EINVAL) or BW_ENOMEM. */
int inv_payplan_build(const inv_plan_spec_t *spec, int64_t issue_days, int64_t total_minor,
                      inv_payplan_t **out, char *err, size_t errlen);
void inv_payplan_destroy(inv_payplan_t **pp);

#define INV_PLAN_MAX_MILESTONES 12

/* Parses an account's payment plan setting into spec (terms_days from the
 * account):
 *   once                     one instalment at issue + terms (the default)
 *   instalments:N            N monthly instalments, the first at issue + terms
 *   instalments:N:Dd | :Mm   every D days or every M months
 *   milestones:A=30,B=70     one part per milestone, percentages summing to
 *                            100 (up to two decimals); the first is due at
 *                            issue + terms, the others on completion
 * Milestone labels are copied into labels[] (ms[] points at them). 0, or
 * BW_EINVAL with the reason in err. */
int inv_plan_parse(const char *s, int terms_days, inv_plan_spec_t *spec, inv_milestone_t *ms,
                   char labels[][INV_PLAN_LABEL_LEN], char *err, size_t errlen);

/* The date `months` calendar months after days, its day of month clamped to
 * the target month's length (Jan 31 + 1 = Feb 28 or 29). */
int64_t inv_add_months(int64_t days, int months);

#endif
