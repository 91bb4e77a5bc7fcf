#!/usr/bin/env python3
"""How well the ridge map predicts the target's states along each concept's
own CAA direction, on held-out generic text, next to random directions.

    python3 docs/eval/map/directional_r2.py ROWS ABLATION_OUT

ROWS is a `map --dump-rows` folder; ABLATION_OUT the OUT of
mlp-ablation.sh (its <concept>/target-{pos,neg}.npy give the directions).
Each target layer is fitted from the expert layer mlp_ablation.py chose
(the best ridge R²), with the λ it chose, on the fit texts; R² is over the
held-out texts (every fifth), along one unit direction at a time in the
standardised target space.
"""

import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402

from mlp_ablation import Ridge, r2_score  # noqa: E402  (same folder)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows, abl = sys.argv[1], sys.argv[2]
    meta = json.load(open(os.path.join(rows, "rows.json")))
    n, d_e, d_t = meta["rows"], meta["d_expert"], meta["d_target"]
    texts = np.fromfile(os.path.join(rows, "text.u32"), dtype="<u4")[:n]
    every = meta["held_out_every"]
    held = texts % every == every - 1
    fit = ~held
    chosen = json.load(open(os.path.join(abl, "results.json")))["results"]
    rng = np.random.default_rng(0)
    concepts = sorted(
        c for c in os.listdir(abl) if os.path.exists(os.path.join(abl, c, "target-pos.npy"))
    )
    print("| target ← expert | all directions | random directions, median (5-95 %) | " + " | ".join(concepts) + " |")
    print("|---|---|---|" + "---|" * len(concepts))
    for r in chosen:
        e, t, lam = r["expert_layer"], r["target_layer"], r["lambda"]
        ti = meta["target_layers"].index(t)
        x = np.fromfile(os.path.join(rows, f"expert.L{e}.f32"), dtype="<f4").reshape(n, d_e)
        y = np.fromfile(os.path.join(rows, f"target.L{t}.f32"), dtype="<f4").reshape(n, d_t)
        xm, xs = x[fit].mean(0), x[fit].std(0) + 1e-6
        ym, ys = y[fit].mean(0), y[fit].std(0) + 1e-6
        xs_ = ((x - xm) / xs).astype(np.float64)
        ys_ = ((y - ym) / ys).astype(np.float64)
        pred, true = Ridge(xs_[fit], ys_[fit], lam)(xs_[held]), ys_[held]

        def r2_along(u):
            u = u / np.linalg.norm(u)
            a, b = true @ u, pred @ u
            return 1.0 - ((a - b) ** 2).sum() / ((a - a.mean()) ** 2).sum()

        overall = r2_score(pred, true)
        rand = [r2_along(rng.standard_normal(d_t)) for _ in range(200)]
        cells = []
        for c in concepts:
            tp = np.load(os.path.join(abl, c, "target-pos.npy"))[:, ti]
            tn = np.load(os.path.join(abl, c, "target-neg.npy"))[:, ti]
            cells.append(f"{r2_along((tp.mean(0) - tn.mean(0)) / ys):.2f}")
        print(
            f"| {t} ← {e} | {overall:.2f} | {np.median(rand):.2f} ({np.percentile(rand, 5):.2f}-{np.percentile(rand, 95):.2f}) | "
            + " | ".join(cells)
            + " |"
        )


if __name__ == "__main__":
    main()
