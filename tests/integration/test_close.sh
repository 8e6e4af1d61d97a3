# A period close shared by several processes (issues #3, #4): the rating
# API process and two `rating --closer` processes close 3,000 accounts in
# small batches and slices (as many as the monthly accounts call for, not
# the quarterly ones beside them); one closer is SIGKILLed mid-close twice and
# restarted. Every account is closed once and gets exactly one AccountRated
# (the closed rows and the events match one to one), the job's counters add
# up and its slices are gone; `billctl rate status` follows it; closing
# again emits nothing.
. tests/integration/lib.sh
B=$BW_BUILD
export BILLOW_NOW=2026-11-30T12:00:00Z
export BILLOW_LOG_LEVEL=info  # the close logs how it cut the job
export BILLOW_RATING_CLOSE_BATCH=25 BILLOW_RATING_CLOSE_SLICES=12 BILLOW_RATING_CLOSE_POLL_MS=100
N=3000

closer_start() { # n
  "$B/rating" --closer >>"$BW_TMP/closer$1.log" 2>&1 &
  echo $! > "$BW_TMP/closer$1.pid"
}
cleanup() {
  for n in 1 2; do [ -f "$BW_TMP/closer$n.pid" ] && kill -TERM "$(cat "$BW_TMP/closer$n.pid")" 2>/dev/null; done
  stop_all
}
trap cleanup EXIT

svc_start rating
i=0
until "$B/billctl" rating describe >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -ge 80 ] && fail "rating did not come up"; sleep 0.25
done
"$B/billctl" catalog load services/rating/catalog.example.json >/dev/null || fail "catalog load"
sql "INSERT INTO rating.accounts (id, currency, cycle, tier, language, status, created_on, version, caused_by)
     SELECT 'C' || lpad(g::text, 5, '0'), 'CNY', 'monthly', 'standard', 'en', 'active', '2026-09-01', 1, 'test'
     FROM generate_series(1, $N) g;
     INSERT INTO rating.subscriptions (account_id, plan, quantity, start_date, origin, caused_by)
     SELECT 'C' || lpad(g::text, 5, '0'), 'SAAS_PRO', 1 + g % 3, '2026-10-01', '2026-10-01', 'test'
     FROM generate_series(1, $N) g;
     INSERT INTO rating.accounts (id, currency, cycle, tier, language, status, created_on, version, caused_by)
     SELECT 'Q' || lpad(g::text, 5, '0'), 'CNY', 'quarterly', 'standard', 'en', 'active', '2026-09-01', 1, 'test'
     FROM generate_series(1, 2000) g" >/dev/null || fail "accounts"
closer_start 1
closer_start 2

out=$("$B/billctl" rate close --period 2026-11 --no-wait) || fail "rate close: $out"
closed() { sql "SELECT count(*) FROM rating.closed_periods WHERE period = '2026-11'"; }
for at in 300 1500; do
  i=0
  until [ "$(closed)" -ge $at ]; do
    i=$((i + 1)); [ $i -ge 400 ] && fail "close stalled before $at accounts"; sleep 0.05
  done
  kill -KILL "$(cat "$BW_TMP/closer1.pid")"; wait "$(cat "$BW_TMP/closer1.pid")" 2>/dev/null
  closer_start 1
done
slices=$(grep -ho '"msg":"close job cut into slices"[^}]*"slices":[0-9]*' "$BW_TMP"/*.log | grep -o '[0-9]*$')
[ "${slices:-0}" -ge 4 ] || fail "the job was cut into ${slices:-no} slices"
# Sized by the monthly accounts, not by every account (2,000 are quarterly).
sized=$(grep -ho '"msg":"close job cut into slices"[^}]*"accounts":[0-9]*' "$BW_TMP"/*.log | grep -o '[0-9]*$')
[ "${sized:-0}" = $N ] || fail "the job was sized for ${sized:-no} accounts"
ok "closer SIGKILLed twice mid-close and restarted; the job was cut into $slices slices"

i=0
until [ "$(sql "SELECT status FROM rating.close_jobs")" = done ]; do
  i=$((i + 1)); [ $i -ge 600 ] && fail "close did not finish: $(sql "SELECT * FROM rating.close_slices")"; sleep 0.1
done
[ "$(closed)" = $N ] || fail "closed $(closed) of $N"
[ "$(sql "SELECT count(*) FROM rating.outbox WHERE event_type = 'AccountRated'")" = $N ] || fail "AccountRated count"
[ "$(sql "SELECT count(*) FROM rating.outbox o JOIN rating.closed_periods c ON c.event_id::uuid = o.event_id")" = $N ] ||
  fail "closed rows and events do not match one to one"
[ "$(sql "SELECT rated || ' ' || failed || ' ' || sliced FROM rating.close_jobs")" = "$N 0 false" ] ||
  fail "job counters: $(sql "SELECT * FROM rating.close_jobs")"
[ "$(sql "SELECT count(*) FROM rating.close_slices")" = 0 ] || fail "slices left behind"
[ "$(sql "SELECT total_minor FROM rating.close_jobs")" = "$(sql "SELECT sum(total_minor) FROM rating.closed_periods")" ] ||
  fail "job total differs from the closed rows'"
out=$("$B/billctl" rate status --period 2026-11) || fail "rate status: $out"
echo "$out" | grep -q "done, $N accounts rated, 0 failed" || fail "status: $out"
ok "$N accounts closed once each by three processes: one AccountRated per account, counters add up"

# Closing again, by the API process alone: the job is cut anew, every
# account is found closed already, nothing is emitted.
kill -TERM "$(cat "$BW_TMP/closer1.pid")" "$(cat "$BW_TMP/closer2.pid")" 2>/dev/null
wait "$(cat "$BW_TMP/closer1.pid")" "$(cat "$BW_TMP/closer2.pid")" 2>/dev/null
before=$(sql "SELECT count(*) FROM rating.outbox")
out=$("$B/billctl" rate close --period 2026-11) || fail "second close: $out"
echo "$out" | grep -q 'done, 3000 accounts rated, 0 failed' || fail "second close: $out"
[ "$(sql "SELECT count(*) FROM rating.outbox")" = "$before" ] || fail "closing again emitted events"
ok "closing again emits nothing"
check_logs
