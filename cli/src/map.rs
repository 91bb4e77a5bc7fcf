//! `expertsteer map`: fit the token-level maps between an expert and a
//! target once, for every concept after.

use super::map_corpus::{corpus_texts, CorpusArgs};
use clap::Args;
use expertsteer::atomic_file::check_writable;
use expertsteer::layer_list::parse_layer_numbers;
use expertsteer::llama::{Context, ContextParams, Model, ModelParams};
use expertsteer::map::{run_map, Candidates, MapFile, MapRunConfig};
use expertsteer::pipeline::dataset::read_texts;
use expertsteer::{models, Error, Result};
use std::path::PathBuf;

/// Reads generic text through both models, pairs every token position the
/// two tokenizations end at the same byte, and fits a ridge map from each
/// candidate expert layer into each candidate target layer (λ by held-out
/// R², every fifth text held out). Writes OUT (.esmap: both models'
/// identities, the corpus, each pair's map and held-out R²), by default
/// into the cache as the pair's map, which `fit` then uses for this expert
/// and target without being told (`fit --map OUT` for a map elsewhere).
///
/// Memory holds the statistics, never the states. The run checkpoints
/// every --checkpoint-texts texts (default 64) into --state (default: the cache), and
/// the same command resumes an interrupted run.
#[derive(Args, Debug)]
pub struct MapArgs {
    /// Expert model: registry name or GGUF path.
    #[arg(long)]
    pub expert: String,
    /// Target model: registry name or GGUF path.
    #[arg(long, default_value = models::DEFAULT_MODEL)]
    pub target: String,
    /// Output map file (.esmap). Default: the pair's map in the cache
    /// (maps/EXPERT--TARGET.esmap), the one `fit` uses for this expert and
    /// target unless given --map or --align.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Generic texts (JSON Lines with "text"). Default: everyday prose
    /// sampled from the target (--sample), Python source (--code) and the
    /// generic MMLU questions with their options, mixed by bytes (half,
    /// 0.3 and 0.2), or that prose alone with --prose-only; `data build
    /// --source generic --map-corpus` writes it.
    #[arg(long, conflicts_with_all = ["code", "sample", "sample_tokens", "prose_only"])]
    pub texts: Option<PathBuf>,
    #[command(flatten)]
    pub corpus: CorpusArgs,
    /// Stop once this many positions are paired (0: read every text).
    #[arg(long, default_value_t = 200_000)]
    pub max_paired: u64,
    /// Candidate target layers, e.g. `10-28` (default: from a third of the
    /// depth to the second-to-last block, every --stride-th).
    #[arg(long)]
    pub target_layers: Option<String>,
    /// Step between default candidate target layers.
    #[arg(long, default_value_t = 2)]
    pub stride: usize,
    /// Expert layers per target layer: the same relative depth ± this.
    #[arg(long, default_value_t = 3)]
    pub window: usize,
    /// Also write maps at these paired counts (the learning curve), as
    /// OUT-stem.N.esmap, e.g. `25000,50000,100000`.
    #[arg(long, value_delimiter = ',')]
    pub snapshots: Vec<u64>,
    /// Permute the target rows of every decode before fitting: the
    /// shuffled-map control (its maps should carry nothing).
    #[arg(long)]
    pub shuffled: bool,
    /// Leave out each text's first N target positions (BOS included): the
    /// first tokens carry outsized "attention sink" states, unlike the
    /// positions a concept is read at. On sentiment (the development
    /// concept), 6k positions with 4 left out carried the expert's mean
    /// difference at cos 0.31-0.52 to the target's own, against -0.08-0.24
    /// with none left out at 25k (EVALUATION.md).
    #[arg(long, default_value_t = 4)]
    pub skip_first: usize,
    /// Checkpoint folder (default: a folder under the cache named for OUT).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Write the checkpoint after this many texts (each write is the whole
    /// statistics, ~0.8 GB for a 0.5B expert; 64 texts are 10-20 minutes of
    /// capture on one thread here).
    #[arg(long, default_value_t = 64)]
    pub checkpoint_texts: usize,
    /// CPU threads for llama.cpp.
    #[arg(long)]
    pub threads: Option<i32>,
    /// Tokens per decode on each side.
    #[arg(long, default_value_t = 512)]
    pub batch: u32,
    /// Most texts per decode.
    #[arg(long, default_value_t = 8)]
    pub seqs: u32,
    /// Blocks to offload to a GPU in cuda/metal builds (-1 = all).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub gpu_layers: i32,
    /// Also keep every paired row in DIR, for maps fitted outside the
    /// ridge (docs/eval/map/mlp_ablation.py): raw little-endian f32 per
    /// candidate layer, each row's text index, and rows.json. It takes
    /// rows × (expert layers × expert width + target layers × target
    /// width) × 4 bytes, so narrow the candidates (--target-layers,
    /// --window). Resumes with the run.
    #[arg(long, value_name = "DIR")]
    pub dump_rows: Option<PathBuf>,
}

pub fn run(a: MapArgs) -> Result<()> {
    let (expert_path, target_path) = (models::resolve(&a.expert)?, models::resolve(&a.target)?);
    let out = match (&a.out, a.shuffled) {
        (Some(p), _) => p.clone(),
        (None, true) => {
            return Err(Error::Input(
                "give --out for a shuffled control, so that it never becomes the pair's map \
                 that fit uses by default"
                    .into(),
            ))
        }
        (None, false) => expertsteer::cache::default_map_path(&expert_path, &target_path),
    };
    if a.out.is_none() {
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
    }
    check_writable(&out)?;
    let params = ModelParams {
        gpu_layers: a.gpu_layers,
    };
    let expert = Model::load(&expert_path, &params)?;
    let target = Model::load(&target_path, &params)?;
    let threads = a
        .threads
        .unwrap_or_else(expertsteer::llama::default_threads);
    let texts = match &a.texts {
        Some(p) => read_texts(p)?,
        None => corpus_texts(&a.corpus, &target_path, Some(&target), threads)?,
    };
    let targets = match &a.target_layers {
        Some(s) => parse_layer_numbers(s)?,
        None => Vec::new(),
    };
    let candidates = Candidates::by_depth(
        expert.n_layer(),
        target.n_layer(),
        &targets,
        a.stride,
        a.window,
    )?;
    let ctx_params = ContextParams {
        n_ctx: a.batch.max(64),
        n_batch: a.batch,
        n_ubatch: a.batch,
        n_seq_max: a.seqs.max(1),
        threads,
        hook: true,
    };
    let mut ectx = Context::new(&expert, ctx_params.clone())?;
    let mut tctx = Context::new(&target, ctx_params)?;
    let state_dir = a.state.clone().unwrap_or_else(|| {
        let stem = out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        expertsteer::cache::maps_dir().join(format!("{stem}.state"))
    });
    let d_e = expert.n_embd();
    let d_t = target.n_embd();
    let stats_mb = 16.0
        * (candidates.expert_layers.len() * d_e * d_e + candidates.pairs.len() * d_e * d_t) as f64
        / 1e6;
    errln!(
        "map: {} texts; {} target layers × expert layers within ±{} of the same depth = {} pairs; statistics ~{stats_mb:.0} MB",
        texts.len(),
        candidates.target_layers.len(),
        a.window,
        candidates.pairs.len()
    );
    let cfg = MapRunConfig {
        candidates,
        max_paired: (a.max_paired > 0).then_some(a.max_paired),
        checkpoint_texts: a.checkpoint_texts.max(1),
        snapshots: a.snapshots.clone(),
        shuffle_seed: a.shuffled.then_some(0x5eed),
        skip_first: a.skip_first,
        state_dir,
        out: out.clone(),
        dump_rows: a.dump_rows.clone(),
    };
    if cfg.dump_rows.is_some() {
        let per_row = expertsteer::map::dump::row_bytes(
            cfg.candidates.expert_layers.len(),
            cfg.candidates.target_layers.len(),
            d_e,
            d_t,
        );
        match cfg.max_paired {
            Some(m) => errln!(
                "map: the row dump takes {:.0} MB at {m} rows",
                per_row as f64 * m as f64 / 1e6
            ),
            None => errln!(
                "map: the row dump takes {:.0} KB per paired row, with no --max-paired bound",
                per_row as f64 / 1e3
            ),
        }
    }
    let started = std::time::Instant::now();
    let mut progress = super::progress::StageProgress::new("map");
    let (file, counters) = run_map(
        &mut ectx,
        &mut tctx,
        &texts,
        &cfg,
        &mut |p| {
            progress.update(
                "paired positions",
                p.paired as usize,
                cfg.max_paired.unwrap_or(0).max(p.paired) as usize,
            )
        },
        &mut |s| errln!("{s}"),
    )?;
    progress.finish();
    file.write(&out)?;
    print_summary(&file);
    let c = &counters;
    errln!(
        "map: capture {:.0} expert tokens/s ({} in {:.0} s), {:.0} target tokens/s ({} in {:.0} s); statistics {:.0} s (cumulative over resumed runs)",
        c.expert_tokens as f64 / c.expert_seconds.max(1e-9),
        c.expert_tokens,
        c.expert_seconds,
        c.target_tokens as f64 / c.target_seconds.max(1e-9),
        c.target_tokens,
        c.target_seconds,
        c.stats_seconds
    );
    errln!(
        "wrote {} in {:.0} s; peak memory {}",
        out.display(),
        started.elapsed().as_secs_f64(),
        peak_rss()
            .map(|m| format!("{m:.0} MB"))
            .unwrap_or_else(|| "unknown".into())
    );
    Ok(())
}

/// Held-out R² per pair, the best expert layer per target layer marked.
pub fn print_summary(f: &MapFile) {
    let c = &f.corpus;
    outln!(
        "map {} → {}: {} texts ({} skipped), {} paired positions ({:.1}% of the target's {} tokens; fit {} / held out {}){}",
        f.expert.file_name,
        f.target.file_name,
        c.texts,
        c.skipped,
        c.paired,
        100.0 * c.paired_fraction(),
        c.target_tokens,
        c.fold_rows[0],
        c.fold_rows[1],
        if f.shuffled { "; SHUFFLED control" } else { "" }
    );
    outln!("target  expert  held-out R²  ridge λ");
    for t in f.target_layers() {
        let best = f.best_by_r2(t).map(|p| p.expert_layer);
        for p in f.pairs.iter().filter(|p| p.target_layer == t) {
            outln!(
                "{:>6}  {:>6}  {:>11.3}  {:>7}{}",
                t,
                p.expert_layer,
                p.r2,
                p.lambda,
                if Some(p.expert_layer) == best {
                    "  ← best"
                } else {
                    ""
                }
            );
        }
    }
}

/// Peak resident memory of this process (Linux: VmHWM), in MB.
pub fn peak_rss() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}
