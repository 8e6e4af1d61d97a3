#!/bin/sh
# `make bench`: runs every benchmark under bench/ against a throw-away
# PostgreSQL cluster with default durability settings (fsync on), prints one
# table and writes build/bench/results.json. Each benchmark prints lines
# starting with "RESULT " followed by one JSON object.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TMP=$(mktemp -d /tmp/billow-bench.XXXXXX)
chmod 755 "$TMP"
trap 'sh deploy/pg.sh destroy "$TMP/pg" >/dev/null 2>&1; rm -rf "$TMP"' EXIT INT TERM
URL=$(sh deploy/pg.sh ensure "$TMP/pg") || exit 1
export BW_PG_ADMIN="$URL user=postgres"
export BILLOW_DATABASE_URL="$URL"
export BILLOW_PORT_BASE=${BILLOW_PORT_BASE:-21000}
mkdir -p build/bench
out=build/bench/results.json
: > "$TMP/results"
status=0
for b in build/bench/* bench/*_bench.sh; do
  [ -x "$b" ] && [ -f "$b" ] || continue
  name=$(basename "$b")
  echo "$name" | grep -Eq "${BW_BENCH_FILTER:-.}" || continue
  echo "== $name"
  if ! "$b" >"$TMP/$name.out" 2>"$TMP/$name.err"; then
    status=1; echo "FAILED: $name"; tail -n 20 "$TMP/$name.err"
  fi
  grep -v '^RESULT ' "$TMP/$name.out"
  sed -n 's/^RESULT //p' "$TMP/$name.out" >> "$TMP/results"
done
{
  echo "{\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"machine\":\"$(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB\",\"results\":["
  sed '$!s/$/,/' "$TMP/results"
  echo "]}"
} > "$out"
echo
printf '%-28s %12s %10s %14s %12s %8s\n' BENCHMARK UNITS SECONDS "UNITS/S" "COPY ROWS/S" "x COPY"
python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for r in d["results"]:
    name = r.get("bench", "?")
    units = r.get("events") or r.get("records") or r.get("accounts") or r.get("invoices") or r.get("messages") or 0
    rate = r.get("events_per_s") or r.get("records_per_s") or r.get("accounts_per_s") or r.get("invoices_per_s") or r.get("messages_per_s") or 0
    print("%-28s %12s %10.2f %14.0f %12s %8s" % (name, units, r.get("seconds", 0), rate,
          "%.0f" % r["copy_rows_per_s"] if "copy_rows_per_s" in r else "-",
          "%.2f" % r["ratio_to_copy"] if "ratio_to_copy" in r else "-"))
PY
echo "results: $out"
exit $status
