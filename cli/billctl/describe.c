/* billctl SERVICE describe: the operations a running service supports, read
 * from its own descriptors (useful when billctl and a service differ in
 * version). */
#include "cli.h"
#include "pbjson.h"

#include <stdio.h>
#include <string.h>

static int run(cli_t *cli, const char *service, Billow__Request *req)
{
    Billow__Reply *r = cli_call(cli, service, req);
    if (!r)
        return CLI_FAIL;
    int rc = CLI_FAIL;
    if (cli_reply_ok(cli, r)) {
        json_object *o = bw_pb_to_json(&r->base);
        json_object *body = NULL, *desc = NULL, *ops = NULL;
        if (json_object_object_get_ex(o, service, &body) &&
            json_object_object_get_ex(body, "description", &desc) &&
            json_object_object_get_ex(desc, "operations", &ops)) {
            if (cli->json) {
                cli_print_json(json_object_get(desc));
            } else {
                for (size_t i = 0; i < json_object_array_length(ops); i++)
                    printf("%s\n", json_object_get_string(json_object_array_get_idx(ops, i)));
            }
            rc = CLI_OK;
        } else {
            fprintf(stderr, "billctl: %s sent no description\n", service);
        }
        json_object_put(o);
    }
    billow__reply__free_unpacked(r, NULL);
    return rc;
}

#define DESCRIBE(svc, Type, TYPE)                                                                  \
    static int describe_##svc(cli_t *cli, int argc, char **argv)                                   \
    {                                                                                              \
        (void)argv;                                                                                \
        if (argc)                                                                                  \
            return CLI_USAGE;                                                                      \
        Billow__Request req = BILLOW__REQUEST__INIT;                                               \
        Billow__##Type##Request sub = BILLOW__##TYPE##_REQUEST__INIT;                              \
        Billow__##Type##Describe d = BILLOW__##TYPE##_DESCRIBE__INIT;                              \
        sub.op_case = BILLOW__##TYPE##_REQUEST__OP_DESCRIBE;                                       \
        sub.describe = &d;                                                                         \
        req.body_case = BILLOW__REQUEST__BODY_##TYPE;                                              \
        req.svc = &sub;                                                                            \
        return run(cli, #svc, &req);                                                               \
    }

DESCRIBE(rating, Rating, RATING)
DESCRIBE(invoicing, Invoicing, INVOICING)
DESCRIBE(notification, Notification, NOTIFICATION)
DESCRIBE(feedback, Feedback, FEEDBACK)

const billctl_cmd_t billctl_describe_cmds[] = {
    {"rating", "describe", "", "list the operations the rating service supports", describe_rating},
    {"invoicing", "describe", "", "list the operations the invoicing service supports", describe_invoicing},
    {"notification", "describe", "", "list the operations the notification service supports",
     describe_notification},
    {"feedback", "describe", "", "list the operations the feedback service supports", describe_feedback},
    {NULL, NULL, NULL, NULL, NULL},
};
