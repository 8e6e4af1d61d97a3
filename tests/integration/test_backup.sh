# Backups: deploy/backup.sh create writes the four schemas as one snapshot;
# restore (refused while services run) brings them all back in one
# transaction, and the streams carry on from there (a new account made
# after the restore reaches rating; one made after the backup is gone from
# both). Restoring one service from an older backup than its consumers'
# leaves the consumer refused with a clear error, its cursor kept, instead
# of skipping the events that reuse the numbers it has passed.
. tests/integration/lib.sh
trap 'stop_all' EXIT
B=$BW_BUILD
export BILLOW_ADMIN_DATABASE_URL="$BW_PG_ADMIN"

svc_start invoicing
svc_start rating
wait_services rating invoicing
acct() { "$B/billctl" account create "$1" --name "Co $1" --currency CNY >/dev/null || fail "account $1"; }
wait_rating() { # count
  i=0
  until [ "$(sql "SELECT count(*) FROM rating.accounts")" = "$1" ]; do
    i=$((i + 1)); [ $i -ge 80 ] && fail "rating has $(sql "SELECT count(*) FROM rating.accounts") accounts, not $1"; sleep 0.25
  done
}
acct B1; acct B2; wait_rating 2

out=$(sh deploy/backup.sh create "$BW_TMP/one.dump") || fail "backup: $out"
echo "$out" | grep -q 'backup written' || fail "backup output: $out"
acct B3; wait_rating 3
out=$(sh deploy/backup.sh restore "$BW_TMP/one.dump" 2>&1) && fail "restore with services running"
echo "$out" | grep -q 'services are running' || fail "refusal reason: $out"
echo garbage > "$BW_TMP/bad.dump"
sh deploy/backup.sh restore "$BW_TMP/bad.dump" >/dev/null 2>&1 && fail "restored garbage"
ok "backup written; restore refused while services run and for a bad file"

svc_kill rating TERM; svc_kill invoicing TERM
out=$(sh deploy/backup.sh restore "$BW_TMP/one.dump") || fail "restore: $out"
[ "$(sql "SELECT string_agg(id, ',' ORDER BY id) FROM invoicing.accounts")" = "B1,B2" ] || fail "invoicing not restored"
[ "$(sql "SELECT string_agg(id, ',' ORDER BY id) FROM rating.accounts")" = "B1,B2" ] || fail "rating not restored"
svc_start invoicing
svc_start rating
wait_services rating invoicing
acct B4; wait_rating 3
[ "$(sql "SELECT string_agg(id, ',' ORDER BY id) FROM rating.accounts")" = "B1,B2,B4" ] || fail "rating after restore"
ok "restored as one snapshot; the stream carries on after it"

# Invoicing alone goes back to the older backup: rating is ahead of it.
sh deploy/backup.sh create "$BW_TMP/two.dump" >/dev/null || fail "second backup"
svc_kill rating TERM; svc_kill invoicing TERM
pg_restore --list "$BW_TMP/one.dump" | grep ' invoicing ' > "$BW_TMP/inv.list"
sql "SET client_min_messages = warning; DROP SCHEMA invoicing CASCADE" >/dev/null
pg_restore --exit-on-error --use-list="$BW_TMP/inv.list" -d "$BW_PG_ADMIN" "$BW_TMP/one.dump" \
  || fail "partial restore"
cursor=$(sql "SELECT last_seq FROM rating.stream_cursors WHERE producer = 'invoicing'")
svc_start invoicing
svc_start rating
acct B5
i=0
until grep -q 'the producer.s database is older than the consumer.s' "$BW_TMP/rating.log"; do
  i=$((i + 1)); [ $i -ge 80 ] && fail "rating was not refused"; sleep 0.25
done
sleep 1
[ "$(sql "SELECT last_seq FROM rating.stream_cursors WHERE producer = 'invoicing'")" = "$cursor" ] || fail "rating's cursor moved"
[ "$(sql "SELECT count(*) FROM rating.accounts WHERE id = 'B5'")" = 0 ] || fail "B5 reached rating through a hole"
ok "a consumer ahead of a restored producer is refused, cursor kept"
check_logs
echo PASS
