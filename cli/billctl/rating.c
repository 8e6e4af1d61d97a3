/* billctl commands served by the rating service: the catalog, subscriptions,
 * usage, and period close with preview and explain. Tables print for
 * people (widths count CJK characters as two columns); --json prints the
 * reply body. */
#include "cli.h"
#include "clock.h"
#include "csv.h"
#include "errors.h"
#include "money.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* --- helpers ----------------------------------------------------------------- */

/* Display columns of a UTF-8 string: East Asian wide characters take two. */
static int width(const char *s)
{
    int w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned cp;
        int len;
        if (*p < 0x80) {
            cp = *p;
            len = 1;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            len = 2;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            len = 3;
        } else {
            cp = *p & 0x07;
            len = 4;
        }
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                len = i;
                break;
            }
            cp = cp << 6 | (p[i] & 0x3F);
        }
        p += len;
        w += (cp >= 0x1100 && (cp <= 0x115F || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                               (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                               (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                               (cp >= 0xFFE0 && cp <= 0xFFE6) || cp >= 0x20000))
                 ? 2
                 : 1;
    }
    return w;
}

/* Prints s left-aligned in n columns (at least one space after). */
static void col(const char *s, int n)
{
    s = s ? s : "";
    int w = width(s);
    fputs(s, stdout);
    for (int i = w; i < n; i++)
        putchar(' ');
    putchar(' ');
}

static void rcol(const char *s, int n)
{
    s = s ? s : "";
    for (int i = width(s); i < n; i++)
        putchar(' ');
    fputs(s, stdout);
    putchar(' ');
}

Billow__Reply *cli_rating_call(cli_t *cli, Billow__RatingRequest *rr)
{
    Billow__Request req = BILLOW__REQUEST__INIT;
    req.body_case = BILLOW__REQUEST__BODY_RATING;
    req.rating = rr;
    Billow__Reply *reply = cli_call(cli, "rating", &req);
    if (!reply)
        return NULL;
    if (!cli_reply_ok(cli, reply) || reply->body_case != BILLOW__REPLY__BODY_RATING ||
        !reply->rating) {
        billow__reply__free_unpacked(reply, NULL);
        return NULL;
    }
    return reply;
}

#define PARSE(opts, pos, maxpos, npos)                                                             \
    do {                                                                                           \
        int prc_ = cli_parse(cli, argc, argv, opts, pos, maxpos, npos);                            \
        if (prc_)                                                                                  \
            return prc_;                                                                           \
    } while (0)

/* --- catalog ----------------------------------------------------------------- */

static void print_catalog(const Billow__CatalogReply *c)
{
    printf("catalog version %d", c->version);
    if (c->loaded_by && *c->loaded_by)
        printf(", loaded by %s", c->loaded_by);
    if (c->loaded_at && *c->loaded_at)
        printf(" at %s", c->loaded_at);
    printf("\n\nFEE ITEMS\n");
    col("CODE", 20), col("TYPE", 12), col("UNIT", 12), col("TAX", 10), col("NAME (en / zh-CN)", 0);
    putchar('\n');
    for (size_t i = 0; i < c->n_fee_items; i++) {
        const Billow__CatalogFeeItem *f = c->fee_items[i];
        col(f->code, 20), col(f->service_type, 12), col(f->unit, 12), col(f->tax_category, 10);
        printf("%s / %s\n", f->name_en, f->name_zh);
    }
    printf("\nPLANS\n");
    for (size_t i = 0; i < c->n_plans; i++) {
        const Billow__CatalogPlan *p = c->plans[i];
        printf("%s  %s / %s  (%s)\n", p->code, p->name_en, p->name_zh, p->cycle);
        for (size_t j = 0; j < p->n_versions; j++) {
            const Billow__CatalogPriceVersion *v = p->versions[j];
            printf("  version %s %s from %s\n", p->code, v->currency, v->effective_from);
            for (size_t k = 0; k < v->n_charges; k++) {
                printf("    ");
                col(v->charges[k]->fee_item, 20), col(v->charges[k]->model, 11);
                printf("%s\n", v->charges[k]->price);
            }
        }
    }
    printf("\nDISCOUNTS\n");
    col("CODE", 18), col("KIND", 13), col("VALUE", 20), col("SCOPE", 12), col("NAME", 0);
    putchar('\n');
    for (size_t i = 0; i < c->n_discounts; i++) {
        const Billow__CatalogDiscount *d = c->discounts[i];
        col(d->code, 18), col(d->kind, 13), col(d->value, 20), col(d->scope, 12);
        printf("%s / %s\n", d->name_en, d->name_zh);
    }
}

static int catalog_load(cli_t *cli, int argc, char **argv)
{
    const char *pos[1];
    int npos = 0;
    cli_opt_t opts[] = {{NULL, NULL, NULL}};
    PARSE(opts, pos, 1, &npos);
    if (npos != 1)
        return cli_usage(cli->cmd, "give the catalog file");
    char *doc = cli_read_file(pos[0], NULL);
    if (!doc)
        return CLI_FAIL;
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__CatalogLoad cl = BILLOW__CATALOG_LOAD__INIT;
    cl.json = doc;
    rr.op_case = BILLOW__RATING_REQUEST__OP_CATALOG_LOAD;
    rr.catalog_load = &cl;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    free(doc);
    if (!reply)
        return CLI_FAIL;
    const Billow__CatalogReply *c = reply->rating->catalog;
    if (cli->json) {
        cli_print_reply_json(reply);
    } else if (c) {
        size_t nv = 0;
        for (size_t i = 0; i < c->n_plans; i++)
            nv += c->plans[i]->n_versions;
        printf("%s catalog version %d: %zu fee items, %zu plans, %zu price versions, %zu discounts\n",
               c->created ? "loaded" : "unchanged, still", c->version, c->n_fee_items, c->n_plans,
               nv, c->n_discounts);
    }
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

static int catalog_show(cli_t *cli, int argc, char **argv)
{
    const char *version = NULL;
    bool raw = false;
    cli_opt_t opts[] = {{"--version", &version, NULL}, {"--raw", NULL, &raw}, {NULL, NULL, NULL}};
    PARSE(opts, NULL, 0, NULL);
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__CatalogShow cs = BILLOW__CATALOG_SHOW__INIT;
    cs.version = version ? atoi(version) : 0;
    cs.with_json = raw;
    rr.op_case = BILLOW__RATING_REQUEST__OP_CATALOG_SHOW;
    rr.catalog_show = &cs;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    if (!reply)
        return CLI_FAIL;
    if (raw && !cli->json)
        fputs(reply->rating->catalog->json, stdout);
    else if (cli->json)
        cli_print_reply_json(reply);
    else
        print_catalog(reply->rating->catalog);
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

/* --- subscriptions ------------------------------------------------------------- */

static int print_subs(cli_t *cli, Billow__Reply *reply)
{
    const Billow__SubscriptionReply *s = reply->rating->subscriptions;
    if (cli->json) {
        cli_print_reply_json(reply);
    } else if (s) {
        col("ACCOUNT", 16), col("PLAN", 18), rcol("QUANTITY", 9), col("", 0), col("FROM", 10),
            col("TO", 10), col("SINCE", 10), col("COUPON", 14), col("CAUSED BY", 0);
        putchar('\n');
        for (size_t i = 0; i < s->n_subscriptions; i++) {
            const Billow__Subscription *x = s->subscriptions[i];
            col(x->account_id, 16), col(x->plan, 18), rcol(x->quantity, 9), col("", 0),
                col(x->start, 10), col(*x->end ? x->end : "open", 10), col(x->origin, 10),
                col(*x->coupon ? x->coupon : "-", 14);
            printf("%s\n", x->caused_by);
        }
    }
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

static int subscribe(cli_t *cli, int argc, char **argv)
{
    const char *account = NULL, *plan = NULL, *start = NULL, *qty = NULL, *coupon = NULL;
    cli_opt_t opts[] = {{"--account", &account, NULL}, {"--plan", &plan, NULL},
                        {"--start", &start, NULL},     {"--quantity", &qty, NULL},
                        {"--coupon", &coupon, NULL},   {NULL, NULL, NULL}};
    PARSE(opts, NULL, 0, NULL);
    if (!account || !plan || !start)
        return cli_usage(cli->cmd, "--account, --plan and --start are required");
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__Subscribe s = BILLOW__SUBSCRIBE__INIT;
    s.account_id = (char *)account;
    s.plan = (char *)plan;
    s.start = (char *)start;
    s.quantity = (char *)(qty ? qty : "");
    s.coupon = (char *)(coupon ? coupon : "");
    rr.op_case = BILLOW__RATING_REQUEST__OP_SUBSCRIBE;
    rr.subscribe = &s;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    return reply ? print_subs(cli, reply) : CLI_FAIL;
}

static int sub_import(cli_t *cli, int argc, char **argv)
{
    const char *pos[1];
    int rc;
    char *csv = cli_import_file(cli, argc, argv, pos, &rc);
    if (!csv)
        return rc;
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__SubscriptionImport im = BILLOW__SUBSCRIPTION_IMPORT__INIT;
    im.csv = csv;
    rr.op_case = BILLOW__RATING_REQUEST__OP_SUBSCRIPTION_IMPORT;
    rr.subscription_import = &im;
    Billow__Request req = BILLOW__REQUEST__INIT;
    req.body_case = BILLOW__REQUEST__BODY_RATING;
    req.rating = &rr;
    Billow__Reply *reply = cli_call(cli, "rating", &req);
    free(csv);
    if (!reply)
        return CLI_FAIL;
    const Billow__SubscriptionImportReply *r =
        reply->body_case == BILLOW__REPLY__BODY_RATING && reply->rating->subscription_import
            ? reply->rating->subscription_import : NULL;
    rc = CLI_FAIL;
    if (cli->json && r)
        cli_print_reply_json(reply);
    else if (r)
        cli_print_row_errors(pos[0], r->errors, r->n_errors);
    if (reply->code == BILLOW__CODE__OK && r) {
        if (!cli->json)
            printf("%d rows: %d subscriptions created\n", r->rows, r->created);
        rc = CLI_OK;
    } else {
        cli_reply_ok(cli, reply);
    }
    billow__reply__free_unpacked(reply, NULL);
    return rc;
}

static int sub_change(cli_t *cli, int argc, char **argv)
{
    const char *account = NULL, *plan = NULL, *at = NULL, *qty = NULL;
    cli_opt_t opts[] = {{"--account", &account, NULL}, {"--plan", &plan, NULL},
                        {"--at", &at, NULL},           {"--quantity", &qty, NULL},
                        {NULL, NULL, NULL}};
    PARSE(opts, NULL, 0, NULL);
    if (!account || !at || (!plan && !qty))
        return cli_usage(cli->cmd, "--account, --at and --plan or --quantity are required");
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__SubscriptionChange s = BILLOW__SUBSCRIPTION_CHANGE__INIT;
    s.account_id = (char *)account;
    s.plan = (char *)(plan ? plan : "");
    s.at = (char *)at;
    s.quantity = (char *)(qty ? qty : "");
    rr.op_case = BILLOW__RATING_REQUEST__OP_SUBSCRIPTION_CHANGE;
    rr.subscription_change = &s;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    return reply ? print_subs(cli, reply) : CLI_FAIL;
}

static int sub_cancel(cli_t *cli, int argc, char **argv)
{
    const char *account = NULL, *at = NULL;
    cli_opt_t opts[] = {{"--account", &account, NULL}, {"--at", &at, NULL}, {NULL, NULL, NULL}};
    PARSE(opts, NULL, 0, NULL);
    if (!account || !at)
        return cli_usage(cli->cmd, "--account and --at are required");
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__SubscriptionCancel s = BILLOW__SUBSCRIPTION_CANCEL__INIT;
    s.account_id = (char *)account;
    s.at = (char *)at;
    rr.op_case = BILLOW__RATING_REQUEST__OP_SUBSCRIPTION_CANCEL;
    rr.subscription_cancel = &s;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    return reply ? print_subs(cli, reply) : CLI_FAIL;
}

static int sub_list(cli_t *cli, int argc, char **argv)
{
    const char *account = NULL, *after = NULL, *limit = NULL;
    cli_opt_t opts[] = {{"--account", &account, NULL}, {"--after", &after, NULL},
                        {"--limit", &limit, NULL},     {NULL, NULL, NULL}};
    PARSE(opts, NULL, 0, NULL);
    if (cli->cmd->verb && strcmp(cli->cmd->verb, "show") == 0 && !account)
        return cli_usage(cli->cmd, "--account is required");
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__SubscriptionList s = BILLOW__SUBSCRIPTION_LIST__INIT;
    s.account_id = (char *)(account ? account : "");
    s.after = (char *)(after ? after : "");
    s.limit = limit ? (uint32_t)atoi(limit) : 0;
    rr.op_case = BILLOW__RATING_REQUEST__OP_SUBSCRIPTION_LIST;
    rr.subscription_list = &s;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    return reply ? print_subs(cli, reply) : CLI_FAIL;
}

/* --- usage ------------------------------------------------------------------------ */

typedef struct {
    long long records, accepted, duplicates;
    json_object *rejected; /* array */
} tally_t;

static void reject(cli_t *cli, tally_t *t, long line, const char *event_id, const char *error)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "line", json_object_new_int64(line));
    json_object_object_add(o, "event_id", json_object_new_string(event_id ? event_id : ""));
    json_object_object_add(o, "error", json_object_new_string(error));
    json_object_array_add(t->rejected, o);
    if (!cli->json) {
        if (line > 0)
            fprintf(stderr, "line %ld: ", line);
        fprintf(stderr, "%s%s%s\n", event_id && *event_id ? event_id : "",
                event_id && *event_id ? ": " : "", error);
    }
}

/* Sends recs[0..n) as one IngestUsage; false when the service failed. */
static bool send_batch(cli_t *cli, Billow__UsageRecord **recs, size_t n, tally_t *t)
{
    if (n == 0)
        return true;
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__IngestUsage iu = BILLOW__INGEST_USAGE__INIT;
    iu.records = recs;
    iu.n_records = n;
    rr.op_case = BILLOW__RATING_REQUEST__OP_INGEST_USAGE;
    rr.ingest_usage = &iu;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    if (!reply)
        return false;
    const Billow__IngestUsageReply *u = reply->rating->usage;
    if (u) {
        t->accepted += u->accepted;
        t->duplicates += u->duplicates;
        for (size_t i = 0; i < u->n_rejected; i++)
            reject(cli, t, u->rejected[i]->line, u->rejected[i]->event_id, u->rejected[i]->error);
    }
    billow__reply__free_unpacked(reply, NULL);
    return true;
}

static int finish_usage(cli_t *cli, tally_t *t, const char *what, bool ok)
{
    size_t nrej = json_object_array_length(t->rejected);
    if (cli->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "records", json_object_new_int64(t->records));
        json_object_object_add(o, "accepted", json_object_new_int64(t->accepted));
        json_object_object_add(o, "duplicates", json_object_new_int64(t->duplicates));
        json_object_object_add(o, "rejected", json_object_get(t->rejected));
        cli_print_json(o);
    } else {
        printf("%s: %lld records, %lld accepted, %lld duplicates (ignored), %zu rejected\n", what,
               t->records, t->accepted, t->duplicates, nrej);
    }
    json_object_put(t->rejected);
    return ok && nrej == 0 ? CLI_OK : CLI_FAIL;
}

#define USAGE_BATCH 5000

static int usage_import(cli_t *cli, int argc, char **argv)
{
    const char *pos[1];
    int npos = 0;
    const char *bs = NULL;
    cli_opt_t opts[] = {{"--batch", &bs, NULL}, {NULL, NULL, NULL}};
    PARSE(opts, pos, 1, &npos);
    if (npos != 1)
        return cli_usage(cli->cmd, "give the CSV file");
    size_t batch = bs ? (size_t)atol(bs) : USAGE_BATCH;
    if (batch < 1 || batch > 50000)
        return cli_usage(cli->cmd, "--batch must be 1..50000");
    size_t len;
    char *data = cli_read_file(pos[0], &len);
    if (!data)
        return CLI_FAIL;
    bw_csv_t *r = bw_csv_new_mem(data, len, NULL);
    static const char *const need[] = {"event_id", "account", "fee_item", "quantity", "timestamp"};
    if (!r || bw_csv_read_header(r) < 0 || bw_csv_require(r, need, 5) < 0) {
        fprintf(stderr, "billctl: %s: %s\n", pos[0], r ? bw_csv_error(r) : "out of memory");
        fprintf(stderr, "billctl: expected header: event_id,account,fee_item,quantity,timestamp[,currency]\n");
        bw_csv_destroy(&r);
        free(data);
        return CLI_FAIL;
    }
    /* A big import may keep the service busy for a while per batch. */
    if (cli->timeout_ms < 60000)
        cli->timeout_ms = 60000;
    tally_t t = {.rejected = json_object_new_array()};
    Billow__UsageRecord *store = calloc(batch, sizeof *store);
    Billow__UsageRecord **recs = calloc(batch, sizeof *recs);
    char **strs = calloc(batch * 6, sizeof *strs);
    size_t n = 0;
    bool ok = store && recs && strs;
    while (ok) {
        int rc = bw_csv_next(r);
        if (rc == 0)
            break;
        if (rc < 0) {
            t.records++;
            reject(cli, &t, bw_csv_line(r), NULL, bw_csv_error(r));
            if (rc == BW_EIO || rc == BW_ENOMEM)
                ok = false;
            continue;
        }
        t.records++;
        static const char *const cols[] = {"event_id", "account", "fee_item", "quantity", "timestamp", "currency"};
        Billow__UsageRecord *u = &store[n];
        billow__usage_record__init(u);
        char **f = &strs[n * 6];
        for (int k = 0; k < 6; k++) {
            const char *v = bw_csv_get(r, cols[k]);
            f[k] = strdup(v ? v : "");
        }
        u->event_id = f[0], u->account_id = f[1], u->fee_item = f[2], u->quantity = f[3];
        u->timestamp = f[4], u->currency = f[5];
        u->line = (int32_t)bw_csv_line(r);
        recs[n++] = u;
        if (n == batch) {
            ok = send_batch(cli, recs, n, &t);
            for (size_t k = 0; k < n * 6; k++)
                free(strs[k]);
            n = 0;
        }
    }
    if (ok)
        ok = send_batch(cli, recs, n, &t);
    for (size_t k = 0; strs && k < n * 6; k++)
        free(strs[k]);
    free(strs);
    free(recs);
    free(store);
    bw_csv_destroy(&r);
    free(data);
    return finish_usage(cli, &t, pos[0], ok);
}

static int usage_add(cli_t *cli, int argc, char **argv)
{
    const char *account = NULL, *fee = NULL, *qty = NULL, *at = NULL, *id = NULL, *cur = NULL;
    cli_opt_t opts[] = {{"--account", &account, NULL}, {"--fee-item", &fee, NULL},
                        {"--quantity", &qty, NULL},    {"--at", &at, NULL},
                        {"--event-id", &id, NULL},     {"--currency", &cur, NULL},
                        {NULL, NULL, NULL}};
    PARSE(opts, NULL, 0, NULL);
    if (!account || !fee || !qty)
        return cli_usage(cli->cmd, "--account, --fee-item and --quantity are required");
    char uuid[37];
    if (!id) {
        bw_uuid(uuid);
        id = uuid;
    }
    Billow__UsageRecord u = BILLOW__USAGE_RECORD__INIT;
    u.event_id = (char *)id;
    u.account_id = (char *)account;
    u.fee_item = (char *)fee;
    u.quantity = (char *)qty;
    u.timestamp = (char *)(at ? at : "");
    u.currency = (char *)(cur ? cur : "");
    Billow__UsageRecord *recs[1] = {&u};
    tally_t t = {.records = 1, .rejected = json_object_new_array()};
    bool ok = send_batch(cli, recs, 1, &t);
    return finish_usage(cli, &t, id, ok);
}

/* --- rate ------------------------------------------------------------------------ */

static void print_job(const Billow__CloseJob *j)
{
    printf("close %s (%s, %s – %s)%s%s: %s, %lld accounts rated, %lld failed, total %lld minor units,"
           " catalog version %d\n",
           j->period, j->cycle, j->period_start, j->period_end, *j->run_id ? " for run " : "",
           j->run_id, j->status, (long long)j->rated, (long long)j->failed,
           (long long)j->total_minor, j->catalog_version);
    for (size_t i = 0; i < j->n_errors; i++)
        printf("  could not rate %s\n", j->errors[i]);
}

static Billow__Reply *job_status(cli_t *cli, const char *job, const char *period, const char *cycle)
{
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__CloseStatus cs = BILLOW__CLOSE_STATUS__INIT;
    cs.job_id = (char *)(job ? job : "");
    cs.period = (char *)(period ? period : "");
    cs.cycle = (char *)(cycle ? cycle : "");
    rr.op_case = BILLOW__RATING_REQUEST__OP_CLOSE_STATUS;
    rr.close_status = &cs;
    return cli_rating_call(cli, &rr);
}

static int rate_close(cli_t *cli, int argc, char **argv)
{
    const char *period = NULL, *cycle = NULL;
    bool no_wait = false;
    cli_opt_t opts[] = {{"--period", &period, NULL}, {"--cycle", &cycle, NULL},
                        {"--no-wait", NULL, &no_wait}, {NULL, NULL, NULL}};
    PARSE(opts, NULL, 0, NULL);
    if (!period)
        return cli_usage(cli->cmd, "--period is required");
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__RateClose rc = BILLOW__RATE_CLOSE__INIT;
    rc.period = (char *)period;
    rc.cycle = (char *)(cycle ? cycle : "");
    rr.op_case = BILLOW__RATING_REQUEST__OP_RATE_CLOSE;
    rr.rate_close = &rc;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    if (!reply)
        return CLI_FAIL;
    char *job = strdup(reply->rating->close_job->job->job_id);
    /* The close runs in the service, batch by batch: follow it. */
    while (!no_wait && strcmp(reply->rating->close_job->job->status, "done") != 0) {
        billow__reply__free_unpacked(reply, NULL);
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
        reply = job_status(cli, job, NULL, NULL);
        if (!reply) {
            free(job);
            return CLI_FAIL;
        }
    }
    free(job);
    const Billow__CloseJob *j = reply->rating->close_job->job;
    int status = j->failed > 0 ? CLI_FAIL : CLI_OK;
    if (cli->json)
        cli_print_reply_json(reply);
    else
        print_job(j);
    billow__reply__free_unpacked(reply, NULL);
    return status;
}

static int rate_status(cli_t *cli, int argc, char **argv)
{
    const char *period = NULL, *cycle = NULL, *job = NULL;
    cli_opt_t opts[] = {{"--period", &period, NULL}, {"--cycle", &cycle, NULL},
                        {"--job", &job, NULL}, {NULL, NULL, NULL}};
    PARSE(opts, NULL, 0, NULL);
    if (!period && !job)
        return cli_usage(cli->cmd, "--period or --job is required");
    Billow__Reply *reply = job_status(cli, job, period, cycle);
    if (!reply)
        return CLI_FAIL;
    if (cli->json)
        cli_print_reply_json(reply);
    else
        print_job(reply->rating->close_job->job);
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

static void print_lines(const Billow__AccountRated *ar)
{
    char buf[40];
    col("KIND", 9), col("FEE ITEM", 18), col("DESCRIPTION", 40), rcol("QUANTITY", 10),
        col("UNIT", 8), rcol("UNIT PRICE", 10), rcol("AMOUNT", 12);
    printf("PRICE VERSION\n");
    for (size_t i = 0; i < ar->n_lines; i++) {
        const Billow__RatedLine *l = ar->lines[i];
        col(l->kind, 9), col(*l->fee_item ? l->fee_item : "-", 18), col(l->description, 40),
            rcol(l->quantity, 10), col(l->unit, 8), rcol(l->unit_price, 10),
            rcol(cli_money(l->amount_minor, ar->currency, buf, sizeof buf), 12);
        printf("%s%s%s\n", l->price_version, *l->discount_code ? " " : "", l->discount_code);
        for (size_t t = 0; t < l->n_tiers; t++) {
            const Billow__TierPart *tp = l->tiers[t];
            printf("          tier %s–%s: %s × %s", tp->from_qty, *tp->to_qty ? tp->to_qty : "∞",
                   tp->quantity, tp->unit_price);
            if (tp->flat_minor)
                printf(" + %s", cli_money(tp->flat_minor, ar->currency, buf, sizeof buf));
            printf(" = %s\n", cli_money(tp->amount_minor, ar->currency, buf, sizeof buf));
        }
    }
    printf("%-88s %12s\n", "TOTAL", cli_money(ar->total_minor, ar->currency, buf, sizeof buf));
}

static int rate_preview(cli_t *cli, int argc, char **argv)
{
    const char *account = NULL, *period = NULL;
    cli_opt_t opts[] = {{"--account", &account, NULL}, {"--period", &period, NULL}, {NULL, NULL, NULL}};
    PARSE(opts, NULL, 0, NULL);
    if (!account || !period)
        return cli_usage(cli->cmd, "--account and --period are required");
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__RatePreview rp = BILLOW__RATE_PREVIEW__INIT;
    rp.account_id = (char *)account;
    rp.period = (char *)period;
    rr.op_case = BILLOW__RATING_REQUEST__OP_RATE_PREVIEW;
    rr.rate_preview = &rp;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    if (!reply)
        return CLI_FAIL;
    const Billow__RatePreviewReply *p = reply->rating->preview;
    if (cli->json) {
        cli_print_reply_json(reply);
    } else {
        const Billow__AccountRated *ar = p->rated;
        printf("account %s, period %s (%s – %s), %s, %s, catalog version %d\n\n", ar->account_id,
               ar->period, ar->period_start, ar->period_end, ar->currency,
               p->closed ? "closed: as charged" : "open: charges so far", p->catalog_version);
        print_lines(ar);
    }
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

static int rate_explain(cli_t *cli, int argc, char **argv)
{
    const char *account = NULL, *period = NULL, *fee = NULL;
    cli_opt_t opts[] = {{"--account", &account, NULL}, {"--period", &period, NULL},
                        {"--fee-item", &fee, NULL}, {NULL, NULL, NULL}};
    PARSE(opts, NULL, 0, NULL);
    if (!account || !period)
        return cli_usage(cli->cmd, "--account and --period are required");
    Billow__RatingRequest rr = BILLOW__RATING_REQUEST__INIT;
    Billow__RateExplain re = BILLOW__RATE_EXPLAIN__INIT;
    re.account_id = (char *)account;
    re.period = (char *)period;
    re.fee_item = (char *)(fee ? fee : "");
    rr.op_case = BILLOW__RATING_REQUEST__OP_RATE_EXPLAIN;
    rr.rate_explain = &re;
    Billow__Reply *reply = cli_rating_call(cli, &rr);
    if (!reply)
        return CLI_FAIL;
    const Billow__RateExplainReply *e = reply->rating->explain;
    if (cli->json) {
        cli_print_reply_json(reply);
        billow__reply__free_unpacked(reply, NULL);
        return CLI_OK;
    }
    printf("account %s, period %s (%s)\n", e->account_id, e->period,
           e->closed ? "closed" : "open");
    printf("catalog version %d, loaded %s by %s\n\nsubscription segments:\n", e->catalog_version,
           e->catalog_loaded_at, *e->catalog_loaded_by ? e->catalog_loaded_by : "-");
    for (size_t i = 0; i < e->n_segments; i++) {
        const Billow__ExplainSegment *s = e->segments[i];
        printf("  %s × %s, %s – %s, price version %s (effective %s), period %d of the customer%s\n",
               s->plan, s->quantity, s->start, s->end, *s->price_version ? s->price_version : "none",
               s->effective_from, s->period_number, s->setup ? ", setup fee due" : "");
    }
    if (e->n_segments == 0)
        printf("  none: nothing is charged\n");
    printf("\nfee items (price version of the last segment):\n");
    for (size_t i = 0; i < e->n_items; i++) {
        const Billow__ExplainItem *it = e->items[i];
        printf("  %s %s [%s] %s%s%s\n", it->fee_item, it->name, it->model, it->pricing,
               *it->customer_tier ? "  (tier " : "", *it->customer_tier ? it->customer_tier : "");
        if (*it->customer_tier)
            printf("    customer tier %s price applied\n", it->customer_tier);
        printf("    from %s; usage total %s in %lld records\n", it->source, it->aggregate_quantity,
               (long long)it->usage_records);
        for (size_t k = 0; k < it->n_records; k++)
            printf("      %s  %s  %s  (%s)\n", it->records[k]->timestamp, it->records[k]->event_id,
                   it->records[k]->quantity, it->records[k]->caused_by);
        if (it->usage_records > (int64_t)it->n_records)
            printf("      ... %lld more\n", (long long)(it->usage_records - (int64_t)it->n_records));
    }
    printf("\ndiscounts applied:\n");
    for (size_t i = 0; i < e->n_discounts; i++)
        printf("  %s\n", e->discounts[i]);
    if (e->n_discounts == 0)
        printf("  none\n");
    printf("\nlines:\n");
    print_lines(e->rated);
    billow__reply__free_unpacked(reply, NULL);
    return CLI_OK;
}

const billctl_cmd_t billctl_rating_cmds[] = {
    {"catalog", "load", "FILE.json", "validate and store a catalog as its next version", catalog_load},
    {"catalog", "show", "[--version N] [--raw]", "fee items, plans with price versions, discounts", catalog_show},
    {"subscribe", NULL, "--account A --plan P --start DATE [--quantity N] [--coupon CODE]",
     "subscribe an account to a plan", subscribe},
    {"subscription", "change", "--account A --at DATE [--plan P] [--quantity N]",
     "change plan or quantity from a date (prorated)", sub_change},
    {"subscription", "cancel", "--account A --at DATE", "end a subscription (DATE is not billed)", sub_cancel},
    {"subscription", "import", "FILE.csv",
     "subscribe many accounts (account_id,plan,start[,quantity][,coupon]); any bad row and nothing is imported",
     sub_import},
    {"subscription", "list", "[--account A] [--after A] [--limit N]", "subscription segments", sub_list},
    {"subscription", "show", "--account A", "one account's subscription segments", sub_list},
    {"usage", "import", "FILE.csv [--batch N]",
     "import usage (event_id,account,fee_item,quantity,timestamp[,currency]); exit 1 if any row is rejected",
     usage_import},
    {"usage", "add", "--account A --fee-item F --quantity Q [--at TIME] [--event-id ID] [--currency C]",
     "record one usage event", usage_add},
    {"rate", "close", "--period YYYY-MM [--cycle C] [--no-wait]",
     "close a period: rate every due account once and emit AccountRated", rate_close},
    {"rate", "status", "--period YYYY-MM [--cycle C] | --job ID", "progress of a period close", rate_status},
    {"rate", "preview", "--account A --period YYYY-MM", "what the account would be charged so far", rate_preview},
    {"rate", "explain", "--account A --period YYYY-MM [--fee-item F]",
     "trace each line to usage, price version and discounts", rate_explain},
    {NULL, NULL, NULL, NULL, NULL},
};
