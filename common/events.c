/* Event decoding for consumers. */
#include "events.h"
#include "log.h"

int bw_events_apply(bw_db_t *db, Billow__StreamEvent *const *evs, size_t n, bw_arena_t *arena,
                    bw_event_fn fn, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        const Billow__StreamEvent *se = evs[i];
        Billow__Event *ev =
            billow__event__unpack(bw_arena_pb(arena), se->payload.len, se->payload.data);
        if (!ev || ev->body_case == BILLOW__EVENT__BODY__NOT_SET) {
            bw_log(BW_WARN, "skipping undecodable event", "seq", BW_I(se->seq), "type",
                   BW_S(se->type), "event_id", BW_S(se->event_id), NULL);
            continue;
        }
        if (!fn)
            continue;
        int rc = fn(arg, db, se, ev, arena);
        if (rc < 0)
            return rc;
    }
    return 0;
}
