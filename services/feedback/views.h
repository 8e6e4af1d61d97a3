/* What feedback keeps of other services' events: accounts (AccountChanged),
 * issued invoices and their fee items (InvoiceIssued), price changes and the
 * accounts they were announced to (PriceChangeAnnounced), credit notes
 * issued for tickets (CreditNoteIssued), and deliveries of ticket replies
 * (NoticeDelivered / NotificationFailed). Applied inside the consumer's
 * transaction; every apply is idempotent by key or event id, so a replayed
 * batch changes nothing. */
#ifndef FB_VIEWS_H
#define FB_VIEWS_H

#include "consumer.h"

/* bw_consumer_apply_fn for the invoicing, rating and notification streams. */
int fb_views_from_invoicing(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                            bw_arena_t *arena);
int fb_views_from_rating(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                         bw_arena_t *arena);
int fb_views_from_notification(void *arg, bw_db_t *db, Billow__StreamEvent *const *evs, size_t n,
                               bw_arena_t *arena);

#endif
