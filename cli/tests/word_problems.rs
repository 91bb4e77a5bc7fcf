//! `expertsteer data build --source gsm-symbolic`: GSM-Symbolic word
//! problems from the real reasoning-gym wheel, run by our driver; split by
//! template, every answer the final number of its own worked solution, and
//! the steps set's two texts per problem ending alike.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::scratch;
use expertsteer_eval::data::{read_dataset, read_gen_file, split_of, Part, SplitFractions};
use expertsteer_eval::exact::prompt::number_match;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

fn build(args: &[&str], out: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_expertsteer"))
        .args(["data", "build", "--source", "gsm-symbolic"])
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
fn word_problems_split_by_template_and_answer_their_own_solutions() {
    let dir = scratch("word-problems");
    let file = dir.join("gsm.jsonl");
    let log = build(&["--per-template", "3"], &file);
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
    build(&["--per-template", "3"], &dir.join("again.jsonl"));
    assert_eq!(read_gen_file(&dir.join("again.jsonl")).unwrap(), rows);

    let steps = dir.join("steps.jsonl");
    let log = build(
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
