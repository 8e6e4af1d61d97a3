/* Unit tests for common/: calendar and clock, partition specs, ids, arena,
 * settings and endpoints, error names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arena.h"
#include "clock.h"
#include "config.h"
#include "errors.h"
#include "util.h"

static void test_civil_roundtrip(void **state)
{
    (void)state;
    assert_int_equal(bw_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(bw_days_from_civil(2000, 3, 1), 11017);
    for (int64_t d = -800000; d < 800000; d += 997) {
        int y, m, dd;
        bw_civil_from_days(d, &y, &m, &dd);
        assert_int_equal(bw_days_from_civil(y, m, dd), d);
    }
    assert_int_equal(bw_days_in_month(2024, 2), 29);
    assert_int_equal(bw_days_in_month(2100, 2), 28);
    assert_int_equal(bw_days_in_month(2000, 2), 29);
    assert_int_equal(bw_days_in_month(2026, 11), 30);
}

static void test_date_parse(void **state)
{
    (void)state;
    int64_t d;
    char buf[16];
    assert_int_equal(bw_date_parse("2026-11-30", &d), 0);
    bw_date_format(d, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-30");
    assert_int_equal(bw_date_parse("2026-02-29", &d), BW_EINVAL);
    assert_int_equal(bw_date_parse("2024-02-29", &d), 0);
    assert_int_equal(bw_date_parse("2026-13-01", &d), BW_EINVAL);
    assert_int_equal(bw_date_parse("2026-1-01", &d), BW_EINVAL);
    assert_int_equal(bw_date_parse("2026-11-30x", &d), BW_EINVAL);
    assert_int_equal(bw_date_parse("", &d), BW_EINVAL);
}

static void test_time_parse_format(void **state)
{
    (void)state;
    int64_t us;
    char buf[40];
    assert_int_equal(bw_time_parse("2026-11-30T23:00:00Z", &us), 0);
    bw_time_format(us, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-30T23:00:00Z");
    int64_t us2;
    assert_int_equal(bw_time_parse("2026-12-01T07:00:00+08:00", &us2), 0);
    assert_true(us == us2);
    assert_int_equal(bw_time_parse("2026-11-30 23:00:00.5", &us2), 0);
    assert_true(us2 == us + 500000);
    assert_int_equal(bw_time_parse("2026-11-30", &us2), 0);
    assert_true(us2 == bw_days_from_civil(2026, 11, 30) * 86400LL * 1000000LL);
    assert_int_equal(bw_time_parse("2026-11-30T25:00:00Z", &us2), BW_EINVAL);
    assert_int_equal(bw_time_parse("2026-11-30T23:00:00+8", &us2), BW_EINVAL);
    assert_int_equal(bw_time_parse("yesterday", &us2), BW_EINVAL);
    bw_time_format(-1, buf, sizeof buf);
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
}

static void test_clock_pin(void **state)
{
    (void)state;
    setenv("BILLOW_NOW", "2026-11-30T23:00:00Z", 1);
    assert_int_equal(bw_clock_init(), 0);
    assert_true(bw_clock_pinned());
    char buf[40];
    bw_time_format(bw_now_us(), buf, sizeof buf);
    assert_string_equal(buf, "2026-11-30T23:00:00Z");
    setenv("BILLOW_NOW", "not a time", 1);
    assert_int_equal(bw_clock_init(), BW_EINVAL);
    unsetenv("BILLOW_NOW");
    bw_clock_pin(0);
    assert_false(bw_clock_pinned());
}

static void test_partset(void **state)
{
    (void)state;
    bw_partset_t ps;
    char buf[64], err[128];
    assert_int_equal(bw_partset_parse("0-3/8", &ps, err, sizeof err), 0);
    assert_int_equal(ps.count, 8);
    assert_int_equal(ps.n, 4);
    bw_partset_format(&ps, buf, sizeof buf);
    assert_string_equal(buf, "0-3/8");
    assert_true(bw_partset_has(&ps, 11)); /* 11 mod 8 = 3 */
    assert_false(bw_partset_has(&ps, 12));
    assert_int_equal(bw_partset_parse("1,5-6,3/8", &ps, err, sizeof err), 0);
    bw_partset_format(&ps, buf, sizeof buf);
    assert_string_equal(buf, "1,3,5-6/8");
    assert_int_equal(bw_partset_parse("0-7/8", &ps, err, sizeof err), 0);
    bw_partset_format(&ps, buf, sizeof buf);
    assert_string_equal(buf, "all");
    assert_int_equal(bw_partset_parse("all", &ps, err, sizeof err), 0);
    assert_true(bw_partset_has(&ps, 12345));
    assert_int_equal(bw_partset_parse("8/8", &ps, err, sizeof err), BW_EINVAL);
    assert_non_null(strstr(err, "0..count-1"));
    assert_int_equal(bw_partset_parse("3-1/8", &ps, err, sizeof err), BW_EINVAL);
    assert_int_equal(bw_partset_parse("1/0", &ps, err, sizeof err), BW_EINVAL);
    assert_int_equal(bw_partset_parse("1/2000", &ps, err, sizeof err), BW_EINVAL);
    assert_int_equal(bw_partset_parse("x/8", &ps, err, sizeof err), BW_EINVAL);
    assert_int_equal(bw_partset_parse("1;2/8", &ps, err, sizeof err), BW_EINVAL);
    assert_int_equal(bw_partset_parse("3", &ps, err, sizeof err), BW_EINVAL);
}

static void test_ids(void **state)
{
    (void)state;
    char a[37], b[37], h[65];
    bw_uuid(a);
    bw_uuid(b);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_string_not_equal(a, b);
    bw_random_hex(h, 32);
    assert_int_equal(strlen(h), 64);
    /* Ids drawn across several refills of the random pool: well formed and
     * all different. */
    enum { N = 2000 };
    static char ids[N][37];
    for (int i = 0; i < N; i++) {
        bw_uuid(ids[i]);
        for (int k = 0; k < 36; k++) {
            char c = ids[i][k];
            if (k == 8 || k == 13 || k == 18 || k == 23)
                assert_int_equal(c, '-');
            else
                assert_true((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        }
        assert_int_equal(ids[i][14], '4');
        assert_non_null(strchr("89ab", ids[i][19]));
        assert_int_equal(ids[i][36], '\0');
    }
    qsort(ids, N, sizeof ids[0], (int (*)(const void *, const void *))strcmp);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    /* A forked child does not hand out the parent's next id. */
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c[37];
        bw_uuid(c);
        _exit(write(fd[1], c, sizeof c) == (ssize_t)sizeof c ? 0 : 1);
    }
    char mine[37], childs[37] = "";
    bw_uuid(mine);
    int status = 0;
    waitpid(pid, &status, 0);
    assert_int_equal(read(fd[0], childs, sizeof childs), (ssize_t)sizeof childs);
    close(fd[0]);
    close(fd[1]);
    assert_int_equal(status, 0);
    assert_string_not_equal(mine, childs);
    /* The partition hash is part of the on-disk format: it must never change. */
    assert_int_equal(bw_partition_of(""), 2166136261u & 0x7fffffffu);
    assert_int_equal(bw_partition_of("acct-1"), bw_partition_of("acct-1"));
    assert_int_not_equal(bw_partition_of("acct-1"), bw_partition_of("acct-2"));
}

static void test_arena(void **state)
{
    (void)state;
    bw_arena_t *a = bw_arena_new();
    assert_non_null(a);
    assert_string_equal(bw_arena_html(a, "<a href=\"x\">R&D</a> 上海"),
                        "&lt;a href=&quot;x&quot;&gt;R&amp;D&lt;/a&gt; 上海");
    assert_string_equal(bw_arena_json(a, "say \"hi\"\\\n\x01 上海"),
                        "say \\\"hi\\\"\\\\\\u000a\\u0001 上海");
    assert_string_equal(bw_arena_html(a, ""), "");
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++) {
            char *p = bw_arena_alloc(a, (size_t)(i % 300) + 1);
            assert_non_null(p);
            assert_true(((uintptr_t)p % _Alignof(max_align_t)) == 0);
            memset(p, 0xab, (size_t)(i % 300) + 1);
        }
        char *big = bw_arena_alloc(a, 1 << 20);
        assert_non_null(big);
        memset(big, 1, 1 << 20);
        assert_string_equal(bw_arena_printf(a, "%s-%d", "x", 42), "x-42");
        assert_string_equal(bw_arena_strdup(a, "hello"), "hello");
        bw_arena_reset(a);
    }
    ProtobufCAllocator *pb = bw_arena_pb(a);
    void *p = pb->alloc(pb->allocator_data, 100);
    assert_non_null(p);
    pb->free(pb->allocator_data, p);
    bw_arena_destroy(&a);
    assert_null(a);
    bw_arena_destroy(&a); /* safe on NULL */
}

static void test_config(void **state)
{
    (void)state;
    char ep[256], conn[256];
    const char *user;
    unsetenv("BILLOW_RATING_API");
    setenv("BILLOW_PORT_BASE", "9000", 1);
    assert_int_equal(bw_endpoint("rating", "api", 0, ep, sizeof ep), 0);
    assert_string_equal(ep, "tcp://127.0.0.1:9001");
    assert_int_equal(bw_endpoint("feedback", "stream", 0, ep, sizeof ep), 0);
    assert_string_equal(ep, "tcp://127.0.0.1:9032");
    setenv("BILLOW_RATING_API", "tcp://rating:7101", 1);
    setenv("BILLOW_RATING_API_BIND", "tcp://*:7101", 1);
    assert_int_equal(bw_endpoint("rating", "api", 0, ep, sizeof ep), 0);
    assert_string_equal(ep, "tcp://rating:7101");
    assert_int_equal(bw_endpoint("rating", "api", 1, ep, sizeof ep), 0);
    assert_string_equal(ep, "tcp://*:7101");
    assert_int_equal(bw_endpoint("nosuch", "api", 0, ep, sizeof ep), BW_EINVAL);
    setenv("BILLOW_PORT_BASE", "80", 1);
    unsetenv("BILLOW_RATING_API");
    assert_int_equal(bw_endpoint("rating", "api", 0, ep, sizeof ep), BW_EINVAL);
    unsetenv("BILLOW_PORT_BASE");
    unsetenv("BILLOW_RATING_API_BIND");

    unsetenv("BILLOW_DATABASE_URL");
    unsetenv("BILLOW_INVOICING_DATABASE_URL");
    assert_int_equal(bw_db_conninfo("invoicing", conn, sizeof conn, &user), BW_EINVAL);
    setenv("BILLOW_DATABASE_URL", "host=/x dbname=billow", 1);
    assert_int_equal(bw_db_conninfo("invoicing", conn, sizeof conn, &user), 0);
    assert_string_equal(user, "invoicing");
    setenv("BILLOW_INVOICING_DATABASE_URL", "postgresql://inv@db/billow", 1);
    assert_int_equal(bw_db_conninfo("invoicing", conn, sizeof conn, &user), 0);
    assert_null(user);
    assert_string_equal(conn, "postgresql://inv@db/billow");

    long long v;
    setenv("BW_TEST_INT", "12x", 1);
    assert_int_equal(bw_env_int("BW_TEST_INT", 5, 0, 100, &v), BW_EINVAL);
    setenv("BW_TEST_INT", "101", 1);
    assert_int_equal(bw_env_int("BW_TEST_INT", 5, 0, 100, &v), BW_EINVAL);
    unsetenv("BW_TEST_INT");
    assert_int_equal(bw_env_int("BW_TEST_INT", 5, 0, 100, &v), 0);
    assert_int_equal(v, 5);
    assert_string_equal(bw_strerror(BW_ETIMEOUT), "timed out");
}

static void test_grow(void **state)
{
    (void)state;
    char *p = NULL;
    size_t cap = 0;
    assert_int_equal(bw_grow(&p, &cap, 10, 16), 0);
    assert_int_equal(cap, 16);
    memcpy(p, "0123456789", 10);
    assert_int_equal(bw_grow(&p, &cap, 16, 16), 0); /* fits: unchanged */
    assert_int_equal(cap, 16);
    assert_int_equal(bw_grow(&p, &cap, 100, 16), 0); /* doubles until it fits */
    assert_int_equal(cap, 128);
    assert_memory_equal(p, "0123456789", 10);
    uint8_t *q = (uint8_t *)p;
    assert_int_equal(bw_grow(&q, &cap, SIZE_MAX, 16), BW_ENOMEM); /* left as it was */
    assert_int_equal(cap, 128);
    assert_ptr_equal(q, p);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_civil_roundtrip), cmocka_unit_test(test_date_parse),
        cmocka_unit_test(test_time_parse_format), cmocka_unit_test(test_clock_pin),
        cmocka_unit_test(test_partset), cmocka_unit_test(test_ids),
        cmocka_unit_test(test_arena), cmocka_unit_test(test_config),
        cmocka_unit_test(test_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
