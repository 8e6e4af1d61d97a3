/* Request dispatch for the feedback service (see api.h). */
#include "feedback/api.h"
#include "feedback/report.h"
#include "feedback/sla.h"
#include "feedback/text.h"
#include "feedback/tickets.h"

#include "clock.h"
#include "errors.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    fb_sla_t sla;
} fb_state_t;

int fb_api_init(bw_service_t *svc)
{
    fb_state_t *st = calloc(1, sizeof *st);
    if (!st)
        return BW_ENOMEM;
    char err[256];
    if (fb_sla_from_env(&st->sla, err, sizeof err) < 0) {
        bw_log(BW_ERROR, "bad setting", "error", BW_S(err), NULL);
        free(st);
        return BW_EINVAL;
    }
    bw_service_set_data(svc, st);
    return 0;
}

void fb_api_fini(bw_service_t *svc)
{
    free(bw_service_data(svc));
    bw_service_set_data(svc, NULL);
}

bool fb_api_handle(void *arg, const Billow__Request *req, Billow__Reply *reply, bw_arena_t *arena)
{
    bw_service_t *svc = arg;
    fb_state_t *st = bw_service_data(svc);
    if (req->body_case != BILLOW__REQUEST__BODY_FEEDBACK || !req->feedback) {
        bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "unknown request type",
                       "the feedback service handles feedback requests");
        return false;
    }
    const char *op = req->operator_ ? req->operator_ : "";
    char err[200];
    if (fb_text_check("operator", op, 100, false, false, err, sizeof err) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, bw_arena_strdup(arena, err), NULL);
        return false;
    }
    fb_call_t c = {
        .db = bw_service_db(svc),
        .sla = &st->sla,
        .cause = bw_arena_printf(arena, "request:%llu", (unsigned long long)req->id),
        .actor = *op ? op : "system",
        .now_us = bw_now_us(),
        .arena = arena,
        .reply = reply,
    };
    const Billow__FeedbackRequest *f = req->feedback;
    switch (f->op_case) {
    case BILLOW__FEEDBACK_REQUEST__OP_OPEN:
        return fb_ticket_open(&c, f->open);
    case BILLOW__FEEDBACK_REQUEST__OP_LIST:
        fb_ticket_list(&c, f->list);
        return false;
    case BILLOW__FEEDBACK_REQUEST__OP_SHOW:
        fb_ticket_show(&c, f->show);
        return false;
    case BILLOW__FEEDBACK_REQUEST__OP_ASSIGN:
        return fb_ticket_assign(&c, f->assign);
    case BILLOW__FEEDBACK_REQUEST__OP_NOTE:
        return fb_ticket_note(&c, f->note);
    case BILLOW__FEEDBACK_REQUEST__OP_REPLY:
        return fb_ticket_respond(&c, f->reply);
    case BILLOW__FEEDBACK_REQUEST__OP_RESOLVE:
        return fb_ticket_resolve(&c, f->resolve);
    case BILLOW__FEEDBACK_REQUEST__OP_CLOSE:
        return fb_ticket_close(&c, f->close);
    case BILLOW__FEEDBACK_REQUEST__OP_REOPEN:
        return fb_ticket_reopen(&c, f->reopen);
    case BILLOW__FEEDBACK_REQUEST__OP_CSAT:
        return fb_ticket_csat(&c, f->csat);
    case BILLOW__FEEDBACK_REQUEST__OP_OVERDUE:
        fb_ticket_overdue(&c, f->overdue);
        return false;
    case BILLOW__FEEDBACK_REQUEST__OP_REPORT:
        fb_report(&c, f->report);
        return false;
    default:
        bw_reply_error(reply, BILLOW__CODE__UNSUPPORTED, "unknown feedback operation",
                       "this feedback service is older than billctl");
        return false;
    }
}
