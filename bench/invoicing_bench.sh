#!/bin/sh
# Invoicing benchmark: invoices/s from AccountRated to issued invoices (lines,
# tax, gap-free numbers, InvoiceIssued events, bill-run results) with 1, 2
# and 4 worker processes, beside a raw COPY of the same invoice and line rows
# as stored, measured in the same run (bench/invoice_copy.sh). The AccountRated events come from the
# fake_rating stand-in (written before the clock starts), so this measures
# the invoicing stage, not rating. Invoice HTML is left out of the events
# (BILLOW_INVOICE_HTML_IN_EVENT=0; BW_BENCH_HTML=1 puts it in, as the
# service does by default); see bench/README.md for its cost. Besides the
# rate it prints the CPU the run cost per invoice in the workers' database
# backends and in the workers (from /proc, read just before they stop):
# steadier than the wall time on a shared machine.
#   BW_BENCH_ACCOUNTS (default 100000), BW_BENCH_WORKERS (default "1 2 4")
set -eu
N=${BW_BENCH_ACCOUNTS:-100000}
WORKERS=${BW_BENCH_WORKERS:-1 2 4}
B=${BW_BUILD:-build}
BASE=${BILLOW_PORT_BASE:-21000}
export BILLOW_PORT_BASE=$((BASE + 300))
export BILLOW_NOW=2026-12-01T02:00:00Z BILLOW_INVOICE_HTML_IN_EVENT=${BW_BENCH_HTML:-0} BILLOW_LOG_LEVEL=warn
TMP=$(mktemp -d /tmp/billow-ibench.XXXXXX)
ADMIN=$BW_PG_ADMIN
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; [ -n "${BW_BENCH_KEEP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT
now() { date +%s.%N; }
. "$(dirname "$0")/invoice_copy.sh"
# CPU seconds (user + system) of the processes given, from /proc.
cpu_of() { tck=$(getconf CLK_TCK); for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done |
  awk -v t="$tck" '{ sub(/.*\) /, ""); s += $12 + $13 } END { printf "%.3f", s / t }'; }
psql_q() { psql "$ADMIN" -X -qtA -v ON_ERROR_STOP=1 "$@"; }

awk -v n="$N" 'BEGIN { print "id,name,currency,tax_profile,terms_days,email";
  for (i = 1; i <= n; i++) printf "ACC-%06d,Customer %d,CNY,cn-vat-general,30,c%d@example.com\n", i, i, i }' > "$TMP/accounts.csv"

for w in $WORKERS; do
  db="ibench_$w"
  # A database of its own, set up like billow (roles.sql is idempotent).
  psql_q -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  url=$(echo "$BILLOW_DATABASE_URL" | sed "s/dbname=billow/dbname=$db/")
  psql "$url user=postgres" -X -q -v ON_ERROR_STOP=1 -f deploy/pg/roles.sql >/dev/null
  export BILLOW_DATABASE_URL_RUN="$url"
  BILLOW_DATABASE_URL="$url" BILLOW_API_WORKS=0 "$B/invoicing" 2>>"$TMP/api.log" & api=$!
  pids="$pids $api"
  i=0; until BILLOW_DATABASE_URL="$url" "$B/billctl" invoicing describe >/dev/null 2>&1; do i=$((i+1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done
  # A process that could not bind its port has exited: what answers there
  # belongs to someone else (another checkout's bench), so stop here.
  alive() { kill -0 "$1" 2>/dev/null || { echo "invoicing_bench: $2 exited (port in use? set BILLOW_PORT_BASE); see $TMP" >&2; BW_BENCH_KEEP=1; exit 1; }; }
  alive "$api" "the invoicing API process"
  "$B/billctl" account import "$TMP/accounts.csv" >/dev/null
  "$B/billctl" billrun start --period 2026-11 >/dev/null
  BW_PG_ADMIN="$url user=postgres" "$B/tests/integration/fake_rating" "tcp://127.0.0.1:$((BILLOW_PORT_BASE + 2))" \
    RUN-2026-11-monthly 2026-11 2026-11-01 2026-12-01 "$N" CNY 2>"$TMP/fake.log" & fake=$!
  pids="$pids $fake"
  until grep -q emitted "$TMP/fake.log"; do sleep 0.2; done
  sleep 0.2
  alive "$fake" "fake_rating"
  wal0=$(psql "$url user=postgres" -X -qtA -c "SELECT pg_current_wal_lsn()")
  t0=$(now)
  wp=""
  k=0
  while [ $k -lt "$w" ]; do
    BILLOW_DATABASE_URL="$url" "$B/invoicing" --worker --partitions "$k/$w" 2>>"$TMP/w.log" & wp="$wp $!"
    k=$((k + 1))
  done
  pids="$pids $wp"
  # One connection waits for the run to be done, looking every 20 ms (a new
  # psql every 0.1 s cost the machine a process and a backend start each
  # time); COMMIT between looks so it holds no snapshot back.
  psql "$url user=postgres" -X -q -v ON_ERROR_STOP=1 -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
    WHILE NOT coalesce((SELECT done >= due FROM invoicing.bill_runs), false) LOOP
      IF clock_timestamp() > t0 + interval '15 minutes' THEN RAISE EXCEPTION 'run not done after 15 minutes'; END IF;
      COMMIT; PERFORM pg_sleep(0.02); END LOOP; END \$\$"
  t1=$(now)
  # The workers' backends (connected after t0) and the workers themselves.
  bpids=$(psql "$url user=postgres" -X -qtA -c "SELECT pid FROM pg_stat_activity
    WHERE datname = '$db' AND backend_start > to_timestamp($t0) AND pid <> pg_backend_pid()")
  dbcpu=$(cpu_of $bpids)
  wcpu=$(cpu_of $wp)
  wal=$(psql "$url user=postgres" -X -qtA -c "SELECT pg_current_wal_lsn() - '$wal0'::pg_lsn")
  invoices=$(psql "$url user=postgres" -X -qtA -c "SELECT count(*) FROM invoicing.invoices")
  csecs=$(invoice_copy_seconds "$url user=postgres" "$TMP")
  for p in $wp $fake $api; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=""
  secs=$(echo "$t1 - $t0" | bc -l)
  rate=$(echo "$invoices / $secs" | bc -l)
  crate=$(echo "$invoices / $csecs" | bc -l)
  ratio=$(echo "$secs / $csecs" | bc -l)
  dbus=$(echo "$dbcpu * 1000000 / $invoices" | bc -l)
  wus=$(echo "$wcpu * 1000000 / $invoices" | bc -l)
  printf 'invoicing, %d worker(s): %d invoices in %.2fs = %.0f invoices/s; raw COPY of the same rows %.2fs (%.0f invoices/s); %.2fx COPY; WAL %.1f kB/invoice; CPU/invoice: database %.1f us, workers %.1f us\n' \
    "$w" "$invoices" "$secs" "$rate" "$csecs" "$crate" "$ratio" "$(echo "$wal / $invoices / 1024" | bc -l)" "$dbus" "$wus"
  printf 'RESULT {"bench":"invoicing_%dw","invoices":%d,"seconds":%.3f,"invoices_per_s":%.0f,"copy_seconds":%.3f,"copy_rows_per_s":%.0f,"ratio_to_copy":%.2f,"wal_bytes_per_invoice":%.0f,"db_cpu_us_per_invoice":%.1f,"worker_cpu_us_per_invoice":%.1f}\n' \
    "$w" "$invoices" "$secs" "$rate" "$csecs" "$crate" "$ratio" "$(echo "$wal / $invoices" | bc -l)" "$dbus" "$wus"
  [ -n "${BW_BENCH_KEEP:-}" ] || psql_q -c "DROP DATABASE IF EXISTS $db" 2>/dev/null || true
done
