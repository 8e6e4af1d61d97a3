/* billctl commands served by the invoicing service. */
#include "cli.h"

const billctl_cmd_t billctl_invoicing_cmds[] = {
    {NULL, NULL, NULL, NULL, NULL},
};
