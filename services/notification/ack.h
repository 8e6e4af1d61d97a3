/* Acknowledgements of notices that need the customer's confirmation
 * (fee-change notices): the unguessable token the notice carries is
 * recorded once; the first acknowledgement cancels the pending reminders
 * and emits NoticeAcknowledged in the same transaction, a second one says
 * "already acknowledged" and changes nothing. */
#ifndef NTF_ACK_H
#define NTF_ACK_H

#include <stdbool.h>

#include "api.pb-c.h"
#include "arena.h"

typedef struct bw_db bw_db_t;

/* API notice_ack; true when it changed state. */
bool ntf_ack(bw_db_t *db, const Billow__NoticeAck *req, const char *cause, Billow__Reply *reply,
             bw_arena_t *arena);

#endif
