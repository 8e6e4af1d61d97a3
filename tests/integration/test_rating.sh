# The rating service end to end with invoicing: accounts arrive through
# invoicing's AccountChanged stream; the example catalog is loaded (a bad
# one is refused with its path); subscriptions (with a coupon, a mid-period
# start and a mid-period quantity change); a usage CSV with bad rows (line
# numbers, exit 1) and duplicate event ids (ignored); a bill run started in
# invoicing is closed by rating, and the AccountRated events in rating's
# outbox match amounts computed by hand; closing again emits nothing; usage
# in the closed period is rejected; invoicing turns the events into invoices.
. tests/integration/lib.sh
trap 'stop_all' EXIT
B=$BW_BUILD
FX=$B/tests/integration/rating_fixture
export BILLOW_NOW=2026-11-30T12:00:00Z
export BILLOW_OPERATOR=test-operator

svc_start invoicing
svc_start rating
wait_services rating invoicing
ok "rating and invoicing up"

# --- catalog -------------------------------------------------------------
"$B/billctl" catalog show >/dev/null 2>&1 && fail "catalog show with no catalog exits 0"
sed 's/"unit_price": "59.00"/"unit_price": "59.0.0"/' services/rating/catalog.example.json > "$BW_TMP/bad.json"
out=$("$B/billctl" catalog load "$BW_TMP/bad.json" 2>&1) && fail "bad catalog loaded"
echo "$out" | grep -q 'plans\[0\].versions\[0\].charges\[1\].unit_price' || fail "bad catalog error lacks path: $out"
"$B/billctl" catalog show >/dev/null 2>&1 && fail "a bad catalog changed something"
out=$("$B/billctl" catalog load services/rating/catalog.example.json) || fail "catalog load: $out"
echo "$out" | grep -q 'loaded catalog version 1: 9 fee items, 2 plans, 3 price versions, 4 discounts' || fail "load summary: $out"
out=$("$B/billctl" catalog load services/rating/catalog.example.json) || fail "reload"
echo "$out" | grep -q 'unchanged, still catalog version 1' || fail "same document made a version: $out"
# A price in force cannot be rewritten; the change is refused whole.
sed 's/"price": "299.00"/"price": "199.00"/' services/rating/catalog.example.json > "$BW_TMP/rewrite.json"
out=$("$B/billctl" catalog load "$BW_TMP/rewrite.json" 2>&1) && fail "history rewritten"
echo "$out" | grep -q 'in force and cannot be changed' || fail "rewrite error: $out"
"$B/billctl" catalog show | grep -q '平台基础费' || fail "catalog show lacks Chinese names"
"$B/billctl" catalog show --json | grep -q '"loaded_by":"test-operator"' || \
  "$B/billctl" catalog show --json | tr -d ' \n' | grep -q '"loaded_by":"test-operator"' || fail "loaded_by not recorded"
ok "catalog: bad file refused with its path, version 1 stored, history protected"

# --- accounts through invoicing's stream -----------------------------------
"$B/billctl" subscribe --account A1 --plan SAAS_PRO --start 2026-11-01 >/dev/null 2>&1 && fail "subscribe before the account exists"
"$FX" accounts A1:CNY:monthly:standard:en A2:CNY:monthly:gold:zh-CN A3:CNY:monthly:standard:en \
  A4:CNY:monthly:standard:en || fail "creating accounts in invoicing"
i=0
until [ "$(sql "SELECT count(*) FROM rating.accounts")" = 4 ]; do
  i=$((i + 1)); [ $i -ge 80 ] && fail "accounts did not reach rating"; sleep 0.25
done
ok "four accounts reached rating from invoicing's stream"

# Several changes of one account in one consumer batch: with rating down,
# A3 changes tier twice; when rating comes back it reads both in one batch,
# the newer version wins and the day rating first heard of A3 is kept.
first=$(sql "SELECT created_on || '/' || version FROM rating.accounts WHERE id = 'A3'")
svc_kill rating TERM
"$B/billctl" account update A3 --tier gold >/dev/null || fail "A3 to gold"
"$B/billctl" account update A3 --tier silver >/dev/null || fail "A3 to silver"
svc_start rating
i=0
until [ "$(sql "SELECT tier FROM rating.accounts WHERE id = 'A3'")" = silver ]; do
  i=$((i + 1)); [ $i -ge 80 ] && fail "A3's changes did not reach rating"; sleep 0.25
done
[ "$(sql "SELECT created_on FROM rating.accounts WHERE id = 'A3'")" = "${first%/*}" ] || fail "A3's created_on moved"
[ "$(sql "SELECT version FROM rating.accounts WHERE id = 'A3'")" -eq $((${first#*/} + 2)) ] || fail "A3's version"
"$B/billctl" account update A3 --tier standard >/dev/null || fail "A3 back to standard"
until [ "$(sql "SELECT tier FROM rating.accounts WHERE id = 'A3'")" = standard ]; do
  i=$((i + 1)); [ $i -ge 80 ] && fail "A3's last change did not reach rating"; sleep 0.25
done
ok "account changes applied in one batch: newest version wins, first-heard date kept"

# --- subscriptions -----------------------------------------------------------
out=$("$B/billctl" subscribe --account NOPE --plan SAAS_PRO --start 2026-11-01 2>&1) && fail "unknown account subscribed"
echo "$out" | grep -q 'unknown account' || fail "unknown account error: $out"
"$B/billctl" subscribe --account A1 --plan NOPE --start 2026-11-01 >/dev/null 2>&1 && fail "unknown plan"
"$B/billctl" subscribe --account A1 --plan SAAS_STANDARD_JP --start 2026-11-01 >/dev/null 2>&1 && fail "quarterly JPY plan on a monthly CNY account"
"$B/billctl" subscribe --account A1 --plan SAAS_PRO --start 2026-11-01 --quantity 5 >/dev/null || fail "subscribe A1"
"$B/billctl" subscribe --account A1 --plan SAAS_PRO --start 2026-11-02 >/dev/null 2>&1 && fail "second open subscription"
# A2 and A4 come from a file, checked as a whole: one bad row and nothing
# is imported; every bad row is named with its line and reason.
cat > "$BW_TMP/subs.csv" <<'CSV'
account_id,plan,start,quantity,coupon
A2,SAAS_PRO,2026-11-16,4,WELCOME2026
A4,SAAS_PRO,2026-10-01,3,
CSV
{ cat "$BW_TMP/subs.csv"; cat <<'CSV'
NOPE,SAAS_PRO,2026-11-01,,
A3,NOPE,2026-11-01,,
A3,SAAS_STANDARD_JP,2026-11-01,,
A3,SAAS_PRO,2026-13-01,,
A3,SAAS_PRO,2026-11-01,-1,
A3,SAAS_PRO,2026-11-01,1,NOCOUPON
A1,SAAS_PRO,2026-11-01,,
A2,SAAS_PRO,2026-11-01,,
CSV
} > "$BW_TMP/subs_bad.csv"
out=$("$B/billctl" subscription import "$BW_TMP/subs_bad.csv" 2>&1) && fail "bad subscription file imported"
for want in 'subs_bad.csv:4: account_id: unknown account NOPE' 'subs_bad.csv:5: plan: unknown plan NOPE' \
  'subs_bad.csv:6: plan and account cycles differ' 'subs_bad.csv:7: start: expected YYYY-MM-DD' \
  'subs_bad.csv:8: quantity: must not be negative' 'subs_bad.csv:9: coupon: unknown coupon NOCOUPON' \
  'subs_bad.csv:10: account_id: A1 already has a subscription' \
  'subs_bad.csv:11: account_id: A2 appears more than once (first on line 2)' \
  '8 row(s) rejected; nothing was imported'; do
  echo "$out" | grep -qF "$want" || fail "subscription import errors lack '$want': $out"
done
[ "$(echo "$out" | grep -c 'subs_bad.csv:')" = 8 ] || fail "good rows reported as bad: $out"
[ "$(sql "SELECT count(*) FROM rating.subscriptions WHERE account_id IN ('A2', 'A4')")" = 0 ] || fail "a rejected file wrote rows"
out=$("$B/billctl" subscription import "$BW_TMP/subs.csv") || fail "subscription import: $out"
echo "$out" | grep -q '2 rows: 2 subscriptions created' || fail "import summary: $out"
[ "$(sql "SELECT count(*) FROM rating.coupon_redemptions WHERE account_id = 'A2' AND coupon = 'WELCOME2026'")" = 1 ] \
  || fail "imported coupon not redeemed"
out=$("$B/billctl" subscription import "$BW_TMP/subs.csv" 2>&1) && fail "the same file imported twice"
echo "$out" | grep -q 'subs.csv:2: account_id: A2 already has a subscription' || fail "second import error: $out"
"$B/billctl" subscription change --account A4 --at 2026-11-11 --quantity 10 >/dev/null || fail "change A4"
n=$("$B/billctl" subscription show --account A4 | grep -c SAAS_PRO)
[ "$n" = 2 ] || fail "A4 should have two segments, has $n"
ok "subscriptions: checks, coupon, mid-period change as two segments"

# --- usage -------------------------------------------------------------------
cat > "$BW_TMP/usage.csv" <<'CSV'
event_id,account,fee_item,quantity,timestamp,currency
e1,A1,API_CALLS,100000,2026-11-05T10:00:00Z,CNY
e2,A1,API_CALLS,50000,2026-11-20T10:00:00Z,
e3,NOPE,API_CALLS,5,2026-11-05T10:00:00Z,
e4,A1,NOPE,5,2026-11-05T10:00:00Z,
e5,A1,API_CALLS,-5,2026-11-05T10:00:00Z,
e6,A1,API_CALLS,abc,2026-11-05T10:00:00Z,
e7,A1,API_CALLS,5,2026-11-05T10:00:00Z,JPY
e8,A4,API_CALLS,5000,2026-11-25T00:00:00Z,
e9,A3,API_CALLS,1,2026-11-05T10:00:00Z,
e10,A1,API_CALLS,1,yesterday,
"e11,A1,API_CALLS
CSV
"$B/billctl" usage import "$BW_TMP/usage.csv" > "$BW_TMP/imp.out" 2> "$BW_TMP/imp.err" && fail "import with bad rows exited 0"
cat "$BW_TMP/imp.out" "$BW_TMP/imp.err"
grep -q '11 records, 3 accepted, 0 duplicates (ignored), 8 rejected' "$BW_TMP/imp.out" || fail "import summary"
for want in 'line 4: e3: unknown account NOPE' 'line 5: e4: unknown fee item NOPE' \
  'line 6: e5: quantity: must not be negative' 'line 7: e6: quantity: ' \
  'line 8: e7: currency: JPY, but the account bills in CNY' 'line 10: e9: account A3 has no subscription' \
  'line 11: e10: timestamp: ' 'line 12: '; do
  grep -qF "$want" "$BW_TMP/imp.err" || fail "missing rejection: $want"
done
out=$("$B/billctl" usage import "$BW_TMP/usage.csv" 2>/dev/null)
echo "$out" | grep -q '3 duplicates (ignored)' || fail "re-import not a no-op: $out"
head -3 "$BW_TMP/usage.csv" > "$BW_TMP/dup.csv"
"$B/billctl" usage import "$BW_TMP/dup.csv" | grep -q '2 records, 0 accepted, 2 duplicates' || fail "duplicates-only import"
"$B/billctl" usage add --account A1 --fee-item API_CALLS --quantity 100000 --event-id e1 | grep -q '1 duplicates' \
  || fail "usage add with a known event id"
[ "$(sql "SELECT sum(quantity)::int || '/' || sum(records) FROM rating.usage_aggregates WHERE account_id='A1' AND fee_item='API_CALLS'")" = "150000/2" ] \
  || fail "aggregate of A1 not 150000 in 2 records"
ok "usage: rejections with line numbers, exit 1, duplicates ignored, aggregates kept"

# --- preview and explain -----------------------------------------------------
total=$("$B/billctl" rate preview --account A1 --period 2026-11 --json | tr -d ' \n' | sed -n 's/.*"total_minor":\([0-9-]*\).*/\1/p')
[ "$total" = 160930 ] || fail "preview A1 total $total, want 160930"
"$B/billctl" rate preview --account A2 --period 2026-11 | grep -q '平台基础费' || fail "A2 preview not in Chinese"
"$B/billctl" rate explain --account A1 --period 2026-11 --fee-item API_CALLS > "$BW_TMP/explain.out" || fail "explain"
cat "$BW_TMP/explain.out"
for want in 'SAAS_PRO/CNY/2026-01-01' 'e1' 'e2' 'usage total 150000 in 2 records' 'NEW_CUSTOMER_10' 'graduated' 'catalog version 1'; do
  grep -q "$want" "$BW_TMP/explain.out" || fail "explain lacks $want"
done
[ "$(sql "SELECT count(*) FROM rating.closed_periods")" = 0 ] || fail "preview had side effects"
ok "preview and explain"

# --- the close, started by invoicing's bill run ------------------------------
"$FX" billrun 2026-11 || fail "bill run start"
i=0
until [ "$(sql "SELECT count(*) FROM rating.closed_periods WHERE period='2026-11'")" = 4 ]; do
  i=$((i + 1)); [ $i -ge 80 ] && fail "close did not rate 4 accounts"; sleep 0.25
done
"$FX" rated > "$BW_TMP/rated.out" || fail "decode outbox"
cat "$BW_TMP/rated.out"
[ "$(grep -c '^rated ' "$BW_TMP/rated.out")" = 4 ] || fail "want 4 AccountRated events"
grep -q '^rated A1 2026-11 CNY en run=RUN-2026-11-monthly lines=5 total=160930$' "$BW_TMP/rated.out" || fail "A1 event"
grep -q '^rated A2 2026-11 CNY zh-CN run=RUN-2026-11-monthly lines=6 total=113410$' "$BW_TMP/rated.out" || fail "A2 event"
grep -q '^rated A3 2026-11 CNY en run=RUN-2026-11-monthly lines=0 total=0$' "$BW_TMP/rated.out" || fail "A3 event (nothing to charge)"
grep -q '^rated A4 2026-11 CNY en run=RUN-2026-11-monthly lines=7 total=61689$' "$BW_TMP/rated.out" || fail "A4 event"
# Line by line, computed by hand (fen):
#  A1 setup 1000.00; platform 299.00; seats (5-3 free)*59 = 118.00;
#     API calls 150000-10000 free: 100000*0.002 + 40000*0.0015 = 260.00 (2 tiers);
#     new customer 10% of 299+118+260 = 67.70
#  A2 (gold, from the 16th: 15/30) setup 1000.00; platform 249*1/2 = 124.50;
#     seats (4-3)*49*1/2 = 24.50; API minimum 100*1/2 = 50.00 (true-up);
#     10% of 149.00 = 14.90; coupon 50.00
#  A4 (3 seats to the 11th, 10 after) 299*1/3 = 99.67, minimum 33.33, -10% 9.97;
#     299*2/3 = 199.33, 7*59*2/3 = 275.33, minimum 66.67, -10% of 474.66 = 47.47
for want in 'A1 setup PLATFORM qty=1 price=1000 amount=100000' 'A1 charge PLATFORM qty=1 price=299 amount=29900' \
  'A1 charge SEATS qty=2 price=59 amount=11800' 'A1 charge API_CALLS qty=140000 price=0 amount=26000 tiers=2' \
  'A1 discount - qty=1 price=0.1 amount=-6770' \
  'A2 setup PLATFORM qty=1 price=1000 amount=100000' 'A2 proration PLATFORM qty=1 price=249 amount=12450' \
  'A2 proration SEATS qty=1 price=49 amount=2450' 'A2 true_up API_CALLS qty=1 price=100 amount=5000' \
  'A2 discount - qty=1 price=0.1 amount=-1490' 'A2 discount - qty=1 price=50 amount=-5000' \
  'A4 proration PLATFORM qty=1 price=299 amount=9967' 'A4 true_up API_CALLS qty=1 price=100 amount=3333' \
  'A4 proration PLATFORM qty=1 price=299 amount=19933' 'A4 proration SEATS qty=7 price=59 amount=27533' \
  'A4 true_up API_CALLS qty=1 price=100 amount=6667' 'A4 discount - qty=1 price=0.1 amount=-4747' \
  'A4 discount - qty=1 price=0.1 amount=-997'; do
  grep -q "^line $want " "$BW_TMP/rated.out" || fail "missing line: $want"
done
grep -q '^line A2 .*|平台基础费' "$BW_TMP/rated.out" || fail "A2 descriptions not in Chinese"
ok "bill run closed by rating: 4 AccountRated events match the hand-computed lines"

# Closing again (by command) emits nothing new.
before=$(sql "SELECT count(*) FROM rating.outbox WHERE event_type='AccountRated'")
out=$("$B/billctl" rate close --period 2026-11) || fail "second close: $out"
echo "$out"
echo "$out" | grep -q '0 accounts rated, 0 failed' || fail "second close rated again"
[ "$(sql "SELECT count(*) FROM rating.outbox WHERE event_type='AccountRated'")" = "$before" ] || fail "second close emitted events"
ok "closing twice emits nothing new"

# Usage in the closed period is rejected; the next period is open.
out=$("$B/billctl" usage add --account A1 --fee-item API_CALLS --quantity 5 --at 2026-11-29T00:00:00Z --event-id late1 2>&1) \
  && fail "usage in a closed period accepted"
echo "$out" | grep -q 'period 2026-11 is already closed for account A1' || fail "closed-period error: $out"
"$B/billctl" usage add --account A1 --fee-item API_CALLS --quantity 5 --at 2026-12-01T00:00:00Z --event-id dec1 >/dev/null \
  || fail "usage in December rejected"
"$B/billctl" subscription cancel --account A1 --at 2026-11-20 >/dev/null 2>&1 && fail "cancel inside a closed period"
"$B/billctl" subscription cancel --account A1 --at 2026-12-15 >/dev/null || fail "cancel in December"
printf 'account_id,plan,start\nA1,SAAS_PRO,2026-12-01\nA3,SAAS_PRO,2026-11-20\n' > "$BW_TMP/subs_late.csv"
out=$("$B/billctl" subscription import "$BW_TMP/subs_late.csv" 2>&1) && fail "late subscriptions imported"
echo "$out" | grep -q 'subs_late.csv:2: start: overlaps an earlier subscription of A1, which ended on 2026-12-15' \
  || fail "overlap not reported: $out"
echo "$out" | grep -q 'subs_late.csv:3: start: 2026-11-20 falls in 2026-11, already closed for A3' \
  || fail "closed period not reported: $out"
ok "closed period: late usage and changes rejected"

# Invoicing turned the events into invoices (A3 had nothing to bill).
i=0
until [ "$(sql "SELECT done FROM invoicing.bill_runs WHERE id='RUN-2026-11-monthly'")" = 4 ]; do
  i=$((i + 1)); [ $i -ge 80 ] && { sql "SELECT * FROM invoicing.bill_runs"; fail "invoicing did not record 4 results"; }; sleep 0.25
done
[ "$(sql "SELECT total_minor FROM invoicing.invoices WHERE account_id='A1' AND period='2026-11'")" != "" ] || fail "no invoice for A1"
ok "invoicing recorded the run's results from rating's events"

stop_all
rm -f "$BW_TMP"/*.pid
check_logs
echo PASS
