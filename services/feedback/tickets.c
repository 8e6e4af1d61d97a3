/* Ticket lifecycle handlers (see tickets.h). Each mutating handler runs in
 * one transaction: lock the ticket, check the transition, update it, record
 * the step in ticket_history, read the ticket back for the reply, emit its
 * events last (the outbox lock is held until commit), commit. */
#include "feedback/tickets.h"
#include "feedback/text.h"

#include "clock.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "money.h"
#include "outbox.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Times travel as microseconds since the epoch ($n) and come back as
 * RFC 3339 UTC text ("" for NULL). */
#define TS(n) "(timestamptz 'epoch' + $" #n "::bigint * interval '1 microsecond')"
#define FMT(col)                                                                                   \
    "COALESCE(to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"

/* $1 is always "now", for the breach flags. */
#define TICKET_SELECT                                                                              \
    "SELECT t.id, t.account_id, a.name, t.type, t.channel, t.priority, t.category,"               \
    " COALESCE(t.invoice_number, ''), COALESCE(t.price_change_id, ''), t.text, t.status,"         \
    " t.assignee, t.outcome, t.currency, t.credit_minor, " FMT("t.opened_at") ", t.opened_by, "   \
    FMT("t.first_response_at") ", " FMT("t.resolved_at") ", " FMT("t.closed_at") ", "             \
    FMT("t.first_response_due") ", " FMT("t.resolution_due") ","                                  \
    " COALESCE(t.first_response_at, " TS(1) ") > t.first_response_due,"                          \
    " COALESCE(t.resolved_at, " TS(1) ") > t.resolution_due,"                                     \
    " COALESCE(t.csat_score, 0), t.csat_comment, a.language,"                                     \
    " COALESCE((SELECT string_agg(n.number, ',' ORDER BY n.number) FROM credit_notes n"           \
    " WHERE n.ticket_id = t.id AND n.ticket_id <> ''), '')"                                       \
    " FROM tickets t JOIN accounts a ON a.id = t.account_id"

static const char SQL_TICKET[] = TICKET_SELECT " WHERE t.id = $2";
static const char SQL_HISTORY[] =
    "SELECT " FMT("at") ", actor, kind, from_status, to_status, text, caused_by"
    " FROM ticket_history WHERE ticket_id = $1 ORDER BY id";
static const char SQL_LIST[] =
    TICKET_SELECT " WHERE ($2 = '' OR t.status = $2) AND ($3 = '' OR t.account_id = $3)"
                  " AND ($4 = '' OR t.type = $4)"
                  " AND ($5 = '' OR t.seq > (SELECT seq FROM tickets WHERE id = $5))"
                  " ORDER BY t.seq LIMIT $6::int";
static const char SQL_OVERDUE[] =
    TICKET_SELECT " WHERE t.status IN ('open', 'in_progress')"
                  " AND ((t.first_response_at IS NULL AND t.first_response_due < " TS(1) ")"
                  " OR t.resolution_due < " TS(1) ")"
                  " ORDER BY LEAST(CASE WHEN t.first_response_at IS NULL"
                  " THEN t.first_response_due END, t.resolution_due), t.seq LIMIT $2::int";

static const char SQL_ACCOUNT[] = "SELECT currency, language FROM accounts WHERE id = $1";
static const char SQL_INVOICE[] = "SELECT account_id, currency, total_minor FROM invoices"
                                  " WHERE number = $1";
static const char SQL_PC_FOR[] =
    "SELECT EXISTS (SELECT 1 FROM price_changes WHERE change_id = $1 AND account_id = $2),"
    " EXISTS (SELECT 1 FROM price_changes WHERE change_id = $1)";
static const char SQL_INSERT[] =
    "INSERT INTO tickets (id, seq, account_id, type, channel, priority, category, invoice_number,"
    " price_change_id, text, currency, opened_at, opened_by, first_response_due, resolution_due,"
    " caused_by, updated_at)"
    " SELECT 'FB-' || lpad(s::text, 6, '0'), s, $1, $2, $3, $4, $5, NULLIF($6, ''),"
    " NULLIF($7, ''), $8, $9, " TS(10) ", $11, " TS(12) ", " TS(13) ", $14, " TS(10)
    " FROM nextval('ticket_numbers') s RETURNING id";
static const char SQL_LOCK[] =
    "SELECT t.status, t.account_id, t.type, COALESCE(t.invoice_number, ''), a.language,"
    " t.csat_score IS NOT NULL, t.currency"
    " FROM tickets t JOIN accounts a ON a.id = t.account_id WHERE t.id = $1 FOR UPDATE OF t";
static const char SQL_HIST_ADD[] =
    "INSERT INTO ticket_history (ticket_id, at, actor, kind, from_status, to_status, text,"
    " caused_by) VALUES ($1, " TS(2) ", $3, $4, $5, $6, $7, $8)";
static const char SQL_ASSIGN[] =
    "UPDATE tickets SET assignee = $2, status = $3, updated_at = " TS(4) " WHERE id = $1";
static const char SQL_TOUCH[] = "UPDATE tickets SET updated_at = " TS(2) " WHERE id = $1";
static const char SQL_RESPOND[] =
    "UPDATE tickets SET status = $2, first_response_at = COALESCE(first_response_at, " TS(3) "),"
    " updated_at = " TS(3) " WHERE id = $1";
static const char SQL_RESOLVE[] =
    "UPDATE tickets SET status = 'resolved', outcome = $2, credit_minor = $3,"
    " resolved_at = " TS(4) ", first_response_at = COALESCE(first_response_at, " TS(4) "),"
    " updated_at = " TS(4) " WHERE id = $1";
static const char SQL_CREDITED[] =
    "SELECT COALESCE(sum(amount_minor), 0) FROM credit_requests WHERE invoice_number = $1";
static const char SQL_CREDIT_ADD[] =
    "INSERT INTO credit_requests (ticket_id, invoice_number, amount_minor, currency,"
    " requested_at, requested_by, caused_by) VALUES ($1, $2, $3, $4, " TS(5) ", $6, $7)";
static const char SQL_CLOSE[] =
    "UPDATE tickets SET status = 'closed', closed_at = " TS(2) ", updated_at = " TS(2)
    " WHERE id = $1";
static const char SQL_REOPEN[] =
    "UPDATE tickets SET status = 'in_progress', resolved_at = NULL, closed_at = NULL,"
    " outcome = '', credit_minor = 0, updated_at = " TS(2) " WHERE id = $1";
static const char SQL_CSAT[] =
    "UPDATE tickets SET csat_score = $2, csat_comment = $3, csat_at = " TS(4) ","
    " updated_at = " TS(4) " WHERE id = $1";

static const char *const channels[] = {"phone", "email", "web", "sms", "social", "in_person", NULL};
static const char *const outcomes[] = {"upheld", "partially_upheld", "rejected", "answered", NULL};
static const char *const statuses[] = {"open", "in_progress", "resolved", "closed", NULL};

/* The locked state of a ticket a handler is about to change. */
typedef struct {
    const char *id;
    char status[16];
    char *account_id;
    char *type;
    char *invoice;
    char *language;
    char *currency;
    bool has_csat;
} locked_t;

static bool one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static char *astr(bw_arena_t *a, const char *s) { return bw_arena_strdup(a, s ? s : ""); }

static const char *num(bw_arena_t *a, long long v) { return bw_arena_printf(a, "%lld", v); }

void fb_db_error(fb_call_t *c, const char *what)
{
    bw_log(BW_WARN, what, "pg_error", BW_S(bw_db_error(c->db)), NULL);
    bw_reply_error(c->reply, bw_db_lost(c->db) ? BILLOW__CODE__UNAVAILABLE : BILLOW__CODE__INTERNAL,
                   what, astr(c->arena, bw_db_error(c->db)));
}

static bool invalid(fb_call_t *c, Billow__Code code, const char *error, const char *detail)
{
    bw_reply_error(c->reply, code, error, detail ? astr(c->arena, detail) : NULL);
    return false;
}

/* Ends a failed handler: rolls back what it did. */
static bool abandon(fb_call_t *c)
{
    bw_db_rollback(c->db);
    return false;
}

static Billow__Ticket *row_to_ticket(PGresult *res, int i, bw_arena_t *a)
{
    Billow__Ticket *t = bw_arena_alloc(a, sizeof *t);
    billow__ticket__init(t);
    t->ticket_id = astr(a, PQgetvalue(res, i, 0));
    t->account_id = astr(a, PQgetvalue(res, i, 1));
    t->account_name = astr(a, PQgetvalue(res, i, 2));
    t->type = astr(a, PQgetvalue(res, i, 3));
    t->channel = astr(a, PQgetvalue(res, i, 4));
    t->priority = astr(a, PQgetvalue(res, i, 5));
    t->category = astr(a, PQgetvalue(res, i, 6));
    t->invoice_number = astr(a, PQgetvalue(res, i, 7));
    t->price_change_id = astr(a, PQgetvalue(res, i, 8));
    t->text = astr(a, PQgetvalue(res, i, 9));
    t->status = astr(a, PQgetvalue(res, i, 10));
    t->assignee = astr(a, PQgetvalue(res, i, 11));
    t->outcome = astr(a, PQgetvalue(res, i, 12));
    t->currency = astr(a, PQgetvalue(res, i, 13));
    t->credit_minor = atoll(PQgetvalue(res, i, 14));
    char buf[40] = "";
    if (t->credit_minor && bw_money_format(t->credit_minor, t->currency, buf, sizeof buf) < 0)
        snprintf(buf, sizeof buf, "%lld", (long long)t->credit_minor);
    t->credit = astr(a, buf);
    t->opened_at = astr(a, PQgetvalue(res, i, 15));
    t->opened_by = astr(a, PQgetvalue(res, i, 16));
    t->first_response_at = astr(a, PQgetvalue(res, i, 17));
    t->resolved_at = astr(a, PQgetvalue(res, i, 18));
    t->closed_at = astr(a, PQgetvalue(res, i, 19));
    t->first_response_due = astr(a, PQgetvalue(res, i, 20));
    t->resolution_due = astr(a, PQgetvalue(res, i, 21));
    t->first_response_breached = strcmp(PQgetvalue(res, i, 22), "t") == 0;
    t->resolution_breached = strcmp(PQgetvalue(res, i, 23), "t") == 0;
    t->csat_score = atoi(PQgetvalue(res, i, 24));
    t->csat_comment = astr(a, PQgetvalue(res, i, 25));
    t->language = astr(a, PQgetvalue(res, i, 26));
    const char *cns = PQgetvalue(res, i, 27);
    if (*cns) {
        size_t n = 1;
        for (const char *p = cns; *p; p++)
            n += *p == ',';
        t->credit_notes = bw_arena_alloc(a, sizeof *t->credit_notes * n);
        char *copy = astr(a, cns), *save = NULL;
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            t->credit_notes[t->n_credit_notes++] = tok;
    }
    return t;
}

/* Reads one ticket with its history; NULL (reply filled) when it fails. */
static Billow__Ticket *load(fb_call_t *c, const char *id, bool not_found_ok)
{
    const char *p[2] = {num(c->arena, c->now_us), id};
    PGresult *res = bw_db_query(c->db, SQL_TICKET, 2, p);
    if (!res) {
        fb_db_error(c, "could not read ticket");
        return NULL;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        if (!not_found_ok)
            invalid(c, BILLOW__CODE__NOT_FOUND, "no such ticket", id);
        return NULL;
    }
    Billow__Ticket *t = row_to_ticket(res, 0, c->arena);
    PQclear(res);
    res = bw_db_query(c->db, SQL_HISTORY, 1, &id);
    if (!res) {
        fb_db_error(c, "could not read ticket history");
        return NULL;
    }
    int n = PQntuples(res);
    t->history = bw_arena_alloc(c->arena, sizeof *t->history * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        Billow__TicketEntry *e = bw_arena_alloc(c->arena, sizeof *e);
        billow__ticket_entry__init(e);
        e->at = astr(c->arena, PQgetvalue(res, i, 0));
        e->actor = astr(c->arena, PQgetvalue(res, i, 1));
        e->kind = astr(c->arena, PQgetvalue(res, i, 2));
        e->from_status = astr(c->arena, PQgetvalue(res, i, 3));
        e->to_status = astr(c->arena, PQgetvalue(res, i, 4));
        e->text = astr(c->arena, PQgetvalue(res, i, 5));
        e->caused_by = astr(c->arena, PQgetvalue(res, i, 6));
        t->history[t->n_history++] = e;
    }
    PQclear(res);
    return t;
}

static void set_ticket_reply(fb_call_t *c, Billow__Ticket *t)
{
    Billow__FeedbackReply *fr = bw_arena_alloc(c->arena, sizeof *fr);
    Billow__TicketReply *tr = bw_arena_alloc(c->arena, sizeof *tr);
    billow__feedback_reply__init(fr);
    billow__ticket_reply__init(tr);
    tr->ticket = t;
    fr->op_case = BILLOW__FEEDBACK_REPLY__OP_TICKET;
    fr->ticket = tr;
    c->reply->body_case = BILLOW__REPLY__BODY_FEEDBACK;
    c->reply->feedback = fr;
}

static int history(fb_call_t *c, const char *id, const char *kind, const char *from,
                   const char *to, const char *text)
{
    const char *p[8] = {id,   num(c->arena, c->now_us), c->actor, kind, from ? from : "",
                        to ? to : "", text ? text : "", c->cause};
    return bw_db_exec(c->db, SQL_HIST_ADD, 8, p);
}

/* Reads the ticket back into the reply, emits evs, commits. */
static bool finish(fb_call_t *c, const char *id, const char *account, Billow__Event *const *evs,
                   size_t nev)
{
    Billow__Ticket *t = load(c, id, false);
    if (!t)
        return abandon(c);
    for (size_t i = 0; i < nev; i++)
        if (bw_outbox_emit(c->db, evs[i], account, c->cause) < 0) {
            fb_db_error(c, "could not emit event");
            return abandon(c);
        }
    if (bw_db_commit(c->db) < 0) {
        fb_db_error(c, "could not commit");
        return false;
    }
    set_ticket_reply(c, t);
    return true;
}

static int begin(fb_call_t *c)
{
    if (bw_db_begin(c->db) < 0) {
        fb_db_error(c, "could not begin");
        return BW_EDB;
    }
    return 0;
}

/* Begins and locks the ticket; on failure the reply says why, nothing is
 * left open. */
static int lock(fb_call_t *c, const char *id, locked_t *t)
{
    if (!id || !*id || strlen(id) > 64) {
        invalid(c, BILLOW__CODE__INVALID, "ticket: required (e.g. FB-000001)", NULL);
        return BW_EINVAL;
    }
    if (begin(c) < 0)
        return BW_EDB;
    PGresult *res = bw_db_query(c->db, SQL_LOCK, 1, &id);
    if (!res) {
        fb_db_error(c, "could not read ticket");
        abandon(c);
        return BW_EDB;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        invalid(c, BILLOW__CODE__NOT_FOUND, "no such ticket", id);
        abandon(c);
        return BW_ENOTFOUND;
    }
    t->id = id;
    snprintf(t->status, sizeof t->status, "%s", PQgetvalue(res, 0, 0));
    t->account_id = astr(c->arena, PQgetvalue(res, 0, 1));
    t->type = astr(c->arena, PQgetvalue(res, 0, 2));
    t->invoice = astr(c->arena, PQgetvalue(res, 0, 3));
    t->language = astr(c->arena, PQgetvalue(res, 0, 4));
    t->has_csat = strcmp(PQgetvalue(res, 0, 5), "t") == 0;
    t->currency = astr(c->arena, PQgetvalue(res, 0, 6));
    PQclear(res);
    return 0;
}

static bool wrong_state(fb_call_t *c, const locked_t *t, const char *what)
{
    bw_reply_error(c->reply, BILLOW__CODE__CONFLICT,
                   bw_arena_printf(c->arena, "ticket %s is %s: %s", t->id, t->status, what), NULL);
    return abandon(c);
}

static char *now_text(fb_call_t *c)
{
    char buf[40];
    bw_time_format(c->now_us, buf, sizeof buf);
    return astr(c->arena, buf);
}

static Billow__Event *reply_event(fb_call_t *c, const locked_t *t, const char *kind,
                                  const char *text)
{
    Billow__ReplyRequested *rr = bw_arena_alloc(c->arena, sizeof *rr);
    billow__reply_requested__init(rr);
    rr->ticket_id = (char *)t->id;
    rr->account_id = t->account_id;
    rr->kind = (char *)kind;
    rr->text = astr(c->arena, text);
    rr->language = t->language;
    Billow__Event *ev = bw_arena_alloc(c->arena, sizeof *ev);
    billow__event__init(ev);
    ev->body_case = BILLOW__EVENT__BODY_REPLY_REQUESTED;
    ev->reply_requested = rr;
    return ev;
}

static bool check_text(fb_call_t *c, const char *name, const char *s, size_t max, bool required,
                       bool multiline)
{
    char err[200];
    if (fb_text_check(name, s, max, required, multiline, err, sizeof err) < 0)
        return invalid(c, BILLOW__CODE__INVALID, astr(c->arena, err), NULL);
    return true;
}

static bool check_ref(fb_call_t *c, const char *name, const char *s)
{
    if (strlen(s) > 64)
        return invalid(c, BILLOW__CODE__INVALID, bw_arena_printf(c->arena, "%s: too long", name),
                       NULL);
    return check_text(c, name, s, 64, false, false);
}

bool fb_ticket_open(fb_call_t *c, const Billow__TicketOpen *op)
{
    const char *priority = *op->priority ? op->priority : "normal";
    int ti = fb_type_index(op->type), pi = fb_priority_index(priority);
    if (!*op->account_id)
        return invalid(c, BILLOW__CODE__INVALID, "account: required", NULL);
    if (!check_ref(c, "account", op->account_id))
        return false;
    if (ti < 0)
        return invalid(c, BILLOW__CODE__INVALID,
                       "type: must be inquiry, complaint, dispute or suggestion", NULL);
    if (!one_of(op->channel, channels))
        return invalid(c, BILLOW__CODE__INVALID,
                       "channel: must be phone, email, web, sms, social or in_person", NULL);
    if (pi < 0)
        return invalid(c, BILLOW__CODE__INVALID, "priority: must be low, normal, high or urgent",
                       NULL);
    if (!check_text(c, "category", op->category, 64, false, false) ||
        !check_ref(c, "invoice", op->invoice_number) ||
        !check_ref(c, "price_change", op->price_change_id) ||
        !check_text(c, "text", op->text, FB_TEXT_MAX, true, true))
        return false;
    if (begin(c) < 0)
        return false;
    PGresult *res = bw_db_query(c->db, SQL_ACCOUNT, 1, (const char *const *)&op->account_id);
    if (!res) {
        fb_db_error(c, "could not read account");
        return abandon(c);
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        invalid(c, BILLOW__CODE__NOT_FOUND, "unknown account", op->account_id);
        return abandon(c);
    }
    char *currency = astr(c->arena, PQgetvalue(res, 0, 0));
    PQclear(res);
    if (*op->invoice_number) {
        res = bw_db_query(c->db, SQL_INVOICE, 1, (const char *const *)&op->invoice_number);
        if (!res) {
            fb_db_error(c, "could not read invoice");
            return abandon(c);
        }
        bool found = PQntuples(res) == 1;
        bool mine = found && strcmp(PQgetvalue(res, 0, 0), op->account_id) == 0;
        PQclear(res);
        if (!found) {
            invalid(c, BILLOW__CODE__NOT_FOUND, "unknown invoice", op->invoice_number);
            return abandon(c);
        }
        if (!mine) {
            invalid(c, BILLOW__CODE__INVALID, "invoice was not issued to this account",
                    bw_arena_printf(c->arena, "%s, account %s", op->invoice_number,
                                    op->account_id));
            return abandon(c);
        }
    }
    if (*op->price_change_id) {
        const char *p[2] = {op->price_change_id, op->account_id};
        res = bw_db_query(c->db, SQL_PC_FOR, 2, p);
        if (!res) {
            fb_db_error(c, "could not read price change");
            return abandon(c);
        }
        bool mine = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
        bool any = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
        PQclear(res);
        if (!any) {
            invalid(c, BILLOW__CODE__NOT_FOUND, "unknown price change", op->price_change_id);
            return abandon(c);
        }
        if (!mine) {
            invalid(c, BILLOW__CODE__INVALID, "price change was not announced to this account",
                    bw_arena_printf(c->arena, "%s, account %s", op->price_change_id,
                                    op->account_id));
            return abandon(c);
        }
    }
    int64_t frt_due = c->now_us + c->sla->first_response_s[ti][pi] * 1000000;
    int64_t res_due = c->now_us + c->sla->resolution_s[ti][pi] * 1000000;
    const char *p[14] = {op->account_id,
                         op->type,
                         op->channel,
                         priority,
                         op->category,
                         op->invoice_number,
                         op->price_change_id,
                         op->text,
                         currency,
                         num(c->arena, c->now_us),
                         c->actor,
                         num(c->arena, frt_due),
                         num(c->arena, res_due),
                         c->cause};
    res = bw_db_query(c->db, SQL_INSERT, 14, p);
    if (!res) {
        fb_db_error(c, "could not insert ticket");
        return abandon(c);
    }
    char *id = astr(c->arena, PQgetvalue(res, 0, 0));
    PQclear(res);
    if (history(c, id, "opened", "", "open", "") < 0) {
        fb_db_error(c, "could not record history");
        return abandon(c);
    }
    Billow__FeedbackReceived *fr = bw_arena_alloc(c->arena, sizeof *fr);
    billow__feedback_received__init(fr);
    fr->ticket_id = id;
    fr->account_id = op->account_id;
    fr->type = op->type;
    fr->channel = op->channel;
    fr->invoice_number = op->invoice_number;
    fr->price_change_id = op->price_change_id;
    fr->category = op->category;
    fr->opened_at = now_text(c);
    Billow__Event ev = BILLOW__EVENT__INIT;
    ev.body_case = BILLOW__EVENT__BODY_FEEDBACK_RECEIVED;
    ev.feedback_received = fr;
    Billow__Event *evs[1] = {&ev};
    return finish(c, id, op->account_id, evs, 1);
}

bool fb_ticket_assign(fb_call_t *c, const Billow__TicketAssign *op)
{
    if (!check_text(c, "assignee", op->assignee, 100, true, false))
        return false;
    locked_t t;
    if (lock(c, op->ticket_id, &t) < 0)
        return false;
    if (strcmp(t.status, "closed") == 0)
        return wrong_state(c, &t, "reopen it first");
    const char *to = strcmp(t.status, "open") == 0 ? "in_progress" : t.status;
    const char *p[4] = {t.id, op->assignee, to, num(c->arena, c->now_us)};
    if (bw_db_exec(c->db, SQL_ASSIGN, 4, p) < 0 ||
        history(c, t.id, "assign", "", "", op->assignee) < 0 ||
        (strcmp(to, t.status) != 0 && history(c, t.id, "transition", t.status, to, "") < 0)) {
        fb_db_error(c, "could not assign ticket");
        return abandon(c);
    }
    return finish(c, t.id, t.account_id, NULL, 0);
}

bool fb_ticket_note(fb_call_t *c, const Billow__TicketNote *op)
{
    if (!check_text(c, "text", op->text, FB_TEXT_MAX, true, true))
        return false;
    locked_t t;
    if (lock(c, op->ticket_id, &t) < 0)
        return false;
    const char *p[2] = {t.id, num(c->arena, c->now_us)};
    if (bw_db_exec(c->db, SQL_TOUCH, 2, p) < 0 || history(c, t.id, "note", "", "", op->text) < 0) {
        fb_db_error(c, "could not add note");
        return abandon(c);
    }
    return finish(c, t.id, t.account_id, NULL, 0);
}

bool fb_ticket_respond(fb_call_t *c, const Billow__TicketRespond *op)
{
    if (!check_text(c, "text", op->text, FB_TEXT_MAX, true, true))
        return false;
    locked_t t;
    if (lock(c, op->ticket_id, &t) < 0)
        return false;
    if (strcmp(t.status, "closed") == 0)
        return wrong_state(c, &t, "reopen it first");
    const char *to = strcmp(t.status, "open") == 0 ? "in_progress" : t.status;
    const char *p[3] = {t.id, to, num(c->arena, c->now_us)};
    if (bw_db_exec(c->db, SQL_RESPOND, 3, p) < 0 ||
        (strcmp(to, t.status) != 0 && history(c, t.id, "transition", t.status, to, "") < 0) ||
        history(c, t.id, "reply", "", "", op->text) < 0) {
        fb_db_error(c, "could not record reply");
        return abandon(c);
    }
    Billow__Event *evs[1] = {reply_event(c, &t, "reply", op->text)};
    return finish(c, t.id, t.account_id, evs, 1);
}

/* Checks and parses a credit for a resolution; 0, or a negative code with
 * the reply filled (the transaction is still open). */
static int credit_check(fb_call_t *c, const Billow__TicketResolve *op, const locked_t *t,
                        int64_t *minor, char **currency)
{
    *minor = 0;
    if (!*op->credit)
        return 0;
    if (strcmp(op->outcome, "upheld") != 0 && strcmp(op->outcome, "partially_upheld") != 0) {
        invalid(c, BILLOW__CODE__INVALID,
                "credit: only an upheld or partially_upheld outcome can carry a credit", NULL);
        return BW_EINVAL;
    }
    if (strcmp(t->type, "dispute") != 0 && strcmp(t->type, "complaint") != 0) {
        invalid(c, BILLOW__CODE__INVALID, "credit: only disputes and complaints can carry a credit",
                t->type);
        return BW_EINVAL;
    }
    if (!*t->invoice) {
        invalid(c, BILLOW__CODE__INVALID,
                "credit: the ticket names no invoice to credit (open it with --invoice)", NULL);
        return BW_EINVAL;
    }
    PGresult *res = bw_db_query(c->db, SQL_INVOICE, 1, (const char *const *)&t->invoice);
    if (!res || PQntuples(res) != 1) {
        if (res)
            PQclear(res);
        fb_db_error(c, "could not read invoice");
        return BW_EDB;
    }
    *currency = astr(c->arena, PQgetvalue(res, 0, 1));
    int64_t total = atoll(PQgetvalue(res, 0, 2));
    PQclear(res);
    char err[128];
    if (bw_money_parse(op->credit, *currency, minor, err, sizeof err) < 0) {
        invalid(c, BILLOW__CODE__INVALID, bw_arena_printf(c->arena, "credit: %s", err),
                op->credit);
        return BW_EINVAL;
    }
    if (*minor <= 0) {
        invalid(c, BILLOW__CODE__INVALID, "credit: must be above zero", op->credit);
        return BW_EINVAL;
    }
    res = bw_db_query(c->db, SQL_CREDITED, 1, (const char *const *)&t->invoice);
    if (!res) {
        fb_db_error(c, "could not read credits");
        return BW_EDB;
    }
    int64_t before = atoll(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (*minor > total - before) {
        char tot[40], left[40];
        bw_money_format(total, *currency, tot, sizeof tot);
        bw_money_format(total - before, *currency, left, sizeof left);
        invalid(c, BILLOW__CODE__INVALID, "credit: more than is left to credit on the invoice",
                bw_arena_printf(c->arena, "%s total %s %s, %s %s left", t->invoice, tot,
                                *currency, left, *currency));
        return BW_EINVAL;
    }
    return 0;
}

bool fb_ticket_resolve(fb_call_t *c, const Billow__TicketResolve *op)
{
    if (!one_of(op->outcome, outcomes))
        return invalid(c, BILLOW__CODE__INVALID,
                       "outcome: must be upheld, partially_upheld, rejected or answered", NULL);
    if (!check_text(c, "text", op->text, FB_TEXT_MAX, false, true))
        return false;
    locked_t t;
    if (lock(c, op->ticket_id, &t) < 0)
        return false;
    if (strcmp(t.status, "open") != 0 && strcmp(t.status, "in_progress") != 0)
        return wrong_state(c, &t, "reopen it first");
    int64_t credit = 0;
    char *currency = t.currency;
    if (credit_check(c, op, &t, &credit, &currency) < 0)
        return abandon(c);
    char amount[40] = "";
    if (credit)
        bw_money_format(credit, currency, amount, sizeof amount);
    const char *summary =
        credit ? bw_arena_printf(c->arena, "outcome %s, credit %s %s%s%s", op->outcome, amount,
                                 currency, *op->text ? ": " : "", op->text)
               : bw_arena_printf(c->arena, "outcome %s%s%s", op->outcome, *op->text ? ": " : "",
                                 op->text);
    const char *now = num(c->arena, c->now_us);
    const char *p[4] = {t.id, op->outcome, num(c->arena, credit), now};
    if (bw_db_exec(c->db, SQL_RESOLVE, 4, p) < 0 ||
        history(c, t.id, "transition", t.status, "resolved", summary) < 0) {
        fb_db_error(c, "could not resolve ticket");
        return abandon(c);
    }
    Billow__Event *evs[2];
    size_t nev = 0;
    Billow__TicketResolved *tr = bw_arena_alloc(c->arena, sizeof *tr);
    billow__ticket_resolved__init(tr);
    tr->ticket_id = (char *)t.id;
    tr->account_id = t.account_id;
    tr->outcome = op->outcome;
    tr->resolved_at = now_text(c);
    tr->credit_minor = credit;
    tr->currency = currency;
    evs[nev] = bw_arena_alloc(c->arena, sizeof **evs);
    billow__event__init(evs[nev]);
    evs[nev]->body_case = BILLOW__EVENT__BODY_TICKET_RESOLVED;
    evs[nev++]->ticket_resolved = tr;
    if (credit) {
        const char *q[7] = {t.id, t.invoice, num(c->arena, credit), currency, now, c->actor,
                            c->cause};
        if (bw_db_exec(c->db, SQL_CREDIT_ADD, 7, q) < 0) {
            fb_db_error(c, "could not record credit request");
            return abandon(c);
        }
        Billow__CreditRequested *cr = bw_arena_alloc(c->arena, sizeof *cr);
        billow__credit_requested__init(cr);
        cr->ticket_id = (char *)t.id;
        cr->account_id = t.account_id;
        cr->invoice_number = t.invoice;
        cr->amount_minor = credit;
        cr->currency = currency;
        cr->reason = bw_arena_printf(c->arena, "%s %s %s%s%s", t.type, t.id, op->outcome,
                                     *op->text ? ": " : "", op->text);
        cr->requested_by = (char *)c->actor;
        evs[nev] = bw_arena_alloc(c->arena, sizeof **evs);
        billow__event__init(evs[nev]);
        evs[nev]->body_case = BILLOW__EVENT__BODY_CREDIT_REQUESTED;
        evs[nev++]->credit_requested = cr;
    }
    return finish(c, t.id, t.account_id, evs, nev);
}

bool fb_ticket_close(fb_call_t *c, const Billow__TicketClose *op)
{
    locked_t t;
    if (lock(c, op->ticket_id, &t) < 0)
        return false;
    if (strcmp(t.status, "resolved") != 0)
        return wrong_state(c, &t, "only a resolved ticket can be closed");
    const char *p[2] = {t.id, num(c->arena, c->now_us)};
    if (bw_db_exec(c->db, SQL_CLOSE, 2, p) < 0 ||
        history(c, t.id, "transition", t.status, "closed", "") < 0) {
        fb_db_error(c, "could not close ticket");
        return abandon(c);
    }
    Billow__Event *evs[1] = {NULL};
    size_t nev = 0;
    if (!t.has_csat) /* a ticket closed again after a reopen is not surveyed twice */
        evs[nev++] = reply_event(c, &t, "survey", "");
    return finish(c, t.id, t.account_id, evs, nev);
}

bool fb_ticket_reopen(fb_call_t *c, const Billow__TicketReopen *op)
{
    if (!check_text(c, "text", op->text, FB_TEXT_MAX, false, true))
        return false;
    locked_t t;
    if (lock(c, op->ticket_id, &t) < 0)
        return false;
    if (strcmp(t.status, "resolved") != 0 && strcmp(t.status, "closed") != 0)
        return wrong_state(c, &t, "only a resolved or closed ticket can be reopened");
    const char *p[2] = {t.id, num(c->arena, c->now_us)};
    if (bw_db_exec(c->db, SQL_REOPEN, 2, p) < 0 ||
        history(c, t.id, "transition", t.status, "in_progress", op->text) < 0) {
        fb_db_error(c, "could not reopen ticket");
        return abandon(c);
    }
    return finish(c, t.id, t.account_id, NULL, 0);
}

bool fb_ticket_csat(fb_call_t *c, const Billow__TicketCsat *op)
{
    if (op->score < 1 || op->score > 5)
        return invalid(c, BILLOW__CODE__INVALID, "score: must be 1 to 5", NULL);
    if (!check_text(c, "comment", op->comment, 2000, false, true))
        return false;
    locked_t t;
    if (lock(c, op->ticket_id, &t) < 0)
        return false;
    if (t.has_csat) {
        bw_reply_error(c->reply, BILLOW__CODE__CONFLICT,
                       "satisfaction was already recorded for this ticket", t.id);
        return abandon(c);
    }
    if (strcmp(t.status, "closed") != 0)
        return wrong_state(c, &t, "satisfaction is asked once the ticket is closed");
    const char *p[4] = {t.id, num(c->arena, op->score), op->comment, num(c->arena, c->now_us)};
    const char *text = bw_arena_printf(c->arena, "score %d%s%s", op->score,
                                       *op->comment ? ": " : "", op->comment);
    if (bw_db_exec(c->db, SQL_CSAT, 4, p) < 0 || history(c, t.id, "csat", "", "", text) < 0) {
        fb_db_error(c, "could not record satisfaction");
        return abandon(c);
    }
    return finish(c, t.id, t.account_id, NULL, 0);
}

void fb_ticket_show(fb_call_t *c, const Billow__TicketGet *op)
{
    if (!*op->ticket_id) {
        invalid(c, BILLOW__CODE__INVALID, "ticket: required (e.g. FB-000001)", NULL);
        return;
    }
    Billow__Ticket *t = load(c, op->ticket_id, false);
    if (t)
        set_ticket_reply(c, t);
}

static void list_reply(fb_call_t *c, PGresult *res)
{
    Billow__FeedbackReply *fr = bw_arena_alloc(c->arena, sizeof *fr);
    Billow__TicketListReply *lr = bw_arena_alloc(c->arena, sizeof *lr);
    billow__feedback_reply__init(fr);
    billow__ticket_list_reply__init(lr);
    int n = PQntuples(res);
    lr->tickets = bw_arena_alloc(c->arena, sizeof *lr->tickets * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        lr->tickets[lr->n_tickets++] = row_to_ticket(res, i, c->arena);
    fr->op_case = BILLOW__FEEDBACK_REPLY__OP_LIST;
    fr->list = lr;
    c->reply->body_case = BILLOW__REPLY__BODY_FEEDBACK;
    c->reply->feedback = fr;
}

static unsigned clamp_limit(unsigned limit)
{
    return limit == 0 ? 100 : limit > 1000 ? 1000 : limit;
}

void fb_ticket_list(fb_call_t *c, const Billow__TicketList *op)
{
    if (*op->status && !one_of(op->status, statuses)) {
        invalid(c, BILLOW__CODE__INVALID, "status: must be open, in_progress, resolved or closed",
                NULL);
        return;
    }
    if (*op->type && fb_type_index(op->type) < 0) {
        invalid(c, BILLOW__CODE__INVALID, "type: must be inquiry, complaint, dispute or suggestion",
                NULL);
        return;
    }
    const char *p[6] = {num(c->arena, c->now_us), op->status, op->account_id, op->type, op->after,
                        num(c->arena, clamp_limit(op->limit))};
    PGresult *res = bw_db_query(c->db, SQL_LIST, 6, p);
    if (!res) {
        fb_db_error(c, "could not list tickets");
        return;
    }
    list_reply(c, res);
    PQclear(res);
}

void fb_ticket_overdue(fb_call_t *c, const Billow__TicketOverdue *op)
{
    const char *p[2] = {num(c->arena, c->now_us), num(c->arena, clamp_limit(op->limit))};
    PGresult *res = bw_db_query(c->db, SQL_OVERDUE, 2, p);
    if (!res) {
        fb_db_error(c, "could not list overdue tickets");
        return;
    }
    list_reply(c, res);
    PQclear(res);
}
