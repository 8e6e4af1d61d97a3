/* bw_pb_to_json: every field kind a reply uses, oneofs, repeated fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "api.pb-c.h"
#include "pbjson.h"

static void test_reply(void **state)
{
    (void)state;
    Billow__Reply r = BILLOW__REPLY__INIT;
    Billow__StatusReply st = BILLOW__STATUS_REPLY__INIT;
    Billow__ConsumerStatus c1 = BILLOW__CONSUMER_STATUS__INIT, c2 = BILLOW__CONSUMER_STATUS__INIT;
    Billow__ConsumerStatus *cs[2] = {&c1, &c2};
    c1.producer = "invoicing";
    c1.cursor = 5;
    c1.connected = 1;
    c2.producer = "feedback";
    c2.lag = -1;
    st.service = "rating";
    st.stream_head = 1LL << 40;
    st.n_consumers = 2;
    st.consumers = cs;
    r.id = 18446744073709551615ULL;
    r.code = BILLOW__CODE__NOT_FOUND;
    r.error = "no \"such\" thing";
    r.body_case = BILLOW__REPLY__BODY_STATUS;
    r.status = &st;
    json_object *o = bw_pb_to_json(&r.base);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    assert_non_null(strstr(s, "\"code\":\"NOT_FOUND\""));
    assert_non_null(strstr(s, "\"id\":18446744073709551615"));
    assert_non_null(strstr(s, "\"stream_head\":1099511627776"));
    assert_non_null(strstr(s, "\"error\":\"no \\\"such\\\" thing\""));
    assert_non_null(strstr(s, "\"producer\":\"invoicing\""));
    assert_non_null(strstr(s, "\"connected\":true"));
    assert_non_null(strstr(s, "\"lag\":-1"));
    assert_null(strstr(s, "\"rating\":")); /* unset oneof members are left out */
    json_object_put(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_reply)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
