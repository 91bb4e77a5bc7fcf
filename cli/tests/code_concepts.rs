//! `expertsteer data build --source humaneval|pycode`: the labelled sets
//! code steering files are fitted on, built by the real binary from the
//! real packages, checked against the sandbox and the evaluation split.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::scratch;
use expertsteer_eval::code::humaneval::{load_humaneval, problem_split};
use expertsteer_eval::code::sandbox::{Sandbox, SandboxConfig};
use expertsteer_eval::data::{generic_texts, read_dataset, Part};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

fn build(args: &[&str], out: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(["data", "build"])
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "data build {args:?} failed: {err}");
    err
}

#[test]
fn correctness_pairs_are_verified_by_the_tests_and_stay_in_their_split() {
    let dir = scratch("code-concepts-correctness");
    let problems = load_humaneval().unwrap();
    let by_id: HashMap<&str, _> = problems.iter().map(|p| (p.task_id.as_str(), p)).collect();
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    for (split, part) in [("fit", Part::Fit), ("validation", Part::Validation)] {
        let out = dir.join(format!("{split}.jsonl"));
        build(
            &[
                "--source",
                "humaneval",
                "--label",
                "correctness",
                "--split",
                split,
                "--limit",
                "5",
            ],
            &out,
        );
        let items = read_dataset(&out).unwrap();
        assert!(items.len() >= 6, "{split}: only {} texts", items.len());
        let mut labels: HashMap<&str, Vec<u8>> = HashMap::new();
        for t in &items {
            let p = by_id[t.group.as_str()];
            assert_eq!(problem_split(p, 0), part, "{} is not in {split}", t.group);
            assert!(t.text.starts_with(&p.prompt));
            // The text is what the model reads; the program is the official
            // one around it. Label 1 must pass, label 0 must be rejected.
            let body = &t.text[p.prompt.len()..];
            let run = sandbox.run(&p.program(body)).unwrap();
            assert_eq!(
                run.outcome.passed(),
                t.label == 1,
                "{} label {}: {}",
                t.group,
                t.label,
                run.outcome.summary()
            );
            labels.entry(t.group.as_str()).or_default().push(t.label);
        }
        for (g, ls) in labels {
            let mut ls = ls.clone();
            ls.sort();
            assert_eq!(ls, vec![0, 1], "{g}: one correct and one mutant");
        }
    }
}

#[test]
fn domain_sets_balance_code_and_prose_outside_the_generic_texts() {
    let dir = scratch("code-concepts-domain");
    let generic: HashSet<String> = generic_texts(400).unwrap().into_iter().collect();
    let he = dir.join("he.jsonl");
    build(
        &[
            "--source",
            "humaneval",
            "--label",
            "domain",
            "--limit",
            "20",
        ],
        &he,
    );
    let py = dir.join("py.jsonl");
    let log = build(&["--source", "pycode", "--label", "domain"], &py);
    assert!(log.contains("more-itertools functions"), "{log}");
    let problems = load_humaneval().unwrap();
    let fit_ids: HashSet<&str> = problems
        .iter()
        .filter(|p| problem_split(p, 0) == Part::Fit)
        .map(|p| p.task_id.as_str())
        .collect();
    for (path, min_code) in [(&he, 20), (&py, 100)] {
        let items = read_dataset(path).unwrap();
        let code: Vec<_> = items.iter().filter(|t| t.label == 1).collect();
        let prose: Vec<_> = items.iter().filter(|t| t.label == 0).collect();
        assert!(
            code.len() >= min_code,
            "{}: {} code texts",
            path.display(),
            code.len()
        );
        assert_eq!(code.len(), prose.len());
        for t in &prose {
            assert!(t.text.starts_with("Question: ") && t.text.contains("\nAnswer: "));
            assert!(!generic.contains(&t.text), "prose text is a generic text");
        }
        let groups: HashSet<&str> = items.iter().map(|t| t.group.as_str()).collect();
        assert_eq!(groups.len(), items.len(), "one group per text");
        if path == &he {
            assert!(code.iter().all(|t| fit_ids.contains(t.group.as_str())));
        } else {
            assert!(code.iter().all(|t| t.text.starts_with("def ")));
            let with_doc = code.iter().filter(|t| t.text.contains("\"\"\"")).count();
            assert!(
                with_doc * 20 < code.len(),
                "{with_doc} texts kept a docstring"
            );
            let he_prompts: Vec<&str> = problems.iter().map(|p| p.prompt.as_str()).collect();
            assert!(code
                .iter()
                .all(|t| !he_prompts.iter().any(|p| t.text.contains(p.trim()))));
        }
    }
}

#[test]
fn code_sources_refuse_what_they_cannot_build() {
    let dir = scratch("code-concepts-refuse");
    for (args, want) in [
        (vec!["--source", "humaneval"], "needs --label"),
        (
            vec!["--source", "humaneval", "--label", "outcome"],
            "needs --log",
        ),
        (
            vec!["--source", "humaneval", "--label", "domain", "--log", "x"],
            "go with --label outcome",
        ),
        (
            vec!["--source", "pycode", "--label", "correctness"],
            "--label domain",
        ),
        (
            vec!["--source", "pycode", "--label", "domain", "--split", "test"],
            "no split",
        ),
        (
            vec![
                "--source",
                "mmlu",
                "--subjects",
                "anatomy",
                "--label",
                "domain",
            ],
            "are for --source humaneval",
        ),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
            .args(["data", "build"])
            .args(&args)
            .arg("--out")
            .arg(dir.join("x.jsonl"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!dir.join("x.jsonl").exists());
    }
}
