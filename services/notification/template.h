/* Message templates: the files under services/notification/templates/,
 * named <message_type>.<channel>.<lang>.<ext> (invoice_issued.email.en.html,
 * invoice_issued.sms.zh-CN.txt), rendered with values from a json-c object.
 *
 * Syntax: {{var}} (HTML-escaped in .html templates, as is in .txt),
 * {{{var}}} (never escaped: for trusted pre-rendered HTML such as the
 * invoice document), {{#if var}}..{{else}}..{{/if}}, {{#each list}}..{{/each}}
 * over an array of objects (inside, names resolve to the item's fields
 * first, then outwards), {{! comment }}. A block tag alone on its line takes
 * the line with it, so text templates need no blank-line gymnastics.
 *
 * Every message type declares the variables its templates may use (the
 * table in template.c, ntf_message_types); loading checks every template
 * against it and reports syntax errors and unknown variables as
 * "file:line: reason". E-mail .txt templates start with "Subject: ..." on
 * their first line (itself a template); the .html part takes its subject
 * from the .txt, which must exist. */
#ifndef NTF_TEMPLATE_H
#define NTF_TEMPLATE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* One variable a message type offers; fields != NULL makes it a list of
 * records with those fields (NULL-name terminated). */
typedef struct ntf_var_spec {
    const char *name;
    const struct ntf_var_spec *fields;
} ntf_var_spec_t;

typedef struct {
    const char *type; /* "invoice_issued" */
    const ntf_var_spec_t *vars; /* NULL-name terminated */
} ntf_message_type_t;

/* Every message type, terminated by an entry whose type is NULL. */
extern const ntf_message_type_t ntf_message_types[];
/* The entry for type, or NULL. */
const ntf_message_type_t *ntf_message_type_find(const char *type);

typedef struct ntf_template ntf_template_t;

/* Compiles src (len bytes; need not be NUL-terminated). name is used in
 * errors ("name:line: reason"); html turns on escaping of {{var}}; vars,
 * when not NULL, is the set of names the template may use. Returns 0, or
 * BW_EINVAL with the reason in err, or BW_ENOMEM. */
int ntf_template_compile(const char *name, const char *src, size_t len, bool html,
                         const ntf_var_spec_t *vars, ntf_template_t **out, char *err,
                         size_t errlen);
/* Renders with values from vars (an object, or NULL); *out is malloc'd and
 * the caller's. A variable missing from vars renders as "". */
int ntf_template_render(const ntf_template_t *t, json_object *vars, char **out);
void ntf_template_destroy(ntf_template_t **pt);

typedef struct ntf_templates ntf_templates_t;

/* Loads and checks every *.txt and *.html file in dir. On failure err holds
 * one "file:line: reason" per problem found (as many as fit) and nothing
 * is returned: a service must not start with a broken template. */
int ntf_templates_load(const char *dir, ntf_templates_t **out, char *err, size_t errlen);
void ntf_templates_destroy(ntf_templates_t **pt);
/* Template files loaded. */
size_t ntf_templates_count(const ntf_templates_t *t);
/* Whether type/channel has a template in exactly lang. */
bool ntf_templates_has(const ntf_templates_t *t, const char *type, const char *channel,
                       const char *lang);

/* A rendered message; strings are malloc'd, NULL when the channel has none. */
typedef struct {
    char *subject; /* e-mail only */
    char *text;
    char *html;
    char lang[16]; /* the language actually used after fallback */
} ntf_rendered_t;

/* Renders type for channel in lang, falling back to another variant of the
 * same language (zh-TW -> zh-CN), then to "en". BW_ENOTFOUND when no
 * template fits. Clear out with ntf_rendered_clear whatever it returns. */
int ntf_templates_render(const ntf_templates_t *t, const char *type, const char *channel,
                         const char *lang, json_object *vars, ntf_rendered_t *out);
void ntf_rendered_clear(ntf_rendered_t *r);

/* SMS length: GSM-7 when every character is in the GSM 03.38 alphabet
 * (extension characters such as { } [ ] ~ ^ \ | and the euro sign count two
 * septets), else UCS-2 in UTF-16 units. One segment holds 160 septets or 70
 * units; a concatenated message 153 or 67 per segment. */
typedef struct {
    bool ucs2;
    size_t units;       /* septets (GSM-7) or UTF-16 code units (UCS-2) */
    size_t segments;    /* 0 for an empty text */
    size_t per_segment; /* 160/153 or 70/67, for the count above */
} ntf_sms_info_t;

void ntf_sms_measure(const char *utf8, ntf_sms_info_t *out);
/* Cuts utf8 in place at a character boundary so that it fits in
 * max_segments; returns its new length in bytes. */
size_t ntf_sms_truncate(char *utf8, size_t max_segments);

#endif
