/* Integration test of the notification channel layer against real servers
 * on 127.0.0.1 that it starts as child processes: an SMTP server (aiosmtpd)
 * and an HTTP server that checks webhook signatures and SMS tokens and can
 * answer 500/400/429 or hang (tests/integration/servers/). Sends through the
 * real notifiers on one libev loop, checks ok/temporary/permanent
 * classification, timeouts, cancel and shutdown, that the loop keeps
 * ticking while a request hangs, and loads build/plugins/example_notifier.so
 * through the registry. Environment: BW_BUILD (build dir, default build),
 * BW_TMP (scratch dir, default a fresh /tmp dir), BW_PYTHON (interpreter,
 * default /usr/bin/python3 when present). Exit 0 when every check passes. */
#include <errno.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errors.h"
#include "log.h"
#include "notification/notifier_registry.h"

static struct ev_loop *loop;
static int passed, failed;
static pid_t children[4];
static int n_children;
static char tmp[512];

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        bool ok_ = (cond);                                                                 \
        printf("%s - ", ok_ ? "ok" : "FAIL");                                              \
        printf(__VA_ARGS__);                                                               \
        printf("\n");                                                                      \
        fflush(stdout);                                                                    \
        if (ok_)                                                                           \
            passed++;                                                                      \
        else                                                                               \
            failed++;                                                                      \
    } while (0)

/* --- child servers --------------------------------------------------------- */

static void kill_children(void)
{
    for (int i = 0; i < n_children; i++) {
        if (children[i] <= 0)
            continue;
        kill(children[i], SIGTERM);
        waitpid(children[i], NULL, 0);
        children[i] = 0;
    }
    n_children = 0;
}

static void on_signal(int sig)
{
    for (int i = 0; i < n_children; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static const char *python(void)
{
    const char *p = getenv("BW_PYTHON");
    if (p && *p)
        return p;
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* Starts argv with its stdout on a pipe and returns the port it prints as
 * "PORT <n>" within 15 s, or -1. */
static int start_server(char *const argv[])
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a crashed test */
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    children[n_children++] = pid;
    char line[128];
    size_t len = 0;
    int port = -1;
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    while (len < sizeof line - 1 && poll(&pfd, 1, 15000) > 0) {
        ssize_t r = read(fds[0], line + len, 1);
        if (r <= 0)
            break;
        if (line[len] == '\n') {
            line[len] = '\0';
            if (sscanf(line, "PORT %d", &port) == 1)
                break;
            len = 0;
            continue;
        }
        len++;
    }
    close(fds[0]);
    return port;
}

/* A loopback port nobody listens on. */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(s, (struct sockaddr *)&a, sizeof a);
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    return ntohs(a.sin_port);
}

/* --- running the loop ---------------------------------------------------------- */

typedef struct {
    int calls;
    ntf_status_t status;
    int code;
    char message[512];
    char provider_id[256];
} outcome_t;

static void done_cb(void *arg, const ntf_result_t *r)
{
    outcome_t *o = arg;
    o->calls++;
    o->status = r->status;
    o->code = r->code;
    snprintf(o->message, sizeof o->message, "%s", r->message ? r->message : "(null)");
    snprintf(o->provider_id, sizeof o->provider_id, "%s", r->provider_id ? r->provider_id : "");
}

static int ticks;
static void tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
    ticks++;
}

static void wake_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
}

/* Runs the loop until o has completed or seconds have passed. */
static void run_until(outcome_t *o, double seconds)
{
    ev_timer guard;
    ev_timer_init(&guard, wake_cb, 0.05, 0.05);
    ev_timer_start(loop, &guard);
    ev_now_update(loop);
    double end = ev_now(loop) + seconds;
    while ((!o || o->calls == 0) && ev_now(loop) < end)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &guard);
}

static ntf_message_t message(const char *id, const char *channel, const char *address)
{
    return (ntf_message_t){.id = id,
                           .idempotency_key = id,
                           .type = "invoice_issued",
                           .channel = channel,
                           .address = address,
                           .subject = "Invoice INV-1",
                           .text = "Your invoice is ready.",
                           .html = NULL};
}

/* Sends m through in and waits for the outcome. */
static int send_wait(ntf_instance_t *in, const ntf_message_t *m, outcome_t *o, double seconds)
{
    memset(o, 0, sizeof *o);
    int rc = ntf_instance_send(in, m, done_cb, o, NULL);
    if (rc < 0)
        return rc;
    if (o->calls != 0)
        return BW_EPROTO; /* done ran inside send */
    run_until(o, seconds);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t r = buf ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    if (buf)
        buf[r] = '\0';
    return buf;
}

/* The n-th (1-based) request the HTTP server recorded, or NULL; put it. */
static json_object *http_request(const char *dir, int n)
{
    char path[600];
    snprintf(path, sizeof path, "%s/requests.jsonl", dir);
    char *all = slurp(path);
    if (!all)
        return NULL;
    json_object *found = NULL;
    for (char *save = NULL, *line = strtok_r(all, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_object *o = json_tokener_parse(line), *nv;
        if (o && json_object_object_get_ex(o, "n", &nv) && json_object_get_int(nv) == n) {
            found = o;
            break;
        }
        json_object_put(o);
    }
    free(all);
    return found;
}

static const char *jstr(json_object *o, const char *k1, const char *k2)
{
    json_object *v = NULL;
    if (!o || !json_object_object_get_ex(o, k1, &v))
        return "";
    if (k2 && !json_object_object_get_ex(v, k2, &v))
        return "";
    return json_object_get_string(v);
}

/* --- the checks ---------------------------------------------------------------- */

static int bad_init(const ntf_host_t *h, const ntf_setting_t *s, size_t n, void **i, char *e,
                    size_t el)
{
    (void)h, (void)s, (void)n, (void)i, (void)e, (void)el;
    return BW_EINVAL;
}
static int bad_send(void *i, const ntf_message_t *m, ntf_done_fn d, void *a, uint64_t *r)
{
    (void)i, (void)m, (void)d, (void)a, (void)r;
    return BW_EINVAL;
}
static void bad_shutdown(void **i) { (void)i; }

static void test_registry(ntf_registry_t *r, const char *build)
{
    CHECK(ntf_registry_find(r, "file") && ntf_registry_find(r, "smtp") &&
              ntf_registry_find(r, "webhook") && ntf_registry_find(r, "sms"),
          "built-in notifiers file, smtp, webhook, sms are registered");
    char err[512] = "";
    static ntf_notifier_t future = {.abi_version = 999,
                                    .struct_size = sizeof(ntf_notifier_t),
                                    .name = "future",
                                    .init = bad_init,
                                    .send = bad_send,
                                    .shutdown = bad_shutdown};
    int rc = ntf_registry_add(r, &future, err, sizeof err);
    CHECK(rc == BW_EINVAL && strstr(err, "ABI version 999"), "ABI mismatch is refused: %s", err);
    static ntf_notifier_t dup = {.abi_version = NTF_ABI_VERSION,
                                 .struct_size = sizeof(ntf_notifier_t),
                                 .name = "smtp",
                                 .init = bad_init,
                                 .send = bad_send,
                                 .shutdown = bad_shutdown};
    rc = ntf_registry_add(r, &dup, err, sizeof err);
    CHECK(rc == BW_ECONFLICT, "a second notifier named smtp is refused: %s", err);

    char bogus[600];
    snprintf(bogus, sizeof bogus, "%s/bogus.so", tmp);
    FILE *f = fopen(bogus, "w");
    fputs("not an ELF file\n", f);
    fclose(f);
    rc = ntf_registry_load_file(r, bogus, err, sizeof err);
    CHECK(rc < 0 && strstr(err, "bogus.so: cannot load"), "a broken .so gives a clear error: %s",
          err);
    unlink(bogus);

    char dir[600];
    snprintf(dir, sizeof dir, "%s/plugins", build);
    setenv("BILLOW_NOTIFIER_DIR", dir, 1);
    rc = ntf_registry_load_env(r, err, sizeof err);
    CHECK(rc == 0 && ntf_registry_find(r, "example"),
          "BILLOW_NOTIFIER_DIR=%s loads the example plugin%s%s", dir, rc ? ": " : "",
          rc ? err : "");
}

static void test_example_plugin(ntf_registry_t *r)
{
    if (!ntf_registry_find(r, "example"))
        return;
    char path[600], err[512] = "";
    snprintf(path, sizeof path, "%s/example.out", tmp);
    setenv("BILLOW_NOTIFIER_EXAMPLE_PATH", path, 1);
    setenv("BILLOW_NOTIFIER_EXAMPLE_DELAY_MS", "20", 1);
    ntf_instance_t *in = NULL;
    int rc = ntf_instance_from_env(r, "example", &in, err, sizeof err);
    CHECK(rc == 0, "example plugin configured from BILLOW_NOTIFIER_EXAMPLE_* %s", err);
    if (rc < 0)
        return;
    outcome_t o;
    ntf_message_t m = message("plug-1", "email", "bob@example.test");
    rc = send_wait(in, &m, &o, 2);
    char *content = slurp(path);
    CHECK(rc == 0 && o.calls == 1 && o.status == NTF_OK && strcmp(o.provider_id, "example-1") == 0,
          "plugin send completes asynchronously with ok (%s)", o.provider_id);
    CHECK(content && strstr(content, "plug-1 bob@example.test Invoice INV-1"),
          "plugin wrote the message to its file");
    free(content);
    ntf_instance_destroy(&in);
    ntf_setting_t bad[] = {{"delay_ms", "1"}};
    rc = ntf_instance_new(r, "example", bad, 1, &in, err, sizeof err);
    CHECK(rc == BW_EINVAL && strstr(err, "path is required"), "plugin init errors reach the caller: %s",
          err);
}

static void test_file(ntf_registry_t *r)
{
    char dir[600], err[512] = "";
    snprintf(dir, sizeof dir, "%s/files/nested", tmp);
    ntf_setting_t s[] = {{"dir", dir}};
    ntf_instance_t *in = NULL;
    int rc = ntf_instance_new(r, "file", s, 1, &in, err, sizeof err);
    CHECK(rc == 0, "file notifier creates %s %s", dir, err);
    if (rc < 0)
        return;
    outcome_t o;
    ntf_message_t m = message("file-1", "email", "carol@example.test");
    m.payload_json = "{\"invoice\": \"INV-1\"}";
    rc = send_wait(in, &m, &o, 2);
    CHECK(rc == 0 && o.calls == 1 && o.status == NTF_OK,
          "file send completes on the next loop iteration, not inside send");
    m.id = "file-2";
    send_wait(in, &m, &o, 2);
    char path[700];
    snprintf(path, sizeof path, "%s/email.jsonl", dir);
    char *content = slurp(path);
    int lines = 0, good = 0;
    for (char *save = NULL, *l = content ? strtok_r(content, "\n", &save) : NULL; l;
         l = strtok_r(NULL, "\n", &save)) {
        json_object *j = json_tokener_parse(l);
        lines++;
        good += j && strncmp(jstr(j, "id", NULL), "file-", 5) == 0 &&
                strcmp(jstr(j, "payload", "invoice"), "INV-1") == 0;
        json_object_put(j);
    }
    free(content);
    CHECK(lines == 2 && good == 2, "email.jsonl holds two JSON lines with the payload (%d/%d)",
          good, lines);
    /* Every character a subject or body may hold comes back as it went in. */
    static const char odd[] = "say \"hi\" \\ back\nslash/\ttab\r\x01\x1f 账单 ünï";
    ntf_attachment_t att = {.filename = "a \"b\".csv", .content_type = NULL, .data = "x", .len = 1};
    ntf_message_t e = message("file-odd", "odd", "carol@example.test");
    e.subject = odd;
    e.html = "<p>\"&amp;\"</p>";
    e.payload_json = "not json {";
    e.attachments = &att;
    e.n_attachments = 1;
    rc = send_wait(in, &e, &o, 5);
    snprintf(path, sizeof path, "%s/odd.jsonl", dir);
    content = slurp(path);
    json_object *j = content ? json_tokener_parse(content) : NULL;
    json_object *atts = NULL, *a0 = NULL;
    if (j && json_object_object_get_ex(j, "attachments", &atts))
        a0 = json_object_array_get_idx(atts, 0);
    CHECK(rc == 0 && o.status == NTF_OK && j && strcmp(jstr(j, "subject", NULL), odd) == 0 &&
              strcmp(jstr(j, "html", NULL), e.html) == 0 &&
              strcmp(jstr(j, "payload", NULL), "not json {") == 0 &&
              strcmp(jstr(a0, "filename", NULL), "a \"b\".csv") == 0 &&
              !json_object_object_get_ex(a0, "content_type", NULL),
          "a line with quotes, backslashes, control characters and UTF-8 parses back unchanged");
    json_object_put(j);
    free(content);

    m.channel = "../escape";
    CHECK(ntf_instance_send(in, &m, done_cb, &o, NULL) == BW_EINVAL,
          "a channel that would leave the directory is refused");

    /* Many sends in one loop iteration, on two channels, one cancelled:
     * every other one completes once, with its own provider id, and each
     * file holds exactly the lines that were reported written. */
    enum { MANY = 300 };
    static outcome_t many[MANY];
    char ids[MANY][16];
    uint64_t req[MANY];
    memset(many, 0, sizeof many);
    int refused = 0;
    for (int i = 0; i < MANY; i++) {
        snprintf(ids[i], sizeof ids[i], "many-%d", i);
        ntf_message_t x = message(ids[i], i % 3 ? "email" : "sms", "dave@example.test");
        refused += ntf_instance_send(in, &x, done_cb, &many[i], &req[i]) != 0;
    }
    CHECK(refused == 0 && ntf_instance_cancel(in, req[7]) == 0,
          "300 sends queued and one of them cancelled");
    for (int spins = 0; spins < 400; spins++) {
        int left = 0;
        for (int i = 0; i < MANY; i++)
            left += i != 7 && many[i].calls == 0;
        if (!left)
            break;
        run_until(NULL, 0.01);
    }
    run_until(NULL, 0.05);
    int once = 0, ok = 0, distinct = 1;
    for (int i = 0; i < MANY; i++) {
        once += many[i].calls == (i == 7 ? 0 : 1);
        ok += many[i].status == NTF_OK;
        for (int k = 0; k < i && distinct; k++)
            if (i != 7 && k != 7 && strcmp(many[i].provider_id, many[k].provider_id) == 0)
                distinct = 0;
    }
    CHECK(once == MANY && ok == MANY && distinct,
          "each completes exactly once with its own provider id, the cancelled one never "
          "(%d/%d once, %d ok)", once, MANY, ok);
    CHECK(ntf_instance_cancel(in, req[8]) == BW_ENOTFOUND,
          "cancel after completion reports not found");
    int in_email = 0, in_sms = 0;
    for (int c = 0; c < 2; c++) {
        snprintf(path, sizeof path, "%s/%s.jsonl", dir, c ? "sms" : "email");
        content = slurp(path);
        for (char *save = NULL, *l = content ? strtok_r(content, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save)) {
            json_object *j = json_tokener_parse(l);
            const char *id = jstr(j, "id", NULL);
            if (strncmp(id, "many-", 5) == 0) {
                int i = atoi(id + 5);
                if (c)
                    in_sms += i % 3 == 0;
                else
                    in_email += i % 3 != 0;
            }
            json_object_put(j);
        }
        free(content);
    }
    /* The cancelled send (many-7, e-mail) may or may not have been written. */
    CHECK(in_sms == MANY / 3 && (in_email == 2 * MANY / 3 || in_email == 2 * MANY / 3 - 1),
          "each line went to its channel's file (%d e-mail, %d sms)", in_email, in_sms);

    /* Shutting down with sends queued calls nothing back and leaks nothing. */
    outcome_t late;
    memset(&late, 0, sizeof late);
    m = message("late-1", "email", "erin@example.test");
    rc = ntf_instance_send(in, &m, done_cb, &late, NULL);
    ntf_instance_destroy(&in);
    run_until(NULL, 0.05);
    CHECK(rc == 0 && late.calls == 0, "shutdown with a send queued never calls it back");

    /* A directory that cannot take the file: a temporary failure, reported
     * through done like any other outcome. */
    snprintf(dir, sizeof dir, "%s/files/gone", tmp);
    ntf_setting_t g[] = {{"dir", dir}};
    rc = ntf_instance_new(r, "file", g, 1, &in, err, sizeof err);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (rc == 0 && system(cmd) == 0) {
        m = message("gone-1", "email", "erin@example.test");
        rc = send_wait(in, &m, &o, 5);
        CHECK(rc == 0 && o.calls == 1 && o.status == NTF_TEMPFAIL &&
                  strstr(o.message, "cannot append"),
              "a missing directory is a temporary failure: %s", o.message);
    } else {
        CHECK(0, "file notifier in %s: %s", dir, err);
    }
    ntf_instance_destroy(&in);
}

static void test_smtp(ntf_registry_t *r, int port, const char *maildir)
{
    char url[64], refused[64], err[512] = "";
    snprintf(url, sizeof url, "smtp://127.0.0.1:%d", port);
    ntf_setting_t s[] = {{"url", url},
                         {"from", "Billow 账务中心 <billing@billow.test>"},
                         {"timeout_ms", "1500"}};
    ntf_instance_t *in = NULL;
    int rc = ntf_instance_new(r, "smtp", s, 3, &in, err, sizeof err);
    CHECK(rc == 0, "smtp notifier for %s %s", url, err);
    if (rc < 0)
        return;
    outcome_t o;
    ntf_message_t m = message("msg-1", "email", "alice@example.test");
    m.idempotency_key = "idem-smtp-1";
    m.subject = "账单 INV-2026-000123 已出具,应付金额 CNY 1,130.00,请于 2026-12-15 前支付";
    m.text = "尊敬的客户:您好!您的账单已出具。\nLine two with a long enough text to wrap.";
    m.html = "<p>尊敬的客户:</p><table><tr><td>Support</td><td>1,000.00</td></tr></table>";
    ntf_attachment_t att = {.filename = "INV-2026-000123.csv",
                            .content_type = "text/csv",
                            .data = "item,amount\nsupport,1000.00\n",
                            .len = 29};
    m.attachments = &att;
    m.n_attachments = 1;
    rc = send_wait(in, &m, &o, 10);
    CHECK(rc == 0 && o.calls == 1 && o.status == NTF_OK && o.code == 250,
          "smtp: accepted message is ok %d (%s)", o.code, o.message);
    CHECK(strcmp(o.provider_id, "<msg-1@billow.test>") == 0 && strstr(o.message, "queued as"),
          "smtp: provider id %s, server said '%s'", o.provider_id, o.message);
    char path[700];
    snprintf(path, sizeof path, "%s/0001.eml", maildir);
    char *eml = slurp(path);
    CHECK(eml && strstr(eml, "X-Billow-Idempotency-Key: idem-smtp-1") &&
              strstr(eml, "Message-ID: <msg-1@billow.test>") && strstr(eml, "To: <alice@example.test>") &&
              strstr(eml, "Subject: =?UTF-8?B?") && strstr(eml, "From: =?UTF-8?B?") &&
              strstr(eml, "Date: ") && strstr(eml, "multipart/alternative") &&
              strstr(eml, "text/html; charset=utf-8") && strstr(eml, "text/plain; charset=utf-8") &&
              strstr(eml, "filename=\"INV-2026-000123.csv\""),
          "smtp: received MIME message has the headers, both parts and the attachment");
    free(eml);

    m.attachments = NULL;
    m.n_attachments = 0;
    m.address = "perm@example.test";
    send_wait(in, &m, &o, 10);
    CHECK(o.calls == 1 && o.status == NTF_PERMFAIL && o.code == 550,
          "smtp: 550 is permanent (%d %s)", o.code, o.message);
    m.address = "temp@example.test";
    send_wait(in, &m, &o, 10);
    CHECK(o.calls == 1 && o.status == NTF_TEMPFAIL && o.code == 451,
          "smtp: 451 is temporary (%d %s)", o.code, o.message);

    ev_timer tick;
    ev_timer_init(&tick, tick_cb, 0.1, 0.1);
    ticks = 0;
    ev_timer_start(loop, &tick);
    m.address = "hang@example.test";
    ev_now_update(loop);
    double t0 = ev_now(loop);
    send_wait(in, &m, &o, 10);
    double took = ev_now(loop) - t0;
    ev_timer_stop(loop, &tick);
    CHECK(o.calls == 1 && o.status == NTF_TEMPFAIL && took > 1.2 && took < 5,
          "smtp: a server that stops answering times out as temporary after %.1fs (%s)", took,
          o.message);
    CHECK(ticks >= 10, "smtp: the loop kept ticking while the server hung (%d ticks)", ticks);
    ntf_instance_destroy(&in);

    snprintf(refused, sizeof refused, "smtp://127.0.0.1:%d", closed_port());
    s[0].value = refused;
    rc = ntf_instance_new(r, "smtp", s, 3, &in, err, sizeof err);
    m.address = "alice@example.test";
    send_wait(in, &m, &o, 10);
    CHECK(o.calls == 1 && o.status == NTF_TEMPFAIL && o.code == 0,
          "smtp: connection refused is temporary (%s)", o.message);
    m.address = "alice@example.test>\r\nBcc: evil@example.test";
    CHECK(ntf_instance_send(in, &m, done_cb, &o, NULL) == BW_EINVAL,
          "smtp: an address with CRLF is refused");
    ntf_instance_destroy(&in);
    ntf_setting_t nofrom[] = {{"url", url}};
    rc = ntf_instance_new(r, "smtp", nofrom, 1, &in, err, sizeof err);
    CHECK(rc == BW_EINVAL && strstr(err, "from is required"), "smtp: missing from: %s", err);
}

static void test_webhook(ntf_registry_t *r, int port, const char *httpdir, int *nreq)
{
    char url[128], base[96], err[512] = "";
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    snprintf(url, sizeof url, "%s/webhook/ok", base);
    ntf_setting_t s[] = {{"url", url}, {"secret", "whsec_test_0123456789"}, {"timeout_ms", "1500"}};
    ntf_instance_t *in = NULL;
    int rc = ntf_instance_new(r, "webhook", s, 3, &in, err, sizeof err);
    CHECK(rc == 0, "webhook notifier for %s %s", url, err);
    if (rc < 0)
        return;
    outcome_t o;
    ntf_message_t m = message("evt-1", "webhook", "");
    m.idempotency_key = "idem-wh-1";
    m.payload_json = "{\"invoice_number\": \"INV-1\", \"amount_due\": \"1,130.00\", \"note\": \"金额\"}";
    rc = send_wait(in, &m, &o, 10);
    (*nreq)++;
    json_object *req = http_request(httpdir, *nreq);
    CHECK(rc == 0 && o.calls == 1 && o.status == NTF_OK && o.code == 200,
          "webhook: 200 is ok (%s)", o.message);
    CHECK(strcmp(o.provider_id, "rcv-1") == 0, "webhook: receiver's id is the provider id (%s)",
          o.provider_id);
    json_object *auth = NULL;
    CHECK(req && json_object_object_get_ex(req, "authorized", &auth) && json_object_get_boolean(auth),
          "webhook: the server verified Billow-Signature %s", jstr(req, "headers", "billow-signature"));
    CHECK(strcmp(jstr(req, "headers", "idempotency-key"), "idem-wh-1") == 0,
          "webhook: Idempotency-Key header sent");
    json_object *body = req ? json_tokener_parse(jstr(req, "body", NULL)) : NULL;
    CHECK(body && strcmp(jstr(body, "id", NULL), "evt-1") == 0 &&
              strcmp(jstr(body, "type", NULL), "invoice_issued") == 0 &&
              strcmp(jstr(body, "data", "note"), "金额") == 0,
          "webhook: body is the event envelope with the payload as data");
    json_object_put(body);
    json_object_put(req);

    struct {
        const char *path;
        ntf_status_t want;
        int code;
    } cases[] = {{"/webhook/500", NTF_TEMPFAIL, 500},
                 {"/webhook/429", NTF_TEMPFAIL, 429},
                 {"/webhook/400", NTF_PERMFAIL, 400}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char addr[160];
        snprintf(addr, sizeof addr, "%s%s", base, cases[i].path);
        m.address = addr; /* a URL address overrides the configured url */
        send_wait(in, &m, &o, 10);
        (*nreq)++;
        CHECK(o.calls == 1 && o.status == cases[i].want && o.code == cases[i].code,
              "webhook: HTTP %d is %s", o.code, ntf_status_name(o.status));
    }

    char hang[160];
    snprintf(hang, sizeof hang, "%s/webhook/hang", base);
    m.address = hang;
    ev_timer tick;
    ev_timer_init(&tick, tick_cb, 0.1, 0.1);
    ticks = 0;
    ev_timer_start(loop, &tick);
    ev_now_update(loop);
    double t0 = ev_now(loop);
    send_wait(in, &m, &o, 10);
    (*nreq)++;
    double took = ev_now(loop) - t0;
    ev_timer_stop(loop, &tick);
    CHECK(o.calls == 1 && o.status == NTF_TEMPFAIL && o.code == 0 && took > 1.2 && took < 5,
          "webhook: a hanging endpoint times out as temporary after %.1fs (%s)", took, o.message);
    CHECK(ticks >= 10, "webhook: the loop kept ticking during the hang (%d ticks)", ticks);

    /* Cancel: the callback must never come. */
    memset(&o, 0, sizeof o);
    uint64_t id = 0;
    rc = ntf_instance_send(in, &m, done_cb, &o, &id);
    (*nreq)++;
    run_until(NULL, 0.3);
    CHECK(rc == 0 && id != 0 && ntf_instance_cancel(in, id) == 0, "webhook: cancel in flight");
    run_until(NULL, 0.3);
    CHECK(o.calls == 0 && ntf_instance_cancel(in, id) == BW_ENOTFOUND,
          "webhook: no callback after cancel; second cancel is not found");

    /* Shutdown with a request in flight: no callback, nothing leaks. */
    rc = ntf_instance_send(in, &m, done_cb, &o, NULL);
    (*nreq)++;
    run_until(NULL, 0.2);
    ntf_instance_destroy(&in);
    run_until(NULL, 0.2);
    CHECK(rc == 0 && o.calls == 0, "webhook: shutdown drops in-flight requests silently");

    s[1].value = "the-wrong-secret-0123";
    ntf_instance_new(r, "webhook", s, 3, &in, err, sizeof err);
    m.address = "";
    send_wait(in, &m, &o, 10);
    (*nreq)++;
    CHECK(o.calls == 1 && o.status == NTF_PERMFAIL && o.code == 401,
          "webhook: a bad signature is refused (401, permanent)");
    m.payload_json = "{not json";
    CHECK(ntf_instance_send(in, &m, done_cb, &o, NULL) == BW_EINVAL,
          "webhook: invalid payload JSON is refused at send");
    ntf_instance_destroy(&in);
}

static void test_sms(ntf_registry_t *r, int port, const char *httpdir, int *nreq)
{
    char url[128], err[512] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/sms/ok", port);
    ntf_setting_t s[] = {{"url", url}, {"token", "test-token"}, {"timeout_ms", "1500"}};
    ntf_instance_t *in = NULL;
    int rc = ntf_instance_new(r, "sms", s, 3, &in, err, sizeof err);
    CHECK(rc == 0, "sms notifier for %s %s", url, err);
    if (rc < 0)
        return;
    outcome_t o;
    ntf_message_t m = message("sms-1", "sms", "+8613800138000");
    m.idempotency_key = "idem-sms-1";
    m.text = "【云账】您的账单INV-1已出具,应付CNY 1,130.00。";
    rc = send_wait(in, &m, &o, 10);
    (*nreq)++;
    CHECK(rc == 0 && o.calls == 1 && o.status == NTF_OK && strncmp(o.provider_id, "sms-", 4) == 0,
          "sms: gateway accepted, message id %s", o.provider_id);
    json_object *req = http_request(httpdir, *nreq);
    json_object *body = req ? json_tokener_parse(jstr(req, "body", NULL)) : NULL;
    CHECK(body && strcmp(jstr(body, "to", NULL), "+8613800138000") == 0 &&
              strcmp(jstr(body, "text", NULL), m.text) == 0 &&
              strcmp(jstr(body, "idempotency_key", NULL), "idem-sms-1") == 0,
          "sms: JSON body has to, text and idempotency_key");
    json_object_put(body);
    json_object_put(req);
    CHECK(ntf_instance_send(in, &(ntf_message_t){.id = "x", .text = "x", .address = "call me"},
                            done_cb, &o, NULL) == BW_EINVAL,
          "sms: a malformed phone number is refused at send");
    ntf_instance_destroy(&in);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/sms/500", port);
    ntf_instance_new(r, "sms", s, 3, &in, err, sizeof err);
    send_wait(in, &m, &o, 10);
    (*nreq)++;
    CHECK(o.calls == 1 && o.status == NTF_TEMPFAIL && o.code == 500, "sms: 500 is temporary");
    ntf_instance_destroy(&in);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/sms/ok", port);
    s[1].value = "wrong";
    ntf_instance_new(r, "sms", s, 3, &in, err, sizeof err);
    send_wait(in, &m, &o, 10);
    (*nreq)++;
    CHECK(o.calls == 1 && o.status == NTF_PERMFAIL && o.code == 401,
          "sms: a refused token is permanent (401)");
    ntf_instance_destroy(&in);
}

int main(void)
{
    bw_log_init("test_notifiers");
    bw_log_set_level(BW_WARN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);
    atexit(kill_children);
    const char *build = getenv("BW_BUILD");
    if (!build || !*build)
        build = "build";
    const char *t = getenv("BW_TMP");
    if (t && *t) {
        snprintf(tmp, sizeof tmp, "%s/test_notifiers", t);
        mkdir(t, 0700);
        mkdir(tmp, 0700);
    } else {
        snprintf(tmp, sizeof tmp, "/tmp/bw_notifiers_XXXXXX");
        if (!mkdtemp(tmp)) {
            perror("mkdtemp");
            return 1;
        }
    }
    printf("scratch dir %s\n", tmp);

    char maildir[600], httpdir[600], requests[700];
    snprintf(maildir, sizeof maildir, "%s/mail", tmp);
    snprintf(httpdir, sizeof httpdir, "%s/http", tmp);
    snprintf(requests, sizeof requests, "%s/requests.jsonl", httpdir);
    mkdir(maildir, 0700);
    mkdir(httpdir, 0700);
    unlink(requests);
    char rm[2048];
    snprintf(rm, sizeof rm, "rm -rf %s/*.eml %s/example.out %s/files", maildir, tmp, tmp);
    if (system(rm) != 0)
        fprintf(stderr, "could not clean %s\n", maildir);

    char *smtp_argv[] = {(char *)python(), "tests/integration/servers/smtp_server.py", maildir,
                         NULL};
    char *http_argv[] = {(char *)python(), "tests/integration/servers/http_server.py",
                         "whsec_test_0123456789", "test-token", httpdir, NULL};
    int smtp_port = start_server(smtp_argv);
    int http_port = start_server(http_argv);
    CHECK(smtp_port > 0, "SMTP server (aiosmtpd) listening on 127.0.0.1:%d", smtp_port);
    CHECK(http_port > 0, "HTTP server listening on 127.0.0.1:%d", http_port);

    loop = ev_loop_new(EVFLAG_AUTO);
    ntf_registry_t *r = ntf_registry_new(loop);
    CHECK(r != NULL, "registry created");
    if (r) {
        test_registry(r, build);
        test_example_plugin(r);
        test_file(r);
        int nreq = 0;
        if (smtp_port > 0)
            test_smtp(r, smtp_port, maildir);
        if (http_port > 0) {
            test_webhook(r, http_port, httpdir, &nreq);
            test_sms(r, http_port, httpdir, &nreq);
        }
        ntf_registry_destroy(&r);
    }
    ev_loop_destroy(loop);
    kill_children();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
