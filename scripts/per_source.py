#!/usr/bin/env python3
"""Per-source breakdown of `sendguard score --json` over the corpus's dev split.

usage: per_source.py CORPUS_DIR SPLIT SCORES.jsonl
  CORPUS_DIR  ../shared/corpus (holds INDEX.tsv and SPLIT/CLASS.mbox.gz)
  SCORES.jsonl  output of: sendguard score --json CORPUS_DIR/SPLIT/*.mbox.gz

For each (class, source) it prints how many messages there are and the share that got each
verdict, so a model that learned one source's quirks instead of the content shows it.
"""
import collections
import hashlib
import json
import os

import sys

from mboxrd import messages


def main():
    corpus, split, scores_path = sys.argv[1:4]
    source_of = {}
    with open(os.path.join(corpus, "INDEX.tsv")) as f:
        next(f)
        for row in f:
            sha, sp, cls, source = row.rstrip("\n").split("\t")[:4]
            if sp == split:
                source_of[sha] = source
    keys = {}
    for name in sorted(os.listdir(os.path.join(corpus, split))):
        cls = name.split(".")[0]
        path = os.path.join(corpus, split, name)
        for i, m in enumerate(messages(path)):
            keys[(name, i)] = (cls, source_of.get(hashlib.sha256(m).hexdigest(), "?"))
    table = collections.defaultdict(collections.Counter)
    with open(scores_path) as f:
        for line in f:
            row = json.loads(line)
            key = (os.path.basename(row["input"]), row["index"])
            cls, source = keys.get(key, ("?", "?"))
            table[(cls, source)][row.get("verdict", "error")] += 1
    print(f"{'class':<9} {'source':<13} {'n':>6} {'pass':>7} {'tag':>7} {'hold':>7} {'reject':>7} {'error':>6}")
    for (cls, source), c in sorted(table.items()):
        n = sum(c.values())
        cells = " ".join(f"{c[v] / n:>7.4f}" for v in ("pass", "tag", "hold", "reject"))
        print(f"{cls:<9} {source:<13} {n:>6} {cells} {c['error']:>6}")


if __name__ == "__main__":
    main()
