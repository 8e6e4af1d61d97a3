/* Price changes announced ahead ([notice], DESIGN.md §1): the document an
 * operator writes (`billctl pricechange create FILE.json`), validated as a
 * whole with errors that name the field, and the pure rules rating enforces
 * with it: from which day an account pays the new price, and the transition
 * discount on the increase. No database here (pricechange_api.c stores and
 * announces, notice_view.c records what notification and feedback report).
 *
 * Format (unknown fields are errors; texts are a string or
 * {"zh-CN": "...", "en": "..."}):
 *
 *   {
 *     "id": "PC-2027-PRO",                 code, 1-63 of [A-Za-z0-9_.-]
 *     "plan": "SAAS_PRO", "currency": "CNY",
 *     "charges": [ ... ],                  the new price version: a complete
 *                                          price list in the catalog's charge
 *                                          format (catalog.h), in force from
 *                                          effective_date for notified accounts
 *     "reason": "...", "value": "...",     why; what the customer gets
 *     "scope": "...",                      optional: who is affected, in words
 *     "exclude":     {"tiers": ["gold"], "accounts": ["A7"]},   optional
 *     "grandfather": {"tiers": [],       "accounts": ["A9"]},   optional
 *     "effective_date": "2027-02-01",
 *     "transition": {"periods": 2, "percent": "50"},  optional: that share of
 *                                          the increase is waived for the first
 *                                          N periods the new price applies in
 *     "min_notice_days": 30,               optional, 0-365, default 30
 *     "reminder_days": [30, 7, 1],         optional, default [30, 7, 1]
 *     "feedback_channels": ["phone 400-800-1024", "feedback@example.com"]
 *   }
 *
 * Excluded and grandfathered accounts are not announced to and keep the
 * old price; the difference is only what the preview calls them. */
#ifndef RT_PRICECHANGE_H
#define RT_PRICECHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "money.h"
#include "rating/catalog.h"

#define RT_PC_MAX_REMINDERS 16

typedef struct {
    const char **v;
    size_t n;
} rt_pc_list_t;

/* A parsed document; every string lives as long as the document. */
typedef struct {
    const char *id, *plan, *currency;
    rt_names_t reason, value;
    const char *scope;              /* "" when not given */
    rt_pc_list_t exclude_tiers, exclude_accounts;
    rt_pc_list_t grandfather_tiers, grandfather_accounts;
    rt_pc_list_t feedback_channels;
    int64_t effective_day;          /* days since 1970-01-01 */
    int transition_periods;         /* 0: no transition */
    bw_dec_t transition_percent;
    int min_notice_days;
    int reminder_days[RT_PC_MAX_REMINDERS];
    size_t n_reminder_days;
    void *priv;                     /* the JSON tree and allocations */
} rt_pc_doc_t;

/* Parses and validates a document (not the charges: rt_pc_price_version
 * does, against the catalog). NULL with "field: problem" in err. */
rt_pc_doc_t *rt_pc_doc_new(const char *json, char *err, size_t errlen);
void rt_pc_doc_destroy(rt_pc_doc_t **pd);

/* The catalog document catalog_json with the change's charges added to its
 * plan as a version effective from effective_date: a new malloc'd string
 * (caller frees) that rt_catalog_new_from_json accepts, or NULL with the
 * problem in err, named from the change's point of view ("charges[1].
 * unit_price: not a decimal number", "plan: no such plan"). */
char *rt_pc_catalog_doc(const rt_pc_doc_t *d, const char *catalog_json, char *err, size_t errlen);

/* The change's price version inside a catalog built from rt_pc_catalog_doc
 * (NULL when absent). */
const rt_price_version_t *rt_pc_version(const rt_catalog_t *cat, const char *plan,
                                        const char *currency, int64_t effective_day);

/* The first day an account pays the new price: the later of the effective
 * date and the day of its first delivered notice plus the minimum notice.
 * delivered_day < 0 (never reached) gives -1: it keeps the old price. */
int64_t rt_pc_effective_day(int64_t effective_day, int64_t delivered_day, int min_notice_days);

/* The transition discount (minor units, >= 0) on an increase from old to
 * new: percent of (new - old), rounded once with r; 0 when the price does
 * not rise. 0 or BW_ETOOBIG. */
int rt_pc_transition_discount(int64_t old_minor, int64_t new_minor, bw_dec_t percent,
                              bw_rounding_t r, int64_t *out);

/* Whether the transition applies in the period numbered period_number
 * (1 = the period containing the account's first day at the new price). */
bool rt_pc_in_transition(int transition_periods, int period_number);

/* "affected", "excluded" or "grandfathered" for an account of tier. */
const char *rt_pc_scope_of(const rt_pc_doc_t *d, const char *account, const char *tier);

/* (new - old) / old as a percentage with two decimals ("10.03", "-5.5"),
 * rounded half-even; "" when old is 0. buf holds 32 bytes. */
void rt_pc_diff_percent(int64_t old_minor, int64_t new_minor, char *buf, size_t len);

/* The transition in words ("50% of the increase waived for 2 billing
 * periods"); "" when there is none. buf holds 128 bytes. */
void rt_pc_transition_text(int periods, bw_dec_t percent, const char *language, char *buf,
                           size_t len);

#endif
