# Garbage, truncated, multi-frame and oversized frames to every socket of
# every service: each answers with an error or drops the frame, stays up, and
# keeps serving good requests.
. tests/integration/lib.sh
trap 'stop_all' EXIT
for s in $SERVICES; do svc_start $s; done
wait_all_up 30 || fail "services did not come up"
"$BW_BUILD/tests/integration/garbage" || fail "garbage sender reported a failure"
wait_all_up 5 || fail "a service is down after garbage"
for s in $SERVICES; do kill -0 "$(svc_pid $s)" || fail "$s died"; done
stop_all
check_logs
echo PASS
