/* Outbox writer. One COPY per call; payloads travel as bytea hex text.
 *
 * Ordering: a bigserial draws numbers at insert time, and transactions commit
 * in any order, so without care a consumer could read seq 12 while seq 11 is
 * still uncommitted and skip it forever. Writers therefore take a
 * transaction-scoped advisory lock (per schema) before drawing numbers; the
 * next writer can only draw after the previous one committed. The lock is
 * held only from the append to the commit, which is why callers append last. */
#include "outbox.h"
#include "db.h"
#include "errors.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_LOCK[] = "SELECT pg_advisory_xact_lock(hashtext('billow.outbox.' || $1))";
static const char SQL_NOTIFY[] = "SELECT pg_notify($1, '')";
static const char SQL_COPY[] =
    "COPY outbox (part, event_type, event_id, payload, caused_by) FROM STDIN";

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf_t;

static int sb_reserve(sbuf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap * 2 : 65536;
    while (cap < b->len + more)
        cap *= 2;
    char *n = realloc(b->buf, cap);
    if (!n)
        return BW_ENOMEM;
    b->buf = n;
    b->cap = cap;
    return 0;
}

/* COPY text format: backslash, tab, newline and CR must be escaped. */
static void sb_text(sbuf_t *b, const char *s)
{
    for (; s && *s; s++) {
        char c = *s;
        if (c == '\\' || c == '\t' || c == '\n' || c == '\r') {
            b->buf[b->len++] = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
        }
        b->buf[b->len++] = c;
    }
}

int bw_outbox_append(bw_db_t *db, bw_outbox_event_t *evs, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (!bw_db_in_tx(db))
        return BW_EINVAL;
    if (n == 0)
        return 0;
    const char *schema = bw_db_schema(db);
    if (bw_db_exec(db, SQL_LOCK, 1, &schema) < 0)
        return BW_EDB;
    sbuf_t b = {0};
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        bw_outbox_event_t *e = &evs[i];
        if (!e->event_id[0])
            bw_uuid(e->event_id);
        size_t tl = strlen(e->type), cl = e->caused_by ? strlen(e->caused_by) : 0;
        if (sb_reserve(&b, 64 + 2 * tl + 2 * cl + 2 * e->len + 8) < 0) {
            rc = BW_ENOMEM;
            goto out;
        }
        b.len += (size_t)sprintf(b.buf + b.len, "%u\t",
                                 e->partition_key ? bw_partition_of(e->partition_key) : 0u);
        sb_text(&b, e->type);
        b.len += (size_t)sprintf(b.buf + b.len, "\t%s\t\\\\x", e->event_id);
        for (size_t k = 0; k < e->len; k++) {
            b.buf[b.len++] = hex[e->payload[k] >> 4];
            b.buf[b.len++] = hex[e->payload[k] & 15];
        }
        b.buf[b.len++] = '\t';
        sb_text(&b, e->caused_by);
        b.buf[b.len++] = '\n';
    }
    if ((rc = bw_db_copy_begin(db, SQL_COPY)) < 0)
        goto out;
    if ((rc = bw_db_copy_put(db, b.buf, b.len)) < 0) {
        bw_db_copy_end(db);
        goto out;
    }
    if ((rc = bw_db_copy_end(db)) < 0)
        goto out;
    char channel[80];
    snprintf(channel, sizeof channel, "billow_outbox_%s", schema);
    const char *p = channel;
    rc = bw_db_exec(db, SQL_NOTIFY, 1, &p);
out:
    free(b.buf);
    return rc;
}

const char *bw_event_type_name(const Billow__Event *ev)
{
    if (ev->body_case == BILLOW__EVENT__BODY__NOT_SET)
        return NULL;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&billow__event__descriptor, ev->body_case);
    if (!f)
        return NULL;
    /* The field's message type gives the CamelCase name: billow.AccountRated. */
    const ProtobufCMessageDescriptor *md = f->descriptor;
    return md ? md->short_name : NULL;
}

int bw_outbox_emit(bw_db_t *db, const Billow__Event *ev, const char *partition_key,
                   const char *caused_by)
{
    const char *type = bw_event_type_name(ev);
    if (!type)
        return BW_EINVAL;
    size_t len = billow__event__get_packed_size(ev);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return BW_ENOMEM;
    billow__event__pack(ev, buf);
    bw_outbox_event_t e = {.type = type, .partition_key = partition_key, .payload = buf,
                           .len = len, .caused_by = caused_by};
    int rc = bw_outbox_append(db, &e, 1);
    free(buf);
    return rc;
}
