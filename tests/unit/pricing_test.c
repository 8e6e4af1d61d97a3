/* Worked examples for the pricing engine: every model and discount with
 * the arithmetic written out next to the expected amounts, including the
 * boundaries (a quantity on a tier edge, zero usage, one day of proration,
 * exact half minor units, JPY, the discount stacking order, min/max of
 * percentage fees, true-ups). Amounts are in minor units (fen for CNY). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "clock.h"
#include "errors.h"
#include "money.h"
#include "rating/pricing.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bw_dec_t D(const char *s)
{
    bw_dec_t v = 0;
    assert_int_equal(bw_dec_parse(s, &v, NULL, 0), 0);
    return v;
}

static int64_t day(const char *s)
{
    int64_t d = 0;
    assert_int_equal(bw_date_parse(s, &d), 0);
    return d;
}

/* November 2026 (30 days), fully active, the customer's first period. */
static rt_rate_input_t nov(void)
{
    rt_rate_input_t in = {0};
    in.period_start = in.active_start = day("2026-11-01");
    in.period_end = in.active_end = day("2026-12-01");
    in.period_number = 1;
    return in;
}

static rt_result_t *rate_full(const char *cur, const rt_charge_t *ch, size_t n,
                              const rt_discount_t *ds, size_t nd, const rt_settings_t *set,
                              const rt_rate_input_t *in)
{
    rt_price_version_t pv = {.plan = "TEST", .charges = ch, .n_charges = n};
    memcpy(pv.currency, cur, 4);
    rt_result_t *r = NULL;
    char err[256];
    int rc = rt_rate(&pv, ds, nd, set, in, &r, err, sizeof err);
    if (rc != 0)
        print_error("rt_rate: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(r);
    return r;
}

/* One charge with one usage quantity ("-" for none). */
static rt_result_t *rate1(const rt_charge_t *ch, const char *qty, const rt_settings_t *set)
{
    rt_rate_input_t in = nov();
    rt_usage_t u = {.fee_item = ch->fee_item};
    if (strcmp(qty, "-") != 0) {
        u.quantity = D(qty);
        in.usage = &u;
        in.n_usage = 1;
    }
    return rate_full("CNY", ch, 1, NULL, 0, set, &in);
}

static int64_t amount1(const rt_charge_t *ch, const char *qty, const rt_settings_t *set)
{
    rt_result_t *r = rate1(ch, qty, set);
    int64_t a = r->total;
    rt_result_destroy(&r);
    assert_null(r);
    return a;
}

static const rt_settings_t EXCL = {RT_PRORATE_ACTUAL_DAYS, BW_ROUND_HALF_EVEN, RT_BOUNDS_EXCLUSIVE};
static const rt_settings_t HALF_UP = {RT_PRORATE_ACTUAL_DAYS, BW_ROUND_HALF_UP,
                                      RT_BOUNDS_INCLUSIVE};
static const rt_settings_t DAYS30 = {RT_PRORATE_30_DAY_MONTH, BW_ROUND_HALF_EVEN,
                                     RT_BOUNDS_INCLUSIVE};

/* --- proration ------------------------------------------------------------ */

static void test_prorate(void **state)
{
    (void)state;
    int64_t n, d;
    int64_t s = day("2026-11-01"), e = day("2026-12-01");
    assert_int_equal(rt_prorate(RT_PRORATE_ACTUAL_DAYS, s, e, s, e, &n, &d), 0);
    assert_true(n == 1 && d == 1);
    /* active before and after the period: still the whole period */
    assert_int_equal(rt_prorate(RT_PRORATE_ACTUAL_DAYS, s, e, s - 40, e + 40, &n, &d), 0);
    assert_true(n == 1 && d == 1);
    /* one day: Nov 30 only */
    assert_int_equal(rt_prorate(RT_PRORATE_ACTUAL_DAYS, s, e, e - 1, e + 99, &n, &d), 0);
    assert_true(n == 1 && d == 30);
    /* no overlap */
    assert_int_equal(rt_prorate(RT_PRORATE_ACTUAL_DAYS, s, e, e, e + 5, &n, &d), 0);
    assert_true(n == 0 && d == 30);
    /* October has 31 days: 15 active days are 15/31 actual, 15/30 on a 30-day month */
    int64_t os = day("2026-10-01"), oe = day("2026-11-01");
    assert_int_equal(rt_prorate(RT_PRORATE_ACTUAL_DAYS, os, oe, day("2026-10-17"), oe, &n, &d), 0);
    assert_true(n == 15 && d == 31);
    assert_int_equal(rt_prorate(RT_PRORATE_30_DAY_MONTH, os, oe, day("2026-10-17"), oe, &n, &d), 0);
    assert_true(n == 15 && d == 30);
    /* Oct 1..30 is 30 active days of 31: on 30-day months that is 30/30 */
    assert_int_equal(rt_prorate(RT_PRORATE_30_DAY_MONTH, os, oe, day("2026-10-01"),
                                day("2026-10-31"), &n, &d), 0);
    assert_true(n == 30 && d == 30);
    /* February 2027 (28 days): 14 days are 14/28 actual, 14/30 on 30-day months */
    int64_t fs = day("2027-02-01"), fe = day("2027-03-01");
    assert_int_equal(rt_prorate(RT_PRORATE_30_DAY_MONTH, fs, fe, day("2027-02-15"), fe, &n, &d), 0);
    assert_true(n == 14 && d == 30);
    /* a quarter on 30-day months is 90 days */
    assert_int_equal(rt_prorate(RT_PRORATE_30_DAY_MONTH, day("2026-10-01"), day("2027-01-01"),
                                day("2026-12-01"), day("2027-01-01"), &n, &d), 0);
    assert_true(n == 31 && d == 90);
    /* empty or reversed ranges are errors */
    assert_int_equal(rt_prorate(RT_PRORATE_ACTUAL_DAYS, s, s, s, e, &n, &d), BW_EINVAL);
    assert_int_equal(rt_prorate(RT_PRORATE_ACTUAL_DAYS, s, e, e, s, &n, &d), BW_EINVAL);
}

/* --- flat and setup -------------------------------------------------------- */

static void test_flat_and_setup(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "PLATFORM", .model = RT_MODEL_FLAT, .prorate = true,
                      .setup_fee = D("500")};
    ch.price.amount = D("199");
    rt_rate_input_t in = nov();
    in.include_setup = true;
    rt_result_t *r = rate_full("CNY", &ch, 1, NULL, 0, NULL, &in);
    /* setup 500.00 first, then the month's 199.00 */
    assert_int_equal(r->n_lines, 2);
    assert_int_equal(r->lines[0].kind, RT_LINE_SETUP);
    assert_int_equal(r->lines[0].amount, 50000);
    assert_int_equal(r->lines[1].kind, RT_LINE_CHARGE);
    assert_int_equal(r->lines[1].amount, 19900);
    assert_int_equal(r->lines[1].quantity, BW_DEC(1));
    assert_int_equal(r->lines[1].unit_price, D("199"));
    assert_string_equal(r->lines[1].fee_item, "PLATFORM");
    assert_int_equal(r->total, 69900);
    assert_string_equal(r->currency, "CNY");
    rt_result_destroy(&r);

    /* no setup after the first period; usage is ignored by flat fees */
    in.include_setup = false;
    rt_usage_t u = {.fee_item = "PLATFORM", .quantity = D("7")};
    in.usage = &u;
    in.n_usage = 1;
    r = rate_full("CNY", &ch, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->n_lines, 1);
    assert_int_equal(r->total, 19900);
    rt_result_destroy(&r);
}

static void test_flat_prorated(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "PLATFORM", .model = RT_MODEL_FLAT, .prorate = true};
    ch.price.amount = D("199");
    rt_rate_input_t in = nov();
    /* from Nov 16: 15 of 30 days: 199 * 15/30 = 99.50 */
    in.active_start = day("2026-11-16");
    rt_result_t *r = rate_full("CNY", &ch, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->lines[0].kind, RT_LINE_PRORATION);
    assert_int_equal(r->lines[0].prorate_num, 15);
    assert_int_equal(r->lines[0].prorate_den, 30);
    assert_int_equal(r->lines[0].amount, 9950);
    rt_result_destroy(&r);

    /* one day (Nov 30): 199 / 30 = 6.6333.. -> 6.63 */
    in.active_start = day("2026-11-30");
    r = rate_full("CNY", &ch, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->lines[0].amount, 663);
    rt_result_destroy(&r);

    /* October, cancelled from Oct 17 (active Oct 1..16 = 16 days):
     * actual days 199 * 16/31 = 102.7096.. -> 102.71;
     * 30-day month 199 * 16/30 = 106.1333.. -> 106.13 */
    in.period_start = in.active_start = day("2026-10-01");
    in.period_end = day("2026-11-01");
    in.active_end = day("2026-10-17");
    r = rate_full("CNY", &ch, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->lines[0].amount, 10271);
    rt_result_destroy(&r);
    r = rate_full("CNY", &ch, 1, NULL, 0, &DAYS30, &in);
    assert_int_equal(r->lines[0].prorate_den, 30);
    assert_int_equal(r->lines[0].amount, 10613);
    rt_result_destroy(&r);

    /* a charge without prorate is billed whole */
    ch.prorate = false;
    r = rate_full("CNY", &ch, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->lines[0].kind, RT_LINE_CHARGE);
    assert_int_equal(r->lines[0].amount, 19900);
    rt_result_destroy(&r);
}

/* --- per unit, free units --------------------------------------------------- */

static void test_per_unit(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "SEATS", .model = RT_MODEL_PER_UNIT};
    ch.price.unit_price = D("99");
    /* 12 seats * 99.00 = 1188.00 */
    assert_int_equal(amount1(&ch, "12", NULL), 118800);
    /* zero and missing usage price to zero, with a line to show it */
    assert_int_equal(amount1(&ch, "0", NULL), 0);
    rt_result_t *r = rate1(&ch, "-", NULL);
    assert_int_equal(r->n_lines, 1);
    assert_int_equal(r->lines[0].amount, 0);
    rt_result_destroy(&r);
    /* fractional consulting hours: 2.5 h * 800.00 = 2000.00 */
    ch.price.unit_price = D("800");
    assert_int_equal(amount1(&ch, "2.5", NULL), 200000);
    /* 0.333 h * 800 = 266.40 exactly */
    assert_int_equal(amount1(&ch, "0.333", NULL), 26640);
}

static void test_free_units(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "API", .model = RT_MODEL_PER_UNIT, .free_units = D("1000")};
    ch.price.unit_price = D("0.1");
    /* 1500 calls, 1000 free: 500 * 0.10 = 50.00 */
    rt_result_t *r = rate1(&ch, "1500", NULL);
    assert_int_equal(r->lines[0].amount, 5000);
    assert_int_equal(r->lines[0].quantity, D("500"));
    assert_int_equal(r->lines[0].free_units, D("1000"));
    rt_result_destroy(&r);
    /* 800 calls: all free, 800 shown as deducted */
    r = rate1(&ch, "800", NULL);
    assert_int_equal(r->lines[0].amount, 0);
    assert_int_equal(r->lines[0].quantity, 0);
    assert_int_equal(r->lines[0].free_units, D("800"));
    rt_result_destroy(&r);
    /* free units come off before tiers: graduated 0..100 @1, then @0.5;
     * 1150 - 1000 free = 150 -> 100*1 + 50*0.5 = 125.00 */
    rt_tier_t t[] = {{false, D("100"), D("1"), 0}, {true, 0, D("0.5"), 0}};
    ch.model = RT_MODEL_GRADUATED;
    ch.price.tiers = t;
    ch.price.n_tiers = N(t);
    assert_int_equal(amount1(&ch, "1150", NULL), 12500);
}

/* --- tiers ------------------------------------------------------------------ */

static const rt_tier_t grad_tiers[] = {
    {false, BW_DEC(100), BW_DEC(1), 0},                     /* 0..100 @ 1.00 */
    {false, BW_DEC(1000), BW_DEC(1) / 2, BW_DEC(10)},       /* ..1000 @ 0.50 + 10.00 */
    {true, 0, BW_DEC(1) / 5, 0},                            /* above  @ 0.20 */
};

static void test_graduated(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "API", .model = RT_MODEL_GRADUATED};
    ch.price.tiers = grad_tiers;
    ch.price.n_tiers = N(grad_tiers);
    /* 1500: 100*1.00 + (900*0.50 + 10) + 500*0.20 = 100 + 460 + 100 = 660.00 */
    rt_result_t *r = rate1(&ch, "1500", NULL);
    const rt_line_t *l = &r->lines[0];
    assert_int_equal(l->amount, 66000);
    assert_int_equal(l->n_tiers, 3);
    assert_int_equal(l->tiers[0].from, 0);
    assert_int_equal(l->tiers[0].to, D("100"));
    assert_int_equal(l->tiers[0].quantity, D("100"));
    assert_int_equal(l->tiers[0].amount, D("100"));
    assert_int_equal(l->tiers[1].from, D("100"));
    assert_int_equal(l->tiers[1].to, D("1000"));
    assert_int_equal(l->tiers[1].quantity, D("900"));
    assert_int_equal(l->tiers[1].unit_price, D("0.5"));
    assert_int_equal(l->tiers[1].flat_fee, D("10"));
    assert_int_equal(l->tiers[1].amount, D("460"));
    assert_true(l->tiers[2].unbounded);
    assert_int_equal(l->tiers[2].quantity, D("500"));
    assert_int_equal(l->tiers[2].amount, D("100"));
    rt_result_destroy(&r);

    /* exactly on the edge, inclusive: 100 stays in tier 1 -> 100.00 */
    r = rate1(&ch, "100", NULL);
    assert_int_equal(r->lines[0].n_tiers, 1);
    assert_int_equal(r->lines[0].amount, 10000);
    rt_result_destroy(&r);
    /* exclusive: 100 reaches tier 2 (0 units) and pays its flat fee: 110.00 */
    r = rate1(&ch, "100", &EXCL);
    assert_int_equal(r->lines[0].n_tiers, 2);
    assert_int_equal(r->lines[0].tiers[1].quantity, 0);
    assert_int_equal(r->lines[0].amount, 11000);
    rt_result_destroy(&r);
    /* just above the edge: 100.5 -> 100 + 0.5*0.5 + 10 = 110.25 either way */
    assert_int_equal(amount1(&ch, "100.5", NULL), 11025);
    assert_int_equal(amount1(&ch, "100.5", &EXCL), 11025);
    /* zero usage: nothing reached, no flat fee */
    r = rate1(&ch, "0", &EXCL);
    assert_int_equal(r->lines[0].amount, 0);
    assert_int_equal(r->lines[0].n_tiers, 0);
    rt_result_destroy(&r);
}

static void test_volume(void **state)
{
    (void)state;
    rt_tier_t t[] = {
        {false, D("1000"), D("0.05"), 0},
        {false, D("10000"), D("0.04"), D("5")},
        {true, 0, D("0.03"), 0},
    };
    rt_charge_t ch = {.fee_item = "SMS", .model = RT_MODEL_VOLUME};
    ch.price.tiers = t;
    ch.price.n_tiers = N(t);
    /* 1000 inclusive: all at tier 1: 1000 * 0.05 = 50.00 */
    assert_int_equal(amount1(&ch, "1000", NULL), 5000);
    /* 1000 exclusive: tier 2: 1000 * 0.04 + 5 = 45.00 */
    rt_result_t *r = rate1(&ch, "1000", &EXCL);
    assert_int_equal(r->lines[0].amount, 4500);
    assert_int_equal(r->lines[0].unit_price, D("0.04"));
    assert_int_equal(r->lines[0].n_tiers, 1);
    assert_int_equal(r->lines[0].tiers[0].from, D("1000"));
    assert_int_equal(r->lines[0].tiers[0].quantity, D("1000"));
    assert_int_equal(r->lines[0].tiers[0].amount, D("45"));
    rt_result_destroy(&r);
    /* 20000: all at 0.03 = 600.00 */
    assert_int_equal(amount1(&ch, "20000", NULL), 60000);
    /* 999: 999 * 0.05 = 49.95 */
    assert_int_equal(amount1(&ch, "999", NULL), 4995);
    assert_int_equal(amount1(&ch, "0", NULL), 0);
}

static void test_stairstep(void **state)
{
    (void)state;
    rt_tier_t t[] = {
        {false, D("10"), 0, D("100")},
        {false, D("50"), 0, D("400")},
        {true, 0, 0, D("1000")},
    };
    rt_charge_t ch = {.fee_item = "USERS", .model = RT_MODEL_STAIRSTEP};
    ch.price.tiers = t;
    ch.price.n_tiers = N(t);
    assert_int_equal(amount1(&ch, "1", NULL), 10000);    /* 1..10 -> 100.00 */
    assert_int_equal(amount1(&ch, "10", NULL), 10000);   /* edge, inclusive -> 100.00 */
    assert_int_equal(amount1(&ch, "10", &EXCL), 40000);  /* edge, exclusive -> 400.00 */
    assert_int_equal(amount1(&ch, "50", NULL), 40000);
    assert_int_equal(amount1(&ch, "51", NULL), 100000);  /* above 50 -> 1000.00 */
    assert_int_equal(amount1(&ch, "0", NULL), 0);        /* zero usage -> 0 */
}

static void test_package(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "VISITS", .model = RT_MODEL_PACKAGE};
    ch.price.package_size = D("100");
    ch.price.amount = D("5");
    /* 250 -> ceil(2.5) = 3 packs * 5.00 = 15.00 */
    rt_result_t *r = rate1(&ch, "250", NULL);
    assert_int_equal(r->lines[0].packages, 3);
    assert_int_equal(r->lines[0].amount, 1500);
    rt_result_destroy(&r);
    assert_int_equal(amount1(&ch, "300", NULL), 1500);   /* exactly 3 packs */
    assert_int_equal(amount1(&ch, "300.01", NULL), 2000); /* a sliver more: 4 */
    assert_int_equal(amount1(&ch, "1", NULL), 500);
    assert_int_equal(amount1(&ch, "0", NULL), 0);
}

/* --- percentage ---------------------------------------------------------- */

static void test_percentage(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "PAY", .model = RT_MODEL_PERCENTAGE};
    ch.price.percent = D("2.5");
    ch.price.fixed_fee = D("0.3");
    ch.price.has_min = ch.price.has_max = true;
    ch.price.min_fee = D("1");
    ch.price.max_fee = D("50");
    bw_dec_t tx[] = {D("10"), D("100"), D("5000")};
    rt_usage_t u = {.fee_item = "PAY", .transactions = tx, .n_transactions = N(tx)};
    rt_rate_input_t in = nov();
    in.usage = &u;
    in.n_usage = 1;
    /* 10.00:   0.25 + 0.30 = 0.55  -> raised to min 1.00
     * 100.00:  2.50 + 0.30 = 2.80
     * 5000.00: 125.00 + 0.30 = 125.30 -> capped at max 50.00
     * total 53.80 */
    rt_result_t *r = rate_full("CNY", &ch, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->lines[0].amount, 5380);
    assert_int_equal(r->lines[0].n_transactions, 3);
    assert_int_equal(r->lines[0].quantity, D("5110"));
    assert_int_equal(r->lines[0].unit_price, D("0.025"));
    rt_result_destroy(&r);

    /* no transactions: 0 */
    u.n_transactions = 0;
    r = rate_full("CNY", &ch, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->total, 0);
    rt_result_destroy(&r);

    /* the line is rounded once, not each transaction: 0.5% of 1.00 three
     * times is 3 * 0.005 = 0.015 -> 0.02 (each alone would be 0.00) */
    rt_charge_t p2 = {.fee_item = "PAY", .model = RT_MODEL_PERCENTAGE};
    p2.price.percent = D("0.5");
    bw_dec_t three[] = {D("1"), D("1"), D("1")};
    u.transactions = three;
    u.n_transactions = 3;
    r = rate_full("CNY", &p2, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->total, 2);
    rt_result_destroy(&r);
    /* one: 0.005 is exactly half a fen: half-even 0.00, half-up 0.01 */
    u.n_transactions = 1;
    r = rate_full("CNY", &p2, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->total, 0);
    rt_result_destroy(&r);
    r = rate_full("CNY", &p2, 1, NULL, 0, &HALF_UP, &in);
    assert_int_equal(r->total, 1);
    rt_result_destroy(&r);

    /* a negative transaction is bad input */
    bw_dec_t neg[] = {D("-1")};
    u.transactions = neg;
    rt_price_version_t pv = {.plan = "P", .currency = "CNY", .charges = &p2, .n_charges = 1};
    char err[128];
    assert_int_equal(rt_rate(&pv, NULL, 0, NULL, &in, &r, err, sizeof err), BW_EINVAL);
    assert_null(r);
    assert_string_equal(err, "PAY: transaction 0: amount must not be negative");
}

/* --- rounding and currencies ----------------------------------------------- */

static void test_rounding_half(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "X", .model = RT_MODEL_PER_UNIT};
    ch.price.unit_price = D("0.005");
    /* 1 * 0.005 = 0.005: half a fen: even -> 0.00, up -> 0.01 */
    assert_int_equal(amount1(&ch, "1", NULL), 0);
    assert_int_equal(amount1(&ch, "1", &HALF_UP), 1);
    /* 3 * 0.005 = 0.015: even -> 0.02 (2 is even), up -> 0.02 */
    assert_int_equal(amount1(&ch, "3", NULL), 2);
    assert_int_equal(amount1(&ch, "3", &HALF_UP), 2);
    /* 5 * 0.005 = 0.025: even -> 0.02, up -> 0.03 */
    assert_int_equal(amount1(&ch, "5", NULL), 2);
    assert_int_equal(amount1(&ch, "5", &HALF_UP), 3);
    /* not a tie: 0.0051 -> 0.01 both ways */
    ch.price.unit_price = D("0.0051");
    assert_int_equal(amount1(&ch, "1", NULL), 1);
}

static void test_jpy(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "X", .model = RT_MODEL_PER_UNIT};
    ch.price.unit_price = D("0.5");
    rt_rate_input_t in = nov();
    rt_usage_t u = {.fee_item = "X", .quantity = D("5")};
    in.usage = &u;
    in.n_usage = 1;
    /* 5 * 0.5 = 2.5 yen: even -> 2, up -> 3 */
    rt_result_t *r = rate_full("JPY", &ch, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->total, 2);
    assert_string_equal(r->currency, "JPY");
    rt_result_destroy(&r);
    r = rate_full("JPY", &ch, 1, NULL, 0, &HALF_UP, &in);
    assert_int_equal(r->total, 3);
    rt_result_destroy(&r);
    /* flat 9800 yen, one day of 30: 326.66.. -> 327 */
    rt_charge_t f = {.fee_item = "BASE", .model = RT_MODEL_FLAT, .prorate = true};
    f.price.amount = D("9800");
    in.usage = NULL;
    in.n_usage = 0;
    in.active_start = day("2026-11-30");
    r = rate_full("JPY", &f, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->total, 327);
    rt_result_destroy(&r);
}

/* --- minimum commitment --------------------------------------------------- */

static void test_true_up(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "API", .model = RT_MODEL_PER_UNIT, .has_minimum = true,
                      .minimum = 10000};
    ch.price.unit_price = D("0.1");
    /* 300 * 0.10 = 30.00, minimum 100.00: true-up 70.00, total 100.00 */
    rt_result_t *r = rate1(&ch, "300", NULL);
    assert_int_equal(r->n_lines, 2);
    assert_int_equal(r->lines[0].amount, 3000);
    assert_int_equal(r->lines[1].kind, RT_LINE_TRUE_UP);
    assert_string_equal(r->lines[1].fee_item, "API");
    assert_int_equal(r->lines[1].amount, 7000);
    assert_int_equal(r->lines[1].unit_price, D("100"));
    assert_int_equal(r->total, 10000);
    rt_result_destroy(&r);
    /* 2000 * 0.10 = 200.00 >= 100.00: no true-up */
    r = rate1(&ch, "2000", NULL);
    assert_int_equal(r->n_lines, 1);
    assert_int_equal(r->total, 20000);
    rt_result_destroy(&r);
    /* exactly at the minimum: 1000 * 0.10 = 100.00, no true-up */
    r = rate1(&ch, "1000", NULL);
    assert_int_equal(r->n_lines, 1);
    rt_result_destroy(&r);
    /* zero usage: the whole minimum */
    r = rate1(&ch, "0", NULL);
    assert_int_equal(r->n_lines, 2);
    assert_int_equal(r->lines[1].amount, 10000);
    rt_result_destroy(&r);
    /* half the month active: minimum 100.00 * 15/30 = 50.00; usage 30.00 -> 20.00 */
    rt_rate_input_t in = nov();
    in.active_start = day("2026-11-16");
    rt_usage_t u = {.fee_item = "API", .quantity = D("300")};
    in.usage = &u;
    in.n_usage = 1;
    r = rate_full("CNY", &ch, 1, NULL, 0, NULL, &in);
    assert_int_equal(r->lines[0].kind, RT_LINE_CHARGE); /* usage is not prorated */
    assert_int_equal(r->lines[1].amount, 2000);
    assert_int_equal(r->lines[1].prorate_num, 15);
    assert_int_equal(r->total, 5000);
    rt_result_destroy(&r);

    /* the commitment is measured on the undiscounted line, and the true-up
     * is not discounted: 30.00 - 10% (3.00) + true-up 70.00 = 97.00 */
    rt_discount_t d = {.code = "TEN", .kind = RT_DISC_LOYAL, .is_percent = true,
                       .percent = BW_DEC(10), .fee_item = "API"};
    in = nov();
    in.usage = &u;
    in.n_usage = 1;
    r = rate_full("CNY", &ch, 1, &d, 1, NULL, &in);
    assert_int_equal(r->n_lines, 3);
    assert_int_equal(r->lines[1].kind, RT_LINE_DISCOUNT);
    assert_int_equal(r->lines[1].amount, -300);
    assert_int_equal(r->lines[2].kind, RT_LINE_TRUE_UP);
    assert_int_equal(r->lines[2].amount, 7000);
    assert_int_equal(r->total, 9700);
    rt_result_destroy(&r);
}

/* --- customer tiers --------------------------------------------------------- */

static void test_customer_tier_override(void **state)
{
    (void)state;
    rt_override_t ov[] = {{.tier = "gold", .price = {.unit_price = BW_DEC(80)}},
                          {.tier = "silver", .price = {.unit_price = BW_DEC(90)}}};
    rt_charge_t ch = {.fee_item = "SEATS", .model = RT_MODEL_PER_UNIT, .overrides = ov,
                      .n_overrides = N(ov)};
    ch.price.unit_price = D("100");
    rt_rate_input_t in = nov();
    rt_usage_t u = {.fee_item = "SEATS", .quantity = D("10")};
    in.usage = &u;
    in.n_usage = 1;
    const char *tiers[] = {NULL, "standard", "silver", "gold"};
    const int64_t want[] = {100000, 100000, 90000, 80000}; /* 10 * 100 / 100 / 90 / 80 */
    for (size_t i = 0; i < N(tiers); i++) {
        in.customer_tier = tiers[i];
        rt_result_t *r = rate_full("CNY", &ch, 1, NULL, 0, NULL, &in);
        assert_int_equal(r->total, want[i]);
        rt_result_destroy(&r);
    }
}

/* --- discounts -------------------------------------------------------------- */

static const rt_amount_t cny50[] = {{"CNY", 5000}};
static const rt_amount_t cny100[] = {{"CNY", 10000}};

static void test_discount_stacking(void **state)
{
    (void)state;
    rt_charge_t ch[] = {
        {.fee_item = "SEATS", .model = RT_MODEL_PER_UNIT, .price = {.unit_price = BW_DEC(100)}},
        {.fee_item = "PLATFORM", .model = RT_MODEL_FLAT, .price = {.amount = BW_DEC(500)},
         .setup_fee = BW_DEC(200)},
    };
    /* Deliberately listed fixed-before-percent and plan-before-item: the
     * engine's order must not depend on it. */
    rt_discount_t ds[] = {
        {.code = "PLANFIX", .kind = RT_DISC_NEW_CUSTOMER, .amounts = cny100, .n_amounts = 1,
         .periods = 3},
        {.code = "WELCOME", .kind = RT_DISC_COUPON, .amounts = cny50, .n_amounts = 1,
         .fee_item = "SEATS", .coupon = "HELLO", .valid_from = 0, .valid_to = 100000},
        {.code = "NEW10", .kind = RT_DISC_NEW_CUSTOMER, .is_percent = true,
         .percent = BW_DEC(10), .fee_item = "SEATS", .periods = 3},
        {.code = "PLAN20", .kind = RT_DISC_NEW_CUSTOMER, .is_percent = true,
         .percent = BW_DEC(20), .periods = 3},
        {.code = "BULK5", .kind = RT_DISC_VOLUME, .is_percent = true, .percent = BW_DEC(5),
         .fee_item = "SEATS", .min_quantity = BW_DEC(10)},
    };
    rt_rate_input_t in = nov();
    in.include_setup = true;
    rt_usage_t u = {.fee_item = "SEATS", .quantity = D("10")};
    rt_coupon_input_t cp = {"HELLO", true};
    in.usage = &u;
    in.n_usage = 1;
    in.coupons = &cp;
    in.n_coupons = 1;
    rt_result_t *r = rate_full("CNY", ch, N(ch), ds, N(ds), NULL, &in);
    /* SEATS 10 * 100 = 1000.00
     *   NEW10  10% of 1000.00 = 100.00 -> 900.00   (percentages first,
     *   BULK5   5% of  900.00 =  45.00 -> 855.00    in catalog order)
     *   WELCOME fixed 50.00            -> 805.00   (then fixed)
     * PLATFORM setup 200.00 (never discounted), monthly 500.00
     * plan-wide on 805.00 + 500.00 = 1305.00:
     *   PLAN20 20% = 261.00 -> 1044.00, PLANFIX 100.00 -> 944.00
     * total = 944.00 + 200.00 setup = 1144.00 */
    struct {
        rt_line_kind_t kind;
        const char *fee_item, *discount;
        int64_t amount;
    } want[] = {
        {RT_LINE_CHARGE, "SEATS", "", 100000},    {RT_LINE_DISCOUNT, "SEATS", "NEW10", -10000},
        {RT_LINE_DISCOUNT, "SEATS", "BULK5", -4500}, {RT_LINE_DISCOUNT, "SEATS", "WELCOME", -5000},
        {RT_LINE_SETUP, "PLATFORM", "", 20000},   {RT_LINE_CHARGE, "PLATFORM", "", 50000},
        {RT_LINE_DISCOUNT, "", "PLAN20", -26100}, {RT_LINE_DISCOUNT, "", "PLANFIX", -10000},
    };
    assert_int_equal(r->n_lines, N(want));
    for (size_t i = 0; i < N(want); i++) {
        assert_int_equal(r->lines[i].kind, want[i].kind);
        assert_string_equal(r->lines[i].fee_item, want[i].fee_item);
        assert_string_equal(r->lines[i].discount, want[i].discount);
        assert_int_equal(r->lines[i].amount, want[i].amount);
    }
    assert_int_equal(r->lines[1].unit_price, D("0.1"));  /* the rate shown */
    assert_int_equal(r->lines[3].unit_price, D("50"));   /* the fixed amount shown */
    assert_int_equal(r->total, 114400);
    rt_result_destroy(&r);

    /* period 4: the new-customer discounts are gone, only BULK5 and the
     * coupon remain: 1000 - 50.00 (5%) = 950.00 - 50.00 = 900.00; + 500 */
    in.period_number = 4;
    in.include_setup = false;
    r = rate_full("CNY", ch, N(ch), ds, N(ds), NULL, &in);
    assert_int_equal(r->total, 140000);
    rt_result_destroy(&r);
}

static void test_discount_never_below_zero(void **state)
{
    (void)state;
    static const rt_amount_t big[] = {{"CNY", 200000}};
    rt_charge_t ch = {.fee_item = "SEATS", .model = RT_MODEL_PER_UNIT,
                      .price = {.unit_price = BW_DEC(100)}};
    rt_discount_t ds[] = {
        {.code = "HUGE", .kind = RT_DISC_LOYAL, .amounts = big, .n_amounts = 1,
         .fee_item = "SEATS"},
        {.code = "ALSO", .kind = RT_DISC_LOYAL, .amounts = big, .n_amounts = 1},
        {.code = "PCT", .kind = RT_DISC_LOYAL, .is_percent = true, .percent = BW_DEC(100)},
    };
    rt_rate_input_t in = nov();
    rt_usage_t u = {.fee_item = "SEATS", .quantity = D("10")};
    in.usage = &u;
    in.n_usage = 1;
    /* 1000.00 - min(2000.00, 1000.00) = 0; nothing left for plan-wide ones,
     * which then add no lines */
    rt_result_t *r = rate_full("CNY", &ch, 1, ds, N(ds), NULL, &in);
    assert_int_equal(r->n_lines, 2);
    assert_int_equal(r->lines[1].amount, -100000);
    assert_int_equal(r->total, 0);
    rt_result_destroy(&r);
}

/* The total of one charge with one discount. */
static int64_t total_with(const rt_charge_t *ch, const rt_discount_t *d, const rt_rate_input_t *in)
{
    rt_result_t *r = rate_full("CNY", ch, 1, d, 1, NULL, in);
    int64_t t = r->total;
    rt_result_destroy(&r);
    return t;
}

static void test_discount_conditions(void **state)
{
    (void)state;
    static const rt_amount_t jpy[] = {{"JPY", 500}};
    static const char *const only_gold_plan[] = {"GOLDPLAN"};
    rt_charge_t ch = {.fee_item = "SEATS", .model = RT_MODEL_PER_UNIT,
                      .price = {.unit_price = BW_DEC(100)}};
    rt_usage_t u = {.fee_item = "SEATS", .quantity = D("10")};
    rt_rate_input_t in = nov();
    in.usage = &u;
    in.n_usage = 1;
    rt_discount_t d;
    int64_t t;

    /* new customer, first 3 periods: period 3 yes (10% off 1000 = 900), 4 no */
    d = (rt_discount_t){.code = "N", .kind = RT_DISC_NEW_CUSTOMER, .is_percent = true,
                        .percent = BW_DEC(10), .periods = 3};
    in.period_number = 3;
    t = total_with(&ch, &d, &in);
    assert_int_equal(t, 90000);
    in.period_number = 4;
    t = total_with(&ch, &d, &in);
    assert_int_equal(t, 100000);

    /* loyal after 12 periods: 12 no, 13 yes (5% -> 950.00) */
    d = (rt_discount_t){.code = "L", .kind = RT_DISC_LOYAL, .is_percent = true,
                        .percent = BW_DEC(5), .periods = 12};
    in.period_number = 12;
    t = total_with(&ch, &d, &in);
    assert_int_equal(t, 100000);
    in.period_number = 13;
    t = total_with(&ch, &d, &in);
    assert_int_equal(t, 95000);
    in.period_number = 1;

    /* volume from 10 seats: 10 yes (8% -> 920.00), 9.5 no */
    d = (rt_discount_t){.code = "V", .kind = RT_DISC_VOLUME, .is_percent = true,
                        .percent = BW_DEC(8), .fee_item = "SEATS", .min_quantity = BW_DEC(10)};
    t = total_with(&ch, &d, &in);
    assert_int_equal(t, 92000);
    u.quantity = D("9.5"); /* 950.00, no discount */
    t = total_with(&ch, &d, &in);
    assert_int_equal(t, 95000);
    u.quantity = D("10");

    /* coupon valid Nov 1 .. Nov 30 inclusive, period starts Nov 1 */
    d = (rt_discount_t){.code = "C", .kind = RT_DISC_COUPON, .amounts = cny100, .n_amounts = 1,
                        .coupon = "SAVE", .valid_from = day("2026-11-01"),
                        .valid_to = day("2026-11-30")};
    t = total_with(&ch, &d, &in); /* not presented */
    assert_int_equal(t, 100000);
    rt_coupon_input_t cp = {"SAVE", false};
    in.coupons = &cp;
    in.n_coupons = 1;
    t = total_with(&ch, &d, &in); /* redemption limit reached */
    assert_int_equal(t, 100000);
    cp.redeemable = true;
    t = total_with(&ch, &d, &in); /* 1000 - 100 */
    assert_int_equal(t, 90000);
    d.valid_from = day("2026-11-02"); /* not yet valid at period start */
    t = total_with(&ch, &d, &in);
    assert_int_equal(t, 100000);
    d.valid_from = day("2026-10-01");
    d.valid_to = day("2026-10-31"); /* expired */
    t = total_with(&ch, &d, &in);
    assert_int_equal(t, 100000);
    in.coupons = NULL;
    in.n_coupons = 0;

    /* a fixed amount only in JPY does not apply to a CNY price */
    d = (rt_discount_t){.code = "J", .kind = RT_DISC_LOYAL, .amounts = jpy, .n_amounts = 1};
    t = total_with(&ch, &d, &in);
    assert_int_equal(t, 100000);

    /* limited to another plan */
    d = (rt_discount_t){.code = "G", .kind = RT_DISC_LOYAL, .is_percent = true,
                        .percent = BW_DEC(50), .plans = only_gold_plan, .n_plans = 1};
    t = total_with(&ch, &d, &in);
    assert_int_equal(t, 100000);
}

static void test_discount_rounding(void **state)
{
    (void)state;
    /* 5% of 0.10 = 0.005: even -> no discount line, up -> 0.01 off */
    rt_charge_t ch = {.fee_item = "X", .model = RT_MODEL_PER_UNIT,
                      .price = {.unit_price = BW_DEC(1) / 10}};
    rt_discount_t d = {.code = "P", .kind = RT_DISC_LOYAL, .is_percent = true,
                       .percent = BW_DEC(5)};
    rt_usage_t u = {.fee_item = "X", .quantity = D("1")};
    rt_rate_input_t in = nov();
    in.usage = &u;
    in.n_usage = 1;
    rt_result_t *r = rate_full("CNY", &ch, 1, &d, 1, NULL, &in);
    assert_int_equal(r->n_lines, 1);
    assert_int_equal(r->total, 10);
    rt_result_destroy(&r);
    r = rate_full("CNY", &ch, 1, &d, 1, &HALF_UP, &in);
    assert_int_equal(r->n_lines, 2);
    assert_int_equal(r->total, 9);
    rt_result_destroy(&r);
}

/* --- bad input -------------------------------------------------------------- */

static void expect_rate_error(const rt_price_version_t *pv, const rt_rate_input_t *in, int code,
                              const char *msg)
{
    rt_result_t *r = (rt_result_t *)1;
    char err[128];
    assert_int_equal(rt_rate(pv, NULL, 0, NULL, in, &r, err, sizeof err), code);
    assert_null(r);
    assert_string_equal(err, msg);
}

static void test_bad_input(void **state)
{
    (void)state;
    rt_charge_t ch = {.fee_item = "SEATS", .model = RT_MODEL_PER_UNIT,
                      .price = {.unit_price = BW_DEC(100)}};
    rt_price_version_t pv = {.plan = "P", .currency = "CNY", .charges = &ch, .n_charges = 1};
    rt_rate_input_t in = nov();
    rt_usage_t u = {.fee_item = "SMS", .quantity = D("1")};
    in.usage = &u;
    in.n_usage = 1;
    expect_rate_error(&pv, &in, BW_EINVAL, "usage for \"SMS\", which plan P does not charge");
    u.fee_item = "SEATS";
    u.quantity = D("-1");
    expect_rate_error(&pv, &in, BW_EINVAL, "SEATS: quantity must not be negative");
    u.quantity = D("1");
    rt_usage_t two[] = {u, u};
    in.usage = two;
    in.n_usage = 2;
    expect_rate_error(&pv, &in, BW_EINVAL, "usage for \"SEATS\" given twice");
    in.usage = &u;
    in.n_usage = 1;
    rt_rate_input_t bad = in;
    bad.period_end = bad.period_start;
    expect_rate_error(&pv, &bad, BW_EINVAL, "period end must be after its start");
    rt_price_version_t xx = pv;
    memcpy(xx.currency, "XXX", 4);
    expect_rate_error(&xx, &in, BW_EINVAL, "unknown currency \"XXX\"");
    /* overflow is an error, not a wrong number */
    ch.price.unit_price = INT64_MAX;
    u.quantity = INT64_MAX;
    expect_rate_error(&pv, &in, BW_ETOOBIG, "SEATS: amount out of range");
    /* tiers built by hand are checked too */
    rt_tier_t t[] = {{false, BW_DEC(10), 0, 0}, {false, BW_DEC(5), 0, 0}, {true, 0, 0, 0}};
    rt_charge_t g = {.fee_item = "SEATS", .model = RT_MODEL_GRADUATED,
                     .price = {.tiers = t, .n_tiers = 3}};
    pv.charges = &g;
    u.quantity = D("1");
    expect_rate_error(&pv, &in, BW_EINVAL, "SEATS: tier bounds must increase");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prorate),
        cmocka_unit_test(test_flat_and_setup),
        cmocka_unit_test(test_flat_prorated),
        cmocka_unit_test(test_per_unit),
        cmocka_unit_test(test_free_units),
        cmocka_unit_test(test_graduated),
        cmocka_unit_test(test_volume),
        cmocka_unit_test(test_stairstep),
        cmocka_unit_test(test_package),
        cmocka_unit_test(test_percentage),
        cmocka_unit_test(test_rounding_half),
        cmocka_unit_test(test_jpy),
        cmocka_unit_test(test_true_up),
        cmocka_unit_test(test_customer_tier_override),
        cmocka_unit_test(test_discount_stacking),
        cmocka_unit_test(test_discount_never_below_zero),
        cmocka_unit_test(test_discount_conditions),
        cmocka_unit_test(test_discount_rounding),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
