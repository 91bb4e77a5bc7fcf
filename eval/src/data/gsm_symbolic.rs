//! Grade-school math word problems with numeric answers: GSM-Symbolic's
//! templates (GSM8K questions turned into generators by Apple's
//! GSM-Symbolic work) as shipped in the `reasoning-gym==0.1.25` wheel
//! (Apache-2.0). GSM8K itself is not to be had offline here; these are its
//! questions with fresh names and numbers, each with a worked solution.
//!
//! The wheel's generator files are downloaded once and run in a `python3`
//! subprocess by our own driver (`gsm_symbolic.py`), which loads them by
//! path, so none of the package's dependencies is needed. Every instance
//! of a template shares its split key (`gsm-T`): fit, validation and test
//! never see the same question with other numbers.

use super::gen_file::GenFileRow;
use expertsteer::registry::cached_member;
use expertsteer::{Error, Result};
use serde::Deserialize;
use std::path::PathBuf;
use std::process::Command;

const PACKAGE: &str = "reasoning-gym";
const VERSION: &str = "0.1.25";
const DIR: &str = "reasoning_gym/arithmetic/gsm_symbolic/";
/// The task name in logs and tables.
pub const TASK: &str = "gsm-symbolic";
const DRIVER: &str = include_str!("gsm_symbolic.py");

fn member_file(member: &str) -> Result<PathBuf> {
    let name = member.rsplit('/').next().unwrap_or(member);
    cached_member(
        &expertsteer::cache::data_dir().join("gsm-symbolic"),
        &format!("{PACKAGE}-{VERSION}-{name}"),
        PACKAGE,
        VERSION,
        member,
        &format!("Apache-2.0, for {member}"),
    )
    .map_err(|e| Error::Input(format!("{PACKAGE}=={VERSION} {member}: {e}")))
}

#[derive(Deserialize)]
struct DriverRow {
    template: u32,
    index: u32,
    question: String,
    answer: String,
    rationale: String,
}

/// `per_template` problems of every working template (85 of them), in
/// template order, as generative examples with their worked solutions.
/// The same `seed` gives the same problems.
pub fn load_gsm_symbolic(per_template: usize, seed: u64) -> Result<Vec<GenFileRow>> {
    if per_template == 0 {
        return Err(Error::Input("at least one problem per template".into()));
    }
    let files: Vec<PathBuf> = [
        "reasoning_gym/utils.py",
        &format!("{DIR}generators_00_49.py"),
        &format!("{DIR}generators_50_99.py"),
        &format!("{DIR}gsm_symbolic.py"),
    ]
    .iter()
    .map(|m| member_file(m))
    .collect::<Result<_>>()?;
    let out = Command::new("python3")
        .arg("-c")
        .arg(DRIVER)
        .args(&files)
        .arg(per_template.to_string())
        .arg(seed.to_string())
        .output()
        .map_err(|e| Error::Input(format!("could not start python3 ({e})")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(4).collect();
        return Err(Error::Input(format!(
            "the GSM-Symbolic generators failed: {}",
            tail.join(" | ")
        )));
    }
    let body = String::from_utf8_lossy(&out.stdout);
    let mut rows = Vec::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let d: DriverRow = serde_json::from_str(line)
            .map_err(|e| Error::Input(format!("GSM-Symbolic driver output: {e}")))?;
        rows.push(row_of(d));
    }
    if rows.is_empty() {
        return Err(Error::Input(
            "the GSM-Symbolic generators gave nothing".into(),
        ));
    }
    Ok(rows)
}

fn row_of(d: DriverRow) -> GenFileRow {
    GenFileRow {
        id: format!("gsm-{}-{}", d.template, d.index),
        group: format!("gsm-{}", d.template),
        task: TASK.into(),
        input: d.question.trim().to_string(),
        targets: vec![d.answer.trim().to_string()],
        rationale: Some(worked_solution(&d.rationale, &d.answer)),
    }
}

/// A GSM8K-style rationale as prose: its `#### N` line becomes
/// `The answer is N.`, so a worked solution ends the way a bare answer
/// (`The answer is N.`) does.
pub fn worked_solution(rationale: &str, answer: &str) -> String {
    let mut lines: Vec<String> = rationale
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("####"))
        .map(String::from)
        .collect();
    lines.push(bare_answer(answer));
    lines.join("\n")
}

/// The sentence both labelled texts end with.
pub fn bare_answer(answer: &str) -> String {
    format!("The answer is {}.", answer.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rationale_ends_like_the_bare_answer() {
        let w = worked_solution("First 3 * 4 = 12\nThen 12 + 1 = 13\n#### 13", "13");
        assert_eq!(w, "First 3 * 4 = 12\nThen 12 + 1 = 13\nThe answer is 13.");
        assert!(w.ends_with(&bare_answer("13")));
        let r = row_of(DriverRow {
            template: 7,
            index: 2,
            question: " How many? ".into(),
            answer: "13".into(),
            rationale: "#### 13".into(),
        });
        assert_eq!((r.id.as_str(), r.group.as_str()), ("gsm-7-2", "gsm-7"));
        assert_eq!(r.input, "How many?");
        assert_eq!(r.rationale.as_deref(), Some("The answer is 13."));
    }
}
