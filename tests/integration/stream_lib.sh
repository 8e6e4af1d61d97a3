# Shared by the stream tests (sourced after lib.sh): the test producer and
# consumer programs, started in the background with their pids in $BW_TMP,
# and killed at exit.
EP="tcp://127.0.0.1:$((BILLOW_PORT_BASE + 50))"
P="$BW_BUILD/tests/integration/stream_producer"
C="$BW_BUILD/tests/integration/stream_consumer"
cleanup() {
  for f in "$BW_TMP"/*.pid; do [ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
  return 0
}
trap cleanup EXIT

start_consumer() { # name partitions [types]
  "$C" "$1" "$EP" "$2" ${3:+"$3"} >>"$BW_TMP/consumer-$1.log" 2>&1 & echo $! > "$BW_TMP/consumer-$1.pid"
}
kill9() { kill -KILL "$(cat "$BW_TMP/$1.pid")" 2>/dev/null; wait "$(cat "$BW_TMP/$1.pid")" 2>/dev/null; }
# Events the producer has committed (its progress lives in the same transactions).
emitted() { sql "SELECT coalesce(sum(next_seq),0) FROM producer.partition_state" 2>/dev/null || echo 0; }
