#!/usr/bin/env bash
# Recreates the fuzz corpora (fuzz/corpus/, not committed) from the repository's fixtures and
# a sample of ../shared/corpus/dev, when that exists:
#   corpus/score  every fixture message, data/examples and data/extra, and PER_CLASS messages
#                 of each dev class (every k-th message, so the sample spans each file)
#   corpus/view   the same seeds
#   corpus/mbox   the mbox fixture, small mboxes cut from the dev files, plain and gzip
# usage: fuzz/seed.sh [PER_CLASS]   (default 100)
set -euo pipefail
cd "$(dirname "$0")"
per_class=${1:-100}
root=..
dev=$root/../shared/corpus/dev

rm -rf corpus/score corpus/view corpus/mbox
mkdir -p corpus/score corpus/view corpus/mbox

# Fixture messages and examples, named by content so reruns give the same file names.
seed() { cp "$1" "corpus/score/$(sha1sum "$1" | cut -c1-16)"; }
while IFS= read -r -d '' f; do
  case "$f" in
    *.mbox) cp "$f" corpus/mbox/ ;;
    *.md) ;;
    *) seed "$f" ;;
  esac
done < <(find "$root/tests/fixtures" "$root/data/examples" "$root/data/extra" -type f -print0)

if [ -d "$dev" ]; then
  python3 - "$dev" "$per_class" <<'PY'
import gzip, hashlib, os, re, sys

dev, per_class = sys.argv[1], int(sys.argv[2])
escaped = re.compile(rb"^>(>*From )")

def messages(path):
    """mboxrd as the MANIFEST describes it: From_ lines after a blank line, one '>' escaped."""
    msg, prev_blank = None, True
    with gzip.open(path, "rb") as f:
        for line in f:
            if line.startswith(b"From ") and prev_blank:
                if msg is not None:
                    yield b"".join(msg[:-1] if msg and msg[-1] == b"\n" else msg)
                msg = []
            elif msg is not None:
                msg.append(escaped.sub(rb"\1", line))
            prev_blank = line in (b"\n", b"\r\n")
    if msg:
        yield b"".join(msg)

for name in sorted(os.listdir(dev)):
    if not name.endswith(".mbox.gz"):
        continue
    msgs = [m for m in messages(os.path.join(dev, name)) if len(m) <= 256 * 1024]
    step = max(1, len(msgs) // per_class)
    sample = msgs[::step][:per_class]
    for m in sample:
        with open("corpus/score/" + hashlib.sha1(m).hexdigest()[:16], "wb") as out:
            out.write(m)
    # Small mboxes for the mbox target: 3 to 5 messages each, plain and gzip.
    for k in range(0, min(len(sample), 40), 5):
        box = b"".join(b"From corpus@localhost Thu Jan  1 00:00:00 1970\n"
                       + re.sub(rb"(?m)^(>*From )", rb">\1", m) + b"\n"
                       for m in sample[k:k + 3 + k % 3])
        if len(box) > 128 * 1024:
            continue
        stem = "corpus/mbox/%s-%02d" % (name.split(".")[0], k)
        with open(stem + ".mbox", "wb") as out:
            out.write(box)
        with open(stem + ".mbox.gz", "wb") as out:
            out.write(gzip.compress(box, mtime=0))
    print(f"{name}: {len(sample)} of {len(msgs)} messages", file=sys.stderr)
PY
else
  echo "$dev not found: seeding from the repository's fixtures only" >&2
fi

# The view target reads the same messages; single messages are also plain input to mbox.
cp corpus/score/* corpus/view/
find corpus/score -type f | sort | sed -n 1,50p | while read -r f; do cp "$f" "corpus/mbox/single-${f##*/}"; done
echo "seeded: score $(ls corpus/score | wc -l), view $(ls corpus/view | wc -l), mbox $(ls corpus/mbox | wc -l)" >&2
