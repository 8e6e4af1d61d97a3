# Consumers that fetch only some event types: a producer stores 100,000
# events under a type nobody filtered wants (Filler), then 10 TestEvents.
# The filtered consumer (killed and restarted during the Filler run) is
# sent none of the Filler events, stores how far it got and acks it for
# retention without anything to apply, gets the TestEvents promptly, and a
# new filtered consumer passes over the 100,000 at once. An unfiltered
# consumer still gets everything. Finally the producer's outbox is
# "restored" to an older state and the filtered consumer, whose position is
# an event it never applied, still notices. Last, runs of seq with no event
# (2,000,000 of gaps; an outbox pruned past where a new consumer starts).
. tests/integration/lib.sh
. tests/integration/stream_lib.sh

start_producer() { # total type
  "$P" "$EP" "$1" 50000 "$2" >>"$BW_TMP/producer.log" 2>&1 & echo $! > "$BW_TMP/producer.pid"
}
applied() { sql "SELECT count(*) FROM c_$1.applied" 2>/dev/null || echo 0; }
cursor() { sql "SELECT coalesce(max(last_seq),0) FROM c_$1.stream_cursors" 2>/dev/null || echo 0; }
acked() { sql "SELECT coalesce(max(acked_seq),0) FROM producer.stream_consumers WHERE consumer = '$1'"; }
head() { sql "SELECT max(seq) FROM producer.outbox"; }
# Waits up to $2 seconds for the shell condition $1.
wait_for() {
  i=0
  until eval "$1"; do
    i=$((i + 1)); [ $i -ge $(($2 * 10)) ] && return 1; sleep 0.1
  done
}

start_producer 100000 Filler
sleep 0.5
start_consumer f all TestEvent
start_consumer p 0-3/8 TestEvent
start_consumer u all
wait_for '[ "$(emitted)" -ge 40000 ]' 60 || fail "the producer is stuck at $(emitted)"
kill9 consumer-f
start_consumer f all TestEvent
wait_for '[ "$(emitted)" -ge 100000 ]' 60 || fail "the producer is stuck at $(emitted)"
H=$(head)
wait_for '[ "$(cursor f)" -eq "$H" ]' 10 || fail "the filtered consumer stored $(cursor f), head $H"
wait_for '[ "$(acked 'f[all]')" -eq "$H" ]' 10 || fail "its ack is $(acked 'f[all]'), head $H"
wait_for '[ "$(cursor p)" -eq "$H" ]' 10 || fail "the partition and type filtered consumer stored $(cursor p)"
[ "$(applied f)" -eq 0 ] || fail "the filtered consumer was sent $(applied f) Filler events"
[ "$(applied p)" -eq 0 ] || fail "the partitioned filtered consumer was sent $(applied p) Filler events"
ok "filtered consumers passed over $H events and acked them"

kill9 producer
start_producer 100010 TestEvent
wait_for '[ "$(applied f)" -eq 10 ]' 5 || fail "the filtered consumer applied $(applied f) of 10 TestEvents"
ok "the TestEvents after 100,000 Filler came at once"
start_consumer g all TestEvent
wait_for '[ "$(applied g)" -eq 10 ]' 5 || fail "a new filtered consumer applied $(applied g) of 10"
ok "a new filtered consumer passed over the 100,000 Filler events"
wait_for '[ "$(applied u)" -eq 100010 ]' 60 || fail "the unfiltered consumer applied $(applied u) of 100010"
pa=$(sql "SELECT count(*) FROM c_p.applied a JOIN producer.outbox o USING (seq) WHERE o.part % 8 > 3")
[ "$pa" -eq 0 ] || fail "the partitioned consumer applied $pa events of other partitions"
kill9 consumer-f
start_consumer f all TestEvent
sleep 1.5
[ "$(applied f)" -eq 10 ] || fail "after a restart the filtered consumer applied $(applied f), not 10"
for c in f g u; do
  d=$(sql "SELECT count(*) - count(DISTINCT n) FROM c_$c.applied")
  [ "$d" -eq 0 ] || fail "consumer $c applied $d events twice"
done
ok "nothing skipped or applied twice"

# 20 more Filler events: the filtered consumer's position becomes an event
# it never applied. Then the producer's database is restored from a backup
# taken before its last 15 events: the numbers come back with other events,
# and the consumer must be refused, not fed from a stream it has not seen.
kill9 producer
start_producer 100030 Filler
wait_for '[ "$(emitted)" -ge 100030 ]' 20 || fail "the producer is stuck at $(emitted)"
H=$(head)
wait_for '[ "$(cursor f)" -eq "$H" ]' 10 || fail "the filtered consumer stored $(cursor f), head $H"
t=$(sql "SELECT o.event_type FROM producer.outbox o JOIN c_f.stream_cursors c ON c.last_seq = o.seq AND c.last_event_id = o.event_id::text")
[ "$t" = Filler ] || fail "the filtered consumer's position is not the Filler event at $H: '$t'"
kill9 producer
sql "DELETE FROM producer.outbox WHERE seq > $((H - 15)); SELECT setval('producer.outbox_seq_seq', $((H - 15)))" >/dev/null
start_producer 100060 TestEvent
wait_for 'grep -q "not at its position" "$BW_TMP/consumer-f.log"' 10 ||
  fail "the filtered consumer did not notice the restored producer"
sleep 1
[ "$(applied f)" -eq 10 ] || fail "the filtered consumer applied events of the restored producer"
ok "a producer restored from a backup is refused by the filtered consumer"

# More than a scan's budget (1,000,000 seqs) of gaps, then 10 TestEvents: a
# new filtered consumer's scans meet no event to name their place and must
# still move past the gaps. Then the whole outbox is pruned: a new filtered
# consumer (cursor 0) starts at the horizon instead of scanning what is gone.
for k in consumer-f consumer-g consumer-u consumer-p producer; do kill9 $k; done
sql "SELECT setval('producer.outbox_seq_seq', (SELECT max(seq) FROM producer.outbox) + 2000000)" >/dev/null
T=$(sql "SELECT count(*) FROM producer.outbox WHERE event_type = 'TestEvent'")
start_producer $(($(emitted) + 10)) TestEvent
wait_for '[ "$(sql "SELECT count(*) FROM producer.outbox WHERE event_type = '"'TestEvent'"'")" -ge $((T + 10)) ]' 20 ||
  fail "the producer did not emit 10 more TestEvents"
T=$((T + 10))
start_consumer h all TestEvent
wait_for '[ "$(applied h)" -eq "$T" ]' 20 || fail "past 2,000,000 seqs of gaps a new filtered consumer applied $(applied h) of $T"
ok "a filtered consumer passed over 2,000,000 seqs without an event"
kill9 producer
sql "DELETE FROM producer.outbox; UPDATE producer.stream_horizon SET pruned_upto = (SELECT last_value FROM producer.outbox_seq_seq)" >/dev/null
start_producer $(($(emitted) + 10)) TestEvent
start_consumer k all TestEvent
wait_for '[ "$(applied k)" -eq 10 ]' 20 || fail "a new filtered consumer of a pruned outbox applied $(applied k) of 10"
wait_for '[ "$(applied h)" -eq $((T + 10)) ]' 20 || fail "the filtered consumer applied $(applied h) of $((T + 10)) after the prune"
ok "a new filtered consumer of a pruned outbox starts at its horizon"
check_logs
echo PASS
