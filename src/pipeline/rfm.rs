//! Step 3 of METHOD.md: a steering direction from a Recursive Feature Machine
//! (Beaglehole et al., arXiv 2502.03708) with METHOD.md's two corrections
//! (uncentred AGOP, selection by the predictor's validation AUC).
//!
//! Input: states of the fit and validation texts `[n, d]` (aligned expert
//! states Z_i, or the target's own states for self-RFM) with 0/1 labels.
//! Output: [`RfmResult`], a unit direction u in the input's coordinates whose
//! sign points toward label 1.
//!
//! Scale: the bandwidths {1, 10, 100} are used as METHOD.md fixes them, in the
//! units of the (centred, optionally row-normalised) input with M normalised
//! to largest entry 1. They suit standardised or aligned states, whose
//! pairwise distances are O(√d); on raw states with a very different scale
//! the grid may not contain a useful bandwidth.
//!
//! Cost per iteration: a few n×n×d and n×d×d matrix products and one n×n
//! Cholesky; the n×n×d gradient tensor is never formed (the gradient sum is
//! the two-product form (C X − diag(C 1) X) M).

use crate::linalg::{check_finite, column_means, pearson, roc_auc, sym_top_k};
use crate::num_error::{NumError, NumResult as Result};
use faer::linalg::matmul::{
    matmul,
    triangular::{self, BlockStructure},
};
use faer::linalg::solvers::Solve;
use faer::{Accum, Mat, MatRef, Side};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use std::ops::Deref;

/// Hyper-parameters of step 3, unchecked; see [`RfmParams::check`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfmParams {
    /// RFM iterations (kernel fits) per grid point. METHOD.md: 10.
    pub iterations: usize,
    /// Ridge added to the kernel matrix's diagonal. METHOD.md: 1e-3.
    pub ridge: f64,
    /// Laplace kernel bandwidths L tried. METHOD.md: 1, 10, 100.
    pub bandwidths: Vec<f64>,
    /// Whether rows are scaled to unit norm after centring; both are tried by default.
    pub row_norm_options: Vec<bool>,
}

impl Default for RfmParams {
    fn default() -> Self {
        Self {
            iterations: 10,
            ridge: 1e-3,
            bandwidths: vec![1.0, 10.0, 100.0],
            row_norm_options: vec![true, false],
        }
    }
}

impl RfmParams {
    /// Sets [`RfmParams::iterations`].
    pub fn iterations(mut self, iterations: usize) -> Self {
        self.iterations = iterations;
        self
    }
    /// Sets [`RfmParams::ridge`].
    pub fn ridge(mut self, ridge: f64) -> Self {
        self.ridge = ridge;
        self
    }
    /// Sets [`RfmParams::bandwidths`].
    pub fn bandwidths(mut self, bandwidths: Vec<f64>) -> Self {
        self.bandwidths = bandwidths;
        self
    }
    /// Sets [`RfmParams::row_norm_options`].
    pub fn row_norm_options(mut self, options: Vec<bool>) -> Self {
        self.row_norm_options = options;
        self
    }

    /// Validates every field.
    pub fn check(&self) -> Result<RfmValidParams> {
        let bad = |field, value: String, allowed| {
            Err(NumError::InvalidParam {
                field,
                value,
                allowed,
            })
        };
        if self.iterations == 0 {
            return bad("iterations", "0".into(), ">= 1");
        }
        if !(self.ridge.is_finite() && self.ridge > 0.0) {
            return bad("ridge", self.ridge.to_string(), "finite and > 0");
        }
        if self.bandwidths.is_empty()
            || self.bandwidths.iter().any(|l| !(l.is_finite() && *l > 0.0))
        {
            return bad(
                "bandwidths",
                format!("{:?}", self.bandwidths),
                "non-empty, every value finite and > 0",
            );
        }
        if self.row_norm_options.is_empty() {
            return bad(
                "row_norm_options",
                "[]".into(),
                "non-empty (true, false or both)",
            );
        }
        Ok(RfmValidParams(self.clone()))
    }
}

/// Validated [`RfmParams`]; read its fields through `Deref`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RfmParams", into = "RfmParams")]
pub struct RfmValidParams(RfmParams);

impl Default for RfmValidParams {
    fn default() -> Self {
        RfmParams::default().check().expect("defaults are valid")
    }
}

impl Deref for RfmValidParams {
    type Target = RfmParams;
    fn deref(&self) -> &RfmParams {
        &self.0
    }
}

impl TryFrom<RfmParams> for RfmValidParams {
    type Error = NumError;
    fn try_from(p: RfmParams) -> Result<Self> {
        p.check()
    }
}

impl From<RfmValidParams> for RfmParams {
    fn from(p: RfmValidParams) -> Self {
        p.0
    }
}

/// Outcome of one (bandwidth, row-normalisation) grid point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfmGridPoint {
    /// Bandwidth L.
    pub bandwidth: f64,
    /// Whether rows were scaled to unit norm.
    pub row_norm: bool,
    /// Best validation AUC over the iterations (None if no iteration gave a usable AGOP;
    /// not NaN, which JSON cannot hold).
    pub val_auc: Option<f64>,
    /// 0-based iteration of that predictor.
    pub best_iteration: usize,
    /// Validation AUC of each iteration's predictor.
    pub val_auc_per_iteration: Vec<f64>,
}

/// The steering direction of step 3 and how it was chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RfmResult {
    /// Unit direction u `[d]`, input coordinates, Pearson(X u, y) ≥ 0 over all texts.
    pub direction: Vec<f32>,
    /// Validation AUC of the predictor whose AGOP gave u.
    pub val_auc: f64,
    /// Its bandwidth L.
    pub bandwidth: f64,
    /// Its row normalisation.
    pub row_norm: bool,
    /// Its 0-based iteration (the AGOP computed from iteration t's predictor).
    pub best_iteration: usize,
    /// Share of the remembered AGOP's trace on u (how one-dimensional the feature is).
    pub top_eigenvalue_share: f64,
    /// Every grid point, in grid order (bandwidths outer, row-norm options inner).
    pub grid: Vec<RfmGridPoint>,
}

/// Fits the RFM grid on (`x_fit` `[n_fit, d]`, `y_fit`), selects by AUC on
/// (`x_val` `[n_val, d]`, `y_val`) and returns the top AGOP eigenvector.
/// Labels: true = concept present (1).
pub fn fit_rfm(
    x_fit: &Array2<f32>,
    y_fit: &[bool],
    x_val: &Array2<f32>,
    y_val: &[bool],
    params: &RfmValidParams,
) -> Result<RfmResult> {
    fit_rfm_with(x_fit, y_fit, x_val, y_val, params, run_grid_point)
}

/// One grid point's iterations (the fast one, or the test's reference).
type GridPointFn = fn(
    &Array2<f64>,
    &Array1<f64>,
    &Array2<f64>,
    &[bool],
    f64,
    &RfmValidParams,
) -> Result<GridOutcome>;

fn fit_rfm_with(
    x_fit: &Array2<f32>,
    y_fit: &[bool],
    x_val: &Array2<f32>,
    y_val: &[bool],
    params: &RfmValidParams,
    run_grid_point: GridPointFn,
) -> Result<RfmResult> {
    const CONTEXT: &str = "rfm::fit_rfm";
    check_inputs(x_fit, y_fit, x_val, y_val, CONTEXT)?;
    let d = x_fit.ncols();
    let mean = column_means(x_fit.view()); // [d] fit mean, used for every split
    let y = Array1::from_iter(y_fit.iter().map(|&l| if l { 1.0 } else { 0.0 })); // [n_fit]

    let mut grid = Vec::new();
    let mut best: Option<(f64, usize, Array2<f64>)> = None; // (auc, grid index, M)
    for &bandwidth in &params.bandwidths {
        for &row_norm in &params.row_norm_options {
            let x = prepare(x_fit, &mean, row_norm); // [n_fit, d]
            let v = prepare(x_val, &mean, row_norm); // [n_val, d]
            let outcome = run_grid_point(&x, &y, &v, y_val, bandwidth, params)?;
            let auc = outcome.best.as_ref().map(|b| b.0);
            if let Some((auc, _, m)) = outcome
                .best
                .filter(|b| best.as_ref().is_none_or(|c| b.0 > c.0))
            {
                best = Some((auc, grid.len(), m));
            }
            grid.push(RfmGridPoint {
                bandwidth,
                row_norm,
                val_auc: auc,
                best_iteration: outcome.best_iteration,
                val_auc_per_iteration: outcome.aucs,
            });
        }
    }
    let (val_auc, at, m) = best.ok_or_else(|| NumError::Numerical {
        context: CONTEXT,
        detail: "every grid point gave a zero gradient outer product (all predictors constant); \
                 check that the states vary and try larger bandwidths"
            .into(),
    })?;
    let (vals, vecs) = sym_top_k(&m, 1)?;
    let trace = m.diag().sum();
    let mut u = vecs.column(0).to_owned(); // [d]
    u /= u.dot(&u).sqrt();

    // Sign: toward label 1 over all texts, in the centred input coordinates
    // (not row-normalised: the direction is added to the states themselves).
    let mut proj = centred(x_fit, &mean).dot(&u).to_vec();
    proj.extend(centred(x_val, &mean).dot(&u));
    let labels: Vec<f64> = y_fit
        .iter()
        .chain(y_val)
        .map(|&l| if l { 1.0 } else { 0.0 })
        .collect();
    if pearson(&proj, &labels) < 0.0 {
        u.mapv_inplace(|v| -v);
    }
    let chosen = &grid[at];
    debug_assert_eq!(u.len(), d);
    Ok(RfmResult {
        direction: u.iter().map(|&v| v as f32).collect(),
        val_auc,
        bandwidth: chosen.bandwidth,
        row_norm: chosen.row_norm,
        best_iteration: chosen.best_iteration,
        top_eigenvalue_share: if trace > 0.0 { vals[0] / trace } else { 0.0 },
        grid,
    })
}

fn check_inputs(
    x_fit: &Array2<f32>,
    y_fit: &[bool],
    x_val: &Array2<f32>,
    y_val: &[bool],
    context: &'static str,
) -> Result<()> {
    for (x, y, xn, yn) in [
        (x_fit, y_fit, "x_fit", "y_fit"),
        (x_val, y_val, "x_val", "y_val"),
    ] {
        if x.nrows() != y.len() {
            return Err(NumError::ShapeMismatch {
                context,
                left_name: xn,
                left: x.shape().to_vec(),
                right_name: yn,
                right: vec![y.len()],
            });
        }
        check_finite(x.view(), context, xn)?;
        let n_pos = y.iter().filter(|&&l| l).count();
        if n_pos == 0 || n_pos == y.len() {
            return Err(NumError::SingleClass {
                context,
                what: yn,
                n: y.len(),
                label: u8::from(n_pos > 0),
            });
        }
    }
    if x_fit.ncols() != x_val.ncols() {
        return Err(NumError::ShapeMismatch {
            context,
            left_name: "x_fit",
            left: x_fit.shape().to_vec(),
            right_name: "x_val",
            right: x_val.shape().to_vec(),
        });
    }
    Ok(())
}

fn centred(x: &Array2<f32>, mean: &Array1<f64>) -> Array2<f64> {
    x.mapv(|v| v as f64) - mean
}

/// Centred with the fit mean, then (option) each row scaled to unit norm; zero rows stay zero.
fn prepare(x: &Array2<f32>, mean: &Array1<f64>, row_norm: bool) -> Array2<f64> {
    let mut xc = centred(x, mean);
    if row_norm {
        for mut row in xc.rows_mut() {
            let norm = row.dot(&row).sqrt();
            if norm > 0.0 {
                row /= norm;
            }
        }
    }
    xc
}

struct GridOutcome {
    /// (validation AUC, AGOP of that predictor) of the best iteration.
    best: Option<(f64, usize, Array2<f64>)>,
    best_iteration: usize,
    aucs: Vec<f64>,
}

/// One RFM iteration's matrices, allocated once per grid point and reused.
struct Buffers {
    xm: Mat<f64>,     // [n, d]     X M
    vm: Mat<f64>,     // [n_val, d] V M
    dist: Mat<f64>,   // [n, n]     ‖x_a − x_b‖_M (symmetric)
    kernel: Mat<f64>, // [n, n]     K, then C
    vdist: Mat<f64>,  // [n_val, n] ‖v_a − x_b‖_M
    gm: Mat<f64>,     // [n, d]     G M = C X M − diag(C 1) X M
}

/// Squared M-norms of the rows of `a` given `am` = A M: ⟨(A M)_r, A_r⟩.
fn row_norms_m(am: MatRef<'_, f64>, a: MatRef<'_, f64>) -> Vec<f64> {
    let mut q = vec![0.0; a.nrows()];
    for k in 0..a.ncols() {
        let (ac, amc) = (a.col(k), am.col(k));
        for (r, q) in q.iter_mut().enumerate() {
            *q += ac[r] * amc[r];
        }
    }
    q
}

/// ‖a − b‖ from the Gram identity; squared distances below 1e-12 of the
/// norms' sum are cancellation noise and become exactly 0 (identical
/// points then get no gradient term).
#[inline]
fn gram_distance(qa: f64, qb: f64, dot: f64) -> f64 {
    let s = qa + qb;
    let sq = s - 2.0 * dot;
    if sq > 1e-12 * s {
        sq.sqrt()
    } else {
        0.0
    }
}

/// METHOD.md step 3.2 for one bandwidth: up to `iterations` kernel fits,
/// each scored on validation, each producing the next M.
///
/// Speed: faer's matrix products (parallel) and Cholesky; the two
/// symmetric products (X M Xᵀ and the AGOP) compute one triangle only;
/// G M reuses X M (one n×d×d product per iteration, not two); M = I in
/// the first iteration skips the products with M.
fn run_grid_point(
    x: &Array2<f64>, // [n, d] prepared fit states
    y: &Array1<f64>, // [n] 0/1
    v: &Array2<f64>, // [n_val, d] prepared validation states
    y_val: &[bool],  // [n_val]
    bandwidth: f64,
    params: &RfmValidParams,
) -> Result<GridOutcome> {
    let (n, d) = x.dim();
    let n_val = v.nrows();
    let par = faer::get_global_parallelism();
    let xs = MatRef::from_row_major_slice(x.as_slice().expect("standard layout"), n, d);
    let vs = MatRef::from_row_major_slice(v.as_slice().expect("standard layout"), n_val, d);
    let ycol = Mat::from_fn(n, 1, |r, _| y[r]);
    let mut buf = Buffers {
        xm: Mat::zeros(n, d),
        vm: Mat::zeros(n_val, d),
        dist: Mat::zeros(n, n),
        kernel: Mat::zeros(n, n),
        vdist: Mat::zeros(n_val, n),
        gm: Mat::zeros(n, d),
    };
    let mut m: Option<Mat<f64>> = None; // None = identity
    let mut outcome = GridOutcome {
        best: None,
        best_iteration: 0,
        aucs: Vec::new(),
    };
    for t in 0..params.iterations {
        // X M and V M (X and V themselves while M = I).
        let (xm, vm) = match &m {
            Some(m) => {
                matmul(buf.xm.as_mut(), Accum::Replace, xs, m.as_ref(), 1.0, par);
                matmul(buf.vm.as_mut(), Accum::Replace, vs, m.as_ref(), 1.0, par);
                (buf.xm.as_ref(), buf.vm.as_ref())
            }
            None => (xs, vs),
        };
        let qx = row_norms_m(xm, xs); // [n] ‖x_a‖²_M
        let qv = row_norms_m(vm, vs); // [n_val]

        // Fit-fit distances: X M Xᵀ is symmetric, so one triangle.
        triangular::matmul(
            buf.dist.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            xm,
            BlockStructure::Rectangular,
            xs.transpose(),
            BlockStructure::Rectangular,
            1.0,
            par,
        );
        for b in 0..n {
            for a in b..n {
                let r = gram_distance(qx[a], qx[b], buf.dist[(a, b)]);
                let k = (-r / bandwidth).exp();
                buf.dist[(a, b)] = r;
                buf.dist[(b, a)] = r;
                buf.kernel[(a, b)] = k;
                buf.kernel[(b, a)] = k;
            }
        }
        // α = (K + ridge I)⁻¹ y; the Cholesky reads the lower triangle.
        for i in 0..n {
            buf.kernel[(i, i)] += params.ridge;
        }
        let llt = buf
            .kernel
            .llt(Side::Lower)
            .map_err(|_| NumError::Numerical {
                context: "rfm::fit_rfm",
                detail: format!(
                    "the kernel matrix (n = {n}, bandwidth {bandwidth}) is not positive definite \
                 even with ridge {}: duplicate or degenerate states?",
                    params.ridge
                ),
            })?;
        let alpha_m = llt.solve(ycol.as_ref()); // [n, 1]
        let alpha: Vec<f64> = (0..n).map(|r| alpha_m[(r, 0)]).collect();
        for i in 0..n {
            buf.kernel[(i, i)] -= params.ridge;
        }

        // Validation scores f(v) = Σ_b α_b K(v, x_b).
        matmul(
            buf.vdist.as_mut(),
            Accum::Replace,
            vm,
            xs.transpose(),
            1.0,
            par,
        );
        let mut scores = vec![0.0; n_val];
        for (b, &ab) in alpha.iter().enumerate() {
            let col = buf.vdist.col(b);
            for (a, s) in scores.iter_mut().enumerate() {
                *s += ab * (-gram_distance(qv[a], qx[b], col[a]) / bandwidth).exp();
            }
        }
        let auc = roc_auc(&scores, y_val)?;
        outcome.aucs.push(auc);

        // Gradient of f at every fit point: g(x_a) = Σ_b C_ab M (x_b − x_a) / L,
        // C_ab = α_b K_ab / ‖x_a − x_b‖_M (0 at zero distance).
        let mut row_sums = vec![0.0; n]; // C 1
        for (b, &ab) in alpha.iter().enumerate() {
            for (a, rs) in row_sums.iter_mut().enumerate() {
                let r = buf.dist[(a, b)];
                let c = if r > 0.0 {
                    ab * buf.kernel[(a, b)] / r
                } else {
                    0.0
                };
                buf.kernel[(a, b)] = c;
                *rs += c;
            }
        }
        // G M = (C X − diag(C 1) X) M = C (X M) − diag(C 1) (X M): this
        // iteration's X M serves again, so no second n×d×d product.
        matmul(
            buf.gm.as_mut(),
            Accum::Replace,
            buf.kernel.as_ref(),
            xm,
            1.0,
            par,
        );
        for k in 0..d {
            let xc = xm.col(k);
            let mut gc = buf.gm.col_mut(k);
            for a in 0..n {
                gc[a] -= row_sums[a] * xc[a];
            }
        }
        let gm = buf.gm.as_ref(); // [n, d], before the 1/L
                                  // AGOP = (G M)ᵀ (G M) / (n L²), not centred; symmetric: one triangle.
        let mut agop = Mat::<f64>::zeros(d, d);
        triangular::matmul(
            agop.as_mut(),
            BlockStructure::TriangularLower,
            Accum::Replace,
            gm.transpose(),
            BlockStructure::Rectangular,
            gm,
            BlockStructure::Rectangular,
            1.0 / (n as f64 * bandwidth * bandwidth),
            par,
        );
        let mut max_entry = f64::NEG_INFINITY;
        for j in 0..d {
            for i in j..d {
                let v = agop[(i, j)];
                agop[(j, i)] = v;
                max_entry = max_entry.max(v);
            }
        }
        if !(max_entry.is_finite() && max_entry > 0.0) {
            // Constant predictor: no feature to learn from here on.
            break;
        }
        for j in 0..d {
            for i in 0..d {
                agop[(i, j)] /= max_entry;
            }
        }
        if outcome.best.as_ref().is_none_or(|b| auc > b.0) {
            let nd = Array2::from_shape_fn((d, d), |(i, j)| agop[(i, j)]);
            outcome.best = Some((auc, t, nd));
            outcome.best_iteration = t;
        }
        m = Some(agop);
    }
    Ok(outcome)
}

/// The straightforward ndarray implementation this module had before it
/// moved to faer: the oracle the fast one is tested against.
#[cfg(test)]
mod reference {
    use super::*;
    use crate::linalg::CholeskyFactor;
    use ndarray::{Axis, Zip};

    /// Mahalanobis distances ‖a_r − b_c‖_M `[n_a, n_b]` from the products
    /// `am` = A M `[n_a, d]` and `b` `[n_b, d]`, with squared norms `qa`, `qb`.
    /// Squared distances below 1e-12 of the norms' sum are cancellation noise
    /// and become exactly 0 (so identical points get no gradient term).
    fn mahalanobis(
        am: &Array2<f64>,
        b: &Array2<f64>,
        qa: &Array1<f64>,
        qb: &Array1<f64>,
    ) -> Array2<f64> {
        let mut d2 = am.dot(&b.t()); // [n_a, n_b] = A M Bᵀ
        Zip::indexed(&mut d2).for_each(|(r, c), v| {
            let s = qa[r] + qb[c];
            let sq = s - 2.0 * *v;
            *v = if sq > 1e-12 * s { sq.sqrt() } else { 0.0 };
        });
        d2
    }

    /// Row-wise ⟨a_r, b_r⟩ `[n]`.
    fn row_dots(a: &Array2<f64>, b: &Array2<f64>) -> Array1<f64> {
        Zip::from(a.rows())
            .and(b.rows())
            .map_collect(|r, s| r.dot(&s))
    }

    /// METHOD.md step 3.2 for one bandwidth: up to `iterations` kernel fits,
    /// each scored on validation, each producing the next M.
    pub(super) fn run_grid_point(
        x: &Array2<f64>, // [n, d] prepared fit states
        y: &Array1<f64>, // [n] 0/1
        v: &Array2<f64>, // [n_val, d] prepared validation states
        y_val: &[bool],  // [n_val]
        bandwidth: f64,
        params: &RfmValidParams,
    ) -> Result<GridOutcome> {
        let (n, d) = x.dim();
        let mut m: Option<Array2<f64>> = None; // None = identity, saves two d×d products in iteration 0
        let mut outcome = GridOutcome {
            best: None,
            best_iteration: 0,
            aucs: Vec::new(),
        };
        for t in 0..params.iterations {
            let xm = m.as_ref().map_or_else(|| x.clone(), |m| x.dot(m)); // [n, d]
            let vm = m.as_ref().map_or_else(|| v.clone(), |m| v.dot(m)); // [n_val, d]
            let qx = row_dots(&xm, x); // [n] ‖x_a‖²_M
            let qv = row_dots(&vm, v); // [n_val]
            let dist = mahalanobis(&xm, x, &qx, &qx); // [n, n]
            let mut kernel = dist.mapv(|r| (-r / bandwidth).exp()); // [n, n] Laplace kernel
            kernel.diag_mut().mapv_inplace(|k| k + params.ridge);
            let alpha =
                CholeskyFactor::new(&kernel)?.solve(&y.view().insert_axis(Axis(1)).to_owned())?; // [n, 1]
            let alpha = alpha.column(0).to_owned(); // [n]
            kernel.diag_mut().mapv_inplace(|k| k - params.ridge);

            let val_kernel = mahalanobis(&vm, x, &qv, &qx).mapv(|r| (-r / bandwidth).exp()); // [n_val, n]
            let scores = val_kernel.dot(&alpha); // [n_val]
            let auc = roc_auc(scores.as_slice().expect("owned"), y_val)?;
            outcome.aucs.push(auc);

            // Gradient of f at every fit point: g(x_a) = Σ_b C_ab M (x_b − x_a) / L,
            // C_ab = α_b K_ab / ‖x_a − x_b‖_M (0 at zero distance).
            let mut c = kernel; // reuse the n×n buffer
            Zip::from(&mut c)
                .and(&dist)
                .and_broadcast(&alpha.view().insert_axis(Axis(0)))
                .for_each(|c, &r, &a| {
                    *c = if r > 0.0 { a * *c / r } else { 0.0 };
                });
            let row_sums = c.sum_axis(Axis(1)); // [n] C 1
            let mut g = c.dot(x); // [n, d] C X
            g -= &(x * &row_sums.view().insert_axis(Axis(1))); // − diag(C 1) X
            let g = match &m {
                Some(m) => g.dot(m) / bandwidth,
                None => g / bandwidth,
            }; // [n, d]
            let mut agop = g.t().dot(&g) / n as f64; // [d, d], not centred
            let max_entry = agop.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !(max_entry.is_finite() && max_entry > 0.0) {
                // Constant predictor: no feature to learn from here on.
                break;
            }
            agop /= max_entry;
            if outcome.best.as_ref().is_none_or(|b| auc > b.0) {
                outcome.best = Some((auc, t, agop.clone()));
                outcome.best_iteration = t;
            }
            debug_assert_eq!(agop.dim(), (d, d));
            m = Some(agop);
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{split_fit_val, SplitMix64};
    use ndarray::Axis;
    use std::time::Instant;

    fn unit_vector(d: usize, rng: &mut SplitMix64) -> Array1<f64> {
        let p = Array1::from_shape_simple_fn(d, || rng.gaussian());
        &p / p.dot(&p).sqrt()
    }

    fn cosine_f32(u: &[f32], p: &Array1<f64>) -> f64 {
        let u = Array1::from_iter(u.iter().map(|&v| v as f64));
        u.dot(p) / (u.dot(&u).sqrt() * p.dot(p).sqrt())
    }

    /// Mean of label-1 rows minus mean of label-0 rows `[d]`.
    fn mean_difference(x: &Array2<f32>, y: &[bool]) -> Array1<f64> {
        let mut diff = Array1::<f64>::zeros(x.ncols());
        let n_pos = y.iter().filter(|&&l| l).count() as f64;
        let n_neg = y.len() as f64 - n_pos;
        for (row, &l) in x.rows().into_iter().zip(y) {
            let w = if l { 1.0 / n_pos } else { -1.0 / n_neg };
            diff.zip_mut_with(&row, |a, &b| *a += w * b as f64);
        }
        diff
    }

    /// X ~ N(0, I) `[n, d]`, labels from the projection on a planted unit p, 80/20 split.
    #[allow(clippy::type_complexity)]
    fn planted(
        n: usize,
        d: usize,
        seed: u64,
        label: impl Fn(f64) -> bool,
    ) -> (Array2<f32>, Vec<bool>, Array2<f32>, Vec<bool>, Array1<f64>) {
        let mut rng = SplitMix64::new(seed);
        let p = unit_vector(d, &mut rng);
        let x = rng.gaussian_matrix(n, d);
        let y: Vec<bool> = x.dot(&p).iter().map(|&s| label(s)).collect();
        let (fit, val) = split_fit_val(n, 0.2, seed);
        let x = x.mapv(|v| v as f32);
        let pick = |idx: &[usize]| {
            (
                x.select(Axis(0), idx),
                idx.iter().map(|&i| y[i]).collect::<Vec<_>>(),
            )
        };
        let (xf, yf) = pick(&fit);
        let (xv, yv) = pick(&val);
        (xf, yf, xv, yv, p)
    }

    #[test]
    fn fast_rfm_gives_the_reference_direction_and_choice() {
        // Fixed synthetic case, both concept shapes: the faer implementation
        // must choose the same grid point and iteration, with the same
        // validation AUC, and a direction at cosine >= 0.999 to the one the
        // straightforward ndarray implementation (the oracle) gives.
        for (seed, symmetric) in [(11u64, true), (12, false)] {
            let label = move |s: f64| if symmetric { s.abs() > 0.7 } else { s > 0.0 };
            let (xf, yf, xv, yv, _) = planted(400, 48, seed, label);
            let params = RfmParams::default().check().unwrap();
            let fast = fit_rfm(&xf, &yf, &xv, &yv, &params).unwrap();
            let slow =
                fit_rfm_with(&xf, &yf, &xv, &yv, &params, reference::run_grid_point).unwrap();
            let slow_u = Array1::from_iter(slow.direction.iter().map(|&v| v as f64));
            let cos = cosine_f32(&fast.direction, &slow_u);
            assert!(cos >= 0.999, "seed {seed}: cosine {cos}");
            assert_eq!(
                (fast.bandwidth, fast.row_norm, fast.best_iteration),
                (slow.bandwidth, slow.row_norm, slow.best_iteration),
                "seed {seed}: another grid point"
            );
            assert!((fast.val_auc - slow.val_auc).abs() < 1e-9, "seed {seed}");
        }
    }

    #[test]
    fn rfm_finds_a_symmetric_concept_that_the_mean_difference_cannot_see() {
        let (xf, yf, xv, yv, p) = planted(1000, 64, 41, |s| s.abs() > 0.7);
        let t0 = Instant::now();
        let res = fit_rfm(&xf, &yf, &xv, &yv, &RfmValidParams::default()).unwrap();
        let cos = cosine_f32(&res.direction, &p);
        let md = mean_difference(&xf, &yf);
        let md_cos = md.dot(&p) / md.dot(&md).sqrt();
        eprintln!(
            "symmetric n=1000 d=64: cos(u,p) {cos:.4}, cos(mean diff,p) {md_cos:.4}, val AUC {:.3}, L {}, row_norm {}, iter {}, {:?}",
            res.val_auc,
            res.bandwidth,
            res.row_norm,
            res.best_iteration,
            t0.elapsed()
        );
        assert!(cos.abs() >= 0.9, "cos {cos}");
        assert!(
            md_cos.abs() < 0.3,
            "mean difference unexpectedly sees the concept: {md_cos}"
        );
        assert_eq!(res.grid.len(), 6);
        assert!((res.direction.iter().map(|v| v * v).sum::<f32>() - 1.0).abs() < 1e-5);
    }

    #[test]
    fn rfm_matches_the_mean_difference_on_a_linear_concept_and_points_toward_label_one() {
        let (xf, yf, xv, yv, p) = planted(1000, 576, 42, |s| s > 0.0);
        let t0 = Instant::now();
        let res = fit_rfm(&xf, &yf, &xv, &yv, &RfmValidParams::default()).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        let cos = cosine_f32(&res.direction, &p);
        // The mean difference on all 1000 texts: as much data as RFM saw (fit + validation).
        let x_all = ndarray::concatenate![Axis(0), xf, xv];
        let y_all: Vec<bool> = yf.iter().chain(&yv).copied().collect();
        let md = mean_difference(&x_all, &y_all);
        let md_cos = md.dot(&p) / md.dot(&md).sqrt();
        eprintln!(
            "linear n=1000 d=576: cos(u,p) {cos:.4}, cos(mean diff,p) {md_cos:.4}, val AUC {:.3}, L {}, row_norm {}, iter {}, grid {secs:.2} s",
            res.val_auc, res.bandwidth, res.row_norm, res.best_iteration
        );
        assert!(cos > 0.0, "direction points away from label 1: {cos}");
        assert!(
            cos >= md_cos - 0.05,
            "cos {cos} vs mean difference {md_cos}"
        );
    }

    #[test]
    fn invalid_inputs_are_refused_before_any_fit() {
        let x = Array2::<f32>::zeros((6, 3));
        let y = [true, false, true, false, true, false];
        let ones = [true; 6];
        let p = RfmValidParams::default();
        assert!(matches!(
            fit_rfm(&x, &ones, &x, &y, &p),
            Err(NumError::SingleClass {
                what: "y_fit",
                label: 1,
                ..
            })
        ));
        assert!(matches!(
            fit_rfm(&x, &y[..5], &x, &y, &p),
            Err(NumError::ShapeMismatch { .. })
        ));
        let wide = Array2::<f32>::zeros((6, 4));
        assert!(matches!(
            fit_rfm(&x, &y, &wide, &y, &p),
            Err(NumError::ShapeMismatch { .. })
        ));
        assert!(matches!(
            RfmParams::default().bandwidths(vec![0.0]).check(),
            Err(NumError::InvalidParam {
                field: "bandwidths",
                ..
            })
        ));
        assert!(RfmParams::default().iterations(0).check().is_err());
    }
}
