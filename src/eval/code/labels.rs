//! Labelled sets for code steering files (`expertsteer data build
//! --source humaneval|pycode --label ...`):
//!
//! - **correctness**: a problem's prompt + its canonical solution (label 1)
//!   against the same prompt + a one-site mutant of that solution that the
//!   official tests reject when run in the sandbox (label 0). Mutants that
//!   do not even compile, or that still pass, are not used.
//! - **domain**: code (label 1) against prose (label 0): MMLU questions with
//!   their correct answers from [`PROSE_SUBJECTS`], subjects that are
//!   neither evaluated nor among `fit`'s generic texts. Our reading of the
//!   paper's "expert knowledge" as a domain direction.
//!
//! Every text of one problem shares the problem's group, so the sets can be
//! split by problem exactly as `eval-code` splits them.

use super::humaneval::Problem;
use super::mutate::shuffled_mutants;
use super::sandbox::{Outcome, Sandbox};
use crate::data::{load_mmlu, LabelledText};
use crate::{Error, Result};

/// MMLU subjects the prose texts of the `domain` concept come from.
pub const PROSE_SUBJECTS: &[&str] = &[
    "miscellaneous",
    "jurisprudence",
    "moral_disputes",
    "management",
    "high_school_psychology",
    "security_studies",
];

/// What building the correctness set found, per problem.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CorrectnessReport {
    /// Problems with a verified wrong mutant (two texts each).
    pub paired: usize,
    /// Problems whose canonical solution failed in the sandbox (skipped;
    /// expected to be none).
    pub canonical_failed: Vec<String>,
    /// Problems where no tried mutant failed the tests cleanly.
    pub no_mutant: Vec<String>,
    /// Mutants run in the sandbox, canonical runs excluded.
    pub mutants_run: usize,
    /// Mutants that still passed the tests (equivalent or untested sites).
    pub mutants_passed: usize,
}

/// A mutant counts as wrong code when the tests reject it at run time:
/// an assertion or another exception, not a syntax error (text a model
/// would not write) and not a time-out (the sandbox's limit, not the code).
fn rejected_cleanly(o: &Outcome) -> bool {
    match o {
        Outcome::Failed { detail, .. } => {
            !detail.contains("SyntaxError") && !detail.contains("IndentationError")
        }
        _ => false,
    }
}

/// The correctness set over `problems`: for each, the canonical text and
/// the first of up to `max_tries` mutants (in an order fixed by `seed` and
/// the task id) that the sandbox shows to fail. `progress` is told each
/// problem's id and whether it got a pair.
pub fn correctness_set(
    problems: &[Problem],
    sandbox: &Sandbox,
    seed: u64,
    max_tries: usize,
    progress: &mut dyn FnMut(&str, bool),
) -> Result<(Vec<LabelledText>, CorrectnessReport)> {
    let mut items = Vec::new();
    let mut report = CorrectnessReport::default();
    for p in problems {
        let canonical = sandbox.run(&p.program(&p.canonical_solution))?;
        if !canonical.outcome.passed() {
            report.canonical_failed.push(p.task_id.clone());
            progress(&p.task_id, false);
            continue;
        }
        let key = seed ^ crate::data::stable_hash(&p.task_id);
        let mut wrong = None;
        for m in shuffled_mutants(&p.canonical_solution, key)
            .into_iter()
            .take(max_tries)
        {
            report.mutants_run += 1;
            let run = sandbox.run(&p.program(&m.text))?;
            if run.outcome.passed() {
                report.mutants_passed += 1;
            } else if rejected_cleanly(&run.outcome) {
                wrong = Some(m.text);
                break;
            }
        }
        match wrong {
            Some(w) => {
                items.push(LabelledText {
                    text: format!("{}{}", p.prompt, p.canonical_solution),
                    label: 1,
                    group: p.task_id.clone(),
                });
                items.push(LabelledText {
                    text: format!("{}{}", p.prompt, w),
                    label: 0,
                    group: p.task_id.clone(),
                });
                report.paired += 1;
                progress(&p.task_id, true);
            }
            None => {
                report.no_mutant.push(p.task_id.clone());
                progress(&p.task_id, false);
            }
        }
    }
    Ok((items, report))
}

/// Up to `n` prose texts (`Question: ...\nAnswer: ...`) from
/// [`PROSE_SUBJECTS`], each its own group.
pub fn prose_texts(n: usize) -> Result<Vec<LabelledText>> {
    let subjects: Vec<String> = PROSE_SUBJECTS.iter().map(|s| s.to_string()).collect();
    let qs = load_mmlu(&subjects)?;
    if qs.len() < n {
        return Err(Error::Input(format!(
            "only {} prose questions in {PROSE_SUBJECTS:?}, {n} asked",
            qs.len()
        )));
    }
    // Every k-th question, so all subjects contribute.
    let step = (qs.len() / n.max(1)).max(1);
    Ok(qs
        .iter()
        .step_by(step)
        .take(n)
        .map(|q| LabelledText {
            text: q.with_answer(q.correct),
            label: 0,
            group: q.id.clone(),
        })
        .collect())
}

/// The domain set: each code text (label 1, its own group) and as many
/// prose texts (label 0).
pub fn domain_set(code: Vec<(String, String)>) -> Result<Vec<LabelledText>> {
    if code.is_empty() {
        return Err(Error::Input("no code texts for the domain set".into()));
    }
    let prose = prose_texts(code.len())?;
    Ok(code
        .into_iter()
        .map(|(group, text)| LabelledText {
            text,
            label: 1,
            group,
        })
        .chain(prose)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_time_rejections_count_as_wrong_code() {
        let failed = |d: &str| Outcome::Failed {
            exit_code: Some(1),
            detail: d.into(),
        };
        assert!(rejected_cleanly(&failed("AssertionError")));
        assert!(rejected_cleanly(&failed(
            "IndexError: list index out of range"
        )));
        assert!(!rejected_cleanly(&failed("SyntaxError: invalid syntax")));
        assert!(!rejected_cleanly(&failed(
            "IndentationError: unexpected indent"
        )));
        assert!(!rejected_cleanly(&Outcome::TimedOut));
        assert!(!rejected_cleanly(&Outcome::CpuLimit));
        assert!(!rejected_cleanly(&Outcome::Passed));
    }
}
