# The feedback service end to end: tickets validated against the accounts,
# invoices and price changes invoicing and rating announced (injected as
# real protobuf events by fb_peer, which also serves those streams), the
# whole workflow with its history, a dispute that ends in a credit request
# and then shows the credit note invoicing issued, SLA breaches with a
# pinned clock, the report against hand-computed figures, and rejected input.
. tests/integration/lib.sh
PEER="$BW_BUILD/tests/integration/fb_peer"
CTL="$BW_BUILD/billctl"
cleanup() {
  stop_all
  for p in inv rat; do
    [ -f "$BW_TMP/peer-$p.pid" ] && kill "$(cat "$BW_TMP/peer-$p.pid")" 2>/dev/null
  done
  return 0
}
trap cleanup EXIT

compact() { tr -d ' \n'; }
# feedback restarted with its clock pinned at $1.
fb_at() {
  [ -f "$BW_TMP/feedback.pid" ] && svc_kill feedback TERM
  BILLOW_NOW=$1; export BILLOW_NOW
  svc_start feedback
  i=0
  until "$CTL" feedback describe >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -ge 80 ] && fail "feedback did not come up"; sleep 0.25
  done
}
# expect_fail EXIT_CODE "message part" command...: fails the test unless the
# command exits with that code and says that.
expect_fail() {
  code=$1; msg=$2; shift 2
  "$@" >"$BW_TMP/out.txt" 2>"$BW_TMP/err.txt"; rc=$?
  [ $rc -eq "$code" ] || { cat "$BW_TMP/out.txt" "$BW_TMP/err.txt"; fail "expected exit $code, got $rc: $*"; }
  grep -q -- "$msg" "$BW_TMP/err.txt" || { cat "$BW_TMP/err.txt"; fail "expected '$msg': $*"; }
}
ticket_field() { # TICKET FIELD -> value from show --json
  "$CTL" --json feedback show "$1" | compact | sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p"
}
outbox_count() { sql "SELECT count(*) FROM feedback.outbox WHERE event_type = '$1'"; }

"$PEER" serve invoicing >>"$BW_TMP/peer-inv.log" 2>&1 & echo $! >"$BW_TMP/peer-inv.pid"
"$PEER" serve rating >>"$BW_TMP/peer-rat.log" 2>&1 & echo $! >"$BW_TMP/peer-rat.pid"
fb_at 2026-11-02T09:00:00Z
ok "feedback up with its clock pinned"

emit() { "$PEER" emit "$@" 2>>"$BW_TMP/peer-emit.log" || fail "fb_peer emit $*"; }
emit invoicing AccountChanged account_id=A1 name=张三商贸 currency=CNY language=zh-CN version=1
emit invoicing AccountChanged account_id=A2 name=Acme currency=CNY language=en version=1
emit invoicing AccountChanged account_id=A3 name=Beta currency=CNY language=en version=1
emit invoicing InvoiceIssued invoice_number=INV-202610-000001 account_id=A1 currency=CNY total_minor=10000 line=storage line=support
for a in A1 A2 A3; do
  emit rating PriceChangeAnnounced change_id=PC-1 account_id=$a item=storage
done
emit rating PriceChangeAnnounced change_id=PC-2 account_id=A1 item=support
i=0
until [ "$(sql "SELECT (SELECT count(*) FROM feedback.accounts) || '/' || (SELECT count(*) FROM feedback.price_changes) || '/' || (SELECT count(*) FROM feedback.invoice_items)")" = "3/4/2" ]; do
  i=$((i + 1)); [ $i -ge 80 ] && fail "feedback did not take in the announced events"; sleep 0.25
done
ok "accounts, invoice and price changes consumed"

# --- rejected input ---------------------------------------------------------
expect_fail 1 "unknown account" "$CTL" feedback open --account NOPE --type dispute --channel phone --text x
expect_fail 1 "unknown invoice" "$CTL" feedback open --account A1 --type dispute --channel phone --invoice INV-X --text x
expect_fail 1 "unknown price change" "$CTL" feedback open --account A1 --type complaint --channel web --price-change PC-9 --text x
expect_fail 1 "not issued to this account" "$CTL" feedback open --account A2 --type dispute --channel phone --invoice INV-202610-000001 --text x
expect_fail 1 "not announced to this account" "$CTL" feedback open --account A2 --type complaint --channel web --price-change PC-2 --text x
expect_fail 1 "text: required" "$CTL" feedback open --account A1 --type inquiry --channel web --text ""
expect_fail 1 "must not be blank" "$CTL" feedback open --account A1 --type inquiry --channel web --text "   "
head -c 8193 /dev/zero | tr '\0' 'a' >"$BW_TMP/big.txt"
expect_fail 1 "too long" "$CTL" feedback open --account A1 --type inquiry --channel web --text-file "$BW_TMP/big.txt"
printf 'bad \377 utf8' >"$BW_TMP/bad.txt"
expect_fail 1 "not valid UTF-8" "$CTL" feedback open --account A1 --type inquiry --channel web --text-file "$BW_TMP/bad.txt"
printf 'escape \033[31m red' >"$BW_TMP/esc.txt"
expect_fail 1 "control character" "$CTL" feedback open --account A1 --type inquiry --channel web --text-file "$BW_TMP/esc.txt"
expect_fail 1 "type: must be" "$CTL" feedback open --account A1 --type rant --channel web --text x
expect_fail 1 "channel: must be" "$CTL" feedback open --account A1 --type inquiry --channel fax --text x
expect_fail 2 "required" "$CTL" feedback open --account A1 --text x
[ "$(sql "SELECT count(*) FROM feedback.tickets")" = 0 ] || fail "a rejected ticket was stored"
ok "bad input rejected with clear errors, nothing stored"

# --- four tickets at 09:00 -------------------------------------------------
open() { "$CTL" --as alice --json feedback open "$@" | compact | sed -n 's/.*"ticket_id":"\(FB-[0-9]*\)".*/\1/p'; }
T1=$(open --account A1 --type dispute --channel phone --priority high --invoice INV-202610-000001 --price-change PC-1 --category 价格 --text "存储费用比公告的高，请核实。")
T2=$(open --account A2 --type complaint --channel email --price-change PC-1 --category 价格 --text "The new storage price is too high.")
T3=$(open --account A3 --type inquiry --channel email --priority low --category 账单 --text "How is support billed?")
T4=$(open --account A1 --type suggestion --channel web --text "请增加微信支付。")
[ -n "$T1" ] && [ -n "$T4" ] || fail "open did not return ticket ids"
[ "$(outbox_count FeedbackReceived)" = 4 ] || fail "FeedbackReceived not emitted once per ticket"
"$CTL" feedback show "$T1" | grep -q "存储费用比公告的高" || fail "Chinese text not shown"
"$CTL" feedback list | grep -q "^$T4 *open" || fail "list lacks $T4"
[ "$(ticket_field "$T1" first_response_due)" = 2026-11-02T13:00:00Z ] || fail "high first-response due"
[ "$(ticket_field "$T2" resolution_due)" = 2026-11-07T09:00:00Z ] || fail "normal resolution due"
ok "tickets opened: $T1 $T2 $T3 $T4"

expect_fail 1 "only a resolved ticket can be closed" "$CTL" feedback close "$T1"
expect_fail 1 "once the ticket is closed" "$CTL" feedback csat "$T1" 5
expect_fail 1 "only a resolved or closed" "$CTL" feedback reopen "$T1"
expect_fail 1 "credit: only an upheld" "$CTL" feedback resolve "$T1" --outcome rejected --credit 1.00
expect_fail 1 "credit: only disputes and complaints" "$CTL" feedback resolve "$T3" --outcome upheld --credit 1.00
expect_fail 1 "no such ticket" "$CTL" feedback show FB-999999
ok "invalid transitions refused"

# --- 10:00: first replies ----------------------------------------------------
fb_at 2026-11-02T10:00:00Z
"$CTL" --as bob feedback assign "$T1" --to bob >/dev/null || fail "assign"
"$CTL" --as bob feedback note "$T1" --text "内部：核对用量" >/dev/null || fail "note"
"$CTL" --as bob feedback reply "$T1" --text "您好，我们正在核查您的账单。" >/dev/null || fail "reply"
"$CTL" --as bob feedback reply "$T3" --text "Support is billed per hour." >/dev/null || fail "reply T3"
[ "$(ticket_field "$T1" status)" = in_progress ] || fail "reply did not move $T1 to in_progress"
[ "$(outbox_count ReplyRequested)" = 2 ] || fail "replies not sent through notification"
[ "$(sql "SELECT count(*) FROM feedback.ticket_history WHERE ticket_id = '$T1' AND kind = 'note' AND actor = 'bob'")" = 1 ] || fail "note not recorded"

# --- 19:00: late reply, resolutions, a credit ---------------------------------
fb_at 2026-11-02T19:00:00Z
"$CTL" --as carol feedback reply "$T2" --text "We are looking into it." >/dev/null || fail "reply T2"
expect_fail 1 "more than is left" "$CTL" feedback resolve "$T1" --outcome upheld --credit 100.01
expect_fail 1 "credit:" "$CTL" feedback resolve "$T1" --outcome upheld --credit 1.234
"$CTL" --as bob feedback resolve "$T1" --outcome partially_upheld --credit 12.50 --text "存储按旧价计" >/dev/null || fail "resolve T1"
"$CTL" --as carol feedback resolve "$T3" --outcome answered >/dev/null || fail "resolve T3"
[ "$(outbox_count CreditRequested)" = 1 ] || fail "CreditRequested not emitted"
[ "$(outbox_count TicketResolved)" = 2 ] || fail "TicketResolved not emitted"
[ "$(sql "SELECT invoice_number || ' ' || amount_minor || ' ' || currency || ' ' || requested_by FROM feedback.credit_requests")" = "INV-202610-000001 1250 CNY bob" ] \
  || fail "credit request not recorded"
ok "dispute resolved with a credit request of 12.50 CNY"

# invoicing issues the credit note for the ticket
emit invoicing CreditNoteIssued credit_note_number=CN-202611-000001 invoice_number=INV-202610-000001 account_id=A1 amount_minor=1250 currency=CNY ticket_id="$T1"
emit invoicing CreditNoteIssued credit_note_number=CN-202611-000001 invoice_number=INV-202610-000001 account_id=A1 amount_minor=1250 currency=CNY ticket_id="$T1"
i=0
until "$CTL" feedback show "$T1" | grep -q "credit notes  CN-202611-000001"; do
  i=$((i + 1)); [ $i -ge 80 ] && { "$CTL" feedback show "$T1"; fail "credit note not shown"; }; sleep 0.25
done
[ "$(sql "SELECT count(*) FROM feedback.ticket_history WHERE kind = 'credit_note'")" = 1 ] || fail "replayed credit note recorded twice"
[ "$(sql "SELECT credit_note_number FROM feedback.credit_requests")" = CN-202611-000001 ] || fail "credit request not matched"
ok "ticket shows credit note CN-202611-000001"

"$CTL" --as bob feedback close "$T1" >/dev/null || fail "close T1"
"$CTL" --as carol feedback close "$T3" >/dev/null || fail "close T3"
[ "$(sql "SELECT count(*) FROM feedback.outbox WHERE event_type = 'ReplyRequested'")" = 5 ] || fail "surveys not requested"
"$CTL" feedback csat "$T1" 4 --comment "处理得很快" >/dev/null || fail "csat T1"
"$CTL" feedback csat "$T3" 2 >/dev/null || fail "csat T3"
expect_fail 1 "already recorded" "$CTL" feedback csat "$T1" 5
expect_fail 2 "SCORE must be 1 to 5" "$CTL" feedback csat "$T3" 6
"$CTL" feedback show "$T1" >"$BW_TMP/t1.txt"
for want in "closed" "satisfaction  4/5" "bob           reply" "in_progress -> resolved" "system        credit_note" "resolved -> closed"; do
  grep -q -- "$want" "$BW_TMP/t1.txt" || { cat "$BW_TMP/t1.txt"; fail "show lacks '$want'"; }
done
ok "lifecycle recorded: who and when for every step"

# --- SLA: at 19:00, T2 was answered late (due 17:00), T4 not at all ----------
"$CTL" --json feedback overdue | compact >"$BW_TMP/overdue.json"
grep -q "\"ticket_id\":\"$T4\"" "$BW_TMP/overdue.json" || fail "$T4 not overdue"
grep -q "\"ticket_id\":\"$T2\"" "$BW_TMP/overdue.json" && fail "$T2 (answered) listed overdue"
[ "$(ticket_field "$T2" first_response_at)" = 2026-11-02T19:00:00Z ] || fail "T2 response time"
"$CTL" --json feedback show "$T2" | compact | grep -q '"first_response_breached":true' || fail "T2 breach not flagged"
"$CTL" feedback overdue | grep -q "^$T4 .*LATE" || fail "overdue table"
ok "SLA breaches flagged and listed"

# --- report against hand-computed figures --------------------------------------
# first responses 1h, 1h, 10h -> median 3600 s; resolutions 10h, 10h -> 36000 s;
# breached T2 and T4 -> 2/4; CSAT (4 + 2) / 2 = 3; PC-1 named by 2 tickets,
# announced to 3 accounts -> 0.6667; PC-2 1 account, 0 tickets.
"$CTL" feedback report --from 2026-11-01 --to 2026-11-30 --format json | compact >"$BW_TMP/report.json"
grep -q '"total":{"key":"total","tickets":4,"resolved":2,"median_first_response_s":3600,"median_resolution_s":36000,"breached":2,"breach_rate":0.5,"csat_count":2,"csat_avg":3.0' "$BW_TMP/report.json" \
  || { cat "$BW_TMP/report.json"; fail "report totals"; }
grep -q '"change_id":"PC-1","accounts":3,"tickets":2,"objection_rate":0.66666' "$BW_TMP/report.json" || fail "PC-1 objection rate"
grep -q '"change_id":"PC-2","accounts":1,"tickets":0' "$BW_TMP/report.json" || fail "PC-2 objection rate"
grep -q '"top_categories":\[{"category":"价格","tickets":2},{"category":"(none)","tickets":1},{"category":"账单","tickets":1}\]' "$BW_TMP/report.json" \
  || fail "top categories"
"$CTL" feedback report --from 2026-11-01 --to 2026-11-30 --by fee-item --format csv >"$BW_TMP/report.csv" || fail "csv report"
grep -q '^storage,2,1,19800,36000,1,0.5000,1,4.00' "$BW_TMP/report.csv" || { cat "$BW_TMP/report.csv"; fail "csv fee-item storage"; }
grep -q '^total,4,2,3600,36000,2,0.5000,2,3.00' "$BW_TMP/report.csv" || fail "csv total"
"$CTL" feedback report --from 2026-11-03 --to 2026-11-30 --format json | compact | grep -q '"total":{"key":"total","tickets":0' || fail "date range"
"$CTL" feedback report --by channel --format html >"$BW_TMP/report.html" || fail "html report"
grep -q "<svg" "$BW_TMP/report.html" || fail "html lacks an inline SVG chart"
grep -q "价格" "$BW_TMP/report.html" || fail "html lacks the category"
grep -Eq "<script|<link|src=" "$BW_TMP/report.html" && fail "html is not self-contained"
"$CTL" feedback report --by type | grep -q "^dispute .* 1 " || fail "table report"
expect_fail 1 "by: must be" "$CTL" feedback report --by colour
ok "report figures match the hand-computed ones"

# reopen: back to in_progress, history keeps both resolutions
"$CTL" --as bob feedback reopen "$T3" --text "customer asked again" >/dev/null || fail "reopen"
[ "$(ticket_field "$T3" status)" = in_progress ] || fail "reopen status"
[ "$(sql "SELECT count(*) FROM feedback.ticket_history WHERE ticket_id = '$T3' AND kind = 'transition'")" = 4 ] || fail "reopen history"
ok "reopen"

[ "$(sql "SELECT count(*) FROM feedback.ticket_history WHERE caused_by = ''")" = 0 ] || fail "history without cause"
check_logs
echo PASS
