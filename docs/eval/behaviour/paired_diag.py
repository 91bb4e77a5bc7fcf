"""Where does the paired map lose the target's direction? For each
(expert layer, target layer) pair the fits chose: cosine to the target's own
CAA direction of (a) the expert's mean difference mapped through a ridge
map fitted on N generic texts (standardised both sides, lambda by holdout),
for several N, and (b) the same map fitted on the sentiment texts
themselves (the 'oracle' that re-derives the target's own difference).

Reads captures made with `expertsteer capture --layers all` (see
capture_for_diag.sh): DIR/{smol,qwen05,gemma}-{sent,generic}.npy.
Usage: python3 paired_diag.py DIR"""
import numpy as np, sys
D = sys.argv[1].rstrip("/") + "/"
y = np.array([1, 0] * 100, bool)
T_s = np.load(D + "smol-sent.npy")      # [200, 30, 576]
T_g = np.load(D + "smol-generic.npy")   # [1000, 30, 576]
pairs = {"qwen05": [(4, 5), (4, 7), (4, 8), (4, 9), (2, 2), (10, 17), (21, 27), (21, 28)],
         "gemma": [(3, 1), (3, 7), (3, 8), (3, 9), (10, 22), (17, 27), (17, 28), (17, 29)]}

def cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

def ridge_map(X, T, lams=(1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000), hold=0.2, seed=0):
    mx, sx = X.mean(0), X.std(0) + 1e-8
    mt, st = T.mean(0), T.std(0) + 1e-8
    Xs, Ts = (X - mx) / sx, (T - mt) / st
    n = len(X); idx = np.random.default_rng(seed).permutation(n); k = int(n * hold)
    va, tr = idx[:k], idx[k:]
    best = None
    for lam in lams:
        W = fit(Xs[tr], Ts[tr], lam)
        err = ((Xs[va] @ W - Ts[va]) ** 2).sum() / ((Ts[va] - Ts[va].mean(0)) ** 2).sum()
        if best is None or err < best[0]: best = (err, lam)
    W = fit(Xs, Ts, best[1])
    return (lambda X2: ((X2 - mx) / sx) @ W * st + mt), best

def fit(X, T, lam):
    n, d = X.shape
    if n < d:   # dual form
        K = X @ X.T
        return X.T @ np.linalg.solve(K + lam * n * np.eye(n), T)
    return np.linalg.solve(X.T @ X + lam * n * np.eye(d), X.T @ T)

rows = []
for e, ps in pairs.items():
    E_s = np.load(D + f"{e}-sent.npy"); E_g = np.load(D + f"{e}-generic.npy")
    for i, j in ps:
        caa_t = T_s[y, j].mean(0) - T_s[~y, j].mean(0)
        out = [e, i, j]
        for N in (100, 200, 400):
            m, (err, lam) = ridge_map(E_g[:N, i], T_g[:N, j])
            Z = m(E_s[:, i])
            out.append(cos(Z[y].mean(0) - Z[~y].mean(0), caa_t))
            out.append(err)
        # oracle: map fitted on the labelled texts themselves
        m, _ = ridge_map(E_s[:, i], T_s[:, j])
        Z = m(E_s[:, i]); out.append(cos(Z[y].mean(0) - Z[~y].mean(0), caa_t))
        rows.append(out)
print("| expert | expert layer | target layer | cos, N=100 | holdout err | cos, N=200 | holdout err | cos, N=400 | holdout err | cos, map fitted on the sentiment texts |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(str(x) if isinstance(x, (str, int)) else f"{x:+.3f}" if k % 2 == 1 else f"{x:.3f}" for k, x in enumerate(r)) + " |")
