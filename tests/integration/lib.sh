# Helpers for integration test scripts (sourced). The runner sets BW_BUILD,
# BW_TMP, BILLOW_DATABASE_URL, BW_PG_ADMIN and BILLOW_PORT_BASE.
BW_BUILD=${BW_BUILD:-build}
BW_TMP=${BW_TMP:-$(mktemp -d)}
BILLOW_PORT_BASE=${BILLOW_PORT_BASE:-20000}
export BW_BUILD BW_TMP BILLOW_PORT_BASE
SERVICES="rating invoicing notification feedback"

fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

sql() { psql "$BW_PG_ADMIN" -X -tA -v ON_ERROR_STOP=1 -c "$1"; }

svc_start() { # name [args...]
  name=$1; shift
  "$BW_BUILD/$name" "$@" >>"$BW_TMP/$name.log" 2>&1 &
  echo $! > "$BW_TMP/$name.pid"
}

svc_pid() { cat "$BW_TMP/$1.pid"; }

svc_kill() { # name signal
  pid=$(svc_pid "$1")
  kill -"${2:-TERM}" "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  return 0
}

# Waits (up to 20 s) until each named service answers describe.
wait_services() {
  i=0
  for _svc in "$@"; do
    until "$BW_BUILD/billctl" "$_svc" describe >/dev/null 2>&1; do
      i=$((i + 1)); [ $i -ge 80 ] && fail "$_svc did not come up"; sleep 0.25
    done
  done
}

# Waits (up to $2 s, default 20) until billctl status exits 0.
wait_all_up() {
  i=0
  until "$BW_BUILD/billctl" status >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -ge $((${1:-20} * 4)) ] && { "$BW_BUILD/billctl" status; return 1; }
    sleep 0.25
  done
}

stop_all() {
  for s in $SERVICES; do
    [ -f "$BW_TMP/$s.pid" ] && svc_kill "$s" TERM
  done
  return 0
}

# A sanitizer report in any service log fails the test.
check_logs() {
  if grep -l -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$BW_TMP"/*.log 2>/dev/null; then
    grep -h -A 20 -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" "$BW_TMP"/*.log | head -60
    fail "sanitizer report in service logs"
  fi
}
