/* The billctl command frame: `billctl NOUN [VERB] [options]`. Each command
 * file exports a table of billctl_cmd_t; main.c lists the tables. Exit
 * status: 0 success, 1 failure (including a service that is down), 2 usage
 * error. Every command accepts --help and --json. */
#ifndef BILLCTL_CLI_H
#define BILLCTL_CLI_H

#include <json-c/json.h>
#include <stdbool.h>

#include "api.pb-c.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

typedef struct {
    bool json;        /* --json: machine-readable output on stdout */
    int timeout_ms;   /* BILLOW_CTL_TIMEOUT_MS, default 2000 */
    const char *operator_name; /* --as or BILLOW_OPERATOR */
    void *zctx;
    const struct billctl_cmd *cmd; /* the command being run */
} cli_t;

typedef struct billctl_cmd {
    const char *noun;
    const char *verb;     /* NULL: the noun alone is the command */
    const char *args;     /* usage synopsis after the command words */
    const char *summary;
    int (*run)(cli_t *cli, int argc, char **argv); /* argv[0] is the first option */
} billctl_cmd_t;

/* Sends a request to `service`'s API and waits for the reply (caller frees
 * with billow__reply__free_unpacked). On failure prints a clear message and
 * returns NULL: "rating is down: no answer from ... within 2000 ms". A reply
 * whose code is not OK is returned as is; see cli_reply_ok. */
Billow__Reply *cli_call(cli_t *cli, const char *service, Billow__Request *req);
/* Prints the reply's error (text or JSON) when its code is not OK; returns
 * true when it is OK. */
bool cli_reply_ok(cli_t *cli, const Billow__Reply *reply);
/* Prints a JSON value on stdout, pretty, followed by a newline; takes it. */
void cli_print_json(json_object *obj);
/* Usage error: prints msg and the command's synopsis to stderr; returns 2. */
int cli_usage(const billctl_cmd_t *cmd, const char *msg);

/* One option of a command: `--name VALUE` (value set) or `--name` (flag
 * set). Options may come in any order, before or after positionals. */
typedef struct {
    const char *name;    /* "--account" */
    const char **value;  /* takes a value */
    bool *flag;          /* or is a flag */
} cli_opt_t;

/* Parses argv by opts (terminated by a NULL name); positionals go to pos
 * (at most maxpos; *npos counts them). Returns 0, or prints what is wrong
 * with the command's usage and returns CLI_USAGE. */
int cli_parse(cli_t *cli, int argc, char **argv, const cli_opt_t *opts, const char **pos,
              int maxpos, int *npos);
/* cli_parse for a command of exactly n positional arguments and no options:
 * 0, or the exit status after printing the error (usage with what when the
 * count is wrong). */
int cli_args(cli_t *cli, int argc, char **argv, const char **pos, int n, const char *what);
/* For a command that sends one whole file (its one argument, path[0]) in
 * one request: the file's text, and a long wait for the reply unless
 * BILLOW_CTL_TIMEOUT_MS says otherwise. NULL with *rc the exit status. */
char *cli_import_file(cli_t *cli, int argc, char **argv, const char **path, int *rc);
/* Reads a whole file ("-" is stdin) into a malloc'd NUL-terminated string;
 * NULL with a message on stderr when it cannot. */
char *cli_read_file(const char *path, size_t *len);
/* Prints the rows an import rejected, as FILE:LINE: error, on stderr. */
void cli_print_row_errors(const char *path, Billow__RowError *const *errors, size_t n);
/* Prints a reply's body as JSON (the --json output of most commands). */
void cli_print_reply_json(const Billow__Reply *reply);
/* Prints an OK reply for people; returns false when the reply lacks what
 * the command expected (a protocol mismatch). */
typedef bool (*cli_print_fn)(cli_t *cli, const Billow__Reply *reply);
/* The whole round of most commands: sends req to service, prints the
 * error, the JSON (--json) or the text (print), frees the reply, and
 * returns the exit status. */
int cli_run(cli_t *cli, const char *service, Billow__Request *req, cli_print_fn print);

/* An amount in major units of its currency ("1234.50"; the minor units when
 * the currency is unknown); returns buf. */
const char *cli_money(long long minor, const char *currency, char *buf, size_t len);
/* Sends one rating request; the reply (caller frees) when it is OK, NULL
 * after printing why otherwise. */
Billow__Reply *cli_rating_call(cli_t *cli, Billow__RatingRequest *rr);

extern const billctl_cmd_t billctl_status_cmds[];
extern const billctl_cmd_t billctl_describe_cmds[];
extern const billctl_cmd_t billctl_rating_cmds[];
extern const billctl_cmd_t billctl_invoicing_cmds[];
extern const billctl_cmd_t billctl_notification_cmds[];
extern const billctl_cmd_t billctl_feedback_cmds[];
extern const billctl_cmd_t billctl_payments_cmds[];
extern const billctl_cmd_t billctl_pricechange_cmds[];

#endif
