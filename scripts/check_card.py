#!/usr/bin/env python3
"""Fail if a fresh evaluation of the shipped model falls below the figures on its card.

usage: check_card.py MODEL.card.json EVAL.json
The card's dev_report and the eval JSON are both `sendguard eval --json` reports.
"""
import json
import sys

TOLERANCE = 1e-6  # scoring is deterministic; this only absorbs float printing


def main() -> int:
    card = json.load(open(sys.argv[1]))["dev_report"]
    fresh = json.load(open(sys.argv[2]))
    want = {b["name"]: b for b in card["binary"]}
    got = {b["name"]: b for b in fresh["binary"]}
    failures = []
    for name, w in want.items():
        g = got.get(name)
        if g is None:
            failures.append(f"{name}: missing from the fresh evaluation")
            continue
        for key in ("auc", "tpr_at_fpr_0_1pct", "tpr_at_fpr_1pct", "held_at_stored_threshold"):
            if g[key] + TOLERANCE < w[key]:
                failures.append(f"{name}: {key} {g[key]:.6f} < card {w[key]:.6f}")
        if g["ham_held_at_stored_threshold"] > w["ham_held_at_stored_threshold"] + TOLERANCE:
            failures.append(
                f"{name}: ham held {g['ham_held_at_stored_threshold']:.6f} > card {w['ham_held_at_stored_threshold']:.6f}"
            )
        print(f"{name:<22} auc {g['auc']:.5f}  tpr@0.1% {g['tpr_at_fpr_0_1pct']:.4f}  (card {w['tpr_at_fpr_0_1pct']:.4f})")
    for f in failures:
        print("FAIL:", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
