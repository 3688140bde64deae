#!/usr/bin/env bash
# `sendguard batch --postfix-queue` against a real, loopback-only Postfix (tests/postfix/sandbox.sh).
#
# Usage: tests/postfix/batch.sh        (root; installs Postfix and swaks from Debian if missing)
#
# What it does:
#   1. brings the sandbox up, empties its queue and turns `defer_transports = sink` on, so
#      every message waits in the deferred queue;
#   2. queues four messages with swaks: ordinary business mail and a scam letter that stay
#      deferred, and ordinary business mail and another scam letter put on hold with postsuper -h;
#   3. runs `sendguard batch --postfix-queue hold|deferred|all --output jsonl` and checks (with
#      python3) that every queued ID appears once, in the right queue, with its envelope
#      sender, that the scam letters are held or rejected and the business mail passes;
#   4. runs `--hold-flagged` (a dry run: the queue must not change, and only the deferred scam
#      is announced as `would hold`), then `--hold-flagged --apply`, after which `postqueue -j`
#      must show the deferred scam in the hold queue and the business mail still deferred;
#   5. deletes the queued mail, turns deferral off, and stops Postfix if it was not running
#      before.
# Any failed check prints `batch.sh: FAIL: ...` and exits 1.
#
# Environment:
#   SENDGUARD     the binary to test (default: `cargo build` and target/debug/sendguard)
#   SANDBOX_*     passed on to sandbox.sh (port, sink file, log, milter; see there)
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tests/postfix
export PATH="$PATH:/usr/sbin:/sbin"
port=${SANDBOX_PORT:-2525}

fail() {
  echo "batch.sh: FAIL: $*" >&2
  exit 1
}
step() { echo "batch.sh: $*" >&2; }

[ "$(id -u)" = 0 ] || fail "needs root (Postfix's queue is root's)"
command -v python3 >/dev/null || fail "python3 is needed for the checks"

if [ -z "${SENDGUARD:-}" ]; then
  cargo build --locked --quiet --bin sendguard
  SENDGUARD=${CARGO_TARGET_DIR:-target}/debug/sendguard
fi
[ -x "$SENDGUARD" ] || fail "no sendguard binary at $SENDGUARD"

work=$(mktemp -d)
was_running=no
if command -v postfix >/dev/null && postfix status >/dev/null 2>&1; then
  was_running=yes
fi
cleanup() {
  local rc=$?
  postsuper -d ALL >/dev/null 2>&1 || true
  bash "$here/sandbox.sh" defer off >/dev/null 2>&1 || true
  if [ "$was_running" = no ]; then
    bash "$here/sandbox.sh" stop || true
  fi
  rm -rf "$work"
  if [ "$rc" = 0 ]; then
    step "all checks passed"
  else
    step "failed (exit $rc); Postfix's log: ${SANDBOX_LOG:-/var/log/postfix.log}"
  fi
  exit "$rc"
}
trap cleanup EXIT

bash "$here/sandbox.sh" up
bash "$here/sandbox.sh" clean
bash "$here/sandbox.sh" defer on

# Queue FILE from SENDER; print the queue ID Postfix gave it.
send() {
  local out id
  out=$(swaks --server 127.0.0.1 --port "$port" --helo client.test --from "$2" \
    --to bob@example.com --data "@$1" 2>&1) || {
    echo "$out" >&2
    fail "swaks could not queue $1"
  }
  id=$(sed -n 's/.*Ok: queued as \([0-9A-Za-z]*\).*/\1/p' <<<"$out" | tail -n 1)
  [ -n "$id" ] || {
    echo "$out" >&2
    fail "no queue ID in swaks' transcript for $1"
  }
  echo "$id"
}

# The queue each listed message is in, as "ID QUEUE" lines sorted by ID.
queue_state() { bash "$here/sandbox.sh" queue; }

# Wait until every "ID QUEUE" pair given is what postqueue -j shows.
wait_for() {
  local want i
  want=$(printf '%s\n' "$@" | sort)
  for i in $(seq 1 100); do
    if [ "$(queue_state)" = "$want" ]; then
      return 0
    fi
    sleep 0.2
  done
  echo "want:" >&2
  echo "$want" >&2
  echo "have:" >&2
  queue_state >&2
  fail "the queue did not reach the expected state"
}

step "queueing four messages"
biz_def=$(send tests/fixtures/cli/business.eml priya@localhost)
scam_def=$(send data/examples/scam-compensation.eml alice@localhost)
biz_hold=$(send data/examples/business-invoice.eml kvogel@localhost)
scam_hold=$(send tests/fixtures/cli/scam.eml mallory@localhost)
wait_for "$biz_def deferred" "$scam_def deferred" "$biz_hold deferred" "$scam_hold deferred"
printf '%s\n' "$biz_hold" "$scam_hold" | postsuper -h - 2>/dev/null
wait_for "$biz_def deferred" "$scam_def deferred" "$biz_hold hold" "$scam_hold hold"

# Run sendguard batch ARGS...; stdout to $work/out, stderr to $work/err, status to $rc.
batch() {
  rc=0
  "$SENDGUARD" batch "$@" >"$work/out" 2>"$work/err" || rc=$?
}

# Check the jsonl rows in $work/out: ROWS is "ID QUEUE SENDER EXPECT" per line, EXPECT being
# pass or flagged (hold or reject).
check_rows() {
  python3 - "$work/out" "$1" <<'PY' || { cat "$work/err" >&2; fail "rows of: $2"; }
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
want = [l.split() for l in sys.argv[2].strip().splitlines()]
problems = []
got_ids = sorted(r.get("queue_id") or "?" for r in rows)
want_ids = sorted(w[0] for w in want)
if got_ids != want_ids:
    problems.append(f"queue IDs {got_ids}, want {want_ids}")
by_id = {r.get("queue_id"): r for r in rows}
for qid, queue, sender, expect in want:
    r = by_id.get(qid)
    if r is None:
        continue
    if "error" in r:
        problems.append(f"{qid}: error {r['error']}")
        continue
    if r["queue"] != queue or r["input"] != f"postfix:{queue}/{qid}":
        problems.append(f"{qid}: queue {r['queue']!r}, input {r['input']!r}, want {queue}")
    if r["sender"] != sender:
        problems.append(f"{qid}: sender {r['sender']!r}, want {sender}")
    verdict = r["verdict"]
    if expect == "pass" and verdict != "pass":
        problems.append(f"{qid}: verdict {verdict}, want pass")
    if expect == "flagged" and verdict not in ("hold", "reject"):
        problems.append(f"{qid}: verdict {verdict}, want hold or reject")
for p in problems:
    print("  " + p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
}

expect_status() {
  [ "$rc" = "$1" ] || {
    cat "$work/err" >&2
    fail "$2: exit status $rc, want $1"
  }
}

step "batch --postfix-queue hold"
batch --postfix-queue hold --output jsonl
expect_status 1 "hold queue (a scam letter is in it)"
check_rows "
$biz_hold hold kvogel@localhost pass
$scam_hold hold mallory@localhost flagged" "--postfix-queue hold"

step "batch --postfix-queue deferred"
batch --postfix-queue deferred --output jsonl --jobs 1
expect_status 1 "deferred queue"
check_rows "
$biz_def deferred priya@localhost pass
$scam_def deferred alice@localhost flagged" "--postfix-queue deferred"

step "batch --postfix-queue all"
batch --postfix-queue all --output jsonl --jobs 2
expect_status 1 "all queues"
check_rows "
$biz_def deferred priya@localhost pass
$scam_def deferred alice@localhost flagged
$biz_hold hold kvogel@localhost pass
$scam_hold hold mallory@localhost flagged" "--postfix-queue all"
python3 - "$work/out" "$scam_def" <<'PY' || fail "the deferred scam letter is not fraud with reasons"
import json, sys
row = next(json.loads(l) for l in open(sys.argv[1]) if json.loads(l).get("queue_id") == sys.argv[2])
assert row["class"] == "fraud", row
assert row["reasons"] and row["reasons"][0]["contribution"] > 0, row
PY
grep -q "verdicts: pass 2  tag 0  hold" "$work/err" || {
  cat "$work/err" >&2
  fail "summary counts"
}

step "batch --hold-flagged (dry run)"
before=$(queue_state)
batch --postfix-queue all --hold-flagged
expect_status 1 "dry run"
grep -q "^would hold $scam_def (" "$work/err" || {
  cat "$work/err" >&2
  fail "the dry run does not announce $scam_def"
}
[ "$(grep -c '^would hold ' "$work/err")" = 1 ] || {
  cat "$work/err" >&2
  fail "the dry run announces more than the deferred scam letter"
}
sleep 0.5
[ "$(queue_state)" = "$before" ] || fail "the dry run changed the queue"

step "batch --hold-flagged --apply"
batch --postfix-queue all --hold-flagged --apply
expect_status 1 "apply"
grep -q "^held $scam_def (" "$work/err" || {
  cat "$work/err" >&2
  fail "--apply did not report holding $scam_def"
}
wait_for "$biz_def deferred" "$scam_def hold" "$biz_hold hold" "$scam_hold hold"
