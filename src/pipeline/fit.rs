//! The offline pipeline end to end (METHOD.md steps 0-3): capture expert
//! and target states on labelled texts, align, pair layers by MI, fit RFM
//! directions, and assemble a [`SteerFile`]. The self-steering baselines
//! (CAA, PCA of paired differences, self-RFM) run through the same code
//! and write the same file format.

use crate::atomic_file::check_writable;
use crate::hash::texts_sha256;
use crate::linalg::roc_auc;
use crate::llama::{Context, ContextParams, Model, ModelParams};
use crate::num_error::NumError;
use crate::pipeline::align::{
    fit_aligner, fit_paired, AlignMethod, AlignParams, AlignValidParams, Aligner,
};
use crate::pipeline::baselines::{caa_labelled, pca_diff, self_rfm};
use crate::pipeline::capture::Pooling;
use crate::pipeline::capture_store::{capture_cached, CaptureStore};
use crate::pipeline::dataset::{pairs, read_dataset, split_of, LabelledText, Part, SplitFractions};
use crate::pipeline::fit_map::{map_directions, spread_candidates, ConceptSplit, ExpertDirection};
use crate::pipeline::pairing::{
    choose_pairs, choose_pairs_detectable, mi_matrix, Pair, PairBy, PairParams, PairValidParams,
};
use crate::pipeline::rfm::{fit_rfm, RfmParams, RfmValidParams};
use crate::steering::steerfile::{Method, MiMatrix, ModelIdentity, SteerFile, SteerLayer};
use crate::{Error, Result};
use ndarray::{Array2, Axis};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Default c (strength relative to the layer's mean norm) written into new
/// files. EVALUATION.md: no strength helped on validation; at 0.1 the
/// default method is within a point of no steering and the text stays
/// fluent, at 0.5 it degrades (perplexity under the unsteered model
/// 1.7 → 4.0-4.6).
pub const DEFAULT_STRENGTH: f32 = 0.1;

/// How captures are run.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// Tokens per decode (raised to the longest text when that is longer).
    pub batch_tokens: u32,
    /// Texts per decode.
    pub seqs: u32,
    /// CPU threads for llama.cpp.
    pub threads: i32,
    /// Blocks to offload to a GPU in cuda/metal builds (-1 = all).
    pub gpu_layers: i32,
    /// Where captured states are cached.
    pub cache_root: PathBuf,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            batch_tokens: 512,
            seqs: 16,
            threads: crate::llama::default_threads(),
            gpu_layers: -1,
            cache_root: crate::cache::captures_dir(),
        }
    }
}

/// Everything `fit` needs besides the models and data.
#[derive(Debug, Clone)]
pub struct FitConfig {
    /// ExpertSteer or a self-steering baseline.
    pub method: Method,
    /// Step 1: how expert states are mapped to the target's width.
    pub align: AlignParams,
    /// Step 2: how many target layers to steer and how they are chosen by MI.
    pub pair: PairParams,
    /// Step 3: the RFM that finds each direction.
    pub rfm: RfmParams,
    /// How a text's token states become one vector (last token or mean).
    pub pooling: Pooling,
    /// Wrap texts in each model's chat template.
    pub chat: bool,
    /// Seed of the 80/20 fit/validation split (by group).
    pub split_seed: u64,
    /// Strength c written into the file (relative to each layer's mean norm).
    pub default_strength: f32,
    /// Steer these target layers instead of choosing by MI (all methods).
    pub target_layers: Option<Vec<usize>>,
    /// Unlabelled texts for the `paired` alignment (disjoint from the data).
    pub generic_texts: Vec<String>,
    /// How captures run and where they are cached.
    pub capture: CaptureConfig,
    /// A fitted token-level map (`expertsteer map`): replaces step 1 and
    /// the generic texts; step 2 picks among its candidate pairs.
    pub map: Option<std::sync::Arc<crate::map::MapFile>>,
    /// Step 3's rule on the mapped states (with a map).
    pub expert_direction: ExpertDirection,
    /// Accept a shuffled-control map (evaluations only).
    pub allow_shuffled_map: bool,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            method: Method::ExpertSteer,
            align: AlignParams::default(),
            // EVALUATION.md: steering the lowest-MI pairs beat the highest on
            // validation at every strength, pooled over twelve runs.
            pair: PairParams::default().by(crate::pipeline::pairing::PairBy::Lowest),
            rfm: RfmParams::default(),
            pooling: Pooling::Last,
            chat: false,
            split_seed: 0,
            default_strength: DEFAULT_STRENGTH,
            target_layers: None,
            generic_texts: Vec::new(),
            capture: CaptureConfig::default(),
            map: None,
            expert_direction: ExpertDirection::Rfm,
            allow_shuffled_map: false,
        }
    }
}

/// One row of the summary table.
#[derive(Debug, Clone)]
pub struct LayerReport {
    /// Paired expert layer (0-based block; None for self-steering).
    pub expert_layer: Option<usize>,
    /// Steered target layer (0-based block, `l_out-N`).
    pub target_layer: usize,
    /// MI of the pair in nats (ExpertSteer only).
    pub mi: Option<f64>,
    /// Validation AUC of the direction's predictor.
    pub val_auc: Option<f64>,
    /// r_j: mean centred norm of the target's states at the layer on the fit texts.
    pub mean_norm: f32,
    /// Alignment reconstruction (or map) error relative to variance.
    pub align_error: Option<f64>,
}

/// What `run_fit` produced.
#[derive(Debug, Clone)]
pub struct FitOutput {
    /// The steering file (not yet written).
    pub file: SteerFile,
    /// One report row per steered layer.
    pub layers: Vec<LayerReport>,
    /// Step 1's reconstruction error relative to variance, per expert layer.
    pub align_errors: Vec<(usize, f64)>,
    /// Validation AUC of the step-3 probe on every expert layer (computed
    /// for `--pair-by detectable` only; empty otherwise).
    pub expert_layer_aucs: Vec<(usize, f64)>,
    /// Wall time of each stage, seconds.
    pub stage_secs: Vec<(String, f64)>,
    /// Peak resident memory after the run, bytes (Linux; 0 elsewhere).
    pub peak_rss_bytes: u64,
}

/// Progress callback: (stage, done, total).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize);

/// Layers spread over the middle of the network when nothing chooses them:
/// round((k+1)·L/(K+1)) for k < K.
pub fn spread_layers(n_layer: usize, k: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..k)
        .map(|i| (((i + 1) * n_layer) as f64 / (k + 1) as f64).round() as usize)
        .filter(|&l| l >= 1 && l < n_layer)
        .collect();
    v.dedup();
    v
}

fn load(path: &Path, cap: &CaptureConfig) -> Result<Model> {
    Ok(Model::load(
        path,
        &ModelParams {
            gpu_layers: cap.gpu_layers,
        },
    )?)
}

fn capture_all(
    model: &Model,
    texts: &[String],
    cfg: &FitConfig,
    stage: &str,
    progress: Progress,
) -> Result<CaptureStore> {
    if !model.supports_layer_steering()? {
        return Err(crate::llama::LlamaError::NoLayerOutput {
            layer: 0,
            arch: model.arch().to_string(),
        }
        .into());
    }
    let c = &cfg.capture;
    // The batch grows to the longest text rather than refusing it.
    let longest = crate::pipeline::capture::longest_text_tokens(model, texts, cfg.chat)?;
    let batch_tokens = c
        .batch_tokens
        .max(u32::try_from(longest).unwrap_or(u32::MAX));
    let mut ctx = Context::new(
        model,
        ContextParams {
            n_ctx: batch_tokens.max(64),
            n_batch: batch_tokens,
            n_ubatch: batch_tokens,
            n_seq_max: c.seqs,
            threads: c.threads,
            hook: true,
        },
    )?;
    let layers: Vec<usize> = (0..model.n_layer()).collect();
    capture_cached(
        &mut ctx,
        texts,
        &layers,
        cfg.pooling,
        cfg.chat,
        &c.cache_root,
        &mut |d, t| progress(stage, d, t),
    )
}

/// The label (0 or 1) that `labels` (true = 1) lacks, if any.
fn missing_label(labels: &[bool]) -> Option<u8> {
    if !labels.iter().any(|&b| b) {
        Some(1)
    } else if labels.iter().all(|&b| b) {
        Some(0)
    } else {
        None
    }
}

fn rows(x: &Array2<f32>, idx: &[usize]) -> Array2<f32> {
    x.select(Axis(0), idx)
}

/// Mean ‖h − μ‖ over rows (METHOD.md step 4's r_j); `x` is `[n_texts,
/// n_embd]` and needs at least one row.
pub fn mean_centred_norm(x: &Array2<f32>) -> std::result::Result<f32, NumError> {
    let Some(mu) = x.mean_axis(Axis(0)) else {
        return Err(NumError::NotEnoughSamples {
            context: "fit::mean_centred_norm",
            needed: 1,
            got: 0,
        });
    };
    let n = x.nrows() as f64;
    let total: f64 = x
        .rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .zip(mu.iter())
                .map(|(a, m)| ((a - m) as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .sum();
    Ok((total / n) as f32)
}

/// AUC of the projections of `x`'s rows on `u` against `labels`.
pub(crate) fn projection_auc(x: &Array2<f32>, u: &[f32], labels: &[bool]) -> Option<f64> {
    let scores: Vec<f64> = x
        .rows()
        .into_iter()
        .map(|r| {
            r.iter()
                .zip(u)
                .map(|(a, b)| (*a as f64) * (*b as f64))
                .sum()
        })
        .collect();
    roc_auc(&scores, labels).ok()
}

/// Wall time of each stage, as `FitOutput::stage_secs` reports it.
struct StageClock {
    start: Instant,
    lap: Instant,
    secs: Vec<(String, f64)>,
}

impl StageClock {
    fn new() -> StageClock {
        let now = Instant::now();
        StageClock {
            start: now,
            lap: now,
            secs: Vec::new(),
        }
    }

    /// Ends the stage `name` (its time runs from the previous tick).
    fn tick(&mut self, name: &str) {
        self.secs
            .push((name.to_string(), self.lap.elapsed().as_secs_f64()));
        self.lap = Instant::now();
    }

    /// Restarts the running stage's clock (time spent outside any stage).
    fn restart(&mut self) {
        self.lap = Instant::now();
    }

    fn finish(mut self) -> Vec<(String, f64)> {
        self.secs
            .push(("total".into(), self.start.elapsed().as_secs_f64()));
        self.secs
    }
}

/// Everything checked and derived before a model is loaded: valid
/// hyper-parameters, the texts, their labels and the inner fit/validation
/// split.
struct Prepared<'a> {
    expert: Option<&'a Path>,
    align: AlignValidParams,
    pair: PairValidParams,
    rfm: RfmValidParams,
    texts: Vec<String>,
    /// Part of each text in the inner split.
    parts: Vec<Part>,
    fit_idx: Vec<usize>,
    val_idx: Vec<usize>,
    /// Labels of the fit texts, in `fit_idx` order.
    y_fit: Vec<bool>,
    /// Labels of the validation texts, in `val_idx` order.
    y_val: Vec<bool>,
}

/// Random directions are a control made from another file, not a fit.
fn random_not_fitted() -> Error {
    Error::Input(
        "random directions are not fitted: make them with `expertsteer random-steer --like FILE`"
            .into(),
    )
}

/// Stage 1, prepare: validates every setting and the data, and splits the
/// data 80/20 by group, so a bad request fails before any model is loaded.
fn prepare<'a>(
    expert: Option<&'a Path>,
    target: &Path,
    data: &[LabelledText],
    cfg: &FitConfig,
) -> Result<Prepared<'a>> {
    let align = cfg.align.check()?;
    let pair = cfg.pair.check()?;
    let rfm = cfg.rfm.check()?;
    if cfg.method == Method::Random {
        return Err(random_not_fitted());
    }
    let expert = match (cfg.method, expert) {
        (Method::ExpertSteer, None) => {
            return Err(Error::Input("ExpertSteer needs --expert".into()))
        }
        (Method::ExpertSteer, Some(e)) => Some(e),
        _ => None,
    };
    if matches!(pair.by, PairBy::R2 | PairBy::Depth) && cfg.map.is_none() {
        return Err(Error::Input(
            "--pair-by r2 and depth choose among a map's layer pairs: give --map (see `expertsteer map`)".into(),
        ));
    }
    if cfg.map.is_some() && cfg.method != Method::ExpertSteer {
        return Err(Error::Input(
            "--map is for --method expertsteer (the baselines use no expert)".into(),
        ));
    }
    if cfg.map.as_ref().is_some_and(|m| m.shuffled) && !cfg.allow_shuffled_map {
        return Err(Error::Input(
            "this map is the shuffled control (its target rows were permuted): it carries no direction; use it only as an evaluation's control (--allow-shuffled)".into(),
        ));
    }
    if let (Some(map), Some(e)) = (&cfg.map, expert) {
        // Checked here only, before any capture: a map for other models
        // would waste it.
        for (side, want, path) in [("expert", &map.expert, e), ("target", &map.target, target)] {
            if crate::hash::content_sha256(path)? != want.sha256 {
                return Err(Error::Input(format!(
                    "the map was fitted with {} as the {side}, not {} (sha256 differs); fit a map for this pair with `expertsteer map`",
                    want.file_name,
                    path.display()
                )));
            }
        }
    }
    if cfg.map.is_none() && align.method.needs_target() && cfg.generic_texts.len() < 20 {
        return Err(Error::Input(
            "the paired alignment needs at least 20 generic texts disjoint from the data (--generic)".into(),
        ));
    }
    let texts: Vec<String> = data.iter().map(|t| t.text.clone()).collect();
    let labels: Vec<bool> = data.iter().map(|t| t.label == 1).collect();
    // Salted so the inner split is independent of the benchmark split that
    // may have selected these groups (same seed, same hash otherwise).
    let parts: Vec<Part> = data
        .iter()
        .map(|t| {
            split_of(
                &format!("fit-inner/{}", t.group),
                cfg.split_seed,
                SplitFractions::FIT,
            )
        })
        .collect();
    let fit_idx: Vec<usize> = (0..data.len()).filter(|&i| parts[i] == Part::Fit).collect();
    let val_idx: Vec<usize> = (0..data.len()).filter(|&i| parts[i] != Part::Fit).collect();
    let y_fit: Vec<bool> = fit_idx.iter().map(|&i| labels[i]).collect();
    let y_val: Vec<bool> = val_idx.iter().map(|&i| labels[i]).collect();
    if let Some(missing) = missing_label(&labels) {
        return Err(Error::Input(format!(
            "the data set ({} texts) holds no example with label {missing}; \
             both labels (0 and 1) are needed: add texts with \"label\": {missing} \
             (or {{\"positive\", \"negative\"}} pairs)",
            labels.len()
        )));
    }
    for (name, y) in [("fit", &y_fit), ("validation", &y_val)] {
        if let Some(missing) = missing_label(y) {
            return Err(Error::Input(format!(
                "the {name} split ({} texts) holds no example with label {missing}; \
                 add more examples of both labels in more groups (groups split 80/20)",
                y.len()
            )));
        }
    }
    Ok(Prepared {
        expert,
        align,
        pair,
        rfm,
        texts,
        parts,
        fit_idx,
        val_idx,
        y_fit,
        y_val,
    })
}

/// What the capture stage produced: model identities and cached states.
struct Captures {
    target_id: ModelIdentity,
    expert_id: Option<ModelIdentity>,
    /// The target's states on the data, every layer.
    target: CaptureStore,
    /// The target's states on the generic texts (paired alignment only).
    target_generic: Option<CaptureStore>,
    /// The expert's states on the data (ExpertSteer only).
    expert: Option<CaptureStore>,
    /// The expert's states on the generic texts (paired alignment only).
    expert_generic: Option<CaptureStore>,
}

/// Stage 2, capture (METHOD.md step 0): loads the target, then the expert,
/// one at a time, and captures (or reuses from the cache) their states at
/// every layer on the data and, for the paired alignment, on the generic
/// texts.
fn capture_stage(
    prep: &Prepared<'_>,
    target: &Path,
    cfg: &FitConfig,
    progress: Progress,
) -> Result<Captures> {
    let target_model = load(target, &cfg.capture)?;
    let target_id = target_model.identity()?;
    let t_store = capture_all(&target_model, &prep.texts, cfg, "capture target", progress)?;
    let t_generic =
        if prep.align.method.needs_target() && prep.expert.is_some() && cfg.map.is_none() {
            Some(capture_all(
                &target_model,
                &cfg.generic_texts,
                cfg,
                "capture target (generic)",
                progress,
            )?)
        } else {
            None
        };
    drop(target_model);
    let mut expert_id = None;
    let mut e_store = None;
    let mut e_generic = None;
    if let Some(e) = prep.expert {
        let m = load(e, &cfg.capture)?;
        expert_id = Some(m.identity()?);
        e_store = Some(capture_all(
            &m,
            &prep.texts,
            cfg,
            "capture expert",
            progress,
        )?);
        if t_generic.is_some() {
            e_generic = Some(capture_all(
                &m,
                &cfg.generic_texts,
                cfg,
                "capture expert (generic)",
                progress,
            )?);
        }
    }
    Ok(Captures {
        target_id,
        expert_id,
        target: t_store,
        target_generic: t_generic,
        expert: e_store,
        expert_generic: e_generic,
    })
}

/// What the directions stage produced, before it becomes a file.
struct Directions {
    /// Each steered layer with its alignment error (ExpertSteer only).
    layers: Vec<(SteerLayer, Option<f64>)>,
    /// Step 1's relative reconstruction error per expert layer.
    align_errors: Vec<(usize, f64)>,
    /// The probe's validation AUC per expert layer (detectable pairing).
    expert_layer_aucs: Vec<(usize, f64)>,
    mi: Option<MiMatrix>,
    /// Hyper-parameters specific to the method, for the file.
    params: BTreeMap<String, String>,
}

/// Stage 3, directions: one unit direction per steered target layer, by
/// ExpertSteer (align → MI pairing → RFM, METHOD.md steps 1-3) or by a
/// self-steering baseline on the target's own states.
fn directions_stage(
    prep: &Prepared<'_>,
    caps: &Captures,
    data: &[LabelledText],
    cfg: &FitConfig,
    progress: Progress,
    clock: &mut StageClock,
) -> Result<Directions> {
    let l_t = caps.target_id.n_layer;
    let t_layers: Vec<Array2<f32>> = (0..l_t)
        .map(|j| caps.target.layer(j))
        .collect::<Result<_>>()?;
    if let Some(ls) = &cfg.target_layers {
        if let Some(&bad) = ls.iter().find(|&&l| l == 0 || l >= l_t) {
            return Err(Error::Input(format!(
                "target layer {bad} is outside the steerable 1..{}",
                l_t - 1
            )));
        }
    }
    match cfg.method {
        Method::ExpertSteer => expertsteer_directions(prep, caps, &t_layers, cfg, progress, clock),
        Method::Caa | Method::PcaDiff | Method::SelfRfm => {
            let d = self_directions(prep, &t_layers, data, cfg, progress)?;
            clock.tick("directions");
            Ok(d)
        }
        Method::Random => Err(random_not_fitted()),
    }
}

/// ExpertSteer's steps 1-3 on captured states (`t_layers`: the target's
/// `[n_texts, n_embd]` states per layer).
fn expertsteer_directions(
    prep: &Prepared<'_>,
    caps: &Captures,
    t_layers: &[Array2<f32>],
    cfg: &FitConfig,
    progress: Progress,
    clock: &mut StageClock,
) -> Result<Directions> {
    let (fit_idx, val_idx) = (&prep.fit_idx, &prep.val_idx);
    let e_store = caps.expert.as_ref().expect("expert captured");
    let l_e = e_store.meta.n_layer;
    let l_t = t_layers.len();
    let d_t = caps.target_id.n_embd;
    let mean_norm = |j: usize| mean_centred_norm(&rows(&t_layers[j], fit_idx));
    // [n_texts, d_e] per expert layer.
    let e_layers: Vec<Array2<f32>> = (0..l_e).map(|i| e_store.layer(i)).collect::<Result<_>>()?;
    if let Some(map) = &cfg.map {
        let layers = match &cfg.target_layers {
            Some(ls) => ls.clone(),
            None => spread_candidates(&map.target_layers(), prep.pair.n_layers),
        };
        let split = ConceptSplit {
            fit_idx,
            val_idx,
            y_fit: &prep.y_fit,
            y_val: &prep.y_val,
        };
        let (layers, params) = map_directions(
            map,
            &e_layers,
            t_layers,
            &layers,
            &split,
            &prep.pair,
            &prep.rfm,
            cfg.expert_direction,
            progress,
        )?;
        clock.tick("map pairs and directions");
        return Ok(Directions {
            layers,
            align_errors: Vec::new(),
            expert_layer_aucs: Vec::new(),
            mi: None,
            params,
        });
    }
    // Step 1: align every expert layer (closed form / Adam); the paired
    // map is fitted after pairing, when j is known.
    let base_align = if prep.align.method.needs_target() {
        AlignParams {
            method: AlignMethod::ClosedForm,
            ..cfg.align.clone()
        }
        .check()?
    } else {
        prep.align.clone()
    };
    let mut aligners: Vec<Aligner> = Vec::with_capacity(l_e);
    for (i, e) in e_layers.iter().enumerate() {
        progress("align", i, l_e);
        aligners.push(fit_aligner(&rows(e, fit_idx), d_t, &base_align)?);
    }
    progress("align", l_e, l_e);
    let align_errors = aligners
        .iter()
        .enumerate()
        .map(|(i, a)| (i, a.report.relative_error))
        .collect();
    // [n_texts, d_t] per expert layer.
    let z: Vec<Array2<f32>> = aligners
        .iter()
        .zip(&e_layers)
        .map(|(a, e)| a.encode(e))
        .collect::<std::result::Result<_, _>>()?;
    clock.tick("align");
    // Step 2: MI matrix [l_e, l_t] and pairs.
    let z_fit: Vec<Array2<f32>> = z.iter().map(|x| rows(x, fit_idx)).collect();
    let t_fit: Vec<Array2<f32>> = t_layers.iter().map(|x| rows(x, fit_idx)).collect();
    let mi = mi_matrix(&z_fit, &t_fit, prep.pair.k_components)?;
    let aucs = if prep.pair.by == PairBy::Detectable {
        probe_aucs(&z, prep, progress)?
    } else {
        Vec::new()
    };
    let chosen: Vec<Pair> = match &cfg.target_layers {
        None if prep.pair.by == PairBy::Detectable => {
            choose_pairs_detectable(&mi, &aucs, &prep.pair)?
        }
        None => choose_pairs(&mi, &prep.pair)?,
        Some(ls) => ls
            .iter()
            .map(|&j| {
                let col = mi.column(j);
                let i = (0..l_e)
                    .max_by(|&a, &b| col[a].total_cmp(&col[b]))
                    .unwrap_or(0);
                Pair {
                    expert_layer: i,
                    target_layer: j,
                    mi: col[i],
                }
            })
            .collect(),
    };
    let mi_out = MiMatrix {
        expert_layers: (0..l_e).collect(),
        target_layers: (0..l_t).collect(),
        values: mi.iter().copied().collect(),
    };
    clock.tick("pair");
    // Step 1 (paired) + step 3: per chosen pair.
    let (tg, eg) = (caps.target_generic.as_ref(), caps.expert_generic.as_ref());
    let mut out_layers = Vec::with_capacity(chosen.len());
    for (k, p) in chosen.iter().enumerate() {
        progress("rfm", k, chosen.len());
        let (zi, align_error) = if prep.align.method.needs_target() {
            let (tg, eg) = (tg.expect("generic"), eg.expect("generic"));
            let a = fit_paired(
                &eg.layer(p.expert_layer)?,
                &tg.layer(p.target_layer)?,
                &prep.align,
            )?;
            let err = a
                .report
                .map_relative_error
                .or(Some(a.report.relative_error));
            (a.encode(&e_layers[p.expert_layer])?, err)
        } else {
            (
                z[p.expert_layer].clone(),
                Some(aligners[p.expert_layer].report.relative_error),
            )
        };
        let r = fit_rfm(
            &rows(&zi, fit_idx),
            &prep.y_fit,
            &rows(&zi, val_idx),
            &prep.y_val,
            &prep.rfm,
        )?;
        let layer = SteerLayer {
            target_layer: p.target_layer,
            expert_layer: Some(p.expert_layer),
            direction: r.direction.clone(),
            mean_norm: mean_norm(p.target_layer)?,
            val_auc: Some(r.val_auc),
            mi: Some(p.mi),
        };
        out_layers.push((layer, align_error));
    }
    progress("rfm", chosen.len(), chosen.len());
    clock.tick("rfm");
    let mut params = BTreeMap::new();
    params.insert(
        "align".into(),
        serde_json::to_string(&cfg.align).expect("json"),
    );
    params.insert(
        "pair".into(),
        serde_json::to_string(&cfg.pair).expect("json"),
    );
    params.insert("rfm".into(), serde_json::to_string(&cfg.rfm).expect("json"));
    if !aucs.is_empty() {
        let text: Vec<String> = aucs.iter().map(|a| format!("{a:.4}")).collect();
        params.insert("expert_layer_auc".into(), text.join(","));
    }
    if prep.align.method.needs_target() {
        params.insert("generic_texts".into(), cfg.generic_texts.len().to_string());
        params.insert("generic_sha256".into(), texts_sha256(&cfg.generic_texts));
    }
    Ok(Directions {
        layers: out_layers,
        align_errors,
        expert_layer_aucs: aucs.into_iter().enumerate().collect(),
        mi: Some(mi_out),
        params,
    })
}

/// The step-3 probe's validation AUC on every aligned expert layer `z`
/// (`[n_texts, d_t]` each), for the detectable pairing: the same RFM that
/// later finds the direction, fitted on the fit texts and scored on the
/// validation texts.
fn probe_aucs(z: &[Array2<f32>], prep: &Prepared<'_>, progress: Progress) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(z.len());
    for (i, zi) in z.iter().enumerate() {
        progress("probe every expert layer", i, z.len());
        let r = fit_rfm(
            &rows(zi, &prep.fit_idx),
            &prep.y_fit,
            &rows(zi, &prep.val_idx),
            &prep.y_val,
            &prep.rfm,
        )?;
        out.push(r.val_auc);
    }
    progress("probe every expert layer", z.len(), z.len());
    Ok(out)
}

/// A self-steering baseline (CAA, PCA of paired differences, self-RFM) on
/// the target's own states at the chosen or spread layers.
fn self_directions(
    prep: &Prepared<'_>,
    t_layers: &[Array2<f32>],
    data: &[LabelledText],
    cfg: &FitConfig,
    progress: Progress,
) -> Result<Directions> {
    let (fit_idx, val_idx) = (&prep.fit_idx, &prep.val_idx);
    let (y_fit, y_val) = (&prep.y_fit, &prep.y_val);
    let layers = cfg
        .target_layers
        .clone()
        .unwrap_or_else(|| spread_layers(t_layers.len(), prep.pair.n_layers));
    let parts = &prep.parts;
    let data_pairs: Vec<(usize, usize)> = pairs(data)
        .into_iter()
        .filter(|(a, b)| parts[*a] == Part::Fit && parts[*b] == Part::Fit)
        .collect();
    let mut out_layers = Vec::with_capacity(layers.len());
    for (k, &j) in layers.iter().enumerate() {
        progress(&cfg.method.to_string(), k, layers.len());
        let x = &t_layers[j];
        let (dir, auc) = match cfg.method {
            Method::Caa => {
                let d = caa_labelled(&rows(x, fit_idx), y_fit)?;
                let u: Vec<f32> = d.direction.clone();
                let auc = projection_auc(&rows(x, val_idx), &u, y_val);
                (u, auc)
            }
            Method::PcaDiff => {
                if data_pairs.len() < 2 {
                    return Err(Error::Input("PCA of paired differences needs pairs: groups with one positive and one negative text".into()));
                }
                let pos = rows(x, &data_pairs.iter().map(|p| p.0).collect::<Vec<_>>());
                let neg = rows(x, &data_pairs.iter().map(|p| p.1).collect::<Vec<_>>());
                let d = pca_diff(&pos, &neg)?;
                let u: Vec<f32> = d.direction.clone();
                let auc = projection_auc(&rows(x, val_idx), &u, y_val);
                (u, auc)
            }
            _ => {
                let r = self_rfm(
                    &rows(x, fit_idx),
                    y_fit,
                    &rows(x, val_idx),
                    y_val,
                    &prep.rfm,
                )?;
                (r.direction, Some(r.val_auc))
            }
        };
        out_layers.push((
            SteerLayer {
                target_layer: j,
                expert_layer: None,
                direction: dir,
                mean_norm: mean_centred_norm(&rows(x, fit_idx))?,
                val_auc: auc,
                mi: None,
            },
            None,
        ));
    }
    progress(&cfg.method.to_string(), layers.len(), layers.len());
    let mut params = BTreeMap::new();
    if cfg.method == Method::SelfRfm {
        params.insert("rfm".into(), serde_json::to_string(&cfg.rfm).expect("json"));
    }
    Ok(Directions {
        layers: out_layers,
        align_errors: Vec::new(),
        expert_layer_aucs: Vec::new(),
        mi: None,
        params,
    })
}

/// Stage 4, assemble: the steering file (validated) and the per-layer
/// report, with every setting recorded in the file's parameters.
fn assemble(
    prep: &Prepared<'_>,
    caps: Captures,
    dirs: Directions,
    cfg: &FitConfig,
) -> Result<(SteerFile, Vec<LayerReport>)> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    params.insert("method".into(), cfg.method.to_string());
    params.insert("pooling".into(), format!("{:?}", cfg.pooling));
    params.insert("chat".into(), cfg.chat.to_string());
    params.insert("split_seed".into(), cfg.split_seed.to_string());
    params.insert("split".into(), "80/20 fit/validation by group".into());
    params.insert("n_fit".into(), prep.fit_idx.len().to_string());
    params.insert("n_validation".into(), prep.val_idx.len().to_string());
    params.extend(dirs.params);
    let reports = dirs
        .layers
        .iter()
        .map(|(l, e)| LayerReport {
            expert_layer: l.expert_layer,
            target_layer: l.target_layer,
            mi: l.mi,
            val_auc: l.val_auc,
            mean_norm: l.mean_norm,
            align_error: *e,
        })
        .collect();
    let file = SteerFile {
        target: caps.target_id,
        expert: caps.expert_id,
        method: cfg.method,
        layers: dirs.layers.into_iter().map(|(l, _)| l).collect(),
        default_strength: cfg.default_strength,
        params,
        mi: dirs.mi,
        data_sha256: texts_sha256(&prep.texts),
        n_texts: prep.texts.len(),
    };
    file.validate("<fit>")?;
    Ok((file, reports))
}

/// Runs the whole pipeline: prepare → capture → directions → assemble.
/// `expert` is required for ExpertSteer and ignored by the self-steering
/// methods. Nothing is written except the capture cache; see [`fit_to_file`].
pub fn run_fit(
    expert: Option<&Path>,
    target: &Path,
    data: &[LabelledText],
    cfg: &FitConfig,
    progress: Progress,
) -> Result<FitOutput> {
    let mut clock = StageClock::new();
    let prep = prepare(expert, target, data, cfg)?;
    clock.restart();
    let caps = capture_stage(&prep, target, cfg, progress)?;
    clock.tick("capture");
    let dirs = directions_stage(&prep, &caps, data, cfg, progress, &mut clock)?;
    let align_errors = dirs.align_errors.clone();
    let expert_layer_aucs = dirs.expert_layer_aucs.clone();
    let (file, layers) = assemble(&prep, caps, dirs, cfg)?;
    Ok(FitOutput {
        file,
        layers,
        align_errors,
        expert_layer_aucs,
        stage_secs: clock.finish(),
        peak_rss_bytes: peak_rss_bytes(),
    })
}

/// [`run_fit`] from a JSON Lines data file (see [`crate::pipeline::dataset::read_dataset`])
/// to a steering file at `out`. `out` is checked first (its folder exists
/// and is writable, it is not a folder), so a long fit never ends in a
/// failed write; the file is written atomically.
pub fn fit_to_file(
    expert: Option<&Path>,
    target: &Path,
    data: &Path,
    out: &Path,
    cfg: &FitConfig,
    progress: Progress,
) -> Result<FitOutput> {
    check_writable(out)?;
    let items = read_dataset(data)?;
    let fitted = run_fit(expert, target, &items, cfg, progress)?;
    fitted.file.write(out)?;
    Ok(fitted)
}

/// Peak resident set size of this process (Linux `VmHWM`), bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_layers_stay_inside_the_steerable_range() {
        assert_eq!(spread_layers(30, 4), vec![6, 12, 18, 24]);
        assert_eq!(spread_layers(3, 4), vec![1, 2]);
        let x = ndarray::arr2(&[[1.0f32, 0.0], [-1.0, 0.0]]);
        assert!((mean_centred_norm(&x).unwrap() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn a_one_class_data_set_names_the_missing_label() {
        let data: Vec<LabelledText> = (0..40)
            .map(|i| LabelledText {
                text: format!("text {i}"),
                label: 1,
                group: format!("g{i}"),
            })
            .collect();
        let cfg = FitConfig {
            method: Method::Caa,
            ..FitConfig::default()
        };
        let e = prepare(None, Path::new("t.gguf"), &data, &cfg)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no example with label 0"), "{e}");
        assert!(!e.contains("add more examples"), "{e}");
    }

    #[test]
    fn mean_norm_of_no_rows_is_an_error_not_a_panic() {
        let e = mean_centred_norm(&Array2::<f32>::zeros((0, 4))).unwrap_err();
        assert!(
            matches!(e, NumError::NotEnoughSamples { got: 0, .. }),
            "{e}"
        );
    }
}
