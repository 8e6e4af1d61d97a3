/* A small logic-less template engine (a subset of Mustache/Handlebars) and
 * the loader for the shipped templates. Templates compile to a tree of
 * nodes once, at load, where every variable is checked against its message
 * type's table; rendering walks the tree with a stack of json-c objects
 * (the root values, then one item per enclosing {{#each}}). */
#include "notification/template.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "errors.h"
#include "util.h"

/* --- the variables each message type offers --------------------------- */

#define COMMON_VARS                                                                         \
    {"company_name", NULL}, {"customer_name", NULL}, {"account_id", NULL},                  \
        {"support_email", NULL}, {"support_phone", NULL}, {"portal_url", NULL}

#define PAYMENT_VARS                                                                        \
    {"pay_url", NULL}, {"payment_reference", NULL}, {"bank_name", NULL},                    \
        {"bank_account_name", NULL}, {"bank_account", NULL}

static const ntf_var_spec_t invoice_line[] = {
    {"description", NULL}, {"quantity", NULL}, {"unit", NULL},     {"unit_price", NULL},
    {"amount", NULL},      {"tax_rate", NULL}, {"tax_amount", NULL}, {NULL, NULL}};

static const ntf_var_spec_t price_item[] = {
    {"item_name", NULL},  {"unit", NULL},       {"old_price", NULL},
    {"new_price", NULL},  {"difference", NULL}, {"change_percent", NULL},
    {NULL, NULL}};

static const ntf_var_spec_t v_invoice_issued[] = {
    COMMON_VARS,           PAYMENT_VARS,       {"invoice_number", NULL}, {"issue_date", NULL},
    {"due_date", NULL},    {"period_start", NULL}, {"period_end", NULL}, {"currency", NULL},
    {"subtotal", NULL},    {"tax_total", NULL}, {"total", NULL},        {"amount_due", NULL},
    {"invoice_url", NULL}, {"invoice_html", NULL}, {"payment_terms", NULL}, {"notes", NULL},
    {"lines", invoice_line}, {NULL, NULL}};

static const ntf_var_spec_t v_payment_reminder[] = {
    COMMON_VARS,           PAYMENT_VARS,         {"invoice_number", NULL}, {"issue_date", NULL},
    {"due_date", NULL},    {"days_until_due", NULL}, {"currency", NULL},   {"amount_due", NULL},
    {"invoice_url", NULL}, {NULL, NULL}};

static const ntf_var_spec_t v_invoice_overdue[] = {
    COMMON_VARS,           PAYMENT_VARS,        {"invoice_number", NULL}, {"due_date", NULL},
    {"days_overdue", NULL}, {"currency", NULL}, {"amount_due", NULL},    {"late_fee", NULL},
    {"invoice_url", NULL}, {"suspension_date", NULL}, {NULL, NULL}};

static const ntf_var_spec_t v_payment_received[] = {
    COMMON_VARS,           {"payment_id", NULL},  {"invoice_number", NULL},
    {"payment_date", NULL}, {"payment_method", NULL}, {"currency", NULL},
    {"amount_paid", NULL}, {"balance_due", NULL}, {"receipt_url", NULL},
    {"invoice_url", NULL}, {NULL, NULL}};

static const ntf_var_spec_t v_credit_note_issued[] = {
    COMMON_VARS,           {"credit_note_number", NULL}, {"invoice_number", NULL},
    {"issue_date", NULL},  {"currency", NULL},        {"amount", NULL},
    {"reason", NULL},      {"credit_usage", NULL},    {"credit_note_url", NULL},
    {"credit_note_html", NULL}, {"lines", invoice_line}, {NULL, NULL}};

static const ntf_var_spec_t v_price_change_notice[] = {
    COMMON_VARS,
    {"change_id", NULL},
    {"plan_name", NULL},
    {"reason", NULL},
    {"notice_date", NULL},
    {"effective_date", NULL},
    {"transition_period", NULL},
    {"transition_end_date", NULL},
    {"scope", NULL},
    {"exceptions", NULL},
    {"value_statement", NULL},
    {"currency", NULL},
    {"items", price_item},
    {"old_total", NULL},
    {"new_total", NULL},
    {"total_difference", NULL},
    {"feedback_url", NULL},
    {"feedback_email", NULL},
    {"feedback_deadline", NULL},
    {"ack_url", NULL},
    {"ack_token", NULL},
    {NULL, NULL}};

static const ntf_var_spec_t v_price_change_reminder[] = {
    COMMON_VARS,
    {"change_id", NULL},
    {"plan_name", NULL},
    {"effective_date", NULL},
    {"days_until_effective", NULL},
    {"transition_period", NULL},
    {"currency", NULL},
    {"items", price_item},
    {"total_difference", NULL},
    {"feedback_url", NULL},
    {"acknowledged", NULL},
    {"ack_url", NULL},
    {"ack_token", NULL},
    {NULL, NULL}};

static const ntf_var_spec_t v_feedback_reply[] = {
    COMMON_VARS,          {"ticket_id", NULL},     {"ticket_subject", NULL},
    {"ticket_status", NULL}, {"reply_text", NULL}, {"agent_name", NULL},
    {"resolution", NULL}, {"credit_amount", NULL}, {"currency", NULL},
    {"ticket_url", NULL}, {NULL, NULL}};

static const ntf_var_spec_t v_satisfaction_survey[] = {
    COMMON_VARS,           {"ticket_id", NULL},     {"ticket_subject", NULL},
    {"resolved_date", NULL}, {"agent_name", NULL},  {"survey_url", NULL},
    {"survey_deadline", NULL}, {NULL, NULL}};

const ntf_message_type_t ntf_message_types[] = {
    {"invoice_issued", v_invoice_issued},
    {"payment_reminder", v_payment_reminder},
    {"invoice_overdue", v_invoice_overdue},
    {"payment_received", v_payment_received},
    {"credit_note_issued", v_credit_note_issued},
    {"price_change_notice", v_price_change_notice},
    {"price_change_reminder", v_price_change_reminder},
    {"feedback_reply", v_feedback_reply},
    {"satisfaction_survey", v_satisfaction_survey},
    {NULL, NULL},
};

const ntf_message_type_t *ntf_message_type_find(const char *type)
{
    for (const ntf_message_type_t *m = ntf_message_types; type && m->type; m++)
        if (strcmp(m->type, type) == 0)
            return m;
    return NULL;
}

/* --- compiled templates ----------------------------------------------- */

#define MAX_DEPTH 8 /* nested blocks */

typedef enum { N_TEXT, N_VAR, N_RAW, N_IF, N_EACH } node_kind_t;

typedef struct node {
    node_kind_t kind;
    char *text; /* N_TEXT: the bytes; otherwise the variable's name */
    size_t len;
    struct node *body; /* N_IF (then) and N_EACH */
    struct node *alt;  /* N_IF (else) */
    struct node *next;
} node_t;

struct ntf_template {
    node_t *root;
    bool html;
    size_t hint; /* the source's length: a first guess at an output's size */
};

static void nodes_free(node_t *n)
{
    while (n) {
        node_t *next = n->next;
        nodes_free(n->body);
        nodes_free(n->alt);
        free(n->text);
        free(n);
        n = next;
    }
}

typedef enum { T_EOF, T_ELSE, T_END_IF, T_END_EACH } stop_t;

typedef struct {
    const char *name; /* for errors */
    const char *src;
    size_t len, pos;
    int line; /* of pos */
    bool html;
    const ntf_var_spec_t *scopes[MAX_DEPTH + 1]; /* innermost last; NULL entries: unchecked */
    int depth;
    bool checked;
    char *err;
    size_t errlen;
} parser_t;

static int perr(parser_t *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(parser_t *p, int line, const char *fmt, ...)
{
    int n = snprintf(p->err, p->errlen, "%s:%d: ", p->name, line);
    if (n >= 0 && (size_t)n < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return BW_EINVAL;
}

static int count_lines(const char *s, size_t len)
{
    int n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    return n;
}

static bool name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 64 || !(islower((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

/* The spec of name in the current scopes, innermost first. */
static const ntf_var_spec_t *lookup_spec(const parser_t *p, const char *name)
{
    for (int d = p->depth; d >= 0; d--)
        for (const ntf_var_spec_t *v = p->scopes[d]; v && v->name; v++)
            if (strcmp(v->name, name) == 0)
                return v;
    return NULL;
}

static node_t *node_new(node_kind_t kind, const char *text, size_t len)
{
    node_t *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->kind = kind;
    n->text = strndup(text ? text : "", len);
    n->len = len;
    if (!n->text) {
        free(n);
        return NULL;
    }
    return n;
}

typedef enum { TAG_VAR, TAG_RAW, TAG_IF, TAG_EACH, TAG_ELSE, TAG_END_IF, TAG_END_EACH, TAG_COMMENT } tag_t;

static int parse_nodes(parser_t *p, node_t **out, stop_t *stop, int *stop_line);

/* Parses one tag starting at p->pos ("{{"); fills kind, name and end. */
static int scan_tag(parser_t *p, tag_t *kind, const char **name, size_t *name_len, size_t *end)
{
    const char *s = p->src;
    size_t start = p->pos;
    bool triple = start + 2 < p->len && s[start + 2] == '{';
    const char *close = triple ? "}}}" : "}}";
    size_t open_len = triple ? 3 : 2, close_len = triple ? 3 : 2;
    size_t i = start + open_len;
    const char *found = NULL;
    for (size_t j = i; j + close_len <= p->len; j++) {
        if (memcmp(s + j, close, close_len) == 0) {
            found = s + j;
            break;
        }
        if (s[j] == '\n' || (s[j] == '{' && j + 1 < p->len && s[j + 1] == '{'))
            break; /* a tag never spans lines or holds another */
    }
    if (!found)
        return perr(p, p->line, "unterminated tag: '%s' without '%s'", triple ? "{{{" : "{{",
                    close);
    *end = (size_t)(found - s) + close_len;
    const char *a = s + i, *b = found;
    while (a < b && isspace((unsigned char)*a))
        a++;
    while (b > a && isspace((unsigned char)b[-1]))
        b--;
    size_t n = (size_t)(b - a);
    if (triple) {
        *kind = TAG_RAW;
    } else if (n > 0 && *a == '!') {
        *kind = TAG_COMMENT;
        return 0;
    } else if (n >= 3 && memcmp(a, "#if", 3) == 0 && (n == 3 || isspace((unsigned char)a[3]))) {
        *kind = TAG_IF;
        a += 3;
    } else if (n >= 5 && memcmp(a, "#each", 5) == 0 &&
               (n == 5 || isspace((unsigned char)a[5]))) {
        *kind = TAG_EACH;
        a += 5;
    } else if (n == 4 && memcmp(a, "else", 4) == 0) {
        *kind = TAG_ELSE;
        return 0;
    } else if (n == 3 && memcmp(a, "/if", 3) == 0) {
        *kind = TAG_END_IF;
        return 0;
    } else if (n == 5 && memcmp(a, "/each", 5) == 0) {
        *kind = TAG_END_EACH;
        return 0;
    } else if (n > 0 && (*a == '#' || *a == '/')) {
        return perr(p, p->line, "unknown block tag '{{%.*s}}' (use #if, #each, else, /if, /each)",
                    (int)(n > 40 ? 40 : n), a);
    } else {
        *kind = TAG_VAR;
    }
    while (a < b && isspace((unsigned char)*a))
        a++;
    *name = a;
    *name_len = (size_t)(b - a);
    if (!name_ok(a, *name_len))
        return perr(p, p->line, "bad variable name '%.*s' (use [a-z0-9_])",
                    (int)(*name_len > 40 ? 40 : *name_len), a);
    return 0;
}

/* A block tag alone on its line (but for blanks) swallows the line. */
static bool standalone(const parser_t *p, size_t seg_start, size_t tag_start, size_t tag_end,
                       size_t *line_start, size_t *after)
{
    size_t ls = tag_start;
    while (ls > seg_start && (p->src[ls - 1] == ' ' || p->src[ls - 1] == '\t'))
        ls--;
    if (!(ls == 0 || p->src[ls - 1] == '\n'))
        return false;
    if (ls < seg_start || (ls == seg_start && seg_start != 0 && p->src[ls - 1] != '\n'))
        return false;
    size_t e = tag_end;
    while (e < p->len && (p->src[e] == ' ' || p->src[e] == '\t' || p->src[e] == '\r'))
        e++;
    if (e < p->len && p->src[e] != '\n')
        return false;
    *line_start = ls;
    *after = e < p->len ? e + 1 : e;
    return true;
}

static int append(node_t ***tail, node_t *n)
{
    if (!n)
        return BW_ENOMEM;
    **tail = n;
    *tail = &n->next;
    return 0;
}

static int parse_block(parser_t *p, tag_t kind, char *name, int open_line, node_t **out)
{
    const ntf_var_spec_t *spec = lookup_spec(p, name);
    if (p->checked && !spec)
        return perr(p, open_line, "unknown variable '%s'", name);
    if (kind == TAG_EACH && p->checked && !spec->fields)
        return perr(p, open_line, "'%s' is not a list: {{#each}} needs one", name);
    if (p->depth == MAX_DEPTH)
        return perr(p, open_line, "blocks nested deeper than %d", MAX_DEPTH);
    node_t *n = calloc(1, sizeof *n);
    if (!n)
        return BW_ENOMEM;
    n->kind = kind == TAG_IF ? N_IF : N_EACH;
    n->text = name;
    n->len = strlen(name);
    *out = n;
    if (kind == TAG_EACH)
        p->scopes[++p->depth] = spec ? spec->fields : NULL;
    stop_t stop;
    int stop_line;
    int rc = parse_nodes(p, &n->body, &stop, &stop_line);
    if (rc == 0 && kind == TAG_IF && stop == T_ELSE)
        rc = parse_nodes(p, &n->alt, &stop, &stop_line);
    if (kind == TAG_EACH)
        p->depth--;
    if (rc < 0)
        return rc;
    const char *tag = kind == TAG_IF ? "if" : "each";
    if (stop == T_EOF)
        return perr(p, open_line, "{{#%s %s}} is never closed", tag, name);
    if ((kind == TAG_IF && stop != T_END_IF) || (kind == TAG_EACH && stop != T_END_EACH))
        return perr(p, stop_line, "%s where {{/%s}} for {{#%s %s}} (line %d) was expected",
                    stop == T_ELSE ? "{{else}}" : stop == T_END_IF ? "{{/if}}" : "{{/each}}", tag,
                    tag, name, open_line);
    return 0;
}

/* Parses nodes up to the end of input or a tag that closes a block. */
static int parse_nodes(parser_t *p, node_t **out, stop_t *stop, int *stop_line)
{
    node_t **tail = out;
    *out = NULL;
    for (;;) {
        size_t seg = p->pos;
        const char *open = NULL;
        for (size_t j = seg; j + 1 < p->len; j++)
            if (p->src[j] == '{' && p->src[j + 1] == '{') {
                open = p->src + j;
                break;
            }
        if (!open) {
            if (p->len > seg && append(&tail, node_new(N_TEXT, p->src + seg, p->len - seg)) < 0)
                return BW_ENOMEM;
            p->pos = p->len;
            *stop = T_EOF;
            *stop_line = p->line;
            return 0;
        }
        size_t tag_start = (size_t)(open - p->src);
        p->line += count_lines(p->src + seg, tag_start - seg);
        p->pos = tag_start;
        int tag_line = p->line;
        tag_t kind = TAG_VAR;
        const char *name = NULL;
        size_t name_len = 0, end = 0;
        int rc = scan_tag(p, &kind, &name, &name_len, &end);
        if (rc < 0)
            return rc;
        size_t text_end = tag_start, next = end, ls, after;
        bool block = kind != TAG_VAR && kind != TAG_RAW;
        if (block && standalone(p, seg, tag_start, end, &ls, &after)) {
            text_end = ls;
            next = after;
        }
        if (text_end > seg && append(&tail, node_new(N_TEXT, p->src + seg, text_end - seg)) < 0)
            return BW_ENOMEM;
        p->line += count_lines(p->src + end, next - end);
        p->pos = next;
        switch (kind) {
        case TAG_COMMENT:
            break;
        case TAG_VAR:
        case TAG_RAW: {
            node_t *n = node_new(kind == TAG_RAW ? N_RAW : N_VAR, name, name_len);
            if (!n)
                return BW_ENOMEM;
            append(&tail, n);
            const ntf_var_spec_t *spec = lookup_spec(p, n->text);
            if (p->checked && !spec)
                return perr(p, tag_line, "unknown variable '%s'", n->text);
            if (spec && spec->fields)
                return perr(p, tag_line, "'%s' is a list: use {{#each %s}}", n->text, n->text);
            break;
        }
        case TAG_IF:
        case TAG_EACH: {
            char *nm = strndup(name, name_len);
            if (!nm)
                return BW_ENOMEM;
            node_t *n = NULL;
            rc = parse_block(p, kind, nm, tag_line, &n);
            if (n)
                append(&tail, n);
            else
                free(nm);
            if (rc < 0)
                return rc;
            break;
        }
        case TAG_ELSE:
        case TAG_END_IF:
        case TAG_END_EACH:
            *stop = kind == TAG_ELSE ? T_ELSE : kind == TAG_END_IF ? T_END_IF : T_END_EACH;
            *stop_line = tag_line;
            return 0;
        }
    }
}

/* Compiles src whose first byte sits on line first_line of its file. */
static int compile_at(const char *name, const char *src, size_t len, bool html,
                      const ntf_var_spec_t *vars, int first_line, ntf_template_t **out, char *err,
                      size_t errlen)
{
    parser_t p = {.name = name ? name : "template",
                  .src = src,
                  .len = len,
                  .line = first_line,
                  .html = html,
                  .checked = vars != NULL,
                  .err = err,
                  .errlen = errlen};
    p.scopes[0] = vars;
    if (memchr(src, '\0', len))
        return perr(&p, first_line + count_lines(src, (size_t)((const char *)memchr(src, '\0', len) - src)),
                    "NUL byte in template");
    ntf_template_t *t = calloc(1, sizeof *t);
    if (!t)
        return BW_ENOMEM;
    t->html = html;
    t->hint = len;
    stop_t stop;
    int stop_line;
    int rc = parse_nodes(&p, &t->root, &stop, &stop_line);
    if (rc == 0 && stop != T_EOF)
        rc = perr(&p, stop_line, "%s without a matching opening tag",
                  stop == T_ELSE ? "{{else}}" : stop == T_END_IF ? "{{/if}}" : "{{/each}}");
    if (rc < 0) {
        if (rc == BW_ENOMEM)
            snprintf(err, errlen, "%s: out of memory", p.name);
        ntf_template_destroy(&t);
        return rc;
    }
    *out = t;
    return 0;
}

int ntf_template_compile(const char *name, const char *src, size_t len, bool html,
                         const ntf_var_spec_t *vars, ntf_template_t **out, char *err,
                         size_t errlen)
{
    return compile_at(name, src, len, html, vars, 1, out, err, errlen);
}

void ntf_template_destroy(ntf_template_t **pt)
{
    if (!pt || !*pt)
        return;
    nodes_free((*pt)->root);
    free(*pt);
    *pt = NULL;
}

/* --- rendering ---------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
    bool oom;
} out_t;

static void put(out_t *o, const char *s, size_t n)
{
    if (o->oom)
        return;
    if (bw_grow(&o->buf, &o->cap, o->len + n + 1, 256) < 0) {
        o->oom = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* s with HTML's special characters escaped; the runs between them go in
 * whole (a put per byte was a fifth of rendering an invoice e-mail). */
static void put_escaped(out_t *o, const char *s)
{
    for (;;) {
        size_t run = strcspn(s, "&<>\"'");
        put(o, s, run);
        s += run;
        switch (*s) {
        case '\0': return;
        case '&': put(o, "&amp;", 5); break;
        case '<': put(o, "&lt;", 4); break;
        case '>': put(o, "&gt;", 4); break;
        case '"': put(o, "&quot;", 6); break;
        default: put(o, "&#39;", 5); break;
        }
        s++;
    }
}

typedef struct {
    json_object *frames[MAX_DEPTH + 1];
    int depth;
} ctx_t;

static json_object *lookup_value(const ctx_t *c, const char *name, bool *found)
{
    for (int d = c->depth; d >= 0; d--) {
        json_object *v = NULL;
        if (c->frames[d] && json_object_is_type(c->frames[d], json_type_object) &&
            json_object_object_get_ex(c->frames[d], name, &v)) {
            *found = true;
            return v;
        }
    }
    *found = false;
    return NULL;
}

static bool truthy(json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null: return false;
    case json_type_boolean: return json_object_get_boolean(v);
    case json_type_int: return json_object_get_int64(v) != 0;
    case json_type_double: return json_object_get_double(v) != 0.0;
    case json_type_string: return json_object_get_string_len(v) > 0;
    case json_type_array: return json_object_array_length(v) > 0;
    case json_type_object: return true;
    }
    return false;
}

static void render_nodes(const node_t *n, ctx_t *c, bool html, out_t *o)
{
    for (; n; n = n->next) {
        bool found;
        json_object *v;
        switch (n->kind) {
        case N_TEXT:
            put(o, n->text, n->len);
            break;
        case N_VAR:
        case N_RAW:
            v = lookup_value(c, n->text, &found);
            if (v) {
                const char *s = json_object_is_type(v, json_type_string)
                                    ? json_object_get_string(v)
                                    : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
                if (html && n->kind == N_VAR)
                    put_escaped(o, s);
                else
                    put(o, s, strlen(s));
            }
            break;
        case N_IF:
            v = lookup_value(c, n->text, &found);
            render_nodes(truthy(v) ? n->body : n->alt, c, html, o);
            break;
        case N_EACH:
            v = lookup_value(c, n->text, &found);
            if (!v || !json_object_is_type(v, json_type_array) || c->depth == MAX_DEPTH)
                break;
            for (size_t i = 0; i < json_object_array_length(v); i++) {
                c->frames[++c->depth] = json_object_array_get_idx(v, i);
                render_nodes(n->body, c, html, o);
                c->depth--;
            }
            break;
        }
    }
}

int ntf_template_render(const ntf_template_t *t, json_object *vars, char **out)
{
    ctx_t c = {.depth = 0};
    c.frames[0] = vars;
    /* Most of an output is the template's own text: room for that and
     * some variables saves growing the buffer several times per message. */
    out_t o = {.cap = t->hint + t->hint / 2 + 256};
    o.buf = malloc(o.cap);
    o.oom = o.buf == NULL;
    put(&o, "", 0);
    render_nodes(t->root, &c, t->html, &o);
    if (o.oom) {
        free(o.buf);
        return BW_ENOMEM;
    }
    *out = o.buf;
    return 0;
}

/* --- the template directory ---------------------------------------------- */

typedef struct {
    char *type, *channel, *lang;
    bool html;
    ntf_template_t *subject; /* e-mail .txt only */
    ntf_template_t *body;
} entry_t;

struct ntf_templates {
    entry_t *entries;
    size_t n;
};

static void entry_clear(entry_t *e)
{
    free(e->type);
    free(e->channel);
    free(e->lang);
    ntf_template_destroy(&e->subject);
    ntf_template_destroy(&e->body);
}

void ntf_templates_destroy(ntf_templates_t **pt)
{
    if (!pt || !*pt)
        return;
    for (size_t i = 0; i < (*pt)->n; i++)
        entry_clear(&(*pt)->entries[i]);
    free((*pt)->entries);
    free(*pt);
    *pt = NULL;
}

size_t ntf_templates_count(const ntf_templates_t *t) { return t->n; }

static const entry_t *find_entry(const ntf_templates_t *t, const char *type, const char *channel,
                                 const char *lang, bool html)
{
    for (size_t i = 0; i < t->n; i++) {
        const entry_t *e = &t->entries[i];
        if (e->html == html && strcmp(e->type, type) == 0 && strcmp(e->channel, channel) == 0 &&
            strcasecmp(e->lang, lang) == 0)
            return e;
    }
    return NULL;
}

bool ntf_templates_has(const ntf_templates_t *t, const char *type, const char *channel,
                       const char *lang)
{
    return find_entry(t, type, channel, lang, false) || find_entry(t, type, channel, lang, true);
}

/* Collects problems one per line while there is room. */
typedef struct {
    char *buf;
    size_t len, cap;
    int count;
} errs_t;

static void errs_add(errs_t *e, const char *msg)
{
    e->count++;
    if (!e->cap || e->len + 2 >= e->cap)
        return;
    int n = snprintf(e->buf + e->len, e->cap - e->len, "%s%s", e->len ? "\n" : "", msg);
    if (n > 0)
        e->len += (size_t)n < e->cap - e->len ? (size_t)n : e->cap - e->len - 1;
}

static bool lang_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 15 || !islower((unsigned char)s[0]) || !islower((unsigned char)s[1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return true;
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return BW_EIO;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 20)) { /* templates are small; this is not one */
                free(buf);
                fclose(f);
                return BW_ETOOBIG;
            }
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return BW_ENOMEM;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return BW_EIO;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Compiles one file into e; a problem goes into errs. */
static void load_one(const char *dir, const char *file, entry_t *e, errs_t *errs)
{
    char path[1024], msg[2048];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *copy = strdup(file);
    if (!copy) {
        errs_add(errs, "out of memory");
        return;
    }
    char *parts[5] = {0};
    int np = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ".", &save); tok && np < 5;
         tok = strtok_r(NULL, ".", &save))
        parts[np++] = tok;
    char *src = NULL;
    size_t len = 0;
    if (np != 4) {
        snprintf(msg, sizeof msg, "%s:1: name must be <message_type>.<channel>.<lang>.<ext>",
                 path);
        errs_add(errs, msg);
        goto done;
    }
    const ntf_message_type_t *mt = ntf_message_type_find(parts[0]);
    if (!mt) {
        snprintf(msg, sizeof msg, "%s:1: unknown message type '%s'", path, parts[0]);
        errs_add(errs, msg);
        goto done;
    }
    if (!name_ok(parts[1], strlen(parts[1])) || !lang_ok(parts[2])) {
        snprintf(msg, sizeof msg, "%s:1: bad channel '%s' or language '%s'", path, parts[1],
                 parts[2]);
        errs_add(errs, msg);
        goto done;
    }
    int rc = read_file(path, &src, &len);
    if (rc < 0) {
        snprintf(msg, sizeof msg, "%s:1: cannot read: %s", path, bw_strerror(rc));
        errs_add(errs, msg);
        goto done;
    }
    e->html = strcmp(parts[3], "html") == 0;
    const char *body = src;
    size_t body_len = len;
    int first_line = 1;
    if (strcmp(parts[1], "email") == 0 && !e->html) {
        /* "Subject: ..." first; one blank line after it is decoration. */
        const char *nl = memchr(src, '\n', len);
        size_t l1 = nl ? (size_t)(nl - src) : len;
        if (l1 < 8 || strncmp(src, "Subject:", 8) != 0) {
            snprintf(msg, sizeof msg, "%s:1: e-mail text templates start with 'Subject: ...'",
                     path);
            errs_add(errs, msg);
            goto done;
        }
        const char *s = src + 8;
        while (s < src + l1 && *s == ' ')
            s++;
        size_t slen = (size_t)(src + l1 - s);
        while (slen && (s[slen - 1] == '\r' || s[slen - 1] == ' '))
            slen--;
        rc = ntf_template_compile(path, s, slen, false, mt->vars, &e->subject, msg, sizeof msg);
        if (rc < 0) {
            errs_add(errs, msg);
            goto done;
        }
        body = nl ? nl + 1 : src + len;
        first_line = 2;
        if (body < src + len && *body == '\n') {
            body++;
            first_line = 3;
        }
        body_len = (size_t)(src + len - body);
    }
    rc = compile_at(path, body, body_len, e->html, mt->vars, first_line, &e->body, msg,
                    sizeof msg);
    if (rc < 0) {
        errs_add(errs, msg);
        goto done;
    }
    e->type = strdup(parts[0]);
    e->channel = strdup(parts[1]);
    e->lang = strdup(parts[2]);
    if (!e->type || !e->channel || !e->lang)
        errs_add(errs, "out of memory");
done:
    free(src);
    free(copy);
}

static int tpl_filter(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    if (d->d_name[0] == '.')
        return 0;
    return (n > 4 && strcmp(d->d_name + n - 4, ".txt") == 0) ||
           (n > 5 && strcmp(d->d_name + n - 5, ".html") == 0);
}

int ntf_templates_load(const char *dir, ntf_templates_t **out, char *err, size_t errlen)
{
    errs_t errs = {.buf = err, .cap = errlen};
    if (errlen)
        err[0] = '\0';
    struct dirent **names = NULL;
    int n = scandir(dir, &names, tpl_filter, alphasort);
    if (n < 0) {
        snprintf(err, errlen, "%s: cannot read template directory: %s", dir, strerror(errno));
        return BW_EIO;
    }
    ntf_templates_t *t = calloc(1, sizeof *t);
    if (t && n > 0)
        t->entries = calloc((size_t)n, sizeof *t->entries);
    if (!t || (n > 0 && !t->entries)) {
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
        if (t)
            free(t);
        snprintf(err, errlen, "out of memory");
        return BW_ENOMEM;
    }
    for (int i = 0; i < n; i++) {
        entry_t e = {0};
        int before = errs.count;
        load_one(dir, names[i]->d_name, &e, &errs);
        if (errs.count == before)
            t->entries[t->n++] = e;
        else
            entry_clear(&e);
        free(names[i]);
    }
    free(names);
    /* An HTML e-mail takes its subject and text part from its .txt twin. */
    for (size_t i = 0; i < t->n; i++) {
        const entry_t *e = &t->entries[i];
        if (e->html && strcmp(e->channel, "email") == 0 &&
            !find_entry(t, e->type, e->channel, e->lang, false)) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s/%s.email.%s.html:1: has no %s.email.%s.txt (subject and text part)",
                     dir, e->type, e->lang, e->type, e->lang);
            errs_add(&errs, msg);
        }
    }
    if (errs.count) {
        ntf_templates_destroy(&t);
        return BW_EINVAL;
    }
    *out = t;
    return 0;
}

/* The language to use for type/channel: lang, a sibling, or "en". */
static const char *pick_lang(const ntf_templates_t *t, const char *type, const char *channel,
                             const char *lang)
{
    if (lang && ntf_templates_has(t, type, channel, lang))
        return lang;
    if (lang) {
        size_t base = strcspn(lang, "-_");
        for (size_t i = 0; i < t->n; i++) {
            const entry_t *e = &t->entries[i];
            if (strcmp(e->type, type) == 0 && strcmp(e->channel, channel) == 0 &&
                strncasecmp(e->lang, lang, base) == 0 && strcspn(e->lang, "-_") == base)
                return e->lang;
        }
    }
    return ntf_templates_has(t, type, channel, "en") ? "en" : NULL;
}

int ntf_templates_render(const ntf_templates_t *t, const char *type, const char *channel,
                         const char *lang, json_object *vars, ntf_rendered_t *out)
{
    memset(out, 0, sizeof *out);
    const char *use = pick_lang(t, type, channel, lang);
    if (!use)
        return BW_ENOTFOUND;
    snprintf(out->lang, sizeof out->lang, "%s", use);
    const entry_t *txt = find_entry(t, type, channel, use, false);
    const entry_t *html = find_entry(t, type, channel, use, true);
    int rc = 0;
    if (txt && txt->subject)
        rc = ntf_template_render(txt->subject, vars, &out->subject);
    if (rc == 0 && txt)
        rc = ntf_template_render(txt->body, vars, &out->text);
    if (rc == 0 && html)
        rc = ntf_template_render(html->body, vars, &out->html);
    if (rc < 0)
        ntf_rendered_clear(out);
    return rc;
}

void ntf_rendered_clear(ntf_rendered_t *r)
{
    free(r->subject);
    free(r->text);
    free(r->html);
    memset(r, 0, sizeof *r);
}

/* --- SMS length ------------------------------------------------------------ */

/* Decodes one UTF-8 character; invalid bytes count as U+FFFD, one byte. */
static uint32_t utf8_next(const unsigned char **ps)
{
    const unsigned char *s = *ps;
    uint32_t c = s[0];
    int n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : -1;
    if (n < 0) {
        *ps = s + 1;
        return 0xFFFD;
    }
    c = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *ps = s + 1;
            return 0xFFFD;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    *ps = s + n + 1;
    return c;
}

/* Septets a character takes in GSM 03.38: 1 (basic), 2 (extension), 0 (none). */
static int gsm7_septets(uint32_t c)
{
    static const char ascii_basic[] =
        "@$\n\r _!\"#%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static const uint32_t other_basic[] = {0xA3, 0xA5, 0xE8, 0xE9, 0xF9, 0xEC, 0xF2, 0xC7, 0xD8,
                                           0xF8, 0xC5, 0xE5, 0x394, 0x3A6, 0x393, 0x39B, 0x3A9,
                                           0x3A0, 0x3A8, 0x3A3, 0x398, 0x39E, 0xC6, 0xE6, 0xDF,
                                           0xC9, 0xA4, 0xA1, 0xC4, 0xD6, 0xD1, 0xDC, 0xA7, 0xBF,
                                           0xE4, 0xF6, 0xF1, 0xFC, 0xE0};
    if (c && c < 0x80) {
        if (strchr(ascii_basic, (int)c))
            return 1;
        return strchr("^{}\\[~]|\f", (int)c) ? 2 : 0;
    }
    if (c == 0x20AC) /* euro sign */
        return 2;
    for (size_t i = 0; i < sizeof other_basic / sizeof other_basic[0]; i++)
        if (other_basic[i] == c)
            return 1;
    return 0;
}

static size_t segments_for(bool ucs2, size_t units, size_t *per)
{
    size_t single = ucs2 ? 70 : 160, multi = ucs2 ? 67 : 153;
    if (units <= single) {
        *per = single;
        return units ? 1 : 0;
    }
    *per = multi;
    return (units + multi - 1) / multi;
}

void ntf_sms_measure(const char *utf8, ntf_sms_info_t *out)
{
    memset(out, 0, sizeof *out);
    size_t septets = 0, utf16 = 0;
    bool gsm = true;
    for (const unsigned char *s = (const unsigned char *)utf8; *s;) {
        uint32_t c = utf8_next(&s);
        int sep = gsm7_septets(c);
        if (!sep)
            gsm = false;
        septets += (size_t)sep;
        utf16 += c > 0xFFFF ? 2 : 1;
    }
    out->ucs2 = !gsm;
    out->units = gsm ? septets : utf16;
    out->segments = segments_for(out->ucs2, out->units, &out->per_segment);
}

size_t ntf_sms_truncate(char *utf8, size_t max_segments)
{
    ntf_sms_info_t info;
    ntf_sms_measure(utf8, &info);
    if (info.segments <= max_segments)
        return strlen(utf8);
    size_t limit = max_segments == 0 ? 0
                   : max_segments == 1 ? (info.ucs2 ? 70 : 160)
                                       : max_segments * (info.ucs2 ? 67 : 153);
    size_t units = 0;
    const unsigned char *s = (const unsigned char *)utf8;
    while (*s) {
        const unsigned char *at = s;
        uint32_t c = utf8_next(&s);
        size_t u = info.ucs2 ? (c > 0xFFFF ? 2 : 1) : (size_t)gsm7_septets(c);
        if (units + u > limit) {
            s = at;
            break;
        }
        units += u;
    }
    size_t len = (size_t)((const char *)s - utf8);
    utf8[len] = '\0';
    return len;
}
