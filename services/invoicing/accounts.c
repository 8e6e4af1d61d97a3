/* Accounts: validation, upsert with its AccountChanged event, listing, and a
 * bulk CSV import that validates every row before writing any. */
#include "invoicing/accounts.h"
#include "invoicing/payplan.h"
#include "invoicing/tax.h"

#include "copybuf.h"
#include "csv.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "money.h"
#include "outbox.h"
#include "rpc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define NCOLS 16

/* Column order shared by every statement below and by row_to_account. */
#define ACCOUNT_COLS                                                                               \
    "id, external_ref, name, currency, time_zone, cycle, anchor_day, terms_days, tier,"           \
    " tax_profile, language, email, phone, webhook_url, status, version, payment_plan"

static const char SQL_GET[] = "SELECT " ACCOUNT_COLS ", updated_at FROM accounts WHERE id = $1";
static const char SQL_GET_LOCK[] =
    "SELECT " ACCOUNT_COLS ", updated_at FROM accounts WHERE id = $1 FOR UPDATE";
static const char SQL_INSERT[] =
    "INSERT INTO accounts (" ACCOUNT_COLS ", caused_by) VALUES"
    " ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)";
static const char SQL_UPDATE[] =
    "UPDATE accounts SET external_ref=$2, name=$3, currency=$4, time_zone=$5, cycle=$6,"
    " anchor_day=$7, terms_days=$8, tier=$9, tax_profile=$10, language=$11, email=$12,"
    " phone=$13, webhook_url=$14, status=$15, version=$16, payment_plan=$17, caused_by=$18,"
    " updated_at=now()"
    " WHERE id=$1";
static const char SQL_LIST[] =
    "SELECT " ACCOUNT_COLS ", updated_at FROM accounts WHERE ($1 = '' OR status = $1)"
    " AND ($2 = '' OR cycle = $2) AND id > $3 ORDER BY id LIMIT $4::int";

/* The CSV import stages every row, then merges in one statement. */
static const char SQL_STAGE[] =
    "CREATE TEMP TABLE account_stage (LIKE accounts INCLUDING DEFAULTS) ON COMMIT DROP";
static const char SQL_STAGE_COPY[] = "COPY account_stage (" ACCOUNT_COLS ", caused_by) FROM STDIN";
static const char SQL_MERGE[] =
    "INSERT INTO accounts AS a (" ACCOUNT_COLS ", caused_by)"
    " SELECT " ACCOUNT_COLS ", caused_by FROM account_stage"
    " ON CONFLICT (id) DO UPDATE SET external_ref=EXCLUDED.external_ref, name=EXCLUDED.name,"
    " currency=EXCLUDED.currency, time_zone=EXCLUDED.time_zone, cycle=EXCLUDED.cycle,"
    " anchor_day=EXCLUDED.anchor_day, terms_days=EXCLUDED.terms_days, tier=EXCLUDED.tier,"
    " tax_profile=EXCLUDED.tax_profile, language=EXCLUDED.language, email=EXCLUDED.email,"
    " phone=EXCLUDED.phone, webhook_url=EXCLUDED.webhook_url, status=EXCLUDED.status,"
    " payment_plan=EXCLUDED.payment_plan,"
    " version=a.version + 1, caused_by=EXCLUDED.caused_by, updated_at=now()"
    " WHERE (a.external_ref, a.name, a.currency, a.time_zone, a.cycle, a.anchor_day,"
    " a.terms_days, a.tier, a.tax_profile, a.language, a.email, a.phone, a.webhook_url,"
    " a.status, a.payment_plan) IS DISTINCT FROM (EXCLUDED.external_ref, EXCLUDED.name, EXCLUDED.currency,"
    " EXCLUDED.time_zone, EXCLUDED.cycle, EXCLUDED.anchor_day, EXCLUDED.terms_days,"
    " EXCLUDED.tier, EXCLUDED.tax_profile, EXCLUDED.language, EXCLUDED.email, EXCLUDED.phone,"
    " EXCLUDED.webhook_url, EXCLUDED.status, EXCLUDED.payment_plan)"
    " RETURNING " ACCOUNT_COLS ", updated_at, (xmax = 0)";

static const char *const csv_fields[] = {
    "id", "external_ref", "name", "currency", "time_zone", "cycle", "anchor_day", "terms_days",
    "tier", "tax_profile", "language", "email", "phone", "webhook_url", "status", "payment_plan",
};

static bool empty(const char *s) { return !s || !*s; }

static char *arena_str(bw_arena_t *a, const char *s) { return bw_arena_strdup(a, s ? s : ""); }

void inv_account_defaults(Billow__AccountChanged *a)
{
    if (empty(a->time_zone))
        a->time_zone = "UTC";
    if (empty(a->cycle))
        a->cycle = "monthly";
    if (a->anchor_day == 0)
        a->anchor_day = 1;
    if (a->terms_days == 0)
        a->terms_days = 30;
    if (empty(a->tier))
        a->tier = "standard";
    if (empty(a->tax_profile))
        a->tax_profile = "none";
    if (empty(a->language))
        a->language = "en";
    if (empty(a->status))
        a->status = "active";
    if (empty(a->payment_plan))
        a->payment_plan = "once";
}

static bool id_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-:", *p))
            return false;
    return true;
}

static bool one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static bool tz_ok(const char *tz)
{
    if (strcmp(tz, "UTC") == 0)
        return true;
    if (strlen(tz) > 64 || strstr(tz, "..") || tz[0] == '/')
        return false;
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int bad(char *err, size_t len, const char *field, const char *why)
{
    snprintf(err, len, "%s: %s", field, why);
    return BW_EINVAL;
}

int inv_account_validate(const Billow__AccountChanged *a, char *err, size_t errlen)
{
    static const char *const cycles[] = {"monthly", "quarterly", "annual", NULL};
    static const char *const langs[] = {"en", "zh-CN", NULL};
    static const char *const statuses[] = {"active", "suspended", "closed", NULL};
    if (!id_ok(a->account_id, 64))
        return bad(err, errlen, "id", "1 to 64 letters, digits, '.', '_', '-' or ':'");
    if (empty(a->name) || strlen(a->name) > 200)
        return bad(err, errlen, "name", "required, at most 200 bytes");
    if (strlen(a->external_ref) > 100)
        return bad(err, errlen, "external_ref", "at most 100 bytes");
    if (bw_currency_exponent(a->currency) < 0)
        return bad(err, errlen, "currency", "not a known ISO 4217 code (e.g. CNY, USD, JPY)");
    if (!tz_ok(a->time_zone))
        return bad(err, errlen, "time_zone", "not a known time zone (e.g. Asia/Shanghai, UTC)");
    if (!one_of(a->cycle, cycles))
        return bad(err, errlen, "cycle", "must be monthly, quarterly or annual");
    if (a->anchor_day < 1 || a->anchor_day > 28)
        return bad(err, errlen, "anchor_day", "must be 1 to 28");
    if (a->terms_days < 0 || a->terms_days > 365)
        return bad(err, errlen, "terms_days", "must be 0 to 365");
    if (!id_ok(a->tier, 32))
        return bad(err, errlen, "tier", "1 to 32 letters, digits, '.', '_' or '-'");
    if (!inv_tax_profile_find(a->tax_profile))
        return bad(err, errlen, "tax_profile", "unknown tax profile");
    if (!one_of(a->language, langs))
        return bad(err, errlen, "language", "must be en or zh-CN");
    if (!empty(a->email) && (strlen(a->email) > 254 || !strchr(a->email, '@') ||
                             strpbrk(a->email, " \t\r\n<>,;\"") || a->email[0] == '@'))
        return bad(err, errlen, "email", "not an email address");
    if (!empty(a->phone)) {
        const char *p = a->phone[0] == '+' ? a->phone + 1 : a->phone;
        if (strlen(p) < 5 || strlen(p) > 20 || strspn(p, "0123456789") != strlen(p))
            return bad(err, errlen, "phone", "digits with an optional leading +, 5 to 20 digits");
    }
    if (!empty(a->webhook_url) &&
        ((strncmp(a->webhook_url, "https://", 8) != 0 && strncmp(a->webhook_url, "http://", 7) != 0) ||
         strlen(a->webhook_url) > 500 || strpbrk(a->webhook_url, " \t\r\n")))
        return bad(err, errlen, "webhook_url", "must be an http:// or https:// URL");
    if (!one_of(a->status, statuses))
        return bad(err, errlen, "status", "must be active, suspended or closed");
    inv_plan_spec_t spec;
    inv_milestone_t ms[INV_PLAN_MAX_MILESTONES];
    char labels[INV_PLAN_MAX_MILESTONES][INV_PLAN_LABEL_LEN], why[160];
    if (inv_plan_parse(a->payment_plan, a->terms_days, &spec, ms, labels, why, sizeof why) < 0)
        return bad(err, errlen, "payment_plan", why);
    return 0;
}

static Billow__AccountChanged *row_to_account(PGresult *res, int i, bw_arena_t *a)
{
    Billow__AccountChanged *ac = bw_arena_alloc(a, sizeof *ac);
    billow__account_changed__init(ac);
    ac->account_id = arena_str(a, PQgetvalue(res, i, 0));
    ac->external_ref = arena_str(a, PQgetvalue(res, i, 1));
    ac->name = arena_str(a, PQgetvalue(res, i, 2));
    ac->currency = arena_str(a, PQgetvalue(res, i, 3));
    ac->time_zone = arena_str(a, PQgetvalue(res, i, 4));
    ac->cycle = arena_str(a, PQgetvalue(res, i, 5));
    ac->anchor_day = atoi(PQgetvalue(res, i, 6));
    ac->terms_days = atoi(PQgetvalue(res, i, 7));
    ac->tier = arena_str(a, PQgetvalue(res, i, 8));
    ac->tax_profile = arena_str(a, PQgetvalue(res, i, 9));
    ac->language = arena_str(a, PQgetvalue(res, i, 10));
    ac->email = arena_str(a, PQgetvalue(res, i, 11));
    ac->phone = arena_str(a, PQgetvalue(res, i, 12));
    ac->webhook_url = arena_str(a, PQgetvalue(res, i, 13));
    ac->status = arena_str(a, PQgetvalue(res, i, 14));
    ac->version = atoll(PQgetvalue(res, i, 15));
    ac->payment_plan = arena_str(a, PQgetvalue(res, i, 16));
    ac->changed_at = arena_str(a, PQgetvalue(res, i, 17));
    return ac;
}

/* The 18 parameters of SQL_INSERT / SQL_UPDATE. */
static void account_params(const Billow__AccountChanged *ac, const char *cause, char nums[3][24],
                           const char *p[18])
{
    snprintf(nums[0], 24, "%d", ac->anchor_day);
    snprintf(nums[1], 24, "%d", ac->terms_days);
    snprintf(nums[2], 24, "%lld", (long long)ac->version);
    const char *v[18] = {ac->account_id, ac->external_ref, ac->name,     ac->currency,
                         ac->time_zone,  ac->cycle,        nums[0],      nums[1],
                         ac->tier,       ac->tax_profile,  ac->language, ac->email,
                         ac->phone,      ac->webhook_url,  ac->status,   nums[2],
                         ac->payment_plan, cause};
    memcpy(p, v, sizeof v);
}

static int emit_changed(bw_db_t *db, Billow__AccountChanged *ac, const char *cause)
{
    Billow__Event ev = BILLOW__EVENT__INIT;
    ev.body_case = BILLOW__EVENT__BODY_ACCOUNT_CHANGED;
    ev.account_changed = ac;
    return bw_outbox_emit(db, &ev, ac->account_id, cause);
}

static bool field_selected(const Billow__AccountUpsert *req, const char *name)
{
    if (req->n_fields == 0)
        return true;
    for (size_t i = 0; i < req->n_fields; i++)
        if (strcmp(req->fields[i], name) == 0)
            return true;
    return false;
}

/* Merges the fields the update names (or every non-empty field) into cur. */
static int merge(Billow__AccountChanged *cur, const Billow__AccountChanged *in,
                 const Billow__AccountUpsert *req, char *err, size_t errlen)
{
    for (size_t i = 0; i < req->n_fields; i++) {
        bool known = false;
        for (size_t k = 0; k < sizeof csv_fields / sizeof *csv_fields; k++)
            known = known || strcmp(req->fields[i], csv_fields[k]) == 0;
        if (!known || strcmp(req->fields[i], "id") == 0)
            return bad(err, errlen, req->fields[i], "not a field that can be updated");
    }
#define TAKE_S(f, name)                                                                            \
    if (field_selected(req, name) && (req->n_fields || !empty(in->f)))                             \
        cur->f = in->f;
#define TAKE_I(f, name)                                                                            \
    if (field_selected(req, name) && (req->n_fields || in->f))                                     \
        cur->f = in->f;
    TAKE_S(external_ref, "external_ref")
    TAKE_S(name, "name")
    TAKE_S(currency, "currency")
    TAKE_S(time_zone, "time_zone")
    TAKE_S(cycle, "cycle")
    TAKE_I(anchor_day, "anchor_day")
    TAKE_I(terms_days, "terms_days")
    TAKE_S(tier, "tier")
    TAKE_S(tax_profile, "tax_profile")
    TAKE_S(language, "language")
    TAKE_S(email, "email")
    TAKE_S(phone, "phone")
    TAKE_S(webhook_url, "webhook_url")
    TAKE_S(status, "status")
    TAKE_S(payment_plan, "payment_plan")
#undef TAKE_S
#undef TAKE_I
    return 0;
}

static bool same(const Billow__AccountChanged *a, const Billow__AccountChanged *b)
{
    return !strcmp(a->external_ref, b->external_ref) && !strcmp(a->name, b->name) &&
           !strcmp(a->currency, b->currency) && !strcmp(a->time_zone, b->time_zone) &&
           !strcmp(a->cycle, b->cycle) && a->anchor_day == b->anchor_day &&
           a->terms_days == b->terms_days && !strcmp(a->tier, b->tier) &&
           !strcmp(a->tax_profile, b->tax_profile) && !strcmp(a->language, b->language) &&
           !strcmp(a->email, b->email) && !strcmp(a->phone, b->phone) &&
           !strcmp(a->webhook_url, b->webhook_url) && !strcmp(a->status, b->status) &&
           !strcmp(a->payment_plan, b->payment_plan);
}

static void set_account_reply(Billow__Reply *reply, Billow__AccountChanged *ac, bool created,
                              bool changed, bw_arena_t *arena)
{
    Billow__InvoicingReply *ir = bw_arena_alloc(arena, sizeof *ir);
    Billow__AccountReply *ar = bw_arena_alloc(arena, sizeof *ar);
    billow__invoicing_reply__init(ir);
    billow__account_reply__init(ar);
    ar->account = ac;
    ar->created = created;
    ar->changed = changed;
    ir->op_case = BILLOW__INVOICING_REPLY__OP_ACCOUNT;
    ir->account = ar;
    reply->body_case = BILLOW__REPLY__BODY_INVOICING;
    reply->invoicing = ir;
}

static void db_error(Billow__Reply *reply, bw_db_t *db, const char *what, bw_arena_t *arena)
{
    bw_log(BW_WARN, what, "pg_error", BW_S(bw_db_error(db)), NULL);
    bw_reply_error(reply, bw_db_lost(db) ? BILLOW__CODE__UNAVAILABLE : BILLOW__CODE__INTERNAL, what,
                   bw_arena_strdup(arena, bw_db_error(db)));
}

bool inv_account_upsert(bw_db_t *db, const Billow__AccountUpsert *req, const char *cause,
                        Billow__Reply *reply, bw_arena_t *arena)
{
    char err[256];
    if (!req->account || empty(req->account->account_id)) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "id: required", NULL);
        return false;
    }
    if (bw_db_begin(db) < 0) {
        db_error(reply, db, "could not begin", arena);
        return false;
    }
    const char *id = req->account->account_id;
    PGresult *res = bw_db_query(db, SQL_GET_LOCK, 1, &id);
    if (!res) {
        db_error(reply, db, "could not read account", arena);
        goto fail;
    }
    bool exists = PQntuples(res) == 1;
    Billow__AccountChanged *cur = NULL;
    if (exists)
        cur = row_to_account(res, 0, arena);
    PQclear(res);
    if (exists && req->create_only) {
        bw_reply_error(reply, BILLOW__CODE__CONFLICT, "account already exists", id);
        goto fail;
    }
    if (!exists && req->update_only) {
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such account", id);
        goto fail;
    }
    Billow__AccountChanged *next = bw_arena_alloc(arena, sizeof *next);
    if (exists) {
        *next = *cur;
        if (merge(next, req->account, req, err, sizeof err) < 0) {
            bw_reply_error(reply, BILLOW__CODE__INVALID, bw_arena_strdup(arena, err), NULL);
            goto fail;
        }
    } else {
        *next = *req->account;
        inv_account_defaults(next);
    }
    if (inv_account_validate(next, err, sizeof err) < 0) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, bw_arena_strdup(arena, err), NULL);
        goto fail;
    }
    if (exists && same(cur, next)) {
        bw_db_commit(db);
        set_account_reply(reply, cur, false, false, arena);
        return false;
    }
    next->version = exists ? cur->version + 1 : 1;
    char nums[3][24];
    const char *p[18];
    account_params(next, cause, nums, p);
    if (bw_db_exec(db, exists ? SQL_UPDATE : SQL_INSERT, 18, p) < 0) {
        db_error(reply, db, "could not write account", arena);
        goto fail;
    }
    /* The event carries the state as read back, with its timestamp. */
    res = bw_db_query(db, SQL_GET, 1, &id);
    if (!res || PQntuples(res) != 1) {
        PQclear(res);
        db_error(reply, db, "could not read account", arena);
        goto fail;
    }
    next = row_to_account(res, 0, arena);
    PQclear(res);
    if (emit_changed(db, next, cause) < 0) {
        db_error(reply, db, "could not record AccountChanged", arena);
        goto fail;
    }
    if (bw_db_commit(db) < 0) {
        db_error(reply, db, "could not commit", arena);
        return false;
    }
    set_account_reply(reply, next, !exists, true, arena);
    return true;
fail:
    bw_db_rollback(db);
    return false;
}

int inv_account_load(bw_db_t *db, const char *id, Billow__AccountChanged *out, bw_arena_t *arena)
{
    PGresult *res = bw_db_query(db, SQL_GET, 1, &id);
    if (!res)
        return BW_EDB;
    int rc = BW_ENOTFOUND;
    if (PQntuples(res) == 1) {
        *out = *row_to_account(res, 0, arena);
        rc = 0;
    }
    PQclear(res);
    return rc;
}

void inv_account_get(bw_db_t *db, const Billow__AccountGet *req, Billow__Reply *reply,
                     bw_arena_t *arena)
{
    Billow__AccountChanged *ac = bw_arena_alloc(arena, sizeof *ac);
    int rc = inv_account_load(db, req->account_id, ac, arena);
    if (rc == BW_ENOTFOUND) {
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such account",
                       bw_arena_strdup(arena, req->account_id));
        return;
    }
    if (rc < 0) {
        db_error(reply, db, "could not read account", arena);
        return;
    }
    set_account_reply(reply, ac, false, false, arena);
}

void inv_account_list(bw_db_t *db, const Billow__AccountList *req, Billow__Reply *reply,
                      bw_arena_t *arena)
{
    char lim[16];
    unsigned limit = req->limit == 0 ? 100 : req->limit > 10000 ? 10000 : req->limit;
    snprintf(lim, sizeof lim, "%u", limit);
    const char *p[4] = {req->status, req->cycle, req->after, lim};
    PGresult *res = bw_db_query(db, SQL_LIST, 4, p);
    if (!res) {
        db_error(reply, db, "could not list accounts", arena);
        return;
    }
    Billow__InvoicingReply *ir = bw_arena_alloc(arena, sizeof *ir);
    Billow__AccountListReply *lr = bw_arena_alloc(arena, sizeof *lr);
    billow__invoicing_reply__init(ir);
    billow__account_list_reply__init(lr);
    int n = PQntuples(res);
    lr->n_accounts = (size_t)n;
    lr->accounts = bw_arena_alloc(arena, sizeof *lr->accounts * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        lr->accounts[i] = row_to_account(res, i, arena);
    PQclear(res);
    ir->op_case = BILLOW__INVOICING_REPLY__OP_ACCOUNT_LIST;
    ir->account_list = lr;
    reply->body_case = BILLOW__REPLY__BODY_INVOICING;
    reply->invoicing = ir;
}

static void add_row_error(Billow__ImportReply *ir, bw_arena_t *arena, long line, const char *msg)
{
    if (ir->n_errors >= 1000)
        return; /* enough to fix the file; the count of rows is in the reply */
    Billow__RowError *e = bw_arena_alloc(arena, sizeof *e);
    billow__row_error__init(e);
    e->line = (int32_t)line;
    e->error = bw_arena_strdup(arena, msg);
    const char *colon = strchr(msg, ':');
    e->field = colon ? bw_arena_printf(arena, "%.*s", (int)(colon - msg), msg) : "";
    ir->errors[ir->n_errors++] = e;
}

bool inv_account_import(bw_db_t *db, const Billow__AccountImport *req, const char *cause,
                        Billow__Reply *reply, bw_arena_t *arena)
{
    Billow__InvoicingReply *out = bw_arena_alloc(arena, sizeof *out);
    Billow__ImportReply *ir = bw_arena_alloc(arena, sizeof *ir);
    billow__invoicing_reply__init(out);
    billow__import_reply__init(ir);
    ir->errors = bw_arena_alloc(arena, sizeof *ir->errors * 1000);
    out->op_case = BILLOW__INVOICING_REPLY__OP_IMPORT;
    out->import = ir;
    reply->body_case = BILLOW__REPLY__BODY_INVOICING;
    reply->invoicing = out;

    bw_csv_t *csv = bw_csv_new_mem(req->csv, strlen(req->csv), NULL);
    if (!csv) {
        bw_reply_error(reply, BILLOW__CODE__INTERNAL, "out of memory", NULL);
        return false;
    }
    bw_copybuf_t copy;
    bw_copybuf_init(&copy);
    bool changed = false;
    static const char *const required[] = {"id", "name", "currency"};
    if (bw_csv_read_header(csv) < 0 || bw_csv_require(csv, required, 3) < 0) {
        add_row_error(ir, arena, bw_csv_line(csv), bw_csv_error(csv));
        goto done;
    }
    /* After the header, the current record is the header row itself. */
    for (size_t c = 0; c < bw_csv_nfields(csv); c++) {
        const char *col = bw_csv_field(csv, c);
        bool known = false;
        for (size_t k = 0; k < sizeof csv_fields / sizeof *csv_fields; k++)
            known = known || strcasecmp(col, csv_fields[k]) == 0;
        if (!known)
            add_row_error(ir, arena, bw_csv_line(csv),
                          bw_arena_printf(arena, "%s: unknown column", col));
    }
    if (ir->n_errors)
        goto done;
    int rc;
    while ((rc = bw_csv_next(csv)) > 0) {
        ir->rows++;
        Billow__AccountChanged a = BILLOW__ACCOUNT_CHANGED__INIT;
        const char *v;
#define COL(f, name) a.f = (char *)((v = bw_csv_get(csv, name)) ? v : "");
        COL(account_id, "id")
        COL(external_ref, "external_ref")
        COL(name, "name")
        COL(currency, "currency")
        COL(time_zone, "time_zone")
        COL(cycle, "cycle")
        COL(tier, "tier")
        COL(tax_profile, "tax_profile")
        COL(language, "language")
        COL(email, "email")
        COL(phone, "phone")
        COL(webhook_url, "webhook_url")
        COL(status, "status")
        COL(payment_plan, "payment_plan")
#undef COL
        char err[256];
        const char *ad = bw_csv_get(csv, "anchor_day"), *td = bw_csv_get(csv, "terms_days");
        char *end;
        if (!empty(ad)) {
            long x = strtol(ad, &end, 10);
            if (*end || x < 1 || x > 28) {
                add_row_error(ir, arena, bw_csv_line(csv), "anchor_day: must be 1 to 28");
                continue;
            }
            a.anchor_day = (int32_t)x;
        }
        if (!empty(td)) {
            long x = strtol(td, &end, 10);
            if (*end || x < 0 || x > 365) {
                add_row_error(ir, arena, bw_csv_line(csv), "terms_days: must be 0 to 365");
                continue;
            }
            a.terms_days = (int32_t)x;
        }
        inv_account_defaults(&a);
        if (empty(td))
            a.terms_days = 30;
        if (inv_account_validate(&a, err, sizeof err) < 0) {
            add_row_error(ir, arena, bw_csv_line(csv), err);
            continue;
        }
        char nums[3][24];
        const char *p[18];
        a.version = 1;
        account_params(&a, cause, nums, p);
        for (int k = 0; k < 18; k++)
            bw_copybuf_str(&copy, p[k]);
        bw_copybuf_end(&copy);
    }
    if (rc < 0) {
        add_row_error(ir, arena, bw_csv_line(csv), bw_csv_error(csv));
        goto done;
    }
    if (ir->n_errors || ir->rows == 0) {
        if (ir->rows == 0 && !ir->n_errors)
            add_row_error(ir, arena, 1, "file: no rows after the header");
        goto done;
    }
    /* Duplicated ids in one file would make the merge ambiguous. */
    if (bw_db_begin(db) < 0 || bw_db_exec(db, SQL_STAGE, 0, NULL) < 0 ||
        copy.failed || bw_db_copy(db, SQL_STAGE_COPY, copy.data, copy.len) < 0) {
        db_error(reply, db, "could not stage accounts", arena);
        bw_db_rollback(db);
        goto done;
    }
    PGresult *dup = bw_db_query(db, "SELECT id FROM account_stage GROUP BY id HAVING count(*) > 1 LIMIT 5", 0, NULL);
    if (dup && PQntuples(dup) > 0) {
        for (int i = 0; i < PQntuples(dup); i++)
            add_row_error(ir, arena, 0, bw_arena_printf(arena, "id: %s appears more than once",
                                                        PQgetvalue(dup, i, 0)));
        PQclear(dup);
        bw_db_rollback(db);
        goto done;
    }
    PQclear(dup);
    PGresult *res = bw_db_query(db, SQL_MERGE, 0, NULL);
    if (!res) {
        db_error(reply, db, "could not import accounts", arena);
        bw_db_rollback(db);
        goto done;
    }
    int n = PQntuples(res);
    bw_outbox_event_t *evs = calloc((size_t)n + 1, sizeof *evs);
    uint8_t **bufs = calloc((size_t)n + 1, sizeof *bufs);
    int erc = evs && bufs ? 0 : BW_ENOMEM;
    for (int i = 0; i < n && erc == 0; i++) {
        Billow__AccountChanged *ac = row_to_account(res, i, arena);
        if (strcmp(PQgetvalue(res, i, 18), "t") == 0)
            ir->created++;
        else
            ir->updated++;
        Billow__Event ev = BILLOW__EVENT__INIT;
        ev.body_case = BILLOW__EVENT__BODY_ACCOUNT_CHANGED;
        ev.account_changed = ac;
        size_t plen = billow__event__get_packed_size(&ev);
        bufs[i] = malloc(plen ? plen : 1);
        if (!bufs[i]) {
            erc = BW_ENOMEM;
            break;
        }
        billow__event__pack(&ev, bufs[i]);
        evs[i] = (bw_outbox_event_t){.type = "AccountChanged", .partition_key = ac->account_id,
                                     .payload = bufs[i], .len = plen, .caused_by = cause};
    }
    PQclear(res);
    if (erc == 0)
        erc = bw_outbox_append(db, evs, (size_t)n);
    for (int i = 0; bufs && i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(evs);
    if (erc < 0 || bw_db_commit(db) < 0) {
        db_error(reply, db, "could not commit the import", arena);
        bw_db_rollback(db);
        ir->created = ir->updated = 0;
        goto done;
    }
    changed = n > 0;
done:
    bw_copybuf_free(&copy);
    bw_csv_destroy(&csv);
    if (ir->n_errors && reply->code == BILLOW__CODE__OK)
        bw_reply_error(reply, BILLOW__CODE__INVALID,
                       bw_arena_printf(arena, "%zu row(s) rejected; nothing was imported",
                                       ir->n_errors),
                       NULL);
    return changed;
}
