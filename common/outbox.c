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

#include <endian.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char SQL_LOCK[] = "SELECT pg_advisory_xact_lock(hashtext('billow.outbox.' || $1))";
static const char SQL_NOTIFY[] = "SELECT pg_notify($1, '')";
/* Binary COPY: payloads go as raw bytes rather than doubled into hex, and
 * PostgreSQL parses no text; about a fifth faster than text COPY here. */
static const char SQL_COPY[] =
    "COPY outbox (part, event_type, event_id, payload, caused_by) FROM STDIN (FORMAT binary)";

typedef struct {
    uint8_t *p;
    size_t len, cap;
    bool failed;
} bin_t;

static void bin_put(bin_t *b, const void *data, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np) {
            b->failed = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void bin_i16(bin_t *b, int16_t v)
{
    uint16_t be = htobe16((uint16_t)v);
    bin_put(b, &be, 2);
}

static void bin_i32(bin_t *b, int32_t v)
{
    uint32_t be = htobe32((uint32_t)v);
    bin_put(b, &be, 4);
}

/* One field: its length, then its bytes. */
static void bin_field(bin_t *b, const void *data, size_t n)
{
    bin_i32(b, (int32_t)n);
    bin_put(b, data, n);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The 16 bytes of a canonical text UUID; BW_EINVAL when it is not one. */
static int uuid_bytes(const char *s, uint8_t out[16])
{
    int k = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '-')
            continue;
        int hi = hexval(p[0]), lo = p[1] ? hexval(p[1]) : -1;
        if (hi < 0 || lo < 0 || k == 16)
            return BW_EINVAL;
        out[k++] = (uint8_t)(hi << 4 | lo);
        p++;
    }
    return k == 16 ? 0 : BW_EINVAL;
}

int bw_outbox_append(bw_db_t *db, bw_outbox_event_t *evs, size_t n)
{
    if (!bw_db_in_tx(db))
        return BW_EINVAL;
    if (n == 0)
        return 0;
    const char *schema = bw_db_schema(db);
    if (bw_db_exec(db, SQL_LOCK, 1, &schema) < 0)
        return BW_EDB;
    static const uint8_t header[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0,
                                     0, 0, 0, 0, 0, 0, 0, 0};
    bin_t b = {0};
    int rc = 0;
    bin_put(&b, header, sizeof header);
    for (size_t i = 0; i < n; i++) {
        bw_outbox_event_t *e = &evs[i];
        if (!e->event_id[0])
            bw_uuid(e->event_id);
        uint8_t id[16];
        if (uuid_bytes(e->event_id, id) < 0) {
            rc = BW_EINVAL;
            goto out;
        }
        uint32_t part = e->partition_key ? bw_partition_of(e->partition_key) : 0u;
        const char *cause = e->caused_by ? e->caused_by : "";
        bin_i16(&b, 5);
        bin_i32(&b, 4);
        bin_i32(&b, (int32_t)part);
        bin_field(&b, e->type, strlen(e->type));
        bin_field(&b, id, sizeof id);
        bin_field(&b, e->payload, e->len);
        bin_field(&b, cause, strlen(cause));
    }
    bin_i16(&b, -1);
    if (b.failed) {
        rc = BW_ENOMEM;
        goto out;
    }
    if ((rc = bw_db_copy_begin(db, SQL_COPY)) < 0)
        goto out;
    if ((rc = bw_db_copy_put(db, (const char *)b.p, b.len)) < 0) {
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
    free(b.p);
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
