/* Fuzz driver for the dunning schedule parser (BILLOW_DUNNING_SCHEDULE) and
 * the step choice. With file arguments it parses each file's contents; with
 * none it makes N (20000, or BILLOW_FUZZ_N) deterministic random strings
 * over the characters a schedule is made of, plus a few others. Every
 * schedule that parses must be ascending, distinct and in range, and the
 * chosen step must never be one already taken or one not yet due. A crash,
 * sanitizer report or broken invariant is the failure. Needs no libFuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invoicing/dunning.h"

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "dunning_fuzz: invariant broken: %s\n", what);
        abort();
    }
}

static int one(const char *spec)
{
    inv_dunning_schedule_t s;
    char err[128];
    if (inv_dunning_parse(spec, &s, err, sizeof err) < 0) {
        check(err[0] != '\0', "an error without a reason");
        return 0;
    }
    check(s.n >= 1 && s.n <= INV_DUNNING_MAX_STEPS, "step count");
    for (size_t i = 0; i < s.n; i++) {
        check(s.steps[i] >= -365 && s.steps[i] <= 365, "step range");
        check(i == 0 || s.steps[i - 1] < s.steps[i], "ascending and distinct");
    }
    for (int k = 0; k < 50; k++) {
        int64_t due = (int64_t)(rnd() % 40000), asof = due + (int64_t)(rnd() % 1000) - 500;
        uint32_t mask = (uint32_t)rnd() & ((1u << s.n) - 1);
        int i = inv_dunning_next(&s, due, asof, mask);
        if (i >= 0) {
            check((size_t)i < s.n, "index in range");
            check(!(mask >> i), "a taken or earlier step chosen");
            check(due + s.steps[i] <= asof, "a step not yet due chosen");
            check(inv_dunning_level(&s, (size_t)i) >= 0, "level");
        }
    }
    return 1;
}

int main(int argc, char **argv)
{
    long ok = 0, total = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            FILE *f = fopen(argv[i], "rb");
            if (!f)
                continue;
            char buf[4096];
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = '\0';
            ok += one(buf);
            total++;
        }
    } else {
        const char *env = getenv("BILLOW_FUZZ_N");
        long n = env ? atol(env) : 20000;
        static const char alphabet[] = "0123456789,,,---+ x9";
        for (long i = 0; i < n; i++) {
            char buf[96];
            size_t len = (size_t)(rnd() % (sizeof buf - 1));
            for (size_t j = 0; j < len; j++)
                buf[j] = alphabet[rnd() % (sizeof alphabet - 1)];
            buf[len] = '\0';
            ok += one(buf);
            total++;
        }
        ok += one("-3,1,7,15,30");
        total++;
    }
    printf("dunning_fuzz: %ld inputs, %ld schedules parsed\n", total, ok);
    return 0;
}
