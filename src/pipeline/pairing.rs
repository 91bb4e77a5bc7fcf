//! Step 2 of METHOD.md: mutual information between every aligned expert
//! layer Z_i and every target layer H^T_j, and the choice of intervention
//! layers from it.
//!
//! Input: per layer, one row per fit text (`[n_texts, d]`, same texts in the
//! same order on both sides). Output: the `[L_E, L_T]` MI matrix (nats) and
//! the chosen [`Pair`]s.
//!
//! Estimator (METHOD.md): each side is reduced to its first k principal
//! components (fitted on the same texts), the canonical correlations ρ_m
//! between the two reduced sets give MI = −½ Σ log(1 − ρ_m²), ρ clamped to
//! 0.999. Exact for jointly Gaussian variables, a lower bound otherwise, and
//! biased upwards by about k_x·k_y / (2n) nats from sampling (independent
//! layers do not give exactly 0). PCA uses the covariance of the states as
//! given: standardise first if a few massive dimensions should not dominate.

use crate::linalg::{centre, check_finite, column_means, eigh_desc, pca_of_centred};
use crate::num_error::{NumError, NumResult as Result};
use ndarray::{s, Array2};
use serde::{Deserialize, Serialize};
use std::ops::Deref;

/// Largest canonical correlation used, so that a near-duplicate pair of
/// layers gives a large but finite MI (−½ log(1 − 0.999²) ≈ 3.1 nats each).
pub const RHO_CLAMP: f64 = 0.999;

/// Which MI pairs become intervention layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PairBy {
    /// The K target layers whose best expert layer shares the most information (paper's reading).
    Highest,
    /// The K target layers whose best expert layer shares the least ("T lacks what E knows").
    Lowest,
    /// Ours (METHOD.md step 2, option): keep only the expert layers where
    /// the step-3 probe detects the concept (validation AUC ≥
    /// [`PairParams::min_auc`]), then, among those, the K target layers
    /// with the highest MI to their best kept expert layer. The paper's
    /// rules never ask whether the expert encodes the concept at the layer
    /// it steers from.
    Detectable,
    /// With a map (`fit --map`): each target layer takes the candidate
    /// expert layer whose map into it has the best held-out R².
    R2,
    /// With a map: the candidate expert layer at the target layer's
    /// relative depth.
    Depth,
}

/// Hyper-parameters of step 2, unchecked; see [`PairParams::check`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairParams {
    /// Principal components kept on each side before CCA. METHOD.md: 16.
    pub k_components: usize,
    /// Intervention layers K. METHOD.md: 4.
    pub n_layers: usize,
    /// Highest or lowest MI pairs.
    pub by: PairBy,
    /// First eligible target layer (0-based block). METHOD.md: 1, because
    /// llama.cpp's control vectors cannot touch block 0.
    pub min_target_layer: usize,
    /// [`PairBy::Detectable`] only: an expert layer is kept when its probe's
    /// validation AUC is at least this (0.5 = chance, 1 = perfect).
    #[serde(default = "default_min_auc")]
    pub min_auc: f64,
}

/// Default of [`PairParams::min_auc`]: well above the 0.51-0.57 the probe
/// reached on the expert layers the paper's rules chose (EVALUATION.md).
pub const DEFAULT_MIN_AUC: f64 = 0.8;

fn default_min_auc() -> f64 {
    DEFAULT_MIN_AUC
}

impl Default for PairParams {
    fn default() -> Self {
        Self {
            k_components: 16,
            n_layers: 4,
            by: PairBy::Highest,
            min_target_layer: 1,
            min_auc: DEFAULT_MIN_AUC,
        }
    }
}

impl PairParams {
    /// Sets [`PairParams::k_components`].
    pub fn k_components(mut self, k: usize) -> Self {
        self.k_components = k;
        self
    }
    /// Sets [`PairParams::n_layers`].
    pub fn n_layers(mut self, n_layers: usize) -> Self {
        self.n_layers = n_layers;
        self
    }
    /// Sets [`PairParams::by`].
    pub fn by(mut self, by: PairBy) -> Self {
        self.by = by;
        self
    }
    /// Sets [`PairParams::min_target_layer`].
    pub fn min_target_layer(mut self, layer: usize) -> Self {
        self.min_target_layer = layer;
        self
    }

    /// Sets [`PairParams::min_auc`].
    pub fn min_auc(mut self, min_auc: f64) -> Self {
        self.min_auc = min_auc;
        self
    }

    /// Validates every field.
    pub fn check(&self) -> Result<PairValidParams> {
        if !(0.0..=1.0).contains(&self.min_auc) {
            return Err(NumError::InvalidParam {
                field: "min_auc",
                value: self.min_auc.to_string(),
                allowed: "0..=1",
            });
        }
        if self.k_components == 0 {
            return Err(NumError::InvalidParam {
                field: "k_components",
                value: "0".into(),
                allowed: ">= 1",
            });
        }
        if self.n_layers == 0 {
            return Err(NumError::InvalidParam {
                field: "n_layers",
                value: "0".into(),
                allowed: ">= 1",
            });
        }
        Ok(PairValidParams(self.clone()))
    }
}

/// Validated [`PairParams`]; read its fields through `Deref`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PairParams", into = "PairParams")]
pub struct PairValidParams(PairParams);

impl Default for PairValidParams {
    fn default() -> Self {
        PairParams::default().check().expect("defaults are valid")
    }
}

impl Deref for PairValidParams {
    type Target = PairParams;
    fn deref(&self) -> &PairParams {
        &self.0
    }
}

impl TryFrom<PairParams> for PairValidParams {
    type Error = NumError;
    fn try_from(p: PairParams) -> Result<Self> {
        p.check()
    }
}

impl From<PairValidParams> for PairParams {
    fn from(p: PairValidParams) -> Self {
        p.0
    }
}

/// One intervention layer and the expert layer that steers it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Expert layer i*(j) (0-based block of the expert).
    pub expert_layer: usize,
    /// Target layer j (0-based block of the target, the `l_out-j` tensor).
    pub target_layer: usize,
    /// MI(i*(j), j) in nats.
    pub mi: f64,
}

/// A layer's top-k principal scores, whitened: `[n, k']` with identity
/// sample covariance (k' ≤ k: directions of zero variance are dropped).
/// Computed once per layer so that each (i, j) pair is a small k×k problem.
#[derive(Clone, Debug)]
pub struct WhitenedScores {
    scores: Array2<f64>,
}

impl WhitenedScores {
    /// PCA to k components, then whitening. `x` `[n, d]`, n ≥ 2k + 2.
    pub fn new(x: &Array2<f32>, k: usize) -> Result<Self> {
        const CONTEXT: &str = "pairing::WhitenedScores::new";
        let n = x.nrows();
        if n < 2 * k + 2 {
            // With n ≤ k_x + k_y the sample canonical correlations are all 1.
            return Err(NumError::NotEnoughSamples {
                context: CONTEXT,
                needed: 2 * k + 2,
                got: n,
            });
        }
        check_finite(x.view(), CONTEXT, "layer states")?;
        let xc = centre(x.view(), column_means(x.view()).view()); // [n, d]
        let (_, axes) = pca_of_centred(&xc, k)?; // [d, k]
        let scores = xc.dot(&axes); // [n, k]
                                    // Whiten with the scores' own covariance rather than the PCA
                                    // variances, so approximate (randomized) axes are still whitened exactly.
        let cov = scores.t().dot(&scores) / (n - 1) as f64; // [k, k]
        let (vals, vecs) = eigh_desc(&cov)?;
        let floor = 1e-10 * vals.first().copied().unwrap_or(0.0).max(0.0);
        let keep = vals.iter().take_while(|&&v| v > floor && v > 0.0).count();
        let mut w = vecs.slice(s![.., ..keep]).to_owned(); // [k, k']
        for (mut col, &v) in w.columns_mut().into_iter().zip(vals.iter()) {
            col /= v.sqrt();
        }
        Ok(Self {
            scores: scores.dot(&w),
        })
    }

    /// Number of texts n.
    pub fn n_texts(&self) -> usize {
        self.scores.nrows()
    }

    /// Number of whitened components k' kept.
    pub fn n_components(&self) -> usize {
        self.scores.ncols()
    }
}

/// Canonical correlations between two whitened layers, descending,
/// min(k'_x, k'_y) of them, clamped to [0, [`RHO_CLAMP`]].
pub fn canonical_correlations(a: &WhitenedScores, b: &WhitenedScores) -> Result<Vec<f64>> {
    if a.n_texts() != b.n_texts() {
        return Err(NumError::ShapeMismatch {
            context: "pairing::canonical_correlations",
            left_name: "first layer's scores",
            left: a.scores.shape().to_vec(),
            right_name: "second layer's scores",
            right: b.scores.shape().to_vec(),
        });
    }
    let n = a.n_texts();
    let c = a.scores.t().dot(&b.scores) / (n - 1) as f64; // [k_a, k_b] whitened cross-covariance
                                                          // ρ² are the eigenvalues of C Cᵀ (or Cᵀ C, whichever is smaller).
    let gram = if c.nrows() <= c.ncols() {
        c.dot(&c.t())
    } else {
        c.t().dot(&c)
    };
    let (rho_sq, _) = eigh_desc(&gram)?;
    Ok(rho_sq
        .iter()
        .map(|&r2| r2.max(0.0).sqrt().min(RHO_CLAMP))
        .collect())
}

/// −½ Σ log(1 − ρ²) in nats from whitened scores.
pub fn mi_from_scores(a: &WhitenedScores, b: &WhitenedScores) -> Result<f64> {
    let rho = canonical_correlations(a, b)?;
    Ok(-0.5 * rho.iter().map(|r| (1.0 - r * r).ln()).sum::<f64>())
}

/// Gaussian MI estimate (nats) between `x` `[n, a]` and `y` `[n, b]` via
/// their top-`k` principal components (see the module comment).
pub fn mi_gaussian(x: &Array2<f32>, y: &Array2<f32>, k: usize) -> Result<f64> {
    if x.nrows() != y.nrows() {
        return Err(NumError::ShapeMismatch {
            context: "pairing::mi_gaussian",
            left_name: "x",
            left: x.shape().to_vec(),
            right_name: "y",
            right: y.shape().to_vec(),
        });
    }
    mi_from_scores(&WhitenedScores::new(x, k)?, &WhitenedScores::new(y, k)?)
}

/// MI matrix `[L_E, L_T]` (nats): entry (i, j) = MI(Z_i, H^T_j).
///
/// `expert_layers[i]`: aligned expert states Z_i `[n, d_T]`;
/// `target_layers[j]`: target states `[n, d_T]` of block j. Each layer's
/// whitened PCA scores are computed once.
pub fn mi_matrix(
    expert_layers: &[Array2<f32>],
    target_layers: &[Array2<f32>],
    k: usize,
) -> Result<Array2<f64>> {
    const CONTEXT: &str = "pairing::mi_matrix";
    let n = match expert_layers.first().or(target_layers.first()) {
        Some(x) => x.nrows(),
        None => return Ok(Array2::zeros((expert_layers.len(), target_layers.len()))),
    };
    for (name, layers) in [
        ("expert layer", expert_layers),
        ("target layer", target_layers),
    ] {
        for x in layers {
            if x.nrows() != n {
                return Err(NumError::ShapeMismatch {
                    context: CONTEXT,
                    left_name: "first layer",
                    left: vec![
                        n,
                        expert_layers
                            .first()
                            .or(target_layers.first())
                            .unwrap()
                            .ncols(),
                    ],
                    right_name: name,
                    right: x.shape().to_vec(),
                });
            }
        }
    }
    let expert: Vec<WhitenedScores> = expert_layers
        .iter()
        .map(|x| WhitenedScores::new(x, k))
        .collect::<Result<_>>()?;
    let target: Vec<WhitenedScores> = target_layers
        .iter()
        .map(|x| WhitenedScores::new(x, k))
        .collect::<Result<_>>()?;
    let mut mi = Array2::<f64>::zeros((expert.len(), target.len())); // [L_E, L_T]
    for (i, e) in expert.iter().enumerate() {
        for (j, t) in target.iter().enumerate() {
            mi[[i, j]] = mi_from_scores(e, t)?;
        }
    }
    Ok(mi)
}

/// Intervention layers from an MI matrix `[L_E, L_T]`.
///
/// Each eligible target layer j (min_target_layer ..= L_T − 1) takes
/// i*(j) = argmax_i MI(i, j); the K layers with the highest (or lowest)
/// MI(i*(j), j) are returned, sorted by target layer. Ties go to the lower
/// layer index, so the result is deterministic.
///
/// [`PairBy::Detectable`] needs the probe's AUC per expert layer: use
/// [`choose_pairs_detectable`]; here it is refused.
pub fn choose_pairs(mi: &Array2<f64>, params: &PairValidParams) -> Result<Vec<Pair>> {
    if params.by == PairBy::Detectable {
        return Err(NumError::InvalidParam {
            field: "by",
            value: "detectable".into(),
            allowed: "highest or lowest (detectable needs the probe AUCs: choose_pairs_detectable)",
        });
    }
    let all: Vec<usize> = (0..mi.nrows()).collect();
    choose_among(mi, &all, params)
}

/// The expert layers [`PairBy::Detectable`] keeps: those whose probe AUC
/// (`aucs[i]` for expert layer i) is at least `min_auc`, in layer order.
pub fn detectable_layers(aucs: &[f64], min_auc: f64) -> Vec<usize> {
    (0..aucs.len()).filter(|&i| aucs[i] >= min_auc).collect()
}

/// [`PairBy::Detectable`]: pairs from the MI matrix `[L_E, L_T]` using only
/// the expert layers whose probe AUC (`aucs`, one per expert layer) is at
/// least `params.min_auc`; among them, the K target layers with the highest
/// MI to their best kept expert layer. Refuses (naming the best layer) when
/// no expert layer reaches the threshold.
pub fn choose_pairs_detectable(
    mi: &Array2<f64>,
    aucs: &[f64],
    params: &PairValidParams,
) -> Result<Vec<Pair>> {
    const CONTEXT: &str = "pairing::choose_pairs_detectable";
    if aucs.len() != mi.nrows() {
        return Err(NumError::ShapeMismatch {
            context: CONTEXT,
            left_name: "MI matrix",
            left: mi.shape().to_vec(),
            right_name: "probe AUCs",
            right: vec![aucs.len()],
        });
    }
    let kept = detectable_layers(aucs, params.min_auc);
    if kept.is_empty() {
        let best = (0..aucs.len()).max_by(|&a, &b| aucs[a].total_cmp(&aucs[b]));
        return Err(NumError::Numerical {
            context: CONTEXT,
            detail: match best {
                Some(i) => format!(
                    "no expert layer's probe reaches validation AUC {}: the best is layer {i} \
                     at {:.3}; lower --min-auc or use --pair-by lowest/highest",
                    params.min_auc, aucs[i]
                ),
                None => "the expert has no layers".into(),
            },
        });
    }
    choose_among(mi, &kept, params)
}

/// The pairing rule over the expert layers `rows` (each < L_E).
fn choose_among(mi: &Array2<f64>, rows: &[usize], params: &PairValidParams) -> Result<Vec<Pair>> {
    const CONTEXT: &str = "pairing::choose_pairs";
    let l_t = mi.ncols();
    if let Some(((row, col), &value)) = mi.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(NumError::NonFinite {
            context: CONTEXT,
            what: "MI matrix",
            row,
            col,
            value,
        });
    }
    let available = l_t.saturating_sub(params.min_target_layer);
    if rows.is_empty() || available < params.n_layers {
        return Err(NumError::TooFewLayers {
            context: CONTEXT,
            requested: params.n_layers,
            available: if rows.is_empty() { 0 } else { available },
            min_layer: params.min_target_layer,
            max_layer: l_t.saturating_sub(1),
        });
    }
    let mut candidates: Vec<Pair> = (params.min_target_layer..l_t)
        .map(|j| {
            let col = mi.column(j);
            // First maximum wins ties.
            let i = rows
                .iter()
                .copied()
                .fold(rows[0], |best, i| if col[i] > col[best] { i } else { best });
            Pair {
                expert_layer: i,
                target_layer: j,
                mi: col[i],
            }
        })
        .collect();
    // Stable sort keeps target-layer order among equal MI.
    match params.by {
        // Detectable: the strongest pairs among the kept expert layers.
        PairBy::Highest | PairBy::Detectable => candidates.sort_by(|a, b| b.mi.total_cmp(&a.mi)),
        PairBy::Lowest => candidates.sort_by(|a, b| a.mi.total_cmp(&b.mi)),
        PairBy::R2 | PairBy::Depth => {
            return Err(NumError::InvalidParam {
                field: "by",
                value: format!("{:?}", params.by),
                allowed: "highest, lowest or detectable (r2 and depth need a map: fit --map)",
            })
        }
    }
    candidates.truncate(params.n_layers);
    candidates.sort_by_key(|p| p.target_layer);
    Ok(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::orthonormalize_columns;
    use crate::rng::SplitMix64;
    use ndarray::{concatenate, Array1, Axis};

    fn rotation(d: usize, rng: &mut SplitMix64) -> Array2<f64> {
        let mut q = rng.gaussian_matrix(d, d);
        orthonormalize_columns(&mut q, rng).unwrap();
        q
    }

    /// x `[n, d_x]`, y `[n, d_y]`: latent pairs with correlations `rho`
    /// (variance `signal_var`), padded with unit-variance independent noise,
    /// each side randomly rotated so no coordinate is special.
    fn correlated_pair(
        n: usize,
        d_x: usize,
        d_y: usize,
        rho: &[f64],
        signal_var: f64,
        rng: &mut SplitMix64,
    ) -> (Array2<f32>, Array2<f32>) {
        let m = rho.len();
        let u = rng.gaussian_matrix(n, m);
        let e = rng.gaussian_matrix(n, m);
        let r = Array1::from(rho.to_vec());
        let v = &u * &r + &e * &r.mapv(|p| (1.0 - p * p).sqrt());
        let sd = signal_var.sqrt();
        let x =
            concatenate![Axis(1), u * sd, rng.gaussian_matrix(n, d_x - m)].dot(&rotation(d_x, rng));
        let y =
            concatenate![Axis(1), v * sd, rng.gaussian_matrix(n, d_y - m)].dot(&rotation(d_y, rng));
        (x.mapv(|a| a as f32), y.mapv(|a| a as f32))
    }

    #[test]
    fn mi_matches_the_gaussian_closed_form_within_five_percent() {
        let mut rng = SplitMix64::new(31);
        let rho = [0.9, 0.8, 0.6, 0.4, 0.2];
        let truth = -0.5 * rho.iter().map(|r: &f64| (1.0 - r * r).ln()).sum::<f64>();
        let (x, y) = correlated_pair(4000, 32, 30, &rho, 4.0, &mut rng);
        let est = mi_gaussian(&x, &y, 16).unwrap();
        let rel = (est - truth) / truth;
        eprintln!("MI estimate {est:.4} nats, closed form {truth:.4}, relative error {rel:+.4}");
        assert!(rel.abs() < 0.05, "relative error {rel}");
        let ws = (
            WhitenedScores::new(&x, 16).unwrap(),
            WhitenedScores::new(&y, 16).unwrap(),
        );
        let cc = canonical_correlations(&ws.0, &ws.1).unwrap();
        for (est, truth) in cc.iter().zip(rho) {
            assert!((est - truth).abs() < 0.05, "ρ {est} vs {truth}");
        }
        // Independent layers: only the k_x·k_y/(2n) sampling bias remains.
        let (a, _) = correlated_pair(4000, 32, 30, &rho, 4.0, &mut rng);
        let indep = mi_gaussian(&a, &y, 16).unwrap();
        eprintln!(
            "MI of independent layers {indep:.4} nats (bias scale {:.4})",
            256.0 / 8000.0
        );
        assert!(indep < 0.08, "{indep}");
    }

    #[test]
    fn near_identical_layers_hit_the_clamp_not_infinity() {
        let mut rng = SplitMix64::new(32);
        let x = rng.gaussian_matrix_f32(200, 8);
        let mi = mi_gaussian(&x, &x, 4).unwrap();
        let cap = -0.5 * 4.0 * (1.0 - RHO_CLAMP * RHO_CLAMP).ln();
        assert!((mi - cap).abs() < 1e-9, "{mi} vs {cap}");
    }

    #[test]
    fn pairing_recovers_a_planted_layer_pair() {
        let mut rng = SplitMix64::new(33);
        let n = 1000;
        let (shared_e, shared_t) = correlated_pair(n, 20, 24, &[0.95, 0.9, 0.85], 4.0, &mut rng);
        let expert: Vec<Array2<f32>> = (0..5)
            .map(|i| {
                if i == 2 {
                    shared_e.clone()
                } else {
                    rng.gaussian_matrix_f32(n, 20)
                }
            })
            .collect();
        let target: Vec<Array2<f32>> = (0..6)
            .map(|j| {
                if j == 4 {
                    shared_t.clone()
                } else {
                    rng.gaussian_matrix_f32(n, 24)
                }
            })
            .collect();
        let mi = mi_matrix(&expert, &target, 16).unwrap();
        assert_eq!(mi.dim(), (5, 6));
        // Entry (i, j) is the pairwise estimate.
        let direct = mi_gaussian(&expert[2], &target[4], 16).unwrap();
        assert!((mi[[2, 4]] - direct).abs() < 1e-9);
        let best = choose_pairs(&mi, &PairParams::default().n_layers(1).check().unwrap()).unwrap();
        assert_eq!(
            best,
            vec![Pair {
                expert_layer: 2,
                target_layer: 4,
                mi: mi[[2, 4]]
            }]
        );
        let planted = mi[[2, 4]];
        let noise_max = mi
            .iter()
            .copied()
            .filter(|&v| v != planted)
            .fold(0.0, f64::max);
        eprintln!("planted pair MI {planted:.3} nats, largest other {noise_max:.3}");
        // Lowest: never the planted layer, never layer 0, sorted by target layer.
        let low = choose_pairs(
            &mi,
            &PairParams::default()
                .n_layers(3)
                .by(PairBy::Lowest)
                .check()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(low.len(), 3);
        assert!(low
            .iter()
            .all(|p| p.target_layer != 4 && p.target_layer >= 1));
        assert!(low
            .windows(2)
            .all(|w| w[0].target_layer < w[1].target_layer));
        for p in &low {
            let col = mi.column(p.target_layer);
            assert!(
                col.iter().all(|&v| v <= p.mi),
                "i* must be the column's argmax"
            );
        }
    }

    #[test]
    fn detectable_pairing_steers_only_from_layers_whose_probe_sees_the_concept() {
        // Expert layer 0 has by far the highest MI everywhere (as early
        // layers do on real models) but its probe is at chance; layers 2
        // and 3 detect the concept.
        let mi = ndarray::arr2(&[
            [9.0, 9.0, 9.0, 9.0, 9.0, 9.0],
            [1.0, 5.0, 1.0, 1.0, 1.0, 1.0],
            [1.0, 1.0, 4.0, 3.0, 1.0, 1.0],
            [1.0, 1.0, 1.0, 2.0, 6.0, 0.5],
        ]);
        let aucs = [0.55, 0.79, 0.80, 0.95];
        assert_eq!(detectable_layers(&aucs, 0.8), vec![2, 3]);
        let params = PairParams::default()
            .by(PairBy::Detectable)
            .n_layers(2)
            .check()
            .unwrap();
        let pairs = choose_pairs_detectable(&mi, &aucs, &params).unwrap();
        assert_eq!(
            pairs,
            vec![
                Pair {
                    expert_layer: 2,
                    target_layer: 2,
                    mi: 4.0
                },
                Pair {
                    expert_layer: 3,
                    target_layer: 4,
                    mi: 6.0
                },
            ]
        );
        // The paper's rule on the same matrix steers from layer 0 only.
        let highest =
            choose_pairs(&mi, &PairParams::default().n_layers(2).check().unwrap()).unwrap();
        assert!(highest.iter().all(|p| p.expert_layer == 0));
        // Without the AUCs the rule cannot run.
        assert!(choose_pairs(&mi, &params).is_err());
    }

    #[test]
    fn detectable_pairing_names_the_best_layer_when_none_reaches_the_threshold() {
        let mi = Array2::<f64>::ones((3, 5));
        let params = PairParams::default()
            .by(PairBy::Detectable)
            .n_layers(2)
            .min_auc(0.9)
            .check()
            .unwrap();
        let err = choose_pairs_detectable(&mi, &[0.5, 0.7, 0.6], &params)
            .unwrap_err()
            .to_string();
        assert!(err.contains("layer 1 at 0.700"), "{err}");
        assert!(choose_pairs_detectable(&mi, &[0.95, 0.7], &params).is_err());
        assert!(PairParams::default().min_auc(1.5).check().is_err());
    }

    #[test]
    fn too_many_layers_or_too_few_texts_are_refused_with_counts() {
        let mi = Array2::<f64>::zeros((2, 4));
        let err = choose_pairs(&mi, &PairParams::default().check().unwrap()).unwrap_err();
        assert!(
            matches!(
                err,
                NumError::TooFewLayers {
                    requested: 4,
                    available: 3,
                    ..
                }
            ),
            "{err}"
        );
        let x = Array2::<f32>::zeros((20, 5));
        assert!(matches!(
            mi_gaussian(&x, &x, 16),
            Err(NumError::NotEnoughSamples {
                needed: 34,
                got: 20,
                ..
            })
        ));
        assert!(PairParams::default().k_components(0).check().is_err());
    }
}
