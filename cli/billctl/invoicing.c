/* billctl commands served by the invoicing service: accounts, bill runs,
 * invoices. */
#include "cli.h"
#include "money.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Builds a Request carrying one InvoicingRequest op. */
#define INV_REQ(req, sub, OPCASE, field, value)                                                    \
    Billow__Request req = BILLOW__REQUEST__INIT;                                                   \
    Billow__InvoicingRequest sub = BILLOW__INVOICING_REQUEST__INIT;                                \
    sub.op_case = BILLOW__INVOICING_REQUEST__OP_##OPCASE;                                          \
    sub.field = (value);                                                                           \
    req.body_case = BILLOW__REQUEST__BODY_INVOICING;                                               \
    req.invoicing = &sub

static void money(int64_t minor, const char *cur, char *buf, size_t len)
{
    char amt[40];
    if (bw_money_format(minor, cur, amt, sizeof amt) < 0)
        snprintf(amt, sizeof amt, "%lld", (long long)minor);
    snprintf(buf, len, "%s %s", cur, amt);
}

/* The invoicing part of a reply, or NULL. */
static const Billow__InvoicingReply *inv(const Billow__Reply *r)
{
    return r->body_case == BILLOW__REPLY__BODY_INVOICING ? r->invoicing : NULL;
}

/* Sends req and returns the InvoicingReply, or NULL after printing why. The
 * caller frees *reply. */
static Billow__InvoicingReply *call(cli_t *cli, Billow__Request *req, Billow__Reply **reply)
{
    *reply = cli_call(cli, "invoicing", req);
    if (!*reply)
        return NULL;
    if (!cli_reply_ok(cli, *reply) || (*reply)->body_case != BILLOW__REPLY__BODY_INVOICING) {
        return NULL;
    }
    return (*reply)->invoicing;
}

/* --- accounts --------------------------------------------------------------- */

static bool print_account(cli_t *cli, const Billow__Reply *r)
{
    (void)cli;
    if (!inv(r) || !inv(r)->account)
        return false;
    const Billow__AccountChanged *a = inv(r)->account->account;
    printf("id:            %s\n", a->account_id);
    printf("name:          %s\n", a->name);
    if (*a->external_ref)
        printf("external ref:  %s\n", a->external_ref);
    printf("status:        %s\n", a->status);
    printf("currency:      %s\n", a->currency);
    printf("cycle:         %s (anchor day %d)\n", a->cycle, a->anchor_day);
    printf("terms:         net %d days\n", a->terms_days);
    printf("payment plan:  %s\n", a->payment_plan);
    printf("tier:          %s\n", a->tier);
    printf("tax profile:   %s\n", a->tax_profile);
    printf("language:      %s\n", a->language);
    printf("time zone:     %s\n", a->time_zone);
    printf("email:         %s\n", *a->email ? a->email : "-");
    printf("phone:         %s\n", *a->phone ? a->phone : "-");
    printf("webhook:       %s\n", *a->webhook_url ? a->webhook_url : "-");
    printf("version:       %lld (changed %s)\n", (long long)a->version, a->changed_at);
    return true;
}

static bool print_upsert(cli_t *cli, const Billow__Reply *r)
{
    (void)cli;
    const Billow__AccountReply *a = inv(r) ? inv(r)->account : NULL;
    if (!a)
        return false;
    printf("%s %s\n", a->created ? "created" : a->changed ? "updated" : "unchanged",
           a->account->account_id);
    return true;
}

static int account_write(cli_t *cli, int argc, char **argv, bool create)
{
    static const char *names[] = {"--id", "--name", "--currency", "--time-zone", "--cycle",
                                  "--anchor-day", "--terms-days", "--tier", "--tax-profile",
                                  "--language", "--email", "--phone", "--webhook-url",
                                  "--external-ref", "--status", "--payment-plan"};
    static const char *fields[] = {"id", "name", "currency", "time_zone", "cycle",
                                   "anchor_day", "terms_days", "tier", "tax_profile",
                                   "language", "email", "phone", "webhook_url",
                                   "external_ref", "status", "payment_plan"};
    enum { NF = 16 };
    const char *v[NF] = {NULL}; /* NULL: not given */
    cli_opt_t opts[NF + 1];
    for (int i = 0; i < NF; i++)
        opts[i] = (cli_opt_t){.name = names[i], .value = &v[i]};
    opts[NF] = (cli_opt_t){0};
    const char *pos[1];
    int npos = 0;
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos == 1 && !v[0])
        v[0] = pos[0];
    if (!v[0])
        return cli_usage(cli->cmd, "the account id is required");
    Billow__AccountChanged a = BILLOW__ACCOUNT_CHANGED__INIT;
    char *end;
    if (v[5]) {
        a.anchor_day = (int32_t)strtol(v[5], &end, 10);
        if (*end || !*v[5])
            return cli_usage(cli->cmd, "--anchor-day takes a number");
    }
    if (v[6]) {
        a.terms_days = (int32_t)strtol(v[6], &end, 10);
        if (*end || !*v[6])
            return cli_usage(cli->cmd, "--terms-days takes a number");
    }
    char **dst[NF] = {&a.account_id, &a.name, &a.currency, &a.time_zone, &a.cycle, NULL, NULL,
                      &a.tier, &a.tax_profile, &a.language, &a.email, &a.phone, &a.webhook_url,
                      &a.external_ref, &a.status, &a.payment_plan};
    /* The fields given on the command line are the ones an update changes. */
    char *sel[NF];
    size_t nsel = 0;
    for (int i = 0; i < NF; i++) {
        if (!v[i])
            continue;
        if (dst[i])
            *dst[i] = (char *)v[i];
        if (i > 0)
            sel[nsel++] = (char *)fields[i];
    }
    Billow__AccountUpsert up = BILLOW__ACCOUNT_UPSERT__INIT;
    up.account = &a;
    up.create_only = create;
    up.update_only = !create;
    if (!create) {
        if (nsel == 0)
            return cli_usage(cli->cmd, "nothing to update: name at least one field");
        up.n_fields = nsel;
        up.fields = sel;
    }
    INV_REQ(req, sub, ACCOUNT_UPSERT, account_upsert, &up);
    return cli_run(cli, "invoicing", &req, print_upsert);
}

static int account_create(cli_t *cli, int argc, char **argv) { return account_write(cli, argc, argv, true); }
static int account_update(cli_t *cli, int argc, char **argv) { return account_write(cli, argc, argv, false); }

static int account_show(cli_t *cli, int argc, char **argv)
{
    const char *pos[1];
    int rc = cli_args(cli, argc, argv, pos, 1, "which account?");
    if (rc)
        return rc;
    Billow__AccountGet g = BILLOW__ACCOUNT_GET__INIT;
    g.account_id = (char *)pos[0];
    INV_REQ(req, sub, ACCOUNT_GET, account_get, &g);
    return cli_run(cli, "invoicing", &req, print_account);
}

static bool print_account_list(cli_t *cli, const Billow__Reply *r)
{
    (void)cli;
    const Billow__AccountListReply *l = inv(r) ? inv(r)->account_list : NULL;
    if (!l)
        return false;
    printf("%-16s %-30s %-4s %-9s %-9s %-8s %s\n", "ID", "NAME", "CUR", "CYCLE", "TIER", "STATUS",
           "EMAIL");
    for (size_t i = 0; i < l->n_accounts; i++) {
        const Billow__AccountChanged *a = l->accounts[i];
        printf("%-16s %-30.30s %-4s %-9s %-9s %-8s %s\n", a->account_id, a->name, a->currency,
               a->cycle, a->tier, a->status, a->email);
    }
    return true;
}

static int account_list(cli_t *cli, int argc, char **argv)
{
    const char *status = "", *cycle = "", *after = "", *limit = NULL;
    cli_opt_t opts[] = {{"--status", &status, NULL}, {"--cycle", &cycle, NULL},
                        {"--after", &after, NULL}, {"--limit", &limit, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    Billow__AccountList l = BILLOW__ACCOUNT_LIST__INIT;
    l.status = (char *)status;
    l.cycle = (char *)cycle;
    l.after = (char *)after;
    l.limit = limit ? (uint32_t)atoi(limit) : 100;
    INV_REQ(req, sub, ACCOUNT_LIST, account_list, &l);
    return cli_run(cli, "invoicing", &req, print_account_list);
}

static int account_import(cli_t *cli, int argc, char **argv)
{
    const char *pos[1];
    int rc;
    char *csv = cli_import_file(cli, argc, argv, pos, &rc);
    if (!csv)
        return rc;
    Billow__AccountImport im = BILLOW__ACCOUNT_IMPORT__INIT;
    im.csv = csv;
    INV_REQ(req, sub, ACCOUNT_IMPORT, account_import, &im);
    Billow__Reply *reply = cli_call(cli, "invoicing", &req);
    free(csv);
    if (!reply)
        return CLI_FAIL;
    rc = CLI_FAIL;
    Billow__ImportReply *r = reply->body_case == BILLOW__REPLY__BODY_INVOICING && reply->invoicing->import
                                 ? reply->invoicing->import : NULL;
    if (cli->json && r) {
        cli_print_reply_json(reply);
    } else if (r) {
        cli_print_row_errors(pos[0], r->errors, r->n_errors);
    }
    if (reply->code == BILLOW__CODE__OK && r) {
        if (!cli->json)
            printf("%d rows: %d created, %d updated, %d unchanged\n", r->rows, r->created,
                   r->updated, r->rows - r->created - r->updated);
        rc = CLI_OK;
    } else {
        cli_reply_ok(cli, reply);
    }
    billow__reply__free_unpacked(reply, NULL);
    return rc;
}

/* --- bill runs ------------------------------------------------------------- */

static void print_run_line(const Billow__BillRun *r)
{
    printf("%-26s %-8s %-9s %8lld %8lld %8lld %8lld %6lld  %s\n", r->run_id, r->period, r->status,
           (long long)r->due, (long long)r->invoiced, (long long)r->nothing_to_bill,
           (long long)r->failed, (long long)(r->due - r->rated), r->started_at);
}

static void print_run(const Billow__BillRun *r)
{
    printf("run:             %s (%s, %s to %s)\n", r->run_id, r->cycle, r->period_start,
           r->period_end);
    printf("status:          %s\n", r->status);
    printf("due:             %lld accounts\n", (long long)r->due);
    printf("rated:           %lld\n", (long long)r->rated);
    printf("invoiced:        %lld\n", (long long)r->invoiced);
    printf("nothing to bill: %lld\n", (long long)r->nothing_to_bill);
    printf("failed:          %lld\n", (long long)r->failed);
    printf("started:         %s\n", r->started_at);
    if (*r->finished_at)
        printf("finished:        %s (%.1f s)\n", r->finished_at, r->elapsed_s);
    for (size_t i = 0; i < r->n_totals; i++) {
        char m[64];
        money(r->totals[i]->total_minor, r->totals[i]->currency, m, sizeof m);
        printf("total %s:       %s in %lld invoices\n", r->totals[i]->currency, m,
               (long long)r->totals[i]->invoices);
    }
}

static bool print_started(cli_t *cli, const Billow__Reply *r)
{
    (void)cli;
    const Billow__BillRunReply *b = inv(r) ? inv(r)->bill_run : NULL;
    if (!b)
        return false;
    printf("%s %s: %lld accounts due\n", b->created ? "started" : "already started",
           b->run->run_id, (long long)b->run->due);
    return true;
}

static int billrun_start(cli_t *cli, int argc, char **argv)
{
    const char *period = NULL, *cycle = "monthly";
    cli_opt_t opts[] = {{"--period", &period, NULL}, {"--cycle", &cycle, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    if (!period)
        return cli_usage(cli->cmd, "--period is required (e.g. 2026-11)");
    Billow__BillRunStart st = BILLOW__BILL_RUN_START__INIT;
    st.period = (char *)period;
    st.cycle = (char *)cycle;
    INV_REQ(req, sub, BILL_RUN_START, bill_run_start, &st);
    return cli_run(cli, "invoicing", &req, print_started);
}

static void progress(const Billow__BillRun *r, double rate)
{
    int width = 30;
    double frac = r->due ? (double)r->rated / (double)r->due : 1.0;
    int fill = (int)(frac * width + 0.5);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    char eta[32] = "-";
    if (rate > 0 && r->rated < r->due)
        snprintf(eta, sizeof eta, "%.0fs", (double)(r->due - r->rated) / rate);
    printf("\r[%s] %5.1f%%  rated %lld/%lld  invoiced %lld  nothing %lld  failed %lld  %.0f/s  ETA %s   ",
           bar, frac * 100, (long long)r->rated, (long long)r->due, (long long)r->invoiced,
           (long long)r->nothing_to_bill, (long long)r->failed, rate, eta);
    fflush(stdout);
}

static int billrun_status(cli_t *cli, int argc, char **argv)
{
    bool watch = false;
    const char *pos[1];
    int npos = 0;
    cli_opt_t opts[] = {{"--watch", NULL, &watch}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return cli_usage(cli->cmd, "which run? (billctl billrun list)");
    bool tty = isatty(STDOUT_FILENO) && !cli->json;
    long long last_rated = -1;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double rate = 0;
    for (;;) {
        Billow__BillRunGet g = BILLOW__BILL_RUN_GET__INIT;
        g.run_id = (char *)pos[0];
        INV_REQ(req, sub, BILL_RUN_GET, bill_run_get, &g);
        Billow__Reply *reply;
        Billow__InvoicingReply *ir = call(cli, &req, &reply);
        if (!ir || !ir->bill_run) {
            if (reply)
                billow__reply__free_unpacked(reply, NULL);
            return CLI_FAIL;
        }
        Billow__BillRun *r = ir->bill_run->run;
        bool done = strcmp(r->status, "complete") == 0;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        double dt = (double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9;
        if (last_rated >= 0 && dt > 0)
            rate = 0.5 * rate + 0.5 * (double)(r->rated - last_rated) / dt;
        last_rated = r->rated;
        t0 = t;
        if (!watch || done) {
            if (tty && watch)
                progress(r, rate), printf("\n");
            if (cli->json)
                cli_print_reply_json(reply);
            else
                print_run(r);
            billow__reply__free_unpacked(reply, NULL);
            return CLI_OK;
        }
        if (tty)
            progress(r, rate);
        else if (!cli->json)
            printf("rated %lld/%lld invoiced %lld nothing %lld failed %lld\n", (long long)r->rated,
                   (long long)r->due, (long long)r->invoiced, (long long)r->nothing_to_bill,
                   (long long)r->failed);
        billow__reply__free_unpacked(reply, NULL);
        usleep(500000);
    }
}

static bool print_runs(cli_t *cli, const Billow__Reply *r)
{
    (void)cli;
    const Billow__BillRunListReply *l = inv(r) ? inv(r)->bill_run_list : NULL;
    if (!l)
        return false;
    printf("%-26s %-8s %-9s %8s %8s %8s %8s %6s  %s\n", "RUN", "PERIOD", "STATUS", "DUE",
           "INVOICED", "NOTHING", "FAILED", "LEFT", "STARTED");
    for (size_t i = 0; i < l->n_runs; i++)
        print_run_line(l->runs[i]);
    return true;
}

static int billrun_list(cli_t *cli, int argc, char **argv)
{
    int rc = cli_parse(cli, argc, argv, NULL, NULL, 0, NULL);
    if (rc)
        return rc;
    Billow__BillRunList l = BILLOW__BILL_RUN_LIST__INIT;
    INV_REQ(req, sub, BILL_RUN_LIST, bill_run_list, &l);
    return cli_run(cli, "invoicing", &req, print_runs);
}

/* --- invoices --------------------------------------------------------------- */

static int invoice_show(cli_t *cli, int argc, char **argv)
{
    const char *format = "text";
    const char *pos[1];
    int npos = 0;
    cli_opt_t opts[] = {{"--format", &format, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return cli_usage(cli->cmd, "which invoice number?");
    if (cli->json)
        format = "json";
    Billow__InvoiceGet g = BILLOW__INVOICE_GET__INIT;
    g.number = (char *)pos[0];
    g.format = (char *)format;
    INV_REQ(req, sub, INVOICE_GET, invoice_get, &g);
    Billow__Reply *reply;
    Billow__InvoicingReply *ir = call(cli, &req, &reply);
    rc = CLI_FAIL;
    if (ir && ir->invoice) {
        fputs(ir->invoice->document, stdout);
        size_t n = strlen(ir->invoice->document);
        if (n && ir->invoice->document[n - 1] != '\n')
            putchar('\n');
        rc = CLI_OK;
    }
    if (reply)
        billow__reply__free_unpacked(reply, NULL);
    return rc;
}

static bool print_invoices(cli_t *cli, const Billow__Reply *r)
{
    (void)cli;
    const Billow__InvoiceListReply *l = inv(r) ? inv(r)->invoice_list : NULL;
    if (!l)
        return false;
    printf("%-20s %-16s %-8s %18s  %-8s %-10s %s\n", "NUMBER", "ACCOUNT", "PERIOD", "TOTAL",
           "STATUS", "ISSUED", "DUE");
    for (size_t i = 0; i < l->n_invoices; i++) {
        const Billow__InvoiceSummary *s = l->invoices[i];
        char m[64];
        money(s->total_minor, s->currency, m, sizeof m);
        printf("%-20s %-16s %-8s %18s  %-8s %-10s %s\n", s->number, s->account_id, s->period, m,
               s->status, s->issue_date, s->due_date);
    }
    return true;
}

static int invoice_list(cli_t *cli, int argc, char **argv)
{
    const char *account = "", *period = "", *status = "", *run = "", *after = "", *limit = NULL;
    cli_opt_t opts[] = {{"--account", &account, NULL}, {"--period", &period, NULL},
                        {"--status", &status, NULL},   {"--run", &run, NULL},
                        {"--after", &after, NULL},     {"--limit", &limit, NULL},
                        {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    Billow__InvoiceList l = BILLOW__INVOICE_LIST__INIT;
    l.account_id = (char *)account;
    l.period = (char *)period;
    l.status = (char *)status;
    l.run_id = (char *)run;
    l.after = (char *)after;
    l.limit = limit ? (uint32_t)atoi(limit) : 100;
    INV_REQ(req, sub, INVOICE_LIST, invoice_list, &l);
    return cli_run(cli, "invoicing", &req, print_invoices);
}

#define ACCOUNT_FIELDS                                                                             \
    "[--name N] [--currency CNY] [--cycle monthly|quarterly|annual] [--anchor-day D]"             \
    " [--terms-days N] [--tier T] [--tax-profile P] [--language en|zh-CN] [--time-zone TZ]"        \
    " [--email E] [--phone P] [--webhook-url U] [--external-ref R] [--status S]"                    \
    " [--payment-plan once|instalments:N[:30d|:1m]|milestones:A=30,B=70]"

const billctl_cmd_t billctl_invoicing_cmds[] = {
    {"account", "create", "ID --name N --currency CUR " ACCOUNT_FIELDS,
     "create a billing account (emits AccountChanged)", account_create},
    {"account", "update", "ID " ACCOUNT_FIELDS, "change the named fields of an account",
     account_update},
    {"account", "show", "ID", "show one account", account_show},
    {"account", "list", "[--status S] [--cycle C] [--after ID] [--limit N]", "list accounts",
     account_list},
    {"account", "import", "FILE.csv",
     "create or update accounts from CSV (all rows or none; errors name line and field)",
     account_import},
    {"billrun", "start", "--period YYYY-MM [--cycle monthly|quarterly|annual]",
     "start (or find) the bill run of a period: never bills an account twice", billrun_start},
    {"billrun", "status", "RUN [--watch]",
     "a run's progress: due, rated, invoiced, nothing to bill, failed (--watch: until done)",
     billrun_status},
    {"billrun", "list", "", "list bill runs, newest first", billrun_list},
    {"invoice", "show", "NUMBER [--format text|json|html]",
     "an invoice as text, JSON or a self-contained printable HTML page", invoice_show},
    {"invoice", "list", "[--account A] [--period P] [--status S] [--run RUN] [--after N] [--limit N]",
     "list invoices", invoice_list},
    {NULL, NULL, NULL, NULL, NULL},
};
