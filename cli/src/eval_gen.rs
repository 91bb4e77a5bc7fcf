//! `expertsteer eval gen`: exact-match accuracy on a generative task (a
//! BIG-bench task or a file from `data build`; k-shot, greedy, one line
//! per answer or a free answer scored by its final number), with and
//! without steering; resumable through its log.

use super::options::{model_label, parse_split, ModelOpts, SteerGrid, DEFAULT_CTX};
use clap::Args;
use expertsteer::{Error, Result};
use expertsteer_eval::code::run::positions_name;
use expertsteer_eval::data::load_generative;
use expertsteer_eval::exact::prompt::{choose_shots, scored_examples};
use expertsteer_eval::exact::run::{read_gen_log, run_gen_eval, AnswerMode, GenPlan};
use expertsteer_eval::exact::table::{accuracy_table, accuracy_table_markdown};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct EvalGenArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// BIG-bench task with exact-match targets, e.g.
    /// arithmetic/3_digit_addition, or a .jsonl file of generative examples
    /// (`data build --source multiplication` or `gsm-symbolic`).
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
    /// Most tokens per answer (a line answer also ends at the first
    /// newline; a number answer at a line starting "Q:", or "B:" and the like).
    #[arg(long, default_value_t = 16)]
    pub max_tokens: usize,
    /// line: the answer is the first line, compared exactly. number: a
    /// free answer (worked steps allowed) whose final number (after "the
    /// answer is", else the last one) is compared as a number; the table
    /// adds mean length and the share of worked solutions.
    #[arg(long, value_enum, default_value = "line")]
    pub answer: AnswerArg,
    /// Also run no steering with this text after the question's "A:"
    /// (e.g. "Let's think step by step."), as one more row compared with
    /// no steering; steered rows stay uncued.
    #[arg(long)]
    pub cue: Option<String>,
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

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum AnswerArg {
    Line,
    Number,
}

pub fn run(a: EvalGenArgs) -> Result<()> {
    let mode = match a.answer {
        AnswerArg::Line => AnswerMode::Line,
        AnswerArg::Number => AnswerMode::Number,
    };
    let split = parse_split(&a.split)?;
    let positions = a.grid.positions()?;
    let steer = a.grid.steer()?;

    let t = Instant::now();
    let examples = load_generative(&a.task)?;
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
        mode,
        cue: a.cue.clone(),
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
                "[{}/{}] {} {}{} c={} {}: {} {:?} (target {:?}, {} tokens{}, {:.2} s)",
                p.done,
                p.total,
                r.question,
                r.steering,
                if r.cue.is_empty() { "" } else { " + cue" },
                r.strength,
                positions_name(positions),
                if r.correct { "right" } else { "wrong" },
                short(&r.answer),
                r.targets[0],
                r.n_tokens,
                if r.stopped { "" } else { ", not stopped" },
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
        "\n{} {} match, {} split (seed {}), {} shots, greedy, at most {} tokens, model {}{}:\n",
        a.task,
        if mode == AnswerMode::Number {
            "final-number"
        } else {
            "exact"
        },
        a.split,
        a.split_seed,
        plan.shots.len(),
        a.max_tokens,
        plan.model,
        a.cue
            .as_deref()
            .map(|c| format!(", cue {c:?}"))
            .unwrap_or_default()
    );
    out!("{}", accuracy_table_markdown(&rows, mode));
    Ok(())
}

/// A long free answer shortened for the progress line: its last 60 chars.
fn short(answer: &str) -> String {
    let chars: Vec<char> = answer.chars().collect();
    if chars.len() <= 60 {
        answer.to_string()
    } else {
        format!("…{}", chars[chars.len() - 60..].iter().collect::<String>())
    }
}
