/* billctl commands served by the feedback service: tickets (open, list,
 * show, assign, note, reply, resolve, close, reopen), satisfaction (csat),
 * SLA breaches (overdue) and the analysis report. Text output is aligned by
 * display width (Chinese characters take two columns) and control
 * characters are never written to the terminal. */
#include "cli.h"

#include <locale.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* --- output helpers --------------------------------------------------------- */

static void utf8_locale(void)
{
    if (!setlocale(LC_CTYPE, "C.UTF-8"))
        setlocale(LC_CTYPE, "");
}

/* Decodes the character at p (n bytes left): its length and display width;
 * a malformed byte counts as one column. */
static size_t next_char(const char *p, size_t n, wchar_t *wc, int *w)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    size_t k = mbrtowc(wc, p, n, &st);
    if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
        *wc = L'?';
        k = 1;
    }
    bool ctl = *wc < 0x20 || *wc == 0x7f || (*wc >= 0x80 && *wc < 0xa0);
    *w = ctl ? 1 : wcwidth(*wc);
    if (*w < 0)
        *w = 1;
    if (ctl)
        *wc = L' ';
    return k;
}

static int text_width(const char *s)
{
    int total = 0, w;
    wchar_t wc;
    size_t len = strlen(s);
    for (const char *p = s; *p;) {
        p += next_char(p, len - (size_t)(p - s), &wc, &w);
        total += w;
    }
    return total;
}

/* Prints s in exactly `width` columns (0: as is), truncated with "~" and
 * padded with spaces; control characters become spaces. */
static void cell(const char *s, int width)
{
    int limit = width && text_width(s) > width ? width - 1 : width;
    int used = 0, w;
    wchar_t wc;
    size_t len = strlen(s);
    const char *p = s;
    while (*p) {
        size_t k = next_char(p, len - (size_t)(p - s), &wc, &w);
        if (limit && used + w > limit)
            break;
        if (wc == L' ' || wc == L'?')
            fputc((char)wc, stdout);
        else
            fwrite(p, 1, k, stdout);
        used += w;
        p += k;
    }
    if (*p && width) {
        fputc('~', stdout);
        used++;
    }
    while (width && used < width) {
        fputc(' ', stdout);
        used++;
    }
}

/* Prints multi-line text indented, keeping line breaks and tabs only. */
static void block(const char *s, const char *indent)
{
    fputs(indent, stdout);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n')
            printf("\n%s", indent);
        else if (*p == '\t' || *p >= 0x20)
            fputc(*p == 0x7f ? ' ' : *p, stdout);
        else if (*p != '\r')
            fputc(' ', stdout);
    }
    fputc('\n', stdout);
}

static const char *dash(const char *s) { return s && *s ? s : "-"; }

static void dur(int64_t s, char *buf, size_t len)
{
    if (s < 0)
        snprintf(buf, len, "-");
    else if (s >= 3600)
        snprintf(buf, len, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(buf, len, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
}

/* --- calls ------------------------------------------------------------------ */

/* Sends op, prints errors; returns the OK reply's FeedbackReply or NULL. */
static Billow__Reply *call(cli_t *cli, Billow__FeedbackRequest *fr, int *rc)
{
    Billow__Request req = BILLOW__REQUEST__INIT;
    req.body_case = BILLOW__REQUEST__BODY_FEEDBACK;
    req.feedback = fr;
    Billow__Reply *r = cli_call(cli, "feedback", &req);
    *rc = CLI_FAIL;
    if (!r)
        return NULL;
    if (!cli_reply_ok(cli, r) || r->body_case != BILLOW__REPLY__BODY_FEEDBACK || !r->feedback) {
        if (r->code == BILLOW__CODE__OK)
            fprintf(stderr, "billctl: feedback sent an unexpected reply\n");
        billow__reply__free_unpacked(r, NULL);
        return NULL;
    }
    *rc = CLI_OK;
    return r;
}

static void print_ticket(const Billow__Ticket *t)
{
    printf("%s  %s  %s  %s  via %s\n", t->ticket_id, t->status, t->type, t->priority, t->channel);
    printf("  account       %s", t->account_id);
    if (*t->account_name) {
        fputs(" (", stdout);
        cell(t->account_name, 0);
        fputs(")", stdout);
    }
    printf("\n  category      ");
    cell(dash(t->category), 0);
    printf("\n  invoice       %s\n", dash(t->invoice_number));
    printf("  price change  %s\n", dash(t->price_change_id));
    printf("  assignee      ");
    cell(dash(t->assignee), 0);
    printf("\n  opened        %s by ", t->opened_at);
    cell(t->opened_by, 0);
    printf("\n  first reply   %s (due %s)%s\n", dash(t->first_response_at), t->first_response_due,
           t->first_response_breached ? "  SLA BREACHED" : "");
    printf("  resolved      %s (due %s)%s\n", dash(t->resolved_at), t->resolution_due,
           t->resolution_breached ? "  SLA BREACHED" : "");
    if (*t->closed_at)
        printf("  closed        %s\n", t->closed_at);
    if (*t->outcome)
        printf("  outcome       %s\n", t->outcome);
    if (t->credit_minor)
        printf("  credit        %s %s\n", t->credit, t->currency);
    if (t->n_credit_notes) {
        printf("  credit notes ");
        for (size_t i = 0; i < t->n_credit_notes; i++)
            printf(" %s", t->credit_notes[i]);
        printf("\n");
    }
    if (t->csat_score) {
        printf("  satisfaction  %d/5", t->csat_score);
        if (*t->csat_comment) {
            fputs("  ", stdout);
            cell(t->csat_comment, 0);
        }
        printf("\n");
    }
    printf("  text:\n");
    block(t->text, "    ");
    if (t->n_history) {
        printf("  history:\n");
        for (size_t i = 0; i < t->n_history; i++) {
            const Billow__TicketEntry *e = t->history[i];
            printf("    %s  ", e->at);
            cell(e->actor, 12);
            printf("  %-11s", e->kind);
            if (*e->from_status || *e->to_status)
                printf(" %s -> %s", dash(e->from_status), e->to_status);
            printf("\n");
            if (*e->text)
                block(e->text, "        ");
        }
    }
}

static void print_list(const Billow__TicketListReply *l)
{
    printf("%-10s %-12s %-11s %-7s %-14s %-20s %-4s %s\n", "TICKET", "STATUS", "TYPE", "PRIO",
           "ACCOUNT", "OPENED", "SLA", "TEXT");
    for (size_t i = 0; i < l->n_tickets; i++) {
        const Billow__Ticket *t = l->tickets[i];
        printf("%-10s %-12s %-11s %-7s ", t->ticket_id, t->status, t->type, t->priority);
        cell(t->account_id, 14);
        printf(" %-20s %-4s ", t->opened_at,
               t->first_response_breached || t->resolution_breached ? "LATE" : "ok");
        cell(t->text, 40);
        printf("\n");
    }
    if (l->n_tickets == 0)
        printf("(no tickets)\n");
}

/* Runs a request whose reply is one ticket and prints it. */
static int ticket_cmd(cli_t *cli, Billow__FeedbackRequest *fr)
{
    int rc;
    Billow__Reply *r = call(cli, fr, &rc);
    if (!r)
        return rc;
    if (cli->json)
        cli_print_reply_json(r);
    else if (r->feedback->op_case == BILLOW__FEEDBACK_REPLY__OP_TICKET)
        print_ticket(r->feedback->ticket->ticket);
    billow__reply__free_unpacked(r, NULL);
    return CLI_OK;
}

static int list_cmd(cli_t *cli, Billow__FeedbackRequest *fr)
{
    int rc;
    Billow__Reply *r = call(cli, fr, &rc);
    if (!r)
        return rc;
    if (cli->json)
        cli_print_reply_json(r);
    else if (r->feedback->op_case == BILLOW__FEEDBACK_REPLY__OP_LIST)
        print_list(r->feedback->list);
    billow__reply__free_unpacked(r, NULL);
    return CLI_OK;
}

/* --text TEXT or --text-file PATH ("-" is stdin) into *text (malloc'd in
 * *owned when read from a file). */
static int take_text(cli_t *cli, const char *text, const char *file, bool required,
                     char **out, char **owned)
{
    *owned = NULL;
    if (text && file)
        return cli_usage(cli->cmd, "give --text or --text-file, not both");
    if (file) {
        size_t len;
        *owned = cli_read_file(file, &len);
        if (!*owned)
            return CLI_FAIL;
        if (strlen(*owned) != len) {
            free(*owned);
            *owned = NULL;
            fprintf(stderr, "billctl: %s: contains a NUL byte\n", file);
            return CLI_FAIL;
        }
        *out = *owned;
        return 0;
    }
    if (!text && required)
        return cli_usage(cli->cmd, "--text is required");
    *out = (char *)(text ? text : "");
    return 0;
}

/* --- commands --------------------------------------------------------------- */

static int cmd_open(cli_t *cli, int argc, char **argv)
{
    const char *account = NULL, *type = NULL, *channel = NULL, *invoice = NULL, *pc = NULL,
               *prio = NULL, *cat = NULL, *text = NULL, *file = NULL;
    cli_opt_t opts[] = {{"--account", &account, NULL}, {"--type", &type, NULL},
                        {"--channel", &channel, NULL}, {"--invoice", &invoice, NULL},
                        {"--price-change", &pc, NULL}, {"--priority", &prio, NULL},
                        {"--category", &cat, NULL},   {"--text", &text, NULL},
                        {"--text-file", &file, NULL},  {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    if (!account || !type || !channel)
        return cli_usage(cli->cmd, "--account, --type and --channel are required");
    char *body, *owned;
    if ((rc = take_text(cli, text, file, true, &body, &owned)))
        return rc;
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__TicketOpen op = BILLOW__TICKET_OPEN__INIT;
    op.account_id = (char *)account;
    op.type = (char *)type;
    op.channel = (char *)channel;
    op.invoice_number = (char *)(invoice ? invoice : "");
    op.price_change_id = (char *)(pc ? pc : "");
    op.priority = (char *)(prio ? prio : "");
    op.category = (char *)(cat ? cat : "");
    op.text = body;
    fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_OPEN;
    fr.open = &op;
    rc = ticket_cmd(cli, &fr);
    free(owned);
    return rc;
}

static int cmd_list(cli_t *cli, int argc, char **argv)
{
    const char *status = NULL, *account = NULL, *type = NULL, *after = NULL, *limit = NULL;
    cli_opt_t opts[] = {{"--status", &status, NULL}, {"--account", &account, NULL},
                        {"--type", &type, NULL},     {"--after", &after, NULL},
                        {"--limit", &limit, NULL},   {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__TicketList op = BILLOW__TICKET_LIST__INIT;
    op.status = (char *)(status ? status : "");
    op.account_id = (char *)(account ? account : "");
    op.type = (char *)(type ? type : "");
    op.after = (char *)(after ? after : "");
    if (limit) {
        char *end;
        long v = strtol(limit, &end, 10);
        if (*end || v < 1 || v > 1000)
            return cli_usage(cli->cmd, "--limit must be 1 to 1000");
        op.limit = (uint32_t)v;
    }
    fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_LIST;
    fr.list = &op;
    return list_cmd(cli, &fr);
}

static int cmd_overdue(cli_t *cli, int argc, char **argv)
{
    int rc = cli_parse(cli, argc, argv, NULL, NULL, 0, NULL);
    if (rc)
        return rc;
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__TicketOverdue op = BILLOW__TICKET_OVERDUE__INIT;
    fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_OVERDUE;
    fr.overdue = &op;
    return list_cmd(cli, &fr);
}

/* Parses `TICKET` plus opts; returns 0 with *id set, or the usage code. */
static int one_ticket(cli_t *cli, int argc, char **argv, const cli_opt_t *opts, const char **id)
{
    const char *pos[1] = {NULL};
    *id = NULL;
    int npos = 0;
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return cli_usage(cli->cmd, "which ticket? (e.g. FB-000001)");
    *id = pos[0];
    return 0;
}

static int cmd_show(cli_t *cli, int argc, char **argv)
{
    const char *id;
    int rc = one_ticket(cli, argc, argv, NULL, &id);
    if (rc)
        return rc;
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__TicketGet op = BILLOW__TICKET_GET__INIT;
    op.ticket_id = (char *)id;
    fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_SHOW;
    fr.show = &op;
    return ticket_cmd(cli, &fr);
}

static int cmd_assign(cli_t *cli, int argc, char **argv)
{
    const char *id, *to = NULL;
    cli_opt_t opts[] = {{"--to", &to, NULL}, {NULL, NULL, NULL}};
    int rc = one_ticket(cli, argc, argv, opts, &id);
    if (rc)
        return rc;
    if (!to)
        return cli_usage(cli->cmd, "--to is required");
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__TicketAssign op = BILLOW__TICKET_ASSIGN__INIT;
    op.ticket_id = (char *)id;
    op.assignee = (char *)to;
    fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_ASSIGN;
    fr.assign = &op;
    return ticket_cmd(cli, &fr);
}

/* note and reply: TICKET --text TEXT | --text-file PATH */
static int text_cmd(cli_t *cli, int argc, char **argv, bool to_customer)
{
    const char *id, *text = NULL, *file = NULL;
    cli_opt_t opts[] = {{"--text", &text, NULL}, {"--text-file", &file, NULL}, {NULL, NULL, NULL}};
    int rc = one_ticket(cli, argc, argv, opts, &id);
    if (rc)
        return rc;
    char *body, *owned;
    if ((rc = take_text(cli, text, file, true, &body, &owned)))
        return rc;
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__TicketNote note = BILLOW__TICKET_NOTE__INIT;
    Billow__TicketRespond reply = BILLOW__TICKET_RESPOND__INIT;
    if (to_customer) {
        reply.ticket_id = (char *)id;
        reply.text = body;
        fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_REPLY;
        fr.reply = &reply;
    } else {
        note.ticket_id = (char *)id;
        note.text = body;
        fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_NOTE;
        fr.note = &note;
    }
    rc = ticket_cmd(cli, &fr);
    free(owned);
    return rc;
}

static int cmd_note(cli_t *cli, int argc, char **argv) { return text_cmd(cli, argc, argv, false); }
static int cmd_reply(cli_t *cli, int argc, char **argv) { return text_cmd(cli, argc, argv, true); }

static int cmd_resolve(cli_t *cli, int argc, char **argv)
{
    const char *id, *outcome = NULL, *credit = NULL, *text = NULL;
    cli_opt_t opts[] = {{"--outcome", &outcome, NULL},
                        {"--credit", &credit, NULL},
                        {"--text", &text, NULL},
                        {NULL, NULL, NULL}};
    int rc = one_ticket(cli, argc, argv, opts, &id);
    if (rc)
        return rc;
    if (!outcome)
        return cli_usage(cli->cmd, "--outcome is required");
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__TicketResolve op = BILLOW__TICKET_RESOLVE__INIT;
    op.ticket_id = (char *)id;
    op.outcome = (char *)outcome;
    op.credit = (char *)(credit ? credit : "");
    op.text = (char *)(text ? text : "");
    fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_RESOLVE;
    fr.resolve = &op;
    return ticket_cmd(cli, &fr);
}

static int cmd_close(cli_t *cli, int argc, char **argv)
{
    const char *id;
    int rc = one_ticket(cli, argc, argv, NULL, &id);
    if (rc)
        return rc;
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__TicketClose op = BILLOW__TICKET_CLOSE__INIT;
    op.ticket_id = (char *)id;
    fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_CLOSE;
    fr.close = &op;
    return ticket_cmd(cli, &fr);
}

static int cmd_reopen(cli_t *cli, int argc, char **argv)
{
    const char *id, *text = NULL;
    cli_opt_t opts[] = {{"--text", &text, NULL}, {NULL, NULL, NULL}};
    int rc = one_ticket(cli, argc, argv, opts, &id);
    if (rc)
        return rc;
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__TicketReopen op = BILLOW__TICKET_REOPEN__INIT;
    op.ticket_id = (char *)id;
    op.text = (char *)(text ? text : "");
    fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_REOPEN;
    fr.reopen = &op;
    return ticket_cmd(cli, &fr);
}

static int cmd_csat(cli_t *cli, int argc, char **argv)
{
    const char *pos[2], *comment = NULL;
    int npos = 0;
    cli_opt_t opts[] = {{"--comment", &comment, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, pos, 2, &npos);
    if (rc)
        return rc;
    if (npos != 2)
        return cli_usage(cli->cmd, "give the ticket and a score from 1 to 5");
    char *end;
    long score = strtol(pos[1], &end, 10);
    if (*end || score < 1 || score > 5)
        return cli_usage(cli->cmd, "SCORE must be 1 to 5");
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__TicketCsat op = BILLOW__TICKET_CSAT__INIT;
    op.ticket_id = (char *)pos[0];
    op.score = (int32_t)score;
    op.comment = (char *)(comment ? comment : "");
    fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_CSAT;
    fr.csat = &op;
    return ticket_cmd(cli, &fr);
}

static void report_row(const Billow__ReportGroup *g, int keyw)
{
    char frt[24], res[24];
    dur(g->median_first_response_s, frt, sizeof frt);
    dur(g->median_resolution_s, res, sizeof res);
    cell(g->key, keyw);
    printf(" %7lld %8lld %12s %12s %8lld %6.1f%%", (long long)g->tickets, (long long)g->resolved,
           frt, res, (long long)g->breached, g->breach_rate * 100);
    if (g->csat_count)
        printf(" %5.2f (%lld)\n", g->csat_avg, (long long)g->csat_count);
    else
        printf("     -\n");
}

static void print_report(const Billow__FeedbackReport *r)
{
    printf("Feedback %s to %s, by %s\n\n", r->from, r->to, r->by);
    int keyw = 20;
    cell(r->by, keyw);
    printf(" %7s %8s %12s %12s %8s %7s %s\n", "TICKETS", "RESOLVED", "MED.1ST-RESP",
           "MED.RESOLVE", "BREACHED", "RATE", "CSAT");
    for (size_t i = 0; i < r->n_groups; i++)
        report_row(r->groups[i], keyw);
    if (r->total)
        report_row(r->total, keyw);
    if (r->n_price_changes) {
        printf("\n%-20s %8s %8s %9s\n", "PRICE CHANGE", "ACCOUNTS", "TICKETS", "OBJECTION");
        for (size_t i = 0; i < r->n_price_changes; i++) {
            const Billow__PriceChangeObjection *o = r->price_changes[i];
            cell(o->change_id, 20);
            printf(" %8lld %8lld %8.1f%%\n", (long long)o->accounts, (long long)o->tickets,
                   o->objection_rate * 100);
        }
    }
    if (r->n_top_categories) {
        printf("\nTOP CATEGORIES\n");
        for (size_t i = 0; i < r->n_top_categories; i++) {
            printf("  ");
            cell(r->top_categories[i]->category, 20);
            printf(" %lld\n", (long long)r->top_categories[i]->tickets);
        }
    }
}

static int cmd_report(cli_t *cli, int argc, char **argv)
{
    const char *from = NULL, *to = NULL, *by = NULL, *format = NULL;
    cli_opt_t opts[] = {{"--from", &from, NULL}, {"--to", &to, NULL}, {"--by", &by, NULL},
                        {"--format", &format, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    if (!format)
        format = cli->json ? "json" : "table";
    if (strcmp(format, "json") == 0)
        cli->json = true;
    Billow__FeedbackRequest fr = BILLOW__FEEDBACK_REQUEST__INIT;
    Billow__FeedbackReportRequest op = BILLOW__FEEDBACK_REPORT_REQUEST__INIT;
    op.from = (char *)(from ? from : "");
    op.to = (char *)(to ? to : "");
    op.by = (char *)(by ? by : "");
    op.format = (char *)format;
    fr.op_case = BILLOW__FEEDBACK_REQUEST__OP_REPORT;
    fr.report = &op;
    Billow__Reply *r = call(cli, &fr, &rc);
    if (!r)
        return rc;
    if (r->feedback->op_case == BILLOW__FEEDBACK_REPLY__OP_REPORT) {
        const Billow__FeedbackReport *rep = r->feedback->report;
        if (cli->json)
            cli_print_reply_json(r);
        else if (*rep->document)
            fputs(rep->document, stdout);
        else
            print_report(rep);
    }
    billow__reply__free_unpacked(r, NULL);
    return CLI_OK;
}

/* Every command sets the locale first so widths are right. */
#define WRAP(name)                                                                                 \
    static int run_##name(cli_t *cli, int argc, char **argv)                                       \
    {                                                                                              \
        utf8_locale();                                                                             \
        return cmd_##name(cli, argc, argv);                                                        \
    }
WRAP(open)
WRAP(list)
WRAP(show)
WRAP(assign)
WRAP(note)
WRAP(reply)
WRAP(resolve)
WRAP(close)
WRAP(reopen)
WRAP(csat)
WRAP(overdue)
WRAP(report)

const billctl_cmd_t billctl_feedback_cmds[] = {
    {"feedback", "open",
     "--account A --type inquiry|complaint|dispute|suggestion"
     " --channel phone|email|web|sms|social|in_person [--invoice N] [--price-change ID]"
     " [--priority low|normal|high|urgent] [--category C] --text TEXT|--text-file PATH",
     "open a ticket for what a customer said", run_open},
    {"feedback", "list",
     "[--status open|in_progress|resolved|closed] [--account A] [--type T] [--after TICKET]"
     " [--limit N]",
     "list tickets, oldest first", run_list},
    {"feedback", "show", "TICKET", "a ticket with its full history", run_show},
    {"feedback", "assign", "TICKET --to NAME", "assign a ticket (open -> in_progress)",
     run_assign},
    {"feedback", "note", "TICKET --text TEXT|--text-file PATH",
     "add an internal note (never sent to the customer)", run_note},
    {"feedback", "reply", "TICKET --text TEXT|--text-file PATH",
     "reply to the customer (sent by notification in the account's language)", run_reply},
    {"feedback", "resolve",
     "TICKET --outcome upheld|partially_upheld|rejected|answered [--credit AMOUNT] [--text TEXT]",
     "resolve a ticket; a credit on an upheld dispute or complaint asks invoicing for a credit"
     " note",
     run_resolve},
    {"feedback", "close", "TICKET", "close a resolved ticket (sends the satisfaction survey)",
     run_close},
    {"feedback", "reopen", "TICKET [--text REASON]", "reopen a resolved or closed ticket",
     run_reopen},
    {"feedback", "csat", "TICKET SCORE [--comment TEXT]",
     "record the customer's satisfaction (1-5, once, after close)", run_csat},
    {"feedback", "overdue", "", "open tickets past their first-response or resolution target",
     run_overdue},
    {"feedback", "report",
     "[--from YYYY-MM-DD] [--to YYYY-MM-DD] [--by type|channel|category|fee-item|price-change]"
     " [--format table|csv|json|html]",
     "feedback analysis: counts, objection rates, medians, SLA breaches, satisfaction",
     run_report},
    {NULL, NULL, NULL, NULL, NULL},
};
