#!/usr/bin/env python3
"""Read every committed map behaviour log twice, with the Empath lexicon it
was scored with and with the embedding axis (score_behaviour.py's
`embed:CONCEPT`), and tabulate the mapped direction's fraction of the
target's own CAA at equal perplexity under each. No model is run: the
logs hold the generated texts and their perplexities.

  /path/to/venv/bin/python docs/eval/map/rescore_embed.py [MAPDIR ...] > docs/eval/map/embed/summary.md

Writes docs/eval/map/embed/<map>-<log>.md, the full embed table of each
log. The venv needs scripts/requirements-behaviour.txt and
scripts/requirements-embed.txt."""

import glob
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import score_behaviour as sb  # noqa: E402

CONCEPTS = ["cooking", "music", "sports", "weather"]


def fractions(rows, spec):
    table = sb.summarise(sb.score([dict(r) for r in rows], spec))
    floor = sb.default_min_reference(spec)
    out = {}
    for t in table:
        if t["method"] in ("es-map", "random"):
            out[(t["method"], t["strength"])] = (t["shift"], sb.fraction(table, t, "caa", floor)[1])
    caa = {t["strength"]: t["shift"] for t in table if t["method"] == "caa"}
    return out, caa, table


def axis_check(concept):
    """The axis built from the even-numbered pairs of the concept file,
    read on the odd-numbered ones: the share of held-out pairs whose
    positive sentence scores above its negative one, and the held-out
    positives' and negatives' mean scores."""
    pairs = sb.concept_pairs(concept)
    fit, held = pairs[0::2], pairs[1::2]
    axis = sb.concept_axis(fit)
    hp = axis([p["positive"] for p in held])
    hn = axis([p["negative"] for p in held])
    above = sum(p > n for p, n in zip(hp, hn)) / len(held)
    return above, sum(hp) / len(hp), sum(hn) / len(hn), len(held)


def fmt(x):
    return "–" if x is None else f"{x:.2f}"


def main():
    dirs = sys.argv[1:] or ["*"]  # map folders under docs/eval/map (default: all)
    logs = sorted(p for d in dirs for p in glob.glob(os.path.join(HERE, d, "*-behaviour*.jsonl")))
    print("| concept | held-out pairs | positive above its negative | held-out positives' mean | negatives' mean |")
    print("|---|---|---|---|---|")
    for concept in CONCEPTS:
        share, p, n, k = axis_check(concept)
        print(f"| {concept} | {k} | {share:.0%} | {p:+.2f} | {n:+.2f} |")
    print()
    print(
        "| map | log | c | Empath: CAA shift | Empath: fraction | Empath: random's fraction "
        "| embed: CAA shift | embed: fraction | embed: random's fraction |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    both = []  # (Empath fraction, embed fraction) of the cells outside sports
    for log in logs:
        name = os.path.basename(log)
        concept = name.split("-")[0]
        if concept not in CONCEPTS:
            continue
        mapdir = os.path.basename(os.path.dirname(log))
        rows = sb.load([log])
        emp, emp_caa, _ = fractions(rows, f"empath:{concept}")
        emb, emb_caa, table = fractions(rows, f"embed:{concept}")
        stem = name[: -len(".jsonl")]
        with open(os.path.join(HERE, "embed", f"{mapdir}-{stem}.md"), "w", encoding="utf-8") as f:
            f.write(sb.markdown(table, "caa", sb.default_min_reference("embed:"), hits=True) + "\n")
        for c in sorted({c for (m, c) in emb if m == "es-map"}):
            fe, fb = emp[("es-map", c)][1], emb[("es-map", c)][1]
            if concept != "sports" and fe is not None and fb is not None:
                both.append((fe, fb))
            print(
                f"| {mapdir} | {stem} | {c:g} | {emp_caa.get(c, float('nan')):+.3f} "
                f"| {fmt(emp[('es-map', c)][1])} | {fmt(emp.get(('random', c), (0, None))[1])} "
                f"| {emb_caa.get(c, float('nan')):+.3f} | {fmt(emb[('es-map', c)][1])} "
                f"| {fmt(emb.get(('random', c), (0, None))[1])} |"
            )
    if len(both) > 2:
        import statistics

        r = statistics.correlation([e for e, _ in both], [b for _, b in both])
        same = sum((x >= 0.8) == (y >= 0.8) for x, y in both)
        print(
            f"\nCooking, music and weather cells with a fraction under both scorers: {len(both)}; "
            f"Pearson r {r:.2f}; median embed minus Empath {statistics.median(y - x for x, y in both):+.2f}; "
            f"on the same side of 0.8 in {same}."
        )


if __name__ == "__main__":
    main()
