/* The delivery engine (see delivery.h). Shape: an ev_prepare watcher runs
 * once per loop iteration, after every callback of that iteration: it first
 * writes the outcomes that arrived (flush: one transaction), then claims
 * due rows for each channel that has room (one UPDATE ... SKIP LOCKED per
 * channel, committed before anything is sent, so a crash leaves them
 * "sending" and recovery resends them). An ev_timer polls for rows that
 * become due by time (retries, scheduled reminders).
 *
 * Cost: each notification is a claim (its due-queue entry deleted, its
 * messages row updated in place) on the loop's connection and an outcome
 * (the row updated in place again, one attempt row, one outbox row) on the
 * recorder's, in batches of up to BILLOW_NOTIFY_BATCH rows per statement.
 * Updates stay in place (HOT) because no index of messages covers a column
 * they change (migration 002) and each page keeps room for both new
 * versions of its rows (migration 003). CPU bounds the rate, about equally
 * this process (rendering, the JSON line, fdatasync) and PostgreSQL; see
 * bench/notify_bench.c for the figures. */
#include "notification/delivery.h"
#include "notification/contacts.h"
#include "notification/messages.h"

#include "arena.h"
#include "clock.h"
#include "config.h"
#include "copybuf.h"
#include "db.h"
#include "errors.h"
#include "events.pb-c.h"
#include "log.h"
#include "outbox.h"
#include "pgarray.h"
#include "util.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ntf_channel_names[NTF_CH_COUNT] = {"email", "sms", "webhook"};

static const char SQL_RECOVER[] =
    "WITH s AS (UPDATE messages SET status = 'retry', not_before = now(), updated_at = now()"
    " WHERE status = 'sending'"
    " RETURNING id, attempts, channel, address, due_at, not_before, status),"
    " q AS (" NTF_SQL_QUEUE("s") ")"
    " INSERT INTO attempts (message_id, attempt, channel, notifier, address, status, answer,"
    " started_at, caused_by) SELECT id, attempts, channel, '', address, 'interrupted',"
    " 'the service stopped before the outcome was known; sent again with the same key',"
    " now(), 'recovery' FROM s";

/* After a claim whose commit may or may not have happened (the connection
 * went away meanwhile): rows in "sending" that this process does not hold
 * ($1) are recovered as at start. */
static const char SQL_ORPHANS[] =
    "WITH s AS (UPDATE messages SET status = 'retry', not_before = now(), updated_at = now()"
    " WHERE status = 'sending' AND NOT (id = ANY ($1::text[]))"
    " RETURNING id, attempts, channel, address, due_at, not_before, status),"
    " q AS (" NTF_SQL_QUEUE("s") ")"
    " INSERT INTO attempts (message_id, attempt, channel, notifier, address, status, answer,"
    " started_at, caused_by) SELECT id, attempts, channel, '', address, 'interrupted',"
    " 'the claim may not have been committed; sent again with the same key',"
    " now(), 'recovery' FROM s";

/* A claim takes due entries off the queue and moves their messages to
 * "sending"; entries whose message is no longer due (cancelled) just go.
 * Both steps address rows directly (ctid, then primary key through
 * id = ANY(array)): joined to a subquery instead, the planner chose a hash
 * join over a sequential scan of all of messages for every claim. */
static const char SQL_CLAIM[] =
    "WITH q AS (DELETE FROM message_queue WHERE ctid = ANY (ARRAY(SELECT ctid FROM message_queue"
    " WHERE channel = $1 AND due_at <= $2 AND not_before <= now() ORDER BY due_at"
    " LIMIT $3::int FOR UPDATE SKIP LOCKED)) RETURNING message_id)"
    " UPDATE messages m SET status = 'sending', attempts = m.attempts + 1, updated_at = now()"
    " WHERE m.id = ANY (ARRAY(SELECT message_id FROM q))"
    " AND m.status IN ('scheduled', 'pending', 'retry')"
    " RETURNING m.id, m.source_event_id, m.account_id, m.type, m.ref_id, m.address,"
    " m.language, m.vars, m.attempts";

/* A claim may be lost in a crash without breaking a promise: it publishes
 * nothing, a lost claim only means the message is sent again with the same
 * idempotency key, and since the WAL is written in order, the (synchronous)
 * commit of its outcome makes the claim durable first. So claims do not
 * wait for the WAL flush. Outcome transactions do: they publish events, and
 * an event a consumer has read must never be lost (see flush). */
static const char SQL_ASYNC[] = "SET LOCAL synchronous_commit = off";

/* The claim reads the queue along its index, in due order, and stops at
 * the batch size. A queue filled just before (a month end's invoices) is
 * not analysed yet; the planner then expected a few dozen rows and read
 * every due entry, sorted them on disk and kept the first batch: each
 * claim cost time in proportion to the whole queue. Sorting is therefore
 * ruled out for the claim. */
static const char SQL_NO_SORT[] = "SET LOCAL enable_sort = off";

/* Outcomes are written by primary key. The statistics never see rows in
 * "sending" (they are there for milliseconds), so the planner expected one
 * row and chose a sequential scan of messages nested with the id list:
 * quadratic in the batch and linear in the table. Outcome transactions
 * therefore rule sequential scans out. */
static const char SQL_NO_SEQSCAN[] = "SET LOCAL enable_seqscan = off";

static const char SQL_ATTEMPTS_COPY[] =
    "COPY attempts (message_id, attempt, channel, notifier, address, status, code, answer,"
    " provider_id, started_at, caused_by) FROM STDIN";

/* Outcome updates return the position (x.n) of each row they moved out of
 * "sending": only those rows get an attempt and an event. A batch written
 * again because its commit's answer was lost (it may have committed) thus
 * writes nothing twice. */
static const char SQL_DELIVERED[] =
    "UPDATE messages m SET status = 'delivered', delivered_at = now(), provider_id = x.pid,"
    " last_error = '', updated_at = now()"
    " FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(id, pid, n)"
    " WHERE m.id = x.id AND m.status = 'sending' RETURNING x.n";

static const char SQL_RETRY[] =
    "WITH r AS (UPDATE messages m SET status = 'retry', last_error = x.err, updated_at = now(),"
    " not_before = now() + x.ms * interval '1 millisecond'"
    " FROM unnest($1::text[], $2::int[], $3::text[]) WITH ORDINALITY AS x(id, ms, err, n)"
    " WHERE m.id = x.id AND m.status = 'sending'"
    " RETURNING m.id, m.channel, m.due_at, m.not_before, m.status, x.n),"
    " q AS (" NTF_SQL_QUEUE("r") ") SELECT n FROM r";

static const char SQL_TRIED[] =
    "SELECT channel FROM messages WHERE source_event_id = $1 AND account_id = $2";
static const char SQL_FALLBACK[] =
    "WITH f AS (INSERT INTO messages (id, source_event_id, account_id, channel, type, ref_id,"
    " address, language, vars, status, due_at, ack_token, caused_by)"
    " SELECT $2, source_event_id, account_id, $3, type, ref_id, $4, language, vars, 'pending',"
    " due_at, ack_token, 'fallback:' || id FROM messages WHERE id = $1"
    " ON CONFLICT (source_event_id, account_id, channel) DO NOTHING"
    " RETURNING id, channel, due_at, not_before, status)"
    " " NTF_SQL_QUEUE("f");
static const char SQL_FINAL[] =
    "UPDATE messages SET status = $2, last_error = $3, updated_at = now()"
    " WHERE id = $1 AND status = 'sending'";

typedef struct job {
    struct ntf_delivery *d;
    int ch;
    char id[40];
    char *source_event_id, *account_id, *type, *ref_id, *address;
    int attempt;
    int64_t started_us;
    uint64_t request;
    bool waiting; /* in the notifier */
    bool dead;    /* record: the final failure dead-lettered it */
    bool matched; /* record: its row was still "sending" and has moved on */
    ntf_status_t status;
    int code;
    char *answer, *provider_id;
    struct job *prev, *next;
} job_t;

typedef struct {
    ntf_instance_t *inst;
    const char *notifier;
    int limit, inflight;
    bool more; /* the last claim was full: more may be waiting */
} channel_t;

struct ntf_delivery {
    struct ev_loop *loop;
    bw_db_t *db;  /* claims: the service's connection, used on the loop */
    bw_db_t *rdb; /* outcomes: the recorder thread's own connection */
    const ntf_templates_t *tpl;
    ntf_delivery_opts_t o;
    channel_t ch[NTF_CH_COUNT];
    ev_prepare prepare;
    ev_timer tick;
    ev_timer linger; /* writes a partial batch of outcomes a little later */
    bool need_claim, flush_due, freed;
    bool orphans; /* a claim's commit may have happened unseen: see SQL_ORPHANS */
    size_t ndone;
    job_t *inflight, *done_head, *done_tail;
    ntf_delivery_stats_t st;

    /* The recorder: a thread that writes batches of outcomes on rdb while
     * the loop goes on claiming and sending on db, so that PostgreSQL
     * works on both at once and the loop never waits for an outcome's
     * commit. It holds at most one batch; outcomes that finish meanwhile
     * wait in done_head and go together next time. Under mu: rec_todo (a
     * batch handed over), rec_back and rec_rc (a batch handed back),
     * rec_stop. The loop alone touches the rest. */
    pthread_t rec;
    bool rec_started, recording;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    job_t *rec_todo, *rec_back;
    job_t *rec_batch; /* loop: the batch the recorder holds (its ids stay readable) */
    int rec_rc;
    bool rec_stop;
    size_t nrecording;
    ev_async rec_async;
    bw_arena_t *arena; /* the recorder's scratch */
    unsigned seed;     /* the recorder's jitter */
};

static int env_int(const char *name, int def, int min, int max, int *out)
{
    long long v;
    if (bw_env_int(name, def, min, max, &v) < 0)
        return BW_EINVAL;
    *out = (int)v;
    return 0;
}

int ntf_delivery_opts_from_env(ntf_delivery_opts_t *o)
{
    memset(o, 0, sizeof *o);
    static const char *const notif_env[] = {"BILLOW_CHANNEL_EMAIL", "BILLOW_CHANNEL_SMS",
                                            "BILLOW_CHANNEL_WEBHOOK"};
    static const char *const conc_env[] = {"BILLOW_NOTIFY_CONCURRENCY_EMAIL",
                                           "BILLOW_NOTIFY_CONCURRENCY_SMS",
                                           "BILLOW_NOTIFY_CONCURRENCY_WEBHOOK"};
    for (int i = 0; i < NTF_CH_COUNT; i++) {
        o->notifier[i] = bw_env_str(notif_env[i], "file");
        if (env_int(conc_env[i], 64, 1, 10000, &o->concurrency[i]) < 0)
            return BW_EINVAL;
    }
    if (env_int("BILLOW_NOTIFY_MAX_ATTEMPTS", 5, 1, 100, &o->max_attempts) < 0 ||
        env_int("BILLOW_NOTIFY_BACKOFF_MS", 2000, 1, 86400000, &o->backoff_ms) < 0 ||
        env_int("BILLOW_NOTIFY_BACKOFF_MAX_MS", 600000, 1, 86400000, &o->backoff_max_ms) < 0 ||
        env_int("BILLOW_NOTIFY_POLL_MS", 250, 10, 60000, &o->poll_ms) < 0 ||
        env_int("BILLOW_NOTIFY_BATCH", 500, 1, 10000, &o->batch) < 0 ||
        env_int("BILLOW_NOTIFY_SMS_SEGMENTS", 4, 1, 20, &o->sms_segments) < 0)
        return BW_EINVAL;
    return 0;
}

static void job_free(job_t *j)
{
    if (!j)
        return;
    free(j->source_event_id);
    free(j->account_id);
    free(j->type);
    free(j->ref_id);
    free(j->address);
    free(j->answer);
    free(j->provider_id);
    free(j);
}

static void inflight_unlink(ntf_delivery_t *d, job_t *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        d->inflight = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
}

/* Queues j's outcome for the next flush (j leaves the in-flight list). */
static void finish(ntf_delivery_t *d, job_t *j, ntf_status_t st, int code, const char *answer,
                   const char *provider_id)
{
    if (j->waiting) {
        inflight_unlink(d, j);
        j->waiting = false;
    }
    d->ch[j->ch].inflight--;
    j->status = st;
    j->code = code;
    j->answer = strdup(answer ? answer : "");
    j->provider_id = strdup(provider_id ? provider_id : "");
    j->next = NULL;
    if (d->done_tail)
        d->done_tail->next = j;
    else
        d->done_head = j;
    d->done_tail = j;
    d->freed = true;
    if (d->ndone++ == 0)
        ev_timer_start(d->loop, &d->linger);
}

static void done_cb(void *arg, const ntf_result_t *res)
{
    job_t *j = arg;
    finish(j->d, j, res->status, res->code, res->message, res->provider_id);
}

/* The webhook body: the type, ids and the template variables, without the
 * pre-rendered documents (receivers fetch those by number). */
static char *webhook_payload(const job_t *j, json_object *vars)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "type", json_object_new_string(j->type));
    json_object_object_add(o, "account_id", json_object_new_string(j->account_id));
    json_object_object_add(o, "ref_id", json_object_new_string(j->ref_id));
    json_object_object_add(o, "source_event_id", json_object_new_string(j->source_event_id));
    json_object *v = json_object_new_object();
    json_object_object_foreach(vars, key, val)
    {
        size_t n = strlen(key);
        if (n > 5 && strcmp(key + n - 5, "_html") == 0)
            continue;
        json_object_object_add(v, key, json_object_get(val));
    }
    json_object_object_add(o, "data", v);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char *out = s ? strdup(s) : NULL;
    json_object_put(o);
    return out;
}

/* Renders and hands j to its channel's notifier; on a failure that happens
 * here the outcome is queued at once. */
static void send_job(ntf_delivery_t *d, job_t *j, const char *lang, const char *vars_text)
{
    channel_t *ch = &d->ch[j->ch];
    const char *chname = ntf_channel_names[j->ch];
    ch->inflight++;
    d->st.sent++;
    json_object *vars = json_tokener_parse(vars_text);
    if (!vars || !json_object_is_type(vars, json_type_object)) {
        json_object_put(vars);
        finish(d, j, NTF_PERMFAIL, 0, "stored variables do not parse", NULL);
        return;
    }
    ntf_rendered_t r;
    memset(&r, 0, sizeof r);
    /* Webhooks carry the e-mail wording as their text next to the data. */
    const char *tchan = j->ch == NTF_CH_WEBHOOK ? "email" : chname;
    if (ntf_templates_render(d->tpl, j->type, tchan, lang, vars, &r) < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "no template for %s/%s/%s", j->type, tchan, lang);
        ntf_rendered_clear(&r);
        json_object_put(vars);
        finish(d, j, NTF_PERMFAIL, 0, msg, NULL);
        return;
    }
    char *payload = NULL;
    ntf_attachment_t att = {0};
    ntf_message_t m = {.id = j->id,
                       .idempotency_key = j->id,
                       .type = j->type,
                       .channel = chname,
                       .address = j->address,
                       .subject = r.subject,
                       .text = r.text ? r.text : ""};
    char fname[128];
    if (j->ch == NTF_CH_EMAIL) {
        m.html = r.html;
        /* The invoice itself also travels as a file the customer can keep. */
        json_object *h = NULL;
        if (strcmp(j->type, "invoice_issued") == 0 &&
            json_object_object_get_ex(vars, "invoice_html", &h) &&
            json_object_get_string_len(h) > 0) {
            snprintf(fname, sizeof fname, "%s.html", j->ref_id);
            att.filename = fname;
            att.content_type = "text/html; charset=utf-8";
            att.data = json_object_get_string(h);
            att.len = (size_t)json_object_get_string_len(h);
            m.attachments = &att;
            m.n_attachments = 1;
        }
    } else if (j->ch == NTF_CH_SMS) {
        if (r.text)
            ntf_sms_truncate(r.text, (size_t)d->o.sms_segments);
    } else {
        payload = webhook_payload(j, vars);
        m.payload_json = payload;
    }
    j->waiting = true;
    j->next = d->inflight;
    if (d->inflight)
        d->inflight->prev = j;
    d->inflight = j;
    int rc = ntf_instance_send(ch->inst, &m, done_cb, j, &j->request);
    free(payload);
    ntf_rendered_clear(&r);
    json_object_put(vars);
    if (rc < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s notifier refused the message: %s", ch->notifier,
                 bw_strerror(rc));
        finish(d, j, rc == NTF_E_UNAVAIL || rc == NTF_E_NOMEM ? NTF_TEMPFAIL : NTF_PERMFAIL, 0,
               msg, NULL);
    }
}

static char *dup_val(PGresult *res, int row, int col) { return strdup(PQgetvalue(res, row, col)); }

/* Claims and sends due rows of channel c. */
static int claim(ntf_delivery_t *d, int c)
{
    channel_t *ch = &d->ch[c];
    int room = ch->limit - ch->inflight;
    if (room > d->o.batch)
        room = d->o.batch;
    /* Outcomes not yet recorded are bounded too: when the recorder falls
     * behind, sending waits for it (more stays set, so claims resume). */
    if (d->ndone + d->nrecording >= (size_t)d->o.batch * 4)
        return 0;
    if (room <= 0)
        return 0;
    char now[40], lim[16];
    bw_time_format(bw_now_us(), now, sizeof now);
    snprintf(lim, sizeof lim, "%d", room);
    const char *p[3] = {ntf_channel_names[c], now, lim};
    PGresult *res = NULL;
    if (bw_db_begin(d->db) == 0 && bw_db_exec(d->db, SQL_ASYNC, 0, NULL) == 0 &&
        bw_db_exec(d->db, SQL_NO_SORT, 0, NULL) == 0)
        res = bw_db_query(d->db, SQL_CLAIM, 3, p);
    if (res && bw_db_commit(d->db) < 0) {
        /* The COMMIT may have happened unseen (a lost connection). */
        d->orphans = true;
        PQclear(res);
        res = NULL;
    } else if (!res && bw_db_in_tx(d->db)) {
        bw_db_rollback(d->db);
    }
    if (!res) {
        bw_log(BW_WARN, "could not claim notifications", "channel", BW_S(p[0]), "pg_error",
               BW_S(bw_db_error(d->db)), NULL);
        return BW_EDB;
    }
    int n = PQntuples(res);
    ch->more = n == room;
    int64_t started = bw_now_us();
    for (int i = 0; i < n; i++) {
        job_t *j = calloc(1, sizeof *j);
        if (!j)
            break; /* left "sending": recovered at the next start */
        j->d = d;
        j->ch = c;
        snprintf(j->id, sizeof j->id, "%s", PQgetvalue(res, i, 0));
        j->source_event_id = dup_val(res, i, 1);
        j->account_id = dup_val(res, i, 2);
        j->type = dup_val(res, i, 3);
        j->ref_id = dup_val(res, i, 4);
        j->address = dup_val(res, i, 5);
        j->attempt = atoi(PQgetvalue(res, i, 8));
        j->started_us = started;
        if (!j->source_event_id || !j->account_id || !j->type || !j->ref_id || !j->address) {
            job_free(j);
            break;
        }
        send_job(d, j, PQgetvalue(res, i, 6), PQgetvalue(res, i, 7));
    }
    PQclear(res);
    return n;
}

static int64_t backoff_ms(ntf_delivery_t *d, int attempt)
{
    double ms = d->o.backoff_ms;
    for (int i = 1; i < attempt && ms < d->o.backoff_max_ms; i++)
        ms *= 2;
    if (ms > d->o.backoff_max_ms)
        ms = d->o.backoff_max_ms;
    /* Jitter: between half and all of the delay, so that a provider coming
     * back is not hit by every retry at the same instant. */
    return (int64_t)(ms * (0.5 + 0.5 * ((double)rand_r(&d->seed) / RAND_MAX)));
}

/* An outbox event for j (NoticeDelivered or NotificationFailed). */
static int add_event(ntf_delivery_t *d, bw_outbox_event_t *out, const job_t *j, bool delivered,
                     const char *reason)
{
    char now[40];
    bw_time_format(bw_now_us(), now, sizeof now);
    Billow__Event ev = BILLOW__EVENT__INIT;
    Billow__NoticeDelivered nd = BILLOW__NOTICE_DELIVERED__INIT;
    Billow__NotificationFailed nf = BILLOW__NOTIFICATION_FAILED__INIT;
    if (delivered) {
        nd.notification_id = (char *)j->id;
        nd.source_event_id = j->source_event_id;
        nd.message_type = j->type;
        nd.account_id = j->account_id;
        nd.channel = (char *)ntf_channel_names[j->ch];
        nd.delivered_at = now;
        nd.ref_id = j->ref_id;
        ev.body_case = BILLOW__EVENT__BODY_NOTICE_DELIVERED;
        ev.notice_delivered = &nd;
    } else {
        nf.notification_id = (char *)j->id;
        nf.source_event_id = j->source_event_id;
        nf.message_type = j->type;
        nf.account_id = j->account_id;
        nf.reason = (char *)reason;
        nf.failed_at = now;
        nf.ref_id = j->ref_id;
        ev.body_case = BILLOW__EVENT__BODY_NOTIFICATION_FAILED;
        ev.notification_failed = &nf;
    }
    size_t len = billow__event__get_packed_size(&ev);
    uint8_t *buf = bw_arena_alloc(d->arena, len ? len : 1);
    if (!buf)
        return BW_ENOMEM;
    billow__event__pack(&ev, buf);
    memset(out, 0, sizeof *out);
    out->type = delivered ? "NoticeDelivered" : "NotificationFailed";
    out->partition_key = bw_arena_strdup(d->arena, j->account_id);
    out->payload = buf;
    out->len = len;
    out->caused_by = bw_arena_strdup(d->arena, j->id);
    return 0;
}

/* A final failure on j's channel: the next channel of the contact that was
 * not tried for this source event, or the dead-letter list. *dead tells. */
static int fail_over(ntf_delivery_t *d, job_t *j, bool *dead)
{
    *dead = false;
    j->matched = false;
    const char *p2[2] = {j->source_event_id, j->account_id};
    PGresult *res = bw_db_query(d->rdb, SQL_TRIED, 2, p2);
    if (!res)
        return BW_EDB;
    bool tried[NTF_CH_COUNT] = {false};
    for (int i = 0; i < PQntuples(res); i++)
        for (int c = 0; c < NTF_CH_COUNT; c++)
            if (strcmp(PQgetvalue(res, i, 0), ntf_channel_names[c]) == 0)
                tried[c] = true;
    PQclear(res);
    tried[j->ch] = true;
    ntf_contact_t ct;
    if (ntf_contact_load(d->rdb, j->account_id, &ct, d->arena) < 0)
        return BW_EDB;
    const char *next = NULL, *addr = NULL;
    for (size_t i = 0; i < ct.n_channels && !next; i++) {
        int c = 0;
        while (c < NTF_CH_COUNT && strcmp(ct.channels[i], ntf_channel_names[c]) != 0)
            c++;
        if (c == NTF_CH_COUNT || tried[c])
            continue;
        const char *a = ntf_contact_address(&ct, ntf_channel_names[c]);
        if (*a) {
            next = ntf_channel_names[c];
            addr = a;
        }
    }
    const char *reason = bw_arena_printf(d->arena, "%s: %s", ntf_channel_names[j->ch], j->answer);
    const char *p[3] = {j->id, next ? "failed" : "dead", reason};
    PGresult *fres = bw_db_query(d->rdb, SQL_FINAL, 3, p);
    if (!fres)
        return BW_EDB;
    j->matched = strcmp(PQcmdTuples(fres), "1") == 0;
    PQclear(fres);
    if (!j->matched)
        return 0;
    if (next) {
        char id[37];
        bw_uuid(id);
        const char *pf[4] = {j->id, id, next, addr};
        if (bw_db_exec(d->rdb, SQL_FALLBACK, 4, pf) < 0)
            return BW_EDB;
        bw_log(BW_INFO, "notification falls back to next channel", "id", BW_S(j->id), "from",
               BW_S(ntf_channel_names[j->ch]), "to", BW_S(next), "new_id", BW_S(id), NULL);
    } else {
        *dead = true;
        bw_log(BW_WARN, "notification dead-lettered", "id", BW_S(j->id), "account",
               BW_S(j->account_id), "reason", BW_S(reason), NULL);
    }
    return 0;
}

static const char *status_word(ntf_status_t s)
{
    return s == NTF_OK ? "ok" : s == NTF_TEMPFAIL ? "temporary" : "permanent";
}

/* Writes the outcomes of the jobs in list head in one transaction on rdb
 * (recorder thread, or the loop once the thread has stopped); sets dead on
 * jobs it dead-letters. On failure nothing is written and the caller keeps
 * the jobs for the next try (their rows stay "sending" meanwhile). */
/* Marks the jobs at the positions (1-based) res returns as matched. */
static void mark(PGresult *res, job_t **by_pos, size_t npos)
{
    for (int i = 0; i < PQntuples(res); i++) {
        long k = atol(PQgetvalue(res, i, 0));
        if (k >= 1 && (size_t)k <= npos)
            by_pos[k - 1]->matched = true;
    }
}

static int record(ntf_delivery_t *d, job_t *head)
{
    if (!head)
        return 0;
    bw_copybuf_t cb;
    bw_pgarr_t ok_ids, ok_pids, re_ids, re_ms, re_err;
    bw_copybuf_init(&cb);
    bw_pgarr_init(&ok_ids);
    bw_pgarr_init(&ok_pids);
    bw_pgarr_init(&re_ids);
    bw_pgarr_init(&re_ms);
    bw_pgarr_init(&re_err);
    size_t n = 0, nev = 0, nok = 0, nre = 0;
    for (job_t *j = head; j; j = j->next)
        n++;
    bw_outbox_event_t *evs = bw_arena_alloc(d->arena, n * sizeof *evs);
    job_t **oks = bw_arena_alloc(d->arena, n * sizeof *oks);
    job_t **res_ = bw_arena_alloc(d->arena, n * sizeof *res_);
    PGresult *res = NULL;
    int rc = BW_ENOMEM;
    if (!evs || !oks || !res_)
        goto out;
    for (job_t *j = head; j; j = j->next) {
        j->matched = false;
        j->dead = false;
        if (j->status == NTF_OK) {
            oks[nok++] = j;
            bw_pgarr_add(&ok_ids, j->id);
            bw_pgarr_add(&ok_pids, j->provider_id);
        } else if (j->status == NTF_TEMPFAIL && j->attempt < d->o.max_attempts) {
            res_[nre++] = j;
            bw_pgarr_add(&re_ids, j->id);
            bw_pgarr_addf(&re_ms, "%lld", (long long)backoff_ms(d, j->attempt));
            bw_pgarr_add(&re_err, j->answer);
        }
    }
    if (ok_ids.failed || ok_pids.failed || re_ids.failed || re_ms.failed || re_err.failed)
        goto out;
    rc = BW_EDB;
    if (bw_db_begin(d->rdb) < 0)
        goto out;
    if (bw_db_exec(d->rdb, SQL_NO_SEQSCAN, 0, NULL) < 0)
        goto rollback;
    if (nok) {
        const char *p[2] = {bw_pgarr_str(&ok_ids), bw_pgarr_str(&ok_pids)};
        if (!(res = bw_db_query(d->rdb, SQL_DELIVERED, 2, p)))
            goto rollback;
        mark(res, oks, nok);
        PQclear(res);
        res = NULL;
    }
    if (nre) {
        const char *p[3] = {bw_pgarr_str(&re_ids), bw_pgarr_str(&re_ms), bw_pgarr_str(&re_err)};
        if (!(res = bw_db_query(d->rdb, SQL_RETRY, 3, p)))
            goto rollback;
        mark(res, res_, nre);
        PQclear(res);
        res = NULL;
    }
    for (job_t *j = head; j; j = j->next) {
        if (j->status == NTF_OK) {
            if (j->matched && add_event(d, &evs[nev++], j, true, NULL) < 0)
                goto rollback;
        } else if (!(j->status == NTF_TEMPFAIL && j->attempt < d->o.max_attempts)) {
            if (fail_over(d, j, &j->dead) < 0)
                goto rollback;
            if (j->dead && add_event(d, &evs[nev++], j, false,
                                  bw_arena_printf(d->arena, "all channels failed; last: %s",
                                                  j->answer)) < 0)
                goto rollback;
        }
    }
    size_t natt = 0;
    for (job_t *j = head; j; j = j->next) {
        if (!j->matched)
            continue;
        char started[40];
        bw_time_format(j->started_us, started, sizeof started);
        bw_copybuf_str(&cb, j->id);
        bw_copybuf_int(&cb, j->attempt);
        bw_copybuf_str(&cb, ntf_channel_names[j->ch]);
        bw_copybuf_str(&cb, d->ch[j->ch].notifier);
        bw_copybuf_str(&cb, j->address);
        bw_copybuf_str(&cb, status_word(j->status));
        bw_copybuf_int(&cb, j->code);
        bw_copybuf_str(&cb, j->answer);
        bw_copybuf_str(&cb, j->provider_id);
        bw_copybuf_str(&cb, started);
        bw_copybuf_str(&cb, j->source_event_id);
        bw_copybuf_end(&cb);
        natt++;
    }
    if (bw_copybuf_send(&cb, d->rdb, SQL_ATTEMPTS_COPY) < 0)
        goto rollback;
    if (nev && bw_outbox_append(d->rdb, evs, nev) < 0)
        goto rollback;
    if (bw_db_commit(d->rdb) < 0)
        goto log;
    if (natt < n)
        bw_log(BW_INFO, "outcomes already recorded were skipped", "skipped", BW_I(n - natt),
               NULL);
    rc = 0;
    goto out;
rollback:
    bw_db_rollback(d->rdb);
log:
    bw_log(BW_WARN, "could not record delivery outcomes", "pg_error", BW_S(bw_db_error(d->rdb)),
           "pending", BW_I(n), NULL);
out:
    bw_copybuf_free(&cb);
    bw_pgarr_free(&ok_ids);
    bw_pgarr_free(&ok_pids);
    bw_pgarr_free(&re_ids);
    bw_pgarr_free(&re_ms);
    bw_pgarr_free(&re_err);
    bw_arena_reset(d->arena);
    return rc;
}

/* Outcomes are written when this many are queued, or LINGER_S after the
 * first of them: slow channels complete a few sends per loop iteration, and
 * a transaction for each few would cost more than the sends. */
#define FLUSH_AT 256
#define LINGER_S 0.005

/* Loop side, once a batch is recorded: counts and frees its jobs. */
static void settle(ntf_delivery_t *d, job_t *head)
{
    while (head) {
        job_t *j = head;
        if (j->status == NTF_OK)
            d->st.delivered++;
        else if (j->status == NTF_TEMPFAIL && j->attempt < d->o.max_attempts)
            d->st.retried++;
        else if (j->dead)
            d->st.dead++;
        else
            d->st.failed_over++;
        head = j->next;
        job_free(j);
    }
}

/* Loop side: a batch the recorder could not write goes back to the front of
 * the queue, to be tried again after the next tick. */
static void requeue(ntf_delivery_t *d, job_t *head)
{
    job_t *last = head;
    size_t n = 1;
    for (; last->next; last = last->next)
        n++;
    last->next = d->done_head;
    if (!d->done_head)
        d->done_tail = last;
    d->done_head = head;
    d->ndone += n;
}

static void *recorder_main(void *arg)
{
    ntf_delivery_t *d = arg;
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->rec_todo && !d->rec_stop)
            pthread_cond_wait(&d->cond, &d->mu);
        if (!d->rec_todo)
            break; /* stopping, and nothing in hand */
        job_t *batch = d->rec_todo;
        d->rec_todo = NULL;
        pthread_mutex_unlock(&d->mu);
        int rc = record(d, batch);
        pthread_mutex_lock(&d->mu);
        d->rec_back = batch;
        d->rec_rc = rc;
        ev_async_send(d->loop, &d->rec_async);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* Takes back what the recorder finished, if anything. */
static void take_back(ntf_delivery_t *d)
{
    pthread_mutex_lock(&d->mu);
    job_t *batch = d->rec_back;
    int rc = d->rec_rc;
    d->rec_back = NULL;
    pthread_mutex_unlock(&d->mu);
    if (!batch)
        return;
    d->recording = false;
    d->rec_batch = NULL;
    d->nrecording = 0;
    d->freed = true; /* claims held back by the cap may go on */
    if (rc == 0) {
        settle(d, batch);
    } else {
        requeue(d, batch);
        d->flush_due = false; /* the database is away: try again after the next tick */
    }
}

static void rec_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop;
    (void)revents;
    take_back(w->data);
}

/* Hands the queued outcomes to the recorder when it is idle and there are
 * enough of them or they have waited long enough. */
static void hand_over(ntf_delivery_t *d)
{
    if (d->recording || !d->done_head || !(d->ndone >= FLUSH_AT || d->flush_due))
        return;
    pthread_mutex_lock(&d->mu);
    d->rec_todo = d->done_head;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
    d->rec_batch = d->done_head;
    d->recording = true;
    d->nrecording = d->ndone;
    d->done_head = d->done_tail = NULL;
    d->ndone = 0;
    d->flush_due = false;
    ev_timer_stop(d->loop, &d->linger);
}

static void add_ids(bw_pgarr_t *a, const job_t *j)
{
    for (; j; j = j->next)
        bw_pgarr_add(a, j->id);
}

/* Sends again what an unseen claim commit left in "sending" (see
 * SQL_ORPHANS); tried again at the next iteration until it works. */
static void recover_orphans(ntf_delivery_t *d)
{
    bw_pgarr_t held;
    bw_pgarr_init(&held);
    add_ids(&held, d->inflight);
    add_ids(&held, d->done_head);
    add_ids(&held, d->rec_batch);
    const char *p = bw_pgarr_str(&held);
    PGresult *res = held.failed ? NULL : bw_db_query(d->db, SQL_ORPHANS, 1, &p);
    if (res) {
        d->orphans = false;
        d->need_claim = true;
        bw_log(BW_INFO, "resending notifications of an unconfirmed claim", "count",
               BW_S(PQcmdTuples(res)), NULL);
        PQclear(res);
    }
    bw_pgarr_free(&held);
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    ntf_delivery_t *d = w->data;
    hand_over(d);
    if (d->orphans)
        recover_orphans(d);
    if (!d->need_claim && !d->freed)
        return;
    bool claim_all = d->need_claim;
    d->need_claim = d->freed = false;
    for (int c = 0; c < NTF_CH_COUNT; c++) {
        channel_t *ch = &d->ch[c];
        /* Sends finish one by one on slow channels: claim once a quarter of
         * a batch has room, not for every send that finished. */
        int want = (ch->limit < d->o.batch ? ch->limit : d->o.batch) / 4;
        if (claim_all || (ch->more && ch->limit - ch->inflight >= (want > 0 ? want : 1)))
            claim(d, c);
    }
}

static void tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    ntf_delivery_t *d = w->data;
    d->need_claim = true;
    d->flush_due = true;
}

static void linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    ntf_delivery_t *d = w->data;
    d->flush_due = true;
}

void ntf_delivery_kick(void *arg)
{
    ntf_delivery_t *d = arg;
    if (d)
        d->need_claim = true;
}

ntf_delivery_t *ntf_delivery_new(struct ev_loop *loop, bw_db_t *db, bw_db_t *rdb,
                                 ntf_registry_t *reg, const ntf_templates_t *tpl,
                                 const ntf_delivery_opts_t *o, char *err, size_t errlen)
{
    ntf_delivery_t *d = calloc(1, sizeof *d);
    if (!d || !(d->arena = bw_arena_new())) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->loop = loop;
    d->db = db;
    d->rdb = rdb;
    d->tpl = tpl;
    d->o = *o;
    d->seed = (unsigned)bw_now_us();
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cond, NULL);
    ev_async_init(&d->rec_async, rec_async_cb);
    d->rec_async.data = d;
    ev_prepare_init(&d->prepare, prepare_cb);
    d->prepare.data = d;
    double poll = o->poll_ms / 1000.0;
    ev_timer_init(&d->tick, tick_cb, poll, poll);
    d->tick.data = d;
    ev_timer_init(&d->linger, linger_cb, LINGER_S, 0.);
    d->linger.data = d;
    for (int c = 0; c < NTF_CH_COUNT; c++) {
        channel_t *ch = &d->ch[c];
        ch->notifier = o->notifier[c];
        ch->limit = o->concurrency[c];
        char why[256];
        if (ntf_instance_from_env(reg, ch->notifier, &ch->inst, why, sizeof why) < 0) {
            snprintf(err, errlen, "channel %s: %s", ntf_channel_names[c], why);
            ntf_delivery_destroy(&d);
            return NULL;
        }
    }
    return d;
}

int ntf_delivery_start(ntf_delivery_t *d)
{
    PGresult *res = bw_db_query(d->db, SQL_RECOVER, 0, NULL);
    if (!res) {
        bw_log(BW_ERROR, "could not recover interrupted deliveries", "pg_error",
               BW_S(bw_db_error(d->db)), NULL);
        return BW_EDB;
    }
    const char *n = PQcmdTuples(res);
    if (n && *n && strcmp(n, "0") != 0)
        bw_log(BW_INFO, "resending interrupted deliveries", "count", BW_S(n), NULL);
    PQclear(res);
    int rc = pthread_create(&d->rec, NULL, recorder_main, d);
    if (rc != 0) {
        bw_log(BW_ERROR, "could not start the delivery recorder", "error", BW_S(strerror(rc)),
               NULL);
        return BW_ENOMEM;
    }
    d->rec_started = true;
    ev_async_start(d->loop, &d->rec_async);
    ev_unref(d->loop); /* the watcher alone does not keep the loop running */
    ev_prepare_start(d->loop, &d->prepare);
    ev_timer_start(d->loop, &d->tick);
    d->need_claim = true;
    return 0;
}

void ntf_delivery_stats(const ntf_delivery_t *d, ntf_delivery_stats_t *st)
{
    *st = d->st;
    st->inflight = 0;
    for (int c = 0; c < NTF_CH_COUNT; c++)
        st->inflight += (size_t)d->ch[c].inflight;
}

void ntf_delivery_destroy(ntf_delivery_t **pd)
{
    if (!pd || !*pd)
        return;
    ntf_delivery_t *d = *pd;
    if (d->rec_started) {
        /* The recorder finishes the batch in hand, then stops; what it did
         * not take is written here, on its connection. */
        pthread_mutex_lock(&d->mu);
        d->rec_stop = true;
        pthread_cond_signal(&d->cond);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->rec, NULL);
        take_back(d);
        ev_ref(d->loop);
        ev_async_stop(d->loop, &d->rec_async);
    }
    if (d->done_head && d->rdb && record(d, d->done_head) == 0) {
        settle(d, d->done_head);
        d->done_head = d->done_tail = NULL;
    }
    ev_prepare_stop(d->loop, &d->prepare);
    ev_timer_stop(d->loop, &d->tick);
    ev_timer_stop(d->loop, &d->linger);
    /* Instances shut down without calling back: what was in flight stays
     * "sending" in the database and is resent after the next start. */
    for (int c = 0; c < NTF_CH_COUNT; c++)
        ntf_instance_destroy(&d->ch[c].inst);
    while (d->inflight) {
        job_t *j = d->inflight;
        d->inflight = j->next;
        job_free(j);
    }
    while (d->done_head) {
        job_t *j = d->done_head;
        d->done_head = j->next;
        job_free(j);
    }
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->mu);
    bw_arena_destroy(&d->arena);
    free(d);
    *pd = NULL;
}
