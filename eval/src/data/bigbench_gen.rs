//! BIG-bench *generative* examples (an `input` and its `target` text, scored
//! by exact match), from the same task files as the multiple-choice ones,
//! and the correct-vs-wrong labelled questions made from them for fitting:
//! the wrong answer is the correct number with one digit changed.

use super::bigbench::{parse_body, task_examples, task_file, task_group};
use super::{stable_hash, McQuestion};
use expertsteer::{Error, Result};

/// One generative example of a BIG-bench task.
#[derive(Debug, Clone, PartialEq)]
pub struct GenExample {
    /// Stable id: the group, or the group and a hash of the targets when
    /// one input is asked with different targets.
    pub id: String,
    /// The split key, `bb-` and a hash of task and input: the same key the
    /// multiple-choice loader gives the same input, so the generative and
    /// multiple-choice views of a task split alike.
    pub group: String,
    /// The task (`name` or `name/subtask`).
    pub task: String,
    /// The prompt text of the example.
    pub input: String,
    /// Every accepted answer (BIG-bench's `target`, a string or a list).
    pub targets: Vec<String>,
}

/// Generative examples of a BIG-bench task, in file order (downloading the
/// package on first use).
pub fn load_bigbench_generative(task: &str) -> Result<Vec<GenExample>> {
    let path = task_file(task)?;
    let body = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    parse_generative_task_json(&body, task)
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// The examples of a `task.json` body that have a non-empty `target`.
/// Exact repeats (same input, same targets) are kept once; an error if the
/// task has no generative example (a multiple-choice-only task).
pub fn parse_generative_task_json(body: &str, task: &str) -> Result<Vec<GenExample>> {
    let v = parse_body(body)?;
    let examples = task_examples(&v, task, "arithmetic/3_digit_addition")?;
    let mut seen = std::collections::HashSet::new();
    let mut parsed: Vec<(String, Vec<String>)> = Vec::new();
    for ex in examples {
        let Some(input) = ex.get("input").and_then(|x| x.as_str()) else {
            continue;
        };
        let targets: Vec<String> = match ex.get("target") {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|t| t.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        };
        let targets: Vec<String> = targets
            .into_iter()
            .filter(|t| !t.trim().is_empty())
            .collect();
        if targets.is_empty() || !seen.insert((input.to_string(), targets.clone())) {
            continue;
        }
        parsed.push((input.to_string(), targets));
    }
    if parsed.is_empty() {
        return Err(Error::Input(format!(
            "BIG-bench task '{task}' has no generative examples (no 'target'); \
             it is multiple choice only: use `eval` on it"
        )));
    }
    let mut per_input: std::collections::HashMap<&str, usize> = Default::default();
    for (input, _) in &parsed {
        *per_input.entry(input.as_str()).or_default() += 1;
    }
    Ok(parsed
        .iter()
        .map(|(input, targets)| {
            let group = task_group(task, input);
            let id = if per_input[input.as_str()] > 1 {
                format!("{group}-{:016x}", stable_hash(&targets.join("\n")))
            } else {
                group.clone()
            };
            GenExample {
                id,
                group,
                task: task.to_string(),
                input: input.clone(),
                targets: targets.clone(),
            }
        })
        .collect())
}

/// `answer` with one digit changed, chosen by `salt`: a plausible wrong
/// answer of the same length and sign (the leading digit never becomes 0).
/// `None` unless `answer` is an integer (optionally signed).
pub fn perturb_number(answer: &str, salt: u64) -> Option<String> {
    let a = answer.trim();
    let (sign, digits) = match a.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", a),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
    let pos = (salt % d.len() as u64) as usize;
    // 1..=9 added mod 10 always changes the digit; the first digit of a
    // number longer than one digit skips 0.
    let mut step = 1 + ((salt >> 16) % 9) as u8;
    if pos == 0 && d.len() > 1 && (d[0] + step).is_multiple_of(10) {
        step = if step == 9 { 1 } else { step + 1 };
    }
    d[pos] = (d[pos] + step) % 10;
    Some(format!(
        "{sign}{}",
        d.iter().map(|x| (b'0' + x) as char).collect::<String>()
    ))
}

impl GenExample {
    /// A two-option question for the labelled sets (`data build --source
    /// bigbench-exact`): the first target (correct) and that number with
    /// one digit changed (deterministic in `seed` and the id). `None` when
    /// the target is not an integer.
    pub fn to_mc_question(&self, seed: u64) -> Option<McQuestion> {
        let right = self.targets[0].trim().to_string();
        let wrong = perturb_number(&right, stable_hash(&format!("{seed}:{}", self.id)))?;
        Some(McQuestion {
            id: self.id.clone(),
            group: self.group.clone(),
            source: "bigbench".into(),
            subject: self.task.clone(),
            question: self.input.clone(),
            options: vec![right, wrong],
            correct: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"examples": [
        {"input": "What is 161 plus 390?", "target": "551", "target_scores": {"551": 1, "banana": 0}},
        {"input": "1 + 4 = ", "target": ["five", "5"]},
        {"input": "What is 161 plus 390?", "target": "551"},
        {"input": "multiple choice only", "target_scores": {"a": 1, "b": 0}},
        {"input": "empty", "target": " "}
    ]}"#;

    #[test]
    fn generative_examples_keep_every_target_and_skip_the_rest() {
        let ex = parse_generative_task_json(BODY, "arithmetic/3_digit_addition").unwrap();
        assert_eq!(ex.len(), 2, "{ex:?}");
        assert_eq!(ex[0].targets, vec!["551"]);
        assert_eq!(ex[1].targets, vec!["five", "5"]);
        assert_eq!(
            ex[0].id, ex[0].group,
            "a repeat is dropped, not a second id"
        );
        assert_ne!(ex[0].group, ex[1].group);
    }

    #[test]
    fn generative_and_multiple_choice_views_share_the_split_key() {
        let task = "arithmetic/3_digit_addition";
        let gen = parse_generative_task_json(BODY, task).unwrap();
        let mc = super::super::parse_task_json(BODY, task).unwrap();
        assert_eq!(gen[0].group, mc[0].group);
    }

    #[test]
    fn a_multiple_choice_only_task_is_a_clear_error() {
        let body = r#"{"examples": [{"input": "q", "target_scores": {"a": 1, "b": 0}}]}"#;
        let e = parse_generative_task_json(body, "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no generative examples"), "{e}");
    }

    #[test]
    fn perturbed_numbers_differ_keep_length_and_sign() {
        for salt in 0..500u64 {
            let s = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            for a in ["551", "-765", "7", "1000", "90"] {
                let w = perturb_number(a, s).unwrap();
                assert_ne!(w, a);
                assert_eq!(w.len(), a.len(), "{a} -> {w}");
                assert_eq!(w.starts_with('-'), a.starts_with('-'));
                let digits = w.trim_start_matches('-');
                assert!(digits.len() == 1 || !digits.starts_with('0'), "{a} -> {w}");
            }
        }
        assert_eq!(perturb_number("five", 3), None);
        assert_eq!(perturb_number("1.5", 3), None);
    }

    #[test]
    fn labelled_questions_pair_the_target_with_a_deterministic_wrong_number() {
        let ex = parse_generative_task_json(BODY, "arithmetic/3_digit_addition").unwrap();
        let q = ex[0].to_mc_question(0).unwrap();
        assert_eq!(q.options[q.correct], "551");
        assert_eq!(q, ex[0].to_mc_question(0).unwrap(), "deterministic");
        assert_eq!(q.group, ex[0].group);
        assert!(ex[1].to_mc_question(0).is_none(), "'five' is not a number");
    }
}
