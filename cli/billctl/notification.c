/* billctl commands served by the notification service: contacts and
 * preferences, notifications with their delivery attempts, the dead-letter
 * list and its retry, and notice acknowledgements. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sends op; returns the OK reply (caller frees) or NULL after printing why. */
static Billow__Reply *call(cli_t *cli, Billow__NotificationRequest *nr)
{
    Billow__Request req = BILLOW__REQUEST__INIT;
    req.body_case = BILLOW__REQUEST__BODY_NOTIFICATION;
    req.notification = nr;
    Billow__Reply *r = cli_call(cli, "notification", &req);
    if (!r)
        return NULL;
    if (!cli_reply_ok(cli, r) || r->body_case != BILLOW__REPLY__BODY_NOTIFICATION ||
        !r->notification) {
        if (r->code == BILLOW__CODE__OK)
            fprintf(stderr, "billctl: notification sent an unexpected reply\n");
        billow__reply__free_unpacked(r, NULL);
        return NULL;
    }
    return r;
}

static const char *dash(const char *s) { return s && *s ? s : "-"; }

/* Splits "a,b,c" into a malloc'd array of pointers into a malloc'd copy. */
typedef struct {
    char *buf;
    char **v;
    size_t n;
} list_t;

static void list_split(const char *s, list_t *l)
{
    memset(l, 0, sizeof *l);
    if (!s || !*s)
        return;
    l->buf = strdup(s);
    l->v = calloc(strlen(s) + 1, sizeof *l->v);
    if (!l->buf || !l->v)
        return;
    for (char *save = NULL, *t = strtok_r(l->buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
        l->v[l->n++] = t;
}

static void list_free(list_t *l)
{
    free(l->buf);
    free(l->v);
}

static void print_list(const char *label, char **v, size_t n)
{
    printf("%-16s", label);
    for (size_t i = 0; i < n; i++)
        printf("%s%s", i ? "," : "", v[i]);
    printf("%s\n", n ? "" : "-");
}

static void print_contact(const Billow__Contact *c)
{
    printf("%-16s%s\n", "account", c->account_id);
    printf("%-16s%s\n", "name", dash(c->name));
    printf("%-16s%s\n", "email", dash(c->email));
    printf("%-16s%s\n", "phone", dash(c->phone));
    printf("%-16s%s\n", "webhook", dash(c->webhook_url));
    printf("%-16s%s\n", "language", dash(c->language));
    print_list("channels", c->channels, c->n_channels);
    print_list("opted out", c->opt_outs, c->n_opt_outs);
    print_list("operator set", c->operator_fields, c->n_operator_fields);
    printf("%-16s%s\n", "caused by", dash(c->caused_by));
    printf("%-16s%s\n", "updated", dash(c->updated_at));
}

static int contact_reply(cli_t *cli, Billow__NotificationRequest *nr)
{
    Billow__Reply *r = call(cli, nr);
    if (!r)
        return CLI_FAIL;
    int rc = CLI_OK;
    if (r->notification->op_case != BILLOW__NOTIFICATION_REPLY__OP_CONTACT) {
        fprintf(stderr, "billctl: notification sent an unexpected reply\n");
        rc = CLI_FAIL;
    } else if (cli->json) {
        cli_print_reply_json(r);
    } else {
        print_contact(r->notification->contact->contact);
    }
    billow__reply__free_unpacked(r, NULL);
    return rc;
}

static int contact_set(cli_t *cli, int argc, char **argv)
{
    const char *email = NULL, *phone = NULL, *webhook = NULL, *lang = NULL, *channels = NULL,
               *optout = NULL, *optin = NULL, *clear = NULL, *release = NULL, *pos[1];
    int npos = 0;
    cli_opt_t opts[] = {{"--email", &email, NULL},       {"--phone", &phone, NULL},
                        {"--webhook", &webhook, NULL},   {"--language", &lang, NULL},
                        {"--channels", &channels, NULL}, {"--opt-out", &optout, NULL},
                        {"--opt-in", &optin, NULL},      {"--clear", &clear, NULL},
                        {"--release", &release, NULL},   {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return cli_usage(cli->cmd, "ACCOUNT is required");
    if (!email && !phone && !webhook && !lang && !channels && !optout && !optin && !clear &&
        !release)
        return cli_usage(cli->cmd, "nothing to set");
    list_t lc, lo, li, lx, lr;
    list_split(channels, &lc);
    list_split(optout, &lo);
    list_split(optin, &li);
    list_split(clear, &lx);
    list_split(release, &lr);
    Billow__ContactSet cs = BILLOW__CONTACT_SET__INIT;
    cs.account_id = (char *)pos[0];
    cs.email = (char *)(email ? email : "");
    cs.phone = (char *)(phone ? phone : "");
    cs.webhook_url = (char *)(webhook ? webhook : "");
    cs.language = (char *)(lang ? lang : "");
    cs.channels = lc.v;
    cs.n_channels = lc.n;
    cs.opt_out = lo.v;
    cs.n_opt_out = lo.n;
    cs.opt_in = li.v;
    cs.n_opt_in = li.n;
    cs.clear = lx.v;
    cs.n_clear = lx.n;
    cs.release = lr.v;
    cs.n_release = lr.n;
    Billow__NotificationRequest nr = BILLOW__NOTIFICATION_REQUEST__INIT;
    nr.op_case = BILLOW__NOTIFICATION_REQUEST__OP_CONTACT_SET;
    nr.contact_set = &cs;
    rc = contact_reply(cli, &nr);
    list_free(&lc);
    list_free(&lo);
    list_free(&li);
    list_free(&lx);
    list_free(&lr);
    return rc;
}

static int contact_show(cli_t *cli, int argc, char **argv)
{
    const char *pos[1];
    int rc = cli_args(cli, argc, argv, pos, 1, "ACCOUNT is required");
    if (rc)
        return rc;
    Billow__ContactGet g = BILLOW__CONTACT_GET__INIT;
    g.account_id = (char *)pos[0];
    Billow__NotificationRequest nr = BILLOW__NOTIFICATION_REQUEST__INIT;
    nr.op_case = BILLOW__NOTIFICATION_REQUEST__OP_CONTACT_GET;
    nr.contact_get = &g;
    return contact_reply(cli, &nr);
}

static int list_common(cli_t *cli, int argc, char **argv, const char *fixed_status)
{
    const char *account = NULL, *status = NULL, *limit = NULL, *before = NULL;
    cli_opt_t opts[] = {{"--account", &account, NULL},
                        {"--status", &status, NULL},
                        {"--limit", &limit, NULL},
                        {"--before", &before, NULL},
                        {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, NULL, 0, NULL);
    if (rc)
        return rc;
    if (fixed_status && status)
        return cli_usage(cli->cmd, "--status: this command lists dead-lettered ones only");
    Billow__NotifyList l = BILLOW__NOTIFY_LIST__INIT;
    l.account_id = (char *)(account ? account : "");
    l.status = (char *)(fixed_status ? fixed_status : status ? status : "");
    l.before = (char *)(before ? before : "");
    if (limit) {
        char *end;
        long v = strtol(limit, &end, 10);
        if (*end || v < 1 || v > 10000)
            return cli_usage(cli->cmd, "--limit: 1 to 10000");
        l.limit = (uint32_t)v;
    }
    Billow__NotificationRequest nr = BILLOW__NOTIFICATION_REQUEST__INIT;
    nr.op_case = BILLOW__NOTIFICATION_REQUEST__OP_NOTIFY_LIST;
    nr.notify_list = &l;
    Billow__Reply *r = call(cli, &nr);
    if (!r)
        return CLI_FAIL;
    if (r->notification->op_case != BILLOW__NOTIFICATION_REPLY__OP_NOTIFICATIONS) {
        billow__reply__free_unpacked(r, NULL);
        return CLI_FAIL;
    }
    if (cli->json) {
        cli_print_reply_json(r);
    } else {
        const Billow__NotifyListReply *lr = r->notification->notifications;
        printf("%-36s  %-12s %-8s %-22s %-10s %3s  %-20s %s\n", "ID", "ACCOUNT", "CHANNEL", "TYPE",
               "STATUS", "TRY", "CREATED", "REF / LAST ERROR");
        for (size_t i = 0; i < lr->n_notifications; i++) {
            const Billow__NotificationSummary *s = lr->notifications[i];
            printf("%-36s  %-12s %-8s %-22s %-10s %3d  %-20s %s%s%s\n", s->id, s->account_id,
                   s->channel, s->type, s->status, s->attempts, s->created_at, dash(s->ref_id),
                   *s->last_error ? " / " : "", s->last_error);
        }
        if (lr->n_notifications == 0)
            printf("(none)\n");
    }
    billow__reply__free_unpacked(r, NULL);
    return CLI_OK;
}

static int notify_list(cli_t *cli, int argc, char **argv) { return list_common(cli, argc, argv, NULL); }

static int notify_failed(cli_t *cli, int argc, char **argv)
{
    return list_common(cli, argc, argv, "dead");
}

static void print_detail(const Billow__NotificationDetail *d)
{
    const Billow__NotificationSummary *s = d->notification;
    printf("%-16s%s\n", "id", s->id);
    printf("%-16s%s\n", "type", s->type);
    printf("%-16s%s\n", "account", s->account_id);
    printf("%-16s%s\n", "reference", dash(s->ref_id));
    printf("%-16s%s %s\n", "channel", s->channel, dash(s->address));
    printf("%-16s%s\n", "status", s->status);
    printf("%-16s%s\n", "source event", s->source_event_id);
    printf("%-16s%s\n", "caused by", dash(d->caused_by));
    printf("%-16s%s\n", "created", s->created_at);
    printf("%-16s%s\n", "due", s->due_at);
    printf("%-16s%s\n", "delivered", dash(s->delivered_at));
    if (*s->last_error)
        printf("%-16s%s\n", "last error", s->last_error);
    if (s->needs_ack)
        printf("%-16s%s\n", "acknowledged", *s->acknowledged_at ? s->acknowledged_at : "not yet");
    printf("attempts (%zu):\n", d->n_attempts);
    for (size_t i = 0; i < d->n_attempts; i++) {
        const Billow__DeliveryAttempt *a = d->attempts[i];
        printf("  #%d %s  %-10s %-11s code %-4d %s%s%s\n", a->attempt, a->started_at,
               dash(a->notifier), a->status, a->code, a->answer, *a->provider_id ? "  id " : "",
               a->provider_id);
    }
}

static int detail_cmd(cli_t *cli, int argc, char **argv, bool retry)
{
    const char *pos[1];
    int rc = cli_args(cli, argc, argv, pos, 1, "ID is required");
    if (rc)
        return rc;
    Billow__NotificationRequest nr = BILLOW__NOTIFICATION_REQUEST__INIT;
    Billow__NotifyShow sh = BILLOW__NOTIFY_SHOW__INIT;
    Billow__NotifyRetry re = BILLOW__NOTIFY_RETRY__INIT;
    if (retry) {
        re.id = (char *)pos[0];
        nr.op_case = BILLOW__NOTIFICATION_REQUEST__OP_NOTIFY_RETRY;
        nr.notify_retry = &re;
    } else {
        sh.id = (char *)pos[0];
        nr.op_case = BILLOW__NOTIFICATION_REQUEST__OP_NOTIFY_SHOW;
        nr.notify_show = &sh;
    }
    Billow__Reply *r = call(cli, &nr);
    if (!r)
        return CLI_FAIL;
    rc = CLI_OK;
    if (r->notification->op_case != BILLOW__NOTIFICATION_REPLY__OP_NOTIFICATION)
        rc = CLI_FAIL;
    else if (cli->json)
        cli_print_reply_json(r);
    else {
        if (retry)
            printf("queued for another try\n");
        print_detail(r->notification->notification);
    }
    billow__reply__free_unpacked(r, NULL);
    return rc;
}

static int notify_show(cli_t *cli, int argc, char **argv) { return detail_cmd(cli, argc, argv, false); }
static int notify_retry(cli_t *cli, int argc, char **argv) { return detail_cmd(cli, argc, argv, true); }

static int notice_ack(cli_t *cli, int argc, char **argv)
{
    const char *channel = NULL, *pos[1];
    int npos = 0;
    cli_opt_t opts[] = {{"--channel", &channel, NULL}, {NULL, NULL, NULL}};
    int rc = cli_parse(cli, argc, argv, opts, pos, 1, &npos);
    if (rc)
        return rc;
    if (npos != 1)
        return cli_usage(cli->cmd, "TOKEN is required");
    Billow__NoticeAck a = BILLOW__NOTICE_ACK__INIT;
    a.token = (char *)pos[0];
    a.channel = (char *)(channel ? channel : "billctl");
    Billow__NotificationRequest nr = BILLOW__NOTIFICATION_REQUEST__INIT;
    nr.op_case = BILLOW__NOTIFICATION_REQUEST__OP_NOTICE_ACK;
    nr.notice_ack = &a;
    Billow__Reply *r = call(cli, &nr);
    if (!r)
        return CLI_FAIL;
    if (r->notification->op_case != BILLOW__NOTIFICATION_REPLY__OP_ACK) {
        billow__reply__free_unpacked(r, NULL);
        return CLI_FAIL;
    }
    const Billow__NoticeAckReply *ar = r->notification->ack;
    if (cli->json)
        cli_print_reply_json(r);
    else if (ar->already_acknowledged)
        printf("already acknowledged at %s (%s %s, account %s)\n", ar->acknowledged_at,
               ar->message_type, ar->ref_id, ar->account_id);
    else
        printf("acknowledged at %s (%s %s, account %s)\n", ar->acknowledged_at, ar->message_type,
               ar->ref_id, ar->account_id);
    billow__reply__free_unpacked(r, NULL);
    return CLI_OK;
}

const billctl_cmd_t billctl_notification_cmds[] = {
    {"contact", "set",
     "ACCOUNT [--email E] [--phone +E164] [--webhook URL] [--language en|zh-CN]"
     " [--channels email,sms,webhook] [--opt-out TYPES] [--opt-in TYPES] [--clear FIELDS]"
     " [--release FIELDS]",
     "edit a contact; fields set here win over AccountChanged until released", contact_set},
    {"contact", "show", "ACCOUNT", "a contact with its channels, opt-outs and sources",
     contact_show},
    {"notify", "list", "[--account A] [--status S] [--limit N] [--before ID]",
     "notifications, newest first", notify_list},
    {"notify", "show", "ID", "one notification with every delivery attempt", notify_show},
    {"notify", "failed", "[--account A] [--limit N]",
     "the dead-letter list: notifications every channel failed", notify_failed},
    {"notify", "retry", "ID", "send a dead-lettered notification again", notify_retry},
    {"notice", "ack", "TOKEN [--channel C]",
     "record a customer's acknowledgement of a notice (once)", notice_ack},
    {NULL, NULL, NULL, NULL, NULL},
};
