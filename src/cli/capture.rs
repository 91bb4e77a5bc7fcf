//! `expertsteer capture`.

use super::options::{parse_layers, ModelOpts};
use clap::Args;
use expertsteer::capture::{capture_last_token, longest_text_tokens};
use expertsteer::llama::Context;
use expertsteer::{npy, Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// Writes `OUT` (.npy, float32, shape [n_texts, n_layers, n_embd]: the
/// last token's `l_out` row per text and layer) and `OUT.json` (model,
/// layers, n_embd, n_texts). In Python: `numpy.load(OUT)`.
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

/// Reads the "text" (or "prompt") of every line; errors name the line.
pub fn read_texts(path: &Path) -> Result<Vec<String>> {
    let body = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| {
            Error::Input(format!("{}:{}: not valid JSON: {e}", path.display(), i + 1))
        })?;
        let text = v
            .get("text")
            .or_else(|| v.get("prompt"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| {
                Error::Input(format!(
                    "{}:{}: expected an object with a \"text\" string",
                    path.display(),
                    i + 1
                ))
            })?;
        out.push(text.to_string());
    }
    if out.is_empty() {
        return Err(Error::Input(format!("{} holds no texts", path.display())));
    }
    Ok(out)
}

pub fn run(a: CaptureArgs) -> Result<()> {
    let texts = read_texts(&a.prompts)?;
    let model = a.model.load()?;
    let layers = parse_layers(&a.layers, model.n_layer())?;
    let mut p = a.model.context_params();
    let longest = longest_text_tokens(&model, &texts, a.chat)?;
    let batch = a.batch.max(u32::try_from(longest).unwrap_or(u32::MAX));
    p.n_batch = batch;
    p.n_ubatch = batch;
    p.n_seq_max = a.seqs;
    p.n_ctx = p.n_ctx.max(batch);
    let mut ctx = Context::new(&model, p)?;
    let bar = ProgressBar::new(texts.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("capture {bar:40} {pos}/{len} texts [{elapsed} < {eta}]")
            .expect("static template"),
    );
    let cap = capture_last_token(&mut ctx, &texts, &layers, a.chat, &mut |done, _| {
        bar.set_position(done as u64)
    })?;
    bar.finish();
    write_capture(&a.out, &cap, &model)?;
    eprintln!(
        "wrote {} ({} texts x {} layers x {})",
        a.out.display(),
        cap.n_texts,
        cap.layers.len(),
        cap.n_embd
    );
    Ok(())
}

fn write_capture(
    out: &Path,
    cap: &expertsteer::capture::Captured,
    model: &expertsteer::llama::Model,
) -> Result<()> {
    let tmp = out.with_extension("npy.partial");
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?);
    npy::write_f32(
        &mut f,
        &[cap.n_texts, cap.layers.len(), cap.n_embd],
        &cap.data,
    )
    .map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, out).map_err(|e| Error::io(out, e))?;
    let meta = serde_json::json!({
        "model": model.path().display().to_string(),
        "architecture": model.arch(),
        "n_layer": model.n_layer(),
        "n_embd": cap.n_embd,
        "layers": cap.layers,
        "n_texts": cap.n_texts,
        "pooling": "last",
        "shape": [cap.n_texts, cap.layers.len(), cap.n_embd],
    });
    let side = PathBuf::from(format!("{}.json", out.display()));
    std::fs::write(&side, serde_json::to_string_pretty(&meta).expect("json"))
        .map_err(|e| Error::io(&side, e))?;
    Ok(())
}
