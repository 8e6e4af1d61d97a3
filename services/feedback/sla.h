/* Service-level targets for tickets: how long the first response and the
 * resolution may take, by ticket type and priority. Defaults per priority
 * (first response: urgent 1 h, high 4 h, normal 8 h, low 24 h; resolution:
 * urgent 24 h, high 72 h, normal 120 h, low 240 h) can be overridden by
 * BILLOW_SLA_FIRST_RESPONSE_H and BILLOW_SLA_RESOLUTION_H, each a comma list
 * of `[SELECTOR=]HOURS` where SELECTOR is a priority, a type, or
 * TYPE.PRIORITY, and no selector means every ticket; later entries win:
 *     BILLOW_SLA_FIRST_RESPONSE_H="12,urgent=0.5,dispute.high=2"
 * Pure code, unit-tested. */
#ifndef FB_SLA_H
#define FB_SLA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FB_NTYPES 4
#define FB_NPRIOS 4

typedef struct {
    int64_t first_response_s[FB_NTYPES][FB_NPRIOS];
    int64_t resolution_s[FB_NTYPES][FB_NPRIOS];
} fb_sla_t;

extern const char *const fb_types[FB_NTYPES];      /* inquiry complaint dispute suggestion */
extern const char *const fb_priorities[FB_NPRIOS]; /* low normal high urgent */

/* Index of a type or priority name, or -1. */
int fb_type_index(const char *s);
int fb_priority_index(const char *s);

void fb_sla_defaults(fb_sla_t *sla);
/* Applies a spec (see above) onto table; 0 or BW_EINVAL with a reason in err. */
int fb_sla_parse(const char *spec, int64_t table[FB_NTYPES][FB_NPRIOS], char *err, size_t errlen);
/* Defaults, then the two settings; 0 or BW_EINVAL naming the bad setting. */
int fb_sla_from_env(fb_sla_t *sla, char *err, size_t errlen);

/* A target was missed when the thing happened after its due time, or has
 * not happened yet (done_us 0) and now is past it. */
bool fb_sla_breached(int64_t due_us, int64_t done_us, int64_t now_us);

#endif
