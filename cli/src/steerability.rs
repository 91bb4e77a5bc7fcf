//! `expertsteer eval steerability`: how far each layer of a steering file,
//! alone, moves the model's likelihoods toward a concept; the layers to
//! steer by the target-side rule.

use super::options::ModelOpts;
use super::progress::StageProgress;
use clap::Args;
use expertsteer::llama::{Positions, Token};
use expertsteer::pipeline::dataset::read_dataset;
use expertsteer::steering::steerability::{layer_steerability, most_steerable};
use expertsteer::steering::steerfile::SteerFile;
use expertsteer::{Error, Result};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SteerabilityArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Steering file with the candidate layers, usually the target's own
    /// CAA (`fit --method caa --target-layers …`); each layer is steered alone.
    #[arg(long)]
    pub steer: PathBuf,
    /// Labelled concept texts (JSON Lines, as for `fit`), read
    /// teacher-forced with and without each layer's vector. A file the
    /// steering was not fitted on keeps the choice off the fit texts.
    #[arg(long)]
    pub data: PathBuf,
    /// Strength c (s_j = c · r_j, the same relative dose at every layer;
    /// default: the file's).
    #[arg(long, allow_hyphen_values = true)]
    pub strength: Option<f32>,
    /// Texts of each label used (the first N of each, in file order).
    #[arg(long, default_value_t = 32)]
    pub per_class: usize,
    /// Layers to pick: the K with the largest shift.
    #[arg(long, default_value_t = 4)]
    pub top: usize,
}

pub fn run(a: SteerabilityArgs) -> Result<()> {
    if a.per_class == 0 {
        return Err(Error::Input("--per-class must be at least 1".into()));
    }
    let model = a.model.load()?;
    let f = SteerFile::read(&a.steer)?;
    model.check_steer_file(&f)?;
    let data = read_dataset(&a.data)?;
    let mut ctx = a.model.context(&model)?;
    let n_batch = ctx.params().n_batch as usize;
    let side = |label: u8| -> Result<Vec<Vec<Token>>> {
        let mut out = Vec::new();
        for t in data.iter().filter(|t| t.label == label).take(a.per_class) {
            let mut toks = model.tokenize(&t.text, true, false)?;
            toks.truncate(n_batch);
            if toks.len() >= 2 {
                out.push(toks);
            }
        }
        Ok(out)
    };
    let (pos, neg) = (side(1)?, side(0)?);
    if pos.is_empty() || neg.is_empty() {
        return Err(Error::Input(format!(
            "{} needs texts of both labels (1 and 0) with at least 2 tokens: found {} and {}",
            a.data.display(),
            pos.len(),
            neg.len()
        )));
    }
    let c = a.strength.unwrap_or(f.default_strength);
    let vectors = f.steering(Some(c), Positions::All).vectors;
    let mut p = StageProgress::new("steerability");
    let rows = layer_steerability(&mut ctx, &vectors, &pos, &neg, &mut |done, total| {
        p.update("layers", done, total)
    })?;
    p.finish();
    outln!(
        "\n{} positive and {} negative texts, c = {c}, each layer alone on every position\n",
        pos.len(),
        neg.len()
    );
    outln!("| layer | shift toward the concept (nats/token) | 95% CI | NLL change (nats/token) |");
    outln!("|---|---|---|---|");
    for r in &rows {
        outln!(
            "| {} | {:+.4} | {:+.4} to {:+.4} | {:+.4} |",
            r.layer,
            r.shift,
            r.shift - 1.96 * r.shift_se,
            r.shift + 1.96 * r.shift_se,
            r.nll_change
        );
    }
    let picks = most_steerable(&rows, a.top);
    let list: Vec<String> = picks.iter().map(|l| l.to_string()).collect();
    outln!(
        "\nmost steerable {} of {}: --target-layers {}",
        picks.len(),
        rows.len(),
        list.join(",")
    );
    Ok(())
}
