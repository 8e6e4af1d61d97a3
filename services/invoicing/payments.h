/* Payments (DESIGN.md §1 [collect] [invoice]): recording a payment against
 * an invoice or an account, allocating it to open invoices, holding what is
 * left as account credit that the next issued invoice consumes, refunds,
 * and receipts with their own gap-free numbers (RCP-YYYYMM-NNNNNN).
 *
 * Also the helpers the other money modules share (credit notes,
 * reconciliation, approvals, dunning): the reply body, the request
 * transaction, number allocation, allocation and invoice status refresh.
 * Every mutation writes trail rows (trail.h) in the same transaction. */
#ifndef INV_PAYMENTS_H
#define INV_PAYMENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.pb-c.h"
#include "arena.h"
#include "invoicing/numbering.h"

typedef struct bw_db bw_db_t;

/* Who acts and why, for trail rows and caused_by columns. */
typedef struct {
    const char *actor; /* operator name, "unknown", or "feedback:<who>" */
    const char *cause; /* "request:<id>" or "event:<id>" */
} inv_actor_t;

/* --- shared helpers ------------------------------------------------------ */

/* Sets reply's body to a new PaymentsReply (arena memory) and returns it. */
Billow__PaymentsReply *inv_pay_reply(Billow__Reply *reply, bw_arena_t *a);
/* Logs and replies with the database error (UNAVAILABLE when lost). */
void inv_pay_db_error(Billow__Reply *reply, bw_db_t *db, const char *what, bw_arena_t *a);
/* Opens the handler's transaction (nested inside the RPC layer's when the
 * request is keyed); 0 or replies UNAVAILABLE and returns BW_EDB. */
int inv_pay_begin(bw_db_t *db, Billow__Reply *reply);
/* Ends it: rolls back when reply is an error, else commits. Returns
 * `changed` when committed, false otherwise (reply then says why). */
bool inv_pay_end(bw_db_t *db, Billow__Reply *reply, bool changed);

/* Takes the next number of a series for a document issued on day (days
 * since 1970-01-01) inside the caller's transaction: the counter row in
 * number_series moves with the document, so numbers are gap-free. Fills
 * num (INV_DOCNO_LEN), key (INV_SERIES_KEY_LEN) and *seq. 0 or BW_EDB. */
int inv_number_take(bw_db_t *db, inv_series_t series, int64_t day, char *num, char *key,
                    long long *seq);

/* Allocates up to `avail` minor units from a source (a payment id when
 * is_payment, else a credit-note number) to open invoices of account: to
 * `invoice` alone when not NULL/empty, otherwise oldest due first. Updates
 * the invoices' settled amounts and statuses, the source's unallocated
 * amount, and the trail. *used gets the amount allocated. 0 or BW_EDB. */
int inv_pay_allocate(bw_db_t *db, const char *account, const char *invoice, bool is_payment,
                     const char *source, int64_t avail, const inv_actor_t *who, int64_t *used);
/* Recomputes the status of the invoices in `numbers` (a text[] literal)
 * from their settled amounts and due dates, trailing each change. */
int inv_pay_refresh_status(bw_db_t *db, const char *numbers, const inv_actor_t *who);

/* The approval threshold (BILLOW_APPROVAL_THRESHOLD, major units) in minor
 * units of currency; INT64_MAX when unset or the currency is unknown. */
int64_t inv_pay_threshold(const char *currency);

/* Reads settings; BW_EINVAL when one does not parse. */
int inv_payments_init(void);

/* Invoices.c calls this after writing a batch of issued invoices (the
 * accounts as a text[] literal of ids): one query finds the accounts that
 * hold credit, which is then allocated to their open invoices (the new ones
 * included). 0 or BW_EDB. */
int inv_pay_on_issued(bw_db_t *db, const char *accounts);

/* --- recording ----------------------------------------------------------- */

typedef struct {
    const char *invoice;     /* may be "" */
    const char *account;     /* may be "" when invoice is set */
    int64_t amount_minor;    /* when amount is NULL */
    const char *amount;      /* decimal major units, or NULL */
    const char *method;
    const char *reference;
    int64_t received_us;
    const char *source;      /* manual | statement */
} inv_payment_in_t;

typedef struct {
    char id[48];
    char receipt[INV_DOCNO_LEN];
    char account[72];
    char currency[8];
    int64_t amount_minor;
    int64_t allocated_minor;
} inv_payment_out_t;

/* Records a payment inside the caller's transaction, allocates it and emits
 * PaymentReceived. Returns 0, or a BW_E code with a short reason in err:
 * BW_EINVAL, BW_ENOTFOUND (invoice/account), BW_ECONFLICT (duplicate
 * reference), BW_EDB. */
int inv_payment_create(bw_db_t *db, const inv_payment_in_t *in, const inv_actor_t *who,
                       inv_payment_out_t *out, char *err, size_t errlen);

/* Request handlers (return true when state changed). approved_by is the
 * approver when an approval executes the request, else NULL. */
bool inv_payment_record(bw_db_t *db, const Billow__PaymentRecord *req, const inv_actor_t *who,
                        Billow__Reply *reply, bw_arena_t *a);
bool inv_payment_refund(bw_db_t *db, const Billow__PaymentRefund *req, const inv_actor_t *who,
                        const char *approved_by, Billow__Reply *reply, bw_arena_t *a);
void inv_receipt_get(bw_db_t *db, const Billow__ReceiptGet *req, Billow__Reply *reply,
                     bw_arena_t *a);

#endif
