/* billctl commands served by the rating service. */
#include "cli.h"

const billctl_cmd_t billctl_rating_cmds[] = {
    {NULL, NULL, NULL, NULL, NULL},
};
