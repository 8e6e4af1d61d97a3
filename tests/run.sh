#!/bin/sh
# `make test`: builds everything twice (plain and ASan+UBSan), starts a
# throw-away PostgreSQL cluster, runs every unit test (cmocka), integration
# test and fuzz target against both builds, removes the cluster, and ends
# with the line "N passed, N failed".
#
# Integration tests are tests/integration/test_*.sh scripts and
# tests/integration/test_*.c programs. Each runs with its own database and
# its own ports, with these variables set:
#   BW_BUILD             build dir of the binaries under test (build or build/san)
#   BW_TMP               a scratch directory of its own
#   BILLOW_DATABASE_URL  its database (services connect as their own roles)
#   BW_PG_ADMIN          the same database as superuser
#   BILLOW_PORT_BASE     a port range of its own
# Exit 0 passes, 77 skips, anything else fails.
# BW_TEST_FILTER=REGEX runs only the tests whose name matches.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
passed=0
failed=0
skipped=0
failures=""
filter=${BW_TEST_FILTER:-.}

finish() {
  if [ -n "$failures" ]; then
    echo "failed:$failures"
  fi
  if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
  else
    echo "$passed passed, $failed failed"
  fi
  [ "$failed" -eq 0 ]
  exit $?
}

echo "== build (plain)"
if ! make -j2 all >build.log 2>&1; then
  tail -n 40 build.log; failed=$((failed + 1)); failures="$failures build"; finish
fi
echo "== build (address,undefined sanitizers)"
if ! make -j2 SANITIZE=address,undefined all >build-san.log 2>&1; then
  tail -n 40 build-san.log; failed=$((failed + 1)); failures="$failures build-san"; finish
fi
rm -f build.log build-san.log

TMP=$(mktemp -d /tmp/billow-test.XXXXXX)
chmod 755 "$TMP"
cleanup() {
  sh "$ROOT/deploy/pg.sh" destroy "$TMP/pg" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
echo "== postgresql (throw-away cluster)"
if ! BASE_URL=$(sh deploy/pg.sh ensure "$TMP/pg" --fast); then
  failed=$((failed + 1)); failures="$failures postgresql"; finish
fi
ndb=0

# A fresh database for one test: the billow database's roles and schemas.
new_db() { # N
  name="t$1"
  sh deploy/pg.sh psql "$TMP/pg" -qc "CREATE DATABASE $name TEMPLATE billow" >/dev/null || return 1
  echo "$BASE_URL" | sed "s/dbname=billow/dbname=$name/"
}

record() { # name rc log
  if [ "$2" -eq 0 ]; then
    passed=$((passed + 1)); echo "PASS $1"
  elif [ "$2" -eq 77 ]; then
    skipped=$((skipped + 1)); echo "SKIP $1"
  else
    failed=$((failed + 1)); failures="$failures $1"
    echo "FAIL $1 (exit $2)"; tail -n 30 "$3" | sed 's/^/    /'
  fi
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0
# Each integration test gets 100 ports of its own. Several `make test` runs
# may share this machine (developers, CI): start at a random block and skip
# blocks where anything listens. Blocks stay below 32768, where Linux's
# ephemeral ports (the local side of outgoing connections) begin.
port=$((20000 + $$ % 45 * 200))
next_ports() {
  while :; do
    port=$((port + 100))
    [ $port -gt 32500 ] && port=20000
    ss -ltnH 2>/dev/null | awk '{print $4}' | sed 's/.*://' |
      awk -v lo=$port -v hi=$((port + 99)) '$1 >= lo && $1 <= hi { busy = 1 } END { exit !busy }' || break
  done
}
for variant in build build/san; do
  label=$( [ "$variant" = build ] && echo plain || echo san )
  echo "== unit tests ($label)"
  for t in "$variant"/tests/unit/*_test; do
    [ -x "$t" ] || continue
    name="$label/unit/$(basename "$t")"
    echo "$name" | grep -Eq "$filter" || continue
    log="$TMP/$(echo "$name" | tr / _).log"
    CMOCKA_MESSAGE_OUTPUT=stdout BW_TMP="$TMP" "$t" >"$log" 2>&1
    rc=$?
    ok=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    bad=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    ok=${ok:-0}; bad=${bad:-0}
    if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then bad=1; fi
    passed=$((passed + ok)); failed=$((failed + bad))
    if [ "$bad" -gt 0 ]; then
      failures="$failures $name"; echo "FAIL $name"; tail -n 30 "$log" | sed 's/^/    /'
    else
      echo "PASS $name ($ok)"
    fi
  done
  echo "== fuzz targets ($label)"
  for t in "$variant"/tests/fuzz/*; do
    [ -x "$t" ] || continue
    name="$label/fuzz/$(basename "$t")"
    echo "$name" | grep -Eq "$filter" || continue
    log="$TMP/$(echo "$name" | tr / _).log"
    "$t" >"$log" 2>&1
    record "$name" $? "$log"
  done
  echo "== integration tests ($label)"
  for t in tests/integration/test_*.sh "$variant"/tests/integration/test_*; do
    [ -f "$t" ] || continue
    name="$label/integration/$(basename "$t")"
    echo "$name" | grep -Eq "$filter" || continue
    log="$TMP/$(echo "$name" | tr / _).log"
    ndb=$((ndb + 1))
    url=$(new_db $ndb) || { record "$name" 1 /dev/null; continue; }
    dir="$TMP/work.$ndb"; mkdir -p "$dir"
    next_ports
    case "$t" in *.sh) cmd="sh $t" ;; *) cmd="$t" ;; esac
    # Its own session, so that whatever it leaves running is killed with it
    # and cannot hold ports or databases for the tests after it.
    BW_BUILD="$ROOT/$variant" BW_TMP="$dir" BILLOW_DATABASE_URL="$url" BW_PG_ADMIN="$url user=postgres" \
      BILLOW_PORT_BASE=$port BILLOW_LOG_LEVEL=${BILLOW_LOG_LEVEL:-warn} setsid -w $cmd >"$log" 2>&1 &
    tpid=$!
    wait $tpid
    trc=$?
    kill -KILL -- "-$tpid" 2>/dev/null
    record "$name" $trc "$log"
  done
done
finish
