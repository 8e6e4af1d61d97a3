/* billctl pricechange commands. */
#include "cli.h"

const billctl_cmd_t billctl_pricechange_cmds[] = {
    {NULL, NULL, NULL, NULL, NULL},
};
