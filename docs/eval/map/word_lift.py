#!/usr/bin/env python3
"""Which words a steering direction adds to the text: for each method of a
behaviour log at strength C, the words in the most more of its texts than
of the unsteered continuations of the same prompts, each marked with `*`
where it is in the Empath category that scored the cell.

  python3 docs/eval/map/word_lift.py LOG.jsonl C CATEGORY [--top 20]"""

import argparse
import json
import re
from collections import Counter


def texts_with(rows, method, strength):
    out = Counter()
    for r in rows:
        if r["method"] == method and (method == "none" or abs(r["strength"] - strength) < 1e-9):
            out.update(set(re.findall(r"[a-z]+", r["text"].lower())))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log")
    ap.add_argument("strength", type=float)
    ap.add_argument("category")
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    from empath import Empath

    lexicon = set(Empath().cats[a.category])
    rows = [json.loads(line) for line in open(a.log, encoding="utf-8") if line.strip()]
    base = texts_with(rows, "none", 0.0)
    methods = sorted({r["method"] for r in rows} - {"none"})
    for m in methods:
        got = texts_with(rows, m, a.strength)
        lift = sorted(got, key=lambda w: (-(got[w] - base[w]), w))[: a.top]
        words = ", ".join(f"{w}{'*' if w in lexicon else ''} +{got[w] - base[w]}" for w in lift)
        in_lex = sum(got[w] - base[w] for w in lift if w in lexicon)
        total = sum(got[w] - base[w] for w in lift)
        print(f"{m} (c = {a.strength:g}): {words}  [{in_lex} of the top {a.top}'s {total} added texts are Empath {a.category}]")


if __name__ == "__main__":
    main()
