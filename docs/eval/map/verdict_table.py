#!/usr/bin/env python3
"""Tabulate verdict.sh's logs: for every concept and steering method, the
shift against the unsteered text and the fraction of SmolLM2's own CAA
at equal perplexity (score_behaviour.py's rule), read by Empath and by
the embedding, each fraction with a bootstrap 95% interval over prompts.

The interval resamples the prompts (the same draw for every method, so
CAA's curve and the method's shift move together), recomputes each
cell's mean shift and mean log-perplexity, and takes the fraction again;
a draw where the fraction is undefined (the method's perplexity outside
CAA's sweep, or CAA's shift under the scorer's floor) is left out, and
the share of draws that gave one is printed beside it.

  /path/to/venv/bin/python docs/eval/map/verdict_table.py DIR [--concepts cooking,music,...] [--prompts 0-49]

DIR holds one folder per concept with its behaviour.jsonl (runs/verdict,
or the committed docs/eval/map/verdict). The venv needs
scripts/requirements-behaviour.txt and scripts/requirements-embed.txt."""

import argparse
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "scripts"))
import score_behaviour as sb  # noqa: E402

RESAMPLES = 1000


def fractions(rows, spec, seed=0):
    """(method, c) -> (summary row, fraction or None, [lo, hi] or None,
    share of resamples with a fraction)."""
    scored = sb.score([dict(r) for r in rows], spec)
    table = sb.summarise(scored)
    by_prompt = {}
    for r in scored:
        by_prompt.setdefault(r["prompt_id"], []).append(r)
    ids = sorted(by_prompt)
    floor = sb.default_min_reference(spec)
    rng = random.Random(seed)
    draws = {(t["method"], t["strength"]): [] for t in table}
    for _ in range(RESAMPLES):
        # A draw of prompts with repeats: the k-th drawn prompt's rows
        # under the id k, summarised by score_behaviour itself.
        drawn = [dict(r, prompt_id=k) for k in range(len(ids)) for r in by_prompt[rng.choice(ids)]]
        tb = sb.summarise(drawn, ci=False)
        for t in tb:
            if t["method"] not in (sb.UNSTEERED, "caa"):
                f = sb.fraction(tb, t, "caa", floor)[1]
                if f is not None:
                    draws[(t["method"], t["strength"])].append(f)
    out = {}
    for t in table:
        key = (t["method"], t["strength"])
        f = None if t["method"] in (sb.UNSTEERED, "caa") else sb.fraction(table, t, "caa", floor)[1]
        d = sorted(draws[key])
        ci = [d[int(0.025 * len(d))], d[min(len(d) - 1, int(0.975 * len(d)))]] if len(d) >= 20 else None
        out[key] = (t, f, ci, len(d) / RESAMPLES)
    return out


def fmt_frac(f, ci, share):
    if f is None:
        return "–"
    s = f"**{f:.2f}**" if f >= 0.8 else f"{f:.2f}"
    if ci:
        s += f" [{ci[0]:.2f}, {ci[1]:.2f}]"
    if share < 0.95:
        s += f" ({share:.0%} of draws)"
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--concepts", default="cooking,music,weather,sports")
    ap.add_argument(
        "--prompts",
        help="only the prompts of these places in open_prompts.jsonl, FIRST-LAST "
        "(0-49: the 50 that every earlier cell read; 50-149: the rest)",
    )
    a = ap.parse_args()
    keep = lambda r: True  # noqa: E731
    if a.prompts:
        first, last = (int(x) for x in a.prompts.split("-"))
        keep = lambda r: first <= int(r["prompt_id"].lstrip("p")) <= last  # noqa: E731
    print(
        "| concept | method | c | n | Empath shift [95% CI] | hits | ppl | Empath: fraction of CAA [95% CI] "
        "| embed shift [95% CI] | embed: fraction of CAA [95% CI] |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for concept in a.concepts.split(","):
        log = os.path.join(a.dir, concept, "behaviour.jsonl")
        if not os.path.exists(log):
            print(f"{log}: missing, skipped", file=sys.stderr)
            continue
        rows = [r for r in sb.load([log]) if keep(r)]
        emp = fractions(rows, f"empath:{concept}")
        emb = fractions(rows, f"embed:{concept}")
        order = {"caa": 0, "random": 9}
        for key in sorted(emp, key=lambda k: (order.get(k[0], 1), k[0], k[1])):
            if key[0] == sb.UNSTEERED:
                continue
            t, f, ci, share = emp[key]
            u, g, cj, share2 = emb[key]
            print(
                f"| {concept} | {key[0]} | {key[1]:g} | {t['n']} "
                f"| {t['shift']:+.3f} [{t['ci_lo']:+.3f}, {t['ci_hi']:+.3f}] | {t['hits']:.0%} | {t['ppl_mean']:.2f} "
                f"| {fmt_frac(f, ci, share)} "
                f"| {u['shift']:+.3f} [{u['ci_lo']:+.3f}, {u['ci_hi']:+.3f}] | {fmt_frac(g, cj, share2)} |"
            )


if __name__ == "__main__":
    main()
