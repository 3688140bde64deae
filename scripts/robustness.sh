#!/usr/bin/env bash
# Checks that the shipped model learned the scam and not the corpus: verdicts per corpus source,
# and verdicts when the same text is re-wrapped in other MIME forms.
# usage: scripts/robustness.sh [CORPUS_DIR]   (default ../shared/corpus)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-../shared/corpus}
cargo build --release --quiet
bin=./target/release/sendguard
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== verdicts per source (dev)"
"$bin" score --json "$corpus"/dev/*.mbox.gz > "$work/dev.jsonl" || true
python3 scripts/per_source.py "$corpus" dev "$work/dev.jsonl"

echo
echo "== verdicts with the same text re-wrapped (dev; neutral headers in every variant)"
printf '%-9s %-12s %6s %7s %7s %7s %7s\n' class wrapping n pass tag hold reject
for class in fraud phishing ham; do
  python3 scripts/rewrap.py "$corpus/dev/$class.mbox.gz" "$work/$class"
  for kind in plain8bit base64 qp html alternative; do
    { "$bin" score --json "$work/$class/$kind.mbox" || true; } | python3 -c '
import collections, json, sys
c = collections.Counter(json.loads(l).get("verdict", "error") for l in sys.stdin)
n = sum(c.values())
print(f"%-9s %-12s {n:>6} " % (sys.argv[1], sys.argv[2]) + " ".join(f"{c[v] / n:>7.4f}" for v in ("pass", "tag", "hold", "reject")))
' "$class" "$kind"
  done
done
