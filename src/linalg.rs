//! Dense linear algebra shared by alignment, pairing, RFM and the baselines.
//!
//! Hidden states arrive as f32 `[n_texts, d]`; everything that accumulates
//! (means, covariances, eigen-solves, kernels, AUC) runs in f64, because
//! residual streams carry a few huge dimensions next to many small ones and
//! f32 sums lose the small ones. Matrix products use ndarray's `dot`
//! (matrixmultiply; with the `matrixmultiply-threading` feature the thread
//! count comes from `MATMUL_NUM_THREADS`, default the physical cores).
//!
//! The full symmetric eigen-solve ([`eigh_desc`]) is faer's blocked
//! tridiagonalisation + divide-and-conquer solver, single-threaded (measured
//! on a shared 2-core machine: 0.05 s at d = 576, 0.16 s at d = 896, 0.7 s
//! at d = 1536; linfa-linalg, used before, took 0.8 s, 4.5 s and 60 s). It is
//! still O(d³), so top-k problems with k ≪ d use subspace iteration with
//! oversampling and Rayleigh–Ritz instead (see [`sym_top_k`], [`Pca::fit`]).
//! [`CholeskyFactor`] is our own blocked Cholesky whose trailing updates are
//! matrix products.

use crate::num_error::{NumError, NumResult as Result};
use crate::rng::SplitMix64;
use ndarray::{linalg::general_mat_mul, s, Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// A column whose standard deviation is at most this fraction of its largest
/// absolute value counts as constant: f32 rounding alone (relative 6e-8)
/// cannot reach it, real variation does.
pub const CONSTANT_COLUMN_REL: f64 = 1e-6;

/// Largest matrix side solved exactly by [`eigh_desc`] in top-k problems;
/// above it (and with k well below the side) subspace iteration is used,
/// because the full solve grows as d³. (The threshold was set when the
/// solver was linfa-linalg's, about 0.14 s at 256.)
pub const EXACT_EIGH_MAX_DIM: usize = 160;

/// Extra columns carried by subspace iteration beyond the k wanted: the
/// convergence rate of the k-th vector is λ_{k+p+1}/λ_k instead of λ_{k+1}/λ_k.
pub const SUBSPACE_OVERSAMPLE: usize = 10;

/// Fixed seed of the random start of subspace iteration, so that every
/// decomposition is reproducible.
const SUBSPACE_SEED: u64 = 0x5EED_0F5E_B5AC_E000;

/// Block size of the blocked Cholesky factorisation.
const CHOLESKY_BLOCK: usize = 64;

/// Fails with [`NumError::NonFinite`] at the first NaN or infinity of `x`.
pub fn check_finite(
    x: ArrayView2<'_, f32>,
    context: &'static str,
    what: &'static str,
) -> Result<()> {
    for ((row, col), &v) in x.indexed_iter() {
        if !v.is_finite() {
            return Err(NumError::NonFinite {
                context,
                what,
                row,
                col,
                value: v as f64,
            });
        }
    }
    Ok(())
}

/// Fails with [`NumError::NotEnoughSamples`] when `got < needed`.
pub fn check_min_rows(got: usize, needed: usize, context: &'static str) -> Result<()> {
    if got < needed {
        return Err(NumError::NotEnoughSamples {
            context,
            needed,
            got,
        });
    }
    Ok(())
}

/// f32 data as f64, in standard (row-major) layout.
pub fn to_f64(x: ArrayView2<'_, f32>) -> Array2<f64> {
    x.mapv(|v| v as f64)
}

/// Column means, accumulated in f64. `[n, d]` → `[d]`; zeros when n = 0.
pub fn column_means(x: ArrayView2<'_, f32>) -> Array1<f64> {
    let n = x.nrows();
    let mut sum = Array1::<f64>::zeros(x.ncols());
    for row in x.rows() {
        sum.zip_mut_with(&row, |s, &v| *s += v as f64);
    }
    if n > 0 {
        sum /= n as f64;
    }
    sum
}

/// `x - mean` per row, in f64. `[n, d]`, `[d]` → `[n, d]`.
pub fn centre(x: ArrayView2<'_, f32>, mean: ArrayView1<'_, f64>) -> Array2<f64> {
    let mut out = to_f64(x);
    out -= &mean;
    out
}

/// Per-dimension standardisation z = (x - mean) / scale, fitted once and
/// applied to any later rows.
///
/// Constant columns get scale 1, so they standardise to 0 instead of dividing
/// by zero (see [`CONSTANT_COLUMN_REL`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Column means of the fit data, `[d]`, raw units.
    pub mean: Array1<f64>,
    /// Column standard deviations (population, divisor n), `[d]`, raw units; 1 for constant columns.
    pub scale: Array1<f64>,
}

impl Standardizer {
    /// Fits mean and scale on `x` `[n, d]` (n ≥ 1).
    pub fn fit(x: ArrayView2<'_, f32>) -> Result<Self> {
        check_min_rows(x.nrows(), 1, "linalg::Standardizer::fit")?;
        let mean = column_means(x);
        let n = x.nrows() as f64;
        let mut var = Array1::<f64>::zeros(x.ncols());
        let mut max_abs = Array1::<f64>::zeros(x.ncols());
        for row in x.rows() {
            for (j, &v) in row.iter().enumerate() {
                let c = v as f64 - mean[j];
                var[j] += c * c;
                max_abs[j] = f64::max(max_abs[j], (v as f64).abs());
            }
        }
        let scale = Array1::from_shape_fn(x.ncols(), |j| {
            let sd = (var[j] / n).sqrt();
            if sd > CONSTANT_COLUMN_REL * max_abs[j] && sd > 0.0 {
                sd
            } else {
                1.0
            }
        });
        Ok(Self { mean, scale })
    }

    /// Number of dimensions d.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Standardised copy of `x`, f64. `[n, d]` → `[n, d]`.
    pub fn transform(&self, x: ArrayView2<'_, f32>) -> Array2<f64> {
        let mut z = centre(x, self.mean.view());
        z /= &self.scale;
        z
    }

    /// Raw-unit copy of standardised `z`. `[n, d]` → `[n, d]`.
    pub fn inverse_transform(&self, z: ArrayView2<'_, f64>) -> Array2<f64> {
        let mut x = &z * &self.scale;
        x += &self.mean;
        x
    }
}

/// Sample covariance (divisor n - 1) of `x` `[n, d]` → `[d, d]`, f64. Needs n ≥ 2.
pub fn covariance(x: ArrayView2<'_, f32>) -> Result<Array2<f64>> {
    check_min_rows(x.nrows(), 2, "linalg::covariance")?;
    let xc = centre(x, column_means(x).view());
    Ok(xc.t().dot(&xc) / (x.nrows() - 1) as f64)
}

/// (A + Aᵀ) / 2: removes the rounding asymmetry of products like XᵀX before an eigen-solve.
pub fn symmetrize(a: &Array2<f64>) -> Array2<f64> {
    (a + &a.t()) * 0.5
}

/// Full symmetric eigen-decomposition, eigenvalues descending `[d]`,
/// orthonormal eigenvectors as columns `[d, d]`. Exact (faer), O(d³): see the
/// module comment for costs. The input is symmetrised first, so a rounding
/// asymmetry of `a` does not matter.
pub fn eigh_desc(a: &Array2<f64>) -> Result<(Array1<f64>, Array2<f64>)> {
    const CONTEXT: &str = "linalg::eigh_desc";
    if a.nrows() != a.ncols() {
        return Err(NumError::ShapeMismatch {
            context: CONTEXT,
            left_name: "rows",
            left: vec![a.nrows()],
            right_name: "columns",
            right: vec![a.ncols()],
        });
    }
    if a.iter().any(|v| !v.is_finite()) {
        return Err(NumError::Numerical {
            context: CONTEXT,
            detail: "matrix holds non-finite values".into(),
        });
    }
    let d = a.nrows();
    if d == 0 {
        return Ok((Array1::zeros(0), Array2::zeros((0, 0))));
    }
    let sym = to_faer(&symmetrize(a));
    let evd = sym
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| NumError::Numerical {
            context: CONTEXT,
            detail: format!("symmetric eigen-decomposition of a {d}x{d} matrix failed: {e:?}"),
        })?;
    let (s, u) = (evd.S().column_vector(), evd.U());
    // faer returns the eigenvalues ascending; sorting (not just reversing)
    // keeps the order right whatever the solver's convention.
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| s[j].total_cmp(&s[i]));
    let vals = Array1::from_shape_fn(d, |k| s[order[k]]);
    let vecs = Array2::from_shape_fn((d, d), |(r, k)| u[(r, order[k])]);
    Ok((vals, vecs))
}

/// Copy of a square ndarray matrix as a (column-major) faer matrix.
fn to_faer(a: &Array2<f64>) -> faer::Mat<f64> {
    faer::Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

/// Top-k eigenpairs of the symmetric matrix `a` `[d, d]`: values descending `[k]`, vectors `[d, k]`.
///
/// Exact `eigh` when d ≤ [`EXACT_EIGH_MAX_DIM`] or k is a large part of d;
/// otherwise subspace iteration (k + [`SUBSPACE_OVERSAMPLE`] columns,
/// Rayleigh–Ritz each step) until every wanted Ritz pair has residual
/// ‖Av − λv‖ ≤ 1e-9 · |λ₁|, at most 300 steps. Meant for matrices whose top
/// eigenvalues matter (PSD like AGOP or covariance).
pub fn sym_top_k(a: &Array2<f64>, k: usize) -> Result<(Array1<f64>, Array2<f64>)> {
    let d = a.nrows();
    let k = k.min(d);
    if use_exact(d, k) {
        let (vals, vecs) = eigh_desc(a)?;
        return Ok((
            vals.slice(s![..k]).to_owned(),
            vecs.slice(s![.., ..k]).to_owned(),
        ));
    }
    subspace_top_k(d, k, |q| a.dot(q), 1e-9, 300)
}

/// Whether a top-k problem of side `m` is cheaper done exactly.
fn use_exact(m: usize, k: usize) -> bool {
    m <= EXACT_EIGH_MAX_DIM || 2 * (k + SUBSPACE_OVERSAMPLE) >= m
}

/// Subspace iteration for the top-k eigenpairs of a symmetric PSD operator of
/// side `d`, given only its product with a `[d, l]` block.
fn subspace_top_k<F>(
    d: usize,
    k: usize,
    apply: F,
    tol: f64,
    max_iter: usize,
) -> Result<(Array1<f64>, Array2<f64>)>
where
    F: Fn(&Array2<f64>) -> Array2<f64>,
{
    let l = (k + SUBSPACE_OVERSAMPLE).min(d);
    let mut rng = SplitMix64::new(SUBSPACE_SEED);
    let mut q = rng.gaussian_matrix(d, l); // [d, l]
    orthonormalize_columns(&mut q, &mut rng)?;
    let mut last: Option<(Array1<f64>, Array2<f64>)> = None;
    for _ in 0..max_iter {
        let z = apply(&q); // [d, l] = A Q
        let (vals, u) = eigh_desc(&q.t().dot(&z))?; // Rayleigh quotient [l, l]
        let v = q.dot(&u); // Ritz vectors [d, l]
        let av = z.dot(&u); // A V [d, l]
        let scale = vals[0].abs().max(f64::MIN_POSITIVE);
        let worst = (0..k)
            .map(|i| {
                let r = &av.column(i) - &(&v.column(i) * vals[i]);
                r.dot(&r).sqrt() / scale
            })
            .fold(0.0, f64::max);
        let top = (
            vals.slice(s![..k]).to_owned(),
            v.slice(s![.., ..k]).to_owned(),
        );
        if worst <= tol {
            return Ok(top);
        }
        last = Some(top);
        // A·V spans the same space as A·Q and is already sorted by Ritz value.
        q = av;
        orthonormalize_columns(&mut q, &mut rng)?;
    }
    // Not converged to `tol`: the best available estimate is still the
    // Rayleigh–Ritz one, which is what randomized PCA returns anyway.
    Ok(last.expect("max_iter >= 1"))
}

/// Orthonormalises the columns of `q` `[d, l]` (l ≤ d) in place: modified
/// Gram–Schmidt, twice for stability. A column that collapses (linearly
/// dependent) is replaced by a fresh random one from `rng`, so that the result
/// is always an orthonormal basis.
///
/// Errors when l > d (no orthonormal basis of l columns exists in dimension
/// d); `q` is then left unchanged.
pub fn orthonormalize_columns(q: &mut Array2<f64>, rng: &mut SplitMix64) -> Result<()> {
    let (d, l) = q.dim();
    if l > d {
        return Err(NumError::Numerical {
            context: "linalg::orthonormalize_columns",
            detail: format!("cannot fit {l} orthonormal columns in dimension {d}"),
        });
    }
    let mut rows = q.t().as_standard_layout().into_owned(); // [l, d]: columns as contiguous rows
    for i in 0..l {
        let mut attempts = 0;
        loop {
            let before = row_norm(rows.row(i));
            for _pass in 0..2 {
                for j in 0..i {
                    let (done, mut rest) = rows.view_mut().split_at(Axis(0), i);
                    let qj = done.row(j);
                    let mut qi = rest.row_mut(0);
                    let proj = qi.dot(&qj);
                    qi.scaled_add(-proj, &qj);
                }
            }
            let after = row_norm(rows.row(i));
            if after > 1e-10 * before.max(f64::MIN_POSITIVE) && after > 0.0 {
                rows.row_mut(i).mapv_inplace(|v| v / after);
                break;
            }
            attempts += 1;
            if attempts >= 100 {
                return Err(NumError::Numerical {
                    context: "linalg::orthonormalize_columns",
                    detail: format!(
                        "cannot extend an orthonormal basis in dimension {d} (column {i})"
                    ),
                });
            }
            rows.row_mut(i).mapv_inplace(|_| rng.gaussian());
        }
    }
    q.assign(&rows.t());
    Ok(())
}

fn row_norm(r: ArrayView1<'_, f64>) -> f64 {
    r.dot(&r).sqrt()
}

/// Principal components of a data matrix.
#[derive(Clone, Debug)]
pub struct Pca {
    /// Column means of the fit data, `[d]`.
    pub mean: Array1<f64>,
    /// Unit principal axes as columns, `[d, k]`, by decreasing variance.
    pub components: Array2<f64>,
    /// Variance (divisor n - 1) along each axis, `[k]`.
    pub variances: Array1<f64>,
    /// Total variance of the data (trace of the covariance).
    pub total_variance: f64,
}

impl Pca {
    /// Top-k principal components of `x` `[n, d]` (n ≥ 2; k is capped at d).
    ///
    /// Exact when min(n, d) ≤ [`EXACT_EIGH_MAX_DIM`] or k is a large part of
    /// it (eigen-solve of the d×d covariance or, when n < d, of the n×n Gram
    /// matrix); otherwise randomized subspace iteration on XcᵀXc without
    /// forming it (Ritz residual ≤ 1e-6 of the top variance, ≤ 60 steps).
    /// Deterministic: the random start has a fixed seed.
    pub fn fit(x: ArrayView2<'_, f32>, k: usize) -> Result<Self> {
        check_min_rows(x.nrows(), 2, "linalg::Pca::fit")?;
        let mean = column_means(x);
        let xc = centre(x, mean.view());
        let total_variance = xc.iter().map(|v| v * v).sum::<f64>() / (x.nrows() - 1) as f64;
        let (variances, components) = pca_of_centred(&xc, k)?;
        Ok(Self {
            mean,
            components,
            variances,
            total_variance,
        })
    }

    /// Scores of `x` `[n, d]` on the components → `[n, k]`.
    pub fn transform(&self, x: ArrayView2<'_, f32>) -> Array2<f64> {
        centre(x, self.mean.view()).dot(&self.components)
    }
}

/// Top-k PCA of already centred data `xc` `[n, d]`: (variances `[k]`, axes `[d, k]`).
pub(crate) fn pca_of_centred(xc: &Array2<f64>, k: usize) -> Result<(Array1<f64>, Array2<f64>)> {
    let (n, d) = xc.dim();
    let k = k.min(d);
    let denom = (n.max(2) - 1) as f64;
    let m = n.min(d);
    if use_exact(m, k) {
        if d <= n {
            let cov = xc.t().dot(xc) / denom; // [d, d]
            let (vals, vecs) = eigh_desc(&cov)?;
            let vals = vals.mapv(|v| v.max(0.0));
            return Ok((
                vals.slice(s![..k]).to_owned(),
                vecs.slice(s![.., ..k]).to_owned(),
            ));
        }
        // n < d: the Gram matrix has the same non-zero spectrum and is smaller.
        let gram = xc.dot(&xc.t()) / denom; // [n, n]
        let (vals, u) = eigh_desc(&gram)?;
        let mut vars = Array1::<f64>::zeros(k);
        let mut axes = Array2::<f64>::zeros((d, k));
        let floor = 1e-12 * vals[0].max(0.0);
        for i in 0..k.min(n) {
            if vals[i] > floor && vals[i] > 0.0 {
                // v = Xcᵀ u / ‖Xcᵀ u‖ and ‖Xcᵀ u‖² = λ (n - 1).
                let v = xc.t().dot(&u.column(i)) / (vals[i] * denom).sqrt();
                axes.column_mut(i).assign(&v);
                vars[i] = vals[i];
            }
        }
        return Ok((vars, axes));
    }
    let (vals, vecs) = subspace_top_k(d, k, |q| xc.t().dot(&xc.dot(q)) / denom, 1e-6, 60)?;
    Ok((vals.mapv(|v| v.max(0.0)), vecs))
}

/// Lower Cholesky factor L (A + jitter·I = L Lᵀ) of a symmetric positive
/// definite matrix, kept to solve several right-hand sides.
#[derive(Clone, Debug)]
pub struct CholeskyFactor {
    /// Lower-triangular factor `[n, n]` (upper triangle zero).
    pub lower: Array2<f64>,
    /// Diagonal jitter that was added to make the factorisation succeed (0 when none was needed).
    pub jitter: f64,
}

impl CholeskyFactor {
    /// Factorises `a` `[n, n]`. When `a` is not numerically positive definite,
    /// retries with jitter 1e-12, 1e-10, …, 1e-4 times its mean absolute
    /// diagonal added to the diagonal, and fails after that.
    pub fn new(a: &Array2<f64>) -> Result<Self> {
        let n = a.nrows();
        if a.ncols() != n {
            return Err(NumError::ShapeMismatch {
                context: "linalg::CholeskyFactor::new",
                left_name: "rows",
                left: vec![n],
                right_name: "columns",
                right: vec![a.ncols()],
            });
        }
        if a.iter().any(|v| !v.is_finite()) {
            return Err(NumError::Numerical {
                context: "linalg::CholeskyFactor::new",
                detail: "matrix holds non-finite values".into(),
            });
        }
        let diag_scale = (a.diag().iter().map(|v| v.abs()).sum::<f64>() / n.max(1) as f64)
            .max(f64::MIN_POSITIVE);
        let mut jitter = 0.0;
        for attempt in 0..=5 {
            let mut l = a.as_standard_layout().into_owned();
            if jitter > 0.0 {
                l.diag_mut().mapv_inplace(|v| v + jitter);
            }
            if cholesky_in_place(&mut l) {
                return Ok(Self { lower: l, jitter });
            }
            jitter = diag_scale * 10f64.powi(-12 + 2 * attempt);
        }
        Err(NumError::Numerical {
            context: "linalg::CholeskyFactor::new",
            detail: format!(
                "{n}x{n} matrix is not positive definite even with jitter {jitter:.1e} on the diagonal"
            ),
        })
    }

    /// Solves A X = B for `b` `[n, m]` → `[n, m]`.
    pub fn solve(&self, b: &Array2<f64>) -> Result<Array2<f64>> {
        let n = self.lower.nrows();
        if b.nrows() != n {
            return Err(NumError::ShapeMismatch {
                context: "linalg::CholeskyFactor::solve",
                left_name: "matrix",
                left: vec![n, n],
                right_name: "right-hand side",
                right: b.shape().to_vec(),
            });
        }
        let mut x = b.as_standard_layout().into_owned();
        let m = x.ncols();
        let l = self.lower.as_slice().expect("standard layout");
        let xs = x.as_slice_mut().expect("standard layout");
        if m == 1 {
            solve_lower_single(l, xs, n);
            solve_upper_single(l, xs, n);
        } else {
            solve_lower_rows(l, xs, n, m);
            solve_upper_rows(l, xs, n, m);
        }
        Ok(x)
    }
}

/// Solves the SPD system A X = B (see [`CholeskyFactor`] for the jitter fallback).
pub fn cholesky_solve(a: &Array2<f64>, b: &Array2<f64>) -> Result<Array2<f64>> {
    CholeskyFactor::new(a)?.solve(b)
}

/// Four-accumulator dot product: breaks the add-latency chain and lets the compiler vectorise.
#[inline]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let chunks = a.len() / 4;
    for c in 0..chunks {
        for t in 0..4 {
            acc[t] += a[4 * c + t] * b[4 * c + t];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for i in 4 * chunks..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// Right-looking blocked Cholesky in place on a row-major square matrix; the
/// lower triangle becomes L, the upper is zeroed. Returns false when a pivot
/// is not positive (matrix not numerically PD).
fn cholesky_in_place(a: &mut Array2<f64>) -> bool {
    let n = a.nrows();
    let mut k0 = 0;
    while k0 < n {
        let k1 = (k0 + CHOLESKY_BLOCK).min(n);
        {
            let sl = a.as_slice_mut().expect("standard layout");
            // Diagonal block: unblocked factorisation of A[k0..k1, k0..k1],
            // earlier blocks' contributions already subtracted.
            for j in k0..k1 {
                for c in k0..j {
                    let s = dot(&sl[j * n + k0..j * n + c], &sl[c * n + k0..c * n + c]);
                    sl[j * n + c] = (sl[j * n + c] - s) / sl[c * n + c];
                }
                let row = &sl[j * n + k0..j * n + j];
                let d = sl[j * n + j] - dot(row, row);
                if d.is_nan() || d <= 0.0 {
                    return false;
                }
                sl[j * n + j] = d.sqrt();
            }
            // Panel below it: L21 = A21 L11⁻ᵀ, row by row.
            for r in k1..n {
                for c in k0..k1 {
                    let s = dot(&sl[r * n + k0..r * n + c], &sl[c * n + k0..c * n + c]);
                    sl[r * n + c] = (sl[r * n + c] - s) / sl[c * n + c];
                }
            }
        }
        if k1 < n {
            // Trailing update A22 -= L21 L21ᵀ as one matrix product (full
            // square: twice the needed flops, but at matrix-product speed).
            let (_, bottom) = a.view_mut().split_at(Axis(0), k1);
            let (left, mut a22) = bottom.split_at(Axis(1), k1);
            let l21 = left.slice(s![.., k0..k1]);
            general_mat_mul(-1.0, &l21, &l21.t(), 1.0, &mut a22);
        }
        k0 = k1;
    }
    for i in 0..n {
        a.row_mut(i).slice_mut(s![i + 1..]).fill(0.0);
    }
    true
}

/// L z = b for one right-hand side (row-oriented: contiguous dot products).
fn solve_lower_single(l: &[f64], x: &mut [f64], n: usize) {
    for i in 0..n {
        let s = dot(&l[i * n..i * n + i], &x[..i]);
        x[i] = (x[i] - s) / l[i * n + i];
    }
}

/// Lᵀ x = z for one right-hand side (column-oriented over rows of L).
fn solve_upper_single(l: &[f64], x: &mut [f64], n: usize) {
    for i in (0..n).rev() {
        x[i] /= l[i * n + i];
        let xi = x[i];
        for (xj, &lij) in x[..i].iter_mut().zip(&l[i * n..i * n + i]) {
            *xj -= lij * xi;
        }
    }
}

/// L Z = B for m right-hand sides stored as rows of a row-major `[n, m]` block.
fn solve_lower_rows(l: &[f64], x: &mut [f64], n: usize, m: usize) {
    for i in 0..n {
        let (done, rest) = x.split_at_mut(i * m);
        let xi = &mut rest[..m];
        for j in 0..i {
            let lij = l[i * n + j];
            if lij != 0.0 {
                for (a, &b) in xi.iter_mut().zip(&done[j * m..(j + 1) * m]) {
                    *a -= lij * b;
                }
            }
        }
        let inv = 1.0 / l[i * n + i];
        xi.iter_mut().for_each(|v| *v *= inv);
    }
}

/// Lᵀ X = Z for m right-hand sides stored as rows of a row-major `[n, m]` block.
fn solve_upper_rows(l: &[f64], x: &mut [f64], n: usize, m: usize) {
    for i in (0..n).rev() {
        let (before, rest) = x.split_at_mut(i * m);
        let xi = &mut rest[..m];
        let inv = 1.0 / l[i * n + i];
        xi.iter_mut().for_each(|v| *v *= inv);
        for j in 0..i {
            let lij = l[i * n + j];
            if lij != 0.0 {
                for (a, &b) in before[j * m..(j + 1) * m].iter_mut().zip(xi.iter()) {
                    *a -= lij * b;
                }
            }
        }
    }
}

/// Ridge regression set up once for several penalties.
///
/// The penalty is per sample: coefficients B minimise
/// (1/n)‖Y − X B‖² + λ‖B‖², i.e. (XᵀX/n + λI) B = XᵀY/n, so a λ means the same
/// thing whatever the number of texts. No intercept: centre X and Y first.
/// When X has more columns than rows the dual form B = Xᵀ(XXᵀ/n + λI)⁻¹ Y/n
/// is solved instead (same B, smaller system).
#[derive(Clone, Debug)]
pub struct Ridge {
    x: Array2<f64>,
    dual: bool,
    gram: Array2<f64>,
    rhs: Array2<f64>,
}

impl Ridge {
    /// Prepares the normal equations for `x` `[n, p]` and `y` `[n, q]`.
    pub fn new(x: &Array2<f64>, y: &Array2<f64>) -> Result<Self> {
        if x.nrows() != y.nrows() {
            return Err(NumError::ShapeMismatch {
                context: "linalg::Ridge::new",
                left_name: "x",
                left: x.shape().to_vec(),
                right_name: "y",
                right: y.shape().to_vec(),
            });
        }
        check_min_rows(x.nrows(), 1, "linalg::Ridge::new")?;
        let n = x.nrows() as f64;
        let dual = x.ncols() > x.nrows();
        let (gram, rhs) = if dual {
            (x.dot(&x.t()) / n, y / n) // [n, n], [n, q]
        } else {
            (x.t().dot(x) / n, x.t().dot(y) / n) // [p, p], [p, q]
        };
        Ok(Self {
            x: x.clone(),
            dual,
            gram,
            rhs,
        })
    }

    /// Coefficients `[p, q]` for penalty `lambda` > 0.
    pub fn coefficients(&self, lambda: f64) -> Result<Array2<f64>> {
        let mut a = self.gram.clone();
        a.diag_mut().mapv_inplace(|v| v + lambda);
        let sol = cholesky_solve(&a, &self.rhs)?;
        Ok(if self.dual { self.x.t().dot(&sol) } else { sol })
    }
}

/// Ridge coefficients `[p, q]` of `y` `[n, q]` on `x` `[n, p]` with per-sample penalty `lambda` (see [`Ridge`]).
pub fn ridge_solve(x: &Array2<f64>, y: &Array2<f64>, lambda: f64) -> Result<Array2<f64>> {
    Ridge::new(x, y)?.coefficients(lambda)
}

/// Area under the ROC curve of `scores` for boolean `labels` (true = class 1).
///
/// Mann–Whitney form with average ranks for ties, so a constant score gives
/// exactly 0.5. Needs both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Result<f64> {
    const CONTEXT: &str = "linalg::roc_auc";
    if scores.len() != labels.len() {
        return Err(NumError::ShapeMismatch {
            context: CONTEXT,
            left_name: "scores",
            left: vec![scores.len()],
            right_name: "labels",
            right: vec![labels.len()],
        });
    }
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(NumError::NonFinite {
            context: CONTEXT,
            what: "scores",
            row: i,
            col: 0,
            value: scores[i],
        });
    }
    let n = scores.len();
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = n - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return Err(NumError::SingleClass {
            context: CONTEXT,
            what: "labels",
            n,
            label: u8::from(n_pos > 0),
        });
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0; // 1-based
        rank_sum_pos += avg_rank * order[i..=j].iter().filter(|&&t| labels[t]).count() as f64;
        i = j + 1;
    }
    let (p, q) = (n_pos as f64, n_neg as f64);
    Ok((rank_sum_pos - p * (p + 1.0) / 2.0) / (p * q))
}

/// Pearson correlation of two equally long series; 0 when either is constant
/// (or shorter than 2), so that a sign decision based on it is a no-op.
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n < 2 {
        return 0.0;
    }
    let ma = a[..n].iter().sum::<f64>() / n as f64;
    let mb = b[..n].iter().sum::<f64>() / n as f64;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        let (da, db) = (x - ma, y - mb);
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        return 0.0;
    }
    sab / (saa * sbb).sqrt()
}

/// Cosine of the angle between two vectors (0 if either is zero).
pub fn cosine(a: ArrayView1<'_, f64>, b: ArrayView1<'_, f64>) -> f64 {
    let na = a.dot(&a).sqrt();
    let nb = b.dot(&b).sqrt();
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    a.dot(&b) / (na * nb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1};

    #[test]
    fn standardizer_gives_zero_mean_unit_scale_and_keeps_constant_columns_finite() {
        let x = array![[1.0f32, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]];
        let st = Standardizer::fit(x.view()).unwrap();
        assert_eq!(st.scale[1], 1.0);
        let z = st.transform(x.view());
        for j in 0..3 {
            let col = z.column(j);
            assert!(col.sum().abs() < 1e-12);
        }
        assert!((z.column(0).mapv(|v| v * v).sum() / 3.0 - 1.0).abs() < 1e-12);
        assert!(z.column(1).iter().all(|&v| v == 0.0));
        let back = st.inverse_transform(z.view());
        assert!((back - to_f64(x.view())).iter().all(|v| v.abs() < 1e-12));
    }

    #[test]
    fn blocked_cholesky_solves_a_large_spd_system() {
        let mut rng = SplitMix64::new(1);
        let n = 150; // > 2 blocks, with a ragged last block
        let g = rng.gaussian_matrix(n, n);
        let a = g.t().dot(&g) + Array2::<f64>::eye(n);
        let x_true = rng.gaussian_matrix(n, 3);
        let b = a.dot(&x_true);
        let x = cholesky_solve(&a, &b).unwrap();
        assert!((&x - &x_true).iter().all(|v| v.abs() < 1e-8));
        let x1 = cholesky_solve(&a, &b.slice(s![.., 0..1]).to_owned()).unwrap();
        assert!((&x1.column(0) - &x_true.column(0))
            .iter()
            .all(|v| v.abs() < 1e-8));
        let f = CholeskyFactor::new(&a).unwrap();
        assert_eq!(f.jitter, 0.0);
        assert!((f.lower.dot(&f.lower.t()) - &a)
            .iter()
            .all(|v| v.abs() < 1e-8));
    }

    #[test]
    fn cholesky_adds_jitter_to_a_singular_psd_matrix_and_refuses_an_indefinite_one() {
        let v = array![[1.0, 2.0, 3.0]];
        let a = v.t().dot(&v); // rank 1
        let f = CholeskyFactor::new(&a).unwrap();
        assert!(f.jitter > 0.0);
        let indefinite = array![[1.0, 0.0], [0.0, -1.0]];
        assert!(matches!(
            CholeskyFactor::new(&indefinite),
            Err(NumError::Numerical { .. })
        ));
    }

    #[test]
    fn eigh_desc_recovers_a_rotated_diagonal_matrix() {
        let mut rng = SplitMix64::new(6);
        let d = 70;
        // A random rotation Q.
        let mut q = rng.gaussian_matrix(d, d);
        orthonormalize_columns(&mut q, &mut rng).unwrap();
        // Distinct eigenvalues of both signs, in no particular order.
        let lambda = Array1::from_shape_fn(d, |i| ((i * 37) % d) as f64 * 0.1 - 2.0);
        let a = (&q * &lambda).dot(&q.t()); // Q diag(λ) Qᵀ
        let (vals, vecs) = eigh_desc(&a).unwrap();
        let mut expected = lambda.to_vec();
        expected.sort_by(|x, y| y.total_cmp(x));
        for i in 0..d {
            assert!(
                (vals[i] - expected[i]).abs() < 1e-9,
                "{i}: {} vs {}",
                vals[i],
                expected[i]
            );
            let v = vecs.column(i);
            let residual = &a.dot(&v) - &(&v * vals[i]);
            assert!(residual.iter().all(|r| r.abs() < 1e-9), "A v != λ v at {i}");
            // Eigenvalues are simple, so each vector is ± the rotated axis.
            let axis = lambda.iter().position(|&l| l == expected[i]).unwrap();
            assert!(cosine(v, q.column(axis)).abs() > 1.0 - 1e-9, "{i}");
        }
        let gram = vecs.t().dot(&vecs);
        assert!((gram - Array2::<f64>::eye(d))
            .iter()
            .all(|g| g.abs() < 1e-12));
        // Diagonal input: the eigenvectors are unit axes.
        let (vals, vecs) = eigh_desc(&Array2::from_diag(&array![1.0, 3.0, 2.0])).unwrap();
        assert_eq!(vals.to_vec(), vec![3.0, 2.0, 1.0]);
        assert!((vecs.column(0)[1].abs() - 1.0).abs() < 1e-15);
        // Same errors as before for bad input.
        let mut bad = a.clone();
        bad[[3, 5]] = f64::NAN;
        assert!(matches!(eigh_desc(&bad), Err(NumError::Numerical { .. })));
        assert!(matches!(
            eigh_desc(&Array2::zeros((2, 3))),
            Err(NumError::ShapeMismatch { .. })
        ));
        let (vals, vecs) = eigh_desc(&Array2::zeros((0, 0))).unwrap();
        assert_eq!((vals.len(), vecs.dim()), (0, (0, 0)));
    }

    #[test]
    fn more_columns_than_dimensions_is_an_error_not_a_panic() {
        let mut rng = SplitMix64::new(3);
        let mut q = rng.gaussian_matrix(3, 5);
        let before = q.clone();
        let e = orthonormalize_columns(&mut q, &mut rng).unwrap_err();
        assert!(
            e.to_string()
                .contains("5 orthonormal columns in dimension 3"),
            "{e}"
        );
        assert_eq!(q, before);
    }

    #[test]
    fn subspace_iteration_matches_exact_eigh() {
        let mut rng = SplitMix64::new(2);
        let d = 300;
        let g = rng.gaussian_matrix(d, d);
        let mut q = g.clone();
        orthonormalize_columns(&mut q, &mut rng).unwrap();
        let spectrum = Array1::from_shape_fn(d, |i| 1.0 / (1.0 + i as f64).powf(1.2));
        let a = (&q * &spectrum).dot(&q.t());
        let (vals, vecs) = sym_top_k(&a, 5).unwrap();
        for i in 0..5 {
            assert!((vals[i] - spectrum[i]).abs() < 1e-8 * spectrum[0]);
            assert!(cosine(vecs.column(i), q.column(i)).abs() > 1.0 - 1e-8);
        }
    }

    #[test]
    fn pca_randomized_and_exact_paths_agree() {
        let mut rng = SplitMix64::new(3);
        let (n, d) = (400, 240);
        let scales = Array1::from_shape_fn(d, |j| 3.0 / (1.0 + j as f64 / 4.0));
        let x = (rng.gaussian_matrix(n, d) * &scales).mapv(|v| v as f32);
        let fast = Pca::fit(x.view(), 4).unwrap(); // randomized: 240 > EXACT_EIGH_MAX_DIM
        let cov = covariance(x.view()).unwrap();
        let (vals, vecs) = eigh_desc(&cov).unwrap();
        for i in 0..4 {
            assert!((fast.variances[i] - vals[i]).abs() < 1e-5 * vals[0], "{i}");
            assert!(
                cosine(fast.components.column(i), vecs.column(i)).abs() > 0.999,
                "{i}"
            );
        }
        assert!((fast.total_variance - cov.diag().sum()).abs() < 1e-8 * fast.total_variance);
        // Wide data (n < d) goes through the Gram matrix.
        let wide = x.slice(s![..60, ..]).to_owned();
        let p = Pca::fit(wide.view(), 3).unwrap();
        let (vals, vecs) = eigh_desc(&covariance(wide.view()).unwrap()).unwrap();
        for i in 0..3 {
            assert!((p.variances[i] - vals[i]).abs() < 1e-8 * vals[0]);
            assert!(cosine(p.components.column(i), vecs.column(i)).abs() > 1.0 - 1e-8);
        }
    }

    #[test]
    fn ridge_primal_and_dual_forms_agree() {
        let mut rng = SplitMix64::new(4);
        let x = rng.gaussian_matrix(20, 30);
        let y = rng.gaussian_matrix(20, 2);
        let dual = ridge_solve(&x, &y, 0.5).unwrap();
        // Primal by hand: (XᵀX/n + λI) B = XᵀY/n.
        let mut a = x.t().dot(&x) / 20.0;
        a.diag_mut().mapv_inplace(|v| v + 0.5);
        let primal = cholesky_solve(&a, &(x.t().dot(&y) / 20.0)).unwrap();
        assert!((dual - primal).iter().all(|v| v.abs() < 1e-10));
    }

    #[test]
    fn auc_counts_ties_as_half_and_needs_both_classes() {
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.3, 0.4], &[false, false, true, true]).unwrap(),
            1.0
        );
        assert_eq!(
            roc_auc(&[0.4, 0.3, 0.2, 0.1], &[false, false, true, true]).unwrap(),
            0.0
        );
        assert_eq!(
            roc_auc(&[1.0; 4], &[false, true, false, true]).unwrap(),
            0.5
        );
        // One tie between a positive and a negative: 3 of 4 pairs right + ½.
        let auc = roc_auc(&[0.1, 0.5, 0.5, 0.9], &[false, true, false, true]).unwrap();
        assert!((auc - 0.875).abs() < 1e-12);
        assert!(matches!(
            roc_auc(&[1.0, 2.0], &[true, true]),
            Err(NumError::SingleClass { label: 1, .. })
        ));
        assert!(matches!(
            roc_auc(&[f64::NAN, 2.0], &[true, false]),
            Err(NumError::NonFinite { .. })
        ));
    }

    #[test]
    fn pearson_is_zero_for_constants_and_one_for_affine_copies() {
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), 0.0);
        assert!((pearson(&[1.0, 2.0, 4.0], &[3.0, 5.0, 9.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 4.0], &[-1.0, -2.0, -4.0]) + 1.0).abs() < 1e-12);
    }
}
