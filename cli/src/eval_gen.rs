//! `expertsteer eval gen`: exact-match accuracy on a generative BIG-bench
//! task (k-shot, greedy, one line per answer), with and without steering;
//! resumable through its log.

use super::options::{model_label, parse_split, ModelOpts, SteerGrid, DEFAULT_CTX};
use clap::Args;
use expertsteer::{Error, Result};
use expertsteer_eval::code::run::positions_name;
use expertsteer_eval::data::load_bigbench_generative;
use expertsteer_eval::exact::prompt::{choose_shots, scored_examples};
use expertsteer_eval::exact::run::{read_gen_log, run_gen_eval, GenPlan};
use expertsteer_eval::exact::table::{accuracy_table, accuracy_table_markdown};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct EvalGenArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// BIG-bench task with exact-match targets, e.g. arithmetic/3_digit_addition.
    #[arg(long)]
    pub task: String,
    /// Questions of this part of the fixed 60/20/20 split (the one `data
    /// build` uses): fit, validation, test or all.
    #[arg(long, default_value = "validation")]
    pub split: String,
    /// Seed of the question split; it also picks the shots.
    #[arg(long, alias = "seed", default_value_t = 0)]
    pub split_seed: u64,
    /// Solved examples before each question, drawn from the fit split
    /// (never scored).
    #[arg(long, default_value_t = 3)]
    pub shots: usize,
    /// Only the first N questions of the split (0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Most tokens per answer (it also ends at the first newline).
    #[arg(long, default_value_t = 16)]
    pub max_tokens: usize,
    #[command(flatten)]
    pub grid: SteerGrid,
    /// The JSON Lines log: one line per question and condition; a run
    /// continues where an earlier one with the same log stopped.
    #[arg(long)]
    pub log: PathBuf,
    /// Only print the table from the log.
    #[arg(long)]
    pub report_only: bool,
}

pub fn run(a: EvalGenArgs) -> Result<()> {
    let split = parse_split(&a.split)?;
    let positions = a.grid.positions()?;
    let steer = a.grid.steer()?;

    let t = Instant::now();
    let examples = load_bigbench_generative(&a.task)?;
    let shots = choose_shots(&examples, a.split_seed, a.shots);
    if shots.len() < a.shots {
        return Err(Error::Input(format!(
            "{}: the fit split has only {} examples for {} shots",
            a.task,
            shots.len(),
            a.shots
        )));
    }
    let mut questions = scored_examples(&examples, split, a.split_seed, &shots);
    if a.limit > 0 {
        questions.truncate(a.limit);
    }
    errln!(
        "data: {} of {} examples of {} ({} split, seed {}, {} shots) in {:.1} s",
        questions.len(),
        examples.len(),
        a.task,
        a.split,
        a.split_seed,
        shots.len(),
        t.elapsed().as_secs_f64()
    );
    let mut plan = GenPlan {
        questions,
        shots,
        model: model_label(&a.model.model),
        steer,
        strengths: a.grid.strengths()?,
        positions,
        max_tokens: a.max_tokens,
        n_ctx: a.model.ctx.unwrap_or(DEFAULT_CTX),
        split_seed: a.split_seed,
        threads: a.model.threads(),
        log: a.log.clone(),
    };
    plan.check()?;
    if !a.report_only {
        let model = a.model.load_timed(&plan.model)?;
        plan.n_ctx = a.model.ctx(&model)?;
        let t = Instant::now();
        let n_new = run_gen_eval(&model, &plan, &mut |p| {
            let r = p.record;
            errln!(
                "[{}/{}] {} {} c={} {}: {} {:?} (target {:?}, {} tokens{}, {:.2} s)",
                p.done,
                p.total,
                r.question,
                r.steering,
                r.strength,
                positions_name(positions),
                if r.correct { "right" } else { "wrong" },
                r.answer,
                r.targets[0],
                r.n_tokens,
                if r.stopped { "" } else { ", no newline" },
                r.gen_secs
            );
        })?;
        let secs = t.elapsed().as_secs_f64();
        if n_new > 0 {
            errln!(
                "generation: {n_new} new answers in {secs:.0} s ({:.2} s per question)",
                secs / n_new as f64
            );
        } else {
            errln!("nothing new to run: the log holds every answer of this plan");
        }
    }
    let log = read_gen_log(&a.log)?;
    let rows = accuracy_table(&plan, &log);
    outln!(
        "\n{} exact match, {} split (seed {}), {} shots, greedy, at most {} tokens, model {}:\n",
        a.task,
        a.split,
        a.split_seed,
        plan.shots.len(),
        a.max_tokens,
        plan.model
    );
    out!("{}", accuracy_table_markdown(&rows));
    Ok(())
}
