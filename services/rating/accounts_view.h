/* Rating's view of billing accounts, built from invoicing's AccountChanged
 * events: id, currency, cycle, anchor day, customer tier, language, status
 * and the date rating first heard of the account. A replayed or older event
 * (lower version) changes nothing. */
#ifndef RT_ACCOUNTS_VIEW_H
#define RT_ACCOUNTS_VIEW_H

#include <stdint.h>

#include "arena.h"
#include "jsonrows.h"
#include "events.pb-c.h"
#include "stream.pb-c.h"

typedef struct bw_db bw_db_t;

typedef struct {
    char *id, *currency, *cycle, *tier, *language, *status;
    int anchor_day;
    int64_t created_on; /* days */
} rt_account_t;

/* A batch of AccountChanged events applied with one statement. Events are
 * added in stream order; flush before anything that reads the accounts
 * (a BillRunStarted in the same batch) and at the end of the batch. */
typedef bw_jsonrows_t rt_accounts_batch_t;

/* Adds one event (one without id or currency is logged and skipped): 0 or
 * BW_ENOMEM. */
int rt_accounts_add(rt_accounts_batch_t *b, const Billow__StreamEvent *se,
                    const Billow__AccountChanged *ac);
/* Applies what was added inside the consumer's transaction and empties the
 * batch: 0 or BW_EDB. */
int rt_accounts_flush(bw_db_t *db, rt_accounts_batch_t *b);
void rt_accounts_batch_clear(rt_accounts_batch_t *b);
/* Reads one account (arena strings): 0, BW_ENOTFOUND or BW_EDB. */
int rt_account_get(bw_db_t *db, const char *id, rt_account_t *out, bw_arena_t *a);

#endif
