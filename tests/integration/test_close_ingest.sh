# Usage ingested while its period closes (issue #3). The close takes the
# usage lock only just before its outbox append and runs a batch again when
# the count of aggregate rows it read changed, so records arriving in the
# middle of a batch must land either in the account's AccountRated or be
# rejected as "already closed", never be stored and left out. The API
# process and a `rating --closer` close 6,000 accounts in batches of 50
# while four loops import SMS records (10 per request) for accounts all
# over the id range, some closed already, some not yet, from before the
# close starts until after it ends. Then: every record sent was either
# stored or rejected for a closed period, and for every account the SMS
# quantity in its AccountRated is the sum of its stored SMS records. The
# test fails when no import fell inside the close or none came after it;
# it reports how many batches were run again (usually a few). A fifth loop
# sends requests big enough to be split over rating's two ingest
# connections.
. tests/integration/lib.sh
B=$BW_BUILD
export BILLOW_NOW=2026-11-30T12:00:00Z
export BILLOW_LOG_LEVEL=info  # a batch run again logs it
export BILLOW_RATING_CLOSE_BATCH=50 BILLOW_RATING_CLOSE_SLICES=8 BILLOW_RATING_CLOSE_POLL_MS=100
N=6000 PER=40 LOOPS=4

cleanup() {
  [ -f "$BW_TMP/closer.pid" ] && kill -TERM "$(cat "$BW_TMP/closer.pid")" 2>/dev/null
  stop_all
}
trap cleanup EXIT

svc_start rating
wait_services rating
"$B/billctl" catalog load services/rating/catalog.example.json >/dev/null || fail "catalog load"
sql "INSERT INTO rating.accounts (id, currency, cycle, tier, language, status, created_on, version, caused_by)
     SELECT 'C' || lpad(g::text, 5, '0'), 'CNY', 'monthly', 'standard', 'en', 'active', '2026-09-01', 1, 'test'
     FROM generate_series(1, $N) g;
     INSERT INTO rating.subscriptions (account_id, plan, quantity, start_date, origin, caused_by)
     SELECT 'C' || lpad(g::text, 5, '0'), 'SAAS_PRO', 1, '2026-10-01', '2026-10-01', 'test'
     FROM generate_series(1, $N) g" >/dev/null || fail "accounts"

"$B/rating" --closer >>"$BW_TMP/closer.log" 2>&1 &
echo $! > "$BW_TMP/closer.pid"

job_status() { sql "SELECT coalesce((SELECT status FROM rating.close_jobs), 'none')"; }
# import_loop K (0 to LOOPS - 1): imports files of PER SMS records until three
# imports after the close was done, noting when each import ran. Record i
# of file f is for an account spread over the whole range, so a file meets
# closed and open accounts alike; each loop writes its own files.
mkdir -p "$BW_TMP/usage"
# import_file NAME PREFIX F PER PRIME BATCH: writes PER SMS records of file F
# (event ids PREFIX-F-i, accounts spread by PRIME), imports them in
# requests of BATCH records and prints when the import ran.
import_file() {
  awk -v f=$3 -v per=$4 -v n=$N -v pre=$2 -v prime=$5 'BEGIN {
    print "event_id,account,fee_item,quantity,timestamp"
    for (i = 0; i < per; i++)
      printf "%s-%d-%d,C%05d,SMS,%d,2026-11-%02dT10:00:00Z\n", pre, f, i, (f * per + i) * prime % n + 1,
             i % 9 + 1, i % 28 + 1
  }' >"$1.csv"
  t0=$(date +%s.%N)
  "$B/billctl" --json usage import "$1.csv" --batch "$6" >"$1.json" 2>&1
  echo "$t0 $(date +%s.%N)"
}
import_loop() {
  f=$1 after=0
  while [ $after -lt 3 ] && [ $f -lt 4000 ]; do
    import_file "$BW_TMP/usage/u$f" ci $f $PER 7919 10 >>"$BW_TMP/usage/times$1"
    [ "$(job_status)" = done ] && after=$((after + 1))
    f=$((f + LOOPS))
  done
}
# big_loop: requests of BIG records, above the size rating splits over its
# two ingest connections (RT_USAGE_SPLIT_MIN, 2,000), for accounts all over
# the range, until one import after the close was done. Against a running
# close a request is split when the second connection gets the shared usage
# lock at once and stored on one connection when a close batch waits for it:
# either way every record must be stored and rated, or rejected as closed.
BIG=3000
big_loop() {
  f=0 after=0
  while [ $after -lt 1 ] && [ $f -lt 200 ]; do
    import_file "$BW_TMP/usage/u-big$f" cb $f $BIG 104729 $BIG >>"$BW_TMP/usage/times-big"
    [ "$(job_status)" = done ] && after=$((after + 1))
    f=$((f + 1))
  done
}
# Imports start before the close and go on until after its end.
loops=""
for k in $(seq 1 $((LOOPS - 1))); do
  import_loop $k &
  loops="$loops $!"
done
big_loop &
loops="$loops $!"
i=0
until [ -s "$BW_TMP/usage/times1" ]; do
  i=$((i + 1)); [ $i -ge 200 ] && fail "no import finished"; sleep 0.05
done
out=$("$B/billctl" rate close --period 2026-11 --no-wait) || fail "rate close: $out"
import_loop 0
wait $loops

i=0
until [ "$(job_status)" = done ]; do
  i=$((i + 1)); [ $i -ge 600 ] && fail "close did not finish: $(sql "SELECT * FROM rating.close_slices")"; sleep 0.1
done
[ "$(sql "SELECT count(*) FROM rating.closed_periods WHERE period = '2026-11'")" = $N ] || fail "not every account closed"
[ "$(sql "SELECT count(*) FROM rating.outbox WHERE event_type = 'AccountRated'")" = $N ] || fail "AccountRated count"

# Every record sent was stored or rejected for a closed period, not both.
python3 - "$BW_TMP/usage" >"$BW_TMP/rejected.txt" <<'PY' || fail "import results: $(head -c 600 "$BW_TMP/rejected.txt")"
import glob, json, sys
bad = 0
for path in sorted(glob.glob(sys.argv[1] + "/u*.json")):
    try:
        r = json.load(open(path))
    except ValueError:
        print("unreadable " + path); bad += 1; continue
    for x in r["rejected"]:
        if "is already closed for account" not in x["error"]:
            print("other %s %s" % (x["event_id"], x["error"])); bad += 1
        else:
            print("closed " + x["event_id"])
sys.exit(1 if bad else 0)
PY
sent=$(($(ls "$BW_TMP"/usage/u[0-9]*.csv | wc -l) * PER + $(ls "$BW_TMP"/usage/u-big*.csv | wc -l) * BIG))
stored=$(sql "SELECT count(*) FROM rating.usage_records WHERE event_id LIKE 'ci-%' OR event_id LIKE 'cb-%'")
rejected=$(grep -c '^closed ' "$BW_TMP/rejected.txt")
[ $((stored + rejected)) = $sent ] || fail "$sent records sent, $stored stored, $rejected rejected"
grep '^closed ' "$BW_TMP/rejected.txt" | cut -d' ' -f2 | sort >"$BW_TMP/rejected.ids"
sql "SELECT event_id FROM rating.usage_records WHERE event_id LIKE 'ci-%' OR event_id LIKE 'cb-%'" | sort >"$BW_TMP/stored.ids"
[ -z "$(comm -12 "$BW_TMP/rejected.ids" "$BW_TMP/stored.ids")" ] || fail "records both stored and rejected"

# For every account, the SMS in its AccountRated is what was stored.
"$B/tests/integration/rating_fixture" rated |
  awk '$1 == "line" && $4 == "SMS" { sub("qty=", "", $5); q[$2] += $5 } END { for (a in q) print a, q[a] }' |
  sort >"$BW_TMP/rated.sms"
sql "SELECT account_id || ' ' || sum(quantity)::bigint FROM rating.usage_records
     WHERE fee_item = 'SMS' AND period = '2026-11' GROUP BY account_id" | sort >"$BW_TMP/stored.sms"
diff "$BW_TMP/stored.sms" "$BW_TMP/rated.sms" >"$BW_TMP/sms.diff" ||
  fail "stored SMS and rated SMS differ (stored < > rated): $(head -n 10 "$BW_TMP/sms.diff")"

# The test is only worth its name when usage met the close both ways.
span=$(sql "SELECT extract(epoch FROM created_at) || ' ' || extract(epoch FROM finished_at) FROM rating.close_jobs")
inside() { awk -v s="${span% *}" -v e="${span#* }" '$1 < e && $2 > s' "$@" | wc -l; }
during=$(cat "$BW_TMP"/usage/times* | awk -v s="${span% *}" -v e="${span#* }" '$1 > s && $2 < e' | wc -l)
[ "$rejected" -gt 0 ] || fail "no record met a closed period: the close ended before the imports"
[ "$during" -gt 0 ] || fail "no import ran entirely during the close"
big_during=$(inside "$BW_TMP/usage/times-big")
[ "$big_during" -gt 0 ] || fail "no request of $BIG records overlapped the close"
reruns=$(cat "$BW_TMP"/*.log | grep -c 'usage arrived during a close batch')
ok "$sent records during a close of $N accounts: $stored stored and rated, $rejected rejected as closed," \
   "none lost ($during imports inside the close, $big_during requests of $BIG overlapping it," \
   "$reruns batches run again)"
check_logs
