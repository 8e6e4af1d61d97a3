/* Billing accounts: the customers invoicing bills, with their currency,
 * cycle, payment terms, tier, tax profile, language and contacts. Every
 * change is written with an AccountChanged event in the same transaction;
 * the other services build their view of accounts from those events. */
#ifndef INV_ACCOUNTS_H
#define INV_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;

/* Validates a complete account (defaults already applied); on failure
 * returns BW_EINVAL with "field: reason" in err. */
int inv_account_validate(const Billow__AccountChanged *a, char *err, size_t errlen);
/* Fills empty fields of a new account with their defaults. */
void inv_account_defaults(Billow__AccountChanged *a);

/* The request handlers: fill reply (code, error, body) from arena memory;
 * return true when state changed. `cause` is the request id. */
bool inv_account_upsert(bw_db_t *db, const Billow__AccountUpsert *req, const char *cause,
                        Billow__Reply *reply, bw_arena_t *arena);
void inv_account_get(bw_db_t *db, const Billow__AccountGet *req, Billow__Reply *reply,
                     bw_arena_t *arena);
void inv_account_list(bw_db_t *db, const Billow__AccountList *req, Billow__Reply *reply,
                      bw_arena_t *arena);
bool inv_account_import(bw_db_t *db, const Billow__AccountImport *req, const char *cause,
                        Billow__Reply *reply, bw_arena_t *arena);

/* Reads accounts by id into a[] (arena strings); *found counts them. */
int inv_account_load(bw_db_t *db, const char *id, Billow__AccountChanged *out, bw_arena_t *arena);

#endif
