/* JSON-line logger. Each line is built in a local buffer and written with one
 * write(2) so lines from several processes sharing a stderr do not interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char log_service[32] = "billow";
static bw_log_level_t log_level = BW_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void bw_log_init(const char *service)
{
    snprintf(log_service, sizeof log_service, "%s", service);
    const char *lv = getenv("BILLOW_LOG_LEVEL");
    if (lv) {
        for (int i = 0; i < 4; i++)
            if (strcasecmp(lv, level_names[i]) == 0)
                log_level = (bw_log_level_t)i;
    }
}

void bw_log_set_level(bw_log_level_t level) { log_level = level; }

typedef struct {
    char buf[4096];
    size_t len;
} line_t;

static void put(line_t *l, const char *s, size_t n)
{
    if (l->len + n >= sizeof l->buf - 2) /* keep room for "}\n" */
        n = sizeof l->buf - 2 - l->len - 1;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put_str(line_t *l, const char *s)
{
    put(l, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(l, esc, 2);
        } else if (*p < 0x20) {
            int n = snprintf(esc, sizeof esc, "\\u%04x", *p);
            put(l, esc, (size_t)n);
        } else {
            put(l, (const char *)p, 1);
        }
    }
    put(l, "\"", 1);
}

void bw_log(bw_log_level_t level, const char *msg, ...)
{
    if (level < log_level)
        return;
    line_t l = {.len = 0};
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    int n = snprintf(ts, sizeof ts, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000));
    put(&l, ts, (size_t)n);
    put(&l, "\"level\":", 8);
    put_str(&l, level_names[level]);
    put(&l, ",\"service\":", 11);
    put_str(&l, log_service);
    put(&l, ",\"msg\":", 7);
    put_str(&l, msg);

    va_list ap;
    va_start(ap, msg);
    const char *key;
    while ((key = va_arg(ap, const char *)) != NULL) {
        int type = va_arg(ap, int);
        put(&l, ",", 1);
        put_str(&l, key);
        put(&l, ":", 1);
        char num[64];
        switch (type) {
        case 's':
            put_str(&l, va_arg(ap, const char *));
            break;
        case 'i':
            n = snprintf(num, sizeof num, "%lld", va_arg(ap, long long));
            put(&l, num, (size_t)n);
            break;
        case 'f':
            n = snprintf(num, sizeof num, "%.6g", va_arg(ap, double));
            put(&l, num, (size_t)n);
            break;
        default:
            va_end(ap);
            goto done; /* a malformed call: stop reading arguments */
        }
    }
    va_end(ap);
done:
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    ssize_t w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
}
