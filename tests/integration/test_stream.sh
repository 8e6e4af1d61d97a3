# The durable stream under fire: a producer emits 100,000 events over 16
# logical partitions while its two consumers (partitions 0-3/8 and 4-7/8) are
# SIGKILLed at random moments and restarted, and the producer itself is
# SIGKILLed and restarted once. At the end every event was applied exactly
# once, in order per partition, none missing.
. tests/integration/lib.sh
TOTAL=${BW_STREAM_TOTAL:-100000}
RATE=${BW_STREAM_RATE:-8000}
. tests/integration/stream_lib.sh

start_producer() { "$P" "$EP" "$TOTAL" "$RATE" >>"$BW_TMP/producer.log" 2>&1 & echo $! > "$BW_TMP/producer.pid"; }

start_producer
sleep 0.5
start_consumer a 0-3/8
start_consumer b 4-7/8
sleep 0.5

applied() {
  a=$(sql "SELECT count(*) FROM c_a.applied" 2>/dev/null || echo 0)
  b=$(sql "SELECT count(*) FROM c_b.applied" 2>/dev/null || echo 0)
  echo $((a + b))
}

kills=0
producer_killed=0
start=$(date +%s)
while :; do
  now=$(date +%s)
  [ $((now - start)) -gt 300 ] && fail "timed out: emitted $(emitted), applied $(applied)"
  e=$(emitted)
  if [ "$producer_killed" -eq 0 ] && [ "$e" -gt $((TOTAL / 3)) ]; then
    kill9 producer; start_producer; producer_killed=1
    echo "killed and restarted the producer at $e emitted"
  fi
  if [ "$e" -lt "$TOTAL" ]; then
    victim=$(shuf -n1 -e a b)
    sleep "0.$(shuf -i 2-9 -n1)"
    kill9 "consumer-$victim"; kills=$((kills + 1))
    case $victim in a) start_consumer a 0-3/8 ;; b) start_consumer b 4-7/8 ;; esac
    continue
  fi
  [ "$(applied)" -ge "$TOTAL" ] && break
  sleep 0.3
done
echo "consumers killed $kills times; producer killed $producer_killed time"
sleep 1
total=$(applied)
distinct=$(sql "SELECT count(DISTINCT n) FROM (SELECT n FROM c_a.applied UNION ALL SELECT n FROM c_b.applied) x")
gaps=$(sql "SELECT count(*) FROM (SELECT pseq - lag(pseq) OVER (PARTITION BY p ORDER BY id) AS d FROM c_a.applied UNION ALL SELECT pseq - lag(pseq) OVER (PARTITION BY p ORDER BY id) FROM c_b.applied) x WHERE d IS NOT NULL AND d <> 1")
bad_start=$(sql "SELECT count(*) FROM (SELECT p, min(pseq) m, max(pseq) x, count(*) c FROM (SELECT p, pseq FROM c_a.applied UNION ALL SELECT p, pseq FROM c_b.applied) u GROUP BY p) s WHERE m <> 0 OR x + 1 <> c")
split=$(sql "SELECT count(*) FROM c_a.applied a JOIN (SELECT DISTINCT p FROM c_b.applied) b USING (p)")
echo "applied=$total distinct=$distinct order_breaks=$gaps partitions_incomplete=$bad_start cross_split=$split"
[ "$total" -eq "$TOTAL" ] || fail "applied $total events, expected $TOTAL"
[ "$distinct" -eq "$TOTAL" ] || fail "duplicates or missing events: $distinct distinct"
[ "$gaps" -eq 0 ] || fail "$gaps out-of-order or missing per-partition steps"
[ "$bad_start" -eq 0 ] || fail "a partition is incomplete"
[ "$split" -eq 0 ] || fail "a logical partition went to both consumers"
[ "$kills" -ge 3 ] || fail "too few consumer kills ($kills) to prove anything"
check_logs
echo PASS
