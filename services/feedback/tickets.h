/* Tickets: what customers tell us (inquiries, complaints, disputes,
 * suggestions) and how it is handled: open -> in_progress -> resolved ->
 * closed, with reopen. Every step is written to ticket_history with who did
 * it and when (the service clock), in the same transaction as the change and
 * the events it emits (FeedbackReceived, ReplyRequested, TicketResolved,
 * CreditRequested). Tickets naming an account, invoice or price change are
 * checked against what invoicing and rating announced (see views.h). */
#ifndef FB_TICKETS_H
#define FB_TICKETS_H

#include <stdbool.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "arena.h"
#include "feedback/sla.h"

typedef struct bw_db bw_db_t;

/* One request being handled: where to write, who asks, what caused it. */
typedef struct {
    bw_db_t *db;
    const fb_sla_t *sla;
    const char *cause;  /* "request:<id>": recorded as caused_by */
    const char *actor;  /* Request.operator, or "system" */
    int64_t now_us;     /* bw_now_us() when the request arrived */
    bw_arena_t *arena;  /* reply memory */
    Billow__Reply *reply;
} fb_call_t;

/* Mutating handlers fill c->reply and return true when state changed. */
bool fb_ticket_open(fb_call_t *c, const Billow__TicketOpen *op);
bool fb_ticket_assign(fb_call_t *c, const Billow__TicketAssign *op);
bool fb_ticket_note(fb_call_t *c, const Billow__TicketNote *op);
bool fb_ticket_respond(fb_call_t *c, const Billow__TicketRespond *op);
bool fb_ticket_resolve(fb_call_t *c, const Billow__TicketResolve *op);
bool fb_ticket_close(fb_call_t *c, const Billow__TicketClose *op);
bool fb_ticket_reopen(fb_call_t *c, const Billow__TicketReopen *op);
bool fb_ticket_csat(fb_call_t *c, const Billow__TicketCsat *op);

/* Queries. */
void fb_ticket_show(fb_call_t *c, const Billow__TicketGet *op);
void fb_ticket_list(fb_call_t *c, const Billow__TicketList *op);
/* Tickets not closed whose first-response or resolution target has passed,
 * oldest due first. */
void fb_ticket_overdue(fb_call_t *c, const Billow__TicketOverdue *op);

/* Fills reply with an error for the database's last failure. */
void fb_db_error(fb_call_t *c, const char *what);

#endif
