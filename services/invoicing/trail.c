/* Appending to the audit trail; see trail.h. */
#include "invoicing/trail.h"

#include "db.h"

static const char SQL_TRAIL[] =
    "INSERT INTO trail (actor, cause, entity, entity_id, action, detail)"
    " VALUES ($1, $2, $3, $4, $5, $6)";

int inv_trail(bw_db_t *db, const char *actor, const char *cause, const char *entity,
              const char *entity_id, const char *action, const char *detail)
{
    const char *p[6] = {actor && *actor ? actor : "unknown", cause ? cause : "", entity,
                        entity_id, action, detail ? detail : ""};
    return bw_db_exec(db, SQL_TRAIL, 6, p);
}
