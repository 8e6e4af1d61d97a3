/* Contacts and preferences per account: addresses per channel, language,
 * the fallback order of channels and opt-outs. Built from invoicing's
 * AccountChanged and edited by operators (billctl contact set). Rule: a
 * field an operator set is never overwritten by a later AccountChanged
 * until the operator releases it; legally required notices cannot be opted
 * out of. */
#ifndef NTF_CONTACTS_H
#define NTF_CONTACTS_H

#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"
#include "events.pb-c.h"
#include "jsonrows.h"

typedef struct bw_db bw_db_t;

#define NTF_MAX_CHANNELS 3

typedef struct {
    bool found;
    const char *name, *email, *phone, *webhook_url, *language;
    const char *channels[NTF_MAX_CHANNELS];
    size_t n_channels;
    const char *opt_outs[16];
    size_t n_opt_outs;
} ntf_contact_t;

/* AccountChanged events gathered and applied with one statement inside the
 * caller's transaction (replays and older versions are harmless). Add in
 * stream order; flush before anything that reads contacts and at the end
 * of the batch. add: 0 or BW_ENOMEM; flush: 0, BW_EDB or BW_EUNAVAIL. */
typedef bw_jsonrows_t ntf_contacts_batch_t;
int ntf_contacts_add(ntf_contacts_batch_t *b, const Billow__AccountChanged *ac, const char *cause);
int ntf_contacts_flush(bw_db_t *db, ntf_contacts_batch_t *b);
void ntf_contacts_batch_clear(ntf_contacts_batch_t *b);
/* Loads the contact of account (c->found false when there is none; the
 * defaults are filled in then). Strings come from arena. 0 or BW_EDB. */
int ntf_contact_load(bw_db_t *db, const char *account_id, ntf_contact_t *c, bw_arena_t *arena);
/* ntf_contact_load for n accounts with one query: out[i] is accounts[i]'s.
 * 0, BW_EDB or BW_ENOMEM. */
int ntf_contacts_load_many(bw_db_t *db, const char *const *accounts, size_t n, ntf_contact_t *out,
                           bw_arena_t *arena);
/* The contact's address on channel ("" when none). */
const char *ntf_contact_address(const ntf_contact_t *c, const char *channel);
/* Whether type may be opted out of (false for legally required notices). */
bool ntf_type_optional(const char *type);
bool ntf_contact_opted_out(const ntf_contact_t *c, const char *type);

/* API: contact_set (true when it changed state) and contact_get. */
bool ntf_contact_set(bw_db_t *db, const Billow__ContactSet *req, const char *cause,
                     Billow__Reply *reply, bw_arena_t *arena);
void ntf_contact_get(bw_db_t *db, const Billow__ContactGet *req, Billow__Reply *reply,
                     bw_arena_t *arena);

#endif
