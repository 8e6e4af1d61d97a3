#!/bin/sh
# Month-end pipeline benchmark: N accounts (default 1,000,000) through the
# real services end to end — account import into invoicing, rating learning
# them from the AccountChanged stream, usage ingest over rating's API, then
# a bill run: BillRunStarted → rating closes the period (one AccountRated per
# account; the rating API process and BW_BENCH_CLOSERS `rating --closer`
# processes, default 1) → 1, 2 or 4 `invoicing --worker` processes issue the
# invoices.
#
# The set-up (accounts, subscriptions, usage) is done once in a template
# database; each worker count then runs its bill run on a fresh copy of it
# (CREATE DATABASE ... TEMPLATE), so every run starts from the same state.
# Everything goes through the services' own sockets and streams:
# subscriptions with `billctl subscription import` in files of 100,000.
#
# Reported per worker count: invoices/s from `billrun start` to the last
# invoice (rating's close and invoicing run side by side, as in production),
# the close rate, a raw COPY of the same invoice and line rows as stored in
# the same run (bench/invoice_copy.sh) and one of every row the run wrote
# (run_copy_seconds, below), and each process's resident memory at 10%, 50% and 100% of the run
# (flat memory means it does not grow with the number of accounts done).
#   BW_BENCH_PIPELINE_ACCOUNTS (default 1000000), BW_BENCH_WORKERS (default "1 2 4"),
#   BW_BENCH_CLOSERS (`rating --closer` processes beside the API process, default 1),
#   BW_BENCH_USAGE (usage records per account, default 2), BW_BENCH_KEEP=1
#   keeps the temporary files (logs, samples) and the databases,
#   BW_BENCH_REUSE=1 skips the set-up when a kept template database holds
#   the same number of accounts (for repeated runs while measuring).
set -eu
N=${BW_BENCH_PIPELINE_ACCOUNTS:-1000000}
WORKERS=${BW_BENCH_WORKERS:-1 2 4}
PER=${BW_BENCH_USAGE:-2}
CLOSERS=${BW_BENCH_CLOSERS:-1}
B=${BW_BUILD:-build}
BASE=${BILLOW_PORT_BASE:-21000}
export BILLOW_PORT_BASE=$((BASE + 500))
export BILLOW_NOW=2026-12-01T02:00:00Z BILLOW_INVOICE_HTML_IN_EVENT=${BW_BENCH_HTML:-0} BILLOW_LOG_LEVEL=warn
export BILLOW_OPERATOR=bench
TMP=$(mktemp -d /tmp/billow-pbench.XXXXXX)
ADMIN=$BW_PG_ADMIN
URL0=$BILLOW_DATABASE_URL
pids=""
cleanup() {
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for p in $pids; do wait "$p" 2>/dev/null || true; done
  [ -n "${BW_BENCH_KEEP:-}" ] && echo "pipeline: files kept in $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
now() { date +%s.%N; }
. "$(dirname "$0")/invoice_copy.sh"
# The client binary itself: Debian's /usr/bin/psql is a Perl wrapper that
# costs about 40 ms of CPU a call, which the poll below would take from the
# run it measures (two calls a second).
PSQL=$(ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -n 1)
[ -n "$PSQL" ] || PSQL=psql
psql_q() { "$PSQL" "$ADMIN" -X -qtA -v ON_ERROR_STOP=1 "$@"; }
dburl() { echo "$URL0" | sed "s/dbname=billow/dbname=$1/"; }
q() { "$PSQL" "$(dburl "$1") user=postgres" -X -qtA -v ON_ERROR_STOP=1 -c "$2"; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# CPU seconds (user + system) the given processes have used so far.
cpu() { for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done |
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); t += $12 + $13 } END { printf "%.1f", t / hz }'; }
# Idle CPU seconds of the whole machine so far (idle and iowait, all cores).
idle() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.1f", ($5 + $6) / hz }' /proc/stat; }
# CPU seconds of the database backends serving ROLE on database DB.
backend_cpu() { cpu $(pgrep -f "^postgres: $1 $2 ") ; }
wait_for() { # SECONDS DESCRIPTION COMMAND...
  lim=$1; what=$2; shift 2; i=0
  until "$@"; do
    i=$((i + 1)); [ $i -gt $((lim * 5)) ] && { echo "pipeline: timed out waiting for $what" >&2; exit 1; }
    sleep 0.2
  done
}
up() { BILLOW_DATABASE_URL="$1" "$B/billctl" "$2" describe >/dev/null 2>&1; }
start_services() { # DB
  url=$(dburl "$1")
  BILLOW_DATABASE_URL="$url" "$B/rating" 2>>"$TMP/rating.log" & rating=$!
  BILLOW_DATABASE_URL="$url" BILLOW_API_WORKS=0 "$B/invoicing" 2>>"$TMP/invoicing.log" & api=$!
  pids="$pids $rating $api"
  wait_for 30 "rating" up "$url" rating
  wait_for 30 "invoicing" up "$url" invoicing
}
stop_pids() { for p in "$@"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; pids=""; }

# A second baseline for the whole run: a raw binary COPY, into tables of the
# same columns without indexes or constraints, of every row the run wrote
# for its accounts: rating's closed periods and AccountRated events (rebuilt
# from the closed periods, which hold the same bytes: the stream may have
# pruned the events), the invoices, their lines, their InvoiceIssued events
# and trail rows. Prints seconds. $1: the database.
run_copy_seconds() {
  _u="$(dburl "$1") user=postgres"
  "$PSQL" "$_u" -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
    -c "\\copy rating.closed_periods TO '$TMP/c1' (FORMAT binary)" \
    -c "\\copy (SELECT row_number() OVER (), 0, 'AccountRated'::text, event_id::uuid, rated, caused_by, closed_at FROM rating.closed_periods) TO '$TMP/c2' (FORMAT binary)" \
    -c "\\copy invoicing.invoices TO '$TMP/c3' (FORMAT binary)" \
    -c "\\copy invoicing.invoice_lines TO '$TMP/c4' (FORMAT binary)" \
    -c "\\copy (SELECT * FROM invoicing.outbox WHERE event_type = 'InvoiceIssued') TO '$TMP/c5' (FORMAT binary)" \
    -c "\\copy (SELECT * FROM invoicing.trail WHERE entity = 'invoice' AND action = 'issued') TO '$TMP/c6' (FORMAT binary)" \
    -c "CREATE TABLE public.c1 (LIKE rating.closed_periods); CREATE TABLE public.c2 (LIKE rating.outbox);
        CREATE TABLE public.c3 (LIKE invoicing.invoices); CREATE TABLE public.c4 (LIKE invoicing.invoice_lines);
        CREATE TABLE public.c5 (LIKE invoicing.outbox); CREATE TABLE public.c6 (LIKE invoicing.trail)" >/dev/null
  _c0=$(now)
  "$PSQL" "$_u" -X -q -v ON_ERROR_STOP=1 -c "\\copy public.c1 FROM '$TMP/c1' (FORMAT binary)" \
    -c "\\copy public.c2 FROM '$TMP/c2' (FORMAT binary)" -c "\\copy public.c3 FROM '$TMP/c3' (FORMAT binary)" \
    -c "\\copy public.c4 FROM '$TMP/c4' (FORMAT binary)" -c "\\copy public.c5 FROM '$TMP/c5' (FORMAT binary)" \
    -c "\\copy public.c6 FROM '$TMP/c6' (FORMAT binary)" >/dev/null
  _c1=$(now)
  "$PSQL" "$_u" -X -q -c "DROP TABLE public.c1, public.c2, public.c3, public.c4, public.c5, public.c6" >/dev/null
  rm -f "$TMP"/c[1-6]
  echo "$_c1 - $_c0" | bc -l
}

# ---- set-up, once -----------------------------------------------------------
tpl=pbench_tpl
if [ -n "${BW_BENCH_REUSE:-}" ] &&
   [ "$(psql_q -c "SELECT count(*) FROM pg_database WHERE datname = '$tpl'")" = 1 ] &&
   [ "$(q $tpl "SELECT count(*) FROM rating.accounts")" = "$N" ]; then
  echo "pipeline set-up: reusing the template database $tpl ($N accounts)"
else
psql_q -c "DROP DATABASE IF EXISTS $tpl" -c "CREATE DATABASE $tpl"
psql "$(dburl $tpl) user=postgres" -X -q -v ON_ERROR_STOP=1 -f deploy/pg/roles.sql >/dev/null
start_services $tpl
export BILLOW_DATABASE_URL="$(dburl $tpl)"
"$B/billctl" catalog load services/rating/catalog.example.json >/dev/null

# Accounts in files of 50,000 rows (each file is one all-or-nothing request,
# well under the 8 MiB request limit).
mkdir -p "$TMP/acc"
awk -v n="$N" -v dir="$TMP/acc" 'BEGIN {
  hdr = "id,name,currency,tier,tax_profile,language,cycle,terms_days,email";
  split("standard standard standard silver silver gold", tiers, " ");
  for (i = 1; i <= n; i++) {
    if ((i - 1) % 50000 == 0) { f = sprintf("%s/%04d.csv", dir, (i - 1) / 50000); print hdr > f }
    printf "P%07d,Customer %d,CNY,%s,cn-vat-general,%s,monthly,30,c%d@example.com\n", i, i,
      tiers[i % 6 + 1], (i % 2) ? "en" : "zh-CN", i > f
  } }'
t0=$(now)
for f in "$TMP"/acc/*.csv; do "$B/billctl" account import "$f" >/dev/null; done
t1=$(now)
learned() { [ "$(q $tpl "SELECT count(*) FROM rating.accounts")" -ge "$N" ]; }
wait_for 3600 "rating to learn the accounts" learned
t2=$(now)
mkdir -p "$TMP/sub"
awk -v n="$N" -v dir="$TMP/sub" 'BEGIN {
  for (i = 1; i <= n; i++) {
    if ((i - 1) % 100000 == 0) { f = sprintf("%s/%04d.csv", dir, (i - 1) / 100000); print "account_id,plan,start,quantity" > f }
    printf "P%07d,SAAS_PRO,2026-10-01,%d\n", i, 1 + i % 5 > f
  } }'
ts0=$(now)
for f in "$TMP"/sub/*.csv; do "$B/billctl" subscription import "$f" >/dev/null; done
ts1=$(now)
q $tpl "ANALYZE rating.subscriptions" >/dev/null

awk -v n="$N" -v per="$PER" 'BEGIN {
  print "event_id,account,fee_item,quantity,timestamp"; srand(7);
  for (i = 1; i <= n; i++)
    for (k = 1; k <= per; k++)
      printf "u%d-%d,P%07d,%s,%d,2026-11-%02dT09:00:00Z\n", i, k, i, (k % 2) ? "API_CALLS" : "SMS",
        int(rand() * 40000), 1 + (i + k) % 28 }' > "$TMP/usage.csv"
t3=$(now)
"$B/billctl" usage import "$TMP/usage.csv" >/dev/null
t4=$(now)
stop_pids $rating $api
records=$((N * PER))
printf 'pipeline set-up: %d accounts imported in %.1fs (%.0f/s), known to rating %.1fs later; subscribed in %.1fs (%.0f/s); %d usage records ingested in %.1fs (%.0f records/s)\n' \
  "$N" "$(echo "$t1 - $t0" | bc -l)" "$(echo "$N / ($t1 - $t0)" | bc -l)" "$(echo "$t2 - $t1" | bc -l)" \
  "$(echo "$ts1 - $ts0" | bc -l)" "$(echo "$N / ($ts1 - $ts0)" | bc -l)" \
  "$records" "$(echo "$t4 - $t3" | bc -l)" "$(echo "$records / ($t4 - $t3)" | bc -l)"
printf 'RESULT {"bench":"pipeline_setup","accounts":%d,"import_seconds":%.3f,"records":%d,"seconds":%.3f,"records_per_s":%.0f}\n' \
  "$N" "$(echo "$t1 - $t0" | bc -l)" "$records" "$(echo "$t4 - $t3" | bc -l)" "$(echo "$records / ($t4 - $t3)" | bc -l)"
fi

# ---- one bill run per worker count -----------------------------------------
for w in $WORKERS; do
  db=pbench_$w
  psql_q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db TEMPLATE $tpl"
  export BILLOW_DATABASE_URL="$(dburl $db)"
  start_services $db
  cp_=""; k=0
  while [ $k -lt "$CLOSERS" ]; do
    "$B/rating" --closer 2>>"$TMP/closer.log" & cp_="$cp_ $!"
    k=$((k + 1))
  done
  wp=""; k=0
  while [ $k -lt "$w" ]; do
    "$B/invoicing" --worker --partitions "$k/$w" 2>>"$TMP/worker.log" & wp="$wp $!"
    k=$((k + 1))
  done
  pids="$pids $wp $cp_"
  samples=$TMP/rss_$w
  : > "$samples"
  # Start from a checkpoint, so no run pays for the WAL of the database copy.
  psql_q -c "CHECKPOINT"
  t0=$(now); idle0=$(idle)
  "$B/billctl" billrun start --period 2026-11 >/dev/null
  closed_at=""
  while :; do
    # One small query per look: the run's counters and whether rating's close
    # job is done. (Counting rating.closed_periods here cost a parallel scan
    # of up to a million rows every half second, about a third of the two
    # cores during the close, taken from the run being measured.)
    set -- $(q $db "SELECT due, done, EXISTS (SELECT 1 FROM rating.close_jobs WHERE status = 'done')
                    FROM invoicing.bill_runs" | tr '|' ' ')
    due=${1:-0}; done_=${2:-0}; closed=${3:-f}
    line="$done_ $(rss $rating) $(rss $api)"
    for p in $wp; do line="$line $(rss "$p")"; done
    echo "$line" >> "$samples"
    if [ -z "$closed_at" ] && [ "$closed" = t ]; then
      closed_at=$(now)
    fi
    [ "$due" -gt 0 ] && [ "$done_" -ge "$due" ] && break
    sleep 0.5
  done
  t1=$(now); idle1=$(idle)
  [ -n "$closed_at" ] || closed_at=$t1
  # Where the CPU went (seconds, over the whole run): the processes, then
  # their database backends by service.
  cpuline="rating $(cpu $rating), closers $(cpu $cp_), workers $(cpu $wp), invoicing-api $(cpu $api);"
  cpuline="$cpuline backends: rating $(backend_cpu billow_rating $db), invoicing $(backend_cpu billow_invoicing $db)"
  invoices=$(q $db "SELECT count(*) FROM invoicing.invoices")
  if [ -n "${BW_BENCH_KEEP:-}" ]; then
    # Each backend's CPU seconds beside the last statement it ran, to tell
    # the stream fetches from the close and the write paths.
    q $db "SELECT pid, usename, regexp_replace(left(query, 70), '\s+', ' ', 'g')
           FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()" |
      while IFS='|' read -r pid who what; do
        echo "$(cpu "$pid") $who $what"
      done | sort -rn > "$TMP/backends_$w"
  fi
  stop_pids $wp $cp_ $rating $api
  csecs=$(invoice_copy_seconds "$(dburl $db) user=postgres" "$TMP")
  rsecs=$(run_copy_seconds $db)
  secs=$(echo "$t1 - $t0" | bc -l)
  closesecs=$(echo "$closed_at - $t0" | bc -l)
  # Resident memory (MiB) of each process at 10%, 50% and 100% of the run:
  # rating, the invoicing API process, then each worker.
  mem=$(awk -v due="$due" -v w="$w" '
    { for (p = 0; p < 3; p++) if (!got[p] && $1 >= due * (p == 0 ? 0.1 : p == 1 ? 0.5 : 1)) { got[p] = 1; row[p] = $0 } }
    END {
      names[2] = "rating"; names[3] = "invoicing-api"; for (k = 1; k <= w; k++) names[3 + k] = "worker" k;
      for (c = 2; c <= 3 + w; c++) {
        s = names[c] ":";
        for (p = 0; p < 3; p++) { split(row[p], f, " "); s = s sprintf(" %.0f", f[c] / 1024) }
        out = out (c > 2 ? "; " : "") s
      }
      print out }' "$samples")
  printf 'pipeline, %d worker(s), %d closer(s): %d invoices in %.1fs = %.0f invoices/s from billrun start (close done after %.1fs = %.0f accounts/s); raw COPY of the same rows %.2fs; %.2fx COPY\n' \
    "$w" "$CLOSERS" "$invoices" "$secs" "$(echo "$invoices / $secs" | bc -l)" "$closesecs" \
    "$(echo "$due / $closesecs" | bc -l)" "$csecs" "$(echo "$secs / $csecs" | bc -l)"
  printf '  raw COPY of every row the run wrote (closed periods, AccountRated, invoices, lines, InvoiceIssued, trail) %.2fs; %.2fx that\n' \
    "$rsecs" "$(echo "$secs / $rsecs" | bc -l)"
  printf '  resident MiB at 10%%/50%%/100%%: %s\n' "$mem"
  printf '  CPU seconds: %s (wall %.1f s on %d cores, %.1f s of them idle)\n' "$cpuline" "$secs" "$(nproc)" \
    "$(echo "$idle1 - $idle0" | bc -l)"
  printf 'RESULT {"bench":"pipeline_%dw","closers":%d,"invoices":%d,"seconds":%.3f,"invoices_per_s":%.0f,"close_seconds":%.3f,"copy_seconds":%.3f,"copy_rows_per_s":%.0f,"ratio_to_copy":%.2f,"run_copy_seconds":%.3f,"ratio_to_run_copy":%.2f}\n' \
    "$w" "$CLOSERS" "$invoices" "$secs" "$(echo "$invoices / $secs" | bc -l)" "$closesecs" "$csecs" \
    "$(echo "$invoices / $csecs" | bc -l)" "$(echo "$secs / $csecs" | bc -l)" "$rsecs" "$(echo "$secs / $rsecs" | bc -l)"
  [ -n "${BW_BENCH_KEEP:-}" ] || psql_q -c "DROP DATABASE IF EXISTS $db" 2>/dev/null || true
done
[ -n "${BW_BENCH_KEEP:-}" ] || psql_q -c "DROP DATABASE IF EXISTS $tpl" 2>/dev/null || true
