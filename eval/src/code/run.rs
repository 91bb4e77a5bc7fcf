//! The HumanEval loop: for every condition (no steering, or a steering file
//! at a strength) and problem, a greedy completion cut at the stop
//! sequences, run in the [`Sandbox`]; one JSON line per result in an
//! append-only log, so a killed run continues where it stopped.

use super::humaneval::{problem_split, prompt_tokens, Problem, PromptFormat};
use super::sandbox::{Outcome, Sandbox};
use crate::greedy::{greedy_context, greedy_params, set_condition};
// Their home is `greedy` (shared with the exact-match loop); re-exported
// under the paths the CLI and tests use.
pub use crate::greedy::{positions_name, LabelledSteer};
use crate::stats::wilson_ci;
use expertsteer::generate::generate_until;
use expertsteer::llama::{Model, Positions};
use expertsteer::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One problem under one condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// `HumanEval/N`.
    pub problem: String,
    /// `fit`, `validation` or `test`.
    pub split: String,
    /// The model's label (its file name without `.gguf`).
    pub model: String,
    /// `none`, or the steering file's label.
    pub steering: String,
    /// Strength c (0 without steering).
    pub strength: f32,
    /// `all` or `generated` (token positions steered).
    pub positions: String,
    /// `plain` or `chat`.
    pub prompt_format: PromptFormat,
    /// The token cap of the completion.
    pub max_tokens: usize,
    /// Whether the official tests passed.
    pub passed: bool,
    /// The sandbox's verdict.
    pub outcome: Outcome,
    /// The completion as run (cut at the first stop sequence).
    pub completion: String,
    /// Tokens generated (before the cut).
    pub n_tokens: usize,
    /// Whether a stop sequence ended it (false: the token cap or end of text).
    pub stopped: bool,
    /// Seconds generating (prompt included).
    pub gen_secs: f64,
    /// Seconds in the sandbox.
    pub exec_secs: f64,
}

type Key = (String, String, String, u32, String, PromptFormat, usize);

impl CodeRecord {
    fn key(&self) -> Key {
        (
            self.problem.clone(),
            self.model.clone(),
            self.steering.clone(),
            self.strength.to_bits(),
            self.positions.clone(),
            self.prompt_format,
            self.max_tokens,
        )
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct CodePlan {
    /// Problems, in the order they are run.
    pub problems: Vec<Problem>,
    /// The model's label in the log.
    pub model: String,
    /// Steering to evaluate at every strength (no steering always runs).
    pub steer: Option<LabelledSteer>,
    /// Strengths c; 0 stands for no steering.
    pub strengths: Vec<f32>,
    /// Token positions steered.
    pub positions: Positions,
    /// Plain continuation or chat template.
    pub format: PromptFormat,
    /// Most tokens per completion.
    pub max_tokens: usize,
    /// Context length (prompt + completion must fit).
    pub n_ctx: u32,
    /// Seed of the problem split.
    pub split_seed: u64,
    /// llama.cpp threads.
    pub threads: i32,
    /// The append-only log.
    pub log: PathBuf,
}

impl CodePlan {
    /// (steering label, strength) of every condition, no steering first.
    pub fn conditions(&self) -> Vec<(String, f32)> {
        crate::greedy::conditions(self.steer.as_ref(), &self.strengths)
    }

    fn key(&self, problem: &str, steering: &str, c: f32) -> Key {
        (
            problem.to_string(),
            self.model.clone(),
            steering.to_string(),
            c.to_bits(),
            self.positions_label(steering),
            self.format,
            self.max_tokens,
        )
    }

    /// Unsteered runs are the same whatever positions would be steered.
    fn positions_label(&self, steering: &str) -> String {
        crate::greedy::positions_label(self.positions, steering)
    }

    /// This plan's records in `log`, one per (condition, problem), in plan
    /// order; missing ones are skipped.
    pub fn select<'a>(&self, log: &'a [CodeRecord]) -> Vec<&'a CodeRecord> {
        let by_key: std::collections::HashMap<Key, &CodeRecord> =
            log.iter().map(|r| (r.key(), r)).collect();
        let mut out = Vec::new();
        for (label, c) in self.conditions() {
            for p in &self.problems {
                if let Some(r) = by_key.get(&self.key(&p.task_id, &label, c)) {
                    out.push(*r);
                }
            }
        }
        out
    }
}

/// Reads every record of a log (missing file = none; a torn last line,
/// from a killed run, is skipped and redone).
pub fn read_code_log(path: &Path) -> Result<Vec<CodeRecord>> {
    crate::jsonl_log::read_jsonl_log(path)
}

/// Progress after each problem: records done so far (of `total`) and the
/// new record.
pub struct Progress<'a> {
    /// Records of the plan now in the log.
    pub done: usize,
    /// Records the plan has in all.
    pub total: usize,
    /// The record just written.
    pub record: &'a CodeRecord,
}

/// Runs every (condition, problem) of `plan` not yet in its log. Returns
/// how many records were added.
pub fn run_code_eval(
    model: &Model,
    sandbox: &Sandbox,
    plan: &CodePlan,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<usize> {
    if plan.max_tokens == 0 {
        return Err(Error::Input("max tokens must be at least 1".into()));
    }
    if let Some(s) = &plan.steer {
        model.check_steer_file(&s.file)?;
    }
    let done: HashSet<Key> = read_code_log(&plan.log)?
        .iter()
        .map(CodeRecord::key)
        .collect();
    let conditions = plan.conditions();
    let total = conditions.len() * plan.problems.len();
    let mut n_done = conditions
        .iter()
        .flat_map(|(l, c)| plan.problems.iter().map(move |p| (l, c, p)))
        .filter(|(l, c, p)| done.contains(&plan.key(&p.task_id, l, **c)))
        .count();
    if n_done == total {
        return Ok(0);
    }
    let mut log = crate::jsonl_log::LogWriter::open(&plan.log)?;
    let mut ctx = greedy_context(
        model,
        plan.n_ctx,
        plan.threads,
        plan.positions,
        plan.steer.as_ref(),
    )?;
    let params = greedy_params(plan.max_tokens);
    let mut n_new = 0;
    for (label, c) in &conditions {
        set_condition(&mut ctx, plan.steer.as_ref(), *c, plan.positions)?;
        for p in &plan.problems {
            if done.contains(&plan.key(&p.task_id, label, *c)) {
                continue;
            }
            let t0 = Instant::now();
            let prompt = prompt_tokens(model, p, plan.format)?;
            if prompt.len() + plan.max_tokens > plan.n_ctx as usize {
                return Err(Error::Input(format!(
                    "{}: prompt ({} tokens) + max tokens ({}) exceed the context ({}); \
                     raise --ctx",
                    p.task_id,
                    prompt.len(),
                    plan.max_tokens,
                    plan.n_ctx
                )));
            }
            let mut text = String::new();
            let gen = generate_until(&mut ctx, &prompt, &params, &mut |piece| {
                text.push_str(piece);
                plan.format.cut(&text).is_none()
            })?;
            let gen_secs = t0.elapsed().as_secs_f64();
            let cut = plan.format.cut(&gen.text);
            let completion = gen.text[..cut.unwrap_or(gen.text.len())].to_string();
            let t1 = Instant::now();
            let exec = sandbox.run(&p.program(&completion))?;
            let r = CodeRecord {
                problem: p.task_id.clone(),
                split: format!("{:?}", problem_split(p, plan.split_seed)).to_lowercase(),
                model: plan.model.clone(),
                steering: label.clone(),
                strength: *c,
                positions: plan.positions_label(label),
                prompt_format: plan.format,
                max_tokens: plan.max_tokens,
                passed: exec.outcome.passed(),
                outcome: shorten(exec.outcome),
                completion,
                n_tokens: gen.tokens.len(),
                stopped: cut.is_some(),
                gen_secs,
                exec_secs: t1.elapsed().as_secs_f64(),
            };
            log.append(&r)?;
            n_new += 1;
            n_done += 1;
            progress(Progress {
                done: n_done,
                total,
                record: &r,
            });
        }
    }
    expertsteer::steering::steer::clear(&mut ctx);
    Ok(n_new)
}

/// The outcome with its stderr cut to the last 2000 characters (logs stay
/// small; the traceback's end says what failed).
fn shorten(o: Outcome) -> Outcome {
    let cut = |d: String| {
        let n = d.chars().count();
        if n <= 2000 {
            d
        } else {
            d.chars().skip(n - 2000).collect()
        }
    };
    match o {
        Outcome::Failed { exit_code, detail } => Outcome::Failed {
            exit_code,
            detail: cut(detail),
        },
        Outcome::Killed { signal, detail } => Outcome::Killed {
            signal,
            detail: cut(detail),
        },
        other => other,
    }
}

/// pass@1 of one condition.
#[derive(Debug, Clone, PartialEq)]
pub struct PassRow {
    /// `none` or the steering label.
    pub steering: String,
    /// Strength c.
    pub strength: f32,
    /// Problems scored.
    pub n: usize,
    /// Problems passed.
    pub passed: usize,
    /// passed / n.
    pub pass_at_1: f64,
    /// 95% Wilson interval.
    pub ci: (f64, f64),
    /// Mean seconds generating per problem.
    pub gen_secs: f64,
    /// Mean seconds executing per problem.
    pub exec_secs: f64,
    /// Mean tokens generated per problem.
    pub tokens: f64,
}

/// One row per condition of `plan` that has records in `log` (a condition
/// not run yet has no row, rather than a row of NaN).
pub fn pass_table(plan: &CodePlan, log: &[CodeRecord]) -> Vec<PassRow> {
    let chosen = plan.select(log);
    plan.conditions()
        .into_iter()
        .filter_map(|(label, c)| {
            let rs: Vec<&&CodeRecord> = chosen
                .iter()
                .filter(|r| r.steering == label && r.strength.to_bits() == c.to_bits())
                .collect();
            let n = rs.len();
            if n == 0 {
                return None;
            }
            let passed = rs.iter().filter(|r| r.passed).count();
            let mean =
                |f: &dyn Fn(&CodeRecord) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / n as f64;
            Some(PassRow {
                steering: label,
                strength: c,
                n,
                passed,
                pass_at_1: passed as f64 / n as f64,
                ci: wilson_ci(passed, n),
                gen_secs: mean(&|r| r.gen_secs),
                exec_secs: mean(&|r| r.exec_secs),
                tokens: mean(&|r| r.n_tokens as f64),
            })
        })
        .collect()
}

/// The table as Markdown.
pub fn pass_table_markdown(rows: &[PassRow]) -> String {
    let mut s = String::from(
        "| steering | c | n | passed | pass@1 | 95% CI (Wilson) | gen s/problem | exec s/problem | tokens/problem |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {:.3}-{:.3} | {:.1} | {:.2} | {:.0} |\n",
            r.steering,
            r.strength,
            r.n,
            r.passed,
            r.pass_at_1,
            r.ci.0,
            r.ci.1,
            r.gen_secs,
            r.exec_secs,
            r.tokens
        ));
    }
    s
}
