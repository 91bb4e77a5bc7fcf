//! The exact-match loop: for every condition (no steering, or a steering
//! file at a strength) and question, a greedy answer to the k-shot prompt,
//! cut at the first newline and scored; one JSON line per result in an
//! append-only log, so a killed run continues where it stopped.

use super::prompt::{cut_answer, exact_match, example_split, few_shot_prompt};
use crate::data::GenExample;
use crate::greedy::LabelledSteer;
use crate::greedy::{greedy_context, greedy_params, set_condition};
use crate::jsonl_log::{read_jsonl_log, LogWriter};
use expertsteer::generate::generate_until;
use expertsteer::llama::{Model, Positions};
use expertsteer::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One question under one condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenRecord {
    /// The BIG-bench task.
    pub task: String,
    /// The question's id.
    pub question: String,
    /// `fit`, `validation` or `test`.
    pub split: String,
    /// Seed of the split (it also picks the shots).
    pub split_seed: u64,
    /// The model's label (its file name without `.gguf`).
    pub model: String,
    /// `none`, or the steering file's label.
    pub steering: String,
    /// Strength c (0 without steering).
    pub strength: f32,
    /// `all` or `generated` (token positions steered).
    pub positions: String,
    /// Examples shown before the question.
    pub shots: usize,
    /// The token cap of the answer.
    pub max_tokens: usize,
    /// Whether the answer matched a target exactly.
    pub correct: bool,
    /// The answer as generated, cut at the first newline.
    pub answer: String,
    /// The accepted answers.
    pub targets: Vec<String>,
    /// Tokens generated.
    pub n_tokens: usize,
    /// Whether a newline ended the answer (false: the token cap or end of
    /// text).
    pub stopped: bool,
    /// Seconds generating (prompt included).
    pub gen_secs: f64,
}

type Key = (
    String,
    String,
    u64,
    String,
    String,
    u32,
    String,
    usize,
    usize,
);

impl GenRecord {
    fn key(&self) -> Key {
        (
            self.task.clone(),
            self.question.clone(),
            self.split_seed,
            self.model.clone(),
            self.steering.clone(),
            self.strength.to_bits(),
            self.positions.clone(),
            self.shots,
            self.max_tokens,
        )
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct GenPlan {
    /// Questions, in the order they are run (none of them a shot).
    pub questions: Vec<GenExample>,
    /// The examples shown before every question.
    pub shots: Vec<GenExample>,
    /// The model's label in the log.
    pub model: String,
    /// Steering to evaluate at every strength (no steering always runs).
    pub steer: Option<LabelledSteer>,
    /// Strengths c; 0 stands for no steering.
    pub strengths: Vec<f32>,
    /// Token positions steered.
    pub positions: Positions,
    /// Most tokens per answer.
    pub max_tokens: usize,
    /// Context length (prompt + answer must fit).
    pub n_ctx: u32,
    /// Seed of the question split and of the shots.
    pub split_seed: u64,
    /// llama.cpp threads.
    pub threads: i32,
    /// The append-only log.
    pub log: PathBuf,
}

impl GenPlan {
    /// (steering label, strength) of every condition, no steering first.
    pub fn conditions(&self) -> Vec<(String, f32)> {
        crate::greedy::conditions(self.steer.as_ref(), &self.strengths)
    }

    fn key(&self, q: &GenExample, steering: &str, c: f32) -> Key {
        (
            q.task.clone(),
            q.id.clone(),
            self.split_seed,
            self.model.clone(),
            steering.to_string(),
            c.to_bits(),
            self.positions_label(steering),
            self.shots.len(),
            self.max_tokens,
        )
    }

    /// Unsteered runs are the same whatever positions would be steered.
    pub fn positions_label(&self, steering: &str) -> String {
        crate::greedy::positions_label(self.positions, steering)
    }

    /// This plan's records in `log`, one per (condition, question), in plan
    /// order; missing ones are skipped.
    pub fn select<'a>(&self, log: &'a [GenRecord]) -> Vec<&'a GenRecord> {
        let by_key: std::collections::HashMap<Key, &GenRecord> =
            log.iter().map(|r| (r.key(), r)).collect();
        let mut out = Vec::new();
        for (label, c) in self.conditions() {
            for q in &self.questions {
                if let Some(r) = by_key.get(&self.key(q, &label, c)) {
                    out.push(*r);
                }
            }
        }
        out
    }

    /// Checks what can be checked before any model work: strengths finite,
    /// a token cap, questions to score, and no shot among them.
    pub fn check(&self) -> Result<()> {
        if let Some(bad) = self.strengths.iter().find(|s| !s.is_finite()) {
            return Err(Error::Input(format!("strength {bad} is not a number")));
        }
        if self.max_tokens == 0 {
            return Err(Error::Input("max tokens must be at least 1".into()));
        }
        if self.questions.is_empty() {
            return Err(Error::Input("no questions to score".into()));
        }
        let shots: HashSet<&str> = self.shots.iter().map(|s| s.group.as_str()).collect();
        if let Some(q) = self
            .questions
            .iter()
            .find(|q| shots.contains(q.group.as_str()))
        {
            return Err(Error::Input(format!(
                "question {} is also a shot: a scored question must not be shown",
                q.id
            )));
        }
        Ok(())
    }
}

/// Reads every record of a log (missing file = none; a torn last line,
/// from a killed run, is skipped and redone).
pub fn read_gen_log(path: &Path) -> Result<Vec<GenRecord>> {
    read_jsonl_log(path)
}

/// Progress after each question: records done so far (of `total`) and the
/// new record.
pub struct Progress<'a> {
    /// Records of the plan now in the log.
    pub done: usize,
    /// Records the plan has in all.
    pub total: usize,
    /// The record just written.
    pub record: &'a GenRecord,
}

/// Runs every (condition, question) of `plan` not yet in its log. Returns
/// how many records were added.
pub fn run_gen_eval(
    model: &Model,
    plan: &GenPlan,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<usize> {
    plan.check()?;
    if let Some(s) = &plan.steer {
        model.check_steer_file(&s.file)?;
    }
    let done: HashSet<Key> = read_gen_log(&plan.log)?
        .iter()
        .map(GenRecord::key)
        .collect();
    let conditions = plan.conditions();
    let total = conditions.len() * plan.questions.len();
    let mut n_done = conditions
        .iter()
        .flat_map(|(l, c)| plan.questions.iter().map(move |q| (l, c, q)))
        .filter(|(l, c, q)| done.contains(&plan.key(q, l, **c)))
        .count();
    if n_done == total {
        return Ok(0);
    }
    // Every prompt is tokenised (and checked against the context) before
    // the first answer, so a prompt that does not fit fails at once.
    let mut prompts = Vec::with_capacity(plan.questions.len());
    for q in &plan.questions {
        let toks = model.tokenize(&few_shot_prompt(&plan.shots, q), true, false)?;
        if toks.len() + plan.max_tokens > plan.n_ctx as usize {
            return Err(Error::Input(format!(
                "{}: prompt ({} tokens with {} shots) + max tokens ({}) exceed the \
                 context ({}); raise --ctx or lower --shots",
                q.id,
                toks.len(),
                plan.shots.len(),
                plan.max_tokens,
                plan.n_ctx
            )));
        }
        prompts.push(toks);
    }
    let mut log = LogWriter::open(&plan.log)?;
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
        for (q, prompt) in plan.questions.iter().zip(&prompts) {
            if done.contains(&plan.key(q, label, *c)) {
                continue;
            }
            let t0 = Instant::now();
            let mut text = String::new();
            let gen = generate_until(&mut ctx, prompt, &params, &mut |piece| {
                text.push_str(piece);
                !text.contains('\n')
            })?;
            let (answer, stopped) = cut_answer(&gen.text);
            let r = GenRecord {
                task: q.task.clone(),
                question: q.id.clone(),
                split: format!("{:?}", example_split(q, plan.split_seed)).to_lowercase(),
                split_seed: plan.split_seed,
                model: plan.model.clone(),
                steering: label.clone(),
                strength: *c,
                positions: plan.positions_label(label),
                shots: plan.shots.len(),
                max_tokens: plan.max_tokens,
                correct: exact_match(answer, &q.targets),
                answer: answer.to_string(),
                targets: q.targets.clone(),
                n_tokens: gen.tokens.len(),
                stopped,
                gen_secs: t0.elapsed().as_secs_f64(),
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
