//! `expertsteer eval fluency`: does steered text stay fluent?

use super::options::ModelOpts;
use clap::Args;
use expertsteer::llama::Positions;
use expertsteer::steering::steerfile::SteerFile;
use expertsteer::Result;
use expertsteer_eval::fluency::fluency_check;
use std::path::PathBuf;

const DEFAULT_PROMPTS: &[&str] = &[
    "Explain what a hash table is.",
    "How do I reverse a list in Python?",
    "What is the derivative of x squared?",
    "Give me three tips for writing clean code.",
    "What causes the seasons on Earth?",
];

#[derive(Args, Debug)]
pub struct FluencyArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Steering file.
    #[arg(long)]
    pub steer: PathBuf,
    /// Strengths c to check (default: the file's).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub strengths: Vec<f32>,
    /// Prompts (repeatable; default: five general and coding questions).
    #[arg(long = "prompt")]
    pub prompts: Vec<String>,
    #[arg(long, short = 'n', default_value_t = 48)]
    pub max_tokens: usize,
}

pub fn run(a: FluencyArgs) -> Result<()> {
    let model = a.model.load()?;
    let f = SteerFile::read(&a.steer)?;
    model.check_steer_file(&f)?;
    let prompts: Vec<String> = if a.prompts.is_empty() {
        DEFAULT_PROMPTS.iter().map(|s| s.to_string()).collect()
    } else {
        a.prompts.clone()
    };
    let strengths = if a.strengths.is_empty() {
        vec![f.default_strength]
    } else {
        a.strengths.clone()
    };
    let threads = a.model.threads();
    for c in strengths {
        let rows = fluency_check(
            &model,
            &f.steering(Some(c), Positions::All),
            &prompts,
            a.max_tokens,
            threads,
        )?;
        outln!("\n### strength c = {c}\n");
        outln!("| prompt | unsteered | ppl | steered | ppl |");
        outln!("|---|---|---|---|---|");
        let clean = |s: &str| s.replace('\n', " ").replace('|', "/").trim().to_string();
        for r in &rows {
            outln!(
                "| {} | {} | {:.2} | {} | {:.2} |",
                clean(&r.prompt),
                clean(&r.plain),
                r.plain_ppl,
                clean(&r.steered),
                r.steered_ppl
            );
        }
        let mean = |v: Vec<f64>| v.iter().sum::<f64>() / v.len() as f64;
        outln!(
            "\nmean perplexity under the unsteered model: unsteered {:.2}, steered {:.2}",
            mean(rows.iter().map(|r| r.plain_ppl).collect()),
            mean(rows.iter().map(|r| r.steered_ppl).collect())
        );
    }
    Ok(())
}
