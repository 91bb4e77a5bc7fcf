//! `expertsteer eval behaviour`: steered open-ended generations and their
//! perplexity under the unsteered model, logged for an outside scorer.

use super::options::ModelOpts;
use clap::Args;
use expertsteer::{Error, Result};
use expertsteer_eval::behaviour::{read_prompts, run_behaviour, BehaviourPlan};
use expertsteer_eval::run::LabelledSteer;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct BehaviourArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Steering files, as FILE or LABEL=FILE; repeat for several methods.
    #[arg(long = "steer")]
    pub steers: Vec<String>,
    /// Strengths c applied to every file (the unsteered text is always made).
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.1,0.2")]
    pub strengths: Vec<f32>,
    /// Open prompts: JSON Lines with "text" and an optional unique "id".
    #[arg(long)]
    pub prompts: PathBuf,
    /// Use only the first N prompts (0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// New tokens per continuation (greedy).
    #[arg(long, short = 'n', default_value_t = 40)]
    pub max_tokens: usize,
    /// The log (JSON Lines, appended; rows already there are skipped).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: BehaviourArgs) -> Result<()> {
    if let Some(bad) = a.strengths.iter().find(|s| !s.is_finite()) {
        return Err(Error::Input(format!("strength {bad} is not a number")));
    }
    let mut prompts = read_prompts(&a.prompts)?;
    if a.limit > 0 {
        prompts.truncate(a.limit);
    }
    let steers = a
        .steers
        .iter()
        .map(|s| LabelledSteer::from_spec(s))
        .collect::<Result<Vec<_>>>()?;
    let model = a.model.load()?;
    let plan = BehaviourPlan {
        steers,
        strengths: a.strengths.clone(),
        prompts,
        max_tokens: a.max_tokens,
        threads: a.model.threads(),
        log: a.out.clone(),
    };
    let start = std::time::Instant::now();
    let n_new = run_behaviour(&model, &plan, &mut |done, total| {
        if done % 25 == 0 || done == total {
            errln!(
                "{done}/{total} continuations ({:.0} s)",
                start.elapsed().as_secs_f64()
            );
        }
    })?;
    outln!(
        "{} new continuations in {:.0} s, log {}",
        n_new,
        start.elapsed().as_secs_f64(),
        a.out.display()
    );
    Ok(())
}
