# An upgrade of invoicing from schema version 5 with workers of the old
# version still running: migration 006 changes how workers record a bill
# run's results, so it refuses to run (and changes nothing) while any
# worker holds a live partition lease, and runs once they are gone, filling
# the runs' new counts and number ranges from the old results. Migration
# 007 then folds the old rows of invoice lines into one row per invoice.
# Then the same from version 6: 007 refuses while a worker of that version
# holds a live lease (its lines written during the conversion would be
# lost), and runs once it is gone. And from version 7: 008 gives the lines
# ids of their own, named by their invoices, under the same guard, and keeps
# aside lines whose number names no invoice.
. tests/integration/lib.sh
trap 'stop_all' EXIT

as_invoicing() { psql "$BILLOW_DATABASE_URL user=billow_invoicing" -X -q -v ON_ERROR_STOP=1 "$@"; }

# invoicing's schema as versions 1-$1 left it (the files the runner embeds),
# recorded as the runner records them, in one transaction as the runner
# applies them.
old_schema() {
  {
    echo "BEGIN; SET LOCAL search_path = invoicing;"
    echo "CREATE TABLE schema_migrations (component text NOT NULL, version integer NOT NULL,"
    echo " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version));"
    for f in common/migrations/00[1-4]_*.sql services/invoicing/migrations/00[1-$1]_*.sql; do
      cat "$f"; echo ";"
      case $f in common/*) c=common ;; *) c=invoicing ;; esac
      n=$(basename "$f")
      echo "INSERT INTO schema_migrations VALUES ('$c', ${n%%_*}, '$n');"
    done
    echo "COMMIT;"
  } > "$BW_TMP/v$1.sql"
  as_invoicing -f "$BW_TMP/v$1.sql" >/dev/null || fail "could not build schema version $1"
}
old_schema 5

# The new version refuses to start beside a worker of version $1 with a
# live lease: it exits saying $2 and the schema stays at version $1.
refused_at() {
  "$BW_BUILD/invoicing" >"$BW_TMP/refused$1.log" 2>&1 && fail "invoicing started beside a version $1 worker"
  grep -q "$2" "$BW_TMP/refused$1.log" || { cat "$BW_TMP/refused$1.log"; fail "no clear reason given at version $1"; }
  [ "$(sql "SELECT max(version) FROM invoicing.schema_migrations WHERE component = 'invoicing'")" = "$1" ] \
    || fail "something was applied beside a version $1 worker"
}

# The old worker's lease lapses; the new version starts and migrates.
start_after_lease_lapses() {
  sql "UPDATE invoicing.stream_leases SET expires_at = now() - interval '1 second'" >/dev/null
  svc_start invoicing
  wait_services invoicing || { cat "$BW_TMP/invoicing.log"; fail "invoicing did not start after the old worker left"; }
}

# A run of the old version: two invoiced accounts and one with nothing to
# bill, recorded as results.
sql "SET search_path = invoicing;
  INSERT INTO accounts (id, name, currency) VALUES ('A1', 'One', 'CNY'), ('A2', 'Two', 'CNY'), ('A3', 'Three', 'CNY');
  INSERT INTO bill_runs (id, period, cycle, period_start, period_end, due, done, caused_by)
    VALUES ('RUN-2026-10-monthly', '2026-10', 'monthly', '2026-10-01', '2026-11-01', 3, 3, 'test');
  INSERT INTO invoices (number, seq, series, account_id, run_id, period, period_start, period_end,
      currency, subtotal_minor, tax_minor, total_minor, issue_date, due_date, language, tax_profile, caused_by)
    VALUES ('INV-202611-000001', 1, 'INV-202611', 'A1', 'RUN-2026-10-monthly', '2026-10', '2026-10-01', '2026-11-01', 'CNY', 100, 0, 100, '2026-11-01', '2026-12-01', 'en', 'none', 'test'),
           ('INV-202611-000002', 2, 'INV-202611', 'A2', 'RUN-2026-10-monthly', '2026-10', '2026-10-01', '2026-11-01', 'CNY', 200, 0, 200, '2026-11-01', '2026-12-01', 'en', 'none', 'test');
  INSERT INTO bill_run_results (invoice_number, run_id, account_id, outcome, caused_by)
    VALUES ('INV-202611-000001', 'RUN-2026-10-monthly', 'A1', 'invoiced', 'test'),
           ('INV-202611-000002', 'RUN-2026-10-monthly', 'A2', 'invoiced', 'test'),
           (NULL, 'RUN-2026-10-monthly', 'A3', 'nothing_to_bill', 'test');
  INSERT INTO invoice_lines (number, line_no, fee_item, description, kind, quantity, unit_price,
      amount_minor, net_minor, tax_category, tax_rate_ppm, tax_minor)
    VALUES ('INV-202611-000001', 2, 'calls', 'API calls 调用', 'charge', '11', '5', 55, 55, 'standard', 0, 0),
           ('INV-202611-000001', 3, 'coupon', 'Coupon', 'discount', '1', '-15', -15, -15, 'standard', 0, 0),
           ('INV-202611-000001', 1, 'base', 'Base plan', 'charge', '1', '60', 60, 60, 'standard', 0, 0),
           ('INV-202611-000002', 1, 'base', 'Base plan', 'charge', '1', '200', 200, 200, 'reduced', 130000, 0);
  INSERT INTO stream_leases (producer, partitions, owner, expires_at)
    VALUES ('rating', '0/2', 'old-host:4242', now() + interval '1 hour');" >/dev/null \
  || fail "could not write the old version's run"

# An old worker still holds a lease: the new version does not start.
refused_at 5 "stop every invoicing worker of the previous version"
[ "$(sql "SELECT count(*) FROM pg_indexes WHERE schemaname = 'invoicing' AND indexname = 'invoices_open'")" = 1 ] \
  || fail "the refused migration changed the schema"
ok "migration 006 refused while an old worker holds a live lease"

# The old worker is gone (its lease lapsed): the upgrade goes through.
start_after_lease_lapses
[ "$(sql "SELECT max(version) FROM invoicing.schema_migrations WHERE component = 'invoicing'")" -ge 6 ] \
  || fail "migration 006 not applied"
[ "$(sql "SELECT invoiced, nothing_to_bill, failed, first_number, last_number FROM invoicing.bill_runs")" \
  = "2|1|0|INV-202611-000001|INV-202611-000002" ] || fail "the run's counts and range were not filled"
"$BW_BUILD/billctl" billrun status RUN-2026-10-monthly > "$BW_TMP/status.txt" || fail "billrun status"
grep -q "invoiced" "$BW_TMP/status.txt" || { cat "$BW_TMP/status.txt"; fail "status lacks the counts"; }
ok "migration 006 applied once the old worker was gone; the run's counts came from its results"

"$BW_BUILD/billctl" invoice show INV-202611-000001 > "$BW_TMP/doc.txt" || fail "invoice show after 007"
base=$(grep -n "Base plan" "$BW_TMP/doc.txt" | head -n1 | cut -d: -f1)
calls=$(grep -n "API calls" "$BW_TMP/doc.txt" | head -n1 | cut -d: -f1)
[ -n "$base" ] && [ -n "$calls" ] && [ "$base" -lt "$calls" ] \
  || { cat "$BW_TMP/doc.txt"; fail "the old lines do not show in order"; }
"$BW_BUILD/billctl" invoice show INV-202611-000001 --format json > "$BW_TMP/doc.json" || fail "json after 007"
grep -q "API calls 调用" "$BW_TMP/doc.json" && grep -q '"kind": *"discount"' "$BW_TMP/doc.json" \
  || { cat "$BW_TMP/doc.json"; fail "the old lines' text or kind changed"; }
"$BW_BUILD/billctl" invoice show INV-202611-000002 --format json | grep -q '"tax_rate_ppm": *130000' \
  || fail "the old line's tax rate changed"
"$BW_BUILD/billctl" audit > "$BW_TMP/audit.txt" 2>&1
grep -q "lines sum\|has no lines\|do not decode" "$BW_TMP/audit.txt" && { cat "$BW_TMP/audit.txt"; fail "audit: moved lines do not add up"; }
ok "migration 007 moved the old invoice lines, in order, to one row per invoice"

# An old binary started again after the upgrade (a supervisor elsewhere)
# does not run on the newer schema: here, a schema recorded at a version
# this binary does not know.
sql "INSERT INTO invoicing.schema_migrations VALUES ('invoicing', 999, '999_future.sql')" >/dev/null
"$BW_BUILD/invoicing" --worker --partitions 0/2 >"$BW_TMP/newer.log" 2>&1 && fail "a binary ran on a newer schema"
grep -q "the schema is newer than this binary" "$BW_TMP/newer.log" || { cat "$BW_TMP/newer.log"; fail "no reason given for the newer schema"; }
sql "DELETE FROM invoicing.schema_migrations WHERE version = 999" >/dev/null
ok "a binary older than the schema refuses to start"

# A fresh schema at version $1 holding one invoice (INV-202612-000001, CNY
# 70.00, of account $2), its lines as the SQL $3 writes them, and a live
# lease of a worker of that version.
old_invoice_beside_worker() {
  stop_all
  sql "DROP SCHEMA invoicing CASCADE; CREATE SCHEMA invoicing AUTHORIZATION billow_invoicing" >/dev/null
  old_schema "$1"
  sql "SET search_path = invoicing;
    INSERT INTO accounts (id, name, currency) VALUES ('$2', 'One', 'CNY');
    INSERT INTO invoices (number, seq, series, account_id, period, period_start, period_end, currency,
        subtotal_minor, tax_minor, total_minor, issue_date, due_date, language, tax_profile, caused_by)
      VALUES ('INV-202612-000001', 1, 'INV-202612', '$2', '2026-11', '2026-11-01', '2026-12-01', 'CNY',
              70, 0, 70, '2026-12-01', '2026-12-31', 'en', 'none', 'test');
    $3;
    INSERT INTO number_series (series, last) VALUES ('INV-202612', 1);
    INSERT INTO stream_leases (producer, partitions, owner, expires_at)
      VALUES ('rating', '1/2', 'old-host:4243', now() + interval '1 hour');" >/dev/null \
    || fail "could not write the version $1 invoice"
}

# From version 6, with a worker of that version writing lines: 007 refuses
# to run and changes nothing until the worker's lease is gone.
old_invoice_beside_worker 6 B1 "INSERT INTO invoice_lines (number, line_no, fee_item, description, kind,
    quantity, unit_price, amount_minor, net_minor, tax_category, tax_rate_ppm, tax_minor)
  VALUES ('INV-202612-000001', 1, 'base', 'Base plan', 'charge', '1', '70', 70, 70, 'standard', 0, 0)"
refused_at 6 "migration 007 changes how invoice lines are stored"
[ "$(sql "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'invoicing' AND table_name = 'invoice_lines' AND column_name = 'line_no'")" = 1 ] \
  || fail "the refused migration changed the lines"
start_after_lease_lapses
"$BW_BUILD/billctl" invoice show INV-202612-000001 | grep -q "Base plan" || fail "the version 6 invoice's lines after 007"
ok "migration 007 refused while a version 6 worker holds a live lease, applied once it was gone"

# From version 7 (lines as bytes keyed by number): 008 refuses beside a
# live worker of that version, then gives the lines ids their invoices name;
# a lines row whose number names no invoice is kept aside and the audit
# names it.
# One StoredLine: fee_item "base", description "Base plan", kind "charge",
# amount_minor 70, net_minor 70.
stored=0a1d0a046261736512094261736520706c616e1a0663686172676538464046
old_invoice_beside_worker 7 C1 "INSERT INTO invoice_lines (number, lines)
  VALUES ('INV-202612-000001', decode('$stored', 'hex')), ('INV-202612-000099', decode('$stored', 'hex'))"
refused_at 7 "migration 008 changes how invoice lines are keyed"
[ "$(sql "SELECT count(*) FROM invoicing.invoice_lines WHERE number = 'INV-202612-000001'")" = 1 ] \
  || fail "the refused migration changed the lines"
start_after_lease_lapses
[ "$(sql "SELECT count(*) FROM invoicing.invoices i JOIN invoicing.invoice_lines l ON l.id = i.lines_id")" = 1 ] \
  || fail "the version 7 invoice does not name its lines"
"$BW_BUILD/billctl" invoice show INV-202612-000001 | grep -q "Base plan" || fail "the version 7 invoice's lines after 008"
"$BW_BUILD/billctl" audit > "$BW_TMP/audit8.txt" 2>&1 && fail "audit missed the unmatched lines"
grep -q "invoice lines of INV-202612-000099: no such invoice (kept aside" "$BW_TMP/audit8.txt" \
  || { cat "$BW_TMP/audit8.txt"; fail "audit did not name the unmatched lines"; }
[ "$(grep -c . "$BW_TMP/audit8.txt")" -le 2 ] || { cat "$BW_TMP/audit8.txt"; fail "audit found more than the unmatched lines"; }
ok "migration 008 refused beside a version 7 worker, then gave the lines ids their invoices name and kept the unmatched aside"
