//! `expertsteer fit`: steps 0-3 of ExpertSteer (or a self-steering
//! baseline) from labelled data to a steering file.

use super::options::RpcOpts;
use clap::{Args, ValueEnum};
use expertsteer::atomic_file::check_writable;
use expertsteer::layer_list::parse_layer_numbers;
use expertsteer::pipeline::align::AlignMethod;
use expertsteer::pipeline::capture::Pooling;
use expertsteer::pipeline::fit::{run_fit, FitConfig};
use expertsteer::pipeline::pairing::PairBy;
use expertsteer::steering::steerfile::Method;
use expertsteer::{models, plot, Error, Result};
use expertsteer_eval::data::{self, read_dataset};
use std::path::PathBuf;

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum MethodArg {
    /// ExpertSteer: expert states → align → MI pairing → RFM.
    Expertsteer,
    /// Mean difference of the target's own states.
    Caa,
    /// Top principal component of paired differences (repeng's pca_diff).
    PcaDiff,
    /// RFM on the target's own states.
    SelfRfm,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum AlignArg {
    /// The paper's affine auto-encoder trained with Adam.
    Ae,
    /// The exact minimiser of the same loss (PCA); fast.
    ClosedForm,
    /// Ridge map into the paired target layer, fitted on generic texts.
    Paired,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum PairArg {
    /// The K target layers whose best expert layer shares the most MI (paper).
    Highest,
    /// The K target layers whose best expert layer shares the least MI.
    Lowest,
    /// Keep the expert layers where the concept is detectable (the step-3
    /// probe's validation AUC, fitted on every expert layer, at least
    /// --min-auc), then the K target layers with the highest MI to them.
    /// With --map: each target layer takes the candidate expert layer on
    /// whose mapped states step 3's direction validates best (highest AUC).
    Detectable,
    /// With --map: each target layer takes the candidate expert layer
    /// whose map into it has the best held-out R².
    R2,
    /// With --map: the candidate expert layer at the same relative depth.
    Depth,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum DirectionArg {
    /// RFM on the mapped expert states (METHOD.md step 3).
    Rfm,
    /// Mean difference of the mapped expert states (the expert's CAA
    /// carried through the map's linear part).
    MeanDiff,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum PoolArg {
    Last,
    Mean,
}

#[derive(Args, Debug)]
pub struct FitArgs {
    /// Expert model: registry name or GGUF path (ExpertSteer only).
    #[arg(long)]
    pub expert: Option<String>,
    /// Target model: registry name or GGUF path.
    #[arg(long, default_value = models::DEFAULT_MODEL)]
    pub target: String,
    /// Labelled data (JSON Lines; see `expertsteer data build`).
    #[arg(long)]
    pub data: PathBuf,
    /// Output steering file.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, value_enum, default_value_t = MethodArg::Expertsteer)]
    pub method: MethodArg,
    /// Step 1, how expert states reach the target. Default: the pair's
    /// token-level map from `expertsteer map` when the cache holds one for
    /// this expert and target (it carried code-vs-prose at 0.89 and the
    /// behaviour concepts at 0.28-0.51 cosine to the target's own, against
    /// random level for the closed form: EVALUATION.md), else closed-form.
    #[arg(long, value_enum)]
    pub align: Option<AlignArg>,
    /// How layers are paired. Without --map, target layers are chosen from
    /// the MI matrix: lowest, highest, or detectable (AUC-filtered expert
    /// layers, then highest MI); default lowest, which won on
    /// multiple-choice validation (EVALUATION.md). With --map, the target
    /// layers are --target-layers or K of the map's candidates spread
    /// evenly, and this picks each one's expert layer: r2 (default),
    /// depth, highest or lowest MI, or detectable (best validation AUC of
    /// step 3's direction on the mapped states).
    #[arg(long, value_enum)]
    pub pair_by: Option<PairArg>,
    /// A map from `expertsteer map` for this expert and target: replaces
    /// the alignment (step 1) and the generic texts.
    #[arg(long)]
    pub map: Option<PathBuf>,
    /// Accept a shuffled-control map (`map --shuffled`): for evaluations,
    /// whose controls need a map that carries nothing.
    #[arg(long)]
    pub allow_shuffled: bool,
    /// With --map: how the direction is found on the mapped expert states.
    #[arg(long, value_enum, default_value_t = DirectionArg::Rfm)]
    pub expert_direction: DirectionArg,
    /// --pair-by detectable: the least validation AUC of an expert layer's
    /// probe for the layer to be kept (0.5 = chance).
    #[arg(long, default_value_t = expertsteer::pipeline::pairing::DEFAULT_MIN_AUC)]
    pub min_auc: f64,
    /// Number of target layers to steer (K).
    #[arg(long, default_value_t = 4)]
    pub layers: usize,
    /// Steer exactly these target layers (e.g. 6,12,18); overrides --layers/--pair-by.
    #[arg(long)]
    pub target_layers: Option<String>,
    /// Hidden state of a text: last token or mean over tokens.
    #[arg(long, value_enum, default_value_t = PoolArg::Last)]
    pub pool: PoolArg,
    /// Wrap each text in the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// Seed of the 80/20 fit/validation split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Default strength c stored in the file (s_j = c · r_j).
    #[arg(long, default_value_t = expertsteer::pipeline::fit::DEFAULT_STRENGTH)]
    pub strength: f32,
    /// Unlabelled texts for --align paired (JSONL with "text"); default:
    /// 400 MMLU questions from subjects outside the evaluation groups.
    #[arg(long)]
    pub generic: Option<PathBuf>,
    /// Tokens per decode while capturing (raised to the longest text).
    #[arg(long, default_value_t = 512)]
    pub batch: u32,
    /// Texts per decode while capturing.
    #[arg(long, default_value_t = 16)]
    pub seqs: u32,
    /// CPU threads.
    #[arg(long)]
    pub threads: Option<i32>,
    #[command(flatten)]
    pub rpc: RpcOpts,
    /// Where to draw the MI heat-map (default: OUT with .mi.png).
    #[arg(long)]
    pub mi_png: Option<PathBuf>,
}

/// Generic texts for `--align paired`: the user's, or 400 MMLU questions
/// from subjects outside the evaluation groups.
fn generic_texts(a: &FitArgs, step1: &Step1) -> Result<Vec<String>> {
    if step1.map.is_some()
        || step1.align != AlignArg::Paired
        || !matches!(a.method, MethodArg::Expertsteer)
    {
        return Ok(Vec::new());
    }
    match &a.generic {
        Some(p) => data::read_texts(p),
        None => data::generic_texts(400),
    }
}

/// Step 1 as this run does it: a token-level map, or an alignment.
struct Step1 {
    map: Option<PathBuf>,
    align: AlignArg,
    /// The map is the pair's default one, found in the cache.
    map_from_cache: bool,
}

/// `--map`, else `--align`, else the pair's map from the cache when there
/// is one, else the closed form.
fn step1(a: &FitArgs, expert: Option<&std::path::Path>, target: &std::path::Path) -> Step1 {
    // --generic asks for the paired alignment's texts: no map then.
    let cached = match (&a.map, a.align, expert, &a.generic) {
        (None, None, Some(e), None) => {
            Some(expertsteer::cache::default_map_path(e, target)).filter(|p| p.is_file())
        }
        _ => None,
    };
    Step1 {
        map_from_cache: cached.is_some(),
        map: a.map.clone().or(cached),
        align: a.align.unwrap_or(AlignArg::ClosedForm),
    }
}

pub fn run(a: FitArgs) -> Result<()> {
    // Hours of capture and fitting must not end in a failed write.
    check_writable(&a.out)?;
    let items = read_dataset(&a.data)?;
    a.rpc.register()?;
    let method = match a.method {
        MethodArg::Expertsteer => Method::ExpertSteer,
        MethodArg::Caa => Method::Caa,
        MethodArg::PcaDiff => Method::PcaDiff,
        MethodArg::SelfRfm => Method::SelfRfm,
    };
    let target = models::resolve(&a.target)?;
    let expert = match (&a.expert, method) {
        (Some(e), Method::ExpertSteer) => Some(models::resolve(e)?),
        (None, Method::ExpertSteer) => {
            return Err(Error::Input(
                "--expert is required for --method expertsteer".into(),
            ))
        }
        _ => None,
    };
    let step1 = step1(&a, expert.as_deref(), &target);
    if step1.map_from_cache {
        if let Some(m) = &step1.map {
            errln!(
                "fit: step 1 through this pair's token-level map {} (--align closed-form for \
                 the paper's reading)",
                m.display()
            );
        }
    }
    let mut cfg = FitConfig {
        method,
        chat: a.chat,
        split_seed: a.seed,
        default_strength: a.strength,
        generic_texts: generic_texts(&a, &step1)?,
        ..Default::default()
    };
    cfg.align.method = match step1.align {
        AlignArg::Ae => AlignMethod::Ae,
        AlignArg::ClosedForm => AlignMethod::ClosedForm,
        AlignArg::Paired => AlignMethod::Paired,
    };
    cfg.align.seed = a.seed;
    cfg.pair.n_layers = a.layers;
    cfg.pair.by = match a.pair_by {
        None if step1.map.is_some() => PairBy::R2,
        None | Some(PairArg::Lowest) => PairBy::Lowest,
        Some(PairArg::Highest) => PairBy::Highest,
        Some(PairArg::Detectable) => PairBy::Detectable,
        Some(PairArg::R2) => PairBy::R2,
        Some(PairArg::Depth) => PairBy::Depth,
    };
    if let Some(m) = &step1.map {
        if a.generic.is_some() {
            return Err(Error::Input(
                "--generic feeds the alignment that --map replaces; give one of them".into(),
            ));
        }
        cfg.map = Some(std::sync::Arc::new(expertsteer::map::MapFile::read(m)?));
    }
    cfg.allow_shuffled_map = a.allow_shuffled;
    cfg.expert_direction = match a.expert_direction {
        DirectionArg::Rfm => expertsteer::pipeline::fit_map::ExpertDirection::Rfm,
        DirectionArg::MeanDiff => expertsteer::pipeline::fit_map::ExpertDirection::MeanDiff,
    };
    cfg.pair.min_auc = a.min_auc;
    cfg.pooling = match a.pool {
        PoolArg::Last => Pooling::Last,
        PoolArg::Mean => Pooling::Mean,
    };
    cfg.capture.batch_tokens = a.batch;
    cfg.capture.seqs = a.seqs;
    if let Some(t) = a.threads {
        cfg.capture.threads = t;
    }
    if let Some(s) = &a.target_layers {
        // Layer numbers are checked against the target once it is loaded.
        cfg.target_layers = Some(parse_layer_numbers(s)?);
    }
    let mut progress = super::progress::StageProgress::new("fit");
    let out = run_fit(
        expert.as_deref(),
        &target,
        &items,
        &cfg,
        &mut |stage, done, total| progress.update(stage, done, total),
    )?;
    progress.finish();
    out.file.write(&a.out)?;
    outln!(
        "wrote {} ({} method, {} texts)",
        a.out.display(),
        out.file.method,
        out.file.n_texts
    );
    outln!("| expert layer | target layer | MI (nats) | validation AUC | mean norm r_j | align error |");
    outln!("|---|---|---|---|---|---|");
    let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
    for l in &out.layers {
        outln!(
            "| {} | {} | {} | {} | {:.1} | {} |",
            l.expert_layer.map_or("-".into(), |e| e.to_string()),
            l.target_layer,
            f(l.mi),
            f(l.val_auc),
            l.mean_norm,
            f(l.align_error)
        );
    }
    if !out.expert_layer_aucs.is_empty() {
        let aucs: Vec<String> = out
            .expert_layer_aucs
            .iter()
            .map(|(i, a)| format!("{i}: {a:.3}"))
            .collect();
        outln!("probe validation AUC per expert layer: {}", aucs.join(", "));
    }
    if method == Method::ExpertSteer && step1.align != AlignArg::Paired && step1.map.is_none() {
        // EVALUATION.md, "Generation: behaviour transfer" and "Step 1 at
        // scale": directions mapped by the auto-encoder alignment (closed
        // form or Adam) sit at the cosine of a random direction to the
        // target's own and move its text no more than one; the token-level
        // map carries them (and is the default once fitted), but the user
        // should know.
        errln!(
            "note: with --align {} the expert's direction reaches the target in an \
             arbitrary basis (measured at random-level cosine to the target's own); \
             a token-level map carries it (EVALUATION.md): `expertsteer map --expert {} \
             --target {}` fits this pair's once (hours at one thread), and fit then uses it",
            if step1.align == AlignArg::Ae {
                "ae"
            } else {
                "closed-form"
            },
            a.expert.as_deref().unwrap_or("E"),
            a.target
        );
    }
    let times: Vec<String> = out
        .stage_secs
        .iter()
        .map(|(s, t)| format!("{s} {t:.1}s"))
        .collect();
    outln!(
        "time: {}; peak memory {:.0} MB",
        times.join(", "),
        out.peak_rss_bytes as f64 / 1e6
    );
    if let Some(mi) = &out.file.mi {
        let png = a
            .mi_png
            .clone()
            .unwrap_or_else(|| a.out.with_extension("mi.png"));
        let chosen: Vec<(usize, usize)> = out
            .file
            .layers
            .iter()
            .filter_map(|l| Some((l.expert_layer?, l.target_layer)))
            .collect();
        let title = format!(
            "MI: {} (expert) vs {} (target)",
            out.file
                .expert
                .as_ref()
                .map_or("?", |e| e.file_name.as_str()),
            out.file.target.file_name
        );
        plot::mi_heatmap_png(mi, &chosen, &title, &png)?;
        outln!("MI heat-map: {}", png.display());
    }
    Ok(())
}
