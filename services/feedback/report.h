/* Feedback analysis for management: counts by type, channel, category, fee
 * item or price change; objection rate per announced price change (tickets
 * naming it / accounts it was announced to); median time to first response
 * and to resolution; SLA breach rate; satisfaction average; top categories.
 * Rendered as CSV or as a self-contained HTML page whose charts are inline
 * SVG. The aggregation and the renderers are pure (unit-tested); fb_report
 * reads the rows. */
#ifndef FB_REPORT_H
#define FB_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "arena.h"
#include "feedback/tickets.h"

/* One ticket as the report sees it. */
typedef struct {
    const char *keys;     /* its group keys, separated by '\x1f' (a fee-item ticket may have several) */
    const char *category; /* "" counts as "(none)" */
    int64_t first_response_s; /* -1: not answered yet */
    int64_t resolution_s;     /* -1: not resolved */
    bool breached;            /* either target missed (or missed by now) */
    int csat;                 /* 0: no answer */
} fb_report_row_t;

/* The median of v[0..n) (sorts v); the mean of the two middle values, rounded
 * down, when n is even; -1 when n is 0. */
int64_t fb_median(int64_t *v, size_t n);

/* Fills r->total, r->groups (most tickets first, then by key) and
 * r->top_categories (at most 5) from rows. 0 or BW_ENOMEM. */
int fb_report_build(Billow__FeedbackReport *r, const fb_report_row_t *rows, size_t n,
                    bw_arena_t *a);

/* Renderings of a built report (arena strings; NULL when out of memory). */
char *fb_report_csv(const Billow__FeedbackReport *r, bw_arena_t *a);
char *fb_report_html(const Billow__FeedbackReport *r, bw_arena_t *a);

/* The `report` request. */
void fb_report(fb_call_t *c, const Billow__FeedbackReportRequest *op);

#endif
