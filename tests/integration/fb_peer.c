/* Stands in for another service in the feedback integration test, so the
 * test does not depend on invoicing or rating being finished:
 *   fb_peer serve SCHEMA                serves SCHEMA's outbox on its stream
 *                                       endpoint (BILLOW_PORT_BASE) until SIGTERM
 *   fb_peer emit SCHEMA TYPE [k=v ...]  appends one real protobuf event with
 *                                       bw_outbox_emit
 * Fields are set by name through the message descriptor (string and integer
 * fields); `line=FEE_ITEM` adds an InvoiceIssued line and `item=FEE_ITEM` a
 * PriceChangeAnnounced item. The database is BW_PG_ADMIN. */
#include "config.h"
#include "db.h"
#include "errors.h"
#include "events.pb-c.h"
#include "log.h"
#include "migrate.h"
#include "outbox.h"
#include "stream_server.h"

#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static bw_db_t *connect_schema(const char *schema)
{
    const char *conninfo = getenv("BW_PG_ADMIN");
    bw_db_t *db = bw_db_new(conninfo ? conninfo : "", NULL, schema);
    if (!db || bw_db_connect(db, 10000) < 0 || bw_migrate(db, schema, NULL, NULL) < 0) {
        fprintf(stderr, "fb_peer: cannot connect to or migrate schema %s\n", schema);
        bw_db_destroy(&db);
        return NULL;
    }
    return db;
}

static void sig_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static int serve(const char *schema)
{
    char ep[256];
    if (bw_endpoint(schema, "stream", 1, ep, sizeof ep) < 0)
        return 2;
    bw_db_t *db = connect_schema(schema);
    if (!db)
        return 1;
    struct ev_loop *loop = ev_default_loop(0);
    void *zctx = zmq_ctx_new();
    bw_stream_server_t *server = bw_stream_server_new(loop, zctx, ep, db);
    int rc = 1;
    if (server) {
        ev_signal term, intr;
        ev_signal_init(&term, sig_cb, SIGTERM);
        ev_signal_init(&intr, sig_cb, SIGINT);
        ev_signal_start(loop, &term);
        ev_signal_start(loop, &intr);
        ev_run(loop, 0);
        ev_signal_stop(loop, &term);
        ev_signal_stop(loop, &intr);
        bw_stream_server_destroy(&server);
        rc = 0;
    }
    zmq_ctx_term(zctx);
    ev_loop_destroy(loop);
    bw_db_destroy(&db);
    return rc;
}

static int set_field(ProtobufCMessage *m, const char *key, const char *val)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(m->descriptor, key);
    if (!f || f->label == PROTOBUF_C_LABEL_REPEATED) {
        fprintf(stderr, "fb_peer: %s has no settable field %s\n", m->descriptor->short_name, key);
        return -1;
    }
    void *at = (char *)m + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        *(const char **)at = val;
        return 0;
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
        *(int32_t *)at = (int32_t)atol(val);
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
        *(int64_t *)at = atoll(val);
        return 0;
    default:
        fprintf(stderr, "fb_peer: field %s has a type this helper does not set\n", key);
        return -1;
    }
}

static int emit(const char *schema, const char *type, int argc, char **argv)
{
    const ProtobufCFieldDescriptor *ef = NULL;
    for (unsigned i = 0; i < billow__event__descriptor.n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &billow__event__descriptor.fields[i];
        const ProtobufCMessageDescriptor *d = f->descriptor;
        if (d && strcmp(d->short_name, type) == 0)
            ef = f;
    }
    if (!ef) {
        fprintf(stderr, "fb_peer: unknown event type %s\n", type);
        return 2;
    }
    const ProtobufCMessageDescriptor *d = ef->descriptor;
    ProtobufCMessage *m = calloc(1, d->sizeof_message);
    d->message_init(m);
    Billow__InvoiceLine **lines = calloc((size_t)argc + 1, sizeof *lines);
    Billow__PriceItemChange **items = calloc((size_t)argc + 1, sizeof *items);
    size_t nl = 0, ni = 0;
    const char *account = NULL;
    int rc = 2;
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "fb_peer: expected key=value, got %s\n", argv[i]);
            goto out;
        }
        *eq = '\0';
        const char *key = argv[i], *val = eq + 1;
        if (strcmp(key, "line") == 0 && d == &billow__invoice_issued__descriptor) {
            lines[nl] = calloc(1, sizeof **lines);
            billow__invoice_line__init(lines[nl]);
            lines[nl++]->fee_item = (char *)val;
        } else if (strcmp(key, "item") == 0 && d == &billow__price_change_announced__descriptor) {
            items[ni] = calloc(1, sizeof **items);
            billow__price_item_change__init(items[ni]);
            items[ni++]->fee_item = (char *)val;
        } else if (set_field(m, key, val) < 0) {
            goto out;
        }
        if (strcmp(key, "account_id") == 0)
            account = val;
    }
    if (d == &billow__invoice_issued__descriptor) {
        ((Billow__InvoiceIssued *)m)->lines = lines;
        ((Billow__InvoiceIssued *)m)->n_lines = nl;
    } else if (d == &billow__price_change_announced__descriptor) {
        ((Billow__PriceChangeAnnounced *)m)->items = items;
        ((Billow__PriceChangeAnnounced *)m)->n_items = ni;
    }
    Billow__Event ev = BILLOW__EVENT__INIT;
    *(uint32_t *)((char *)&ev + ef->quantifier_offset) = ef->id;
    *(ProtobufCMessage **)((char *)&ev + ef->offset) = m;
    bw_db_t *db = connect_schema(schema);
    rc = 1;
    if (db) {
        if (bw_db_begin(db) == 0 && bw_outbox_emit(db, &ev, account, "test:fb_peer") == 0 &&
            bw_db_commit(db) == 0)
            rc = 0;
        else
            fprintf(stderr, "fb_peer: could not emit: %s\n", bw_db_error(db));
        bw_db_destroy(&db);
    }
out:
    for (size_t i = 0; i < nl; i++)
        free(lines[i]);
    for (size_t i = 0; i < ni; i++)
        free(items[i]);
    free(lines);
    free(items);
    free(m);
    return rc;
}

int main(int argc, char **argv)
{
    bw_log_init("fb_peer");
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(argv[2]);
    if (argc >= 4 && strcmp(argv[1], "emit") == 0)
        return emit(argv[2], argv[3], argc - 4, argv + 4);
    fprintf(stderr, "usage: fb_peer serve SCHEMA | fb_peer emit SCHEMA TYPE [field=value ...]\n");
    return 2;
}
