//! BIG-bench multiple-choice tasks from the `bigbench` registry package's
//! source archive (358 MB, downloaded once; only the task files asked for
//! are kept).

use super::{stable_hash, McQuestion};
use expertsteer::registry::cached_member;
use expertsteer::{Error, Result};
use std::path::PathBuf;

const PACKAGE: &str = "bigbench";
const VERSION: &str = "1.0.0";

/// The cached `task.json` of `task`, downloaded on first use.
pub(super) fn task_file(task: &str) -> Result<PathBuf> {
    if task.is_empty() || task.contains("..") || task.starts_with('/') {
        return Err(Error::Input(format!("bad BIG-bench task name '{task}'")));
    }
    cached_member(
        &expertsteer::cache::data_dir().join("bigbench"),
        &format!("{}.json", task.replace('/', "__")),
        PACKAGE,
        VERSION,
        &format!("benchmark_tasks/{task}/task.json"),
        &format!("358 MB, Apache-2.0, for task {task}"),
    )
    .map_err(|e| {
        Error::Input(format!(
            "BIG-bench task '{task}' (use e.g. logical_deduction/three_objects): {e}"
        ))
    })
}

/// The split key of one input of a task: every example with that input
/// (multiple-choice or generative) lands in the same split.
pub(super) fn task_group(task: &str, input: &str) -> String {
    format!("bb-{:016x}", stable_hash(&format!("{task}\n{input}")))
}

/// Multiple-choice questions of a BIG-bench task (`name` or
/// `name/subtask`), options sorted by text (serde_json object order).
pub fn load_bigbench(task: &str) -> Result<Vec<McQuestion>> {
    let path = task_file(task)?;
    let body = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    parse_task_json(&body, task).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

/// A `task.json` body as JSON.
pub(super) fn parse_body(body: &str) -> Result<serde_json::Value> {
    serde_json::from_str(body).map_err(|e| Error::Input(e.to_string()))
}

/// The `examples` array of a parsed `task.json`; none there usually means
/// the task is split into subtasks (`example` names some).
pub(super) fn task_examples<'a>(
    v: &'a serde_json::Value,
    task: &str,
    example: &str,
) -> Result<&'a Vec<serde_json::Value>> {
    v.get("examples")
        .and_then(|e| e.as_array())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            Error::Input(format!(
                "BIG-bench task '{task}' has no examples here; it may be split into subtasks: \
                 name one as {task}/SUBTASK (e.g. {example})"
            ))
        })
}

/// The multiple-choice examples of a BIG-bench `task.json` body: those with
/// exactly one option scored 1 (others are skipped).
pub fn parse_task_json(body: &str, task: &str) -> Result<Vec<McQuestion>> {
    let v = parse_body(body)?;
    let examples = task_examples(
        &v,
        task,
        "logical_deduction/three_objects, elementary_math_qa/question_only",
    )?;
    let mut passages: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for ex in examples {
        if let Some(input) = ex.get("input").and_then(|x| x.as_str()) {
            *passages.entry(input).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for ex in examples {
        let (Some(input), Some(scores)) = (
            ex.get("input").and_then(|x| x.as_str()),
            ex.get("target_scores").and_then(|x| x.as_object()),
        ) else {
            continue;
        };
        let options: Vec<String> = scores.keys().cloned().collect();
        let best: Vec<usize> = scores
            .values()
            .enumerate()
            .filter(|(_, s)| s.as_f64() == Some(1.0))
            .map(|(i, _)| i)
            .collect();
        if best.len() != 1 || options.len() < 2 {
            continue;
        }
        // One passage asked several times (different options) is one group
        // of distinct questions; a passage asked once keeps the plain id.
        let group = task_group(task, input);
        let id = if passages[input] > 1 {
            format!("{group}-{:016x}", stable_hash(&options.join("\n")))
        } else {
            group.clone()
        };
        out.push(McQuestion {
            id,
            group,
            source: "bigbench".into(),
            subject: task.to_string(),
            question: input.to_string(),
            options,
            correct: best[0],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_json_examples_become_questions() {
        let body = r#"{"examples": [
            {"input": "for i in range(3): print(i)", "target_scores": {"prints 0 to 2": 1, "prints 1 to 3": 0}},
            {"input": "two right answers", "target_scores": {"a": 1, "b": 1}},
            {"input": "no scores"}
        ]}"#;
        let qs = parse_task_json(body, "code_line_description").unwrap();
        assert_eq!(qs.len(), 1, "ambiguous and malformed examples are skipped");
        assert_eq!(qs[0].options[qs[0].correct], "prints 0 to 2");
        assert!(qs[0].id.starts_with("bb-"));
        assert_eq!(qs[0].id, qs[0].group);
        let e = parse_task_json(r#"{"examples": []}"#, "logical_deduction")
            .unwrap_err()
            .to_string();
        assert!(e.contains("subtasks"), "{e}");
    }

    #[test]
    fn one_passage_asked_twice_is_two_questions_in_one_group() {
        let body = r#"{"examples": [
            {"input": "A puzzle.", "target_scores": {"X is left.": 1, "Y is left.": 0}},
            {"input": "A puzzle.", "target_scores": {"X is right.": 0, "Y is right.": 1}}
        ]}"#;
        let qs = parse_task_json(body, "logical_deduction/two").unwrap();
        assert_eq!(qs.len(), 2);
        assert_ne!(qs[0].id, qs[1].id, "distinct questions need distinct ids");
        assert_eq!(qs[0].group, qs[1].group, "one passage, one split");
    }
}
