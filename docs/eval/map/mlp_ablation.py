#!/usr/bin/env python3
"""The non-linear map ablation (issue: the token-level map, item 5).

Fits, on the paired rows `expertsteer map --dump-rows` kept, for each
dumped target layer and the expert layer whose ridge map into it has the
best held-out R² (`--pair-by r2`):

  ridge       the map `expertsteer map` fits (both sides standardised,
              λ from the same grid, chosen on held-out texts);
  mlp         one hidden layer (ReLU), no linear path;
  ridge+mlp   the ridge's linear path plus one hidden layer, trained
              together from the ridge's weights;

and a shuffled control of each (target rows permuted before fitting).

Held-out texts (every fifth, as `map` holds out) are split in two by text:
one half picks λ and stops training early, the other reports R². The
concept cosines compare the direction each map carries — mean f(x+) −
mean f(x−) over the expert's last-token states of a concept's texts —
with the target's own CAA at the same layer (mean difference of its own
states), as EVALUATION's tables do; for ridge+mlp also its linear part
alone. Concept states come from `expertsteer capture` (.npy, [n, layers,
d]); see docs/eval/map/mlp-ablation.sh.

numpy only; one BLAS thread unless OMP_NUM_THREADS says otherwise.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

LAMBDAS = [1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 1.0, 10.0]


def load_rows(d, side, layer, width, n):
    path = os.path.join(d, f"{side}.L{layer}.f32")
    return np.memmap(path, dtype="<f4", mode="r", shape=(n, width))


def r2_score(pred, y):
    """R² over every standardised dimension together (as `map` reports)."""
    sse = float(((pred - y) ** 2).sum())
    sst = float(((y - y.mean(axis=0)) ** 2).sum())
    return 1.0 - sse / sst


class Ridge:
    def __init__(self, x, y, lam):
        # x, y standardised; closed form in the eigenbasis of XᵀX/n.
        n = x.shape[0]
        self.vals, self.vecs = np.linalg.eigh((x.T @ x) / n)
        self.proj = self.vecs.T @ ((x.T @ y) / n)
        self.set_lambda(lam)

    def set_lambda(self, lam):
        g = 1.0 / (np.maximum(self.vals, 0.0) + lam)
        self.w = (self.vecs * g) @ self.proj  # [d_x, d_y]
        return self

    def __call__(self, x):
        return x @ self.w


class Mlp:
    """y = x·A (when linear) + relu(x·U + c)·V + b, trained with Adam on MSE."""

    def __init__(self, d_x, d_y, hidden, rng, linear=None):
        self.U = (rng.standard_normal((d_x, hidden)) * np.sqrt(2.0 / d_x)).astype(np.float32)
        self.c = np.zeros(hidden, np.float32)
        self.V = np.zeros((hidden, d_y), np.float32)
        self.b = np.zeros(d_y, np.float32)
        self.A = None if linear is None else linear.astype(np.float32).copy()
        self.params = ["U", "c", "V", "b"] + ([] if self.A is None else ["A"])
        self.m = {k: np.zeros_like(getattr(self, k)) for k in self.params}
        self.v = {k: np.zeros_like(getattr(self, k)) for k in self.params}
        self.t = 0

    def __call__(self, x, linear_only=False):
        out = np.broadcast_to(self.b, (x.shape[0], self.b.shape[0])).copy()
        if self.A is not None:
            out += x @ self.A
        if not linear_only:
            out += np.maximum(x @ self.U + self.c, 0.0) @ self.V
        return out

    def step(self, x, y, lr, wd):
        h_pre = x @ self.U + self.c
        h = np.maximum(h_pre, 0.0)
        pred = h @ self.V + self.b
        if self.A is not None:
            pred += x @ self.A
        g = (2.0 / x.shape[0]) * (pred - y)
        grads = {"V": h.T @ g, "b": g.sum(0)}
        gh = (g @ self.V.T) * (h_pre > 0)
        grads["U"] = x.T @ gh
        grads["c"] = gh.sum(0)
        if self.A is not None:
            grads["A"] = x.T @ g
        self.t += 1
        b1, b2 = 0.9, 0.999
        for k in self.params:
            p = getattr(self, k)
            gk = grads[k] + (wd * p if k in ("U", "V") else 0.0)
            self.m[k] = b1 * self.m[k] + (1 - b1) * gk
            self.v[k] = b2 * self.v[k] + (1 - b2) * gk * gk
            mh = self.m[k] / (1 - b1**self.t)
            vh = self.v[k] / (1 - b2**self.t)
            p -= (lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)

    def snapshot(self):
        return {k: getattr(self, k).copy() for k in self.params}

    def restore(self, snap):
        for k, v in snap.items():
            setattr(self, k, v)


def train(model, xtr, ytr, xva, yva, args, rng, label):
    best, best_r2, bad = model.snapshot(), -np.inf, 0
    for epoch in range(args.epochs):
        t0 = time.time()
        order = rng.permutation(xtr.shape[0])
        for s in range(0, len(order), args.batch):
            idx = order[s : s + args.batch]
            model.step(xtr[idx], ytr[idx], args.lr, args.wd)
        r2 = r2_score(model(xva), yva)
        print(f"  {label} epoch {epoch + 1}: validation R² {r2:.4f} ({time.time() - t0:.0f} s)", file=sys.stderr)
        if r2 > best_r2 + 1e-4:
            best, best_r2, bad = model.snapshot(), r2, 0
        else:
            bad += 1
            if bad >= args.patience:
                break
    model.restore(best)
    return best_r2


def cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


MAPS = ["ridge", "mlp", "ridge+mlp", "ridge+mlp (linear part)"]


def markdown(results):
    """The tables of EVALUATION's ablation: R² and cosines per map."""
    out = [
        "Test R²: the held-out texts' second half (the first picks λ and stops training). "
        "Cosines: the carried direction (mean f(x+) − mean f(x−)) against the target's own CAA "
        "at the same layer; in brackets, carried from one half of the texts against CAA from the other half.",
        "",
    ]
    for r in results:
        for tag, m in r["maps"].items():
            out.append(f"## target layer {r['target_layer']} ← expert layer {r['expert_layer']} ({tag} map, λ {r['lambda']:g})")
            out.append("")
            out.append("| | " + " | ".join(MAPS) + " | random | target CAA split-half |")
            out.append("|---|" + "---|" * (len(MAPS) + 2))
            out.append("| test R² | " + " | ".join(f"{m['test_r2'][k]:.3f}" for k in MAPS) + " | | |")
            secs = [f"{m['seconds'][k]:.0f}" if k in m["seconds"] else "(same)" for k in MAPS]
            out.append("| fit seconds | " + " | ".join(secs) + " | | |")
            for c, v in m["cosine"].items():
                cells = [f"{v[k]:+.2f} ({v[k + ' (other half)']:+.2f})" for k in MAPS]
                out.append(f"| {c} | " + " | ".join(cells) + f" | {v['random']:+.2f} | {v['target split-half']:.2f} |")
            out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", help="the --dump-rows folder")
    ap.add_argument("--markdown", help="also write the tables here")
    ap.add_argument("--from-json", help="only write --markdown from an earlier --out")
    ap.add_argument("--concepts", nargs="*", default=[], help="NAME=EXPERT_POS.npy,EXPERT_NEG.npy,TARGET_POS.npy,TARGET_NEG.npy")
    ap.add_argument("--expert-layers", required=False, help="layers of the expert .npy files, comma separated, in order")
    ap.add_argument("--target-npy-layers", required=False, help="layers of the target .npy files, comma separated, in order")
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--patience", type=int, default=3)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-shuffled", action="store_true", help="skip the shuffled controls")
    ap.add_argument("--out", help="write the results here as JSON")
    args = ap.parse_args()
    if args.from_json:
        results = json.load(open(args.from_json))["results"]
        text = markdown(results)
        if args.markdown:
            open(args.markdown, "w").write(text + "\n")
        print(text)
        return
    if not args.rows:
        ap.error("--rows is needed (or --from-json)")

    meta = json.load(open(os.path.join(args.rows, "rows.json")))
    n, d_e, d_t = meta["rows"], meta["d_expert"], meta["d_target"]
    if meta.get("shuffled"):
        sys.exit("this dump is of a shuffled run; the script makes its own control")
    texts = np.fromfile(os.path.join(args.rows, "text.u32"), dtype="<u4")[:n]
    every = meta["held_out_every"]
    held = texts % every == every - 1
    val = held & ((texts // every) % 2 == 0)
    test = held & ~val
    fit = ~held
    print(f"{n} rows: fit {fit.sum()}, validation {val.sum()}, test {test.sum()} (by text)", file=sys.stderr)
    rng = np.random.default_rng(args.seed)

    concepts = {}
    e_npy_layers = [int(v) for v in args.expert_layers.split(",")] if args.expert_layers else []
    t_npy_layers = [int(v) for v in args.target_npy_layers.split(",")] if args.target_npy_layers else []
    for spec in args.concepts:
        name, files = spec.split("=", 1)
        concepts[name] = [np.load(f) for f in files.split(",")]

    results = []
    for t_layer in meta["target_layers"]:
        y_all = np.asarray(load_rows(args.rows, "target", t_layer, d_t, n), dtype=np.float32)
        y_mean, y_sd = y_all[fit].mean(0), y_all[fit].std(0) + 1e-6
        Y = (y_all - y_mean) / y_sd
        # The expert layer: the best ridge held-out R² (validation half).
        best = None
        for e_layer in meta["expert_layers"]:
            x_all = np.asarray(load_rows(args.rows, "expert", e_layer, d_e, n), dtype=np.float32)
            x_mean, x_sd = x_all[fit].mean(0), x_all[fit].std(0) + 1e-6
            X = (x_all - x_mean) / x_sd
            r = Ridge(X[fit].astype(np.float64), Y[fit].astype(np.float64), LAMBDAS[0])
            scores = [r2_score(r.set_lambda(lam)(X[val]), Y[val]) for lam in LAMBDAS]
            k = int(np.argmax(scores))
            if best is None or scores[k] > best[1]:
                best = (e_layer, scores[k], LAMBDAS[k], X, x_mean, x_sd)
            print(f"target {t_layer} ← expert {e_layer}: ridge validation R² {scores[k]:.4f} (λ {LAMBDAS[k]:g})", file=sys.stderr)
        e_layer, _, lam, X, x_mean, x_sd = best
        row = {"target_layer": t_layer, "expert_layer": e_layer, "lambda": lam, "maps": {}}
        variants = [("real", Y)]
        if not args.no_shuffled:
            perm = rng.permutation(n)
            variants.append(("shuffled", Y[perm]))
        for tag, YY in variants:
            t0 = time.time()
            ridge = Ridge(X[fit].astype(np.float64), YY[fit].astype(np.float64), lam)
            w = ridge.w.astype(np.float32)
            maps = {"ridge": (lambda x, w=w: x @ w)}
            times = {"ridge": time.time() - t0}
            r2 = {"ridge": r2_score(maps["ridge"](X[test]), YY[test])}
            for name, linear in [("mlp", None), ("ridge+mlp", w)]:
                t0 = time.time()
                m = Mlp(d_e, d_t, args.hidden, rng, linear)
                train(m, X[fit], YY[fit], X[val], YY[val], args, rng, f"{tag} {name} L{t_layer}")
                maps[name] = m
                times[name] = time.time() - t0
                r2[name] = r2_score(m(X[test]), YY[test])
                if name == "ridge+mlp":
                    maps["ridge+mlp (linear part)"] = lambda x, m=m: m(x, linear_only=True)
                    r2["ridge+mlp (linear part)"] = r2_score(maps["ridge+mlp (linear part)"](X[test]), YY[test])
            cosines = {}
            if concepts:
                ei, ti = e_npy_layers.index(e_layer), t_npy_layers.index(t_layer)
                for cname, (ep, en, tp, tn) in concepts.items():
                    caa = tp[:, ti, :].mean(0) - tn[:, ti, :].mean(0)
                    xp = (ep[:, ei, :] - x_mean) / x_sd
                    xn = (en[:, ei, :] - x_mean) / x_sd
                    cosines[cname] = {}
                    halves = [tp[k::2, ti, :].mean(0) - tn[k::2, ti, :].mean(0) for k in (0, 1)]
                    for mname, f in maps.items():
                        # Back to the target's raw units before comparing.
                        fp, fn = f(xp), f(xn)
                        dvec = (fp.mean(0) - fn.mean(0)) * y_sd
                        cosines[cname][mname] = cos(dvec, caa)
                        # Carried from one half of the texts, against the
                        # target's CAA on the other half (no shared texts).
                        own = [(fp[k::2].mean(0) - fn[k::2].mean(0)) * y_sd for k in (0, 1)]
                        cosines[cname][mname + " (other half)"] = 0.5 * (cos(own[0], halves[1]) + cos(own[1], halves[0]))
                    rnd = rng.standard_normal(d_t)
                    cosines[cname]["random"] = cos(rnd, caa)
                    # How stable the reference itself is: CAA from the even
                    # texts against CAA from the odd ones (the ceiling of
                    # the "(other half)" cosines).
                    cosines[cname]["target split-half"] = cos(*halves)
            row["maps"][tag] = {"test_r2": r2, "seconds": times, "cosine": cosines}
            print(json.dumps({"target_layer": t_layer, "expert_layer": e_layer, "map": tag, "test_r2": r2, "cosine": cosines}), flush=True)
        results.append(row)
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"rows": args.rows, "n": int(n), "args": vars(args), "results": results}, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(results) + "\n")


if __name__ == "__main__":
    main()
