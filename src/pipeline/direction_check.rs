//! Checks on a steering file's directions against the target's own
//! (METHOD.md step 1, "check every mapped direction"): the cosine of each
//! steered layer's direction to a reference direction at the same target
//! layer (e.g. the target's CAA), the distribution of |cosine| that random
//! directions reach in the same dimension, and the random-direction control
//! file (the floor of a behaviour evaluation).
//!
//! A direction mapped from an expert through an alignment that ignores the
//! target's coordinates should look like a random one here: |cosine| of
//! order 1/√d (about 0.04 at d = 576).

use crate::rng::SplitMix64;
use crate::steering::steerfile::{Method, SteerFile, SteerLayer};
use crate::{Error, Result};

/// One steered layer of a file next to the reference's direction there.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerCosine {
    /// Target layer (0-based block, `l_out-j`).
    pub target_layer: usize,
    /// The expert layer the file's direction came from, if any.
    pub expert_layer: Option<usize>,
    /// cos(u_j, reference u_j), in [-1, 1].
    pub cosine: f64,
}

/// Cosine of two equal-length vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x as f64, y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// For every steered layer of `file`, the cosine of its direction to
/// `reference`'s direction at the same target layer. Both files must be for
/// the same target shape; a layer the reference lacks is an error naming it
/// (fit the reference on every layer: `fit --method caa --target-layers
/// 1-29`).
pub fn layer_cosines(file: &SteerFile, reference: &SteerFile) -> Result<Vec<LayerCosine>> {
    if (file.target.n_embd, file.target.n_layer)
        != (reference.target.n_embd, reference.target.n_layer)
    {
        return Err(Error::Input(format!(
            "the files are for different targets ({} blocks x {} against {} x {})",
            file.target.n_layer,
            file.target.n_embd,
            reference.target.n_layer,
            reference.target.n_embd
        )));
    }
    file.layers
        .iter()
        .map(|l| {
            let r = reference
                .layers
                .iter()
                .find(|r| r.target_layer == l.target_layer)
                .ok_or_else(|| {
                    Error::Input(format!(
                        "the reference file has no direction at target layer {}",
                        l.target_layer
                    ))
                })?;
            Ok(LayerCosine {
                target_layer: l.target_layer,
                expert_layer: l.expert_layer,
                cosine: cosine(&l.direction, &r.direction),
            })
        })
        .collect()
}

/// A unit vector drawn uniformly from the sphere in `d` dimensions.
pub fn random_unit(d: usize, rng: &mut SplitMix64) -> Vec<f32> {
    let v: Vec<f64> = (0..d).map(|_| rng.gaussian()).collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f64>()
        .sqrt()
        .max(f64::MIN_POSITIVE);
    v.iter().map(|x| (x / norm) as f32).collect()
}

/// Quantiles of |cosine| between a fixed direction and `n` random unit
/// directions in `d` dimensions (by symmetry, any fixed direction): the
/// mean and the 50th, 95th and 99th percentiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomCosine {
    /// Dimension d.
    pub d: usize,
    /// Number of random directions drawn.
    pub n: usize,
    /// Mean |cosine| (about √(2/(π d)) for large d).
    pub mean_abs: f64,
    /// Median |cosine|.
    pub p50: f64,
    /// 95th percentile of |cosine| (about 1.96/√d).
    pub p95: f64,
    /// 99th percentile of |cosine|.
    pub p99: f64,
}

/// [`RandomCosine`] from `n` draws (seeded).
pub fn random_cosine(d: usize, n: usize, seed: u64) -> RandomCosine {
    let mut rng = SplitMix64::new(seed);
    let mut fixed = vec![0.0f32; d];
    if let Some(first) = fixed.first_mut() {
        *first = 1.0;
    }
    let mut abs: Vec<f64> = (0..n)
        .map(|_| cosine(&random_unit(d, &mut rng), &fixed).abs())
        .collect();
    abs.sort_by(f64::total_cmp);
    let q = |p: f64| {
        if abs.is_empty() {
            f64::NAN
        } else {
            abs[((p * (abs.len() - 1) as f64).round() as usize).min(abs.len() - 1)]
        }
    };
    RandomCosine {
        d,
        n,
        mean_abs: abs.iter().sum::<f64>() / n.max(1) as f64,
        p50: q(0.5),
        p95: q(0.95),
        p99: q(0.99),
    }
}

/// The random-direction control for `like`: the same target, layers, r_j
/// and default strength, each direction replaced by a random unit vector
/// (seeded), so a strength sweep moves the same norm in a direction that
/// carries nothing.
pub fn random_like(like: &SteerFile, seed: u64) -> SteerFile {
    let mut rng = SplitMix64::new(seed);
    let d = like.target.n_embd;
    let layers = like
        .layers
        .iter()
        .map(|l| SteerLayer {
            target_layer: l.target_layer,
            expert_layer: None,
            direction: random_unit(d, &mut rng),
            mean_norm: l.mean_norm,
            val_auc: None,
            mi: None,
        })
        .collect();
    let mut params = std::collections::BTreeMap::new();
    params.insert("method".into(), Method::Random.to_string());
    params.insert("seed".into(), seed.to_string());
    params.insert("layers_and_norms_of".into(), like.method.to_string());
    SteerFile {
        target: like.target.clone(),
        expert: None,
        method: Method::Random,
        layers,
        default_strength: like.default_strength,
        params,
        mi: None,
        data_sha256: like.data_sha256.clone(),
        n_texts: like.n_texts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expertsteer_core::testing::sample_file;

    #[test]
    fn random_cosines_in_576_dimensions_match_the_sphere() {
        let r = random_cosine(576, 4000, 7);
        // E|cos| = Γ(d/2) / (√π Γ((d+1)/2)) ≈ √(2/(π d)) = 0.0332.
        let expect = (2.0 / (std::f64::consts::PI * 576.0)).sqrt();
        assert!((r.mean_abs - expect).abs() < 0.002, "{r:?}");
        assert!((r.p95 - 1.96 / 24.0).abs() < 0.006, "{r:?}");
        assert!(r.p50 < r.p95 && r.p95 < r.p99);
    }

    #[test]
    fn a_file_against_itself_is_one_and_against_its_random_control_near_zero() {
        let mut f = sample_file();
        f.target.n_embd = 576;
        f.layers[0].direction = (0..576).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut second = f.layers[0].clone();
        second.target_layer = 3;
        second.direction.reverse();
        f.layers.push(second);
        let same = layer_cosines(&f, &f).unwrap();
        assert!(
            same.iter().all(|c| (c.cosine - 1.0).abs() < 1e-6),
            "{same:?}"
        );
        let r = random_like(&f, 3);
        r.validate("random").unwrap();
        assert_eq!(r.method, Method::Random);
        let layers = |f: &SteerFile| -> Vec<(usize, f32)> {
            f.layers
                .iter()
                .map(|l| (l.target_layer, l.mean_norm))
                .collect()
        };
        assert_eq!(layers(&r), layers(&f));
        let cross = layer_cosines(&r, &f).unwrap();
        // 5 standard deviations of a random cosine at d = 576.
        let bound = 5.0 / (f.target.n_embd as f64).sqrt();
        assert!(cross.iter().all(|c| c.cosine.abs() < bound), "{cross:?}");
        // Seeded: the same seed gives the same file, another seed another.
        assert_eq!(random_like(&f, 3), r);
        assert_ne!(
            random_like(&f, 4).layers[0].direction,
            r.layers[0].direction
        );
    }

    #[test]
    fn a_reference_without_the_layer_is_named() {
        let f = sample_file();
        let mut reference = f.clone();
        let missing = reference.layers.remove(0).target_layer;
        let e = layer_cosines(&f, &reference).unwrap_err().to_string();
        assert!(e.contains(&format!("target layer {missing}")), "{e}");
    }
}
