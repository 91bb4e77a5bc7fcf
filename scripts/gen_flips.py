#!/usr/bin/env python3
"""Questions whose verdict a condition changed against no steering, both
answers side by side, from an `expertsteer eval gen` log (Markdown on stdout).

Usage: scripts/gen_flips.py LOG CONDITION [N]
  CONDITION  LABEL:C (a steering file at strength C) or cue (the prompt cue)
  N          at most this many of each kind (lost, gained), default 3
"""
import json
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    log, cond = sys.argv[1], sys.argv[2]
    most = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rows = [json.loads(l) for l in open(log) if l.strip()]
    base = {}
    other = {}
    for r in rows:
        key = (r["model"], r["question"], r["split"], r.get("mode", "line"), r["max_tokens"], r["shots"])
        if r["steering"] == "none" and not r.get("cue"):
            base[key] = r
        elif cond == "cue" and r["steering"] == "none" and r.get("cue"):
            other[key] = r
        elif cond != "cue" and ":" in cond:
            label, c = cond.rsplit(":", 1)
            if r["steering"] == label and abs(r["strength"] - float(c)) < 1e-6:
                other[key] = r
    shown = {"lost": 0, "gained": 0}
    for key, r in other.items():
        b = base.get(key)
        if b is None or b["correct"] == r["correct"]:
            continue
        kind = "gained" if r["correct"] else "lost"
        if shown[kind] >= most:
            continue
        shown[kind] += 1
        print(f"**{key[1]} ({key[2]}), {cond}: {kind}** (answer {r['targets'][0]})\n")
        print("| no steering | " + cond + " |\n|---|---|")
        cell = lambda s: s.strip().replace("|", "\\|").replace("\n", "<br>")
        print(f"| {cell(b['answer'])} | {cell(r['answer'])} |\n")
    n = sum(1 for k in other if k in base)
    print(f"({n} questions with both; shown {shown['lost']} lost, {shown['gained']} gained)")


if __name__ == "__main__":
    main()
