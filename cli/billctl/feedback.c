/* billctl commands served by the feedback service. */
#include "cli.h"

const billctl_cmd_t billctl_feedback_cmds[] = {
    {NULL, NULL, NULL, NULL, NULL},
};
