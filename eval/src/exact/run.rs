//! The exact-match loop: for every condition (no steering, or a steering
//! file at a strength, or no steering with a prompt cue) and question, a
//! greedy answer to the k-shot prompt, scored as a line (cut at the first
//! newline, exact match) or as a free answer (a worked solution whose final
//! number is compared); one JSON line per result in an append-only log, so
//! a killed run continues where it stopped.

use super::prompt::{
    cued_prompt, cut_answer, cut_free_answer, exact_match, example_split, free_answer_end,
    number_match,
};
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

/// How an answer is cut and scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// One line, compared exactly (BIG-bench arithmetic).
    #[default]
    Line,
    /// Free text up to a line starting `Q:` (or any `X:`) or the token cap; its final number
    /// (after "the answer is", else the last) compared as a number (word
    /// problems, where the answer may come after worked steps).
    Number,
}

impl AnswerMode {
    /// The log's and the CLI's name.
    pub fn name(self) -> &'static str {
        match self {
            AnswerMode::Line => "line",
            AnswerMode::Number => "number",
        }
    }
}

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
    /// How the answer was cut and scored (logs before it: line).
    #[serde(default)]
    pub mode: AnswerMode,
    /// Text after the question's `A:` (empty: none).
    #[serde(default)]
    pub cue: String,
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
    AnswerMode,
    String,
);

/// One condition of a plan: steering label, strength, prompt cue.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `none` or the steering file's label.
    pub steering: String,
    /// Strength c (0 without steering).
    pub strength: f32,
    /// Text after `A:` (empty: none).
    pub cue: String,
}

impl Condition {
    /// The table's name for it: the label, with `+ cue` for a cued row.
    pub fn name(&self) -> String {
        if self.cue.is_empty() {
            self.steering.clone()
        } else {
            format!("{} + cue", self.steering)
        }
    }
}

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
            self.mode,
            self.cue.clone(),
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
    /// How answers are cut and scored.
    pub mode: AnswerMode,
    /// A prompt cue (e.g. "Let's think step by step."): when set, no
    /// steering with this cue after `A:` is one more condition, next to
    /// the uncued ones.
    pub cue: Option<String>,
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
    /// Every condition: no steering first, then no steering with the cue
    /// (if any), then the steering file at each strength (uncued).
    pub fn conditions(&self) -> Vec<Condition> {
        let mut out: Vec<Condition> =
            crate::greedy::conditions(self.steer.as_ref(), &self.strengths)
                .into_iter()
                .map(|(steering, strength)| Condition {
                    steering,
                    strength,
                    cue: String::new(),
                })
                .collect();
        if let Some(cue) = self.cue.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            out.insert(
                1,
                Condition {
                    steering: "none".into(),
                    strength: 0.0,
                    cue: cue.to_string(),
                },
            );
        }
        out
    }

    fn key(&self, q: &GenExample, c: &Condition) -> Key {
        (
            q.task.clone(),
            q.id.clone(),
            self.split_seed,
            self.model.clone(),
            c.steering.clone(),
            c.strength.to_bits(),
            self.positions_label(&c.steering),
            self.shots.len(),
            self.max_tokens,
            self.mode,
            c.cue.clone(),
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
        for c in self.conditions() {
            for q in &self.questions {
                if let Some(r) = by_key.get(&self.key(q, &c)) {
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
        .flat_map(|c| plan.questions.iter().map(move |q| (c, q)))
        .filter(|(c, q)| done.contains(&plan.key(q, c)))
        .count();
    if n_done == total {
        return Ok(0);
    }
    // Every prompt is tokenised (and checked against the context) before
    // the first answer, so a prompt that does not fit fails at once.
    let mut prompts = std::collections::HashMap::new();
    let cues: HashSet<&str> = conditions.iter().map(|c| c.cue.as_str()).collect();
    for q in &plan.questions {
        for cue in &cues {
            let toks = model.tokenize(&cued_prompt(&plan.shots, q, cue), true, false)?;
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
            prompts.insert((q.id.as_str(), *cue), toks);
        }
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
    for cond in &conditions {
        set_condition(&mut ctx, plan.steer.as_ref(), cond.strength, plan.positions)?;
        for q in &plan.questions {
            if done.contains(&plan.key(q, cond)) {
                continue;
            }
            let prompt = &prompts[&(q.id.as_str(), cond.cue.as_str())];
            let t0 = Instant::now();
            let mut text = String::new();
            let mode = plan.mode;
            let gen = generate_until(&mut ctx, prompt, &params, &mut |piece| {
                // Only the new piece and the two bytes before it can
                // complete a stop marker: no rescan of the whole answer.
                let from = text.len().saturating_sub(2);
                text.push_str(piece);
                let tail = text.get(from..).unwrap_or(&text);
                match mode {
                    AnswerMode::Line => !piece.contains('\n'),
                    AnswerMode::Number => free_answer_end(tail).is_none(),
                }
            })?;
            let (answer, stopped) = match mode {
                AnswerMode::Line => cut_answer(&gen.text),
                AnswerMode::Number => cut_free_answer(&gen.text),
            };
            let correct = match mode {
                AnswerMode::Line => exact_match(answer, &q.targets),
                AnswerMode::Number => number_match(answer, &q.targets),
            };
            let r = GenRecord {
                task: q.task.clone(),
                question: q.id.clone(),
                split: format!("{:?}", example_split(q, plan.split_seed)).to_lowercase(),
                split_seed: plan.split_seed,
                model: plan.model.clone(),
                steering: cond.steering.clone(),
                strength: cond.strength,
                positions: plan.positions_label(&cond.steering),
                shots: plan.shots.len(),
                max_tokens: plan.max_tokens,
                correct,
                answer: answer.to_string(),
                targets: q.targets.clone(),
                n_tokens: gen.tokens.len(),
                stopped,
                gen_secs: t0.elapsed().as_secs_f64(),
                mode,
                cue: cond.cue.clone(),
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
