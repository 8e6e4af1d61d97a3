# The four services start, migrate under their own roles, answer status;
# one killed shows down while the others stay up; restarted, it comes back
# with its consumer cursors intact. Also: roles cannot read other schemas,
# SIGTERM exits 0 promptly.
. tests/integration/lib.sh
trap 'stop_all' EXIT

for s in $SERVICES; do svc_start $s; done
wait_all_up 30 || fail "services did not come up"
ok "four services up"

out=$("$BW_BUILD/billctl" status --json) || fail "status --json"
echo "$out" | grep -q '"state":"up"' || fail "json status lacks state"

# Role isolation: rating's role cannot read invoicing's schema.
if psql "$BILLOW_DATABASE_URL user=billow_rating" -X -tAc "SELECT count(*) FROM invoicing.outbox" 2>/dev/null; then
  fail "billow_rating can read invoicing.outbox"
fi
ok "roles are confined to their schema"

# Events in invoicing's outbox advance rating's cursor (empty payloads are
# skipped as undecodable but still move the cursor).
sql "INSERT INTO invoicing.outbox (part, event_type, event_id, payload) SELECT g, 'Test', gen_random_uuid(), '\\x' FROM generate_series(1,5) g; NOTIFY billow_outbox_invoicing" >/dev/null
i=0
until [ "$(sql "SELECT last_seq FROM rating.stream_cursors WHERE producer='invoicing'")" = 5 ]; do
  i=$((i + 1)); [ $i -ge 40 ] && fail "rating cursor did not reach 5"; sleep 0.25
done
ok "rating consumed invoicing's stream up to 5"

# Kill rating: it shows down, the others up, quickly.
svc_kill rating KILL
start=$(date +%s%N)
"$BW_BUILD/billctl" status > "$BW_TMP/status.txt" && fail "status exit 0 with rating down"
took=$(( ($(date +%s%N) - start) / 1000000 ))
cat "$BW_TMP/status.txt"
grep -q '^rating .*down' "$BW_TMP/status.txt" || fail "rating not shown down"
[ "$(grep -c ' up ' "$BW_TMP/status.txt")" -eq 3 ] || fail "others not up"
[ "$took" -lt 3000 ] || fail "status took ${took} ms with a service down"
ok "rating down shown in ${took} ms, others up"

# A migration file recorded nowhere, with a lower number than the newest
# applied (as when branches merged in another order), is applied at start.
sql "DELETE FROM rating.schema_migrations WHERE component = 'common' AND version = 3" >/dev/null
svc_start rating
wait_all_up 20 || fail "rating did not come back"
[ "$(sql "SELECT count(*) FROM rating.schema_migrations WHERE component = 'common' AND version = 3")" = 1 ] \
  || fail "a missing lower-numbered migration was not applied"
"$BW_BUILD/billctl" status --json | tr -d ' \n' | grep -q '"service":"rating","state":"up"' || fail "rating not up"
"$BW_BUILD/billctl" status --json | tr -d ' \n' | grep -q '"producer":"invoicing","partitions":"all","cursor":5' \
  || { "$BW_BUILD/billctl" status --json; fail "cursor not intact after restart"; }
ok "rating restarted with cursor 5"

# A consumer gone for good can be forgotten, so pruning stops waiting for
# it; should it come back behind what was pruned, its fetches are refused
# (its cursor stays) instead of served with a hole.
i=0
until "$BW_BUILD/billctl" stream consumers invoicing | grep -q '^rating\[all\] .* 5 '; do
  i=$((i + 1)); [ $i -ge 40 ] && { "$BW_BUILD/billctl" stream consumers invoicing; fail "rating not registered at 5"; }; sleep 0.25
done
"$BW_BUILD/billctl" stream consumers invoicing --json | tr -d ' \n' | grep -q '"consumer":"rating\[all\]"' \
  || fail "stream consumers --json"
svc_kill rating TERM
out=$("$BW_BUILD/billctl" stream forget invoicing 'rating[all]') || fail "forget: $out"
echo "$out" | grep -q 'forgotten' || fail "forget output: $out"
"$BW_BUILD/billctl" stream consumers invoicing | grep -q '^rating\[all\]' && fail "rating still registered"
"$BW_BUILD/billctl" stream forget invoicing 'rating[all]' >/dev/null 2>&1 && fail "forgot twice"
"$BW_BUILD/billctl" stream forget nosuch x >/dev/null 2>&1 && fail "unknown service accepted"
sql "INSERT INTO invoicing.outbox (part, event_type, event_id, payload) SELECT g, 'Test', gen_random_uuid(), '\\x' FROM generate_series(1,5) g" >/dev/null
i=0
until [ "$(sql "SELECT count(*) FROM invoicing.stream_consumers WHERE acked_seq = 10")" = 2 ]; do
  i=$((i + 1)); [ $i -ge 40 ] && { "$BW_BUILD/billctl" stream consumers invoicing; fail "consumers did not reach 10"; }; sleep 0.25
done
svc_kill invoicing TERM
export BILLOW_STREAM_RETENTION_S=0
svc_start invoicing
unset BILLOW_STREAM_RETENTION_S
i=0
until [ "$(sql "SELECT count(*) FROM invoicing.outbox")" = 0 ]; do
  i=$((i + 1)); [ $i -ge 120 ] && { "$BW_BUILD/billctl" stream consumers invoicing; fail "outbox not pruned"; }; sleep 0.25
done
[ "$(sql "SELECT pruned_upto FROM invoicing.stream_horizon")" = 10 ] || fail "horizon not recorded"
svc_start rating
i=0
until grep -q 'events after 5 were pruned up to 10' "$BW_TMP/rating.log"; do
  i=$((i + 1)); [ $i -ge 60 ] && fail "rating's fetch behind the horizon was not refused"; sleep 0.25
done
[ "$(sql "SELECT last_seq FROM rating.stream_cursors WHERE producer='invoicing'")" = 5 ] || fail "rating's cursor moved"
"$BW_BUILD/billctl" stream consumers invoicing | grep -q '^rating\[all\]' && fail "a refused consumer was registered"
ok "stream forget: pruning goes on without it; back behind the horizon it is refused, cursor kept"

# SIGTERM: every service exits 0 within a few seconds.
for s in $SERVICES; do
  pid=$(svc_pid $s)
  kill -TERM "$pid"
  i=0
  while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1)); [ $i -ge 50 ] && fail "$s did not stop within 5 s"; sleep 0.1
  done
  wait "$pid"; rc=$?
  [ $rc -eq 0 ] || fail "$s exited $rc on SIGTERM"
done
rm -f "$BW_TMP"/*.pid
ok "SIGTERM: all exit 0"
check_logs
echo PASS
