# Invoicing end to end without rating: accounts (validation, CSV import all
# or nothing), a bill run over 10,000 accounts consumed by 8 worker processes
# from a stand-in rating stream while one worker is SIGKILLed and restarted,
# then: one invoice per account and period, gap-free unique numbers, totals
# equal to the sum of lines, nothing-to-bill counted, run complete, re-sent
# events bill nobody twice, documents render.
. tests/integration/lib.sh
BC="$BW_BUILD/billctl"
N=${BW_INVOICING_ACCOUNTS:-10000}
RATING_EP="tcp://127.0.0.1:$((BILLOW_PORT_BASE + 2))"
export BILLOW_NOW=2026-12-01T02:00:00Z
cleanup() {
  stop_all
  for f in "$BW_TMP"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
  return 0
}
trap cleanup EXIT

BILLOW_API_WORKS=0 svc_start invoicing
i=0; until "$BC" invoicing describe >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 80 ] && fail "invoicing not up"; sleep 0.25; done

# --- accounts -----------------------------------------------------------
# ACME bills quarterly, so it is not due in the monthly run below.
"$BC" account create ACME --name "Acme 上海" --currency CNY --tax-profile cn-vat-general \
  --cycle quarterly --language zh-CN --email billing@acme.example --terms-days 15 >/dev/null || fail "account create"
"$BC" account create ACME --name X --currency CNY 2>/dev/null && fail "duplicate create accepted"
out=$("$BC" account create BAD --name X --currency XXX 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "currency:" || fail "bad currency: rc=$rc $out"
out=$("$BC" account create BAD2 --name X --currency CNY --email nope 2>&1) && fail "bad email accepted"
echo "$out" | grep -q "email:" || fail "bad email message: $out"
"$BC" account update ACME --tier gold >/dev/null || fail "account update"
"$BC" account show ACME | grep -q "gold" || fail "update not shown"
"$BC" account update NOPE --tier gold 2>/dev/null && fail "update of unknown account accepted"
"$BC" account show ACME --json | grep -q '"language":"zh-CN"' || "$BC" account show ACME --json | grep -q '"language": "zh-CN"' || fail "json show"
v=$(sql "SELECT count(*) FROM invoicing.outbox WHERE event_type = 'AccountChanged'")
[ "$v" -eq 2 ] || fail "expected 2 AccountChanged events, got $v"
ok "account create/update/show with validation and events"

# A CSV with bad rows imports nothing and names line and field.
printf 'id,name,currency,tax_profile\nGOOD1,Good,CNY,cn-vat-general\nBAD1,,CNY,none\nBAD2,Bad,ZZZ,none\n' > "$BW_TMP/bad.csv"
out=$("$BC" account import "$BW_TMP/bad.csv" 2>&1) && fail "bad csv accepted"
echo "$out" | grep -q "bad.csv:3: name" || fail "line 3 error missing: $out"
echo "$out" | grep -q "bad.csv:4: currency" || fail "line 4 error missing: $out"
[ "$(sql "SELECT count(*) FROM invoicing.accounts WHERE id = 'GOOD1'")" -eq 0 ] || fail "half-imported"
ok "bad CSV rejected with line numbers, nothing imported"

awk -v n="$N" 'BEGIN { print "id,name,currency,tax_profile,terms_days,email";
  for (i = 1; i <= n; i++) printf "ACC-%06d,Customer %d,CNY,cn-vat-general,30,c%d@example.com\n", i, i, i }' > "$BW_TMP/accounts.csv"
"$BC" account import "$BW_TMP/accounts.csv" | grep -q "$N created" || fail "import of $N accounts"
"$BC" account import "$BW_TMP/accounts.csv" | grep -q "$N unchanged" || fail "re-import is not a no-op"
ok "imported $N accounts; re-import changes nothing"

"$BC" account update ACC-000001 --payment-plan instalments:3 >/dev/null || fail "instalment plan"
"$BC" account update ACC-000002 --payment-plan "milestones:Kickoff=30,Delivery=70" >/dev/null || fail "milestone plan"
out=$("$BC" account update ACC-000003 --payment-plan "milestones:A=30,B=60" 2>&1) && fail "milestones not adding up accepted"
echo "$out" | grep -q "payment_plan: milestones: the percentages must add up to 100" || fail "plan error: $out"
"$BC" account update ACC-000003 --payment-plan instalments:0 2>/dev/null && fail "zero instalments accepted"
ok "payment plans set and validated"

# --- bill run -------------------------------------------------------------
"$BC" billrun start --period 2026-11 | grep -q "started RUN-2026-11-monthly: $N accounts due" || fail "billrun start"
"$BC" billrun start --period 2026-11 | grep -q "already started" || fail "second start not idempotent"
"$BC" billrun start --period 2026-13 2>/dev/null && fail "bad period accepted"
"$BC" billrun start --period 2026-11 --cycle quarterly 2>/dev/null && fail "quarterly run must start a quarter"
[ "$(sql "SELECT count(*) FROM invoicing.outbox WHERE event_type = 'BillRunStarted'")" -eq 1 ] || fail "BillRunStarted count"
ok "bill run started once"

"$BW_BUILD/tests/integration/fake_rating" "$RATING_EP" RUN-2026-11-monthly 2026-11 2026-11-01 2026-12-01 "$N" CNY \
  >>"$BW_TMP/fake_rating.log" 2>&1 &
echo $! > "$BW_TMP/fake_rating.pid"
export BILLOW_LEASE_TTL_S=2
for w in 0 1 2 3 4 5 6 7; do
  "$BW_BUILD/invoicing" --worker --partitions "$w/8" >>"$BW_TMP/worker$w.log" 2>&1 &
  echo $! > "$BW_TMP/worker$w.pid"
done
sleep 1.5
dead=$(cat "$BW_TMP/worker3.pid")
kill -KILL "$dead"; wait "$dead" 2>/dev/null
done_before=$(sql "SELECT count(*) FROM invoicing.bill_run_results")
echo "worker 3 killed with $done_before results recorded; not restarted yet"
i=0
until "$BC" billrun status RUN-2026-11-monthly | grep -q "status: *complete"; do
  i=$((i + 1)); [ $i -gt 240 ] && { "$BC" billrun status RUN-2026-11-monthly; fail "run did not complete"; }
  sleep 0.5
done
"$BC" billrun status RUN-2026-11-monthly
# The dead worker's lease expires and another worker adopts its partitions
# (during the run when the run outlasts the lease, after it otherwise).
i=0
while :; do
  owner=$(sql "SELECT owner FROM invoicing.stream_leases WHERE producer = 'rating' AND partitions = '3/8'")
  case "$owner" in *":$dead") ;; *) break ;; esac
  i=$((i + 1)); [ $i -gt 40 ] && fail "partitions 3/8 still leased to the dead worker"
  sleep 0.25
done
ok "run complete; the other workers adopted the dead worker's partitions ($owner)"

# The worker the partitions belong to comes back and gets them back.
BILLOW_LOG_LEVEL=info "$BW_BUILD/invoicing" --worker --partitions 3/8 >"$BW_TMP/worker3.again.log" 2>&1 &
echo $! > "$BW_TMP/worker3.pid"
i=0
until grep -q '"msg":"partitions leased","producer":"rating","partitions":"3/8"' "$BW_TMP/worker3.again.log"; do
  i=$((i + 1)); [ $i -gt 120 ] && { tail -5 "$BW_TMP/worker3.again.log"; fail "restarted worker 3 did not get its partitions back"; }
  sleep 0.25
done
ok "restarted worker 3 got partitions 3/8 back"

inv=$(sql "SELECT count(*) FROM invoicing.invoices")
nothing=$(sql "SELECT count(*) FROM invoicing.bill_run_results WHERE outcome = 'nothing_to_bill'")
failed=$(sql "SELECT count(*) FROM invoicing.bill_run_results WHERE outcome = 'failed'")
[ "$inv" -eq $((N - N / 10)) ] || fail "invoices: $inv"
[ "$nothing" -eq $((N / 10)) ] || fail "nothing to bill: $nothing"
[ "$failed" -eq 0 ] || fail "failed: $failed"
# Invoiced accounts get no result row; the run counts every outcome.
[ "$(sql "SELECT count(*) FROM invoicing.bill_run_results WHERE outcome = 'invoiced'")" -eq 0 ] || fail "invoiced result rows"
counts=$(sql "SELECT done || '/' || invoiced || '/' || nothing_to_bill || '/' || failed FROM invoicing.bill_runs WHERE id = 'RUN-2026-11-monthly'")
[ "$counts" = "$N/$inv/$nothing/0" ] || fail "run counts $counts, want $N/$inv/$nothing/0"
"$BC" billrun status RUN-2026-11-monthly | grep -q "^invoiced: *$inv\$" || fail "billrun status invoiced"
gaps=$(sql "SELECT count(*) FROM (SELECT series, max(seq) m, count(*) c, count(DISTINCT seq) d FROM invoicing.invoices GROUP BY series) s WHERE m <> c OR c <> d")
[ "$gaps" -eq 0 ] || fail "numbering has gaps or duplicates"
last=$(sql "SELECT last FROM invoicing.number_series WHERE series = 'INV-202612'")
[ "$last" -eq "$inv" ] || fail "series counter $last vs $inv invoices"
# Every invoice's total is the sum of its lines: the lines are stored as
# bytes, which the audit decodes and sums (test_payments checks that it
# finds lines that do not add up).
nolines=$(sql "SELECT count(*) FROM invoicing.invoices i LEFT JOIN invoicing.invoice_lines l ON l.id = i.lines_id WHERE l.lines IS NULL")
[ "$nolines" -eq 0 ] || fail "$nolines invoices without lines"
"$BC" audit > "$BW_TMP/audit.txt" 2>&1
grep -q "lines sum\|has no lines\|do not decode" "$BW_TMP/audit.txt" && { head "$BW_TMP/audit.txt"; fail "invoices do not add up"; }
grep -q "^audit: $inv invoices" "$BW_TMP/audit.txt" || { head "$BW_TMP/audit.txt"; fail "audit did not read every invoice"; }
# Hand-computed: ACC-000001: 99.00 at 13% = 12.87 tax; 12.35 at 6% = 0.741 -> 0.74.
t1=$(sql "SELECT subtotal_minor || '/' || tax_minor || '/' || total_minor FROM invoicing.invoices WHERE account_id = 'ACC-000001'")
[ "$t1" = "11135/1361/12496" ] || fail "ACC-000001 totals $t1"
issued=$(sql "SELECT count(*) FROM invoicing.outbox WHERE event_type = 'InvoiceIssued'")
[ "$issued" -eq "$inv" ] || fail "InvoiceIssued events $issued vs $inv invoices"
p1=$(sql "SELECT count(*) || '/' || sum(s.amount_minor) FROM invoicing.invoice_instalments s JOIN invoicing.invoices i USING (number) WHERE i.account_id = 'ACC-000001'")
[ "$p1" = "3/12496" ] || fail "ACC-000001 instalments $p1"
d=$(sql "SELECT string_agg(to_char(s.due_date, 'YYYY-MM-DD'), ',' ORDER BY s.seq) FROM invoicing.invoice_instalments s JOIN invoicing.invoices i USING (number) WHERE i.account_id = 'ACC-000001'")
[ "$d" = "2026-12-31,2027-01-31,2027-02-28" ] || fail "instalment dates $d"
p2=$(sql "SELECT string_agg(s.label || '=' || s.amount_minor, ',' ORDER BY s.seq) FROM invoicing.invoice_instalments s JOIN invoicing.invoices i USING (number) WHERE i.account_id = 'ACC-000002'")
t2=$(sql "SELECT total_minor FROM invoicing.invoices WHERE account_id = 'ACC-000002'")
case "$p2" in Kickoff=*,Delivery=*) ;; *) fail "milestones $p2" ;; esac
[ "$(sql "SELECT sum(s.amount_minor) FROM invoicing.invoice_instalments s JOIN invoicing.invoices i USING (number) WHERE i.account_id = 'ACC-000002'")" = "$t2" ] || fail "milestones do not sum to $t2"
ok "$inv invoices, $nothing nothing-to-bill, numbers gap-free, totals add up, instalment and milestone plans"

# Sending every AccountRated again (a second stand-in run) bills nobody twice.
# One invoiced account would now fail (its currency changed since): its
# replay is still a replay, not a failed result beside its invoice.
kill -TERM "$(cat "$BW_TMP/fake_rating.pid")"; wait "$(cat "$BW_TMP/fake_rating.pid")" 2>/dev/null
changed=$(sql "SELECT account_id FROM invoicing.invoices WHERE account_id <= 'ACC-000200' ORDER BY account_id OFFSET 4 LIMIT 1")
sql "UPDATE invoicing.accounts SET currency = 'USD' WHERE id = '$changed'" >/dev/null
sql "DELETE FROM invoicing.stream_cursors WHERE producer = 'rating'" >/dev/null
"$BW_BUILD/tests/integration/fake_rating" "$RATING_EP" RUN-2026-11-monthly 2026-11 2026-11-01 2026-12-01 200 CNY \
  >>"$BW_TMP/fake_rating.log" 2>&1 &
echo $! > "$BW_TMP/fake_rating.pid"
# Every partition's cursor passes the first run's events again: the replayed
# batches were applied (first refused by the unique keys, then again with
# the replays skipped), not stuck.
i=0
until [ "$(sql "SELECT count(*) FROM invoicing.stream_cursors WHERE producer = 'rating' AND last_seq > $N")" -eq 8 ]; do
  i=$((i + 1)); [ $i -gt 60 ] && { sql "SELECT * FROM invoicing.stream_cursors"; fail "replayed batches not applied"; }
  sleep 0.25
done
[ "$(sql "SELECT count(*) FROM invoicing.invoices")" -eq "$inv" ] || fail "re-sent events created invoices"
[ "$(sql "SELECT done || '/' || invoiced || '/' || nothing_to_bill || '/' || failed FROM invoicing.bill_runs WHERE id = 'RUN-2026-11-monthly'")" = "$counts" ] \
  || fail "re-sent events counted again"
[ "$(sql "SELECT count(*) FROM invoicing.bill_run_results WHERE account_id = '$changed'")" -eq 0 ] \
  || fail "the replay of invoiced $changed was recorded as a result"
# The refused first tries wrote lines before the number series: none of
# them is left behind.
[ "$(sql "SELECT count(*) FROM invoicing.invoice_lines")" -eq "$inv" ] || fail "replays left lines behind"
"$BC" audit > "$BW_TMP/audit_replay.txt" 2>&1
grep -q "lines sum\|has no lines\|do not decode\|no invoice names\|same lines" "$BW_TMP/audit_replay.txt" \
  && { head "$BW_TMP/audit_replay.txt"; fail "lines after the replays"; }
sql "UPDATE invoicing.accounts SET currency = 'CNY' WHERE id = '$changed'" >/dev/null
ok "replayed AccountRated events bill nobody twice, whatever their outcome now"

num=$(sql "SELECT number FROM invoicing.invoices WHERE account_id = 'ACC-000001'")
"$BC" invoice show "$num" | grep -q "124.96" || fail "text document"
"$BC" invoice show "$num" --format html > "$BW_TMP/inv.html" || fail "html document"
grep -q "<html" "$BW_TMP/inv.html" && grep -q "$num" "$BW_TMP/inv.html" || fail "html content"
"$BC" invoice show "$num" --format json | grep -q "$num" || fail "json document"
"$BC" invoice list --account ACC-000001 | grep -q "$num" || fail "invoice list"
# The HTML in InvoiceIssued is rendered before the number is taken and the
# number put in after: it is there in the title, the facts and the footer.
ev=$(sql "SELECT encode(payload, 'escape') FROM invoicing.outbox WHERE event_type = 'InvoiceIssued' AND position(convert_to('$num', 'UTF8') in payload) > 0")
n=$(printf '%s' "$ev" | grep -o "$num" | wc -l)
[ "$n" -eq 4 ] || fail "InvoiceIssued of $num names it $n times, not 4 (field, title, facts, footer)"
printf '%s' "$ev" | grep -q "<title>[^<]* $num</title>" || fail "InvoiceIssued HTML title"
# Its fields were packed before the number was taken and the number and the
# HTML put around them: the bytes decode as one whole InvoiceIssued.
dec=$(sql "SELECT encode(payload, 'hex') FROM invoicing.outbox WHERE event_type = 'InvoiceIssued'
  AND position(convert_to('$num', 'UTF8') in payload) > 0" | xxd -r -p | protoc-c --decode=billow.Event -Iproto proto/events.proto) \
  || fail "InvoiceIssued of $num does not decode"
for want in "invoice_number: \"$num\"" 'account_id: "ACC-000001"' 'total_minor: 12496' 'payment_instructions: ' "html: \"<!DOCTYPE"; do
  echo "$dec" | grep -qF "$want" || fail "InvoiceIssued of $num lacks $want"
done
[ "$(echo "$dec" | grep -c '^  lines {')" -eq 2 ] && [ "$(echo "$dec" | grep -c '^  instalments {')" -eq 3 ] \
  || fail "InvoiceIssued of $num: lines or instalments lost"
"$BC" invoice show INV-209912-000001 2>/dev/null && fail "unknown invoice shown"
# A run's invoices page by number from an index, not a walk of the table.
first=$(sql "SELECT min(number) FROM invoicing.invoices WHERE run_id = 'RUN-2026-11-monthly'")
want=$(sql "SELECT string_agg(number, ' ' ORDER BY number) FROM (SELECT number FROM invoicing.invoices
  WHERE run_id = 'RUN-2026-11-monthly' AND number > '$first' ORDER BY number LIMIT 3) s")
got=$("$BC" invoice list --run RUN-2026-11-monthly --after "$first" --limit 3 | grep -o 'INV-[0-9]*-[0-9]*' | tr '\n' ' ')
[ "$got" = "$want " ] || fail "invoice list --run: got '$got', want '$want'"
"$BC" invoice list --run RUN-1999-01-monthly | grep -q INV- && fail "invoice list of an unknown run"
# A run's page walks the primary key between the run's first and last number.
range=$(sql "SELECT first_number || ' ' || last_number FROM invoicing.bill_runs WHERE id = 'RUN-2026-11-monthly'")
[ "$range" = "$(sql "SELECT min(number) || ' ' || max(number) FROM invoicing.invoices WHERE run_id = 'RUN-2026-11-monthly'")" ] \
  || fail "run's number range $range"
sql "ANALYZE invoicing.invoices" >/dev/null
sql "EXPLAIN SELECT number FROM invoicing.invoices WHERE run_id = 'RUN-2026-11-monthly' AND number > ''
  AND number >= '${range% *}' AND number <= '${range#* }' ORDER BY number LIMIT 100" \
  | grep -q "Index Cond: ((number > ''::text) AND (number >= " || fail "listing a run does not walk the primary key's range"
sql "UPDATE invoicing.invoices SET total_minor = 1 WHERE number = '$num'" 2>/dev/null && fail "issued invoice was editable"
sql "UPDATE invoicing.invoice_lines l SET lines = lines || '\\x00'::bytea FROM invoicing.invoices i
  WHERE i.number = '$num' AND l.id = i.lines_id" 2>&1 \
  | grep -q "invoice lines cannot be changed" || fail "issued lines were editable"
sql "UPDATE invoicing.invoices SET lines_id = lines_id + 1 WHERE number = '$num'" 2>/dev/null \
  && fail "an issued invoice was pointed at other lines"
sql "DELETE FROM invoicing.invoice_lines l USING invoicing.invoices i
  WHERE i.number = '$num' AND l.id = i.lines_id" 2>&1 \
  | grep -q "invoice lines cannot be changed" || fail "issued lines were deleted"
ok "documents render; issued invoices are immutable"

# Payable at once is stored as no instalment rows; the document still shows
# the one instalment: the invoice's total on its due date.
num4=$(sql "SELECT number FROM invoicing.invoices WHERE account_id = 'ACC-000004'")
[ "$(sql "SELECT count(*) FROM invoicing.invoice_instalments WHERE number = '$num4'")" -eq 0 ] || fail "pay-at-once instalment rows"
js=$("$BC" invoice show "$num4" --format json | tr -d ' \n')
t4=$(sql "SELECT total_minor || ' ' || due_date FROM invoicing.invoices WHERE number = '$num4'")
echo "$js" | grep -q "\"label\":\"1/1\"" || fail "pay-at-once instalment missing: $js"
echo "$js" | grep -q "\"due_date\":\"${t4#* }\"" || fail "pay-at-once due date: $js"
"$BC" invoice show "$num4" | grep -q "Instalment" || fail "pay-at-once schedule in text"
# A number must be its series and counter: no second (series, seq).
sql "INSERT INTO invoicing.invoices (number, series, seq, account_id, period, period_start, period_end,
  currency, subtotal_minor, tax_minor, total_minor, issue_date, due_date, language, tax_profile, caused_by,
  lines_id) VALUES ('INV-202612-0000001', 'INV-202612', 1, 'ACC-X', 'p', '2026-11-01', '2026-12-01', 'CNY',
  0, 0, 0, '2026-12-01', '2026-12-31', 'en', 'none', 't', -1)" 2>&1 \
  | grep -q "invoices_number_is_series_seq" || fail "number not matching series and seq accepted"
ok "pay-at-once invoices store no instalment rows and still show one; numbers match series and seq"

for w in 0 1 2 3 4 5 6 7; do kill -TERM "$(cat "$BW_TMP/worker$w.pid")"; done

# Automatic bill runs: with the clock at 2027-01-01 the API process starts
# December's monthly run and Q4's quarterly run (ACME) by itself, once.
svc_kill invoicing TERM
BILLOW_NOW=2027-01-01T02:00:00Z BILLOW_AUTO_BILLRUN=1 BILLOW_AUTO_BILLRUN_CHECK_S=1 BILLOW_API_WORKS=0 svc_start invoicing
i=0
until [ "$(sql "SELECT count(*) FROM invoicing.bill_runs WHERE id IN ('RUN-2026-12-monthly', 'RUN-2026-10-quarterly')")" -eq 2 ]; do
  i=$((i + 1)); [ $i -gt 40 ] && { sql "SELECT id FROM invoicing.bill_runs"; fail "automatic bill runs did not start"; }
  sleep 0.25
done
sleep 2
[ "$(sql "SELECT count(*) FROM invoicing.bill_runs")" -eq 3 ] || fail "automatic runs started more than once"
[ "$(sql "SELECT count(*) FROM invoicing.outbox WHERE event_type = 'BillRunStarted'")" -eq 3 ] || fail "BillRunStarted count after automatic runs"
ok "automatic bill runs for 2026-12 (monthly) and 2026-10 (quarterly), once each"
check_logs
echo PASS
