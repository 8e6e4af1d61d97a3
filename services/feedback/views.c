/* Applying invoicing's, rating's and notification's events to feedback's
 * own tables (see views.h). A database failure returns a negative code so
 * the consumer rolls the batch back and retries it; an event that can never
 * apply (a field missing) is logged and skipped. */
#include "feedback/views.h"

#include "db.h"
#include "errors.h"
#include "events.h"
#include "log.h"
#include "money.h"

#include <stdio.h>
#include <string.h>

static const char SQL_ACCOUNT[] =
    "INSERT INTO accounts AS a (id, name, currency, language, status, version, caused_by)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
    " ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, currency = EXCLUDED.currency,"
    " language = EXCLUDED.language, status = EXCLUDED.status, version = EXCLUDED.version,"
    " caused_by = EXCLUDED.caused_by, updated_at = now()"
    " WHERE a.version <= EXCLUDED.version";
/* An invoice may arrive before its account's AccountChanged when the two
 * streams are read at different speeds: a placeholder account (version 0)
 * lets the invoice in, and the real event overwrites it. */
static const char SQL_ACCOUNT_STUB[] =
    "INSERT INTO accounts (id, name, currency, language, version, caused_by)"
    " VALUES ($1, $2, $3, $4, 0, $5) ON CONFLICT (id) DO NOTHING";
static const char SQL_INVOICE[] =
    "INSERT INTO invoices (number, account_id, currency, total_minor, period, issue_date,"
    " caused_by) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (number) DO NOTHING";
static const char SQL_INVOICE_ITEM[] =
    "INSERT INTO invoice_items (number, fee_item) VALUES ($1, $2) ON CONFLICT DO NOTHING";
static const char SQL_PRICE_CHANGE[] =
    "INSERT INTO price_changes (change_id, account_id, effective_date, caused_by)"
    " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
static const char SQL_PRICE_ITEM[] =
    "INSERT INTO price_change_items (change_id, fee_item) VALUES ($1, $2) ON CONFLICT DO NOTHING";
static const char SQL_CREDIT_NOTE[] =
    "INSERT INTO credit_notes (number, ticket_id, invoice_number, amount_minor, currency,"
    " caused_by) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (number) DO NOTHING RETURNING"
    " EXISTS (SELECT 1 FROM tickets WHERE id = $2)";
/* The oldest open request of the ticket takes the note, preferring one of
 * the same amount. */
static const char SQL_CREDIT_MATCH[] =
    "UPDATE credit_requests SET credit_note_number = $2, credit_note_event = $4::uuid"
    " WHERE id = (SELECT id FROM credit_requests WHERE ticket_id = $1"
    " AND credit_note_number IS NULL ORDER BY (amount_minor = $3::bigint) DESC, id LIMIT 1)";
static const char SQL_HISTORY[] =
    "INSERT INTO ticket_history (ticket_id, at, actor, kind, text, caused_by, source_event)"
    " SELECT $1, timestamptz 'epoch' + $2::bigint * interval '1 microsecond', 'system', $3, $4,"
    " $5::text, $5::text::uuid WHERE EXISTS (SELECT 1 FROM tickets WHERE id = $1)"
    " ON CONFLICT (source_event) DO NOTHING";

static bool empty(const char *s) { return !s || !*s; }

static int skip(const Billow__StreamEvent *se, const char *why)
{
    bw_log(BW_WARN, "skipping event", "why", BW_S(why), "type", BW_S(se->type), "event_id",
           BW_S(se->event_id), NULL);
    return 0;
}

static int failed(bw_db_t *db, const Billow__StreamEvent *se)
{
    bw_log(BW_WARN, "could not apply event", "type", BW_S(se->type), "event_id",
           BW_S(se->event_id), "pg_error", BW_S(bw_db_error(db)), NULL);
    return BW_EDB;
}

static int account_changed(bw_db_t *db, const Billow__StreamEvent *se,
                           const Billow__AccountChanged *a)
{
    if (empty(a->account_id))
        return skip(se, "no account id");
    char ver[24];
    snprintf(ver, sizeof ver, "%lld", (long long)a->version);
    const char *p[7] = {a->account_id, a->name,   a->currency, empty(a->language) ? "en" : a->language,
                        empty(a->status) ? "active" : a->status, ver, se->event_id};
    return bw_db_exec(db, SQL_ACCOUNT, 7, p) < 0 ? failed(db, se) : 0;
}

static int invoice_issued(bw_db_t *db, const Billow__StreamEvent *se, const Billow__InvoiceIssued *iv)
{
    if (empty(iv->invoice_number) || empty(iv->account_id))
        return skip(se, "invoice without number or account");
    const char *stub[5] = {iv->account_id, iv->account_name, iv->currency,
                           empty(iv->language) ? "en" : iv->language, se->event_id};
    char total[24];
    snprintf(total, sizeof total, "%lld", (long long)iv->total_minor);
    const char *p[7] = {iv->invoice_number, iv->account_id, iv->currency, total,
                        iv->period,         iv->issue_date, se->event_id};
    if (bw_db_exec(db, SQL_ACCOUNT_STUB, 5, stub) < 0 || bw_db_exec(db, SQL_INVOICE, 7, p) < 0)
        return failed(db, se);
    for (size_t i = 0; i < iv->n_lines; i++) {
        if (empty(iv->lines[i]->fee_item))
            continue;
        const char *q[2] = {iv->invoice_number, iv->lines[i]->fee_item};
        if (bw_db_exec(db, SQL_INVOICE_ITEM, 2, q) < 0)
            return failed(db, se);
    }
    return 0;
}

static int credit_note_issued(bw_db_t *db, const Billow__StreamEvent *se,
                              const Billow__CreditNoteIssued *cn)
{
    if (empty(cn->credit_note_number))
        return skip(se, "credit note without number");
    char amount[24];
    snprintf(amount, sizeof amount, "%lld", (long long)cn->amount_minor);
    const char *p[6] = {cn->credit_note_number, cn->ticket_id, cn->invoice_number,
                        amount,                 cn->currency,  se->event_id};
    PGresult *res = bw_db_query(db, SQL_CREDIT_NOTE, 6, p);
    if (!res)
        return failed(db, se);
    bool fresh_for_ticket = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!fresh_for_ticket)
        return 0; /* a replay, or not about one of our tickets */
    const char *q[4] = {cn->ticket_id, cn->credit_note_number, amount, se->event_id};
    char money[40];
    if (bw_money_format(cn->amount_minor, cn->currency, money, sizeof money) < 0)
        snprintf(money, sizeof money, "%lld", (long long)cn->amount_minor);
    char text[256];
    snprintf(text, sizeof text, "credit note %s for %s %s on invoice %s", cn->credit_note_number,
             money, cn->currency, cn->invoice_number);
    char at[24];
    snprintf(at, sizeof at, "%lld", (long long)se->created_at_us);
    const char *h[5] = {cn->ticket_id, at, "credit_note", text, se->event_id};
    if (bw_db_exec(db, SQL_CREDIT_MATCH, 4, q) < 0 || bw_db_exec(db, SQL_HISTORY, 5, h) < 0)
        return failed(db, se);
    return 0;
}

static int price_change_announced(bw_db_t *db, const Billow__StreamEvent *se,
                                  const Billow__PriceChangeAnnounced *pc)
{
    if (empty(pc->change_id) || empty(pc->account_id))
        return skip(se, "price change without id or account");
    const char *p[4] = {pc->change_id, pc->account_id, pc->effective_date, se->event_id};
    if (bw_db_exec(db, SQL_PRICE_CHANGE, 4, p) < 0)
        return failed(db, se);
    for (size_t i = 0; i < pc->n_items; i++) {
        if (empty(pc->items[i]->fee_item))
            continue;
        const char *q[2] = {pc->change_id, pc->items[i]->fee_item};
        if (bw_db_exec(db, SQL_PRICE_ITEM, 2, q) < 0)
            return failed(db, se);
    }
    return 0;
}

static int delivery(bw_db_t *db, const Billow__StreamEvent *se, const char *ref,
                    const char *kind, const char *text)
{
    if (empty(ref) || strncmp(ref, "FB-", 3) != 0)
        return 0;
    char at[24];
    snprintf(at, sizeof at, "%lld", (long long)se->created_at_us);
    const char *h[5] = {ref, at, kind, text, se->event_id};
    return bw_db_exec(db, SQL_HISTORY, 5, h) < 0 ? failed(db, se) : 0;
}

static int on_invoicing(void *arg, bw_db_t *db, const Billow__StreamEvent *se,
                        const Billow__Event *ev, bw_arena_t *arena)
{
    (void)arg;
    (void)arena;
    switch (ev->body_case) {
    case BILLOW__EVENT__BODY_ACCOUNT_CHANGED:
        return account_changed(db, se, ev->account_changed);
    case BILLOW__EVENT__BODY_INVOICE_ISSUED:
        return invoice_issued(db, se, ev->invoice_issued);
    case BILLOW__EVENT__BODY_CREDIT_NOTE_ISSUED:
        return credit_note_issued(db, se, ev->credit_note_issued);
    default:
        return 0;
    }
}

static int on_rating(void *arg, bw_db_t *db, const Billow__StreamEvent *se,
                     const Billow__Event *ev, bw_arena_t *arena)
{
    (void)arg;
    (void)arena;
    if (ev->body_case == BILLOW__EVENT__BODY_PRICE_CHANGE_ANNOUNCED)
        return price_change_announced(db, se, ev->price_change_announced);
    return 0;
}

static int on_notification(void *arg, bw_db_t *db, const Billow__StreamEvent *se,
                           const Billow__Event *ev, bw_arena_t *arena)
{
    (void)arg;
    if (ev->body_case == BILLOW__EVENT__BODY_NOTICE_DELIVERED) {
        const Billow__NoticeDelivered *d = ev->notice_delivered;
        return delivery(db, se, d->ref_id, "delivered",
                        bw_arena_printf(arena, "%s delivered by %s", d->message_type, d->channel));
    }
    if (ev->body_case == BILLOW__EVENT__BODY_NOTIFICATION_FAILED) {
        const Billow__NotificationFailed *f = ev->notification_failed;
        return delivery(db, se, f->ref_id, "delivery_failed",
                        bw_arena_printf(arena, "%s failed: %s", f->message_type, f->reason));
    }
    return 0;
}

int fb_views_from_invoicing(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                            bw_arena_t *arena)
{
    return bw_events_apply(db, evs, n, arena, on_invoicing, arg);
}

int fb_views_from_rating(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                         bw_arena_t *arena)
{
    return bw_events_apply(db, evs, n, arena, on_rating, arg);
}

int fb_views_from_notification(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                               bw_arena_t *arena)
{
    return bw_events_apply(db, evs, n, arena, on_notification, arg);
}
