/* Writing events into the caller's outbox (DESIGN.md §3, step 1). Must be
 * called inside the caller's transaction, as late as possible before its
 * commit: it takes the schema's outbox lock, which is held until commit so
 * that sequence numbers become visible in order (a consumer that has seen
 * seq N can never later see a smaller one appear). */
#ifndef BW_OUTBOX_H
#define BW_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "events.pb-c.h"

typedef struct bw_db bw_db_t;

typedef struct {
    const char *type;           /* "AccountRated" */
    const char *partition_key;  /* account id; NULL: partition 0 */
    const uint8_t *payload;     /* packed billow.Event */
    size_t len;
    const char *caused_by;      /* request or event id; may be NULL */
    char event_id[37];          /* filled in when empty */
} bw_outbox_event_t;

/* Appends n events with one COPY. Returns 0, BW_EDB or BW_EINVAL (not in a
 * transaction). */
int bw_outbox_append(bw_db_t *db, bw_outbox_event_t *evs, size_t n);
/* Packs and appends one event; the type name comes from the oneof case. */
int bw_outbox_emit(bw_db_t *db, const Billow__Event *ev, const char *partition_key,
                   const char *caused_by);
/* The name of an event's type ("AccountRated"), or NULL when unset. */
const char *bw_event_type_name(const Billow__Event *ev);

#endif
