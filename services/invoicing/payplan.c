/* Payment plans: split a total exactly and date each part. Splits work in
 * integer minor units and put any remainder on the first part, so the sum
 * is exact by construction and the customer pays the odd cent up front,
 * when it is least surprising. */
#include "invoicing/payplan.h"
#include "clock.h"
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return BW_EINVAL;
}

int64_t inv_add_months(int64_t days, int months)
{
    int y, m, d;
    bw_civil_from_days(days, &y, &m, &d);
    long long idx = (long long)y * 12 + (m - 1) + months;
    long long ny = idx >= 0 ? idx / 12 : -((-idx + 11) / 12);
    int nm = (int)(idx - ny * 12) + 1;
    int dim = bw_days_in_month((int)ny, nm);
    return bw_days_from_civil((int)ny, nm, d > dim ? dim : d);
}

/* Dates beyond year 9999 make no sense on an invoice and keep the calendar
 * arithmetic far from int overflow. */
static int date_ok(int64_t days)
{
    return days >= bw_days_from_civil(1970, 1, 1) && days <= bw_days_from_civil(9999, 12, 31);
}

static inv_payplan_t *plan_new(inv_plan_kind_t kind, size_t n)
{
    inv_payplan_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->items = calloc(n, sizeof *p->items);
    if (!p->items) {
        free(p);
        return NULL;
    }
    p->kind = kind;
    p->n = n;
    return p;
}

void inv_payplan_destroy(inv_payplan_t **pp)
{
    if (!pp || !*pp)
        return;
    free((*pp)->items);
    free(*pp);
    *pp = NULL;
}

static int build_instalments(const inv_plan_spec_t *s, int64_t first_due, int64_t total,
                             inv_payplan_t *p, char *err, size_t errlen)
{
    int64_t each = total / s->count, rem = total % s->count;
    for (int k = 0; k < s->count; k++) {
        inv_instalment_t *it = &p->items[k];
        int64_t due;
        if (s->cycle.unit == INV_CYCLE_MONTH)
            due = inv_add_months(first_due, k * s->cycle.count);
        else
            due = first_due + (int64_t)k * s->cycle.count;
        if (!date_ok(due))
            return fail(err, errlen, "instalment %d falls after year 9999", k + 1);
        it->seq = k + 1;
        snprintf(it->label, sizeof it->label, "%d/%d", k + 1, s->count);
        it->due_days = due;
        it->amount_minor = each + (k == 0 ? rem : 0);
    }
    return 0;
}

static void build_milestones(const inv_plan_spec_t *s, int64_t total, inv_payplan_t *p)
{
    int64_t sum = 0;
    for (size_t k = 0; k < s->nmilestones; k++) {
        const inv_milestone_t *m = &s->milestones[k];
        inv_instalment_t *it = &p->items[k];
        /* total * bp / 10000 without overflow: split total by 10000. */
        int64_t amt = (total / 10000) * m->share_bp + (total % 10000) * m->share_bp / 10000;
        it->seq = (int)k + 1;
        snprintf(it->label, sizeof it->label, "%s", m->label);
        it->due_days = m->due_days;
        it->share_bp = m->share_bp;
        it->amount_minor = amt;
        sum += amt;
    }
    p->items[0].amount_minor += total - sum;
}

static int check_spec(const inv_plan_spec_t *s, int64_t issue_days, int64_t total, char *err,
                      size_t errlen)
{
    if (!date_ok(issue_days))
        return fail(err, errlen, "issue date out of range");
    if (total < 0)
        return fail(err, errlen, "payment plan total %lld is negative", (long long)total);
    switch (s->kind) {
    case INV_PLAN_ONCE:
    case INV_PLAN_INSTALMENTS:
        if (s->terms_days < 0 || s->terms_days > INV_PLAN_MAX_TERMS_DAYS)
            return fail(err, errlen, "payment terms %d days out of range 0..%d", s->terms_days,
                        INV_PLAN_MAX_TERMS_DAYS);
        if (s->kind == INV_PLAN_ONCE)
            return 0;
        if (s->count < 1 || s->count > INV_PLAN_MAX_INSTALMENTS)
            return fail(err, errlen, "instalment count %d out of range 1..%d", s->count,
                        INV_PLAN_MAX_INSTALMENTS);
        if (s->cycle.unit != INV_CYCLE_DAY && s->cycle.unit != INV_CYCLE_MONTH)
            return fail(err, errlen, "unknown instalment cycle unit %d", (int)s->cycle.unit);
        if (s->cycle.count < 1 ||
            s->cycle.count > (s->cycle.unit == INV_CYCLE_MONTH ? 120 : 3660))
            return fail(err, errlen, "instalment cycle %d %s out of range", s->cycle.count,
                        s->cycle.unit == INV_CYCLE_MONTH ? "months" : "days");
        if (total < s->count)
            return fail(err, errlen,
                        "total %lld minor units cannot be split into %d instalments",
                        (long long)total, s->count);
        return 0;
    case INV_PLAN_MILESTONES: {
        int64_t bp = 0;
        if (!s->milestones || s->nmilestones == 0)
            return fail(err, errlen, "milestone plan has no milestones");
        if (s->nmilestones > INV_PLAN_MAX_INSTALMENTS)
            return fail(err, errlen, "%zu milestones, at most %d", s->nmilestones,
                        INV_PLAN_MAX_INSTALMENTS);
        for (size_t k = 0; k < s->nmilestones; k++) {
            const inv_milestone_t *m = &s->milestones[k];
            if (!m->label || !*m->label)
                return fail(err, errlen, "milestone %zu has no label", k + 1);
            if (strlen(m->label) >= INV_PLAN_LABEL_LEN)
                return fail(err, errlen, "milestone %zu: label longer than %d bytes", k + 1,
                            INV_PLAN_LABEL_LEN - 1);
            if (m->share_bp < 1 || m->share_bp > 10000)
                return fail(err, errlen, "milestone %zu (\"%.40s\"): share %d bp out of range 1..10000",
                            k + 1, m->label, (int)m->share_bp);
            if (m->due_days != INV_DATE_UNSET && !date_ok(m->due_days))
                return fail(err, errlen, "milestone %zu (\"%.40s\"): due date out of range",
                            k + 1, m->label);
            bp += m->share_bp;
        }
        if (bp != 10000)
            return fail(err, errlen, "milestone shares sum to %lld bp, not 10000",
                        (long long)bp);
        return 0;
    }
    }
    return fail(err, errlen, "unknown payment plan kind %d", (int)s->kind);
}

int inv_payplan_build(const inv_plan_spec_t *spec, int64_t issue_days, int64_t total_minor,
                      inv_payplan_t **out, char *err, size_t errlen)
{
    int rc;
    inv_payplan_t *p = NULL;
    *out = NULL;
    if (!spec)
        return fail(err, errlen, "no payment plan");
    if ((rc = check_spec(spec, issue_days, total_minor, err, errlen)) < 0)
        return rc;
    size_t n = spec->kind == INV_PLAN_ONCE          ? 1
               : spec->kind == INV_PLAN_INSTALMENTS ? (size_t)spec->count
                                                    : spec->nmilestones;
    if (!(p = plan_new(spec->kind, n))) {
        rc = BW_ENOMEM;
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        goto fail;
    }
    int64_t first_due = issue_days + spec->terms_days;
    switch (spec->kind) {
    case INV_PLAN_ONCE:
        if (!date_ok(first_due)) {
            rc = fail(err, errlen, "due date falls after year 9999");
            goto fail;
        }
        p->items[0].seq = 1;
        snprintf(p->items[0].label, sizeof p->items[0].label, "1/1");
        p->items[0].due_days = first_due;
        p->items[0].amount_minor = total_minor;
        break;
    case INV_PLAN_INSTALMENTS:
        if ((rc = build_instalments(spec, first_due, total_minor, p, err, errlen)) < 0)
            goto fail;
        break;
    case INV_PLAN_MILESTONES:
        build_milestones(spec, total_minor, p);
        break;
    }
    *out = p;
    return 0;
fail:
    inv_payplan_destroy(&p);
    return rc;
}

int inv_plan_parse(const char *s, int terms_days, inv_plan_spec_t *spec, inv_milestone_t *ms,
                   char labels[][INV_PLAN_LABEL_LEN], char *err, size_t errlen)
{
    memset(spec, 0, sizeof *spec);
    spec->terms_days = terms_days;
    if (!s || !*s || strcmp(s, "once") == 0) {
        spec->kind = INV_PLAN_ONCE;
        return 0;
    }
    if (strncmp(s, "instalments:", 12) == 0) {
        char *end;
        long n = strtol(s + 12, &end, 10);
        if (end == s + 12 || n < 1 || n > INV_PLAN_MAX_INSTALMENTS) {
            snprintf(err, errlen, "instalments: the count must be 1 to %d", INV_PLAN_MAX_INSTALMENTS);
            return BW_EINVAL;
        }
        spec->kind = INV_PLAN_INSTALMENTS;
        spec->count = (int)n;
        spec->cycle.unit = INV_CYCLE_MONTH;
        spec->cycle.count = 1;
        if (*end == ':') {
            const char *q = end + 1;
            long every = strtol(q, &end, 10);
            if (end == q || every < 1 || every > 366 || (*end != 'd' && *end != 'm') || end[1]) {
                snprintf(err, errlen, "instalments: the interval is like 30d or 1m");
                return BW_EINVAL;
            }
            spec->cycle.unit = *end == 'd' ? INV_CYCLE_DAY : INV_CYCLE_MONTH;
            spec->cycle.count = (int)every;
        } else if (*end) {
            snprintf(err, errlen, "expected instalments:N or instalments:N:30d");
            return BW_EINVAL;
        }
        return 0;
    }
    if (strncmp(s, "milestones:", 11) == 0) {
        const char *p = s + 11;
        size_t n = 0;
        int32_t total = 0;
        while (*p) {
            if (n == INV_PLAN_MAX_MILESTONES) {
                snprintf(err, errlen, "milestones: at most %d", INV_PLAN_MAX_MILESTONES);
                return BW_EINVAL;
            }
            const char *eq = strchr(p, '=');
            size_t llen = eq ? (size_t)(eq - p) : 0;
            if (!eq || llen == 0 || llen >= INV_PLAN_LABEL_LEN || memchr(p, ',', llen)) {
                snprintf(err, errlen, "milestones: each is LABEL=PERCENT, e.g. Design=30");
                return BW_EINVAL;
            }
            memcpy(labels[n], p, llen);
            labels[n][llen] = '\0';
            /* percent with up to two decimals -> basis points */
            const char *q = eq + 1;
            long whole = 0, frac = 0;
            int fd = 0;
            if (*q < '0' || *q > '9') {
                snprintf(err, errlen, "milestones: %s needs a percentage", labels[n]);
                return BW_EINVAL;
            }
            while (*q >= '0' && *q <= '9' && whole <= 100)
                whole = whole * 10 + (*q++ - '0');
            if (*q == '.') {
                q++;
                while (*q >= '0' && *q <= '9' && fd < 2)
                    frac = frac * 10 + (*q++ - '0'), fd++;
                if (fd == 0 || (*q >= '0' && *q <= '9')) {
                    snprintf(err, errlen, "milestones: at most two decimals in a percentage");
                    return BW_EINVAL;
                }
                while (fd++ < 2)
                    frac *= 10;
            }
            if (*q && *q != ',') {
                snprintf(err, errlen, "milestones: %s: not a percentage", labels[n]);
                return BW_EINVAL;
            }
            int32_t bp = (int32_t)(whole * 100 + frac);
            if (bp < 1 || bp > 10000) {
                snprintf(err, errlen, "milestones: %s must be more than 0 and at most 100%%", labels[n]);
                return BW_EINVAL;
            }
            ms[n].label = labels[n];
            ms[n].share_bp = bp;
            ms[n].due_days = INV_DATE_UNSET;
            total += bp;
            n++;
            p = *q == ',' ? q + 1 : q;
        }
        if (n == 0 || total != 10000) {
            snprintf(err, errlen, "milestones: the percentages must add up to 100");
            return BW_EINVAL;
        }
        spec->kind = INV_PLAN_MILESTONES;
        spec->milestones = ms;
        spec->nmilestones = n;
        return 0;
    }
    snprintf(err, errlen, "expected once, instalments:N[:30d|:1m] or milestones:LABEL=PCT,...");
    return BW_EINVAL;
}
