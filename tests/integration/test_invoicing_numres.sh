# Invoice number reservations (services/invoicing/numres.h): 8 workers
# issue a bill run while one batch is held between its numbers' reservation
# (committed) and its commit, and every worker is SIGKILLed right then; the
# audit counts the outstanding blocks as reserved, not as gaps, and reports
# them once they are old; the workers come back with other batch
# boundaries and fill the holes their predecessors left; a replayed batch
# gives back what it does not use; a block whose holder's partitions have
# no lease is taken by another. At every
# step the numbers are unique and every number up to the counter is on an
# invoice or in a reservation; at the end, on an invoice.
. tests/integration/lib.sh
BC="$BW_BUILD/billctl"
N=3000
RATING_EP="tcp://127.0.0.1:$((BILLOW_PORT_BASE + 2))"
export BILLOW_NOW=2026-12-01T02:00:00Z BILLOW_LEASE_TTL_S=2
cleanup() {
  sql "DROP TRIGGER IF EXISTS numres_hang ON invoicing.invoices" >/dev/null 2>&1
  sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep'" >/dev/null 2>&1
  stop_all
  for f in "$BW_TMP"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
  return 0
}
trap cleanup EXIT

# Unique numbers, and 1..counter each on an invoice or in a reservation.
numbers_whole() { # what
  dup=$(sql "SELECT count(*) - count(DISTINCT seq) FROM (SELECT seq FROM invoicing.invoices WHERE series = 'INV-202612'
    UNION ALL SELECT generate_series(first, last) FROM invoicing.number_reservations WHERE series = 'INV-202612') s")
  [ "$dup" -eq 0 ] || fail "$1: $dup numbers both issued and reserved, or twice"
  hole=$(sql "SELECT count(*) FROM generate_series(1, (SELECT last FROM invoicing.number_series WHERE series = 'INV-202612')) n
    WHERE NOT EXISTS (SELECT 1 FROM invoicing.invoices WHERE series = 'INV-202612' AND seq = n)
    AND NOT EXISTS (SELECT 1 FROM invoicing.number_reservations WHERE series = 'INV-202612' AND n BETWEEN first AND last)")
  [ "$hole" -eq 0 ] || fail "$1: $hole numbers neither issued nor reserved"
}
start_workers() { # batch grace [clock]
  for w in 0 1 2 3 4 5 6 7; do
    BILLOW_NOW=${3:-$BILLOW_NOW} BILLOW_CONSUMER_BATCH=$1 BILLOW_NUMBER_RESERVATION_GRACE_S=$2 \
      "$BW_BUILD/invoicing" --worker --partitions "$w/8" >>"$BW_TMP/worker$w.log" 2>&1 &
    echo $! > "$BW_TMP/worker$w.pid"
  done
}
kill_workers() {
  for w in 0 1 2 3 4 5 6 7; do kill -KILL "$(cat "$BW_TMP/worker$w.pid")" 2>/dev/null; done
  for w in 0 1 2 3 4 5 6 7; do wait "$(cat "$BW_TMP/worker$w.pid")" 2>/dev/null; done
  return 0
}
wait_run() { # run
  i=0
  until "$BC" billrun status "$1" | grep -q "status: *complete"; do
    i=$((i + 1)); [ $i -gt 240 ] && { "$BC" billrun status "$1"; fail "$1 did not complete"; }
    sleep 0.5
  done
}

BILLOW_API_WORKS=0 svc_start invoicing
wait_services invoicing
awk -v n="$N" 'BEGIN { print "id,name,currency,tax_profile";
  for (i = 1; i <= n; i++) printf "ACC-%06d,Customer %d,CNY,cn-vat-general\n", i, i }' > "$BW_TMP/accounts.csv"
"$BC" account import "$BW_TMP/accounts.csv" | grep -q "$N created" || fail "import"
"$BC" billrun start --period 2026-11 >/dev/null || fail "billrun start"

# The batch that issues ACC-001501's invoice sleeps at its commit: its
# numbers are reserved (committed on the side) and claimed (uncommitted).
sql "CREATE FUNCTION invoicing.numres_hang() RETURNS trigger LANGUAGE plpgsql AS \$\$
  BEGIN PERFORM pg_sleep(600); RETURN NULL; END \$\$" >/dev/null
hang() {
  sql "CREATE CONSTRAINT TRIGGER numres_hang AFTER INSERT ON invoicing.invoices DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.account_id = 'ACC-001501') EXECUTE FUNCTION invoicing.numres_hang()" >/dev/null
}
# Waits for the held batch, SIGKILLs every worker, ends the held session.
kill_at_commit() {
  i=0
  until [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")" -eq 1 ]; do
    i=$((i + 1)); [ $i -gt 120 ] && fail "the held batch never reached its commit"; sleep 0.25
  done
  sleep 0.5
  kill_workers
  held=$(sql "SELECT count(*) FROM invoicing.number_reservations")
  [ "$held" -ge 1 ] || fail "no reservation outstanding while the batch is held"
  sql "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep'" >/dev/null
  sql "DROP TRIGGER numres_hang ON invoicing.invoices" >/dev/null
  i=0
  until [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
    AND (state <> 'idle' OR wait_event = 'PgSleep') AND backend_type = 'client backend'")" -eq 0 ]; do
    i=$((i + 1)); [ $i -gt 80 ] && fail "killed workers' sessions linger"; sleep 0.25
  done
}
hang
"$BW_BUILD/tests/integration/fake_rating" "$RATING_EP" RUN-2026-11-monthly 2026-11 2026-11-01 2026-12-01 "$N" CNY \
  >>"$BW_TMP/fake_rating.log" 2>&1 &
echo $! > "$BW_TMP/fake_rating.pid"
start_workers 250 86400
# The other workers queue behind it (the outbox's lock) with their own
# numbers claimed. Everyone dies then; the held batch's session goes too.
kill_at_commit
[ "$(sql "SELECT count(*) FROM invoicing.invoices WHERE account_id = 'ACC-001501'")" -eq 0 ] || fail "the held batch committed"
blocks=$(sql "SELECT count(*) FROM invoicing.number_reservations")
[ "$blocks" -ge 1 ] || fail "the killed batches' numbers are not reserved"
numbers_whole "after SIGKILL"
"$BC" audit >"$BW_TMP/audit1.txt" || { cat "$BW_TMP/audit1.txt"; fail "audit counts reserved numbers as gaps"; }
ok "SIGKILL between reservation and commit: $blocks blocks reserved, none issued twice or lost; the audit sees no gap"

# Blocks left for long are an audit finding (a gap in waiting).
sql "UPDATE invoicing.number_reservations SET reserved_at = reserved_at - interval '1 hour'" >/dev/null
out=$("$BC" audit) && fail "audit missed an old reservation"
echo "$out" | grep -q "series INV-202612: numbers [0-9]*\.\.[0-9]* reserved by rating:[0-7]/8 since .* and not issued" \
  || fail "old reservation finding: $out"
echo "$out" | grep -q "gap:" && fail "old reservation reported as a gap: $out"
ok "the audit reports blocks reserved long ago"

# Back with other batch boundaries.
start_workers 170 86400
wait_run RUN-2026-11-monthly
[ "$(sql "SELECT count(*) FROM invoicing.number_reservations")" -eq 0 ] || fail "blocks left after the run: $(sql "SELECT * FROM invoicing.number_reservations")"
inv=$(sql "SELECT count(*) FROM invoicing.invoices")
[ "$inv" -eq $((N - N / 10)) ] || fail "invoices: $inv"
[ "$(sql "SELECT last FROM invoicing.number_series WHERE series = 'INV-202612'")" -eq "$inv" ] || fail "counter past the invoices"
numbers_whole "after the run"
"$BC" audit >"$BW_TMP/audit2.txt" || { cat "$BW_TMP/audit2.txt"; fail "audit after the run"; }
ok "the replay with other batch boundaries filled the holes: $inv invoices numbered 1..$inv"

# A replayed batch claims numbers and finds its items issued: it gives them
# back, and its successors probe for replays before claiming any.
kill -TERM "$(cat "$BW_TMP/fake_rating.pid")"; wait "$(cat "$BW_TMP/fake_rating.pid")" 2>/dev/null
sql "DELETE FROM invoicing.stream_cursors WHERE producer = 'rating'" >/dev/null
"$BW_BUILD/tests/integration/fake_rating" "$RATING_EP" RUN-2026-11-monthly 2026-11 2026-11-01 2026-12-01 200 CNY \
  >>"$BW_TMP/fake_rating.log" 2>&1 &
echo $! > "$BW_TMP/fake_rating.pid"
i=0
until [ "$(sql "SELECT count(*) FROM invoicing.stream_cursors WHERE producer = 'rating' AND last_seq > $N")" -eq 8 ]; do
  i=$((i + 1)); [ $i -gt 80 ] && fail "replayed batches not applied"; sleep 0.25
done
[ "$(sql "SELECT count(*) FROM invoicing.invoices")" -eq "$inv" ] || fail "the replay issued invoices"
numbers_whole "after the replay"
# What the replayed batches claimed went back to the counter (it sat at the
# top of the series), nothing is left reserved for later.
[ "$(sql "SELECT count(*) FROM invoicing.number_reservations")" -eq 0 ] || fail "replays left numbers reserved: $(sql "SELECT * FROM invoicing.number_reservations")"
[ "$(sql "SELECT last FROM invoicing.number_series WHERE series = 'INV-202612'")" -eq "$inv" ] || fail "replays moved the counter"
"$BC" audit >"$BW_TMP/audit3.txt" || { cat "$BW_TMP/audit3.txt"; fail "audit after the replay"; }
ok "replayed batches gave the numbers they claimed back to the counter"

# The partition layout changes: a block held by partitions nobody leases
# any more is taken by the others. And the month changes in the middle of
# a run: the run was started on 2026-12-01 (the API process's clock), its
# workers are killed at a commit just before midnight and come back after
# it, and the run's invoices still carry its date and December's series,
# so the replay claims what its predecessors reserved there.
kill_workers
sql "WITH s AS (UPDATE invoicing.number_series SET last = last + 5 WHERE series = 'INV-202612' RETURNING last)
  INSERT INTO invoicing.number_reservations (series, first, last, holder, reserved_at)
  SELECT 'INV-202612', last - 4, last, 'rating:9/12', now() - interval '1 minute' FROM s" >/dev/null
numbers_whole "with an orphan block"
kill -TERM "$(cat "$BW_TMP/fake_rating.pid")"; wait "$(cat "$BW_TMP/fake_rating.pid")" 2>/dev/null
"$BC" billrun start --period 2026-10 >/dev/null || fail "billrun start 2026-10"
hang
start_workers 170 5 2026-12-31T23:59:50Z
"$BW_BUILD/tests/integration/fake_rating" "$RATING_EP" RUN-2026-10-monthly 2026-10 2026-10-01 2026-11-01 "$N" CNY \
  >>"$BW_TMP/fake_rating.log" 2>&1 &
echo $! > "$BW_TMP/fake_rating.pid"
kill_at_commit
numbers_whole "after SIGKILL before midnight"
start_workers 170 5 2027-01-01T00:00:10Z
wait_run RUN-2026-10-monthly
[ "$(sql "SELECT count(*) FROM invoicing.invoices WHERE series <> 'INV-202612' OR issue_date <> '2026-12-01'")" -eq 0 ] \
  || fail "a run's invoices issued on another day than the run's"
[ "$(sql "SELECT count(*) FROM invoicing.number_reservations")" -eq 0 ] || fail "blocks left: $(sql "SELECT * FROM invoicing.number_reservations")"
inv=$(sql "SELECT count(*) FROM invoicing.invoices")
[ "$inv" -eq $((2 * (N - N / 10))) ] || fail "invoices after the second run: $inv"
[ "$(sql "SELECT last FROM invoicing.number_series WHERE series = 'INV-202612'")" -eq "$inv" ] || fail "counter past the invoices"
numbers_whole "after the second run"
grep -q '"msg":"claimed numbers another holder left".*"holder":"rating:9/12"' "$BW_TMP"/worker*.log || fail "nobody logged taking the orphan block"
"$BC" audit >"$BW_TMP/audit4.txt" || { cat "$BW_TMP/audit4.txt"; fail "audit after the second run"; }
ok "an orphaned block and the blocks of a batch killed before midnight were used after it: $inv invoices numbered 1..$inv"

kill -TERM "$(cat "$BW_TMP/fake_rating.pid")"
for w in 0 1 2 3 4 5 6 7; do kill -TERM "$(cat "$BW_TMP/worker$w.pid")"; done
for w in 0 1 2 3 4 5 6 7; do wait "$(cat "$BW_TMP/worker$w.pid")" 2>/dev/null; done
check_logs
echo PASS
