/* Ids, hashing and partition specs. */
#include "util.h"
#include "errors.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static void getrandom_all(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r > 0)
            got += (size_t)r;
    }
}

/* Random bytes come from the kernel 4 KiB at a time (a system call per id
 * showed in the profiles of bulk paths that make an event id per row). The
 * pool is per thread, and refilled after a fork so that parent and child
 * never hand out the same bytes: a fork handler, registered before the
 * first bytes are handed out, moves the generation on in the child. (A
 * getpid per id, as before, was a system call per id again: 3% of a
 * period close's CPU.) Only the child's one thread runs the handler. */
static unsigned fork_generation = 1;
static pthread_once_t fork_handler_once = PTHREAD_ONCE_INIT;

static void after_fork_in_child(void)
{
    fork_generation++;
}

static bool fork_handler_missing;

static void register_fork_handler(void)
{
    fork_handler_missing = pthread_atfork(NULL, NULL, after_fork_in_child) != 0;
}

/* Without the handler (it could not be registered), a fork is noticed the
 * old way, by the process id. */
static unsigned generation_now(void)
{
    return fork_handler_missing ? (unsigned)getpid() : fork_generation;
}

static _Thread_local struct {
    unsigned char buf[4096];
    size_t used;
    unsigned generation; /* 0: never filled */
} pool = {.used = sizeof pool.buf};

static void random_bytes(unsigned char *buf, size_t n)
{
    if (n > sizeof pool.buf / 4) {
        getrandom_all(buf, n);
        return;
    }
    if (pool.used + n > sizeof pool.buf || pool.generation != generation_now()) {
        pthread_once(&fork_handler_once, register_fork_handler);
        getrandom_all(pool.buf, sizeof pool.buf);
        pool.used = 0;
        pool.generation = generation_now();
    }
    memcpy(buf, pool.buf + pool.used, n);
    memset(pool.buf + pool.used, 0, n);
    pool.used += n;
}

static const char hexdigits[] = "0123456789abcdef";

static char *put_hex(char *out, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        *out++ = hexdigits[b[i] >> 4];
        *out++ = hexdigits[b[i] & 15];
    }
    return out;
}

void bw_uuid(char buf[37])
{
    unsigned char b[16];
    random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    char *p = put_hex(buf, b, 4);
    *p++ = '-';
    p = put_hex(p, b + 4, 2);
    *p++ = '-';
    p = put_hex(p, b + 6, 2);
    *p++ = '-';
    p = put_hex(p, b + 8, 2);
    *p++ = '-';
    p = put_hex(p, b + 10, 6);
    *p = '\0';
}

void bw_random_hex(char *buf, size_t nbytes)
{
    unsigned char b[64];
    if (nbytes > sizeof b)
        nbytes = sizeof b;
    random_bytes(b, nbytes);
    *put_hex(buf, b, nbytes) = '\0';
}

uint32_t bw_partition_of(const char *key)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 16777619u;
    }
    return h & 0x7fffffffu;
}

static int fail(char *err, size_t errlen, const char *msg)
{
    if (err)
        snprintf(err, errlen, "%s", msg);
    return BW_EINVAL;
}

int bw_partset_parse(const char *spec, bw_partset_t *ps, char *err, size_t errlen)
{
    memset(ps, 0, sizeof *ps);
    if (!spec || strcmp(spec, "all") == 0 || strcmp(spec, "") == 0)
        return 0;
    const char *slash = strchr(spec, '/');
    if (!slash)
        return fail(err, errlen, "partitions: expected LIST/COUNT, e.g. 0-3/8");
    char *end;
    long count = strtol(slash + 1, &end, 10);
    if (*end || count < 1 || count > BW_MAX_PARTITIONS)
        return fail(err, errlen, "partitions: count must be 1 to 1024");
    bool seen[BW_MAX_PARTITIONS] = {false};
    const char *p = spec;
    while (p < slash) {
        long a = strtol(p, &end, 10), b = a;
        if (end == p)
            return fail(err, errlen, "partitions: expected a number");
        p = end;
        if (*p == '-') {
            b = strtol(p + 1, &end, 10);
            if (end == p + 1)
                return fail(err, errlen, "partitions: expected a number after '-'");
            p = end;
        }
        if (a < 0 || b < a || b >= count)
            return fail(err, errlen, "partitions: each must be in 0..count-1");
        for (long i = a; i <= b; i++)
            seen[i] = true;
        if (*p == ',')
            p++;
        else if (p != slash)
            return fail(err, errlen, "partitions: unexpected character");
    }
    ps->count = (uint32_t)count;
    for (long i = 0; i < count; i++)
        if (seen[i])
            ps->parts[ps->n++] = (uint32_t)i;
    if (ps->n == (uint32_t)count) /* every residue: same as all */
        ps->count = ps->n = 0;
    return 0;
}

void bw_partset_format(const bw_partset_t *ps, char *buf, size_t len)
{
    if (ps->count <= 1 || ps->n == 0) {
        snprintf(buf, len, "all");
        return;
    }
    size_t off = 0;
    buf[0] = '\0';
    for (uint32_t i = 0; i < ps->n; i++) {
        uint32_t a = ps->parts[i], b = a;
        while (i + 1 < ps->n && ps->parts[i + 1] == b + 1)
            b = ps->parts[++i];
        int w = a == b ? snprintf(buf + off, len - off, "%s%u", off ? "," : "", a)
                       : snprintf(buf + off, len - off, "%s%u-%u", off ? "," : "", a, b);
        if (w < 0 || (size_t)w >= len - off)
            return;
        off += (size_t)w;
    }
    snprintf(buf + off, len - off, "/%u", ps->count);
}

bool bw_partset_has(const bw_partset_t *ps, uint32_t part)
{
    if (ps->count <= 1)
        return true;
    for (uint32_t i = 0; i < ps->n; i++)
        if (ps->parts[i] == part % ps->count)
            return true;
    return false;
}

int bw_grow(void *pdata, size_t *cap, size_t need, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : first ? first : 64;
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return BW_ENOMEM;
        n *= 2;
    }
    void *old;
    memcpy(&old, pdata, sizeof old);
    void *p = realloc(old, n);
    if (!p)
        return BW_ENOMEM;
    memcpy(pdata, &p, sizeof p);
    *cap = n;
    return 0;
}
