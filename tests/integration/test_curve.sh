# CURVE: with BILLOW_CURVE_SECRET_KEY set, every ZeroMQ connection is
# encrypted, and with BILLOW_CURVE_CLIENT_KEYS only the listed clients (and
# the services themselves, sharing the server key pair) get in. billctl
# with an authorized key works; without CURVE, with an unknown key or with
# the wrong server key it gets no answer and says what to check; the
# service logs the refusal. Rating consumes invoicing's stream over CURVE.
# A bad key setting stops a service at start with the reason.
. tests/integration/lib.sh
trap 'stop_all' EXIT
B=$BW_BUILD

field() { echo "$1" | sed "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/"; }
S=$("$B/billctl" keygen --json) || fail "keygen"
C=$("$B/billctl" keygen --json) || fail "keygen"
X=$("$B/billctl" keygen --json) || fail "keygen"
[ ${#S} -gt 90 ] && [ "$(field "$S" public_key | wc -c)" = 41 ] || fail "keygen output: $S"
[ "$S" != "$C" ] || fail "keygen made the same pair twice"
{
  echo "# operators"
  echo "$(field "$C" public_key) ops laptop"
} > "$BW_TMP/clients"

export BILLOW_CURVE_SECRET_KEY="$(field "$S" secret_key)" BILLOW_CURVE_CLIENT_KEYS="$BW_TMP/clients"
svc_start invoicing
svc_start rating
unset BILLOW_CURVE_SECRET_KEY BILLOW_CURVE_CLIENT_KEYS

as_client() { # secret-key server-key command...
  sk=$1; srv=$2; shift 2
  BILLOW_CURVE_SECRET_KEY=$sk BILLOW_CURVE_SERVER_KEY=$srv BILLOW_CTL_TIMEOUT_MS=1500 "$B/billctl" "$@"
}
SRV=$(field "$S" public_key)
i=0
until as_client "$(field "$C" secret_key)" "$SRV" rating describe >/dev/null 2>&1 &&
      as_client "$(field "$C" secret_key)" "$SRV" invoicing describe >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -ge 40 ] && fail "services not reachable with an authorized key"; sleep 0.25
done
ok "an authorized client key reaches both services"

BILLOW_CTL_TIMEOUT_MS=1500 "$B/billctl" rating describe >/dev/null 2>&1 && fail "a plain-text client got in"
out=$(as_client "$(field "$X" secret_key)" "$SRV" rating describe 2>&1) && fail "an unknown key got in"
echo "$out" | grep -q "BILLOW_CURVE_CLIENT_KEYS" || fail "no hint for the refused client: $out"
as_client "$(field "$C" secret_key)" "$(field "$X" public_key)" rating describe >/dev/null 2>&1 \
  && fail "a client with the wrong server key got in"
grep -q 'client key not authorized' "$BW_TMP/rating.log" || fail "the refusal was not logged"
ok "plain-text clients, unknown keys and a wrong server key get nothing"

as_client "$(field "$C" secret_key)" "$SRV" account create CV1 --name 'Curve Co' --currency CNY >/dev/null \
  || fail "account create over CURVE"
i=0
until [ "$(sql "SELECT count(*) FROM rating.accounts WHERE id = 'CV1'")" = 1 ]; do
  i=$((i + 1)); [ $i -ge 80 ] && fail "rating did not get the account over CURVE"; sleep 0.25
done
ok "rating consumes invoicing's stream over CURVE"

BILLOW_CURVE_SECRET_KEY=tooshort BILLOW_PORT_BASE=$((BILLOW_PORT_BASE + 50)) "$B/feedback" >"$BW_TMP/bad.log" 2>&1 \
  && fail "a bad key setting started a service"
grep -q 'BILLOW_CURVE_SECRET_KEY: expected 40 Z85 characters' "$BW_TMP/bad.log" || fail "bad key reason: $(cat "$BW_TMP/bad.log")"
printf 'not-a-key\n' > "$BW_TMP/badclients"
BILLOW_CURVE_SECRET_KEY="$(field "$S" secret_key)" BILLOW_CURVE_CLIENT_KEYS="$BW_TMP/badclients" \
  BILLOW_PORT_BASE=$((BILLOW_PORT_BASE + 50)) "$B/feedback" >"$BW_TMP/bad.log" 2>&1 && fail "a bad key file started a service"
grep -q 'bad key in BILLOW_CURVE_CLIENT_KEYS' "$BW_TMP/bad.log" || fail "bad key file reason: $(cat "$BW_TMP/bad.log")"
ok "bad key settings stop a service at start with the reason"
check_logs
echo PASS
