# Fee changes announced ahead, end to end with pinned clocks (BILLOW_NOW;
# services are restarted with a new BILLOW_NOW to move time): a change is
# created (a bad document is refused naming its field), previewed and
# announced; notification tells every channel of each account; rating
# learns deliveries, failures and acknowledgements from notification's
# stream and tickets from feedback's. Then, in January's bill:
#   P1 notified 42 days ahead     -> new price from the effective date
#   P2 reached only 10 days ahead -> new price 30 days after delivery
#                                    (January prorated: old, then new)
#   P3 never reached              -> old price, listed for follow-up
#   G1 in an excluded tier        -> untouched, never told
# and P1's reminders stop once it acknowledges while P4's go on.
. tests/integration/lib.sh
trap 'stop_all' EXIT
B=$BW_BUILD
CTL=$B/billctl
FX=$B/tests/integration/rating_fixture
export BILLOW_OPERATOR=test-operator
export BILLOW_CHANNEL_EMAIL=file BILLOW_CHANNEL_SMS=file BILLOW_CHANNEL_WEBHOOK=file
export BILLOW_NOTIFIER_FILE_DIR="$BW_TMP/files" BILLOW_NOTIFY_POLL_MS=50
mkdir -p "$BW_TMP/files"

start_at() { # RFC 3339 time: (re)starts every service with the clock pinned there
  stop_all
  export BILLOW_NOW=$1
  for s in invoicing rating notification feedback; do svc_start $s; done
  wait_all_up 40 || fail "services did not come up at $1"
}
wait_for() { # what sql expected
  i=0
  until [ "$(sql "$2")" = "$3" ]; do
    i=$((i + 1)); [ $i -ge 120 ] && fail "$1: got '$(sql "$2")', want '$3'"; sleep 0.25
  done
}

start_at 2026-11-20T12:00:00Z
ok "four services up at 2026-11-20"

cat > "$BW_TMP/catalog.json" <<'JSON'
{ "fee_items": [
    { "code": "PLATFORM", "name": { "zh-CN": "平台基础费", "en": "Platform base fee" },
      "service_type": "subscription", "unit": "month", "tax_category": "standard" },
    { "code": "SEATS", "name": { "zh-CN": "用户席位费", "en": "User seats" },
      "service_type": "subscription", "unit": "seat", "tax_category": "standard" } ],
  "customer_tiers": [ { "code": "gold", "name": { "zh-CN": "金牌客户", "en": "Gold" } } ],
  "plans": [ { "code": "PRO", "name": { "zh-CN": "专业版", "en": "Professional" },
    "billing_cycle": "monthly",
    "versions": [ { "effective_from": "2026-01-01", "currency": "CNY", "charges": [
      { "fee_item": "PLATFORM", "model": "flat", "price": "300.00" },
      { "fee_item": "SEATS", "model": "per_unit", "unit_price": "50.00", "prorate": true } ] } ] } ] }
JSON
"$CTL" catalog load "$BW_TMP/catalog.json" >/dev/null || fail "catalog load"
"$FX" accounts P1:CNY:monthly:standard:en P2:CNY:monthly:standard:zh-CN P3:CNY:monthly:standard:en \
  P4:CNY:monthly:standard:en G1:CNY:monthly:gold:en || fail "accounts"
wait_for "accounts reach rating" "SELECT count(*) FROM rating.accounts" 5
wait_for "contacts reach notification" "SELECT count(*) FROM notification.contacts" 5
for a in P1 P2 P3 P4 G1; do
  "$CTL" subscribe --account $a --plan PRO --start 2026-10-01 --quantity 2 >/dev/null || fail "subscribe $a"
done
"$CTL" contact set P1 --phone +8613800000001 >/dev/null || fail "contact P1"
"$CTL" contact set P2 --clear email >/dev/null || fail "clear P2"
"$CTL" contact set P3 --clear email >/dev/null || fail "clear P3"
ok "catalog, five accounts on PRO (400.00 a month); P2 and P3 have no address"

cat > "$BW_TMP/pc.json" <<'JSON'
{ "id": "PC-TEST", "plan": "PRO", "currency": "CNY",
  "charges": [ { "fee_item": "PLATFORM", "model": "flat", "price": "330.00" },
               { "fee_item": "SEATS", "model": "per_unit", "unit_price": "55.00", "prorate": true } ],
  "reason": { "en": "Operating costs rose.", "zh-CN": "运营成本上升。" },
  "value": "24/7 support and a 99.95% availability commitment.",
  "exclude": { "tiers": ["gold"] },
  "effective_date": "2027-01-01",
  "feedback_channels": ["phone 400-800-1024", "feedback@example.com"] }
JSON
sed 's/"55.00"/"5.5.00"/' "$BW_TMP/pc.json" > "$BW_TMP/bad.json"
out=$("$CTL" pricechange create "$BW_TMP/bad.json" 2>&1) && fail "bad change created"
echo "$out" | grep -q 'charges\[1\].unit_price' || fail "bad change error lacks its field: $out"
sed 's/"effective_date": "2027-01-01"/"effective_date": "2026-11-01"/' "$BW_TMP/pc.json" > "$BW_TMP/past.json"
out=$("$CTL" pricechange create "$BW_TMP/past.json" 2>&1) && fail "past change created"
echo "$out" | grep -q 'effective_date' || fail "past date error: $out"
sed 's/"plan": "PRO"/"plan": "NOPE"/' "$BW_TMP/pc.json" > "$BW_TMP/noplan.json"
out=$("$CTL" pricechange create "$BW_TMP/noplan.json" 2>&1) && fail "unknown plan accepted"
echo "$out" | grep -q '^.*plan' || fail "unknown plan error: $out"
echo '{"id": "X", "plan": "PRO", "colour": 1}' > "$BW_TMP/unknown.json"
out=$("$CTL" pricechange create "$BW_TMP/unknown.json" 2>&1) && fail "unknown field accepted"
echo "$out" | grep -q 'colour: unknown field' || fail "unknown field error: $out"
"$CTL" pricechange create "$BW_TMP/pc.json" >/dev/null || fail "create"
"$CTL" pricechange create "$BW_TMP/pc.json" >/dev/null 2>&1 && fail "same id created twice"
ok "create: bad documents refused naming the field; draft stored once"

out=$("$CTL" pricechange preview PC-TEST) || fail "preview: $out"
echo "$out" | grep -E '^P1 .*affected .*400\.00 +440\.00 +40\.00 +10' >/dev/null || fail "P1 preview: $out"
echo "$out" | grep -E '^G1 .*excluded' >/dev/null || fail "G1 not excluded: $out"
echo "$out" | grep -q '4 accounts affected, 1 excluded' || fail "preview totals: $out"
echo "$out" | grep -q '1600.00 -> 1760.00' || fail "preview sum: $out"
[ "$(sql "SELECT count(*) FROM rating.outbox WHERE event_type = 'PriceChangeAnnounced'")" = 0 ] || fail "preview emitted"
ok "preview: old vs new per account, excluded tier shown, nothing emitted"

"$CTL" pricechange announce PC-TEST | grep -q 'to 4 accounts' || fail "announce"
"$CTL" pricechange announce PC-TEST >/dev/null 2>&1 && fail "announced twice"
[ "$(sql "SELECT count(*) FROM rating.outbox WHERE event_type = 'PriceChangeAnnounced'")" = 4 ] || fail "4 events"
wait_for "notices: P1 on email and sms" \
  "SELECT string_agg(channel || ':' || status, ',' ORDER BY channel) FROM notification.messages WHERE account_id = 'P1' AND type = 'price_change_notice'" \
  "email:delivered,sms:delivered"
wait_for "rating saw deliveries" "SELECT count(*) FROM rating.price_change_accounts WHERE first_delivered_at IS NOT NULL" 2
wait_for "rating saw P2, P3 fail" "SELECT count(*) FROM rating.price_change_accounts WHERE failed_at IS NOT NULL" 2
[ "$(sql "SELECT effective_on FROM rating.price_change_accounts WHERE account_id = 'P1'")" = 2027-01-01 ] || fail "P1 effective_on"
grep -q 'price_change_notice' "$BW_TMP/files/sms.jsonl" || fail "no sms notice written"
ok "announce: one event per affected account; notices on every channel; deliveries and failures reach rating"

# Receipt confirmation: P1 acknowledges; its reminders are cancelled.
tok=$(sql "SELECT token FROM notification.acks WHERE account_id = 'P1' AND ref_id = 'PC-TEST'")
"$CTL" notice ack "$tok" --channel web >/dev/null || fail "ack"
wait_for "rating saw the ack" "SELECT count(*) FROM rating.price_change_accounts WHERE acknowledged_at IS NOT NULL" 1
[ "$(sql "SELECT count(*) FROM notification.messages WHERE account_id = 'P1' AND type = 'price_change_reminder' AND status <> 'cancelled'")" = 0 ] || fail "P1 reminders not cancelled"
[ "$(sql "SELECT count(*) FROM notification.messages WHERE account_id = 'P4' AND type = 'price_change_reminder' AND status = 'scheduled'")" = 3 ] || fail "P4 should have 3 scheduled reminders"

# An objection names the change, and is resolved.
t=$("$CTL" feedback open --account P4 --type complaint --channel phone --text "Too expensive for us." --price-change PC-TEST | grep -o 'FB-[0-9A-Za-z-]*' | head -n 1)
[ -n "$t" ] || fail "feedback open"
"$CTL" feedback resolve "$t" --outcome rejected >/dev/null || fail "resolve"
wait_for "rating saw the ticket outcome" "SELECT outcome FROM rating.price_change_tickets WHERE ticket_id = '$t'" rejected
out=$("$CTL" pricechange status PC-TEST) || fail "status"
echo "$out" | grep -q 'affected 4  notified 4  delivered 2  acknowledged 1  not reachable 2  pending 0' || fail "status counts: $out"
echo "$out" | grep -q 'objections 1 (0 open): rejected: 1' || fail "status objections: $out"
echo "$out" | grep -E 'P3 +no contact' >/dev/null || fail "P3 not listed for follow-up: $out"
"$CTL" pricechange status PC-TEST --format html | grep -q '<td>P3</td>' || fail "html status"
"$CTL" pricechange status PC-TEST --json | grep -q '"acknowledged"' || fail "json status"
ok "ack stops P1's reminders (P4's stay); objection and outcome; status text, html, json"

# 10 days before the effective date: P2's contact is fixed and its notice retried.
start_at 2026-12-22T09:00:00Z
wait_for "P4's 30-day reminder went out" \
  "SELECT count(*) FROM notification.messages WHERE account_id = 'P4' AND type = 'price_change_reminder' AND status = 'delivered'" 1
"$CTL" contact set P2 --email p2@example.com >/dev/null || fail "fix P2"
dead=$(sql "SELECT id FROM notification.messages WHERE account_id = 'P2' AND type = 'price_change_notice' AND status = 'dead' LIMIT 1")
"$CTL" notify retry "$dead" >/dev/null || fail "retry P2"
wait_for "P2 delivered" "SELECT effective_on FROM rating.price_change_accounts WHERE account_id = 'P2'" 2027-01-21
[ "$(sql "SELECT count(*) FROM notification.messages WHERE account_id = 'P1' AND type = 'price_change_reminder' AND status = 'delivered'")" = 0 ] || fail "P1 got a reminder after ack"
ok "P2 reached 10 days ahead: new price from 2027-01-21 (delivery + 30 days)"

# January's bill.
start_at 2027-02-01T01:00:00Z
"$CTL" rate close --period 2027-01 >/dev/null || fail "close January"
tot() { sql "SELECT total_minor FROM rating.closed_periods WHERE account_id = '$1' AND period = '2027-01'"; }
[ "$(tot P1)" = 44000 ] || fail "P1 January $(tot P1), want 44000 (new price)"
[ "$(tot P3)" = 40000 ] || fail "P3 January $(tot P3), want 40000 (never reached)"
[ "$(tot G1)" = 40000 ] || fail "G1 January $(tot G1), want 40000 (excluded)"
# P2: old price 1-20 January, new 21-31: 193.55 + 64.52 + 117.10 + 39.03.
[ "$(tot P2)" = 41420 ] || fail "P2 January $(tot P2), want 41420 (prorated)"
out=$("$CTL" rate preview --account P2 --period 2027-01)
echo "$out" | grep -q 'PRO/CNY/2027-01-01' || fail "P2 lines lack the new version: $out"
echo "$out" | grep -q 'PRO/CNY/2026-01-01' || fail "P2 lines lack the old version: $out"
out=$("$CTL" pricechange status PC-TEST)
echo "$out" | grep -q '2027-01-01  2 accounts' || fail "status effective: $out"
echo "$out" | grep -q '2027-01-21  1 accounts' || fail "status P2 effective: $out"
ok "January: P1 new, P2 prorated old/new at 2027-01-21, P3 and G1 old"
check_logs
