#!/bin/sh
# The local stack behind `make run` and `make stop`: the private PostgreSQL
# cluster under var/pg (unless BILLOW_DATABASE_URL names another) and the
# four services in the background, logging JSON lines to var/log/.
#
#   stack.sh start     start whatever is not running (so it also restarts a
#                      service that was killed), then print billctl status
#   stack.sh stop      SIGTERM every service, then stop the cluster
#   stack.sh restart-services   restart the services with this environment
#   stack.sh env       print the settings the stack runs with (for `eval`)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=$ROOT/var
BUILD=${BW_BUILD:-$ROOT/build}
SERVICES="rating invoicing notification feedback"

alive() { [ -f "$VAR/run/$1.pid" ] && kill -0 "$(cat "$VAR/run/$1.pid")" 2>/dev/null; }

db_url() {
  if [ -n "${BILLOW_DATABASE_URL:-}" ]; then
    echo "$BILLOW_DATABASE_URL"
  else
    sh "$ROOT/deploy/pg.sh" ensure "$VAR/pg"
  fi
}

start() {
  mkdir -p "$VAR/log" "$VAR/run"
  BILLOW_DATABASE_URL=$(db_url)
  export BILLOW_DATABASE_URL
  echo "BILLOW_DATABASE_URL='$BILLOW_DATABASE_URL'" > "$VAR/stack.env"
  cd "$ROOT"
  for s in $SERVICES; do
    if alive "$s"; then continue; fi
    nohup "$BUILD/$s" >>"$VAR/log/$s.log" 2>&1 </dev/null &
    echo $! > "$VAR/run/$s.pid"
  done
  i=0
  until "$BUILD/billctl" status >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -ge 40 ]; then
      echo "stack: not every service came up; see var/log/" >&2
      "$BUILD/billctl" status || true
      exit 1
    fi
    sleep 0.5
  done
  sleep 1 # let consumers reach their producers before showing them
  "$BUILD/billctl" status
}

stop() {
  for s in $SERVICES; do
    if alive "$s"; then kill -TERM "$(cat "$VAR/run/$s.pid")" 2>/dev/null || true; fi
  done
  for s in $SERVICES; do
    i=0
    while alive "$s" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if alive "$s"; then kill -KILL "$(cat "$VAR/run/$s.pid")" 2>/dev/null || true; fi
    rm -f "$VAR/run/$s.pid"
  done
  if [ -z "${BILLOW_DATABASE_URL:-}" ]; then sh "$ROOT/deploy/pg.sh" stop "$VAR/pg"; fi
  echo "stack stopped"
}

# Stops the services only (the cluster keeps running) and starts them again
# with the current environment: how `make demo` pins the clock.
restart_services() {
  for s in $SERVICES; do
    if alive "$s"; then kill -TERM "$(cat "$VAR/run/$s.pid")" 2>/dev/null || true; fi
  done
  for s in $SERVICES; do
    i=0
    while alive "$s" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    rm -f "$VAR/run/$s.pid"
  done
  start
}

case "${1:-}" in
  start) start ;;
  restart-services) restart_services ;;
  stop) stop ;;
  env) [ -f "$VAR/stack.env" ] && cat "$VAR/stack.env" ;;
  *) echo "usage: stack.sh start|stop|restart-services|env" >&2; exit 2 ;;
esac
