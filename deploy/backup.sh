#!/bin/sh
# Backups of all four services' data as one consistent snapshot, and
# restores of such a backup.
#
#   backup.sh create FILE    dumps the four schemas (pg_dump custom format)
#                            in one transaction, so every outbox and every
#                            consumer cursor in the file agree
#   backup.sh restore FILE   replaces the four schemas with the file's, in
#                            one transaction (all services must be stopped;
#                            on any error nothing changes)
#
# Connects with BILLOW_ADMIN_DATABASE_URL (a superuser's connection string);
# without it, to the local cluster under var/ as its superuser.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BW_BUILD:-$ROOT/build}
SCHEMAS="rating invoicing notification feedback"

die() { echo "backup.sh: $*" >&2; exit 1; }

admin_url() {
  if [ -n "${BILLOW_ADMIN_DATABASE_URL:-}" ]; then
    echo "$BILLOW_ADMIN_DATABASE_URL"
  else
    [ -e "$ROOT/var/pg" ] || die "no local cluster under var/ and BILLOW_ADMIN_DATABASE_URL is unset"
    echo "$(sh "$ROOT/deploy/pg.sh" ensure "$ROOT/var/pg") user=postgres"
  fi
}

create() {
  file=$1
  url=$(admin_url)
  args=""
  for s in $SCHEMAS; do args="$args --schema=$s"; done
  # shellcheck disable=SC2086
  pg_dump --format=custom --serializable-deferrable $args --file="$file.part" "$url" \
    || { rm -f "$file.part"; die "pg_dump failed; no backup written"; }
  mv "$file.part" "$file"
  echo "backup written: $file ($(wc -c < "$file") bytes)"
}

restore() {
  file=$1
  [ -r "$file" ] || die "cannot read $file"
  pg_restore --list "$file" >/dev/null 2>&1 || die "$file is not a pg_dump custom-format file"
  # A running service would keep writing into what is being replaced.
  if "$BUILD/billctl" status --json 2>/dev/null | tr -d ' \n' | grep -q '"state":"up"'; then
    die "services are running: stop every service first (make stop, or kill them)"
  fi
  url=$(admin_url)
  drop="SET client_min_messages = warning; DROP SCHEMA IF EXISTS $(echo "$SCHEMAS" | sed 's/ /, /g') CASCADE;"
  { echo "$drop"; pg_restore --file=- "$file"; } \
    | psql "$url" -X -q -v ON_ERROR_STOP=1 --single-transaction >/dev/null \
    || die "restore failed; the database is unchanged"
  echo "restored from $file: start the services again (make run)"
}

cmd=${1:-}
[ $# -eq 2 ] || { echo "usage: sh deploy/backup.sh create|restore FILE" >&2; exit 2; }
case "$cmd" in
  create) create "$2" ;;
  restore) restore "$2" ;;
  *) echo "usage: sh deploy/backup.sh create|restore FILE" >&2; exit 2 ;;
esac
