//! The behaviour check in generation: for each steering file × strength ×
//! open prompt, a greedy continuation (chat template) and its perplexity
//! under the *unsteered* target, appended to a resumable JSON Lines log.
//! What the text says (its sentiment, its topic) is scored outside, by an
//! established scorer (`scripts/score_behaviour.py`); this module only
//! produces the texts and the fluency number, the same for every method.

use super::fluency::perplexity;
use super::run::LabelledSteer;
use expertsteer::generate::{generate, prompt_tokens, GenerateParams};
use expertsteer::llama::{Model, Positions};
use expertsteer::steering::steer;
use expertsteer::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Method label of the unsteered continuation (strength 0), logged once
/// per prompt.
pub const UNSTEERED: &str = "none";

/// One continuation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BehaviourRow {
    /// Steering file label, or [`UNSTEERED`].
    pub method: String,
    /// Strength c (relative to each layer's mean norm; 0 = unsteered).
    pub strength: f32,
    /// The prompt's id.
    pub prompt_id: String,
    /// The prompt (user turn of the chat template).
    pub prompt: String,
    /// The greedy continuation.
    pub text: String,
    /// Its length in tokens.
    pub n_tokens: usize,
    /// Its perplexity under the unsteered target (NaN when empty).
    pub ppl: f64,
}

impl BehaviourRow {
    fn key(&self) -> (String, u32, String) {
        (
            self.method.clone(),
            self.strength.to_bits(),
            self.prompt_id.clone(),
        )
    }
}

/// An open prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    /// Stable id (the log's key).
    pub id: String,
    /// The user's message.
    pub text: String,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BehaviourPlan {
    /// Steering files, each at every strength c ≠ 0.
    pub steers: Vec<LabelledSteer>,
    /// Strengths; the unsteered continuation is always produced.
    pub strengths: Vec<f32>,
    /// The open prompts.
    pub prompts: Vec<Prompt>,
    /// New tokens per continuation (greedy; generation also stops at the
    /// end-of-turn token).
    pub max_tokens: usize,
    /// CPU threads for llama.cpp.
    pub threads: i32,
    /// The append-only log.
    pub log: PathBuf,
}

/// Every row of a log (missing file = none). A torn line (the run was
/// killed mid-write) is skipped with a warning and redone on resume.
pub fn read_behaviour_log(path: &Path) -> Result<Vec<BehaviourRow>> {
    crate::jsonl_log::read_jsonl_log(path)
}

/// Open prompts from a JSON Lines file: one object per line with `"text"`
/// (or `"prompt"`) and an optional `"id"` (default `line<N>`, 1-based).
/// Ids must be unique: they key the resumable log.
pub fn read_prompts(path: &Path) -> Result<Vec<Prompt>> {
    let body = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    let mut ids = HashSet::new();
    for (i, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |m: &str| Error::Input(format!("{}:{}: {m}", path.display(), i + 1));
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| at(&format!("not valid JSON: {e}")))?;
        let text = ["text", "prompt"]
            .iter()
            .find_map(|k| v.get(*k).and_then(|t| t.as_str()))
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| at("needs a non-empty \"text\" (or \"prompt\") string"))?;
        let id = match v.get("id") {
            None => format!("line{}", i + 1),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if !ids.insert(id.clone()) {
            return Err(at(&format!("prompt id '{id}' appears twice")));
        }
        out.push(Prompt {
            id,
            text: text.to_string(),
        });
    }
    if out.is_empty() {
        return Err(Error::Input(format!("{} holds no prompts", path.display())));
    }
    Ok(out)
}

/// The (label, strength) cells of a plan, unsteered first.
fn cells(plan: &BehaviourPlan) -> Vec<(String, f32, Option<&LabelledSteer>)> {
    let mut out = vec![(UNSTEERED.to_string(), 0.0, None)];
    for s in &plan.steers {
        for &c in &plan.strengths {
            if c != 0.0 {
                out.push((s.label.clone(), c, Some(s)));
            }
        }
    }
    out
}

/// Generates every (cell, prompt) not yet in the log and appends it;
/// returns the number of new rows. Files are checked against `model`
/// before anything runs. `progress(done, total)` counts continuations.
pub fn run_behaviour(
    model: &Model,
    plan: &BehaviourPlan,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize> {
    for s in &plan.steers {
        model.check_steer_file(&s.file)?;
    }
    let mut labels = HashSet::new();
    if let Some(s) = plan
        .steers
        .iter()
        .find(|s| !labels.insert(s.label.as_str()) || s.label == UNSTEERED)
    {
        return Err(Error::Input(format!(
            "steering label '{}' is used twice or is reserved",
            s.label
        )));
    }
    let done: HashSet<_> = read_behaviour_log(&plan.log)?
        .iter()
        .map(BehaviourRow::key)
        .collect();
    let cells = cells(plan);
    let total = cells.len() * plan.prompts.len();
    let mut log = crate::jsonl_log::LogWriter::open(&plan.log)?;
    let (mut gen_ctx, mut judge) = crate::fluency::generator_and_judge(model, plan.threads)?;
    let gp = GenerateParams {
        max_tokens: plan.max_tokens,
        ..Default::default()
    };
    let (mut n_done, mut n_new) = (0, 0);
    for (label, c, steer_file) in &cells {
        match steer_file {
            Some(s) => {
                steer::apply(
                    &mut gen_ctx,
                    &s.file.steering(Some(*c), Positions::All),
                    None,
                )?;
            }
            None => steer::clear(&mut gen_ctx),
        }
        for p in &plan.prompts {
            n_done += 1;
            if done.contains(&(label.clone(), c.to_bits(), p.id.clone())) {
                continue;
            }
            let toks = prompt_tokens(model, &p.text, true)?;
            let g = generate(&mut gen_ctx, &toks, &gp, &mut |_| {})?;
            let row = BehaviourRow {
                method: label.clone(),
                strength: *c,
                prompt_id: p.id.clone(),
                prompt: p.text.clone(),
                n_tokens: g.tokens.len(),
                ppl: perplexity(&mut judge, &toks, &g.tokens)?,
                text: g.text,
            };
            log.append(&row)?;
            n_new += 1;
            progress(n_done, total);
        }
    }
    progress(total, total);
    steer::clear(&mut gen_ctx);
    Ok(n_new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_skipped_and_the_rest_is_read() {
        let dir = std::env::temp_dir().join(format!("es-behaviour-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.jsonl");
        let row = BehaviourRow {
            method: "caa".into(),
            strength: 0.2,
            prompt_id: "p01".into(),
            prompt: "Tell me about your weekend.".into(),
            text: "It was lovely.".into(),
            n_tokens: 4,
            ppl: 2.5,
        };
        let line = serde_json::to_string(&row).unwrap();
        std::fs::write(&path, format!("{line}\n{}", &line[..line.len() / 2])).unwrap();
        let rows = read_behaviour_log(&path).unwrap();
        assert_eq!(rows, vec![row.clone()]);
        assert_eq!(
            rows[0].key(),
            ("caa".into(), 0.2f32.to_bits(), "p01".into())
        );
        assert!(read_behaviour_log(&dir.join("missing.jsonl"))
            .unwrap()
            .is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prompts_need_text_and_unique_ids() {
        let dir = std::env::temp_dir().join(format!("es-prompts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.jsonl");
        std::fs::write(
            &path,
            "{\"id\": \"a\", \"text\": \"Hi\"}\n\n{\"prompt\": \"Yo\"}\n",
        )
        .unwrap();
        let p = read_prompts(&path).unwrap();
        assert_eq!(
            p,
            vec![
                Prompt {
                    id: "a".into(),
                    text: "Hi".into()
                },
                Prompt {
                    id: "line3".into(),
                    text: "Yo".into()
                }
            ]
        );
        std::fs::write(
            &path,
            "{\"id\": 1, \"text\": \"a\"}\n{\"id\": 1, \"text\": \"b\"}\n",
        )
        .unwrap();
        let e = read_prompts(&path).unwrap_err().to_string();
        assert!(e.contains("p.jsonl:2") && e.contains("twice"), "{e}");
        std::fs::write(&path, "{\"id\": \"x\"}\n").unwrap();
        let e = read_prompts(&path).unwrap_err().to_string();
        assert!(e.contains("p.jsonl:1") && e.contains("text"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
