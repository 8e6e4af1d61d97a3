# The notification service end to end, against real servers on loopback:
# invoicing (accounts through its API; AccountChanged flows to contacts),
# rating (its outbox carries PriceChangeAnnounced), a real SMTP server
# (aiosmtpd), a webhook receiver and the file notifier. Checks delivery per
# channel, retry of temporary failures, fallback on permanent ones, the
# dead-letter list and its retry, operator precedence over AccountChanged,
# acknowledgement tokens, and that a SIGKILL mid-delivery neither loses
# nor duplicates a notification.
. tests/integration/lib.sh
PY=/usr/bin/python3
[ -x $PY ] || PY=python3
$PY -c 'import aiosmtpd' 2>/dev/null || { echo "SKIP: aiosmtpd missing"; exit 77; }
H="$BW_BUILD/tests/integration/notif_helper"
CTL="$BW_BUILD/billctl"
SRV_PIDS=""
cleanup() { stop_all; for p in $SRV_PIDS; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

# Starts a server (not in a subshell, so that cleanup knows its pid) and
# sets PORT to the port it prints.
start_server() { # name command...
  name=$1; shift
  : >"$BW_TMP/$name.port"
  "$@" >"$BW_TMP/$name.port" 2>"$BW_TMP/$name.err" &
  SRV_PIDS="$SRV_PIDS $!"
  i=0
  until grep -q '^PORT' "$BW_TMP/$name.port"; do
    i=$((i + 1)); [ $i -ge 100 ] && { cat "$BW_TMP/$name.err"; fail "$name did not start"; }
    sleep 0.1
  done
  PORT=$(sed -n 's/^PORT //p' "$BW_TMP/$name.port")
}

start_server smtp $PY tests/integration/servers/smtp_server.py "$BW_TMP/mail"
SMTP_PORT=$PORT
start_server hook $PY tests/integration/notif_webhook.py "$BW_TMP/hooks"
HOOK_PORT=$PORT
HOOK="http://127.0.0.1:$HOOK_PORT"
ok "smtp on $SMTP_PORT, webhook receiver on $HOOK_PORT"

export BILLOW_CHANNEL_EMAIL=smtp BILLOW_CHANNEL_SMS=file BILLOW_CHANNEL_WEBHOOK=webhook
export BILLOW_NOTIFIER_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" BILLOW_NOTIFIER_SMTP_FROM="Billing <billing@example.com>"
export BILLOW_NOTIFIER_WEBHOOK_SECRET=test-secret-0123456789 BILLOW_NOTIFIER_FILE_DIR="$BW_TMP/files"
export BILLOW_NOTIFY_BACKOFF_MS=100 BILLOW_NOTIFY_BACKOFF_MAX_MS=400 BILLOW_NOTIFY_MAX_ATTEMPTS=3
export BILLOW_NOTIFY_POLL_MS=50 BILLOW_NOTIFY_CONCURRENCY_WEBHOOK=4

svc_start invoicing
svc_start rating
svc_start notification
i=0
until "$CTL" notification describe >/dev/null 2>&1 && "$CTL" invoicing describe >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -ge 120 ] && { tail -n 20 "$BW_TMP"/*.log; fail "services did not come up"; }
  sleep 0.25
done
ok "invoicing, rating and notification up"

nsql() { sql "$1"; }
# Whether any received mail, decoded (quoted-printable, base64), contains $1.
mail_has() {
  $PY - "$BW_TMP/mail" "$1" <<'PYEOF'
import email, glob, sys
for path in glob.glob(sys.argv[1] + "/*.eml"):
    msg = email.message_from_binary_file(open(path, "rb"))
    for part in msg.walk():
        data = part.get_payload(decode=True)
        if data and sys.argv[2].encode() in data:
            sys.exit(0)
sys.exit(1)
PYEOF
}
wait_for() { # description sql expected [seconds]
  i=0
  until [ "$(nsql "$2")" = "$3" ]; do
    i=$((i + 1))
    [ $i -ge $((${4:-20} * 10)) ] && { echo "got: $(nsql "$2")"; tail -n 20 "$BW_TMP/notification.log"; fail "$1"; }
    sleep 0.1
  done
}
status_of() { nsql "SELECT string_agg(channel || ':' || status, ',' ORDER BY created_at) FROM notification.messages WHERE ref_id = '$1'"; }

# --- accounts through invoicing's API: contacts follow AccountChanged -----
$H account a1 --email ok1@example.com || fail "account a1"
$H account a2 --phone +8613800000002 || fail "account a2"
$H account a3 --webhook "$HOOK/flaky/1" || fail "account a3"
$H account a4 --email perm4@example.com --phone +8613800000004 || fail "account a4"
$H account a5 --email perm5@example.com --webhook "$HOOK/switch/a5" || fail "account a5"
$H account a6 --webhook "$HOOK/slow" || fail "account a6"
wait_for "contacts from AccountChanged" "SELECT count(*) FROM notification.contacts" 6
"$CTL" contact set a3 --channels webhook,email,sms >/dev/null || fail "contact set a3"
"$CTL" contact set a5 --channels email,webhook >/dev/null || fail "contact set a5"
"$CTL" contact set a6 --channels webhook >/dev/null || fail "contact set a6"
ok "contacts built from AccountChanged; channel order set"

# --- invoice to a real SMTP server, with the HTML invoice ---------------------
$H invoice a1 INV-1 || fail "emit INV-1"
wait_for "INV-1 delivered by e-mail" "SELECT status FROM notification.messages WHERE ref_id='INV-1'" delivered
mail_has "<h1>Invoice INV-1</h1>" || fail "no mail carries the HTML invoice INV-1"
id1=$(nsql "SELECT id FROM notification.messages WHERE ref_id='INV-1'")
"$CTL" notify show "$id1" | grep -q "ok .*250" || { "$CTL" notify show "$id1"; fail "attempt lacks the SMTP answer"; }
[ "$(nsql "SELECT count(*) FROM notification.outbox WHERE event_type='NoticeDelivered'")" = 1 ] || fail "NoticeDelivered not emitted once"
ok "INV-1 reached the SMTP server; attempt recorded with the provider's answer; NoticeDelivered emitted"

# --- invoice to the file notifier (SMS channel) ----------------------------
$H invoice a2 INV-2 || fail "emit INV-2"
wait_for "INV-2 delivered by sms" "SELECT status FROM notification.messages WHERE ref_id='INV-2'" delivered
grep -q "INV-2" "$BW_TMP/files/sms.jsonl" || fail "INV-2 not in sms.jsonl"
ok "INV-2 reached the file notifier (sms.jsonl)"

# --- webhook answering 500 then 200: retried and delivered ---------------------
$H invoice a3 INV-3 || fail "emit INV-3"
wait_for "INV-3 delivered by webhook" "SELECT status FROM notification.messages WHERE ref_id='INV-3'" delivered
[ "$(nsql "SELECT string_agg(a.status, ',' ORDER BY a.id) FROM notification.attempts a JOIN notification.messages m ON m.id = a.message_id WHERE m.ref_id='INV-3'")" = "temporary,ok" ] \
  || fail "INV-3 attempts: $(nsql "SELECT string_agg(a.status || a.code, ',') FROM notification.attempts a JOIN notification.messages m ON m.id=a.message_id WHERE m.ref_id='INV-3'")"
[ "$(grep '"INV-3"' "$BW_TMP/hooks/hooks.jsonl" | $PY -c 'import sys,json; print(len({json.loads(l)["key"] for l in sys.stdin}))')" = 1 ] \
  || fail "INV-3 retries carried different idempotency keys"
ok "webhook 500 then 200: retried with the same idempotency key, delivered"

# --- permanent failure falls back to the next channel ----------------------
$H invoice a4 INV-4 || fail "emit INV-4"
wait_for "INV-4 fell back to sms" "SELECT count(*) FROM notification.messages WHERE ref_id='INV-4' AND status='delivered' AND channel='sms'" 1
[ "$(status_of INV-4)" = "email:failed,sms:delivered" ] || fail "INV-4: $(status_of INV-4)"
grep -q "INV-4" "$BW_TMP/files/sms.jsonl" || fail "INV-4 not in sms.jsonl"
ok "SMTP 550 on e-mail fell back to sms: $(status_of INV-4)"

# --- every channel fails: dead letter, NotificationFailed, retry -------------
$H invoice a5 INV-5 || fail "emit INV-5"
wait_for "INV-5 dead-lettered" "SELECT count(*) FROM notification.messages WHERE ref_id='INV-5' AND status='dead'" 1
[ "$(status_of INV-5)" = "email:failed,webhook:dead" ] || fail "INV-5: $(status_of INV-5)"
"$CTL" notify failed | grep -q "INV-5" || fail "notify failed does not list INV-5"
[ "$(nsql "SELECT count(*) FROM notification.outbox WHERE event_type='NotificationFailed'")" = 1 ] || fail "NotificationFailed not emitted once"
dead=$(nsql "SELECT id FROM notification.messages WHERE ref_id='INV-5' AND status='dead'")
touch "$BW_TMP/hooks/a5.ok"
"$CTL" notify retry "$dead" >/dev/null || fail "notify retry"
wait_for "INV-5 delivered after retry" "SELECT status FROM notification.messages WHERE id='$dead'" delivered
"$CTL" notify retry "$dead" >/dev/null 2>&1 && fail "retry of a delivered notification accepted"
"$CTL" notify show "$dead" >/dev/null || fail "notify show"
ok "all channels failed -> dead letter -> notify retry -> delivered"

# --- no address at all: dead at once; the operator adds one and retries -----
$H account a7 || fail "account a7"
$H invoice a7 INV-7 || fail "emit INV-7"
wait_for "INV-7 dead-lettered" "SELECT status || ':' || last_error FROM notification.messages WHERE ref_id='INV-7'" "dead:no address on any channel"
[ "$(nsql "SELECT count(*) FROM notification.outbox WHERE event_type='NotificationFailed'")" = 2 ] || fail "NotificationFailed for INV-7 missing"
"$CTL" contact set a7 --email ops7@example.com >/dev/null || fail "contact set a7"
dead7=$(nsql "SELECT id FROM notification.messages WHERE ref_id='INV-7'")
"$CTL" notify retry "$dead7" >/dev/null || fail "notify retry INV-7"
wait_for "INV-7 delivered after the contact was fixed" "SELECT status || ' ' || address FROM notification.messages WHERE id='$dead7'" "delivered ops7@example.com"
mail_has "INV-7" || fail "INV-7 not in the mail"
ok "no address -> dead letter; operator adds an e-mail; retry delivers to it"

# --- operator edits win over AccountChanged ---------------------------------
"$CTL" contact set a1 --email operator1@example.com >/dev/null || fail "contact set a1"
$H account a1 --email changed1@example.com --phone +8613800000011 || fail "account a1 update"
wait_for "phone from AccountChanged" "SELECT phone FROM notification.contacts WHERE account_id='a1'" "+8613800000011"
[ "$(nsql "SELECT email FROM notification.contacts WHERE account_id='a1'")" = operator1@example.com ] || fail "AccountChanged overwrote the operator's e-mail"
"$CTL" contact set a1 --opt-out invoice_issued >/dev/null 2>&1 && fail "opt-out of invoices accepted"
"$CTL" contact set a1 --opt-out payment_received --release email >/dev/null || fail "opt-out payment_received"
$H account a1 --email later1@example.com || fail "account a1 update 2"
wait_for "released e-mail follows AccountChanged" "SELECT email FROM notification.contacts WHERE account_id='a1'" later1@example.com
"$CTL" contact show a1 | grep -q "payment_received" || fail "contact show lacks the opt-out"
ok "operator's e-mail kept over AccountChanged until released; legally required notices cannot be opted out of"

# --- fee-change notice, reminders, acknowledgement once ----------------------
$H price a1 PC-1 2099-01-01 30 7 || fail "emit PC-1"
# A fee-change notice goes to every channel with an address (a1: e-mail and SMS).
wait_for "fee-change notice delivered" "SELECT string_agg(channel, ',' ORDER BY channel) FROM notification.messages WHERE ref_id='PC-1' AND type='price_change_notice' AND status='delivered'" email,sms
[ "$(nsql "SELECT count(*) FROM notification.messages WHERE ref_id='PC-1' AND type='price_change_reminder' AND status='scheduled'")" = 2 ] || fail "reminders not scheduled"
[ "$(nsql "SELECT string_agg(to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), ',' ORDER BY due_at) FROM notification.messages WHERE ref_id='PC-1' AND type='price_change_reminder'")" = "2098-12-02,2098-12-25" ] || fail "reminder dates"
token=$(nsql "SELECT DISTINCT ack_token FROM notification.messages WHERE ref_id='PC-1' AND type='price_change_notice'")
[ ${#token} -eq 64 ] || fail "token length ${#token}"
mail_has "$token" || fail "the notice does not carry its token"
out=$("$CTL" notice ack "$token") || fail "notice ack"
echo "$out" | grep -q "^acknowledged" || fail "first ack: $out"
out=$("$CTL" notice ack "$token") || fail "second notice ack"
echo "$out" | grep -q "already acknowledged" || fail "second ack: $out"
"$CTL" notice ack "0000000000000000000000000000000000000000000000000000000000000000" >/dev/null 2>&1 && fail "unknown token accepted"
"$CTL" notice ack "not-a-token" >/dev/null 2>&1 && fail "malformed token accepted"
[ "$(nsql "SELECT count(*) FROM notification.outbox WHERE event_type='NoticeAcknowledged'")" = 1 ] || fail "NoticeAcknowledged not emitted once"
[ "$(nsql "SELECT count(*) FROM notification.messages WHERE ref_id='PC-1' AND type='price_change_reminder' AND status='cancelled'")" = 2 ] || fail "reminders not cancelled by the ack"
ok "fee-change notice with token; ack recorded once, NoticeAcknowledged once, reminders stopped"
# The cancelled reminders' entries stay in the due-queue until a claim finds
# them: brought forward, they are dropped, never sent.
[ "$(nsql "SELECT count(*) FROM notification.message_queue q JOIN notification.messages m ON m.id = q.message_id WHERE m.ref_id='PC-1' AND m.type='price_change_reminder'")" = 2 ] || fail "reminders not queued"
nsql "UPDATE notification.message_queue SET due_at = now() - interval '1 day' WHERE message_id IN (SELECT id FROM notification.messages WHERE ref_id='PC-1' AND type='price_change_reminder')" >/dev/null
wait_for "stale queue entries dropped" "SELECT count(*) FROM notification.message_queue q JOIN notification.messages m ON m.id = q.message_id WHERE m.ref_id='PC-1' AND m.type='price_change_reminder'" 0
[ "$(nsql "SELECT count(*) FROM notification.messages m WHERE ref_id='PC-1' AND type='price_change_reminder' AND status='cancelled' AND attempts = 0 AND NOT EXISTS (SELECT 1 FROM notification.attempts a WHERE a.message_id = m.id)")" = 2 ] || fail "a cancelled reminder was sent"
ok "queue entries of cancelled reminders are dropped by the claim, nothing sent"

# --- SIGKILL mid-delivery: nothing lost, nothing duplicated ----------------------
$H invoice a6 K 60 || fail "emit K-1..60"
wait_for "some K delivered" "SELECT count(*) > 5 FROM notification.messages WHERE account_id='a6' AND status='delivered'" t
svc_kill notification KILL
sending=$(nsql "SELECT count(*) FROM notification.messages WHERE account_id='a6' AND status='sending'")
svc_start notification
wait_for "all 60 delivered after restart" "SELECT count(*) FROM notification.messages WHERE account_id='a6' AND status='delivered'" 60 60
[ "$(nsql "SELECT count(*) FROM (SELECT source_event_id FROM notification.messages GROUP BY source_event_id, account_id, channel HAVING count(*) > 1) d")" = 0 ] || fail "duplicate messages"
[ "$(nsql "SELECT count(*) FROM notification.messages WHERE account_id='a6'")" = 60 ] || fail "not one message per event"
refs=$(grep '"K-' "$BW_TMP/hooks/hooks.jsonl" | $PY -c '
import sys, json
keys = {}
for l in sys.stdin:
    r = json.loads(l)
    keys.setdefault(r["ref"], set()).add(r["key"])
print(len(keys), max(len(k) for k in keys.values()))')
[ "$refs" = "60 1" ] || fail "receiver saw (refs, max keys per ref) = $refs"
interrupted=$(nsql "SELECT count(*) FROM notification.attempts a JOIN notification.messages m ON m.id = a.message_id WHERE m.account_id='a6' AND a.status='interrupted'")
[ "$interrupted" = "$sending" ] || fail "interrupted attempts $interrupted, sending at kill $sending"
ok "SIGKILL with $sending in flight: 60 delivered, one message per event, one key per invoice at the receiver"

# --- account changes and invoices in one consumer batch ---------------------------
# With notification down, b1 is created, an invoice issued, its e-mail
# changed, and another invoice issued; when it comes back it reads all four
# in one batch. Messages are inserted together, yet each invoice goes to the
# e-mail b1 had when it was issued, and the newest e-mail wins.
svc_kill notification TERM
$H account b1 --email first@example.com || fail "account b1"
$H invoice b1 INV-B0 || fail "emit INV-B0"
$H account b1 --email second@example.com || fail "account b1 again"
$H invoice b1 INV-B1 || fail "emit INV-B1"
svc_start notification
wait_for "INV-B0 and INV-B1 created" "SELECT count(*) FROM notification.messages WHERE account_id='b1'" 2 30
[ "$(nsql "SELECT email FROM notification.contacts WHERE account_id='b1'")" = second@example.com ] || fail "b1's newest e-mail"
[ "$(nsql "SELECT address FROM notification.messages WHERE ref_id='INV-B0' AND channel='email'")" = first@example.com ] \
  || fail "INV-B0 not addressed to the e-mail b1 had then"
[ "$(nsql "SELECT address FROM notification.messages WHERE ref_id='INV-B1' AND channel='email'")" = second@example.com ] \
  || fail "INV-B1 not addressed to b1's newest e-mail"
ok "account changes and invoices in one batch: each invoice uses the contact of its time, newest wins"

"$CTL" notify list --account a6 --status delivered --limit 3 >/dev/null || fail "notify list"
"$CTL" notify list --status bogus >/dev/null 2>&1 && fail "bad status accepted"
"$CTL" --json notify list --limit 1 | grep -q '"notifications"' || fail "notify list --json"

# --- database connections cut mid-delivery: outcomes are written later -----------
# The service claims on its own connection and records outcomes on a second
# one (a recorder thread); both are terminated while 1000 invoices go to the
# file notifier. Outcomes that could not be written wait and go in later:
# every message delivered once, one NoticeDelivered each, every line on file.
$H invoice a2 CUT 1000 || fail "emit CUT-1..1000"
wait_for "some CUT created" "SELECT count(*) > 0 FROM notification.messages WHERE ref_id LIKE 'CUT-%'" t 60
cut=$(nsql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'billow_notification'")
at_cut=$(nsql "SELECT count(*) FROM notification.messages WHERE ref_id LIKE 'CUT-%' AND status='delivered'")
i=0
until [ "$(nsql "SELECT count(*) FROM notification.messages WHERE ref_id LIKE 'CUT-%' AND status='delivered'")" = 1000 ]; do
  i=$((i + 1))
  if [ $i -ge 1200 ]; then
    nsql "SELECT status, count(*), count(q.message_id) AS queued FROM notification.messages m LEFT JOIN notification.message_queue q ON q.message_id = m.id WHERE ref_id LIKE 'CUT-%' GROUP BY status"
    tail -n 20 "$BW_TMP/notification.log"; fail "all CUT delivered after the cut"
  fi
  sleep 0.1
done
[ "$(nsql "SELECT count(*) FROM notification.outbox o JOIN notification.messages m ON m.id = o.caused_by WHERE m.ref_id LIKE 'CUT-%' AND o.event_type = 'NoticeDelivered'")" = 1000 ] || fail "not one NoticeDelivered per CUT message"
onfile=$(nsql "SELECT id FROM notification.messages WHERE ref_id LIKE 'CUT-%'" | $PY -c '
import sys, json
want = set(sys.stdin.read().split())
got = set(json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip())
print(len(want & got))' "$BW_TMP/files/sms.jsonl")
[ "$onfile" = 1000 ] || fail "$onfile of 1000 CUT messages in sms.jsonl"
ok "$cut connections cut with $at_cut of 1000 delivered: all delivered once each, NoticeDelivered once each, all on file"

# --- SIGTERM exits 0 ------------------------------------------------------
pid=$(svc_pid notification)
kill -TERM "$pid"; wait "$pid"; rc=$?
[ $rc -eq 0 ] || fail "notification exited $rc on SIGTERM"
rm -f "$BW_TMP/notification.pid"
check_logs
echo PASS
