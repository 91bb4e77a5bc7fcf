//! A small evaluation end to end on the real SmolLM2: fit a CAA file on the
//! fit split, score validation and test questions with and without it,
//! resume from the log, and build the report.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use expertsteer::fit::{run_fit, FitConfig};
use expertsteer::steerfile::Method;
use expertsteer_eval::data::{load_mmlu, mmlu_subject_group, Part};
use expertsteer_eval::report::{markdown, select};
use expertsteer_eval::run::{question_split, read_log, run_conditions, EvalPlan, LabelledSteer};
use expertsteer_eval::score::Scoring;
use std::collections::HashSet;

#[test]
fn fixed_splits_never_share_a_question() {
    let subjects: Vec<String> = mmlu_subject_group("computer_science")
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let qs = load_mmlu(&subjects).unwrap();
    assert_eq!(qs.len(), 412, "MMLU computer science (FACTS.md)");
    let mut by_part: Vec<HashSet<&str>> = vec![HashSet::new(); 3];
    for q in &qs {
        // The split eval and `data build` use; a group (shared passage)
        // must never straddle two splits.
        by_part[question_split(q, 0) as usize].insert(q.group.as_str());
        assert!(q.correct < q.options.len());
    }
    for a in 0..3 {
        for b in a + 1..3 {
            assert!(by_part[a].is_disjoint(&by_part[b]));
        }
    }
    let sizes: Vec<usize> = by_part.iter().map(|s| s.len()).collect();
    assert!(
        sizes[0] > 200 && sizes[1] > 50 && sizes[2] > 50,
        "{sizes:?}"
    );
}

#[test]
fn small_eval_runs_resumes_and_reports() {
    let target = smollm2_path();
    let subjects: Vec<String> = mmlu_subject_group("computer_science")
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let qs = load_mmlu(&subjects).unwrap();
    let fit_data: Vec<_> = qs
        .iter()
        .filter(|q| question_split(q, 0) == Part::Fit)
        .take(16)
        .flat_map(|q| q.to_labelled())
        .collect();
    let dir = scratch("eval-e2e");
    let mut cfg = FitConfig {
        method: Method::Caa,
        target_layers: Some(vec![8, 16]),
        ..Default::default()
    };
    cfg.capture.threads = 1;
    cfg.capture.cache_root = dir.join("captures");
    let caa = run_fit(None, &target, &fit_data, &cfg, &mut |_, _, _| {})
        .unwrap()
        .file;

    let mut questions: Vec<_> = qs
        .iter()
        .filter(|q| question_split(q, 0) == Part::Validation)
        .take(3)
        .cloned()
        .collect();
    questions.extend(
        qs.iter()
            .filter(|q| question_split(q, 0) == Part::Test)
            .take(3)
            .cloned(),
    );
    let fit_ids: HashSet<&str> = fit_data.iter().map(|t| t.group.as_str()).collect();
    assert!(
        questions.iter().all(|q| !fit_ids.contains(q.id.as_str())),
        "fit and eval share a question"
    );
    let plan = EvalPlan {
        task: "mmlu:computer_science".into(),
        questions,
        steers: vec![LabelledSteer {
            label: "caa".into(),
            file: caa,
        }],
        strengths: vec![0.0, 1.0],
        scorings: vec![Scoring::Letter, Scoring::FullText],
        split_seed: 0,
        threads: 1,
        log: dir.join("log.jsonl"),
    };
    let model = smollm2();
    let new = run_conditions(&model, "none", &plan, &mut |_, _| {}).unwrap();
    assert_eq!(
        new,
        2 * 6 * 2,
        "(none + caa@1.0) x 6 questions x 2 scorings"
    );
    assert_eq!(
        run_conditions(&model, "none", &plan, &mut |_, _| {}).unwrap(),
        0,
        "resume redoes nothing"
    );
    let records = read_log(&plan.log).unwrap();
    assert_eq!(records.len(), 24);
    assert!(records
        .iter()
        .all(|r| r.split == "validation" || r.split == "test"));
    let steered: Vec<_> = records
        .iter()
        .filter(|r| r.method == "caa")
        .map(|r| r.chosen)
        .collect();
    let plain: Vec<_> = records
        .iter()
        .filter(|r| r.method == "none")
        .map(|r| r.chosen)
        .collect();
    assert_eq!(steered.len(), plain.len());
    let sel = select(&records);
    assert_eq!(sel.len(), 2, "one row per scoring");
    let md = markdown(&records);
    assert!(
        md.contains("none (unsteered target)") && md.contains("| caa | 1 |"),
        "{md}"
    );
}
