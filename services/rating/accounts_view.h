/* Rating's view of billing accounts, built from invoicing's AccountChanged
 * events: id, currency, cycle, anchor day, customer tier, language, status
 * and the date rating first heard of the account. A replayed or older event
 * (lower version) changes nothing. */
#ifndef RT_ACCOUNTS_VIEW_H
#define RT_ACCOUNTS_VIEW_H

#include <stdint.h>

#include "arena.h"
#include "events.pb-c.h"
#include "stream.pb-c.h"

typedef struct bw_db bw_db_t;

typedef struct {
    char *id, *currency, *cycle, *tier, *language, *status;
    int anchor_day;
    int64_t created_on; /* days */
} rt_account_t;

/* Applies one AccountChanged inside the consumer's transaction: 0 or BW_EDB. */
int rt_accounts_apply(bw_db_t *db, const Billow__StreamEvent *se, const Billow__AccountChanged *ac);
/* Reads one account (arena strings): 0, BW_ENOTFOUND or BW_EDB. */
int rt_account_get(bw_db_t *db, const char *id, rt_account_t *out, bw_arena_t *a);

#endif
