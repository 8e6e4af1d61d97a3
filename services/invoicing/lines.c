/* Stored invoice lines (see lines.h). */
#include "invoicing/lines.h"

#include "errors.h"
#include "invoicing_store.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int inv_lines_pack(const inv_line_t *lines, size_t n, bw_arena_t *a, uint8_t **out,
                   size_t *len)
{
    Billow__StoredLines m = BILLOW__STORED_LINES__INIT;
    Billow__StoredLine *ls = bw_arena_alloc(a, sizeof *ls * (n + 1));
    Billow__StoredLine **ps = bw_arena_alloc(a, sizeof *ps * (n + 1));
    if (!ls || !ps)
        return BW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const inv_line_t *l = &lines[i];
        Billow__StoredLine *s = &ls[i];
        billow__stored_line__init(s);
        /* protobuf-c packs char * fields without changing them */
        s->fee_item = (char *)(l->fee_item ? l->fee_item : "");
        s->description = (char *)(l->description ? l->description : "");
        s->kind = (char *)inv_line_kind_name(l->kind);
        s->quantity = (char *)(l->quantity ? l->quantity : "");
        s->unit = (char *)(l->unit ? l->unit : "");
        s->unit_price = (char *)(l->unit_price ? l->unit_price : "");
        s->amount_minor = l->amount_minor;
        s->net_minor = l->net_minor;
        s->tax_category = (char *)(l->tax_category && *l->tax_category ? l->tax_category
                                                                       : "standard");
        s->tax_rate_ppm = l->tax_rate_ppm;
        s->tax_minor = l->tax_minor;
        ps[i] = s;
    }
    m.lines = ps;
    m.n_lines = n;
    *len = billow__stored_lines__get_packed_size(&m);
    if (!(*out = bw_arena_alloc(a, *len + 1)))
        return BW_ENOMEM;
    billow__stored_lines__pack(&m, *out);
    return 0;
}

int inv_lines_unpack(const uint8_t *data, size_t len, bw_arena_t *a, inv_line_t **lines,
                     size_t *n)
{
    Billow__StoredLines *m = billow__stored_lines__unpack(bw_arena_pb(a), len, data);
    if (!m)
        return BW_EINVAL;
    inv_line_t *ls = bw_arena_alloc(a, sizeof *ls * (m->n_lines + 1));
    if (!ls)
        return BW_ENOMEM;
    memset(ls, 0, sizeof *ls * (m->n_lines + 1));
    for (size_t i = 0; i < m->n_lines; i++) {
        const Billow__StoredLine *s = m->lines[i];
        ls[i] = (inv_line_t){.fee_item = s->fee_item,
                             .description = s->description,
                             .kind = inv_line_kind_parse(s->kind),
                             .quantity = s->quantity,
                             .unit = s->unit,
                             .unit_price = s->unit_price,
                             .amount_minor = s->amount_minor,
                             .net_minor = s->net_minor,
                             .tax_category = s->tax_category,
                             .tax_rate_ppm = s->tax_rate_ppm,
                             .tax_minor = s->tax_minor};
    }
    *lines = ls;
    *n = m->n_lines;
    return 0;
}

#define SCAN_FETCH "FETCH 5000 FROM inv_lines_scan"

/* Calls fn for each row of one fetched page; its own arena per page. */
static int scan_page(PGresult *r, int lines_col, inv_lines_fn fn, void *arg)
{
    bw_arena_t *a = bw_arena_new();
    if (!a)
        return BW_ENOMEM;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
        inv_line_t *lines = NULL;
        size_t n = 0;
        bool unreadable = false;
        if (!PQgetisnull(r, i, lines_col)) {
            size_t len;
            unsigned char *raw =
                PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, lines_col), &len);
            if (!raw)
                rc = BW_ENOMEM;
            else if (inv_lines_unpack(raw, len, a, &lines, &n) < 0)
                unreadable = true, lines = NULL, n = 0;
            PQfreemem(raw);
        }
        if (rc == 0)
            rc = fn(arg, r, i, lines, n, unreadable);
        bw_arena_reset(a);
    }
    bw_arena_destroy(&a);
    return rc;
}

int inv_lines_scan(bw_db_t *db, const char *sql, int nparams, const char *const *params,
                   int lines_col, inv_lines_fn fn, void *arg)
{
    size_t len = strlen(sql) + 64;
    char *decl = malloc(len);
    if (!decl)
        return BW_ENOMEM;
    snprintf(decl, len, "DECLARE inv_lines_scan NO SCROLL CURSOR FOR %s", sql);
    int rc = bw_db_begin(db);
    /* The scan reads every row: plan for the whole, not for the first
     * tenth a cursor is planned for by default, which joins invoices to
     * their lines by probing the lines' key once per invoice. At 1,000,000
     * invoices that probe cost 2.2 s against 2.0 s for a hash join with ids
     * in the tables' order, and 11.6 s with ids out of it. */
    if (rc == 0)
        rc = bw_db_exec(db, "SET LOCAL cursor_tuple_fraction = 1", 0, NULL);
    if (rc == 0)
        rc = bw_db_exec(db, decl, nparams, params);
    free(decl);
    while (rc == 0) {
        PGresult *r = bw_db_query(db, SCAN_FETCH, 0, NULL);
        if (!r) {
            rc = BW_EDB;
            break;
        }
        int rows = PQntuples(r);
        rc = scan_page(r, lines_col, fn, arg);
        PQclear(r);
        if (rows == 0)
            break;
    }
    if (rc == 0 && (rc = bw_db_exec(db, "CLOSE inv_lines_scan", 0, NULL)) == 0)
        return bw_db_commit(db);
    bw_db_rollback(db);
    return rc;
}
