/* Message creation from events: picks the channel (the contact's fallback
 * order, first channel with an address), builds the template variables of
 * the message type and inserts the rows, those of a consumer batch with one
 * statement. See messages.h. */
#include "notification/messages.h"
#include "notification/contacts.h"
#include "notification/template.h"

#include "clock.h"
#include "config.h"
#include "db.h"
#include "errors.h"
#include "events.h"
#include "log.h"
#include "money.h"
#include "outbox.h"
#include "pgarray.h"
#include "util.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_INSERT[] =
    "WITH m AS (INSERT INTO messages (id, source_event_id, account_id, channel, type, ref_id,"
    " address, language, vars, status, due_at, ack_token, last_error, caused_by)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    " ON CONFLICT (source_event_id, account_id, channel) DO NOTHING"
    " RETURNING id, channel, due_at, not_before, status),"
    " q AS (" NTF_SQL_QUEUE("m") ") SELECT id FROM m";
/* The messages of a consumer batch's simple events (one per event, no
 * acknowledgement token) in one statement; returns the rows it created. */
static const char SQL_INSERT_MANY[] =
    "WITH m AS (INSERT INTO messages (id, source_event_id, account_id, channel, type, ref_id,"
    " address, language, vars, status, due_at, last_error, caused_by)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[],"
    " $12::text[], $13::text[])"
    " ON CONFLICT (source_event_id, account_id, channel) DO NOTHING"
    " RETURNING id, channel, due_at, not_before, status),"
    " q AS (" NTF_SQL_QUEUE("m") ") SELECT id, status FROM m";
static const char SQL_ACK[] =
    "INSERT INTO acks (token, notification_id, source_event_id, account_id, message_type,"
    " ref_id, caused_by) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

void ntf_messages_opts_from_env(ntf_messages_opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->company_name = bw_env_str("BILLOW_COMPANY_NAME", "Billow");
    o->support_email = bw_env_str("BILLOW_SUPPORT_EMAIL", "");
    o->support_phone = bw_env_str("BILLOW_SUPPORT_PHONE", "");
    o->portal_url = bw_env_str("BILLOW_PORTAL_URL", "");
}

/* What one event asks for. */
typedef struct {
    const Billow__StreamEvent *se;
    const char *source_id; /* se->event_id, or a derived id for reminders */
    const char *type;
    const char *account_id;
    const char *ref_id;
    const char *language;  /* the event's, used when there is no contact */
    const char *name;      /* the event's account name, when it has one */
    const char *email, *phone, *webhook_url; /* the event's addresses (fallback) */
    const char *ack_token; /* NULL: no acknowledgement */
    const char *channel;   /* NULL: the first channel with an address; else only this one */
    const char *status;    /* "pending" or "scheduled"; create() leaves the one it chose */
    int64_t due_us;
    json_object *vars;     /* taken */
} want_t;

static void put_s(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static void put_money(json_object *o, const char *k, int64_t minor, const char *cur)
{
    char buf[40];
    if (bw_money_format(minor, cur, buf, sizeof buf) < 0)
        snprintf(buf, sizeof buf, "%lld", (long long)minor);
    put_s(o, k, buf);
}

static void put_i(json_object *o, const char *k, long long v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", v);
    put_s(o, k, buf);
}

static const char *portal_link(bw_arena_t *a, const ntf_messages_opts_t *o, const char *path,
                        const char *id)
{
    if (!o->portal_url || !*o->portal_url || !id || !*id)
        return "";
    return bw_arena_printf(a, "%s/%s/%s", o->portal_url, path, id);
}

static int emit_failed(bw_db_t *db, const char *id, const want_t *w, const char *reason)
{
    char now[40];
    bw_time_format(bw_now_us(), now, sizeof now);
    Billow__NotificationFailed f = BILLOW__NOTIFICATION_FAILED__INIT;
    f.notification_id = (char *)id;
    f.source_event_id = (char *)w->source_id;
    f.message_type = (char *)w->type;
    f.account_id = (char *)w->account_id;
    f.reason = (char *)reason;
    f.failed_at = now;
    f.ref_id = (char *)(w->ref_id ? w->ref_id : "");
    Billow__Event ev = BILLOW__EVENT__INIT;
    ev.body_case = BILLOW__EVENT__BODY_NOTIFICATION_FAILED;
    ev.notification_failed = &f;
    return bw_outbox_emit(db, &ev, w->account_id, w->se->event_id);
}

/* Where and how w goes, given the account's contact c. */
typedef struct {
    const char *status, *channel, *address, *err, *language;
    bool none; /* w names a channel the contact has no address for: no message */
} choice_t;

/* Picks the channel and address of w from contact c (the event's own
 * details stand in when there is none) and adds the variables every
 * message has. */
static choice_t choose(const ntf_messages_opts_t *o, want_t *w, ntf_contact_t *c)
{
    if (!c->found) {
        /* No AccountChanged seen (yet): the event's own details stand in. */
        c->name = w->name ? w->name : "";
        c->email = w->email ? w->email : "";
        c->phone = w->phone ? w->phone : "";
        c->webhook_url = w->webhook_url ? w->webhook_url : "";
        if (w->language && *w->language)
            c->language = w->language;
    }
    put_s(w->vars, "company_name", o->company_name);
    put_s(w->vars, "customer_name", *c->name ? c->name : (w->name ? w->name : w->account_id));
    put_s(w->vars, "account_id", w->account_id);
    put_s(w->vars, "support_email", o->support_email);
    put_s(w->vars, "support_phone", o->support_phone);
    put_s(w->vars, "portal_url", o->portal_url);

    choice_t ch = {.status = w->status, .address = "", .err = "", .language = c->language};
    if (ntf_contact_opted_out(c, w->type)) {
        ch.status = "skipped";
        ch.err = "opted out";
    } else if (w->channel) {
        /* A notice sent on every channel: this one, or nothing. */
        ch.address = ntf_contact_address(c, w->channel);
        if (!*ch.address)
            ch.none = true;
        ch.channel = w->channel;
    } else {
        for (size_t i = 0; i < c->n_channels && !ch.channel; i++) {
            const char *a = ntf_contact_address(c, c->channels[i]);
            if (*a) {
                ch.channel = c->channels[i];
                ch.address = a;
            }
        }
        if (!ch.channel) {
            ch.status = "dead";
            ch.err = "no address on any channel";
        }
    }
    if (!ch.channel)
        ch.channel = c->n_channels ? c->channels[0] : "email";
    return ch;
}

/* Inserts the message w asks for. *created is set when a row was inserted
 * (not a replay); id receives its id. */
static int create(bw_db_t *db, const ntf_messages_opts_t *o, want_t *w, bw_arena_t *arena,
                  char id[37], bool *created)
{
    *created = false;
    int rc = 0;
    ntf_contact_t c;
    if (ntf_contact_load(db, w->account_id, &c, arena) < 0) {
        bw_log(BW_WARN, "could not read contact", "account", BW_S(w->account_id), "pg_error",
               BW_S(bw_db_error(db)), NULL);
        rc = BW_EDB;
        goto out;
    }
    choice_t ch = choose(o, w, &c);
    if (ch.none)
        goto out;
    const char *status = ch.status, *channel = ch.channel, *err = ch.err;
    char due[40];
    bw_time_format(w->due_us, due, sizeof due);
    bw_uuid(id);
    const char *vars = json_object_to_json_string_ext(w->vars, JSON_C_TO_STRING_PLAIN);
    const char *p[14] = {id,      w->source_id, w->account_id, channel,
                         w->type, w->ref_id ? w->ref_id : "", ch.address, ch.language,
                         vars,    status,       due,           w->ack_token,
                         err,     w->se->event_id};
    PGresult *res = bw_db_query(db, SQL_INSERT, 14, p);
    if (!res) {
        bw_log(BW_WARN, "could not insert message", "account", BW_S(w->account_id), "pg_error",
               BW_S(bw_db_error(db)), NULL);
        rc = BW_EDB;
        goto out;
    }
    *created = PQntuples(res) == 1;
    PQclear(res);
    w->status = status;
    w->channel = channel;
    if (*created && strcmp(status, "dead") == 0) {
        bw_log(BW_WARN, "notification has no channel", "account", BW_S(w->account_id), "type",
               BW_S(w->type), NULL);
        rc = emit_failed(db, id, w, err);
    }
out:
    json_object_put(w->vars);
    w->vars = NULL;
    return rc;
}

static want_t want_for(const Billow__StreamEvent *se, const char *type, const char *account,
                       const char *ref, const char *lang)
{
    want_t w = {.se = se,
                .source_id = se->event_id,
                .type = type,
                .account_id = account,
                .ref_id = ref,
                .language = lang,
                .status = "pending",
                .due_us = bw_now_us(),
                .vars = json_object_new_object()};
    return w;
}

/* One consumer batch: the options, the account changes not yet applied
 * and the messages of simple events not yet inserted (wants, each owning
 * its vars). Messages go in together, with one contact lookup and one
 * INSERT for all (flush_wants): one of each per message had been most of
 * a batch's time. They are resolved against the contacts as they stand
 * before the batch's next account changes, as one by one. */
typedef struct {
    const ntf_messages_opts_t *o;
    ntf_contacts_batch_t contacts;
    want_t *wants;
    size_t n_wants, cap_wants;
    bool made; /* messages were created: delivery has work */
} batch_t;

/* Queues w (a message of its own event's, no acknowledgement) for the next
 * flush_wants; takes w->vars. 0 or BW_ENOMEM. */
static int simple(batch_t *bt, want_t *w)
{
    if (bt->n_wants == bt->cap_wants) {
        size_t cap = bt->cap_wants ? bt->cap_wants * 2 : 64;
        want_t *nw = realloc(bt->wants, cap * sizeof *nw);
        if (!nw) {
            json_object_put(w->vars);
            return BW_ENOMEM;
        }
        bt->wants = nw;
        bt->cap_wants = cap;
    }
    bt->wants[bt->n_wants++] = *w;
    w->vars = NULL;
    return 0;
}

static void wants_clear(batch_t *bt)
{
    for (size_t i = 0; i < bt->n_wants; i++)
        json_object_put(bt->wants[i].vars);
    bt->n_wants = 0;
}

/* Inserts the queued messages with one statement (ON CONFLICT DO NOTHING:
 * replays create nothing) and reports those created dead (no address). */
static int flush_wants(bw_db_t *db, batch_t *bt, bw_arena_t *arena)
{
    size_t n = bt->n_wants;
    if (n == 0)
        return 0;
    enum { ID, SRC, ACCT, CHAN, TYPE, REF, ADDR, LANG, VARS, STATUS, DUE, ERR, CAUSE, NCOL };
    bw_pgarr_t col[NCOL];
    for (int k = 0; k < NCOL; k++)
        bw_pgarr_init(&col[k]);
    const char **accounts = bw_arena_alloc(arena, n * sizeof *accounts);
    ntf_contact_t *contacts = bw_arena_alloc(arena, n * sizeof *contacts);
    char(*ids)[37] = bw_arena_alloc(arena, n * sizeof *ids);
    const char **errs = bw_arena_alloc(arena, n * sizeof *errs);
    PGresult *res = NULL;
    int rc = BW_ENOMEM;
    if (!accounts || !contacts || !ids || !errs)
        goto out;
    for (size_t i = 0; i < n; i++)
        accounts[i] = bt->wants[i].account_id;
    if ((rc = ntf_contacts_load_many(db, accounts, n, contacts, arena)) < 0) {
        bw_log(BW_WARN, "could not read contacts", "accounts", BW_I((long long)n), "pg_error",
               BW_S(bw_db_error(db)), NULL);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        want_t *w = &bt->wants[i];
        choice_t ch = choose(bt->o, w, &contacts[i]);
        ids[i][0] = '\0';
        errs[i] = ch.err;
        if (ch.none)
            continue;
        char due[40];
        bw_time_format(w->due_us, due, sizeof due);
        bw_uuid(ids[i]);
        const char *v[NCOL] = {ids[i], w->source_id, w->account_id, ch.channel, w->type,
                               w->ref_id ? w->ref_id : "", ch.address, ch.language,
                               json_object_to_json_string_ext(w->vars, JSON_C_TO_STRING_PLAIN),
                               ch.status, due, ch.err, w->se->event_id};
        for (int k = 0; k < NCOL; k++)
            bw_pgarr_add(&col[k], v[k]);
    }
    const char *p[NCOL];
    rc = BW_ENOMEM;
    for (int k = 0; k < NCOL; k++)
        if (col[k].failed || !(p[k] = bw_pgarr_str(&col[k])))
            goto out;
    if (!(res = bw_db_query(db, SQL_INSERT_MANY, NCOL, p))) {
        bw_log(BW_WARN, "could not insert messages", "messages", BW_I((long long)n), "pg_error",
               BW_S(bw_db_error(db)), NULL);
        rc = BW_EDB;
        goto out;
    }
    rc = 0;
    bt->made = bt->made || PQntuples(res) > 0;
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        if (strcmp(PQgetvalue(res, r, 1), "dead") != 0)
            continue;
        const char *id = PQgetvalue(res, r, 0);
        for (size_t i = 0; i < n; i++)
            if (strcmp(ids[i], id) == 0) {
                bw_log(BW_WARN, "notification has no channel", "account",
                       BW_S(bt->wants[i].account_id), "type", BW_S(bt->wants[i].type), NULL);
                rc = emit_failed(db, id, &bt->wants[i], errs[i]);
                break;
            }
    }
out:
    PQclear(res);
    for (int k = 0; k < NCOL; k++)
        bw_pgarr_free(&col[k]);
    wants_clear(bt);
    return rc;
}

static int on_invoice(batch_t *bt, const Billow__StreamEvent *se, const Billow__InvoiceIssued *e,
                      bw_arena_t *arena)
{
    const ntf_messages_opts_t *o = bt->o;
    want_t w = want_for(se, "invoice_issued", e->account_id, e->invoice_number, e->language);
    w.name = e->account_name;
    w.email = e->email;
    w.phone = e->phone;
    w.webhook_url = e->webhook_url;
    json_object *v = w.vars;
    put_s(v, "invoice_number", e->invoice_number);
    put_s(v, "issue_date", e->issue_date);
    put_s(v, "due_date", e->due_date);
    put_s(v, "period_start", e->period);
    put_s(v, "period_end", e->period);
    put_s(v, "currency", e->currency);
    put_money(v, "subtotal", e->subtotal_minor, e->currency);
    put_money(v, "tax_total", e->tax_minor, e->currency);
    put_money(v, "total", e->total_minor, e->currency);
    put_money(v, "amount_due", e->total_minor, e->currency);
    put_s(v, "invoice_html", e->html);
    put_s(v, "payment_terms", e->payment_instructions);
    put_s(v, "payment_reference", e->invoice_number);
    put_s(v, "invoice_url", portal_link(arena, o, "invoices", e->invoice_number));
    put_s(v, "pay_url", portal_link(arena, o, "pay", e->invoice_number));
    json_object *lines = json_object_new_array();
    for (size_t i = 0; i < e->n_lines; i++) {
        const Billow__InvoiceLine *l = e->lines[i];
        json_object *x = json_object_new_object();
        put_s(x, "description", *l->description ? l->description : l->fee_item);
        put_s(x, "quantity", l->quantity);
        put_s(x, "unit", "");
        put_s(x, "unit_price", l->unit_price);
        put_money(x, "amount", l->amount_minor, e->currency);
        put_s(x, "tax_rate", l->tax_category);
        put_money(x, "tax_amount", l->tax_minor, e->currency);
        json_object_array_add(lines, x);
    }
    json_object_object_add(v, "lines", lines);
    return simple(bt, &w);
}

/* "12.5" - "10" as a decimal string; "" when either does not parse. */
static void dec_diff(const char *newp, const char *oldp, char *buf, size_t len)
{
    bw_dec_t a, b, d;
    char err[64];
    buf[0] = '\0';
    if (bw_dec_parse(newp, &a, err, sizeof err) == 0 &&
        bw_dec_parse(oldp, &b, err, sizeof err) == 0 && bw_dec_sub(a, b, &d) == 0)
        bw_dec_format(d, buf, len);
}

static json_object *price_vars(const ntf_messages_opts_t *o, const Billow__PriceChangeAnnounced *e,
                               const char *token, bw_arena_t *arena)
{
    json_object *v = json_object_new_object();
    put_s(v, "change_id", e->change_id);
    put_s(v, "plan_name", *e->scope ? e->scope : "your services");
    put_s(v, "effective_date", e->effective_date);
    put_s(v, "transition_period", e->transition);
    put_s(v, "currency", e->currency);
    put_money(v, "total_difference", e->diff_minor, e->currency);
    put_s(v, "feedback_url", portal_link(arena, o, "feedback", e->change_id));
    put_s(v, "ack_url", portal_link(arena, o, "ack", token));
    put_s(v, "ack_token", token);
    json_object *items = json_object_new_array();
    for (size_t i = 0; i < e->n_items; i++) {
        const Billow__PriceItemChange *it = e->items[i];
        json_object *x = json_object_new_object();
        char diff[64];
        dec_diff(it->new_price, it->old_price, diff, sizeof diff);
        put_s(x, "item_name", it->fee_item);
        put_s(x, "unit", it->unit);
        put_s(x, "old_price", it->old_price);
        put_s(x, "new_price", it->new_price);
        put_s(x, "difference", diff);
        put_s(x, "change_percent", "");
        json_object_array_add(items, x);
    }
    json_object_object_add(v, "items", items);
    return v;
}

/* The full variables of a fee-change notice. */
static json_object *notice_vars(const ntf_messages_opts_t *o, const Billow__PriceChangeAnnounced *e,
                                const char *token, const char *today, bw_arena_t *arena)
{
    json_object *v = price_vars(o, e, token, arena);
    put_s(v, "reason", e->reason);
    put_s(v, "notice_date", today);
    put_s(v, "transition_end_date", "");
    put_s(v, "scope", e->scope);
    put_s(v, "exceptions", "");
    put_s(v, "value_statement", e->value);
    put_money(v, "old_total", e->old_amount_minor, e->currency);
    put_money(v, "new_total", e->new_amount_minor, e->currency);
    put_s(v, "feedback_email", o->support_email);
    put_s(v, "feedback_deadline", e->effective_date);
    return v;
}

static int on_price_change(bw_db_t *db, const ntf_messages_opts_t *o,
                           const Billow__StreamEvent *se, const Billow__PriceChangeAnnounced *e,
                           bw_arena_t *arena, bool *made)
{
    char token[65], id[37], today[16];
    bw_random_hex(token, 32);
    int64_t now = bw_now_us();
    bw_date_format(now / 86400000000LL, today, sizeof today);
    want_t w = want_for(se, "price_change_notice", e->account_id, e->change_id, e->language);
    w.ack_token = token;
    json_object_put(w.vars); /* want_for made an empty one */
    w.vars = notice_vars(o, e, token, today, arena);
    bool created;
    int rc = create(db, o, &w, arena, id, &created);
    if (rc < 0 || !created)
        return rc; /* a replay: the token, ack row and reminders exist already */
    *made = true;
    const char *p[7] = {token, id, se->event_id, e->account_id, "price_change_notice",
                        e->change_id, se->event_id};
    if (bw_db_exec(db, SQL_ACK, 7, p) < 0)
        return BW_EDB;
    /* A fee change is told on every channel the customer has, not just the
     * first: the same token, so one confirmation covers them all. */
    ntf_contact_t c;
    if (strcmp(w.status, "pending") == 0 && ntf_contact_load(db, e->account_id, &c, arena) == 0) {
        for (size_t i = 0; i < c.n_channels; i++) {
            if (strcmp(c.channels[i], w.channel) == 0)
                continue;
            want_t x = want_for(se, "price_change_notice", e->account_id, e->change_id, e->language);
            x.ack_token = token;
            x.channel = c.channels[i];
            json_object_put(x.vars);
            x.vars = notice_vars(o, e, token, today, arena);
            char xid[37];
            bool xc;
            rc = create(db, o, &x, arena, xid, &xc);
            if (rc < 0)
                return rc;
        }
    }
    if (strcmp(w.status, "pending") != 0)
        return 0; /* dead-lettered (no address): no reminders to an address we lack */
    int64_t eff;
    if (bw_date_parse(e->effective_date, &eff) < 0) {
        bw_log(BW_WARN, "price change without a valid effective date", "change",
               BW_S(e->change_id), NULL);
        return 0;
    }
    /* Reminders: scheduled rows due `days` before the effective date; those
     * already past are not sent (the notice itself just went out). */
    for (size_t i = 0; i < e->n_reminder_days; i++) {
        int days = e->reminder_days[i];
        int64_t due = (eff - days) * 86400000000LL;
        if (days <= 0 || due <= now)
            continue;
        want_t r = want_for(se, "price_change_reminder", e->account_id, e->change_id, e->language);
        r.source_id = bw_arena_printf(arena, "%s:reminder:%d", se->event_id, days);
        r.ack_token = token;
        r.status = "scheduled";
        r.due_us = due;
        json_object_put(r.vars);
        r.vars = price_vars(o, e, token, arena);
        put_i(r.vars, "days_until_effective", days);
        put_s(r.vars, "acknowledged", "");
        char rid[37];
        bool rc_created;
        rc = create(db, o, &r, arena, rid, &rc_created);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int on_event(void *arg, bw_db_t *db, const Billow__StreamEvent *se, const Billow__Event *ev,
                    bw_arena_t *arena)
{
    batch_t *bt = arg;
    const ntf_messages_opts_t *o = bt->o;
    bool made = false;
    if (ev->body_case == BILLOW__EVENT__BODY_ACCOUNT_CHANGED)
        return ntf_contacts_add(&bt->contacts, ev->account_changed, se->event_id);
    /* Messages read contacts: the changes before this event go in first,
     * after the messages queued before them. */
    int rc = 0;
    if (bt->contacts.rows) {
        rc = flush_wants(db, bt, arena);
        if (rc == 0)
            rc = ntf_contacts_flush(db, &bt->contacts);
        if (rc < 0)
            return rc;
    }
    switch (ev->body_case) {
    case BILLOW__EVENT__BODY_INVOICE_ISSUED:
        rc = on_invoice(bt, se, ev->invoice_issued, arena);
        break;
    case BILLOW__EVENT__BODY_PAYMENT_RECEIVED: {
        const Billow__PaymentReceived *e = ev->payment_received;
        want_t w = want_for(se, "payment_received", e->account_id, e->invoice_number, e->language);
        put_s(w.vars, "payment_id", e->receipt_number && *e->receipt_number ? e->receipt_number
                                                                            : e->payment_id);
        put_s(w.vars, "invoice_number", e->invoice_number);
        put_s(w.vars, "payment_date", e->received_at);
        put_s(w.vars, "payment_method", e->method);
        put_s(w.vars, "currency", e->currency);
        put_money(w.vars, "amount_paid", e->amount_minor, e->currency);
        put_s(w.vars, "invoice_url", portal_link(arena, o, "invoices", e->invoice_number));
        rc = simple(bt, &w);
        break;
    }
    case BILLOW__EVENT__BODY_PAYMENT_REMINDER_DUE: {
        const Billow__PaymentReminderDue *e = ev->payment_reminder_due;
        want_t w = want_for(se, "payment_reminder", e->account_id, e->invoice_number, e->language);
        put_s(w.vars, "invoice_number", e->invoice_number);
        put_s(w.vars, "due_date", e->due_date);
        put_i(w.vars, "days_until_due", -(long long)e->step_days);
        put_s(w.vars, "currency", e->currency);
        put_money(w.vars, "amount_due", e->amount_due_minor, e->currency);
        put_s(w.vars, "invoice_url", portal_link(arena, o, "invoices", e->invoice_number));
        put_s(w.vars, "pay_url", portal_link(arena, o, "pay", e->invoice_number));
        put_s(w.vars, "payment_reference", e->invoice_number);
        rc = simple(bt, &w);
        break;
    }
    case BILLOW__EVENT__BODY_INVOICE_OVERDUE: {
        const Billow__InvoiceOverdue *e = ev->invoice_overdue;
        want_t w = want_for(se, "invoice_overdue", e->account_id, e->invoice_number, e->language);
        put_s(w.vars, "invoice_number", e->invoice_number);
        put_s(w.vars, "due_date", e->due_date);
        put_i(w.vars, "days_overdue", e->days_overdue);
        put_s(w.vars, "currency", e->currency);
        put_money(w.vars, "amount_due", e->amount_due_minor, e->currency);
        put_s(w.vars, "invoice_url", portal_link(arena, o, "invoices", e->invoice_number));
        put_s(w.vars, "pay_url", portal_link(arena, o, "pay", e->invoice_number));
        put_s(w.vars, "payment_reference", e->invoice_number);
        rc = simple(bt, &w);
        break;
    }
    case BILLOW__EVENT__BODY_CREDIT_NOTE_ISSUED: {
        const Billow__CreditNoteIssued *e = ev->credit_note_issued;
        want_t w = want_for(se, "credit_note_issued", e->account_id, e->credit_note_number,
                            e->language);
        put_s(w.vars, "credit_note_number", e->credit_note_number);
        put_s(w.vars, "invoice_number", e->invoice_number);
        put_s(w.vars, "issue_date", e->issued_at);
        put_s(w.vars, "currency", e->currency);
        put_money(w.vars, "amount", e->amount_minor, e->currency);
        put_s(w.vars, "reason", e->reason);
        rc = simple(bt, &w);
        break;
    }
    case BILLOW__EVENT__BODY_PRICE_CHANGE_ANNOUNCED:
        rc = on_price_change(db, o, se, ev->price_change_announced, arena, &made);
        break;
    case BILLOW__EVENT__BODY_REPLY_REQUESTED: {
        const Billow__ReplyRequested *e = ev->reply_requested;
        bool survey = strcmp(e->kind, "survey") == 0;
        want_t w = want_for(se, survey ? "satisfaction_survey" : "feedback_reply", e->account_id,
                            e->ticket_id, e->language);
        put_s(w.vars, "ticket_id", e->ticket_id);
        if (survey) {
            put_s(w.vars, "survey_url", portal_link(arena, o, "survey", e->ticket_id));
        } else {
            put_s(w.vars, "reply_text", e->text);
            put_s(w.vars, "ticket_url", portal_link(arena, o, "tickets", e->ticket_id));
        }
        rc = simple(bt, &w);
        break;
    }
    default:
        return 0;
    }
    if (made && o->kick)
        o->kick(o->kick_arg);
    return rc;
}

int ntf_messages_apply(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                       bw_arena_t *arena)
{
    batch_t bt = {.o = arg};
    int rc = bw_events_apply(db, evs, n, arena, on_event, &bt);
    if (rc == 0)
        rc = flush_wants(db, &bt, arena);
    if (rc == 0)
        rc = ntf_contacts_flush(db, &bt.contacts);
    if (rc == 0 && bt.made && bt.o->kick)
        bt.o->kick(bt.o->kick_arg);
    wants_clear(&bt);
    free(bt.wants);
    ntf_contacts_batch_clear(&bt.contacts);
    return rc;
}
