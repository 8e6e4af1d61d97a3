#!/bin/sh
# The embedded local PostgreSQL: a private cluster owned by this checkout.
#
#   pg.sh ensure DIR [--fast]   create (if needed) and start a cluster in DIR,
#                               with database "billow" and one role + schema
#                               per service; prints the connection string
#   pg.sh stop DIR              stop it
#   pg.sh destroy DIR           stop it and remove its files
#
# The cluster listens on a Unix socket inside its own directory only (no TCP
# port to collide with), so any number of clusters can run side by side.
# initdb refuses to run as root: as root, the cluster is run by the postgres
# user, and when DIR's parent is not reachable by that user (a checkout in a
# private directory), the data lives under /var/tmp and DIR becomes a link.
# --fast turns off fsync for throw-away test clusters.
set -eu

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGBIN" ] || { echo "pg.sh: PostgreSQL server binaries not found (make deps)" >&2; exit 1; }
SERVICES="rating invoicing notification feedback"

# Runs a command as the cluster's owner. As root that is postgres, from /
# since the caller's directory may be one postgres cannot enter.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

# DIR arguments become absolute before anything changes directory.
absdir() {
  mkdir -p "$(dirname "$1")"
  echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
}
HERE=$(cd "$(dirname "$0")" && pwd)

# The real data directory for DIR (following the link made for root).
realdir() {
  if [ -L "$1" ]; then readlink "$1"; else echo "$1"; fi
}

prepare_dir() {
  dir=$1
  if [ -e "$dir" ]; then return 0; fi
  mkdir -p "$(dirname "$dir")"
  if [ "$(id -u)" -eq 0 ]; then
    parent=$(cd "$(dirname "$dir")" && pwd)
    if runuser -u postgres -- test -x "$parent" 2>/dev/null && runuser -u postgres -- test -x "$parent/.." 2>/dev/null \
       && ! echo "$parent" | grep -q '^/tmp/tmp\.' && check_path "$parent"; then
      mkdir -p "$dir"
      chown postgres:postgres "$dir"
    else
      key=$(echo "$parent/$(basename "$dir")" | cksum | cut -d' ' -f1)
      real="/var/tmp/billow-pg-$key"
      rm -rf "$real"
      mkdir -p "$real"
      chown postgres:postgres "$real"
      chmod 700 "$real"
      ln -s "$real" "$dir"
    fi
  else
    mkdir -p "$dir"
  fi
}

# Every directory from / to $1 must be traversable by postgres.
check_path() {
  p=$1
  while [ "$p" != "/" ] && [ -n "$p" ]; do
    runuser -u postgres -- test -x "$p" 2>/dev/null || return 1
    p=$(dirname "$p")
  done
  return 0
}

conninfo() {
  echo "host=$1 port=5432 dbname=billow"
}

ensure() {
  dir=$1; fast=${2:-}
  prepare_dir "$dir"
  data=$(realdir "$dir")
  if [ ! -f "$data/PG_VERSION" ]; then
    as_owner "$PGBIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --lc-collate=C >"$data.initdb.log" 2>&1 \
      || as_owner "$PGBIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C >"$data.initdb.log" 2>&1 \
      || { cat "$data.initdb.log" >&2; exit 1; }
    {
      echo "listen_addresses = ''"
      echo "unix_socket_directories = '$data'"
      echo "port = 5432"
      echo "max_connections = 200"
      echo "shared_buffers = 256MB"
      echo "logging_collector = off"
      if [ "$fast" = "--fast" ]; then
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
      fi
    } | as_owner sh -c "cat >> '$data/postgresql.conf'"
  fi
  if ! as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_owner "$PGBIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start >/dev/null \
      || { tail -n 20 "$data/server.log" >&2; exit 1; }
  fi
  psql_admin "$data" postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'billow'" | grep -q 1 \
    || psql_admin "$data" postgres -qc "CREATE DATABASE billow" >/dev/null
  psql_admin "$data" billow -q -v ON_ERROR_STOP=1 -f - < "$HERE/pg/roles.sql" >/dev/null
  conninfo "$data"
}

psql_admin() {
  data=$1; db=$2; shift 2
  as_owner psql -h "$data" -p 5432 -U postgres -d "$db" -X "$@"
}

stop() {
  dir=$1
  [ -e "$dir" ] || return 0
  data=$(realdir "$dir")
  if [ -f "$data/PG_VERSION" ]; then
    as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

destroy() {
  dir=$1
  stop "$dir"
  data=$(realdir "$dir")
  rm -rf "$data" "$data.initdb.log"
  [ -L "$dir" ] && rm -f "$dir"
  return 0
}

cmd=${1:-}; shift || true
[ $# -gt 0 ] && { d=$(absdir "$1"); shift; set -- "$d" "$@"; }
case "$cmd" in
  ensure) ensure "$@" ;;
  stop) stop "$@" ;;
  destroy) destroy "$@" ;;
  psql) d=$1; shift; psql_admin "$(realdir "$d")" billow "$@" ;;
  *) echo "usage: pg.sh ensure|stop|destroy|psql DIR" >&2; exit 2 ;;
esac
