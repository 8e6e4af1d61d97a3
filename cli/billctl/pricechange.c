/* billctl pricechange commands: fee changes announced ahead with proof of
 * notice ([notice]). create validates and stores a change document; preview
 * shows every affected account's old and new charge; announce tells them
 * (one PriceChangeAnnounced each); status shows who was told, reached,
 * acknowledged, objected, and from when the new price applies. --json
 * prints the reply body; status also has --format html. */
#include "cli.h"
#include "money.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static void print_info(const Billow__PriceChangeInfo *c)
{
    if (!c)
        return;
    printf("price change    %s (%s)\n", c->change_id, c->status);
    printf("plan            %s in %s, new price version %s\n", c->plan, c->currency,
           c->price_version && *c->price_version ? c->price_version : "-");
    printf("effective       %s, at least %d days after the first delivered notice\n",
           c->effective_date, c->min_notice_days);
    printf("reminders       ");
    for (size_t i = 0; i < c->n_reminder_days; i++)
        printf("%s%d", i ? ", " : "", c->reminder_days[i]);
    printf(" days before\n");
    printf("reason          %s\n", c->reason);
    printf("value           %s\n", c->value);
    if (c->transition && *c->transition)
        printf("transition      %s\n", c->transition);
    if (c->n_excluded || c->n_grandfathered) {
        printf("exceptions     ");
        for (size_t i = 0; i < c->n_excluded; i++)
            printf(" excluded %s;", c->excluded[i]);
        for (size_t i = 0; i < c->n_grandfathered; i++)
            printf(" grandfathered %s;", c->grandfathered[i]);
        putchar('\n');
    }
    printf("feedback        ");
    for (size_t i = 0; i < c->n_feedback_channels; i++)
        printf("%s%s", i ? "; " : "", c->feedback_channels[i]);
    putchar('\n');
    if (c->n_items) {
        printf("items           %-14s %-34s %s\n", "FEE ITEM", "OLD", "NEW");
        for (size_t i = 0; i < c->n_items; i++)
            printf("                %-14s %-34s %s\n", c->items[i]->fee_item, c->items[i]->old_price,
                   c->items[i]->new_price);
    }
    printf("created         %s by %s", c->created_at, *c->created_by ? c->created_by : "-");
    if (c->announced_at && *c->announced_at)
        printf("; announced %s", c->announced_at);
    putchar('\n');
}

static int create(cli_t *cli, int argc, char **argv)
{
    const char *pos[1];
    int npos = 0;
    static const cli_opt_t opts[] = {{NULL, NULL, NULL}};
    int prc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (prc)
        return prc;
    if (npos != 1)
        return cli_usage(cli->cmd, "give the change document (FILE.json, or - for stdin)");
    size_t len;
    char *doc = cli_read_file(pos[0], &len);
    if (!doc)
        return CLI_FAIL;
    Billow__PriceChangeCreate op = BILLOW__PRICE_CHANGE_CREATE__INIT;
    op.json = doc;
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    rr.op_case = BILLOW__RATING_REQUEST__OP_PRICE_CHANGE_CREATE;
    rr.price_change_create = &op;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    free(doc);
    if (!reply)
        return CLI_FAIL;
    if (cli->json) {
        cli_print_reply_json(reply);
    } else {
        printf("created price change %s (draft): nothing is sent until you announce it\n",
               reply->rating->price_change && reply->rating->price_change->change
                   ? reply->rating->price_change->change->change_id
                   : "?");
        if (reply->rating->price_change)
            print_info(reply->rating->price_change->change);
    }
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

static void print_totals(const Billow__PriceChangeReply *p)
{
    const char *cur = p->change ? p->change->currency : "";
    char a[40], b[40], d[40];
    printf("\n%lld accounts affected, %lld excluded or grandfathered", (long long)p->affected,
           (long long)p->excluded);
    if (p->failed)
        printf(", %lld could not be rated", (long long)p->failed);
    printf("\ntotal per period: %s %s -> %s (%s%s)\n", cur,
           cli_money(p->old_total_minor, cur, a, sizeof a), cli_money(p->new_total_minor, cur, b, sizeof b),
           p->new_total_minor >= p->old_total_minor ? "+" : "",
           cli_money(p->new_total_minor - p->old_total_minor, cur, d, sizeof d));
}

static int preview(cli_t *cli, int argc, char **argv)
{
    const char *pos[1], *limit = NULL;
    int npos = 0;
    const cli_opt_t opts[] = {{"--limit", &limit, NULL}, {NULL, NULL, NULL}};
    int prc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (prc)
        return prc;
    if (npos != 1)
        return cli_usage(cli->cmd, "give the price change id");
    Billow__PriceChangePreview op = BILLOW__PRICE_CHANGE_PREVIEW__INIT;
    op.change_id = (char *)pos[0];
    op.limit = limit ? (uint32_t)strtoul(limit, NULL, 10) : 0;
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    rr.op_case = BILLOW__RATING_REQUEST__OP_PRICE_CHANGE_PREVIEW;
    rr.price_change_preview = &op;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    if (!reply)
        return CLI_FAIL;
    const Billow__PriceChangeReply *p = reply->rating->price_change;
    if (cli->json || !p) {
        cli_print_reply_json(reply);
    } else {
        print_info(p->change);
        printf("\n%-14s %-10s %-8s %-13s %12s %12s %12s %8s  %s\n", "ACCOUNT", "TIER", "PERIOD",
               "SCOPE", "OLD", "NEW", "DIFF", "DIFF %", "NOTE");
        for (size_t i = 0; i < p->n_accounts; i++) {
            const Billow__PriceChangeAccount *x = p->accounts[i];
            char a[40] = "-", b[40] = "-", d[40] = "-";
            if (strcmp(x->scope, "affected") == 0 && !*x->note) {
                cli_money(x->old_minor, x->currency, a, sizeof a);
                cli_money(x->new_minor, x->currency, b, sizeof b);
                cli_money(x->diff_minor, x->currency, d, sizeof d);
            }
            printf("%-14s %-10s %-8s %-13s %12s %12s %12s %8s  %s\n", x->account_id,
                   *x->tier ? x->tier : "-", *x->period ? x->period : "-", x->scope, a, b, d,
                   *x->diff_percent ? x->diff_percent : "-", x->note);
        }
        if ((int64_t)p->n_accounts < p->affected + p->excluded)
            printf("... %lld more (--limit N)\n",
                   (long long)(p->affected + p->excluded - (int64_t)p->n_accounts));
        print_totals(p);
    }
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

static int announce(cli_t *cli, int argc, char **argv)
{
    const char *pos[1];
    int npos = 0;
    static const cli_opt_t opts[] = {{NULL, NULL, NULL}};
    int prc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (prc)
        return prc;
    if (npos != 1)
        return cli_usage(cli->cmd, "give the price change id");
    Billow__PriceChangeAnnounce op = BILLOW__PRICE_CHANGE_ANNOUNCE__INIT;
    op.change_id = (char *)pos[0];
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    rr.op_case = BILLOW__RATING_REQUEST__OP_PRICE_CHANGE_ANNOUNCE;
    rr.price_change_announce = &op;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    if (!reply)
        return CLI_FAIL;
    const Billow__PriceChangeReply *p = reply->rating->price_change;
    if (cli->json || !p) {
        cli_print_reply_json(reply);
    } else {
        printf("announced %s to %lld accounts (one PriceChangeAnnounced each); "
               "notification sends the notices and reminders\n",
               p->change ? p->change->change_id : "?", (long long)p->announced);
        print_totals(p);
    }
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

static void html_text(const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '&': fputs("&amp;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        default: putchar(*s);
        }
    }
}

static void html_row(const char *k, long long v)
{
    printf("<tr><th>");
    html_text(k);
    printf("</th><td>%lld</td></tr>\n", v);
}

static void print_status_html(const Billow__PriceChangeStatusReply *s)
{
    const Billow__PriceChangeInfo *c = s->change;
    printf("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Price change ");
    html_text(c->change_id);
    printf("</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
           "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>\n");
    printf("<h1>Price change ");
    html_text(c->change_id);
    printf("</h1>\n<p>Plan ");
    html_text(c->plan);
    printf(" (");
    html_text(c->currency);
    printf("), effective ");
    html_text(c->effective_date);
    printf(", minimum notice %d days. Status: ", c->min_notice_days);
    html_text(c->status);
    printf(".</p>\n<p>Reason: ");
    html_text(c->reason);
    printf("</p>\n<h2>Notices</h2>\n<table>\n");
    html_row("affected", s->affected);
    html_row("notified", s->notified);
    html_row("delivered", s->delivered);
    html_row("acknowledged", s->acknowledged);
    html_row("not reachable", s->unreachable);
    html_row("pending", s->pending);
    html_row("objections", s->objections);
    html_row("objections open", s->objections_open);
    html_row("keep the old price (not delivered)", s->old_price_accounts);
    printf("</table>\n<h2>New price takes effect</h2>\n<table><tr><th>from</th><th>accounts</th></tr>\n");
    for (size_t i = 0; i < s->n_effective; i++) {
        printf("<tr><td>");
        html_text(s->effective[i]->date);
        printf("</td><td>%lld</td></tr>\n", (long long)s->effective[i]->accounts);
    }
    printf("</table>\n<h2>Follow up (not reachable)</h2>\n<table><tr><th>account</th><th>reason</th><th>since</th></tr>\n");
    for (size_t i = 0; i < s->n_follow_up; i++) {
        printf("<tr><td>");
        html_text(s->follow_up[i]->account_id);
        printf("</td><td>");
        html_text(s->follow_up[i]->reason);
        printf("</td><td>");
        html_text(s->follow_up[i]->since);
        printf("</td></tr>\n");
    }
    printf("</table>\n<h2>Objections</h2>\n<table><tr><th>ticket</th><th>account</th><th>type</th>"
           "<th>opened</th><th>outcome</th></tr>\n");
    for (size_t i = 0; i < s->n_tickets; i++) {
        const Billow__PriceChangeTicket *t = s->tickets[i];
        printf("<tr><td>");
        html_text(t->ticket_id);
        printf("</td><td>");
        html_text(t->account_id);
        printf("</td><td>");
        html_text(t->type);
        printf("</td><td>");
        html_text(t->opened_at);
        printf("</td><td>");
        html_text(*t->outcome ? t->outcome : "open");
        printf("</td></tr>\n");
    }
    printf("</table>\n</body></html>\n");
}

static int status(cli_t *cli, int argc, char **argv)
{
    const char *pos[1], *format = NULL, *limit = NULL;
    int npos = 0;
    const cli_opt_t opts[] = {
        {"--format", &format, NULL}, {"--limit", &limit, NULL}, {NULL, NULL, NULL}};
    int prc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (prc)
        return prc;
    if (npos != 1)
        return cli_usage(cli->cmd, "give the price change id");
    if (format && strcmp(format, "html") != 0 && strcmp(format, "text") != 0)
        return cli_usage(cli->cmd, "--format is text or html");
    Billow__PriceChangeStatus op = BILLOW__PRICE_CHANGE_STATUS__INIT;
    op.change_id = (char *)pos[0];
    op.limit = limit ? (uint32_t)strtoul(limit, NULL, 10) : 0;
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    rr.op_case = BILLOW__RATING_REQUEST__OP_PRICE_CHANGE_STATUS;
    rr.price_change_status = &op;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    if (!reply)
        return CLI_FAIL;
    const Billow__PriceChangeStatusReply *s = reply->rating->price_change_status;
    if (cli->json || !s || !s->change) {
        cli_print_reply_json(reply);
    } else if (format && strcmp(format, "html") == 0) {
        print_status_html(s);
    } else {
        print_info(s->change);
        printf("\naffected %lld  notified %lld  delivered %lld  acknowledged %lld  "
               "not reachable %lld  pending %lld\n",
               (long long)s->affected, (long long)s->notified, (long long)s->delivered,
               (long long)s->acknowledged, (long long)s->unreachable, (long long)s->pending);
        printf("objections %lld (%lld open)", (long long)s->objections,
               (long long)s->objections_open);
        for (size_t i = 0; i < s->n_outcomes; i++)
            printf("%s%s", i ? ", " : ": ", s->outcomes[i]);
        printf("\n\nnew price from:\n");
        for (size_t i = 0; i < s->n_effective; i++)
            printf("  %s  %lld accounts\n", s->effective[i]->date,
                   (long long)s->effective[i]->accounts);
        printf("  never (not delivered yet: keep the old price)  %lld accounts\n",
               (long long)s->old_price_accounts);
        if (s->n_follow_up) {
            printf("\nfollow up (not reachable, e.g. by phone):\n");
            for (size_t i = 0; i < s->n_follow_up; i++)
                printf("  %-14s %s (since %s)\n", s->follow_up[i]->account_id,
                       s->follow_up[i]->reason, s->follow_up[i]->since);
        }
        if (s->n_tickets) {
            printf("\nobjections:\n");
            for (size_t i = 0; i < s->n_tickets; i++) {
                const Billow__PriceChangeTicket *t = s->tickets[i];
                printf("  %-14s %-10s %-10s %-22s %s\n", t->ticket_id, t->account_id, t->type,
                       t->opened_at, *t->outcome ? t->outcome : "open");
            }
        }
    }
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

static int list(cli_t *cli, int argc, char **argv)
{
    int npos = 0;
    static const cli_opt_t opts[] = {{NULL, NULL, NULL}};
    int prc = cli_parse(cli, argc, argv, opts, NULL, 0, &npos);
    if (prc)
        return prc;
    Billow__PriceChangeList op = BILLOW__PRICE_CHANGE_LIST__INIT;
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    rr.op_case = BILLOW__RATING_REQUEST__OP_PRICE_CHANGE_LIST;
    rr.price_change_list = &op;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    if (!reply)
        return CLI_FAIL;
    const Billow__PriceChangeListReply *l = reply->rating->price_change_list;
    if (cli->json || !l) {
        cli_print_reply_json(reply);
    } else {
        printf("%-20s %-10s %-12s %-4s %-10s %-11s %s\n", "ID", "STATUS", "PLAN", "CUR",
               "EFFECTIVE", "MIN NOTICE", "CREATED");
        for (size_t i = 0; i < l->n_changes; i++) {
            const Billow__PriceChangeInfo *c = l->changes[i];
            printf("%-20s %-10s %-12s %-4s %-10s %-11d %s\n", c->change_id, c->status, c->plan,
                   c->currency, c->effective_date, c->min_notice_days, c->created_at);
        }
    }
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

const billctl_cmd_t billctl_pricechange_cmds[] = {
    {"pricechange", "create", "FILE.json",
     "validate and store a fee change (draft): prices, reason, value, scope, dates, notice",
     create},
    {"pricechange", "preview", "ID [--limit N]",
     "old vs new charge of every affected account's last billed period", preview},
    {"pricechange", "announce", "ID",
     "tell every affected account (notices on every channel, reminders, receipt confirmation)",
     announce},
    {"pricechange", "status", "ID [--format text|html] [--limit N]",
     "notified, delivered, acknowledged, not reachable, objections, when the new price applies",
     status},
    {"pricechange", "list", "", "price changes, newest first", list},
    {NULL, NULL, NULL, NULL, NULL},
};
