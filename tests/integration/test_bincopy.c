/* The binary COPY encoder against a real PostgreSQL: rows of every field
 * type it writes go in with one COPY and come back as the text PostgreSQL
 * prints for them, including numeric edge cases (zero, negative, the nine
 * decimal places, the largest quantity), dates and timestamps around the
 * 2000-01-01 epoch, NULL, empty and non-ASCII text, text arrays (empty,
 * one element, non-ASCII and empty elements), and a rejected UUID. */
#include "bincopy.h"
#include "db.h"
#include "errors.h"
#include "log.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


typedef struct {
    bw_dec_t dec;
    int64_t ts_us, days;
    const char *text, *uuid;
    const char *want; /* the row as PostgreSQL prints it */
} row_t;

int main(void)
{
    bw_log_init("test_bincopy");
    const char *conninfo = getenv("BW_PG_ADMIN");
    if (!conninfo) {
        printf("needs BW_PG_ADMIN\n");
        return 77;
    }
    bw_db_t *db = bw_db_new(conninfo, NULL, "bincopytest");
    if (bw_db_connect(db, 5000) < 0)
        return 1;
    bw_db_exec(db, "SET TIME ZONE 'UTC'", 0, NULL);
    bw_db_exec(db, "DROP TABLE IF EXISTS public.bincopy_t", 0, NULL);
    if (bw_db_exec(db,
                   "CREATE TABLE public.bincopy_t (k int, q numeric(28, 9), at timestamptz, d date,"
                   " t text, u uuid, b bytea, n bigint, z text, a text[])",
                   0, NULL) < 0)
        return 1;

    static const row_t rows[] = {
        {0, 0, 0, "", "00000000-0000-0000-0000-000000000000",
         "0|0.000000000|1970-01-01 00:00:00+00|1970-01-01||00000000-0000-0000-0000-000000000000"},
        {-1500000000, 946684800000000, 10957, "plain", "0f8fad5b-d9cb-469f-a165-70867728950e",
         "1|-1.500000000|2000-01-01 00:00:00+00|2000-01-01|plain|0f8fad5b-d9cb-469f-a165-70867728950e"},
        {1, 946684799999999, 10956, "上海 \"q\" \\ tab\t", "0F8FAD5BD9CB469FA16570867728950E",
         "2|0.000000001|1999-12-31 23:59:59.999999+00|1999-12-31|上海 \"q\" \\ tab\t|"
         "0f8fad5b-d9cb-469f-a165-70867728950e"},
        {INT64_C(9223372036854775807), 1795996800123456, 20787, "x",
         "ffffffff-ffff-ffff-ffff-ffffffffffff",
         "3|9223372036.854775807|2026-11-30 00:00:00.123456+00|2026-11-30|x|"
         "ffffffff-ffff-ffff-ffff-ffffffffffff"},
        {BW_DEC(10000), -86400000000, -1, "y", "12345678-1234-1234-1234-123456789abc",
         "4|10000.000000000|1969-12-31 00:00:00+00|1969-12-31|y|12345678-1234-1234-1234-123456789abc"},
        {-123456789012345678, 1, 0, "z", "12345678-1234-1234-1234-123456789abc",
         "5|-123456789.012345678|1970-01-01 00:00:00.000001+00|1970-01-01|z|"
         "12345678-1234-1234-1234-123456789abc"},
    };
    size_t n = sizeof rows / sizeof rows[0];
    static const char *const elems[] = {"上海 \"q\"", ""};
    static const char *const arrays_want[] = {"0/", "1/上海 \"q\"", "2/上海 \"q\"|"};
    bw_bincopy_t b = {0};
    bw_bincopy_begin(&b);
    for (size_t i = 0; i < n; i++) {
        bw_bincopy_row(&b, 10);
        bw_bincopy_i32(&b, (int32_t)i);
        bw_bincopy_dec(&b, rows[i].dec);
        bw_bincopy_ts(&b, rows[i].ts_us);
        bw_bincopy_date(&b, rows[i].days);
        bw_bincopy_text(&b, rows[i].text);
        int urc = bw_bincopy_uuid(&b, rows[i].uuid);
        CHECK(urc == 0, "uuid encoded");
        bw_bincopy_bytes(&b, "\0\1\377", 3);
        bw_bincopy_i64(&b, -(int64_t)i * 4000000000);
        bw_bincopy_null(&b);
        bw_bincopy_text_array(&b, elems, i % 3);
    }
    size_t before = b.len;
    int bad = bw_bincopy_uuid(&b, "not-a-uuid");
    CHECK(bad == BW_EINVAL && b.len == before, "bad uuid refused, nothing written");
    bad = bw_bincopy_uuid(&b, "0f8fad5b-d9cb-469f-a165-70867728950e00");
    CHECK(bad == BW_EINVAL && b.len == before, "too long uuid refused");
    bw_bincopy_end(&b);
    CHECK(!b.failed, "buffer built");
    int rc = bw_db_begin(db);
    rc = rc ? rc : bw_db_copy_begin(db, "COPY public.bincopy_t FROM STDIN (FORMAT binary)");
    rc = rc ? rc : bw_db_copy_put(db, (const char *)b.data, b.len);
    rc = rc ? rc : bw_db_copy_end(db);
    rc = rc ? rc : bw_db_commit(db);
    if (rc != 0)
        printf("  %s\n", bw_db_error(db));
    CHECK(rc == 0, "one COPY of all rows");
    bw_bincopy_free(&b);

    PGresult *res = bw_db_query(
        db,
        "SELECT k || '|' || q || '|' || at || '|' || d || '|' || t || '|' || u,"
        " encode(b, 'hex'), n, z IS NULL, cardinality(a) || '/' || array_to_string(a, '|')"
        " FROM public.bincopy_t ORDER BY k",
        0, NULL);
    CHECK(res && (size_t)PQntuples(res) == n, "all rows back");
    for (size_t i = 0; res && i < n && i < (size_t)PQntuples(res); i++) {
        char what[64], nwant[32];
        snprintf(what, sizeof what, "row %zu as PostgreSQL prints it", i);
        bool same = strcmp(PQgetvalue(res, (int)i, 0), rows[i].want) == 0;
        if (!same)
            printf("  got  %s\n  want %s\n", PQgetvalue(res, (int)i, 0), rows[i].want);
        CHECK(same, what);
        snprintf(nwant, sizeof nwant, "%lld", -(long long)i * 4000000000LL);
        CHECK(strcmp(PQgetvalue(res, (int)i, 1), "0001ff") == 0 &&
                  strcmp(PQgetvalue(res, (int)i, 2), nwant) == 0 &&
                  strcmp(PQgetvalue(res, (int)i, 3), "t") == 0,
              "bytea, bigint and NULL fields");
        bool arr = strcmp(PQgetvalue(res, (int)i, 4), arrays_want[i % 3]) == 0;
        if (!arr)
            printf("  got  %s\n  want %s\n", PQgetvalue(res, (int)i, 4), arrays_want[i % 3]);
        CHECK(arr, "text array");
    }
    PQclear(res);
    bw_db_exec(db, "DROP TABLE public.bincopy_t", 0, NULL);
    bw_db_destroy(&db);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
