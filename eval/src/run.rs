//! The evaluation loop: every question × condition (method, strength) ×
//! scoring, resumable through an append-only JSON Lines log.

use super::score::{argmax, score_options, tokenize_question, Scoring};
use crate::data::{split_of, McQuestion, Part, SplitFractions};
use expertsteer::llama::{Context, ContextParams, Model, Positions};
use expertsteer::steering::steer;
use expertsteer::steering::steerfile::SteerFile;
use expertsteer::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One scored question under one condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The task spec (`mmlu:math`, ...).
    pub task: String,
    /// Method label (`none`, a steering file's label, or `expert`).
    pub method: String,
    /// Strength c (0 for no steering and the expert).
    pub strength: f32,
    /// How the options were scored.
    pub scoring: Scoring,
    /// The question's split: `validation` or `test`.
    pub split: String,
    /// The question's id.
    pub question: String,
    /// Whether the chosen option is the right one.
    pub correct: bool,
    /// Index of the option the model scored highest.
    pub chosen: usize,
    /// Index of the right option.
    pub answer: usize,
}

impl Record {
    fn key(&self) -> (String, String, u32, Scoring, String) {
        (
            self.task.clone(),
            self.method.clone(),
            self.strength.to_bits(),
            self.scoring,
            self.question.clone(),
        )
    }
}

/// A letter-scored record for unit tests of the reports.
#[cfg(test)]
pub(crate) fn test_record(
    task: &str,
    method: &str,
    strength: f32,
    split: &str,
    q: usize,
    correct: bool,
) -> Record {
    Record {
        task: task.into(),
        method: method.into(),
        strength,
        scoring: Scoring::Letter,
        split: split.into(),
        question: format!("q{q}"),
        correct,
        chosen: 0,
        answer: 0,
    }
}

/// A steering file under a short label.
#[derive(Debug, Clone)]
pub struct LabelledSteer {
    /// Short name used in logs and tables.
    pub label: String,
    /// The steering file.
    pub file: SteerFile,
}

impl LabelledSteer {
    /// Reads `FILE` or `LABEL=FILE` (the label defaults to the file's stem).
    pub fn from_spec(spec: &str) -> Result<LabelledSteer> {
        let (label, path) = match spec.split_once('=') {
            Some((l, p)) => (l.to_string(), PathBuf::from(p)),
            None => {
                let p = PathBuf::from(spec);
                (
                    p.file_stem()
                        .map_or("steer".into(), |x| x.to_string_lossy().into_owned()),
                    p,
                )
            }
        };
        Ok(LabelledSteer {
            label,
            file: SteerFile::read(&path)?,
        })
    }
}

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalPlan {
    /// The task spec, recorded in every log line.
    pub task: String,
    /// Questions to score (validation and test).
    pub questions: Vec<McQuestion>,
    /// Steering files to evaluate, each at every strength.
    pub steers: Vec<LabelledSteer>,
    /// Strengths c > 0 applied to every file (0 = no steering is always run).
    pub strengths: Vec<f32>,
    /// Scorings to run on every question.
    pub scorings: Vec<Scoring>,
    /// Seed of the 60/20/20 question split (must match `data build`).
    pub split_seed: u64,
    /// CPU threads for llama.cpp.
    pub threads: i32,
    /// The append-only log.
    pub log: PathBuf,
}

/// The split of a question under the benchmark split.
pub fn question_split(q: &McQuestion, seed: u64) -> Part {
    split_of(&q.group, seed, SplitFractions::BENCHMARK)
}

/// Reads every record of a log (missing file = none).
pub fn read_log(path: &Path) -> Result<Vec<Record>> {
    crate::jsonl_log::read_jsonl_log(path)
}

fn context(model: &Model, threads: i32) -> Result<Context<'_>> {
    Ok(Context::new(
        model,
        ContextParams {
            n_ctx: 4096,
            n_batch: 1024,
            n_ubatch: 512,
            n_seq_max: 11,
            threads,
            hook: false,
        },
    )?)
}

/// Scores every (condition, question, scoring) not yet in the log, on
/// `model` (the target, or the expert for the `expert` ceiling when
/// `steers` is empty and `method` says so). `progress(done, total)`.
pub fn run_conditions(
    model: &Model,
    method_for_plain: &str,
    plan: &EvalPlan,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize> {
    let done: HashSet<_> = read_log(&plan.log)?.iter().map(Record::key).collect();
    let mut conditions: Vec<(String, f32, Option<&SteerFile>)> =
        vec![(method_for_plain.to_string(), 0.0, None)];
    for s in &plan.steers {
        model.check_steer_file(&s.file)?;
        for &c in &plan.strengths {
            if c != 0.0 {
                conditions.push((s.label.clone(), c, Some(&s.file)));
            }
        }
    }
    let total = conditions.len() * plan.questions.len() * plan.scorings.len();
    let mut log = crate::jsonl_log::LogWriter::open(&plan.log)?;
    let mut ctx = context(model, plan.threads)?;
    let mut n_done = 0;
    let mut n_new = 0;
    for (label, c, file) in &conditions {
        match file {
            Some(f) => {
                steer::apply(&mut ctx, &f.steering(Some(*c), Positions::All), None)?;
            }
            None => steer::clear(&mut ctx),
        }
        for q in &plan.questions {
            for &scoring in &plan.scorings {
                let key = (
                    plan.task.clone(),
                    label.clone(),
                    c.to_bits(),
                    scoring,
                    q.id.clone(),
                );
                n_done += 1;
                if done.contains(&key) {
                    continue;
                }
                let (prefix, options) = tokenize_question(model, q, scoring)?;
                let scores = score_options(&mut ctx, &prefix, &options)?;
                let chosen = argmax(&scores);
                let r = Record {
                    task: plan.task.clone(),
                    method: label.clone(),
                    strength: *c,
                    scoring,
                    split: format!("{:?}", question_split(q, plan.split_seed)).to_lowercase(),
                    question: q.id.clone(),
                    correct: chosen == q.correct,
                    chosen,
                    answer: q.correct,
                };
                log.append(&r)?;
                n_new += 1;
                if n_done % 4 == 0 || n_done == total {
                    progress(n_done, total);
                }
            }
        }
    }
    progress(total, total);
    steer::clear(&mut ctx);
    Ok(n_new)
}
