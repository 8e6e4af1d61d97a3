/* Fuzz driver for the catalog parser (STYLE.md 10: every parser has one).
 * With file arguments it parses each file; with none it makes N (2000, or
 * BILLOW_FUZZ_N) deterministic mutations of the example catalog from a fixed
 * seed: byte flips, JSON-ish token insertions, deletions, duplications and
 * truncations. Every document that parses is also rated with awkward
 * quantities, so the pricing engine's overflow paths see fuzzed prices too.
 * A crash, sanitizer report or broken invariant is the failure; otherwise
 * it prints a summary and exits 0. Needs no libFuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "money.h"
#include "rating/catalog.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    /* xorshift64*: small, fast, and the same sequence everywhere. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "catalog_fuzz: invariant broken: %s\n", what);
        abort();
    }
}

/* Rates every version of every plan with quantities near the edges. */
static void exercise(const rt_catalog_t *c)
{
    static const char *const qty[] = {"0", "1", "100", "100000.5", "9223372036"};
    for (size_t i = 0; i < c->n_plans; i++)
        for (size_t v = 0; v < c->plans[i].n_versions; v++) {
            const rt_price_version_t *pv = &c->plans[i].versions[v];
            rt_usage_t u[64];
            bw_dec_t tx[3];
            size_t n = pv->n_charges < 64 ? pv->n_charges : 64;
            bw_dec_parse(qty[below(5)], &tx[0], NULL, 0);
            tx[1] = BW_DEC(1);
            tx[2] = 0;
            for (size_t k = 0; k < n; k++) {
                memset(&u[k], 0, sizeof u[k]);
                u[k].fee_item = pv->charges[k].fee_item;
                bw_dec_parse(qty[below(5)], &u[k].quantity, NULL, 0);
                u[k].transactions = tx;
                u[k].n_transactions = 3;
            }
            rt_coupon_input_t cp = {"WELCOME2026", true};
            const char *tiers[] = {NULL, "gold", "silver"};
            rt_rate_input_t in = {.customer_tier = tiers[below(3)],
                                  .period_start = pv->effective_from,
                                  .period_end = pv->effective_from + 30,
                                  .active_start = pv->effective_from + (int64_t)below(31),
                                  .active_end = pv->effective_from + 31,
                                  .period_number = (int)below(20),
                                  .include_setup = below(2),
                                  .usage = u,
                                  .n_usage = n,
                                  .coupons = &cp,
                                  .n_coupons = 1};
            rt_result_t *r = NULL;
            char err[256];
            int rc = rt_rate(pv, c->discounts, c->n_discounts, &c->settings, &in, &r, err,
                             sizeof err);
            if (rc == 0) {
                int64_t sum = 0;
                for (size_t l = 0; l < r->n_lines; l++)
                    sum += r->lines[l].amount;
                check(sum == r->total, "total is the sum of the lines");
                rt_result_destroy(&r);
            } else {
                check(r == NULL && err[0] != '\0', "a failed rating explains itself");
            }
        }
}

static int feed(const char *text)
{
    char err[512];
    err[0] = 'x';
    rt_catalog_t *c = rt_catalog_new_from_json(text, err, sizeof err);
    if (!c) {
        check(err[0] != '\0' && err[0] != 'x', "a rejected document has a message");
        return 0;
    }
    check(err[0] == '\0', "an accepted document has no message");
    exercise(c);
    rt_catalog_destroy(&c);
    return 1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
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
    if (buf) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

static char *load_example(const char *argv0, size_t *len)
{
    const char *rel = "services/rating/catalog.example.json";
    char *text = slurp(rel, len);
    char dir[4096];
    char *abs = realpath(argv0, NULL);
    snprintf(dir, sizeof dir, "%s", abs ? abs : argv0);
    free(abs);
    for (int up = 0; !text && up < 6; up++) {
        char *slash = strrchr(dir, '/');
        if (!slash)
            break;
        *slash = '\0';
        char cand[4200];
        snprintf(cand, sizeof cand, "%s/%s", dir, rel);
        text = slurp(cand, len);
    }
    return text;
}

/* A small seed for when the example is not reachable. */
static const char fallback[] =
    "{\"fee_items\":[{\"code\":\"A\",\"name\":{\"zh-CN\":\"甲\",\"en\":\"A\"},"
    "\"service_type\":\"usage\",\"unit\":\"u\",\"tax_category\":\"std\"}],"
    "\"customer_tiers\":[{\"code\":\"gold\",\"name\":{\"zh-CN\":\"金\",\"en\":\"Gold\"}}],"
    "\"plans\":[{\"code\":\"P\",\"name\":{\"zh-CN\":\"计\",\"en\":\"P\"},\"billing_cycle\":"
    "\"monthly\",\"versions\":[{\"effective_from\":\"2026-01-01\",\"currency\":\"CNY\","
    "\"charges\":[{\"fee_item\":\"A\",\"model\":\"graduated\",\"minimum\":\"10\",\"tiers\":["
    "{\"up_to\":\"100\",\"unit_price\":\"1\",\"flat_fee\":\"2\"},{\"up_to\":null,"
    "\"unit_price\":\"0.5\"}],\"overrides\":{\"gold\":{\"tiers\":[{\"up_to\":null,"
    "\"unit_price\":\"0.1\"}]}}}]}]}],\"discounts\":[{\"code\":\"D\",\"name\":{\"zh-CN\":\"折\","
    "\"en\":\"D\"},\"kind\":\"loyal\",\"after_periods\":1,\"percent\":\"5\"}]}";

static const char *const tokens[] = {
    "\"", "{", "}", "[", "]", ",", ":", "null", "true", "-1", "0", "1.5", "1e999",
    "\"0.0000000001\"", "\"99999999999999999999\"", "\"-0\"", "\"\"", "\\u0000", "\"up_to\"",
    "\"tiers\"", "\"percent\":\"100\"", "\"minimum\":\"0.001\"", "9223372036854775807",
    "\"2026-02-30\"", "\"XYZ\"", "\"gold\"", "{}", "[]", "\xe4\xb8\xad", "\xff",
};

static size_t mutate(char *buf, size_t len, size_t cap)
{
    switch (below(6)) {
    case 0: /* flip a byte */
        if (len)
            buf[below(len)] ^= (char)(1u << below(8));
        break;
    case 1: { /* insert a token */
        const char *t = tokens[below(sizeof tokens / sizeof tokens[0])];
        size_t tl = strlen(t), at = below(len + 1);
        if (len + tl < cap) {
            memmove(buf + at + tl, buf + at, len - at);
            memcpy(buf + at, t, tl);
            len += tl;
        }
        break;
    }
    case 2: { /* delete a range */
        size_t at = below(len), n = 1 + below(32);
        if (at + n > len)
            n = len - at;
        memmove(buf + at, buf + at + n, len - at - n);
        len -= n;
        break;
    }
    case 3: { /* duplicate a range */
        size_t at = below(len), n = 1 + below(200);
        if (at + n > len)
            n = len - at;
        if (len + n < cap) {
            memmove(buf + at + n, buf + at, len - at);
            len += n;
        }
        break;
    }
    case 4: /* truncate */
        len = below(len + 1);
        break;
    default: { /* replace a digit with another */
        for (int tries = 0; tries < 50 && len; tries++) {
            size_t at = below(len);
            if (buf[at] >= '0' && buf[at] <= '9') {
                buf[at] = (char)('0' + below(10));
                break;
            }
        }
        break;
    }
    }
    buf[len] = '\0';
    return len;
}

int main(int argc, char **argv)
{
    size_t parsed = 0, total = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            size_t len = 0;
            char *text = slurp(argv[i], &len);
            if (!text) {
                fprintf(stderr, "catalog_fuzz: cannot read %s\n", argv[i]);
                continue;
            }
            parsed += (size_t)feed(text);
            total++;
            free(text);
        }
        printf("catalog_fuzz: %zu files, %zu parsed\n", total, parsed);
        return 0;
    }
    long n = 2000;
    const char *env = getenv("BILLOW_FUZZ_N");
    if (env && atol(env) > 0)
        n = atol(env);
    size_t len = 0;
    char *seed = load_example(argv[0], &len);
    if (!seed) {
        fprintf(stderr, "catalog_fuzz: example catalog not found, using a built-in seed\n");
        seed = malloc(sizeof fallback);
        if (!seed)
            return 1;
        memcpy(seed, fallback, sizeof fallback);
        len = sizeof fallback - 1;
    }
    check(feed(seed) == 1, "the seed document parses");
    size_t cap = len * 2 + 4096;
    char *buf = malloc(cap + 1);
    if (!buf) {
        free(seed);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        memcpy(buf, seed, len + 1);
        size_t l = len;
        int rounds = 1 + (int)below(4);
        for (int k = 0; k < rounds; k++)
            l = mutate(buf, l, cap);
        parsed += (size_t)feed(buf);
        total++;
    }
    printf("catalog_fuzz: %zu mutations, %zu still parsed\n", total, parsed);
    free(buf);
    free(seed);
    return 0;
}
