/* billctl: the operator and scripting client of every Billow service. This
 * file holds the command dispatch and the helpers every command shares;
 * each noun's commands live in their own file. */
#include "cli.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static const billctl_cmd_t *const tables[] = {
    billctl_status_cmds,
    billctl_describe_cmds,
    billctl_rating_cmds,
    billctl_invoicing_cmds,
    billctl_notification_cmds,
    billctl_feedback_cmds,
    NULL,
};

Billow__Reply *cli_call(cli_t *cli, const char *service, Billow__Request *req)
{
    char ep[256];
    if (bw_endpoint(service, "api", 0, ep, sizeof ep) < 0) {
        fprintf(stderr, "billctl: no endpoint for %s\n", service);
        return NULL;
    }
    if (cli->operator_name)
        req->operator_ = (char *)cli->operator_name;
    Billow__Reply *reply = NULL;
    int rc = bw_rpc_call(cli->zctx, ep, req, cli->timeout_ms, &reply);
    if (rc == BW_ETIMEOUT) {
        fprintf(stderr, "billctl: %s is down: no answer from %s within %d ms\n", service, ep,
                cli->timeout_ms);
        return NULL;
    }
    if (rc < 0) {
        fprintf(stderr, "billctl: %s: %s\n", service, bw_strerror(rc));
        return NULL;
    }
    return reply;
}

bool cli_reply_ok(cli_t *cli, const Billow__Reply *reply)
{
    if (reply->code == BILLOW__CODE__OK)
        return true;
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&billow__code__descriptor, (int)reply->code);
    const char *code = v ? v->name : "ERROR";
    if (cli->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "error", json_object_new_string(reply->error));
        json_object_object_add(o, "code", json_object_new_string(code));
        if (reply->detail && reply->detail[0])
            json_object_object_add(o, "detail", json_object_new_string(reply->detail));
        cli_print_json(o);
    }
    fprintf(stderr, "billctl: %s", reply->error);
    if (reply->detail && reply->detail[0])
        fprintf(stderr, ": %s", reply->detail);
    fprintf(stderr, " (%s)\n", code);
    return false;
}

void cli_print_json(json_object *obj)
{
    puts(json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(obj);
}

static void print_synopsis(FILE *f, const billctl_cmd_t *c)
{
    fprintf(f, "  billctl %s%s%s %s\n", c->noun, c->verb ? " " : "", c->verb ? c->verb : "",
            c->args ? c->args : "");
}

int cli_usage(const billctl_cmd_t *cmd, const char *msg)
{
    if (msg)
        fprintf(stderr, "billctl: %s\n", msg);
    fprintf(stderr, "usage:\n");
    print_synopsis(stderr, cmd);
    return CLI_USAGE;
}

static void help(FILE *f, const char *noun)
{
    fprintf(f, "usage: billctl [--json] [--as OPERATOR] NOUN [VERB] [options]\n\ncommands:\n");
    for (int t = 0; tables[t]; t++)
        for (const billctl_cmd_t *c = tables[t]; c->noun; c++)
            if (!noun || strcmp(noun, c->noun) == 0) {
                print_synopsis(f, c);
                fprintf(f, "      %s\n", c->summary);
            }
    fprintf(f, "\nEvery command takes --help and --json. Exit status: 0 ok, 1 failure, 2 usage.\n"
               "Service addresses come from BILLOW_<SERVICE>_API or BILLOW_PORT_BASE.\n");
}

static const billctl_cmd_t *find(const char *noun, const char *verb, bool *noun_known)
{
    *noun_known = false;
    for (int t = 0; tables[t]; t++)
        for (const billctl_cmd_t *c = tables[t]; c->noun; c++) {
            if (strcmp(c->noun, noun) != 0)
                continue;
            *noun_known = true;
            if (!c->verb || (verb && strcmp(c->verb, verb) == 0))
                return c;
        }
    return NULL;
}

int main(int argc, char **argv)
{
    cli_t cli = {.operator_name = getenv("BILLOW_OPERATOR")};
    bw_log_init("billctl");
    bw_log_set_level(BW_ERROR);
    long long timeout;
    if (bw_env_int("BILLOW_CTL_TIMEOUT_MS", 2000, 100, 600000, &timeout) < 0)
        return CLI_USAGE;
    cli.timeout_ms = (int)timeout;
    /* Global options come before the noun; --json may also come anywhere. */
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            cli.json = true;
        } else if (strcmp(argv[i], "--as") == 0 && i + 1 < argc) {
            cli.operator_name = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            help(stdout, NULL);
            return CLI_OK;
        } else {
            fprintf(stderr, "billctl: unknown option %s\n", argv[i]);
            help(stderr, NULL);
            return CLI_USAGE;
        }
    }
    if (i >= argc) {
        help(stderr, NULL);
        return CLI_USAGE;
    }
    const char *noun = argv[i++];
    const char *verb = i < argc && argv[i][0] != '-' ? argv[i] : NULL;
    bool noun_known;
    const billctl_cmd_t *cmd = find(noun, verb, &noun_known);
    if (!cmd) {
        if (noun_known && (!verb || strcmp(verb, "help") == 0)) {
            help(verb ? stdout : stderr, noun);
            return verb ? CLI_OK : CLI_USAGE;
        }
        fprintf(stderr, "billctl: unknown command '%s%s%s'\n", noun, verb ? " " : "",
                verb ? verb : "");
        help(stderr, noun_known ? noun : NULL);
        return CLI_USAGE;
    }
    if (cmd->verb)
        i++;
    /* Strip --json / --as / --help wherever they appear after the command. */
    char **args = calloc((size_t)argc + 1, sizeof *args);
    if (!args)
        return CLI_FAIL;
    int n = 0;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            cli.json = true;
        } else if (strcmp(argv[i], "--as") == 0 && i + 1 < argc) {
            cli.operator_name = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_synopsis(stdout, cmd);
            printf("      %s\n", cmd->summary);
            free(args);
            return CLI_OK;
        } else {
            args[n++] = argv[i];
        }
    }
    cli.zctx = zmq_ctx_new();
    int rc = cmd->run(&cli, n, args);
    zmq_ctx_term(cli.zctx);
    free(args);
    return rc;
}
