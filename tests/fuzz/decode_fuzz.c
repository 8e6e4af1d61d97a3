/* Fuzz driver for the decoders every service runs on untrusted input: the
 * protobuf envelopes (Request, Fetch, Batch, Event), partition specs, times
 * and dates, decimals and money. Files given as arguments are fed as they
 * are; with none, 20,000 deterministic inputs are generated from a fixed
 * seed (random bytes, and mutations of valid encodings and strings). Any
 * crash, sanitizer report or leak fails it; exit 0 otherwise. */
#include "api.pb-c.h"
#include "clock.h"
#include "events.pb-c.h"
#include "money.h"
#include "pbjson.h"
#include "stream.pb-c.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void feed(const uint8_t *data, size_t len)
{
    Billow__Request *r = billow__request__unpack(NULL, len, data);
    if (r) {
        json_object *o = bw_pb_to_json(&r->base); /* walks every decoded field */
        json_object_put(o);
        billow__request__free_unpacked(r, NULL);
    }
    Billow__Fetch *f = billow__fetch__unpack(NULL, len, data);
    if (f)
        billow__fetch__free_unpacked(f, NULL);
    Billow__Batch *b = billow__batch__unpack(NULL, len, data);
    if (b)
        billow__batch__free_unpacked(b, NULL);
    Billow__Event *e = billow__event__unpack(NULL, len, data);
    if (e) {
        json_object *o = bw_pb_to_json(&e->base);
        json_object_put(o);
        billow__event__free_unpacked(e, NULL);
    }
    /* The same bytes as text for the string parsers. */
    char s[256];
    size_t n = len < sizeof s - 1 ? len : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = '\0';
    bw_partset_t ps;
    char err[128], buf[64];
    if (bw_partset_parse(s, &ps, err, sizeof err) == 0)
        bw_partset_format(&ps, buf, sizeof buf);
    int64_t t;
    if (bw_time_parse(s, &t) == 0)
        bw_time_format(t, buf, sizeof buf);
    if (bw_date_parse(s, &t) == 0)
        bw_date_format(t, buf, sizeof buf);
    bw_dec_t d;
    if (bw_dec_parse(s, &d, err, sizeof err) == 0)
        bw_dec_format(d, buf, sizeof buf);
    int64_t minor;
    if (bw_money_parse(s, "CNY", &minor, err, sizeof err) == 0)
        bw_money_format(minor, "CNY", buf, sizeof buf);
    bw_money_parse(s, "JPY", &minor, err, sizeof err);
}

static size_t valid_request(uint8_t *out, size_t cap)
{
    Billow__Request req = BILLOW__REQUEST__INIT;
    Billow__InvoicingRequest ir = BILLOW__INVOICING_REQUEST__INIT;
    Billow__AccountUpsert up = BILLOW__ACCOUNT_UPSERT__INIT;
    Billow__AccountChanged a = BILLOW__ACCOUNT_CHANGED__INIT;
    a.account_id = "ACME";
    a.name = "Acme 上海";
    a.currency = "CNY";
    up.account = &a;
    ir.op_case = BILLOW__INVOICING_REQUEST__OP_ACCOUNT_UPSERT;
    ir.account_upsert = &up;
    req.id = 7;
    req.idempotency_key = "k";
    req.body_case = BILLOW__REQUEST__BODY_INVOICING;
    req.invoicing = &ir;
    size_t len = billow__request__get_packed_size(&req);
    return len <= cap ? billow__request__pack(&req, out) : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            FILE *f = fopen(argv[i], "rb");
            if (!f)
                continue;
            static uint8_t buf[1 << 20];
            size_t n = fread(buf, 1, sizeof buf, f);
            fclose(f);
            feed(buf, n);
        }
        return 0;
    }
    static const char *seeds[] = {"0-3/8", "1,5-6/8", "all", "2026-11-30T23:00:00.5+08:00",
                                  "2026-02-29", "123.456789", "-0.000000001", "99999999999.99"};
    uint8_t base[512], buf[512];
    size_t blen = valid_request(base, sizeof base);
    unsigned seed = 20261124;
    const char *env = getenv("BILLOW_FUZZ_N");
    long total = env ? atol(env) : 20000;
    for (long i = 0; i < total; i++) {
        size_t len;
        int kind = rand_r(&seed) % 3;
        if (kind == 0) { /* random bytes */
            len = (size_t)(rand_r(&seed) % 200);
            for (size_t k = 0; k < len; k++)
                buf[k] = (uint8_t)rand_r(&seed);
        } else if (kind == 1) { /* a valid request, mutated */
            len = blen;
            memcpy(buf, base, len);
            for (int m = 0; m < 1 + rand_r(&seed) % 4; m++)
                buf[rand_r(&seed) % len] = (uint8_t)rand_r(&seed);
            if (rand_r(&seed) % 4 == 0)
                len = (size_t)rand_r(&seed) % (len + 1); /* truncated */
        } else { /* a valid string, mutated */
            const char *s = seeds[rand_r(&seed) % (sizeof seeds / sizeof *seeds)];
            len = strlen(s);
            memcpy(buf, s, len);
            if (len)
                buf[rand_r(&seed) % len] = (uint8_t)(32 + rand_r(&seed) % 95);
        }
        feed(buf, len);
    }
    printf("%ld inputs ok\n", total);
    return 0;
}
