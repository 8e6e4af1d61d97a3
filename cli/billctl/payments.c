/* billctl payments commands. */
#include "cli.h"

const billctl_cmd_t billctl_payments_cmds[] = {
    {NULL, NULL, NULL, NULL, NULL},
};
