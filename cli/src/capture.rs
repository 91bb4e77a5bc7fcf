//! `expertsteer capture`.

use super::options::ModelOpts;
use clap::Args;
use expertsteer::atomic_file::check_writable;
use expertsteer::layer_list::parse_layers;
use expertsteer::llama::Context;
use expertsteer::pipeline::capture::{longest_text_tokens, Pooling};
use expertsteer::pipeline::capture_store::capture_cached;
use expertsteer::Result;
use expertsteer_eval::data::read_texts;
use std::path::PathBuf;

/// Writes `OUT` (.npy, float32, shape [n_texts, n_layers, n_embd]: the
/// last token's `l_out` row per text and layer) and `OUT.json` (model,
/// layers, n_embd, n_texts). In Python: `numpy.load(OUT)`.
///
/// States are captured in chunks into the capture cache
/// (`~/.cache/expertsteer/captures`, as `fit` does), so an interrupted run
/// resumes where it stopped when run again with the same flags, and the
/// result is byte-identical to an uninterrupted run.
#[derive(Args, Debug)]
pub struct CaptureArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// JSON Lines: one object per line with a "text" (or "prompt") field.
    #[arg(long)]
    pub prompts: PathBuf,
    /// Layers: `all`, `steerable`, or a list like `1,4,8-10`.
    #[arg(long, default_value = "all")]
    pub layers: String,
    /// Output .npy file.
    #[arg(long)]
    pub out: PathBuf,
    /// Wrap each text in the model's chat template as a user turn.
    #[arg(long)]
    pub chat: bool,
    /// Tokens per decode (texts are packed together up to this; raised to
    /// the longest text).
    #[arg(long, default_value_t = 512)]
    pub batch: u32,
    /// Most texts per decode.
    #[arg(long, default_value_t = 16)]
    pub seqs: u32,
}

pub fn run(a: CaptureArgs) -> Result<()> {
    check_writable(&a.out)?;
    let texts = read_texts(&a.prompts)?;
    let model = a.model.load()?;
    let layers = parse_layers(&a.layers, model.n_layer())?;
    let mut p = a.model.context_params(&model)?;
    let longest = longest_text_tokens(&model, &texts, a.chat)?;
    let batch = a.batch.max(u32::try_from(longest).unwrap_or(u32::MAX));
    p.n_batch = batch;
    p.n_ubatch = batch;
    p.n_seq_max = a.seqs;
    p.n_ctx = p.n_ctx.max(batch);
    let mut ctx = Context::new(&model, p)?;
    let mut progress = super::progress::StageProgress::new("capture");
    let n_texts = texts.len();
    let store = capture_cached(
        &mut ctx,
        &texts,
        &layers,
        Pooling::Last,
        a.chat,
        &expertsteer::cache::captures_dir(),
        &mut |done, _| progress.update("texts", done, n_texts),
    )?;
    progress.finish();
    store.write_npy(&a.out)?;
    errln!(
        "wrote {} ({} texts x {} layers x {}; states cached in {})",
        a.out.display(),
        store.meta.n_texts,
        store.meta.layers.len(),
        store.meta.n_embd,
        store.dir.display()
    );
    Ok(())
}
