/* billctl: the operator and scripting client of every Billow service. This
 * file holds the command dispatch and the helpers every command shares;
 * each noun's commands live in their own file. */
#include "cli.h"
#include "zsec.h"
#include "config.h"
#include "errors.h"
#include "log.h"
#include "money.h"
#include "pbjson.h"
#include "rpc.h"

#include <errno.h>
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
    billctl_payments_cmds,
    billctl_pricechange_cmds,
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
    if (bw_zsec_init() < 0) {
        fprintf(stderr, "billctl: bad BILLOW_CURVE_* setting (see the log line above)\n");
        return NULL;
    }
    Billow__Reply *reply = NULL;
    int rc = bw_rpc_call(cli->zctx, ep, req, cli->timeout_ms, &reply);
    if (rc == BW_ETIMEOUT) {
        fprintf(stderr,
                "billctl: %s is down or busy: no answer from %s within %d ms"
                " (BILLOW_CTL_TIMEOUT_MS sets the wait)%s\n",
                service, ep, cli->timeout_ms,
                bw_zsec_on() ? "; with CURVE on, also check BILLOW_CURVE_SERVER_KEY and that this"
                               " client's key is in the service's BILLOW_CURVE_CLIENT_KEYS"
                             : "");
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

int cli_parse(cli_t *cli, int argc, char **argv, const cli_opt_t *opts, const char **pos,
              int maxpos, int *npos)
{
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-' && a[2]) {
            const cli_opt_t *o = opts;
            for (; o && o->name; o++)
                if (strcmp(o->name, a) == 0)
                    break;
            if (!o || !o->name) {
                char msg[128];
                snprintf(msg, sizeof msg, "unknown option %s", a);
                return cli_usage(cli->cmd, msg);
            }
            if (o->flag) {
                *o->flag = true;
            } else {
                if (i + 1 >= argc) {
                    char msg[128];
                    snprintf(msg, sizeof msg, "%s needs a value", a);
                    return cli_usage(cli->cmd, msg);
                }
                *o->value = argv[++i];
            }
            continue;
        }
        if (n >= maxpos)
            return cli_usage(cli->cmd, "too many arguments");
        pos[n++] = a;
    }
    if (npos)
        *npos = n;
    return 0;
}

int cli_args(cli_t *cli, int argc, char **argv, const char **pos, int n, const char *what)
{
    int npos = 0;
    int rc = cli_parse(cli, argc, argv, NULL, pos, n, &npos);
    if (rc)
        return rc;
    return npos == n ? 0 : cli_usage(cli->cmd, what);
}

char *cli_import_file(cli_t *cli, int argc, char **argv, const char **path, int *rc)
{
    *rc = cli_args(cli, argc, argv, path, 1, "which file?");
    if (*rc)
        return NULL;
    char *text = cli_read_file(path[0], NULL);
    *rc = text ? CLI_OK : CLI_FAIL;
    if (text && !getenv("BILLOW_CTL_TIMEOUT_MS"))
        cli->timeout_ms = 600000; /* checked and written as a whole: a large one takes a while */
    return text;
}

void cli_print_row_errors(const char *path, Billow__RowError *const *errors, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s:%d: %s\n", path, errors[i]->line, errors[i]->error);
}

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "billctl: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    if (f != stdin)
        fclose(f);
    if (!buf) {
        fprintf(stderr, "billctl: %s: out of memory\n", path);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void cli_print_reply_json(const Billow__Reply *reply)
{
    json_object *o = bw_pb_to_json(&reply->base);
    json_object *body = NULL;
    /* Print the innermost body: Reply.<service>.<op> */
    json_object_object_foreach(o, key, val)
    {
        /* status and stream_consumers are the body themselves. */
        if (json_object_is_type(val, json_type_object) && strcmp(key, "status") != 0 &&
            strcmp(key, "stream_consumers") != 0) {
            json_object_object_foreach(val, k2, v2)
            {
                (void)k2;
                if (json_object_is_type(v2, json_type_object))
                    body = v2;
            }
        } else if (json_object_is_type(val, json_type_object)) {
            body = val;
        }
    }
    cli_print_json(json_object_get(body ? body : o));
    json_object_put(o);
}

const char *cli_money(long long minor, const char *currency, char *buf, size_t len)
{
    if (bw_money_format(minor, currency, buf, len) < 0)
        snprintf(buf, len, "%lld", minor);
    return buf;
}

int cli_run(cli_t *cli, const char *service, Billow__Request *req, cli_print_fn print)
{
    Billow__Reply *reply = cli_call(cli, service, req);
    if (!reply)
        return CLI_FAIL;
    int rc = CLI_FAIL;
    if (cli_reply_ok(cli, reply)) {
        if (cli->json) {
            cli_print_reply_json(reply);
            rc = CLI_OK;
        } else if (print(cli, reply)) {
            rc = CLI_OK;
        } else {
            fprintf(stderr, "billctl: %s sent an unexpected reply\n", service);
        }
    }
    billow__reply__free_unpacked(reply, NULL);
    return rc;
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
    cli.cmd = cmd;
    int rc = cmd->run(&cli, n, args);
    zmq_ctx_term(cli.zctx);
    free(args);
    return rc;
}
