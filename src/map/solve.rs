//! Ridge maps from the accumulated statistics: both sides standardised with
//! the fit fold's means and deviations, the penalty λ chosen per layer pair
//! by R² on the held-out fold (texts never seen by the fit), then the map
//! refitted on both folds with that λ.
//!
//! With XᵀX = V diag(s) Vᵀ (standardised, divided by n), the ridge solution
//! for every λ is W(λ) = V diag(1/(s+λ)) Vᵀ XᵀY, and the held-out error
//! of every λ follows from the held-out fold's own statistics expressed in
//! the same basis, so no row is revisited and the grid costs little.

use crate::linalg::eigh_desc;
use crate::map::moments::{FoldMoments, MapMoments};
use crate::num_error::{NumError, NumResult as Result};
use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

/// Ridge penalties tried, in units of the standardised Gram matrix (whose
/// diagonal is 1).
pub const LAMBDA_GRID: [f64; 7] = [1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 1.0, 10.0];

/// An affine map from one expert layer to one target layer, in raw units:
/// `y = y_mean + w · ((x − x_mean) / x_scale)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearMap {
    /// Expert-side means `[d_E]`.
    pub x_mean: Vec<f32>,
    /// Expert-side deviations `[d_E]` (1 for a constant column).
    pub x_scale: Vec<f32>,
    /// `[d_T, d_E]` row-major, the target's deviations folded in.
    pub w: Vec<f32>,
    /// Target-side means `[d_T]`.
    pub y_mean: Vec<f32>,
}

impl LinearMap {
    /// d_E.
    pub fn d_expert(&self) -> usize {
        self.x_mean.len()
    }

    /// d_T.
    pub fn d_target(&self) -> usize {
        self.y_mean.len()
    }

    /// The linear part applied to an expert-space direction `[d_E]` (no
    /// mean, no bias): `w · (v / x_scale)`, in the target's raw units.
    pub fn map_direction(&self, v: &[f32]) -> Vec<f32> {
        let d_e = self.d_expert();
        let scaled: Vec<f64> = v
            .iter()
            .zip(&self.x_scale)
            .map(|(&a, &s)| a as f64 / s as f64)
            .collect();
        self.w
            .chunks_exact(d_e)
            .map(|row| {
                row.iter()
                    .zip(&scaled)
                    .map(|(&w, s)| w as f64 * s)
                    .sum::<f64>() as f32
            })
            .collect()
    }
}

/// One fitted layer pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairFit {
    /// Expert layer (0-based block).
    pub expert_layer: usize,
    /// Target layer (0-based block).
    pub target_layer: usize,
    /// The chosen penalty.
    pub lambda: f64,
    /// Held-out R² at the chosen penalty (1 − error / the held-out variance).
    pub r2: f64,
    /// Held-out R² at every penalty of [`LAMBDA_GRID`].
    pub r2_grid: Vec<f64>,
    /// The map refitted on both folds.
    pub map: LinearMap,
}

/// Means and deviations of one side, from a fold's sums.
struct Scale {
    /// Mean of the shifted rows.
    mean: Array1<f64>,
    /// Deviation per column (population).
    sd: Array1<f64>,
}

fn scale_of(n: f64, sum: &[f64], sq_diag: impl Fn(usize) -> f64) -> Scale {
    let mean = Array1::from_iter(sum.iter().map(|s| s / n));
    let var = Array1::from_shape_fn(sum.len(), |i| (sq_diag(i) / n - mean[i] * mean[i]).max(0.0));
    let top = var.iter().cloned().fold(0.0, f64::max).sqrt();
    let sd = var.mapv(|v| {
        let s = v.sqrt();
        if s > 1e-9 * top.max(1e-30) {
            s
        } else {
            1.0
        }
    });
    Scale { mean, sd }
}

fn sym_from_lower(lower: &[f64], d: usize) -> Array2<f64> {
    Array2::from_shape_fn((d, d), |(i, j)| {
        if i >= j {
            lower[i * d + j]
        } else {
            lower[j * d + i]
        }
    })
}

/// Σ (x−m)(x−m)ᵀ over a fold whose sums are `sum`/`gram`, for a centre `m`
/// (shifted units), scaled by 1/sd on both sides.
fn centred_gram(
    f_n: f64,
    sum: &[f64],
    gram: &Array2<f64>,
    m: &Array1<f64>,
    sd: &Array1<f64>,
) -> Array2<f64> {
    let s = Array1::from(sum.to_vec());
    let d = s.len();
    Array2::from_shape_fn((d, d), |(i, j)| {
        (gram[[i, j]] - s[i] * m[j] - m[i] * s[j] + f_n * m[i] * m[j]) / (sd[i] * sd[j])
    })
}

/// Σ (x−mx)(y−my)ᵀ over a fold, scaled by 1/sd_x and 1/sd_y.
fn centred_cross(
    f_n: f64,
    (sx, sy): (&[f64], &[f64]),
    xy: ArrayView2<'_, f64>,
    (mx, my): (&Array1<f64>, &Array1<f64>),
    (dx, dy): (&Array1<f64>, &Array1<f64>),
) -> Array2<f64> {
    let (de, dt) = xy.dim();
    Array2::from_shape_fn((de, dt), |(i, j)| {
        (xy[[i, j]] - sx[i] * my[j] - mx[i] * sy[j] + f_n * mx[i] * my[j]) / (dx[i] * dy[j])
    })
}

/// Fits every candidate pair of `m`. `progress(done, total)` after each pair.
pub fn fit_pairs(m: &MapMoments, progress: &mut dyn FnMut(usize, usize)) -> Result<Vec<PairFit>> {
    const CONTEXT: &str = "map::fit_pairs";
    let (fit, held) = (&m.folds[0], &m.folds[1]);
    if fit.n < 2 || held.n < 2 {
        return Err(NumError::NotEnoughSamples {
            context: CONTEXT,
            needed: 2,
            got: fit.n.min(held.n) as usize,
        });
    }
    let all = fit.plus(held);
    let (d_e, d_t) = (m.d_e, m.d_t);
    let (nf, nh, na) = (fit.n as f64, held.n as f64, all.n as f64);

    // Per expert layer: fit-fold scale and eigenbasis, the held-out Gram in
    // that basis, and the all-rows scale and eigenbasis for the refit.
    struct ExpertSide {
        fit: Scale,
        vals: Array1<f64>,
        vecs: Array2<f64>,
        held_b: Array2<f64>,
        all: Scale,
        all_vals: Array1<f64>,
        all_vecs: Array2<f64>,
    }
    let expert_side = |k: usize| -> Result<ExpertSide> {
        let g_fit = sym_from_lower(&fit.x_gram[k], d_e);
        let fs = scale_of(nf, &fit.x_sum[k], |i| g_fit[[i, i]]);
        let sxx = centred_gram(nf, &fit.x_sum[k], &g_fit, &fs.mean, &fs.sd) / nf;
        let (vals, vecs) = eigh_desc(&sxx)?;
        let g_held = sym_from_lower(&held.x_gram[k], d_e);
        let ah = centred_gram(nh, &held.x_sum[k], &g_held, &fs.mean, &fs.sd);
        let held_b = vecs.t().dot(&ah).dot(&vecs);
        let g_all = sym_from_lower(&all.x_gram[k], d_e);
        let als = scale_of(na, &all.x_sum[k], |i| g_all[[i, i]]);
        let sxx_all = centred_gram(na, &all.x_sum[k], &g_all, &als.mean, &als.sd) / na;
        let (all_vals, all_vecs) = eigh_desc(&sxx_all)?;
        Ok(ExpertSide {
            fit: fs,
            vals,
            vecs,
            held_b,
            all: als,
            all_vals,
            all_vecs,
        })
    };
    let target_scale =
        |f: &FoldMoments, n: f64, b: usize| scale_of(n, &f.y_sum[b], |i| f.y_sq[b][i]);

    let mut out = Vec::with_capacity(m.pairs.len());
    let mut cached: Option<(usize, ExpertSide)> = None;
    // Pairs are visited grouped by expert layer so one eigenbasis is live.
    let mut order: Vec<usize> = (0..m.pairs.len()).collect();
    order.sort_by_key(|&p| m.pairs[p]);
    let mut fits: Vec<Option<PairFit>> = vec![None; m.pairs.len()];
    for (done, &p) in order.iter().enumerate() {
        let (a, b) = m.pairs[p];
        if cached.as_ref().is_none_or(|(k, _)| *k != a) {
            cached = Some((a, expert_side(a)?));
        }
        let es = &cached.as_ref().expect("set above").1;
        let ty = target_scale(fit, nf, b);
        // Held-out target: Σ‖y_h‖² at the fit centre, and its own variance.
        let (sh, qh) = (&held.y_sum[b], &held.y_sq[b]);
        let y2: f64 = (0..d_t)
            .map(|j| {
                (qh[j] - 2.0 * ty.mean[j] * sh[j] + nh * ty.mean[j] * ty.mean[j])
                    / (ty.sd[j] * ty.sd[j])
            })
            .sum();
        let sst: f64 = (0..d_t)
            .map(|j| (qh[j] - sh[j] * sh[j] / nh) / (ty.sd[j] * ty.sd[j]))
            .sum();
        if sst <= 0.0 {
            return Err(NumError::Numerical {
                context: CONTEXT,
                detail: format!("target layer {}: no held-out variance", m.target_layers[b]),
            });
        }
        // Σ(x−mx)(y−my)ᵀ of pair p over fold f, both sides scaled.
        let cross = |f: &FoldMoments, n: f64, sx: &Scale, sy: &Scale| {
            let xy = ArrayView2::from_shape((d_e, d_t), &f.xy[p]).expect("d_E·d_T floats");
            centred_cross(
                n,
                (&f.x_sum[a], &f.y_sum[b]),
                xy,
                (&sx.mean, &sy.mean),
                (&sx.sd, &sy.sd),
            )
        };
        let sxy = cross(fit, nf, &es.fit, &ty) / nf;
        let ch = cross(held, nh, &es.fit, &ty);
        let pm = es.vecs.t().dot(&sxy); // [d_E, d_T]
        let qm = es.vecs.t().dot(&ch); // [d_E, d_T]
        let pq = (&pm * &qm).sum_axis(Axis(1)); // [d_E]
        let mm = pm.dot(&pm.t()); // [d_E, d_E]
        let bm = &es.held_b * &mm; // element-wise
        let r2_grid: Vec<f64> = LAMBDA_GRID
            .iter()
            .map(|&lam| {
                let g = es.vals.mapv(|s| 1.0 / (s.max(0.0) + lam));
                let cross = g.dot(&pq);
                let quad = g.dot(&bm.dot(&g));
                1.0 - (y2 - 2.0 * cross + quad) / sst
            })
            .collect();
        let (best, &r2) = r2_grid
            .iter()
            .enumerate()
            .max_by(|x, y| x.1.total_cmp(y.1))
            .expect("grid is not empty");
        let lambda = LAMBDA_GRID[best];

        // Refit on both folds.
        let ta = target_scale(&all, na, b);
        let sxy_all = cross(&all, na, &es.all, &ta) / na;
        let g = es.all_vals.mapv(|s| 1.0 / (s.max(0.0) + lambda));
        let proj = es.all_vecs.t().dot(&sxy_all) * g.view().insert_axis(Axis(1));
        let w_std = es.all_vecs.dot(&proj); // [d_E, d_T]
        let w = Array2::from_shape_fn((d_t, d_e), |(j, i)| (w_std[[i, j]] * ta.sd[j]) as f32);
        let xs = &m.x_shift[a];
        let ys = &m.y_shift[b];
        fits[p] = Some(PairFit {
            expert_layer: m.expert_layers[a],
            target_layer: m.target_layers[b],
            lambda,
            r2,
            r2_grid,
            map: LinearMap {
                x_mean: (0..d_e).map(|i| (xs[i] + es.all.mean[i]) as f32).collect(),
                x_scale: es.all.sd.iter().map(|&v| v as f32).collect(),
                w: w.into_raw_vec_and_offset().0,
                y_mean: (0..d_t).map(|j| (ys[j] + ta.mean[j]) as f32).collect(),
            },
        });
        progress(done + 1, m.pairs.len());
    }
    out.extend(fits.into_iter().map(|f| f.expect("every pair fitted")));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::moments::Chunk;
    use crate::rng::SplitMix64;
    use faer::Par;

    /// Targets that are a linear map of the inputs plus noise: the streamed
    /// fit equals least squares on the rows themselves, and its held-out R²
    /// equals the R² of predicting the held-out rows directly.
    #[test]
    fn equals_least_squares_on_the_rows() {
        let (d_e, d_t, n) = (6, 3, 4000);
        let mut rng = SplitMix64::new(7);
        let mut normal = || {
            let (u, v) = (rng.next_f64().max(1e-12), rng.next_f64());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let truth: Vec<f64> = (0..d_e * d_t).map(|_| normal()).collect();
        let mut x = vec![0f32; n * d_e];
        let mut y = vec![0f32; n * d_t];
        for r in 0..n {
            let xr: Vec<f64> = (0..d_e)
                .map(|i| 50.0 + (i as f64 + 1.0) * normal())
                .collect();
            for (i, v) in xr.iter().enumerate() {
                x[r * d_e + i] = *v as f32;
            }
            for j in 0..d_t {
                let signal: f64 = (0..d_e).map(|i| (xr[i] - 50.0) * truth[i * d_t + j]).sum();
                y[r * d_t + j] = (-3.0 + signal + 2.0 * normal()) as f32;
            }
        }
        // Chunks of 100 rows; every fifth chunk held out.
        let held = |r: usize| (r / 100) % 5 == 4;
        let mut m = MapMoments::new(d_e, d_t, vec![2], vec![5], vec![(0, 0)]);
        for c in 0..(n / 100) {
            let (lo, hi) = (c * 100, (c + 1) * 100);
            let chunk = Chunk {
                rows: 100,
                x: vec![&x[lo * d_e..hi * d_e]],
                y: vec![&y[lo * d_t..hi * d_t]],
            };
            m.add(usize::from(held(lo)), &chunk, Par::Seq);
        }
        let fits = fit_pairs(&m, &mut |_, _| {}).unwrap();
        let f = &fits[0];
        assert_eq!((f.expert_layer, f.target_layer), (2, 5));
        assert_eq!(
            f.lambda,
            LAMBDA_GRID[f
                .r2_grid
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0]
        );

        let design = |rows: &[usize]| {
            Array2::from_shape_fn((rows.len(), d_e + 1), |(k, i)| {
                if i == d_e {
                    1.0
                } else {
                    x[rows[k] * d_e + i] as f64
                }
            })
        };
        let targets = |rows: &[usize]| {
            Array2::from_shape_fn((rows.len(), d_t), |(k, j)| y[rows[k] * d_t + j] as f64)
        };
        // Coefficients: least squares on every row (the map's λ ≤ 1e-2 of a
        // unit-diagonal Gram shrinks them by well under 1 %).
        let all: Vec<usize> = (0..n).collect();
        let b = crate::linalg::ridge_solve(&design(&all), &targets(&all), 1e-10).unwrap();
        assert!(f.lambda <= 1e-2, "lambda {}", f.lambda);
        for j in 0..d_t {
            for i in 0..d_e {
                let got = f.map.w[j * d_e + i] as f64 / f.map.x_scale[i] as f64;
                assert!(
                    (got - b[[i, j]]).abs() < 0.01 * (1.0 + b[[i, j]].abs()),
                    "w[{j},{i}] {got} vs {}",
                    b[[i, j]]
                );
            }
        }
        // The planted map is recovered within the noise.
        for (k, t) in truth.iter().enumerate() {
            assert!((b[[k / d_t, k % d_t]] - t).abs() < 0.15, "coefficient {k}");
        }
        // Held-out R² at the smallest λ: fit on the fit rows, predict the
        // held-out rows, in the fit rows' standardised target units.
        let (fit_rows, held_rows): (Vec<usize>, Vec<usize>) = (0..n).partition(|&r| !held(r));
        let bf =
            crate::linalg::ridge_solve(&design(&fit_rows), &targets(&fit_rows), 1e-10).unwrap();
        let yf = targets(&fit_rows);
        let sd = yf.var_axis(Axis(0), 0.0).mapv(f64::sqrt);
        let yh = targets(&held_rows);
        let pred = design(&held_rows).dot(&bf);
        let sse: f64 = ((&yh - &pred) / &sd).mapv(|v| v * v).sum();
        let mh = yh.mean_axis(Axis(0)).unwrap();
        let sst: f64 = ((&yh - &mh) / &sd).mapv(|v| v * v).sum();
        let r2 = 1.0 - sse / sst;
        assert!(
            (f.r2_grid[0] - r2).abs() < 2e-3,
            "held-out R² {} vs direct {r2}",
            f.r2_grid[0]
        );
        assert!(r2 > 0.5);
        // The linear part maps a direction without the means.
        let v: Vec<f32> = (0..d_e).map(|i| if i == 0 { 1.0 } else { 0.0 }).collect();
        let mapped = f.map.map_direction(&v);
        for j in 0..d_t {
            assert!((mapped[j] as f64 - b[[0, j]]).abs() < 0.01 * (1.0 + b[[0, j]].abs()));
        }
    }

    #[test]
    fn unrelated_targets_give_r2_near_zero_and_need_both_folds() {
        let (d_e, d_t, n) = (4, 2, 3000);
        let mut rng = SplitMix64::new(3);
        let x: Vec<f32> = (0..n * d_e).map(|_| rng.next_f64() as f32).collect();
        let y: Vec<f32> = (0..n * d_t).map(|_| rng.next_f64() as f32).collect();
        let mut m = MapMoments::new(d_e, d_t, vec![0], vec![0], vec![(0, 0)]);
        let chunk = Chunk {
            rows: n,
            x: vec![&x],
            y: vec![&y],
        };
        m.add(0, &chunk, Par::Seq);
        assert!(fit_pairs(&m, &mut |_, _| {}).is_err(), "no held-out rows");
        let mut held = MapMoments::new(d_e, d_t, vec![0], vec![0], vec![(0, 0)]);
        held.add(
            0,
            &Chunk {
                rows: n,
                x: vec![&x],
                y: vec![&y],
            },
            Par::Seq,
        );
        // Held-out rows from a different stream of the same noise.
        let x2: Vec<f32> = (0..n * d_e).map(|_| rng.next_f64() as f32).collect();
        let y2: Vec<f32> = (0..n * d_t).map(|_| rng.next_f64() as f32).collect();
        held.add(
            1,
            &Chunk {
                rows: n,
                x: vec![&x2],
                y: vec![&y2],
            },
            Par::Seq,
        );
        let f = &fit_pairs(&held, &mut |_, _| {}).unwrap()[0];
        assert!(f.r2.abs() < 0.02, "r2 {}", f.r2);
    }
}
