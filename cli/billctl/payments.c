/* billctl commands for money after invoicing: payments and refunds,
 * receipts, statements, reconciliation, dunning, credit notes, approvals,
 * the audit and reports. The invoicing service renders documents and
 * tables itself (PaymentsReply.document), so these commands mostly build a
 * request and print what comes back. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INV_REQ(req, sub, OPCASE, field, value)                                                    \
    Billow__Request req = BILLOW__REQUEST__INIT;                                                   \
    Billow__InvoicingRequest sub = BILLOW__INVOICING_REQUEST__INIT;                                \
    sub.op_case = BILLOW__INVOICING_REQUEST__OP_##OPCASE;                                          \
    sub.field = (value);                                                                           \
    req.body_case = BILLOW__REQUEST__BODY_INVOICING;                                               \
    req.invoicing = &sub

enum { OUT_SUMMARY, OUT_DOCUMENT, OUT_AUDIT };

/* Sends req, prints the outcome as asked, returns the exit status. */
static int send(cli_t *cli, Billow__Request *req, int how, const char *format)
{
    Billow__Reply *reply = cli_call(cli, "invoicing", req);
    if (!reply)
        return CLI_FAIL;
    int rc = CLI_FAIL;
    if (cli_reply_ok(cli, reply) && reply->body_case == BILLOW__REPLY__BODY_INVOICING &&
        reply->invoicing->op_case == BILLOW__INVOICING_REPLY__OP_PAYMENTS) {
        const Billow__PaymentsReply *pr = reply->invoicing->payments;
        rc = CLI_OK;
        if (how == OUT_DOCUMENT && format && !strcmp(format, "json"))
            printf("%s\n", pr->document);
        else if (cli->json)
            cli_print_reply_json(reply);
        else if (how == OUT_DOCUMENT)
            fputs(pr->document, stdout);
        else if (how == OUT_AUDIT) {
            for (size_t i = 0; i < pr->n_findings; i++)
                printf("%s\n", pr->findings[i]);
            printf("%s\n", pr->summary);
        } else {
            printf("%s\n", pr->summary);
        }
        if (how == OUT_AUDIT && pr->n_findings > 0)
            rc = CLI_FAIL;
    }
    billow__reply__free_unpacked(reply, NULL);
    return rc;
}

static int payment_record(cli_t *cli, int argc, char **argv)
{
    const char *inv = "", *acct = "", *amount = NULL, *method = NULL, *ref = "", *at = "";
    cli_opt_t opts[] = {{"--invoice", &inv, NULL}, {"--account", &acct, NULL},
                        {"--amount", &amount, NULL}, {"--method", &method, NULL},
                        {"--ref", &ref, NULL},       {"--at", &at, NULL},
                        {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    if (!*inv && !*acct)
        return cli_usage(cli->cmd, "name --invoice or --account");
    if (!amount || !method)
        return cli_usage(cli->cmd, "--amount and --method are required");
    Billow__PaymentRecord m = BILLOW__PAYMENT_RECORD__INIT;
    m.invoice_number = (char *)inv;
    m.account_id = (char *)acct;
    m.amount = (char *)amount;
    m.method = (char *)method;
    m.reference = (char *)ref;
    m.received_at = (char *)at;
    INV_REQ(req, sub, PAYMENT_RECORD, payment_record, &m);
    return send(cli, &req, OUT_SUMMARY, NULL);
}

static int payment_refund(cli_t *cli, int argc, char **argv)
{
    const char *amount = NULL, *reason = "";
    cli_opt_t opts[] = {{"--amount", &amount, NULL}, {"--reason", &reason, NULL},
                        {NULL, NULL, NULL}};
    const char *pos[1];
    int npos = 0;
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos != 1 || !amount)
        return cli_usage(cli->cmd, "name the payment (id or receipt) and --amount");
    Billow__PaymentRefund m = BILLOW__PAYMENT_REFUND__INIT;
    m.payment = (char *)pos[0];
    m.amount = (char *)amount;
    m.reason = (char *)reason;
    INV_REQ(req, sub, PAYMENT_REFUND, payment_refund, &m);
    return send(cli, &req, OUT_SUMMARY, NULL);
}

static int receipt_show(cli_t *cli, int argc, char **argv)
{
    const char *format = "text";
    cli_opt_t opts[] = {{"--format", &format, NULL}, {NULL, NULL, NULL}};
    const char *pos[1];
    int npos = 0;
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return cli_usage(cli->cmd, "which receipt?");
    Billow__ReceiptGet m = BILLOW__RECEIPT_GET__INIT;
    m.number = (char *)pos[0];
    m.format = (char *)format;
    INV_REQ(req, sub, RECEIPT_GET, receipt_get, &m);
    return send(cli, &req, OUT_DOCUMENT, format);
}

static int statement(cli_t *cli, int argc, char **argv)
{
    const char *acct = NULL, *from = "", *to = "", *format = "text";
    cli_opt_t opts[] = {{"--account", &acct, NULL}, {"--from", &from, NULL},
                        {"--to", &to, NULL},        {"--format", &format, NULL},
                        {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    if (!acct)
        return cli_usage(cli->cmd, "--account is required");
    Billow__StatementGet m = BILLOW__STATEMENT_GET__INIT;
    m.account_id = (char *)acct;
    m.from = (char *)from;
    m.to = (char *)to;
    m.format = (char *)format;
    INV_REQ(req, sub, STATEMENT_GET, statement_get, &m);
    return send(cli, &req, OUT_DOCUMENT, format);
}

static int reconcile_import(cli_t *cli, int argc, char **argv)
{
    const char *pos[1];
    int rc = cli_args(cli, argc, argv, pos, 1, "which statement file?");
    if (rc)
        return rc;
    size_t len;
    char *csv = cli_read_file(pos[0], &len);
    if (!csv)
        return CLI_FAIL;
    Billow__ReconcileImport m = BILLOW__RECONCILE_IMPORT__INIT;
    m.csv = csv;
    m.name = (char *)pos[0];
    INV_REQ(req, sub, RECONCILE_IMPORT, reconcile_import, &m);
    rc = send(cli, &req, OUT_DOCUMENT, NULL);
    free(csv);
    return rc;
}

static int reconcile_exceptions(cli_t *cli, int argc, char **argv)
{
    bool all = false;
    cli_opt_t opts[] = {{"--all", NULL, &all}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    Billow__ReconcileExceptions m = BILLOW__RECONCILE_EXCEPTIONS__INIT;
    m.all = all;
    INV_REQ(req, sub, RECONCILE_EXCEPTIONS, reconcile_exceptions, &m);
    return send(cli, &req, OUT_DOCUMENT, NULL);
}

static int reconcile_resolve(cli_t *cli, int argc, char **argv)
{
    const char *inv = "", *acct = "", *reason = "";
    bool refund = false, dismiss = false;
    cli_opt_t opts[] = {{"--assign-invoice", &inv, NULL}, {"--assign-account", &acct, NULL},
                        {"--refund", NULL, &refund},      {"--dismiss", NULL, &dismiss},
                        {"--reason", &reason, NULL},      {NULL, NULL, NULL}};
    const char *pos[1];
    int npos = 0;
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos != 1 || atoll(pos[0]) <= 0)
        return cli_usage(cli->cmd, "which exception (its id)?");
    int n = (*inv || *acct) + refund + dismiss;
    if (n != 1)
        return cli_usage(cli->cmd,
                         "choose one: --assign-invoice N, --assign-account A, --refund, --dismiss");
    Billow__ReconcileResolve m = BILLOW__RECONCILE_RESOLVE__INIT;
    m.exception_id = atoll(pos[0]);
    m.action = refund ? "refund" : dismiss ? "dismiss" : "assign";
    m.invoice_number = (char *)inv;
    m.account_id = (char *)acct;
    m.reason = (char *)reason;
    INV_REQ(req, sub, RECONCILE_RESOLVE, reconcile_resolve, &m);
    return send(cli, &req, OUT_SUMMARY, NULL);
}

static int dunning_run(cli_t *cli, int argc, char **argv)
{
    const char *asof = "";
    cli_opt_t opts[] = {{"--as-of", &asof, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    Billow__DunningRun m = BILLOW__DUNNING_RUN__INIT;
    m.as_of = (char *)asof;
    INV_REQ(req, sub, DUNNING_RUN, dunning_run, &m);
    return send(cli, &req, OUT_SUMMARY, NULL);
}

static int approval_list(cli_t *cli, int argc, char **argv)
{
    const char *status = "pending";
    cli_opt_t opts[] = {{"--status", &status, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    Billow__ApprovalList m = BILLOW__APPROVAL_LIST__INIT;
    m.status = (char *)status;
    INV_REQ(req, sub, APPROVAL_LIST, approval_list, &m);
    return send(cli, &req, OUT_DOCUMENT, NULL);
}

static int approval_decide(cli_t *cli, int argc, char **argv)
{
    const char *reason = "";
    cli_opt_t opts[] = {{"--reason", &reason, NULL}, {NULL, NULL, NULL}};
    const char *pos[1];
    int npos = 0;
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos != 1 || atoll(pos[0]) <= 0)
        return cli_usage(cli->cmd, "which approval (its id)?");
    bool approve = !strcmp(cli->cmd->verb, "approve");
    if (!approve && !*reason)
        return cli_usage(cli->cmd, "a rejection needs --reason");
    Billow__ApprovalDecide m = BILLOW__APPROVAL_DECIDE__INIT;
    m.approval_id = atoll(pos[0]);
    m.approve = approve;
    m.reason = (char *)reason;
    INV_REQ(req, sub, APPROVAL_DECIDE, approval_decide, &m);
    return send(cli, &req, OUT_SUMMARY, NULL);
}

static int credit_issue(cli_t *cli, int argc, char **argv)
{
    const char *inv = NULL, *amount = NULL, *reason = NULL;
    bool write_off = false;
    cli_opt_t opts[] = {{"--invoice", &inv, NULL},    {"--amount", &amount, NULL},
                        {"--reason", &reason, NULL},  {"--write-off", NULL, &write_off},
                        {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    if (!inv || !amount || !reason)
        return cli_usage(cli->cmd, "--invoice, --amount and --reason are required");
    Billow__CreditIssue m = BILLOW__CREDIT_ISSUE__INIT;
    m.invoice_number = (char *)inv;
    m.amount = (char *)amount;
    m.reason = (char *)reason;
    m.write_off = write_off || !strcmp(cli->cmd->verb, "writeoff");
    INV_REQ(req, sub, CREDIT_ISSUE, credit_issue, &m);
    return send(cli, &req, OUT_SUMMARY, NULL);
}

static int audit(cli_t *cli, int argc, char **argv)
{
    int rc = cli_parse(cli, argc, argv, NULL, NULL, 0, NULL);
    if (rc)
        return rc;
    Billow__AuditRun m = BILLOW__AUDIT_RUN__INIT;
    INV_REQ(req, sub, AUDIT_RUN, audit_run, &m);
    return send(cli, &req, OUT_AUDIT, NULL);
}

static int report(cli_t *cli, int argc, char **argv)
{
    const char *period = "", *by = "", *format = "table";
    cli_opt_t opts[] = {{"--period", &period, NULL}, {"--by", &by, NULL},
                        {"--format", &format, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    Billow__ReportGet m = BILLOW__REPORT_GET__INIT;
    m.kind = (char *)cli->cmd->verb;
    m.period = (char *)period;
    m.by = (char *)by;
    m.format = (char *)format;
    INV_REQ(req, sub, REPORT_GET, report_get, &m);
    return send(cli, &req, OUT_DOCUMENT, format);
}

const billctl_cmd_t billctl_payments_cmds[] = {
    {"payment", "record",
     "(--invoice N | --account A) --amount 123.45 --method M [--ref R] [--at T]",
     "record a payment (cash|cheque|card|bank_transfer|alipay|wechat_pay)", payment_record},
    {"payment", "refund", "PAYMENT|RECEIPT --amount X --reason TEXT",
     "refund account credit held by a payment (approval above the threshold)", payment_refund},
    {"receipt", "show", "RECEIPT [--format text|json|html]", "show a payment receipt",
     receipt_show},
    {"statement", NULL, "--account A [--from D] [--to D] [--format text|json|html]",
     "a customer's statement of account", statement},
    {"reconcile", "import", "FILE.csv",
     "import a bank/provider statement (date,amount,currency,payer,reference)", reconcile_import},
    {"reconcile", "exceptions", "[--all]", "list reconciliation exceptions", reconcile_exceptions},
    {"reconcile", "resolve",
     "ID (--assign-invoice N | --assign-account A | --refund | --dismiss) [--reason R]",
     "resolve a reconciliation exception", reconcile_resolve},
    {"dunning", "run", "[--as-of YYYY-MM-DD]", "send due payment reminders and overdue notices",
     dunning_run},
    {"approval", "list", "[--status pending|approved|rejected|all]", "list approval requests",
     approval_list},
    {"approval", "approve", "ID [--reason R]", "approve (a second operator; --as NAME)",
     approval_decide},
    {"approval", "reject", "ID --reason R", "reject an approval request", approval_decide},
    {"credit", "issue", "--invoice N --amount X --reason TEXT [--write-off]",
     "issue a credit note (approval above the threshold)", credit_issue},
    {"credit", "writeoff", "--invoice N --amount X --reason TEXT", "write off an amount",
     credit_issue},
    {"audit", NULL, "", "check invoices, numbering, balances and references; exit 1 on findings",
     audit},
    {"report", "aging", "[--period AS-OF-DATE] [--by tier|currency] [--format table|csv|json|html]",
     "ageing of open invoices", report},
    {"report", "billed-collected", "[--period P] [--format F]", "billed vs collected per period",
     report},
    {"report", "collection-rate", "[--period P] [--format F]", "collection rate per period",
     report},
    {"report", "revenue", "[--period P] [--by fee-item|tier|currency] [--format F]",
     "revenue (net of tax) by fee item, tier or currency", report},
    {NULL, NULL, NULL, NULL, NULL},
};
