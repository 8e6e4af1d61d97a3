/* billctl commands served by the notification service. */
#include "cli.h"

const billctl_cmd_t billctl_notification_cmds[] = {
    {NULL, NULL, NULL, NULL, NULL},
};
