/* Contacts: the AccountChanged upsert that respects operator edits, the
 * operator's edit itself, and lookups for message creation and delivery.
 * The precedence rule lives in one SQL statement (SQL_APPLY): a field named
 * in operator_fields keeps its value whatever the event says. */
#include "notification/contacts.h"

#include "db.h"
#include "errors.h"
#include "log.h"
#include "pgarray.h"
#include "rpc.h"

#include <ctype.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP(f)                                                                                    \
    f " = CASE WHEN '" f "' = ANY (c.operator_fields) THEN c." f " ELSE EXCLUDED." f " END"

/* One statement per batch of AccountChanged events (an import sends them by
 * the hundred thousand): the batch travels as one JSON array and the newest
 * version of each account in it wins (of equal versions the later event, as
 * when they are applied one by one). */
static const char SQL_APPLY[] =
    "INSERT INTO contacts AS c (account_id, name, email, phone, webhook_url, language,"
    " account_version, caused_by)"
    " SELECT DISTINCT ON (account_id) account_id, name, email, phone, webhook_url, language,"
    " account_version, caused_by FROM jsonb_to_recordset($1::jsonb) AS x(account_id text,"
    " name text, email text, phone text, webhook_url text, language text, account_version bigint,"
    " caused_by text, ord int) ORDER BY account_id, account_version DESC, ord DESC"
    " ON CONFLICT (account_id) DO UPDATE SET name = EXCLUDED.name, " KEEP("email") ", " KEEP(
        "phone") ", " KEEP("webhook_url") ", " KEEP("language") ","
    " account_version = EXCLUDED.account_version, caused_by = EXCLUDED.caused_by,"
    " updated_at = now() WHERE c.account_version <= EXCLUDED.account_version";

#define CONTACT_COLS                                                                               \
    "account_id, name, email, phone, webhook_url, language, channels, opt_outs,"                  \
    " operator_fields, account_version, caused_by,"                                                \
    " to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const char SQL_GET[] = "SELECT " CONTACT_COLS " FROM contacts WHERE account_id = $1";
/* Many accounts at once: each row says which of the inputs (1-based) it is. */
static const char SQL_GET_MANY[] =
    "SELECT x.n, " CONTACT_COLS " FROM unnest($1::text[]) WITH ORDINALITY AS x(a, n)"
    " JOIN contacts ON account_id = x.a";
static const char SQL_GET_LOCK[] =
    "SELECT " CONTACT_COLS " FROM contacts WHERE account_id = $1 FOR UPDATE";
static const char SQL_PUT[] =
    "INSERT INTO contacts AS c (account_id, email, phone, webhook_url, language, channels,"
    " opt_outs, operator_fields, caused_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    " ON CONFLICT (account_id) DO UPDATE SET email = EXCLUDED.email, phone = EXCLUDED.phone,"
    " webhook_url = EXCLUDED.webhook_url, language = EXCLUDED.language,"
    " channels = EXCLUDED.channels, opt_outs = EXCLUDED.opt_outs,"
    " operator_fields = EXCLUDED.operator_fields, caused_by = EXCLUDED.caused_by,"
    " updated_at = now() RETURNING " CONTACT_COLS ", (xmax = 0)";

static const char *const all_channels[] = {"email", "sms", "webhook", NULL};
/* Fields an operator can own. */
static const char *const owned_fields[] = {"email", "phone", "webhook_url", "language", NULL};
/* The only optional messages: everything else is a legally required notice
 * (invoices, overdue notices, credit notes, fee changes) or a direct answer
 * to the customer (feedback replies). */
static const char *const optional_types[] = {"payment_received", "payment_reminder",
                                             "satisfaction_survey", NULL};

static bool in_set(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

bool ntf_type_optional(const char *type) { return type && in_set(type, optional_types); }

#define put_str bw_jsonrows_put_str

int ntf_contacts_add(ntf_contacts_batch_t *b, const Billow__AccountChanged *ac, const char *cause)
{
    if (!ac->account_id || !*ac->account_id)
        return 0;
    json_object *o = bw_jsonrows_new_row();
    if (!o)
        return BW_ENOMEM;
    put_str(o, "account_id", ac->account_id);
    put_str(o, "name", ac->name);
    put_str(o, "email", ac->email);
    put_str(o, "phone", ac->phone);
    put_str(o, "webhook_url", ac->webhook_url);
    put_str(o, "language", ac->language && *ac->language ? ac->language : "en");
    json_object_object_add(o, "account_version", json_object_new_int64(ac->version));
    put_str(o, "caused_by", cause);
    return bw_jsonrows_add(b, o);
}

int ntf_contacts_flush(bw_db_t *db, ntf_contacts_batch_t *b)
{
    size_t n = bw_jsonrows_count(b);
    int rc = bw_jsonrows_exec(db, b, SQL_APPLY);
    if (rc == BW_EDB)
        bw_log(BW_WARN, "could not apply account changes", "accounts", BW_I((long long)n), "pg_error",
               BW_S(bw_db_error(db)), NULL);
    return rc;
}

void ntf_contacts_batch_clear(ntf_contacts_batch_t *b) { bw_jsonrows_clear(b); }

static void defaults(ntf_contact_t *c)
{
    memset(c, 0, sizeof *c);
    c->name = c->email = c->phone = c->webhook_url = "";
    c->language = "en";
    for (size_t i = 0; i < NTF_MAX_CHANNELS; i++)
        c->channels[i] = all_channels[i];
    c->n_channels = NTF_MAX_CHANNELS;
}

/* The contact in row r of res, whose CONTACT_COLS start at column at. */
static void from_row(PGresult *res, int r, int at, ntf_contact_t *c, bw_arena_t *arena)
{
    defaults(c);
    c->found = true;
    c->name = bw_arena_strdup(arena, PQgetvalue(res, r, at + 1));
    c->email = bw_arena_strdup(arena, PQgetvalue(res, r, at + 2));
    c->phone = bw_arena_strdup(arena, PQgetvalue(res, r, at + 3));
    c->webhook_url = bw_arena_strdup(arena, PQgetvalue(res, r, at + 4));
    c->language = bw_arena_strdup(arena, PQgetvalue(res, r, at + 5));
    c->n_channels =
        bw_pgarr_parse(PQgetvalue(res, r, at + 6), c->channels, NTF_MAX_CHANNELS, arena);
    c->n_opt_outs = bw_pgarr_parse(PQgetvalue(res, r, at + 7), c->opt_outs, 16, arena);
}

int ntf_contact_load(bw_db_t *db, const char *account_id, ntf_contact_t *c, bw_arena_t *arena)
{
    defaults(c);
    PGresult *res = bw_db_query(db, SQL_GET, 1, &account_id);
    if (!res)
        return BW_EDB;
    if (PQntuples(res) == 1)
        from_row(res, 0, 0, c, arena);
    PQclear(res);
    return 0;
}

int ntf_contacts_load_many(bw_db_t *db, const char *const *accounts, size_t n, ntf_contact_t *out,
                           bw_arena_t *arena)
{
    bw_pgarr_t ids;
    bw_pgarr_init(&ids);
    for (size_t i = 0; i < n; i++) {
        defaults(&out[i]);
        bw_pgarr_add(&ids, accounts[i]);
    }
    const char *p = bw_pgarr_str(&ids);
    PGresult *res = p ? bw_db_query(db, SQL_GET_MANY, 1, &p) : NULL;
    int rc = p ? (res ? 0 : BW_EDB) : BW_ENOMEM;
    for (int r = 0; res && r < PQntuples(res); r++) {
        long k = atol(PQgetvalue(res, r, 0));
        if (k >= 1 && (size_t)k <= n)
            from_row(res, r, 1, &out[k - 1], arena);
    }
    PQclear(res);
    bw_pgarr_free(&ids);
    return rc;
}

const char *ntf_contact_address(const ntf_contact_t *c, const char *channel)
{
    if (strcmp(channel, "email") == 0)
        return c->email;
    if (strcmp(channel, "sms") == 0)
        return c->phone;
    if (strcmp(channel, "webhook") == 0)
        return c->webhook_url;
    return "";
}

bool ntf_contact_opted_out(const ntf_contact_t *c, const char *type)
{
    if (!ntf_type_optional(type))
        return false;
    for (size_t i = 0; i < c->n_opt_outs; i++)
        if (strcmp(c->opt_outs[i], type) == 0)
            return true;
    return false;
}

/* --- API ---------------------------------------------------------------- */

static void db_error(Billow__Reply *reply, bw_db_t *db, const char *what, bw_arena_t *arena)
{
    bw_log(BW_WARN, what, "pg_error", BW_S(bw_db_error(db)), NULL);
    bw_reply_error(reply, bw_db_lost(db) ? BILLOW__CODE__UNAVAILABLE : BILLOW__CODE__INTERNAL, what,
                   bw_arena_strdup(arena, bw_db_error(db)));
}

static bool email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    if (!at || at == s || !at[1] || strchr(at + 1, '@') || strlen(s) > 254)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || strchr("<>,;\"()[]\\", *p))
            return false;
    return true;
}

static bool phone_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 8 || n > 16 || s[0] != '+')
        return false;
    for (const char *p = s + 1; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

static bool url_ok(const char *s)
{
    if (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0)
        return false;
    if (strlen(s) > 2000)
        return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ')
            return false;
    return true;
}

static bool lang_ok(const char *s) { return strcmp(s, "en") == 0 || strcmp(s, "zh-CN") == 0; }

static Billow__Contact *row_to_contact(PGresult *res, bw_arena_t *arena)
{
    Billow__Contact *c = bw_arena_alloc(arena, sizeof *c);
    billow__contact__init(c);
    c->account_id = bw_arena_strdup(arena, PQgetvalue(res, 0, 0));
    c->name = bw_arena_strdup(arena, PQgetvalue(res, 0, 1));
    c->email = bw_arena_strdup(arena, PQgetvalue(res, 0, 2));
    c->phone = bw_arena_strdup(arena, PQgetvalue(res, 0, 3));
    c->webhook_url = bw_arena_strdup(arena, PQgetvalue(res, 0, 4));
    c->language = bw_arena_strdup(arena, PQgetvalue(res, 0, 5));
    c->channels = bw_arena_alloc(arena, 8 * sizeof(char *));
    c->n_channels = bw_pgarr_parse(PQgetvalue(res, 0, 6), (const char **)c->channels, 8, arena);
    c->opt_outs = bw_arena_alloc(arena, 16 * sizeof(char *));
    c->n_opt_outs = bw_pgarr_parse(PQgetvalue(res, 0, 7), (const char **)c->opt_outs, 16, arena);
    c->operator_fields = bw_arena_alloc(arena, 8 * sizeof(char *));
    c->n_operator_fields =
        bw_pgarr_parse(PQgetvalue(res, 0, 8), (const char **)c->operator_fields, 8, arena);
    c->account_version = atoll(PQgetvalue(res, 0, 9));
    c->caused_by = bw_arena_strdup(arena, PQgetvalue(res, 0, 10));
    c->updated_at = bw_arena_strdup(arena, PQgetvalue(res, 0, 11));
    return c;
}

static void set_reply(Billow__Reply *reply, Billow__Contact *c, bool created, bw_arena_t *arena)
{
    Billow__NotificationReply *nr = bw_arena_alloc(arena, sizeof *nr);
    Billow__ContactReply *cr = bw_arena_alloc(arena, sizeof *cr);
    billow__notification_reply__init(nr);
    billow__contact_reply__init(cr);
    cr->contact = c;
    cr->created = created;
    nr->op_case = BILLOW__NOTIFICATION_REPLY__OP_CONTACT;
    nr->contact = cr;
    reply->body_case = BILLOW__REPLY__BODY_NOTIFICATION;
    reply->notification = nr;
}

/* A small set of names (channels, types, fields) kept in order. */
typedef struct {
    const char *v[16];
    size_t n;
} nameset_t;

static bool ns_has(const nameset_t *s, const char *x)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) == 0)
            return true;
    return false;
}

static void ns_add(nameset_t *s, const char *x)
{
    if (!ns_has(s, x) && s->n < 16)
        s->v[s->n++] = x;
}

static void ns_del(nameset_t *s, const char *x)
{
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], x) != 0)
            s->v[k++] = s->v[i];
    s->n = k;
}

static const char *ns_literal(const nameset_t *s, bw_arena_t *arena)
{
    bw_pgarr_t a;
    bw_pgarr_init(&a);
    for (size_t i = 0; i < s->n; i++)
        bw_pgarr_add(&a, s->v[i]);
    const char *lit = bw_pgarr_str(&a);
    char *out = lit ? bw_arena_strdup(arena, lit) : NULL;
    bw_pgarr_free(&a);
    return out;
}

/* why names the field already; detail carries the offending value only
 * when it is not the field's name (opt-out types, field lists). */
static int invalid(Billow__Reply *reply, const char *value, const char *why)
{
    bool is_field = !strcmp(value, "account") || !strcmp(value, "email") ||
                    !strcmp(value, "phone") || !strcmp(value, "webhook") ||
                    !strcmp(value, "language") || !strcmp(value, "channels");
    bw_reply_error(reply, BILLOW__CODE__INVALID, why, is_field ? NULL : value);
    return BW_EINVAL;
}

/* Checks the request before anything is read or written. */
static int validate(const Billow__ContactSet *r, Billow__Reply *reply)
{
    if (!r->account_id || !*r->account_id || strlen(r->account_id) > 64)
        return invalid(reply, "account", "account: required, at most 64 bytes");
    if (*r->email && !email_ok(r->email))
        return invalid(reply, "email", "email: not an e-mail address");
    if (*r->phone && !phone_ok(r->phone))
        return invalid(reply, "phone", "phone: E.164 number expected (+8613800000000)");
    if (*r->webhook_url && !url_ok(r->webhook_url))
        return invalid(reply, "webhook", "webhook: http:// or https:// URL expected");
    if (*r->language && !lang_ok(r->language))
        return invalid(reply, "language", "language: en or zh-CN");
    nameset_t seen = {0};
    for (size_t i = 0; i < r->n_channels; i++) {
        if (!in_set(r->channels[i], all_channels))
            return invalid(reply, "channels", "channels: email, sms or webhook");
        if (ns_has(&seen, r->channels[i]))
            return invalid(reply, "channels", "channels: a channel is listed twice");
        ns_add(&seen, r->channels[i]);
    }
    for (size_t i = 0; i < r->n_opt_out; i++)
        if (!ntf_type_optional(r->opt_out[i]))
            return invalid(reply, r->opt_out[i],
                           "opt-out: only payment_received, payment_reminder and"
                           " satisfaction_survey are optional; invoices, overdue notices,"
                           " credit notes, fee changes and replies are required notices");
    for (size_t i = 0; i < r->n_opt_in; i++)
        if (!ntf_type_optional(r->opt_in[i]))
            return invalid(reply, r->opt_in[i], "opt-in: not an optional message type");
    for (size_t i = 0; i < r->n_clear; i++)
        if (!in_set(r->clear[i], owned_fields) || strcmp(r->clear[i], "language") == 0)
            return invalid(reply, r->clear[i], "clear: email, phone or webhook_url");
    for (size_t i = 0; i < r->n_release; i++)
        if (!in_set(r->release[i], owned_fields))
            return invalid(reply, r->release[i], "release: email, phone, webhook_url or language");
    return 0;
}

bool ntf_contact_set(bw_db_t *db, const Billow__ContactSet *r, const char *cause,
                     Billow__Reply *reply, bw_arena_t *arena)
{
    if (!r || validate(r, reply) < 0)
        return false;
    if (bw_db_begin(db) < 0) {
        db_error(reply, db, "could not begin", arena);
        return false;
    }
    const char *id = r->account_id;
    PGresult *res = bw_db_query(db, SQL_GET_LOCK, 1, &id);
    if (!res) {
        db_error(reply, db, "could not read contact", arena);
        goto fail;
    }
    ntf_contact_t c;
    nameset_t ops = {0}, chans = {0}, outs = {0};
    if (PQntuples(res) == 1) {
        from_row(res, 0, 0, &c, arena);
        const char *of[8];
        size_t n = bw_pgarr_parse(PQgetvalue(res, 0, 8), of, 8, arena);
        for (size_t i = 0; i < n; i++)
            ns_add(&ops, of[i]);
    } else {
        defaults(&c);
    }
    PQclear(res);
    for (size_t i = 0; i < c.n_channels; i++)
        ns_add(&chans, c.channels[i]);
    for (size_t i = 0; i < c.n_opt_outs; i++)
        ns_add(&outs, c.opt_outs[i]);

#define TAKE(field, name)                                                                          \
    if (*r->field) {                                                                               \
        c.field = r->field;                                                                        \
        ns_add(&ops, name);                                                                        \
    }
    TAKE(email, "email")
    TAKE(phone, "phone")
    TAKE(webhook_url, "webhook_url")
    TAKE(language, "language")
#undef TAKE
    for (size_t i = 0; i < r->n_clear; i++) {
        if (strcmp(r->clear[i], "email") == 0)
            c.email = "";
        else if (strcmp(r->clear[i], "phone") == 0)
            c.phone = "";
        else
            c.webhook_url = "";
        ns_add(&ops, r->clear[i]);
    }
    /* A released field keeps its value until the next AccountChanged. */
    for (size_t i = 0; i < r->n_release; i++)
        ns_del(&ops, r->release[i]);
    if (r->n_channels) {
        chans.n = 0;
        for (size_t i = 0; i < r->n_channels; i++)
            ns_add(&chans, r->channels[i]);
    }
    for (size_t i = 0; i < r->n_opt_out; i++)
        ns_add(&outs, r->opt_out[i]);
    for (size_t i = 0; i < r->n_opt_in; i++)
        ns_del(&outs, r->opt_in[i]);

    const char *p[9] = {id,     c.email, c.phone, c.webhook_url, c.language, ns_literal(&chans, arena),
                        ns_literal(&outs, arena), ns_literal(&ops, arena), cause};
    if (!p[5] || !p[6] || !p[7]) {
        bw_reply_error(reply, BILLOW__CODE__INTERNAL, "out of memory", NULL);
        goto fail;
    }
    res = bw_db_query(db, SQL_PUT, 9, p);
    if (!res) {
        db_error(reply, db, "could not write contact", arena);
        goto fail;
    }
    Billow__Contact *out = row_to_contact(res, arena);
    bool created = PQgetvalue(res, 0, 12)[0] == 't';
    PQclear(res);
    if (bw_db_commit(db) < 0) {
        db_error(reply, db, "could not commit", arena);
        return false;
    }
    set_reply(reply, out, created, arena);
    bw_log(BW_INFO, "contact set", "account", BW_S(id), "cause", BW_S(cause), NULL);
    return true;
fail:
    bw_db_rollback(db);
    return false;
}

void ntf_contact_get(bw_db_t *db, const Billow__ContactGet *r, Billow__Reply *reply,
                     bw_arena_t *arena)
{
    if (!r || !r->account_id || !*r->account_id) {
        bw_reply_error(reply, BILLOW__CODE__INVALID, "account: required", NULL);
        return;
    }
    const char *id = r->account_id;
    PGresult *res = bw_db_query(db, SQL_GET, 1, &id);
    if (!res) {
        db_error(reply, db, "could not read contact", arena);
        return;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        bw_reply_error(reply, BILLOW__CODE__NOT_FOUND, "no such contact", id);
        return;
    }
    set_reply(reply, row_to_contact(res, arena), false, arena);
    PQclear(res);
}
