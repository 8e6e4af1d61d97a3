/* Fuzz driver for the CSV reader, standalone (no libFuzzer). With file
 * arguments it reads each file as one input; without, it runs 5000
 * deterministic inputs from a fixed seed: mutations of a valid CSV and plain
 * random bytes, under default and tiny limits. For every input it checks
 * that reading ends, that record line numbers strictly increase, that
 * fields respect the limits and hold no NUL, and that the memory and FILE*
 * readers agree. Run it under ASan+UBSan to catch the rest. Exit 0 on
 * success, 1 with a message on the first broken invariant. */
#include "csv.h"
#include "errors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static size_t below(size_t n)
{
    return n ? (size_t)(next_rand() % n) : 0;
}

static const char seed_csv[] =
    "\xEF\xBB\xBF" "account,fee_item,quantity,unit_price,amount,memo\r\n"
    "A-001,hosting,1,199.00,199.00,monthly\r\n"
    "A-002,\"support, premium\",2.5,80,200.00,\"said \"\"urgent\"\"\"\r\n"
    "A-003,repair,1,1500,1500.00,\"two\nlines\"\n"
    "\n"
    "A-004,\xE5\x92\xA8\xE8\xAF\xA2,3,100,300,\r"
    "A-005,setup,,,,\n";

static int fail(size_t iter, const char *what, long line)
{
    fprintf(stderr, "csv_fuzz: input %zu: %s (line %ld)\n", iter, what, line);
    return 1;
}

/* One pass over a reader; writes a digest of what it saw into sig so two
 * readers over the same bytes can be compared. */
static int run_reader(bw_csv_t *r, size_t iter, size_t inlen, const bw_csv_opts_t *o,
                      uint64_t *sig)
{
    long last = 0;
    size_t calls = 0;
    uint64_t h = 1469598103934665603ull;
    size_t max_field = o && o->max_field ? o->max_field : BW_CSV_DEFAULT_MAX_FIELD;
    size_t max_cols = o && o->max_cols ? o->max_cols : BW_CSV_DEFAULT_MAX_COLS;
    for (;;) {
        int rc = bw_csv_next(r);
        if (++calls > inlen + 4)
            return fail(iter, "reader does not end", bw_csv_line(r));
        h = (h ^ (uint64_t)(rc + 100)) * 1099511628211ull;
        if (rc == 0)
            break;
        if (rc == BW_EIO || rc == BW_ENOMEM)
            return fail(iter, "unexpected fatal error", bw_csv_line(r));
        if (rc < 0 && !*bw_csv_error(r))
            return fail(iter, "error without a message", bw_csv_line(r));
        long line = bw_csv_line(r);
        if (line <= last)
            return fail(iter, "record line numbers not increasing", line);
        last = line;
        h = (h ^ (uint64_t)line) * 1099511628211ull;
        if (rc < 0)
            continue;
        size_t n = bw_csv_nfields(r);
        if (n == 0 || n > max_cols)
            return fail(iter, "field count out of limits", line);
        for (size_t i = 0; i < n; i++) {
            const char *f = bw_csv_field(r, i);
            size_t len = bw_csv_field_len(r, i);
            if (!f || strlen(f) != len || len > max_field)
                return fail(iter, "field length inconsistent", line);
            for (size_t k = 0; k < len; k++)
                h = (h ^ (unsigned char)f[k]) * 1099511628211ull;
            h = (h ^ 0x100) * 1099511628211ull;
        }
        if (bw_csv_field(r, n) != NULL)
            return fail(iter, "field past the end", line);
    }
    if (bw_csv_next(r) != 0)
        return fail(iter, "input did not stay ended", bw_csv_line(r));
    *sig = h;
    return 0;
}

static int check_input(const char *data, size_t len, size_t iter, const bw_csv_opts_t *o)
{
    uint64_t sig_mem = 0, sig_file = 0;
    bw_csv_t *r = bw_csv_new_mem(data, len, o);
    if (!r)
        return fail(iter, "could not create reader", 0);
    int rc = run_reader(r, iter, len, o, &sig_mem);
    bw_csv_destroy(&r);
    if (rc || len == 0)
        return rc;
    FILE *f = fmemopen((void *)data, len, "rb");
    if (!f)
        return fail(iter, "fmemopen failed", 0);
    r = bw_csv_new_file(f, o);
    if (!r) {
        fclose(f);
        return fail(iter, "could not create reader", 0);
    }
    rc = run_reader(r, iter, len, o, &sig_file);
    bw_csv_destroy(&r);
    fclose(f);
    if (!rc && sig_mem != sig_file)
        return fail(iter, "memory and FILE readers disagree", 0);
    return rc;
}

static size_t mutate(char *buf, size_t len, size_t cap)
{
    static const char interesting[] = {'"', ',', '\r', '\n', '\0', ' ', ';', '\xEF', '\xBB',
                                       '\xBF', '\xE5'};
    int rounds = 1 + (int)below(8);
    for (int i = 0; i < rounds; i++) {
        switch (below(6)) {
        case 0: /* overwrite with an interesting byte */
            if (len)
                buf[below(len)] = interesting[below(sizeof interesting)];
            break;
        case 1: /* insert an interesting byte */
            if (len < cap) {
                size_t at = below(len + 1);
                memmove(buf + at + 1, buf + at, len - at);
                buf[at] = interesting[below(sizeof interesting)];
                len++;
            }
            break;
        case 2: /* delete a range */
            if (len) {
                size_t at = below(len), n = 1 + below(len - at);
                memmove(buf + at, buf + at + n, len - at - n);
                len -= n;
            }
            break;
        case 3: /* duplicate a range */
            if (len) {
                size_t at = below(len), n = 1 + below(len - at);
                if (len + n <= cap) {
                    memmove(buf + at + n, buf + at, len - at);
                    len += n;
                }
            }
            break;
        case 4: /* random byte */
            if (len)
                buf[below(len)] = (char)next_rand();
            break;
        default: /* truncate */
            len = below(len + 1);
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            FILE *f = fopen(argv[i], "rb");
            if (!f) {
                fprintf(stderr, "csv_fuzz: cannot open %s\n", argv[i]);
                return 1;
            }
            size_t cap = 1 << 16, len = 0, n;
            char *buf = malloc(cap);
            while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
                len += n;
                if (len == cap) {
                    char *nb = realloc(buf, cap * 2);
                    if (!nb) {
                        free(buf);
                        buf = NULL;
                        break;
                    }
                    buf = nb;
                    cap *= 2;
                }
            }
            fclose(f);
            if (!buf)
                return 1;
            bw_csv_opts_t tiny = {.max_field = 8, .max_cols = 4, .max_line = 16};
            int rc = check_input(buf, len, (size_t)i, NULL) ||
                     check_input(buf, len, (size_t)i, &tiny);
            free(buf);
            if (rc)
                return 1;
        }
        printf("csv_fuzz: %d file(s) ok\n", argc - 1);
        return 0;
    }

    enum { ITERS = 5000, CAP = 4096 };
    char *buf = malloc(CAP);
    if (!buf)
        return 1;
    for (size_t it = 0; it < ITERS; it++) {
        size_t len;
        if (it % 5 == 4) { /* random bytes, biased towards CSV syntax */
            len = below(600);
            for (size_t k = 0; k < len; k++) {
                uint64_t x = next_rand();
                buf[k] = (x & 3) ? "a,\"\r\n b;"[(x >> 8) % 8] : (char)(x >> 16);
            }
        } else {
            len = sizeof seed_csv - 1;
            memcpy(buf, seed_csv, len);
            len = mutate(buf, len, CAP);
        }
        bw_csv_opts_t o = {0};
        if (it % 3 == 1)
            o = (bw_csv_opts_t){.max_field = 1 + below(12), .max_cols = 1 + below(6),
                                .max_line = 1 + below(40)};
        if (it % 7 == 3)
            o.delim = ';';
        if (check_input(buf, len, it, &o)) {
            free(buf);
            return 1;
        }
    }
    free(buf);
    printf("csv_fuzz: %d inputs ok\n", (int)ITERS);
    return 0;
}
