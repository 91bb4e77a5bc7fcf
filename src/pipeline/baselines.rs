//! The self-steering baselines of METHOD.md, computed on the target's own
//! states of one layer: CAA, repeng's `pca_diff`, and self-RFM.
//!
//! Input: target states `[n, d_T]` (positive/negative, paired where the method
//! needs pairs). Output: a unit direction in the target's raw coordinates whose
//! sign points toward the concept, so the evaluation can apply every method
//! with the same strength sweep.

use crate::linalg::{check_finite, column_means, pca_of_centred};
use crate::num_error::{NumError, NumResult as Result};
use crate::pipeline::rfm::{fit_rfm, RfmResult, RfmValidParams};
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};

/// Contrastive activation addition: mean(positive) − mean(negative).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaaDirection {
    /// Unit direction `[d]`.
    pub direction: Vec<f32>,
    /// ‖mean(positive) − mean(negative)‖ in the states' raw units, before normalising.
    pub raw_norm: f32,
}

/// repeng's `pca_diff`: first principal component of the paired differences.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PcaDiffDirection {
    /// Unit direction `[d]`, oriented by majority vote.
    pub direction: Vec<f32>,
    /// Share of the (centred) differences' variance on this component.
    pub explained_variance_ratio: f64,
    /// Fraction of pairs whose positive projects above its negative (≥ 0.5 after orientation, unless tied pairs abound).
    pub agreement: f64,
}

fn check_pair_shapes(
    pos: &Array2<f32>,
    neg: &Array2<f32>,
    paired: bool,
    context: &'static str,
) -> Result<()> {
    let mismatch = pos.ncols() != neg.ncols() || (paired && pos.nrows() != neg.nrows());
    if mismatch {
        return Err(NumError::ShapeMismatch {
            context,
            left_name: "positive states",
            left: pos.shape().to_vec(),
            right_name: "negative states",
            right: neg.shape().to_vec(),
        });
    }
    for (x, what) in [(pos, "positive states"), (neg, "negative states")] {
        if x.nrows() == 0 {
            return Err(NumError::NotEnoughSamples {
                context,
                needed: 1,
                got: 0,
            });
        }
        check_finite(x.view(), context, what)?;
    }
    Ok(())
}

/// CAA direction from positive `[n_pos, d]` and negative `[n_neg, d]` states (need not be paired).
pub fn caa(pos: &Array2<f32>, neg: &Array2<f32>) -> Result<CaaDirection> {
    const CONTEXT: &str = "baselines::caa";
    check_pair_shapes(pos, neg, false, CONTEXT)?;
    let diff = column_means(pos.view()) - column_means(neg.view()); // [d]
    let norm = diff.dot(&diff).sqrt();
    if norm.is_nan() || norm <= 0.0 {
        return Err(NumError::Numerical {
            context: CONTEXT,
            detail: "positive and negative means coincide: no CAA direction".into(),
        });
    }
    Ok(CaaDirection {
        direction: diff.iter().map(|&v| (v / norm) as f32).collect(),
        raw_norm: norm as f32,
    })
}

/// CAA from labelled states `x` `[n, d]` (true = concept present).
pub fn caa_labelled(x: &Array2<f32>, labels: &[bool]) -> Result<CaaDirection> {
    let (pos, neg) = split_by_label(x, labels, "baselines::caa_labelled")?;
    caa(&pos, &neg)
}

/// Rows of `x` `[n, d]` with label true, and with label false.
pub fn split_by_label(
    x: &Array2<f32>,
    labels: &[bool],
    context: &'static str,
) -> Result<(Array2<f32>, Array2<f32>)> {
    if x.nrows() != labels.len() {
        return Err(NumError::ShapeMismatch {
            context,
            left_name: "states",
            left: x.shape().to_vec(),
            right_name: "labels",
            right: vec![labels.len()],
        });
    }
    let pos: Vec<usize> = (0..labels.len()).filter(|&i| labels[i]).collect();
    let neg: Vec<usize> = (0..labels.len()).filter(|&i| !labels[i]).collect();
    if pos.is_empty() || neg.is_empty() {
        return Err(NumError::SingleClass {
            context,
            what: "labels",
            n: labels.len(),
            label: u8::from(neg.is_empty()),
        });
    }
    Ok((x.select(Axis(0), &pos), x.select(Axis(0), &neg)))
}

/// repeng's `pca_diff` from paired states: row r of `pos` `[n, d]` and of
/// `neg` `[n, d]` come from the same contrastive pair.
///
/// As in repeng (scikit-learn's PCA), the differences are centred before the
/// first component is taken, so the component is the direction along which
/// the pairs' differences vary most, not their mean (that is CAA). Sign as in
/// repeng: flipped when more pairs project their positive below their
/// negative than above; a tie keeps the solver's sign.
pub fn pca_diff(pos: &Array2<f32>, neg: &Array2<f32>) -> Result<PcaDiffDirection> {
    const CONTEXT: &str = "baselines::pca_diff";
    check_pair_shapes(pos, neg, true, CONTEXT)?;
    if pos.nrows() < 2 {
        return Err(NumError::NotEnoughSamples {
            context: CONTEXT,
            needed: 2,
            got: pos.nrows(),
        });
    }
    let diffs = pos.mapv(|v| v as f64) - neg.mapv(|v| v as f64); // [n, d]
    let centred = &diffs - &diffs.mean_axis(Axis(0)).expect("n >= 2");
    let total: f64 = centred.iter().map(|v| v * v).sum::<f64>() / (diffs.nrows() - 1) as f64;
    let (vars, axes) = pca_of_centred(&centred, 1)?;
    if !(total > 0.0 && vars[0] > 0.0) {
        return Err(NumError::Numerical {
            context: CONTEXT,
            detail:
                "all pair differences are equal: their principal component is undefined (use CAA)"
                    .into(),
        });
    }
    let mut u: Array1<f64> = axes.column(0).to_owned();
    let proj = diffs.dot(&u); // [n] positive minus negative projection per pair
    let above = proj.iter().filter(|&&p| p > 0.0).count();
    let below = proj.iter().filter(|&&p| p < 0.0).count();
    if below > above {
        u.mapv_inplace(|v| -v);
    }
    Ok(PcaDiffDirection {
        direction: u.iter().map(|&v| v as f32).collect(),
        explained_variance_ratio: vars[0] / total,
        agreement: above.max(below) as f64 / proj.len() as f64,
    })
}

/// Self-RFM: step 3 on the target's own states of one layer (no expert).
/// A thin wrapper over [`fit_rfm`], named so the evaluation's tables read like METHOD.md.
pub fn self_rfm(
    x_fit: &Array2<f32>,
    y_fit: &[bool],
    x_val: &Array2<f32>,
    y_val: &[bool],
    params: &RfmValidParams,
) -> Result<RfmResult> {
    fit_rfm(x_fit, y_fit, x_val, y_val, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn cos(u: &[f32], p: &Array1<f64>) -> f64 {
        let u = Array1::from_iter(u.iter().map(|&v| v as f64));
        u.dot(p) / (u.dot(&u).sqrt() * p.dot(p).sqrt())
    }

    #[test]
    fn caa_recovers_a_mean_shift_and_its_raw_norm() {
        let mut rng = SplitMix64::new(51);
        let d = 32;
        let shift = Array1::from_shape_fn(d, |j| if j < 4 { 1.5 } else { 0.0 }); // norm 3
        let neg = rng.gaussian_matrix(2000, d) + 7.0;
        let pos = rng.gaussian_matrix(1500, d) + 7.0 + &shift;
        let (pos, neg) = (pos.mapv(|v| v as f32), neg.mapv(|v| v as f32));
        let c = caa(&pos, &neg).unwrap();
        let cosine = cos(&c.direction, &shift);
        eprintln!("CAA cos {cosine:.4}, raw norm {:.3} (true 3)", c.raw_norm);
        assert!(cosine > 0.95);
        assert!((c.raw_norm - 3.0).abs() < 0.25);
        // Labelled form gives the same direction.
        let x = ndarray::concatenate![Axis(0), pos, neg];
        let labels: Vec<bool> = (0..3500).map(|i| i < 1500).collect();
        assert_eq!(caa_labelled(&x, &labels).unwrap(), c);
        assert!(matches!(
            caa_labelled(&x, &[true; 3500]),
            Err(NumError::SingleClass { .. })
        ));
    }

    #[test]
    fn pca_diff_finds_the_varying_difference_axis_and_orients_it_by_majority() {
        let mut rng = SplitMix64::new(52);
        let (n, d) = (400, 24);
        let w = Array1::from_shape_fn(d, |j| ((j * 7 % 5) as f64) - 2.0);
        let neg = rng.gaussian_matrix(n, d);
        // Differences s_r · w + noise, s_r ~ N(1, 1): about 84% of pairs agree.
        let s = Array1::from_shape_simple_fn(n, || 1.0 + rng.gaussian());
        let diffs = s
            .view()
            .insert_axis(Axis(1))
            .dot(&w.view().insert_axis(Axis(0)))
            + rng.gaussian_matrix(n, d) * 0.3;
        let pos = &neg + &diffs;
        let (pos, neg) = (pos.mapv(|v| v as f32), neg.mapv(|v| v as f32));
        let r = pca_diff(&pos, &neg).unwrap();
        let cosine = cos(&r.direction, &w);
        eprintln!(
            "pca_diff cos {cosine:.4}, explained {:.3}, agreement {:.3}",
            r.explained_variance_ratio, r.agreement
        );
        assert!(cosine > 0.95, "{cosine}");
        assert!(r.agreement > 0.75);
        // Swapping the roles flips the sign.
        let swapped = pca_diff(&neg, &pos).unwrap();
        assert!(cos(&swapped.direction, &w) < -0.95);
        assert!(matches!(
            pca_diff(&pos, &neg.slice(ndarray::s![..10, ..]).to_owned()),
            Err(NumError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn self_rfm_is_fit_rfm_on_the_targets_own_states() {
        let mut rng = SplitMix64::new(53);
        let x = rng.gaussian_matrix_f32(160, 6);
        let y: Vec<bool> = x.column(2).iter().map(|&v| v > 0.0).collect();
        let (xf, xv) = (
            x.slice(ndarray::s![..120, ..]).to_owned(),
            x.slice(ndarray::s![120.., ..]).to_owned(),
        );
        let params = crate::pipeline::rfm::RfmParams::default()
            .iterations(3)
            .check()
            .unwrap();
        let a = self_rfm(&xf, &y[..120], &xv, &y[120..], &params).unwrap();
        let b = fit_rfm(&xf, &y[..120], &xv, &y[120..], &params).unwrap();
        assert_eq!(a, b);
        assert!(a.direction[2] > 0.9, "{:?}", a.direction);
    }
}
