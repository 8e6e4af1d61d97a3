#!/bin/sh
# `make demo`: the main job end to end on the local stack.
#
# It (re)starts the four services with the clock pinned to the first day of
# next month (BILLOW_NOW), so this month can be billed as at month end, then:
# loads the example catalog, imports a few hundred accounts across tiers,
# cycles, currencies and languages, subscribes them, records a month of
# usage, runs the month-end bill run, waits for invoices and notifications,
# opens and resolves a few feedback tickets, and prints a summary with the
# paths of some HTML invoices to open. Every step is idempotent (fixed ids),
# so running it again changes nothing.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BC=${BW_BUILD:-$ROOT/build}/billctl
N=${BW_DEMO_ACCOUNTS:-300}
OUT=$ROOT/var/demo
mkdir -p "$OUT/invoices"

# This month, billed as at 02:00 UTC on the first of next month.
PERIOD=${BW_DEMO_PERIOD:-$(date -u +%Y-%m)}
Y=${PERIOD%-*}; M=${PERIOD#*-}; M=${M#0}
if [ "$M" -eq 12 ]; then NY=$((Y + 1)); NM=1; else NY=$Y; NM=$((M + 1)); fi
NEXT=$(printf '%04d-%02d-01' "$NY" "$NM")
export BILLOW_NOW="${NEXT}T02:00:00Z"
export BILLOW_OPERATOR=${BILLOW_OPERATOR:-demo}

step() { printf '\n== %s\n' "$*"; }

step "starting the stack with the clock at $BILLOW_NOW"
sh deploy/stack.sh restart-services >/dev/null
"$BC" status

step "catalog"
# The example catalog, with the Japanese plan billed monthly so that the
# JPY accounts are part of this month's run too.
python3 - services/rating/catalog.example.json "$OUT/catalog.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for p in c["plans"]:
    if p["code"] == "SAAS_STANDARD_JP":
        p["billing_cycle"] = "monthly"
        p["name"] = {"zh-CN": "标准版（日本，月付）", "en": "Standard (Japan, monthly)"}
json.dump(c, open(sys.argv[2], "w"), ensure_ascii=False, indent=1)
PY
"$BC" catalog load "$OUT/catalog.json" || true

step "$N accounts"
awk -v n="$N" 'BEGIN {
  print "id,name,currency,tier,tax_profile,language,cycle,terms_days,email,phone";
  split("standard standard standard silver silver gold", tiers, " ");
  for (i = 1; i <= n; i++) {
    id = sprintf("CUST-%04d", i);
    jp = (i % 10 == 0);
    zh = (!jp && i % 2 == 0);
    cur = jp ? "JPY" : "CNY";
    tax = jp ? "jp-consumption" : "cn-vat-general";
    lang = zh ? "zh-CN" : "en";
    name = zh ? sprintf("上海示例科技有限公司 %d", i) : (jp ? sprintf("Kabushiki Kaisha Demo %d", i) : sprintf("Demo Trading Co. %d", i));
    cycle = (i % 25 == 0) ? "quarterly" : "monthly";
    printf "%s,%s,%s,%s,%s,%s,%s,%d,billing+%d@example.com,+8613800%05d\n", id, name, cur, tiers[i % 6 + 1], tax, lang, cycle, (i % 3 == 0) ? 15 : 30, i, i;
  } }' > "$OUT/accounts.csv"
"$BC" account import "$OUT/accounts.csv"

# Rating learns accounts from invoicing's stream: wait until it knows them all.
i=0
until "$BC" subscription list --account "$(printf 'CUST-%04d' "$N")" >/dev/null 2>&1 || \
      "$BC" subscribe --account "$(printf 'CUST-%04d' "$N")" --plan SAAS_PRO --start "${PERIOD}-01" >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -gt 60 ] && { echo "demo: rating did not learn the accounts" >&2; exit 1; }
  sleep 0.5
done

step "subscriptions"
subs=0
for i in $(seq 1 "$N"); do
  id=$(printf 'CUST-%04d' "$i")
  [ $((i % 25)) -eq 0 ] && continue           # quarterly accounts: not due this month
  if [ $((i % 10)) -eq 0 ]; then plan=SAAS_STANDARD_JP; else plan=SAAS_PRO; fi
  start="${PERIOD}-01"
  [ $((i % 7)) -eq 0 ] && start="${PERIOD}-16"  # joined mid-month: prorated
  seats=$((1 + i % 5))
  coupon=""
  [ $((i % 11)) -eq 0 ] && [ "$plan" = SAAS_PRO ] && coupon="--coupon WELCOME2026"
  # shellcheck disable=SC2086
  "$BC" subscribe --account "$id" --plan "$plan" --start "$start" --quantity "$seats" $coupon >/dev/null 2>&1 \
    && subs=$((subs + 1)) || true
done
echo "$subs new subscriptions (existing ones are kept)"

step "a month of usage"
awk -v n="$N" -v period="$PERIOD" 'BEGIN {
  print "event_id,account,fee_item,quantity,timestamp";
  srand(42);
  for (i = 1; i <= n; i++) {
    if (i % 25 == 0) continue;
    id = sprintf("CUST-%04d", i);
    for (d = 1; d <= 28; d += 3) {
      if (i % 7 == 0 && d < 16) continue;
      printf "demo-%s-api-%02d,%s,API_CALLS,%d,%s-%02dT09:00:00Z\n", id, d, id, int(rand() * 40000), period, d;
      if (i % 3 == 0)
        printf "demo-%s-sms-%02d,%s,SMS,%d,%s-%02dT10:00:00Z\n", id, d, id, int(rand() * 500), period, d;
    }
    if (i % 10 != 0 && i % 4 == 0)
      printf "demo-%s-consult,%s,CONSULTING,%d.5,%s-20T15:00:00Z\n", id, id, 1 + i % 6, period;
  } }' > "$OUT/usage.csv"
"$BC" usage import "$OUT/usage.csv" || true

step "month-end bill run for $PERIOD"
"$BC" billrun start --period "$PERIOD"
RUN="RUN-$PERIOD-monthly"
"$BC" billrun status "$RUN" --watch

step "notifications"
i=0
pending() { "$BC" notify list --status pending --limit 1 2>/dev/null | tail -n +2 | grep -c . || true; }
sleep 2
while [ "$(pending)" -gt 0 ] && [ $i -lt 60 ]; do i=$((i + 1)); sleep 1; done
for f in var/notifications/*.jsonl; do
  [ -f "$f" ] && printf '%-45s %6d messages\n' "$f" "$(wc -l < "$f")"
done

step "feedback"
FIRST=$("$BC" invoice list --run "$RUN" --limit 1 | awk 'NR == 2 { print $1 }')
FIRST_ACC=$("$BC" invoice list --run "$RUN" --limit 1 | awk 'NR == 2 { print $2 }')
if [ -n "$FIRST" ] && ! grep -q "$FIRST" "$OUT/tickets.txt" 2>/dev/null; then
  "$BC" feedback open --account "$FIRST_ACC" --type inquiry --channel email \
    --text "Could you explain the API call charges on my invoice?" --invoice "$FIRST" | tee -a "$OUT/tickets.txt"
  T=$("$BC" feedback open --account "$FIRST_ACC" --type dispute --channel phone --priority high \
    --text "我们本月的短信用量被重复计费了，请核实。" --invoice "$FIRST" | tee -a "$OUT/tickets.txt" | grep -o 'FB-[0-9A-Za-z-]*' | head -n 1)
  if [ -n "$T" ]; then
    "$BC" feedback assign "$T" --to alice >/dev/null
    "$BC" feedback reply "$T" --text "We found a duplicated SMS batch and will credit it." >/dev/null
    "$BC" feedback resolve "$T" --outcome upheld --credit 10.00 >/dev/null
    "$BC" feedback show "$T" | head -n 20
  fi
fi
"$BC" feedback list | head -n 10

# ---- BEGIN payments, dunning and ageing (README "Payments, dunning and audit") ----
step "payments, dunning and ageing"
# Three invoices of the run: paid in full, in part, and overpaid (the excess
# becomes account credit). Fixed references: a second demo run is refused
# as duplicates, so nothing is paid twice.
"$BC" invoice list --run "$RUN" --limit 3 | awk 'NR > 1 { print $1, $5 }' > "$OUT/pay.txt"
k=0
while read -r num total; do
  k=$((k + 1))
  case $k in
    1) amt=$total; method=bank_transfer ;;
    2) amt=1; method=alipay ;;
    *) amt=$(echo "$total" | awk -F. '{ printf "%d%s%s\n", $1 + 5, (NF > 1 ? "." : ""), $2 }'); method=wechat_pay ;;
  esac
  "$BC" payment record --invoice "$num" --amount "$amt" --method "$method" --ref "DEMO-$num" 2>&1 || true
done < "$OUT/pay.txt"
LATER=$(date -u -d "$NEXT + 40 days" +%Y-%m-%d)
"$BC" dunning run --as-of "$(date -u -d "$NEXT + 28 days" +%Y-%m-%d)" || true
"$BC" dunning run --as-of "$LATER" || true
"$BC" report aging --period "$LATER"
"$BC" report aging --period "$LATER" --format html > "$OUT/aging.html" || true
"$BC" report revenue --by tier --format html > "$OUT/revenue.html" || true
# The upheld dispute above asked for a credit: feedback's CreditRequested
# becomes a credit note here (if the ticket got that far).
if [ -n "${FIRST_ACC:-}" ]; then
  i=0
  until "$BC" statement --account "$FIRST_ACC" 2>/dev/null | grep -q credit_note || [ $i -ge 10 ]; do
    i=$((i + 1)); sleep 1
  done
  "$BC" statement --account "$FIRST_ACC" || true
fi
"$BC" audit || true
echo "Ageing and revenue reports: $OUT/aging.html $OUT/revenue.html"
# ---- END payments, dunning and ageing ----

step "summary"
"$BC" billrun status "$RUN"
n=0
for num in $("$BC" invoice list --run "$RUN" --limit 200 | awk 'NR > 1 { print $1 }'); do
  n=$((n + 1))
  [ $n -gt 200 ] && break
  case $n in 1|2|3|50|100) "$BC" invoice show "$num" --format html > "$OUT/invoices/$num.html" ;; esac
done
echo
echo "Open these invoices in a browser:"
ls "$OUT"/invoices/*.html | head -n 5 | sed 's/^/  /'
echo "Notifications sent are in var/notifications/; logs in var/log/."
echo "The services keep running (clock pinned at $BILLOW_NOW); stop them with: make stop"

# --- fee change announced ahead (pricechange; README "Changing your fees") ---
# A price rise on the Japanese plan, effective about 40 days after the
# pinned clock, with a transition waiver; gold accounts are excluded. Run
# again, create and announce answer "exists" / "already announced".
step "fee change: create, preview, announce, status"
PC_ID="PC-JP-$PERIOD"
PC_EFF=$(date -u -d "$NEXT + 40 days" +%Y-%m-%d)
cat > "$OUT/pricechange.json" <<JSON
{ "id": "$PC_ID", "plan": "SAAS_STANDARD_JP", "currency": "JPY",
  "charges": [
    { "fee_item": "PLATFORM", "model": "flat", "price": "16500", "setup_fee": "30000" },
    { "fee_item": "SEATS", "model": "per_unit", "unit_price": "1300", "prorate": true,
      "overrides": { "gold": { "unit_price": "1000" } } },
    { "fee_item": "API_CALLS", "model": "graduated", "tiers": [
        { "up_to": "50000", "unit_price": "0", "flat_fee": "0" },
        { "up_to": "500000", "unit_price": "0.03" }, { "up_to": null, "unit_price": "0.02" } ] },
    { "fee_item": "SMS", "model": "volume", "tiers": [
        { "up_to": "10000", "unit_price": "8" }, { "up_to": null, "unit_price": "6.5" } ] },
    { "fee_item": "PAYMENT_PROCESSING", "model": "percentage", "percent": "3.6", "min_fee": "10" } ],
  "reason": { "en": "Data-centre and support costs in Japan rose by 12% this year.",
              "zh-CN": "今年日本的数据中心和客服成本上涨了 12%。" },
  "value": { "en": "Japanese-language support around the clock and a 99.95% availability commitment.",
             "zh-CN": "全天候日语客服，可用性承诺提升至 99.95%。" },
  "exclude": { "tiers": ["gold"] },
  "effective_date": "$PC_EFF",
  "transition": { "periods": 2, "percent": "50" },
  "min_notice_days": 30,
  "reminder_days": [30, 7, 1],
  "feedback_channels": ["phone 0120-000-000", "feedback@example.com", "the customer portal"] }
JSON
"$BC" pricechange create "$OUT/pricechange.json" >/dev/null 2>&1 || echo "($PC_ID exists already)"
"$BC" pricechange preview "$PC_ID" --limit 8
"$BC" pricechange announce "$PC_ID" || true
i=0
pc_pending() { "$BC" pricechange status "$PC_ID" --json | tr -d ' \n' | grep -o '"pending":"*[0-9]*' | grep -o '[0-9]*$' || echo 0; }
sleep 2
while [ "$(pc_pending)" != 0 ] && [ $i -lt 60 ]; do i=$((i + 1)); sleep 1; done
"$BC" pricechange status "$PC_ID"
"$BC" pricechange status "$PC_ID" --format html > "$OUT/pricechange-status.html"
echo "Fee change status page: $OUT/pricechange-status.html"
