//! ExpertSteer's steps 1-3 through a fitted token-level map (`fit --map`):
//! the map file replaces step 1 (no generic texts are captured), step 2
//! picks, for each steered target layer, one of the map's candidate expert
//! layers, and step 3 finds the direction on the mapped expert states,
//! which are in the target layer's raw units, so the direction is used
//! there as it is (renormalised to the target's r_j when steering).

use crate::map::{MapFile, PairFit};
use crate::pipeline::align::{AlignMethod, AlignReport, Aligner};
use crate::pipeline::baselines::caa_labelled;
use crate::pipeline::fit::projection_auc;
use crate::pipeline::pairing::{mi_gaussian, PairBy, PairValidParams};
use crate::pipeline::rfm::{fit_rfm, RfmValidParams};
use crate::steering::steerfile::SteerLayer;
use crate::{linalg::Standardizer, Error, Result};
use ndarray::{Array1, Array2, Axis};
use serde::{Deserialize, Serialize};
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

/// How step 3 turns the mapped expert states into a direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpertDirection {
    /// RFM's top AGOP eigenvector (METHOD.md step 3).
    #[default]
    Rfm,
    /// Mean difference of the mapped states (the expert's CAA carried
    /// through the map's linear part, as the transfer papers do).
    MeanDiff,
}

/// The map's pair as a step-1 aligner: `encode` gives the target layer's
/// raw units. No decoder: a map is never inverted (the decoder is zero and
/// the reported errors are 1 − held-out R²).
pub fn aligner_of(p: &PairFit) -> Aligner {
    let m = &p.map;
    let (d_e, d_t) = (m.d_expert(), m.d_target());
    Aligner {
        input: Standardizer {
            mean: Array1::from_iter(m.x_mean.iter().map(|&v| v as f64)),
            scale: Array1::from_iter(m.x_scale.iter().map(|&v| v as f64)),
        },
        w_f: Array2::from_shape_vec((d_t, d_e), m.w.clone()).expect("checked shape"),
        b_f: Array1::from(m.y_mean.clone()),
        w_g: Array2::zeros((d_e, d_t)),
        b_g: Array1::zeros(d_e),
        report: AlignReport {
            method: AlignMethod::Paired,
            n_texts: 0,
            d_expert: d_e,
            d_target: d_t,
            relative_error: 1.0 - p.r2,
            map_relative_error: Some(1.0 - p.r2),
            ridge: Some(p.lambda),
            epochs: None,
            converged: None,
            loss_curve: Vec::new(),
        },
    }
}

/// K of the map's candidate target layers, evenly spread (both ends kept).
pub fn spread_candidates(candidates: &[usize], k: usize) -> Vec<usize> {
    let n = candidates.len();
    if k == 0 || n == 0 {
        return Vec::new();
    }
    if k >= n {
        return candidates.to_vec();
    }
    let mut v: Vec<usize> = (0..k)
        .map(|i| {
            let idx = if k == 1 {
                (n - 1) / 2
            } else {
                (i as f64 * (n - 1) as f64 / (k - 1) as f64).round() as usize
            };
            candidates[idx]
        })
        .collect();
    v.dedup();
    v
}

/// The candidate expert layer for `target_layer` under `by`. `score(p, by)`
/// gives candidate `p`'s MI (asked for by `highest`/`lowest`) or, for
/// `detectable`, the validation AUC of step 3's direction on its mapped
/// states.
pub fn choose_expert_layer(
    map: &MapFile,
    target_layer: usize,
    by: PairBy,
    score: &mut dyn FnMut(&PairFit, PairBy) -> Result<f64>,
) -> Result<usize> {
    let cands: Vec<&PairFit> = map
        .pairs
        .iter()
        .filter(|p| p.target_layer == target_layer)
        .collect();
    if cands.is_empty() {
        return Err(Error::Input(format!(
            "target layer {target_layer} is not in the map (its candidate target layers: {:?})",
            map.target_layers()
        )));
    }
    let pick = match by {
        PairBy::R2 => cands.iter().max_by(|a, b| a.r2.total_cmp(&b.r2)).copied(),
        PairBy::Depth => {
            let (l_e, l_t) = (map.expert.n_layer as f64, map.target.n_layer as f64);
            let centre = target_layer as f64 / (l_t - 1.0) * (l_e - 1.0);
            cands
                .iter()
                .min_by(|a, b| {
                    (a.expert_layer as f64 - centre)
                        .abs()
                        .total_cmp(&(b.expert_layer as f64 - centre).abs())
                })
                .copied()
        }
        PairBy::Highest | PairBy::Lowest | PairBy::Detectable => {
            let mut scored = Vec::with_capacity(cands.len());
            for p in &cands {
                scored.push((score(p, by)?, *p));
            }
            // Ties go to the lower expert layer.
            let best = if by == PairBy::Lowest {
                scored.iter().min_by(|a, b| {
                    a.0.total_cmp(&b.0)
                        .then(a.1.expert_layer.cmp(&b.1.expert_layer))
                })
            } else {
                scored.iter().max_by(|a, b| {
                    a.0.total_cmp(&b.0)
                        .then(b.1.expert_layer.cmp(&a.1.expert_layer))
                })
            };
            best.map(|s| s.1)
        }
    };
    Ok(pick.expect("candidates not empty").expert_layer)
}

/// The steered layers, each with 1 − R² of its map, and the parameters
/// to record in the file.
pub type MappedDirections = (Vec<(SteerLayer, Option<f64>)>, BTreeMap<String, String>);

/// What step 3 needs about the concept data.
pub struct ConceptSplit<'a> {
    /// Fit rows.
    pub fit_idx: &'a [usize],
    /// Validation rows.
    pub val_idx: &'a [usize],
    /// Labels of the fit rows.
    pub y_fit: &'a [bool],
    /// Labels of the validation rows.
    pub y_val: &'a [bool],
}

/// Step 3 on mapped states `z` (every row of the data): the direction and
/// its validation AUC.
fn step3(
    z: &Array2<f32>,
    split: &ConceptSplit<'_>,
    rfm: &RfmValidParams,
    direction: ExpertDirection,
) -> Result<(Vec<f32>, Option<f64>)> {
    let rows = |idx: &[usize]| z.select(Axis(0), idx);
    Ok(match direction {
        ExpertDirection::Rfm => {
            let r = fit_rfm(
                &rows(split.fit_idx),
                split.y_fit,
                &rows(split.val_idx),
                split.y_val,
                rfm,
            )?;
            (r.direction, Some(r.val_auc))
        }
        ExpertDirection::MeanDiff => {
            let d = caa_labelled(&rows(split.fit_idx), split.y_fit)?;
            let auc = projection_auc(&rows(split.val_idx), &d.direction, split.y_val);
            (d.direction, auc)
        }
    })
}

/// One candidate expert layer's states mapped into the target layer, with
/// what step 2 and step 3 computed on them (each at most once).
struct Candidate {
    z: Array2<f32>,
    mi: Option<f64>,
    step3: Option<(Vec<f32>, Option<f64>)>,
}

impl Candidate {
    /// Gaussian MI between the mapped fit rows and the target's.
    fn mi(&mut self, split: &ConceptSplit<'_>, t_fit: &Array2<f32>, k: usize) -> Result<f64> {
        if let Some(mi) = self.mi {
            return Ok(mi);
        }
        let mi = mi_gaussian(&self.z.select(Axis(0), split.fit_idx), t_fit, k)?;
        self.mi = Some(mi);
        Ok(mi)
    }

    /// Step 3's direction and validation AUC on the mapped states.
    fn step3(
        &mut self,
        split: &ConceptSplit<'_>,
        rfm: &RfmValidParams,
        direction: ExpertDirection,
    ) -> Result<&(Vec<f32>, Option<f64>)> {
        if self.step3.is_none() {
            self.step3 = Some(step3(&self.z, split, rfm, direction)?);
        }
        Ok(self.step3.as_ref().expect("just set"))
    }
}

/// `p`'s entry in `seen`, its expert states mapped on first use.
fn candidate<'a>(
    seen: &'a mut BTreeMap<usize, Candidate>,
    p: &PairFit,
    e_layers: &[Array2<f32>],
) -> Result<&'a mut Candidate> {
    Ok(match seen.entry(p.expert_layer) {
        Entry::Occupied(e) => e.into_mut(),
        Entry::Vacant(e) => e.insert(Candidate {
            z: aligner_of(p).encode(&e_layers[p.expert_layer])?,
            mi: None,
            step3: None,
        }),
    })
}

/// Steps 1-3 through `map` for the target layers `layers` (each takes one
/// expert layer by `pair.by`). `e_layers`/`t_layers`: states on the data,
/// every layer. Returns the steered layers with 1 − R² of their map, and
/// what to record in the file's parameters.
#[allow(clippy::too_many_arguments)]
pub fn map_directions(
    map: &MapFile,
    e_layers: &[Array2<f32>],
    t_layers: &[Array2<f32>],
    layers: &[usize],
    split: &ConceptSplit<'_>,
    pair: &PairValidParams,
    rfm: &RfmValidParams,
    direction: ExpertDirection,
    progress: &mut dyn FnMut(&str, usize, usize),
) -> Result<MappedDirections> {
    let rows = |x: &Array2<f32>, idx: &[usize]| x.select(Axis(0), idx);
    let mut out = Vec::with_capacity(layers.len());
    for (k, &j) in layers.iter().enumerate() {
        progress("map pairs and directions", k, layers.len());
        let t_fit = rows(&t_layers[j], split.fit_idx);
        // Each candidate's mapped states, MI and step-3 result, computed
        // once: the rule may ask for them, and the chosen one needs them.
        let mut seen: BTreeMap<usize, Candidate> = BTreeMap::new();
        let mut score = |p: &PairFit, by: PairBy| -> Result<f64> {
            let c = candidate(&mut seen, p, e_layers)?;
            if by == PairBy::Detectable {
                // A candidate without a validation AUC never wins.
                return Ok(c
                    .step3(split, rfm, direction)?
                    .1
                    .unwrap_or(f64::NEG_INFINITY));
            }
            c.mi(split, &t_fit, pair.k_components)
        };
        let i = choose_expert_layer(map, j, pair.by, &mut score)?;
        let p = map.pair(i, j).expect("chosen among the candidates");
        let c = candidate(&mut seen, p, e_layers)?;
        let mi = c.mi(split, &t_fit, pair.k_components)?;
        let (u, auc) = c.step3(split, rfm, direction)?.clone();
        out.push((
            SteerLayer {
                target_layer: j,
                expert_layer: Some(i),
                direction: u,
                mean_norm: crate::pipeline::fit::mean_centred_norm(&t_fit)?,
                val_auc: auc,
                mi: Some(mi),
            },
            Some(1.0 - p.r2),
        ));
    }
    progress("map pairs and directions", layers.len(), layers.len());
    let mut params = BTreeMap::new();
    params.insert("map_expert".into(), map.expert.file_name.clone());
    params.insert("map_target".into(), map.target.file_name.clone());
    params.insert("map_corpus_sha256".into(), map.corpus.sha256.clone());
    params.insert("map_paired_positions".into(), map.corpus.paired.to_string());
    params.insert(
        "map_r2".into(),
        out.iter()
            .map(|(l, e)| format!("{}:{:.4}", l.target_layer, 1.0 - e.unwrap_or(1.0)))
            .collect::<Vec<_>>()
            .join(","),
    );
    params.insert(
        "pair_by".into(),
        serde_json::to_string(&pair.by).expect("json"),
    );
    params.insert(
        "expert_direction".into(),
        serde_json::to_string(&direction).expect("json"),
    );
    params.insert("rfm".into(), serde_json::to_string(&**rfm).expect("json"));
    Ok((out, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_keep_both_ends() {
        let c: Vec<usize> = (10..=28).step_by(2).collect();
        assert_eq!(spread_candidates(&c, 4), vec![10, 16, 22, 28]);
        assert_eq!(spread_candidates(&c, 1), vec![18]);
        assert_eq!(spread_candidates(&c, 20), c);
        assert!(spread_candidates(&c, 0).is_empty());
    }

    #[test]
    fn expert_layer_rules_pick_from_the_candidates() {
        let mut f = crate::map::file::tests::tiny();
        let mut second = f.pairs[0].clone();
        second.expert_layer = 1;
        second.r2 = 0.9;
        f.pairs.push(second);
        // Expert 4 blocks, target 5: target 4 sits at relative depth 1 → expert 3.
        let mut no_mi = |_: &PairFit, _: PairBy| -> Result<f64> { panic!("not asked") };
        assert_eq!(
            choose_expert_layer(&f, 4, PairBy::R2, &mut no_mi).unwrap(),
            1
        );
        assert_eq!(
            choose_expert_layer(&f, 4, PairBy::Depth, &mut no_mi).unwrap(),
            3
        );
        // The score closure is asked under the rule it serves: MI for
        // highest/lowest, the probe's AUC for detectable.
        let mut mi = |p: &PairFit, by: PairBy| -> Result<f64> {
            assert!(matches!(by, PairBy::Highest | PairBy::Lowest));
            Ok(p.expert_layer as f64)
        };
        assert_eq!(
            choose_expert_layer(&f, 4, PairBy::Highest, &mut mi).unwrap(),
            3
        );
        assert_eq!(
            choose_expert_layer(&f, 4, PairBy::Lowest, &mut mi).unwrap(),
            1
        );
        let mut auc = |p: &PairFit, by: PairBy| -> Result<f64> {
            assert_eq!(by, PairBy::Detectable);
            Ok(if p.expert_layer == 1 { 0.9 } else { 0.6 })
        };
        assert_eq!(
            choose_expert_layer(&f, 4, PairBy::Detectable, &mut auc).unwrap(),
            1
        );
        // Equal AUCs: the earlier expert layer; no AUC never wins.
        let mut tie = |_: &PairFit, _: PairBy| -> Result<f64> { Ok(0.7) };
        assert_eq!(
            choose_expert_layer(&f, 4, PairBy::Detectable, &mut tie).unwrap(),
            1
        );
        let mut none = |p: &PairFit, _: PairBy| -> Result<f64> {
            Ok(if p.expert_layer == 1 {
                f64::NEG_INFINITY
            } else {
                0.51
            })
        };
        assert_eq!(
            choose_expert_layer(&f, 4, PairBy::Detectable, &mut none).unwrap(),
            3
        );
        let err = choose_expert_layer(&f, 2, PairBy::R2, &mut mi)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not in the map"), "{err}");
        // The aligner gives the map's output.
        let a = aligner_of(&f.pairs[0]);
        let x = Array2::from_shape_vec((1, 3), vec![1.0f32, 3.0, 2.0]).unwrap();
        // (x − mean) / scale = [1, 1, 0]; w picks dims 0 and 1; + y_mean.
        assert_eq!(a.encode(&x).unwrap().row(0).to_vec(), vec![6.0, -4.0]);
    }
}
