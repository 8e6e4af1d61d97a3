# The event types each service fetches from a stream (the lists in
# services/*/main.c) must be exactly the types its apply function acts on:
# a type missing from a list is never sent to it, so its events would be
# dropped without a word. This reads each apply function named in a
# bw_service_consume call, and the per-event handler it gives
# bw_events_apply, collects the BILLOW__EVENT__BODY_ cases they test, and
# compares them with the list passed beside it.
. tests/integration/lib.sh
python3 - <<'EOF' || fail "a type list does not match its apply function"
import glob, re, sys

# Oneof field (ACCOUNT_CHANGED) -> event type name (AccountChanged).
proto = open("proto/events.proto").read()
oneof = proto[proto.index("oneof body"):]
types = {f.upper(): t for t, f in re.findall(r"^\s*(\w+)\s+(\w+)\s*=\s*\d+;", oneof, re.M)}

def body(src, name):
    m = re.search(r"^(?:static )?int " + name + r"\(.*?^\{(.*?)^\}", src, re.M | re.S)
    return m.group(1) if m else None

def handled(svc, fn):
    for path in glob.glob(f"services/{svc}/*.c"):
        if path.endswith("main.c"):
            continue
        src = open(path).read()
        b = body(src, fn)
        if b is None:
            continue
        cases = set(re.findall(r"BILLOW__EVENT__BODY_(\w+)", b))
        for h in re.findall(r"bw_events_apply\(\s*\w+,\s*\w+,\s*\w+,\s*\w+,\s*(\w+)", b):
            hb = body(src, h)
            if hb is None:
                sys.exit(f"{path}: cannot find the handler {h} of {fn}")
            cases |= set(re.findall(r"BILLOW__EVENT__BODY_(\w+)", hb))
        return {types[c] for c in cases}
    sys.exit(f"services/{svc}: cannot find the apply function {fn}")

checked = 0
bad = 0
for main in sorted(glob.glob("services/*/main.c")):
    svc = main.split("/")[1]
    src = open(main).read()
    lists = {n: re.findall(r'"(\w+)"', v) for n, v in
             re.findall(r"static const char \*const (\w+)\[\] = \{(.*?)\};", src, re.S)}
    for producer, fn, lst in re.findall(
            r'bw_service_consume\(\s*svc,\s*"(\w+)",\s*(\w+),\s*[^,]+,\s*(\w+)\)', src):
        want = handled(svc, fn)
        if lst == "NULL":
            print(f"ok: {svc} takes every type from {producer}")
            checked += 1
            continue
        if lst not in lists:
            sys.exit(f"{main}: no list named {lst}")
        have = set(lists[lst])
        unknown = have - set(types.values())
        if unknown or want != have:
            print(f"{main}: {producer} -> {fn}: handles {sorted(want)}, list {lst} has "
                  f"{sorted(have)}" + (f" (no such event types: {sorted(unknown)})" if unknown else ""))
            bad += 1
        else:
            print(f"ok: {svc} fetches {sorted(have)} from {producer}")
        checked += 1
    if "bw_service_consume(" in src and checked == 0:
        sys.exit(f"{main}: could not read its bw_service_consume calls")
if checked < 10:
    sys.exit(f"only {checked} subscriptions found; the parser no longer matches the sources")
sys.exit(1 if bad else 0)
EOF
echo PASS
