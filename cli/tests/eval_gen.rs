//! `expertsteer eval gen` end to end on SmolLM2: a tiny generative task
//! file in a scratch cache (so nothing is downloaded), unsteered and under
//! a random steering file; the log, the table, a rerun that adds nothing,
//! and bad input refused with a clear message. Then the task files `data
//! build` writes (two-digit multiplication, GSM-Symbolic word problems)
//! with free answers and a prompt cue.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::*;
use expertsteer_eval::data::{read_dataset, read_gen_file, split_of, Part, SplitFractions};
use expertsteer_eval::exact::prompt::number_match;
use expertsteer_eval::exact::run::{read_gen_log, GenRecord};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch cache holding `tiny/add` (60 one-digit additions) and
/// `tiny/choice` (multiple choice only).
fn tiny_cache(dir: &Path) -> PathBuf {
    let cache = dir.join("cache");
    let bb = cache.join("data").join("bigbench");
    std::fs::create_dir_all(&bb).unwrap();
    let examples: Vec<String> = (0..60)
        .map(|i| {
            let (a, b) = (i % 10, (i / 10 + 3 * i) % 10);
            format!(
                r#"{{"input": "What is {a} plus {b}? ({i})", "target": "{}"}}"#,
                a + b
            )
        })
        .collect();
    std::fs::write(
        bb.join("tiny__add.json"),
        format!(r#"{{"examples": [{}]}}"#, examples.join(",\n")),
    )
    .unwrap();
    std::fs::write(
        bb.join("tiny__choice.json"),
        r#"{"examples": [{"input": "q", "target_scores": {"a": 1, "b": 0}}]}"#,
    )
    .unwrap();
    cache
}

fn eval_gen(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(["eval", "gen"])
        .args(args)
        .env("EXPERTSTEER_CACHE", cache)
        .output()
        .expect("run expertsteer")
}

#[test]
fn eval_gen_logs_each_question_and_condition_and_a_rerun_adds_nothing() {
    let dir = scratch("eval-gen");
    let cache = tiny_cache(&dir);
    let model = smollm2_path();
    let steer = dir.join("random.steer");
    random_steer_file(&smollm2(), 11, 0.5, &steer);
    let log = dir.join("log.jsonl");
    let _ = std::fs::remove_file(&log);
    let steer_arg = format!("rand={}", steer.display());
    let args = [
        "--task",
        "tiny/add",
        "--model",
        model.to_str().unwrap(),
        "--threads",
        "1",
        "--split",
        "validation",
        "--limit",
        "4",
        "--max-tokens",
        "4",
        "--steer",
        &steer_arg,
        "--strengths",
        "0,0.5",
        "--positions",
        "generated",
        "--log",
        log.to_str().unwrap(),
    ];
    let o = eval_gen(&cache, &args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("data: 4 of 60 examples") && err.contains("3 shots"),
        "{err}"
    );
    let records: Vec<GenRecord> = read_gen_log(&log).unwrap();
    assert_eq!(records.len(), 8, "4 questions x (none, c = 0.5)");
    for r in &records {
        assert_eq!(r.split, "validation");
        assert!(r.n_tokens <= 4 && !r.answer.contains('\n'), "{r:?}");
        let expect = if r.steering == "none" {
            (0.0, "all")
        } else {
            (0.5, "generated")
        };
        assert_eq!((r.strength, r.positions.as_str()), expect, "{r:?}");
    }
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(table.contains("| none | 0 | all | 4 |"), "{table}");
    assert!(table.contains("| rand | 0.5 | generated | 4 |"), "{table}");

    let again = eval_gen(&cache, &args);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success(), "{err}");
    assert!(err.contains("nothing new to run"), "{err}");
    assert_eq!(read_gen_log(&log).unwrap().len(), 8, "a rerun adds nothing");
    let mut report = args.to_vec();
    report.push("--report-only");
    let o = eval_gen(&cache, &report);
    assert_eq!(String::from_utf8_lossy(&o.stdout), table);
}

#[test]
fn eval_gen_refuses_bad_input_with_a_clear_message() {
    let dir = scratch("eval-gen-bad");
    let cache = tiny_cache(&dir);
    let model = smollm2_path();
    let log = dir.join("log.jsonl");
    let run = |extra: &[&str]| -> String {
        let mut args = vec![
            "--model",
            model.to_str().unwrap(),
            "--threads",
            "1",
            "--log",
            log.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = eval_gen(&cache, &args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!o.status.success(), "{extra:?} succeeded: {err}");
        assert!(!err.contains("panicked"), "{extra:?} panicked: {err}");
        err
    };
    let e = run(&["--task", "tiny/add", "--split", "training"]);
    assert!(e.contains("split 'training'"), "{e}");
    let e = run(&["--task", "tiny/add", "--strengths", "NaN"]);
    assert!(e.contains("not a number"), "{e}");
    let e = run(&["--task", "../add"]);
    assert!(e.contains("bad BIG-bench task name"), "{e}");
    let e = run(&["--task", "tiny/choice"]);
    assert!(e.contains("no generative examples"), "{e}");
    let e = run(&["--task", "tiny/add", "--ctx", "32", "--shots", "8"]);
    assert!(e.contains("exceed the context"), "{e}");
    assert!(!log.exists(), "nothing was logged");
}

fn data_build(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(["data", "build"])
        .args(args)
        .env("EXPERTSTEER_CACHE", cache)
        .output()
        .expect("run expertsteer")
}

#[test]
fn a_task_file_runs_with_free_answers_and_a_prompt_cue() {
    let dir = scratch("eval-gen-file");
    let cache = dir.join("cache");
    let task = dir.join("mul.jsonl");
    let o = data_build(
        &cache,
        &[
            "--source",
            "multiplication",
            "--limit",
            "200",
            "--out",
            task.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("200 examples"), "{err}");
    // Right-vs-wrong pairs of the file's fit questions.
    let pairs = dir.join("pairs.jsonl");
    let o = data_build(
        &cache,
        &[
            "--source",
            "bigbench-exact",
            "--tasks",
            task.to_str().unwrap(),
            "--limit",
            "10",
            "--out",
            pairs.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let items = read_dataset(&pairs).unwrap();
    assert_eq!(items.len(), 20);
    assert_eq!(items.iter().filter(|i| i.label == 1).count(), 10);

    let model = smollm2_path();
    let log = dir.join("log.jsonl");
    let _ = std::fs::remove_file(&log);
    let args = [
        "--task",
        task.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--threads",
        "1",
        "--shots",
        "0",
        "--answer",
        "number",
        "--cue",
        "Let's think step by step.",
        "--split",
        "test",
        "--limit",
        "3",
        "--max-tokens",
        "12",
        "--log",
        log.to_str().unwrap(),
    ];
    let o = eval_gen(&cache, &args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let records = read_gen_log(&log).unwrap();
    assert_eq!(records.len(), 6, "3 questions x (none, none + cue)");
    let cued = records.iter().filter(|r| !r.cue.is_empty()).count();
    assert_eq!(cued, 3);
    for r in &records {
        assert_eq!(r.mode.name(), "number");
        assert!(r.n_tokens <= 12 && !r.answer.contains("\nQ:"), "{r:?}");
        assert_eq!(r.correct, number_match(&r.answer, &r.targets), "{r:?}");
    }
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(table.contains("final-number match"), "{table}");
    assert!(table.contains("| none + cue | 0 | all | 3 |"), "{table}");
    assert!(table.contains("mean tokens | worked |"), "{table}");
    // The same questions as line answers are another plan: nothing reused.
    let mut line = args.to_vec();
    line[9] = "line";
    let o = eval_gen(&cache, &line);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(read_gen_log(&log).unwrap().len(), 12);
    let again = eval_gen(&cache, &args);
    assert!(String::from_utf8_lossy(&again.stderr).contains("nothing new to run"));
}

#[test]
fn generated_task_sources_refuse_what_they_do_not_take() {
    let dir = scratch("eval-gen-sources");
    let cache = dir.join("cache");
    let out = dir.join("x.jsonl");
    for (args, why) in [
        (
            vec!["--source", "multiplication", "--label", "steps"],
            "for right-vs-wrong pairs",
        ),
        (
            vec!["--source", "multiplication", "--subjects", "math"],
            "take --limit",
        ),
        (
            vec!["--source", "humaneval", "--label", "steps"],
            "for --source gsm-symbolic",
        ),
    ] {
        let mut a = args.clone();
        a.extend(["--out", out.to_str().unwrap()]);
        let o = data_build(&cache, &a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(why), "{args:?}: {err}");
        assert!(!out.exists());
    }
}

/// `data build --source gsm-symbolic ARGS --out OUT` (real download, the
/// default cache), which must succeed; its stderr.
fn build_gsm(args: &[&str], out: &Path) -> String {
    let mut a = vec!["--source", "gsm-symbolic"];
    a.extend_from_slice(args);
    a.extend(["--out", out.to_str().unwrap()]);
    let o = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(["data", "build"])
        .args(&a)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "data build {a:?} failed: {err}");
    err
}

/// GSM-Symbolic word problems from the real reasoning-gym wheel, run by
/// our driver: split by template, every answer the final number of its own
/// worked solution, and the steps set's two texts per problem ending alike.
#[test]
fn word_problems_split_by_template_and_answer_their_own_solutions() {
    let dir = scratch("word-problems");
    let file = dir.join("gsm.jsonl");
    let log = build_gsm(&["--per-template", "3"], &file);
    assert!(log.contains("255 examples"), "85 templates x 3: {log}");
    let rows = read_gen_file(&file).unwrap();
    let mut part_of: HashMap<&str, Part> = HashMap::new();
    let mut questions = HashSet::new();
    for r in &rows {
        let p = split_of(&r.group, 0, SplitFractions::BENCHMARK);
        assert_eq!(*part_of.entry(r.group.as_str()).or_insert(p), p);
        assert!(questions.insert(r.input.as_str()), "repeated: {}", r.input);
        let worked = r.rationale.as_deref().unwrap();
        assert!(
            worked.ends_with(&format!("The answer is {}.", r.targets[0])),
            "{worked}"
        );
        assert!(number_match(worked, &r.targets), "{}: {worked}", r.id);
        assert!(worked.lines().count() >= 2, "{}: {worked}", r.id);
    }
    for p in [Part::Fit, Part::Validation, Part::Test] {
        assert!(part_of.values().any(|&x| x == p), "no template in {p:?}");
    }
    // Same seed, same problems; the split comes from the template alone.
    build_gsm(&["--per-template", "3"], &dir.join("again.jsonl"));
    assert_eq!(read_gen_file(&dir.join("again.jsonl")).unwrap(), rows);

    let steps = dir.join("steps.jsonl");
    let log = build_gsm(
        &["--per-template", "3", "--label", "steps", "--limit", "40"],
        &steps,
    );
    assert!(log.contains("40 problems"), "{log}");
    let items = read_dataset(&steps).unwrap();
    assert_eq!(items.len(), 80);
    let templates: HashSet<&str> = items.iter().map(|t| t.group.as_str()).collect();
    assert!(
        templates.len() >= 13,
        "round robin over templates: {templates:?}"
    );
    for pair in items.chunks(2) {
        let (worked, bare) = (&pair[0], &pair[1]);
        assert_eq!((worked.label, bare.label), (1, 0));
        assert_eq!(part_of[worked.group.as_str()], Part::Fit);
        let end = bare.text.rsplit("\nA: ").next().unwrap();
        assert!(end.starts_with("The answer is "), "{}", bare.text);
        assert!(worked.text.ends_with(end) && worked.text.len() > bare.text.len() + 40);
        assert_eq!(
            worked.text.split("\nA: ").next(),
            bare.text.split("\nA: ").next()
        );
    }
}
