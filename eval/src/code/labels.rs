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
//! - **outcome**: the target's *own* completions, logged by `eval code`,
//!   prompt + completion labelled by whether the official tests passed.
//!   Correctness on the mistakes the target really makes, where
//!   `correctness` uses one-token mutants of reference solutions; the
//!   expert reads these programs, and its probe marks the ones that work.
//!
//! Every text of one problem shares the problem's group, so the sets can be
//! split by problem exactly as `eval code` splits them.

use super::humaneval::Problem;
use super::mutate::shuffled_mutants;
use super::run::CodeRecord;
use super::sandbox::{Outcome, Sandbox};
use crate::data::{load_mmlu, LabelledText};
use expertsteer::{Error, Result};

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

/// The outcome set: for every record of `log` on one of `problems` (and of
/// `model`, when given), the problem's prompt + the logged completion,
/// labelled 1 if it passed. A text logged more than once (steering that
/// did not change the completion) is kept once; one logged with both
/// verdicts is dropped. Both labels must occur.
pub fn outcome_set(
    problems: &[Problem],
    log: &[CodeRecord],
    model: Option<&str>,
) -> Result<Vec<LabelledText>> {
    let prompts: std::collections::HashMap<&str, &str> = problems
        .iter()
        .map(|p| (p.task_id.as_str(), p.prompt.as_str()))
        .collect();
    // text -> (label, or None once it was logged with both verdicts; group)
    let mut seen: std::collections::HashMap<String, (Option<u8>, String)> = Default::default();
    let mut order = Vec::new();
    for r in log {
        let Some(prompt) = prompts.get(r.problem.as_str()) else {
            continue;
        };
        if model.is_some_and(|m| m != r.model) {
            continue;
        }
        let text = format!("{prompt}{}", r.completion);
        let label = u8::from(r.passed);
        match seen.get_mut(&text) {
            Some(held) if held.0 != Some(label) => held.0 = None,
            Some(_) => {}
            None => {
                seen.insert(text.clone(), (Some(label), r.problem.clone()));
                order.push(text);
            }
        }
    }
    let items: Vec<LabelledText> = order
        .into_iter()
        .filter_map(|text| {
            let (label, group) = seen.remove(&text)?;
            Some(LabelledText {
                text,
                label: label?,
                group,
            })
        })
        .collect();
    let passed = items.iter().filter(|t| t.label == 1).count();
    if passed == 0 || passed == items.len() {
        return Err(Error::Input(format!(
            "the outcome set needs passing and failing completions: the log has {} \
             usable completions on these problems, {passed} passing",
            items.len()
        )));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::humaneval::PromptFormat;

    fn problem(id: &str) -> Problem {
        Problem {
            task_id: id.into(),
            prompt: format!("def f_{}():\n", id.len()),
            canonical_solution: "    return 1\n".into(),
            test: String::new(),
            entry_point: "f".into(),
        }
    }

    fn record(problem: &str, model: &str, completion: &str, passed: bool) -> CodeRecord {
        CodeRecord {
            problem: problem.into(),
            split: "fit".into(),
            model: model.into(),
            steering: "none".into(),
            strength: 0.0,
            positions: "all".into(),
            prompt_format: PromptFormat::Plain,
            max_tokens: 512,
            passed,
            outcome: if passed {
                Outcome::Passed
            } else {
                Outcome::TimedOut
            },
            completion: completion.into(),
            n_tokens: 1,
            stopped: true,
            gen_secs: 0.0,
            exec_secs: 0.0,
        }
    }

    #[test]
    fn outcome_texts_are_the_logged_programs_once_each_within_the_problems() {
        let problems = [problem("A/1"), problem("A/22")];
        let log = [
            record("A/1", "m", "    return 1", true),
            record("A/1", "m", "    return 1", true), // unchanged by steering: once
            record("A/1", "m", "    return 2", false),
            record("A/22", "m", "    return 3", false),
            record("A/22", "m", "    return 4", true),
            record("A/22", "m", "    return 4", false), // both verdicts: dropped
            record("B/5", "m", "    return 5", true),   // not among the problems
            record("A/1", "other", "    return 6", true), // another model
        ];
        let items = outcome_set(&problems, &log, Some("m")).unwrap();
        let got: Vec<(&str, u8, &str)> = items
            .iter()
            .map(|t| (t.text.as_str(), t.label, t.group.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("def f_3():\n    return 1", 1, "A/1"),
                ("def f_3():\n    return 2", 0, "A/1"),
                ("def f_4():\n    return 3", 0, "A/22"),
            ]
        );
        assert_eq!(outcome_set(&problems, &log, None).unwrap().len(), 4);
        let all_fail = [record("A/1", "m", "    return 2", false)];
        assert!(outcome_set(&problems, &all_fail, None).is_err());
    }

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
