//! Pooling several evaluation logs into the two numbers the defaults are
//! chosen from: each method's *validation* accuracy at each strength
//! against no steering on the same questions, and each expert's lead over
//! its target. The pooled table reads validation records only, so nothing
//! chosen from it has seen the test split; [`selected_markdown`] then
//! reports test accuracy at the strengths validation chose.

use super::report::{select, Selected};
use super::run::Record;
use super::score::Scoring;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

/// One method at one strength, summed over runs, tasks and scorings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pooled {
    /// Question-scorings that have both this method's and no steering's answer.
    pub n: usize,
    /// This method's correct answers among them.
    pub correct: usize,
    /// No steering's correct answers on the same question-scorings.
    pub none_correct: usize,
}

impl Pooled {
    /// This method's accuracy as a fraction (0..1).
    pub fn acc(&self) -> f64 {
        self.correct as f64 / self.n.max(1) as f64
    }
    /// Accuracy minus no steering's, on the same question-scorings.
    pub fn delta(&self) -> f64 {
        (self.correct as f64 - self.none_correct as f64) / self.n.max(1) as f64
    }
}

/// The records of questions that every condition (method and strength) of
/// their task and scoring has scored. A log can hold extra questions (an
/// earlier run with a larger `--limit`) or a run still in progress; pooling
/// those would compare methods on different questions.
pub fn complete_questions(records: &[Record]) -> Vec<Record> {
    let mut conditions: HashMap<(&str, Scoring), BTreeSet<(&str, u32)>> = HashMap::new();
    let mut seen: HashMap<Question, BTreeSet<(&str, u32)>> = HashMap::new();
    for r in records {
        let c = (r.method.as_str(), r.strength.to_bits());
        conditions
            .entry((r.task.as_str(), r.scoring))
            .or_default()
            .insert(c);
        seen.entry((r.task.as_str(), r.scoring, r.question.as_str()))
            .or_default()
            .insert(c);
    }
    records
        .iter()
        .filter(|r| {
            seen[&(r.task.as_str(), r.scoring, r.question.as_str())].len()
                == conditions[&(r.task.as_str(), r.scoring)].len()
        })
        .cloned()
        .collect()
}

/// (method, split) → (correct answers, answers).
type RightOfTotal<'a> = HashMap<(&'a str, &'a str), (usize, usize)>;

/// A markdown table's header row and separator.
fn table_header(columns: &[&str]) -> String {
    format!(
        "| {} |\n|{}\n",
        columns.join(" | "),
        "---|".repeat(columns.len())
    )
}

type Question<'a> = (&'a str, Scoring, &'a str); // task, scoring, question

/// Validation accuracy per (method, strength bits), pooled over `runs`
/// (one record list per evaluation log). A record only counts where the
/// same run scored the same question unsteered, so a method that was run
/// on fewer tasks is compared with no steering on those tasks only.
pub fn pool_validation<'a>(
    runs: impl IntoIterator<Item = &'a [Record]>,
) -> BTreeMap<(String, u32), Pooled> {
    let mut out: BTreeMap<(String, u32), Pooled> = BTreeMap::new();
    for records in runs {
        let none: HashMap<Question, bool> = records
            .iter()
            .filter(|r| r.method == "none" && r.split == "validation")
            .map(|r| ((r.task.as_str(), r.scoring, r.question.as_str()), r.correct))
            .collect();
        for r in records
            .iter()
            .filter(|r| r.split == "validation" && r.method != "none" && r.method != "expert")
        {
            let Some(&base) = none.get(&(r.task.as_str(), r.scoring, r.question.as_str())) else {
                continue;
            };
            let p = out
                .entry((r.method.clone(), r.strength.to_bits()))
                .or_default();
            p.n += 1;
            p.correct += usize::from(r.correct);
            p.none_correct += usize::from(base);
        }
    }
    out
}

/// Markdown: one row per method, one column per strength, each cell the
/// pooled validation accuracy with its difference from no steering.
pub fn pooled_markdown(pooled: &BTreeMap<(String, u32), Pooled>) -> String {
    let strengths: BTreeSet<u32> = pooled.keys().map(|k| k.1).collect();
    let mut strengths: Vec<f32> = strengths.into_iter().map(f32::from_bits).collect();
    strengths.sort_by(f32::total_cmp);
    let methods: BTreeSet<&str> = pooled.keys().map(|k| k.0.as_str()).collect();
    let labels: Vec<String> = strengths.iter().map(|c| format!("c = {c}")).collect();
    let mut columns = vec!["method", "n"];
    columns.extend(labels.iter().map(String::as_str));
    let mut s = table_header(&columns);
    for m in methods {
        let n = pooled
            .iter()
            .filter(|(k, _)| k.0 == m)
            .map(|(_, p)| p.n)
            .max()
            .unwrap_or(0);
        let _ = write!(s, "| {m} | {n} |");
        for c in &strengths {
            match pooled.get(&(m.to_string(), c.to_bits())) {
                Some(p) => {
                    let _ = write!(s, " {:.1} ({:+.1}) |", 100.0 * p.acc(), 100.0 * p.delta());
                }
                None => s.push_str(" |"),
            }
        }
        s.push('\n');
    }
    s
}

/// Markdown: per run, task and scoring, the expert's and the unsteered
/// target's accuracy on both splits and the expert's lead.
pub fn expert_lead_markdown(runs: &[(String, Vec<Record>)]) -> String {
    let mut s = table_header(&[
        "run",
        "task",
        "scoring",
        "expert val %",
        "target val %",
        "expert test %",
        "target test %",
        "lead (val + test)",
    ]);
    for (name, records) in runs {
        // (task, scoring) → (method, split) → (correct, n), in one pass.
        let mut counts: BTreeMap<(&str, Scoring), RightOfTotal> = BTreeMap::new();
        for r in records
            .iter()
            .filter(|r| r.method == "expert" || r.method == "none")
        {
            let c = counts
                .entry((r.task.as_str(), r.scoring))
                .or_default()
                .entry((r.method.as_str(), r.split.as_str()))
                .or_default();
            c.0 += usize::from(r.correct);
            c.1 += 1;
        }
        for ((task, scoring), c) in counts {
            if !c.keys().any(|k| k.0 == "expert") {
                continue;
            }
            let pct = |(right, n): (usize, usize)| (n > 0).then(|| 100.0 * right as f64 / n as f64);
            let get = |m: &str, split: &str| c.get(&(m, split)).copied().unwrap_or_default();
            let both = |m: &str| {
                let (v, t) = (get(m, "validation"), get(m, "test"));
                (v.0 + t.0, v.1 + t.1)
            };
            let show = |x: Option<f64>| x.map_or("-".into(), |v| format!("{v:.1}"));
            // The lead over both splits together, weighted by questions.
            let lead = match (pct(both("expert")), pct(both("none"))) {
                (Some(e), Some(t)) => format!("{:+.1}", e - t),
                _ => "-".into(),
            };
            let _ = writeln!(
                s,
                "| {name} | {task} | {scoring:?} | {} | {} | {} | {} | {lead} |",
                show(pct(get("expert", "validation"))),
                show(pct(get("none", "validation"))),
                show(pct(get("expert", "test"))),
                show(pct(get("none", "test")))
            );
        }
    }
    s
}

/// Markdown: per run, task and scoring, each method's change in *test*
/// accuracy against no steering at the strength validation chose (see
/// [`select`]), with that strength and the Holm-corrected McNemar p-value.
pub fn selected_markdown(runs: &[(String, Vec<Record>)]) -> String {
    let selected: Vec<(&str, Vec<Selected>)> = runs
        .iter()
        .map(|(name, records)| (name.as_str(), select(records)))
        .collect();
    let methods: BTreeSet<&str> = selected
        .iter()
        .flat_map(|(_, rows)| rows.iter().map(|r| r.method.as_str()))
        .collect();
    let mut columns = vec!["run", "task", "scoring"];
    columns.extend(methods.iter().copied());
    let mut s = table_header(&columns);
    for (name, rows) in &selected {
        let groups: BTreeSet<(&str, Scoring)> =
            rows.iter().map(|r| (r.task.as_str(), r.scoring)).collect();
        for (task, scoring) in groups {
            let _ = write!(s, "| {name} | {task} | {scoring:?} |");
            for m in &methods {
                match rows
                    .iter()
                    .find(|r| r.task == task && r.scoring == scoring && r.method == *m)
                {
                    Some(r) => {
                        let _ = write!(
                            s,
                            " {:+.1} @{} ({:.2}) |",
                            100.0 * r.delta_vs_none,
                            r.strength,
                            r.p_holm
                        );
                    }
                    None => s.push_str(" |"),
                }
            }
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::run::test_record as rec;

    #[test]
    fn pooling_sums_runs_and_compares_with_none_on_the_same_questions() {
        // Run 1: none right on 2 of 4, m at 0.1 right on 3 of 4.
        let mut a = Vec::new();
        for q in 0..4 {
            a.push(rec("t1", "none", 0.0, "validation", q, q < 2));
            a.push(rec("t1", "m", 0.1, "validation", q, q < 3));
            // Test records must not be pooled: all wrong.
            a.push(rec("t1", "m", 0.1, "test", q + 10, false));
            a.push(rec("t1", "expert", 0.0, "validation", q, true));
        }
        // Run 2: none right on 0 of 2, m right on 1 of 2; one m record
        // without an unsteered counterpart is left out.
        let b = vec![
            rec("t2", "none", 0.0, "validation", 0, false),
            rec("t2", "none", 0.0, "validation", 1, false),
            rec("t2", "m", 0.1, "validation", 0, true),
            rec("t2", "m", 0.1, "validation", 1, false),
            rec("t2", "m", 0.1, "validation", 7, true),
        ];
        let p = pool_validation([a.as_slice(), b.as_slice()]);
        assert_eq!(p.len(), 1, "only m at 0.1: {p:?}");
        let cell = p[&("m".to_string(), 0.1f32.to_bits())];
        assert_eq!(
            cell,
            Pooled {
                n: 6,
                correct: 4,
                none_correct: 2
            }
        );
        assert!((cell.delta() - 2.0 / 6.0).abs() < 1e-12);
        let md = pooled_markdown(&p);
        assert!(md.contains("| m | 6 | 66.7 (+33.3) |"), "{md}");
    }

    #[test]
    fn only_questions_scored_under_every_condition_are_kept() {
        let mut r = Vec::new();
        for q in 0..3 {
            r.push(rec("t", "none", 0.0, "validation", q, true));
            r.push(rec("t", "m", 0.1, "validation", q, true));
        }
        // q3 only under m (left from a longer earlier run).
        r.push(rec("t", "m", 0.1, "validation", 3, true));
        let kept = complete_questions(&r);
        assert_eq!(kept.len(), 6);
        assert!(kept.iter().all(|x| x.question != "q3"));
    }

    #[test]
    fn selected_table_reports_test_change_at_the_validation_strength() {
        let mut r = Vec::new();
        for q in 0..10 {
            r.push(rec("t", "none", 0.0, "validation", q, q < 5));
            r.push(rec("t", "none", 0.0, "test", q + 10, q < 5));
            r.push(rec("t", "m", 0.1, "validation", q, q < 8));
            r.push(rec("t", "m", 0.2, "validation", q, q < 2));
            r.push(rec("t", "m", 0.1, "test", q + 10, q < 6));
            r.push(rec("t", "m", 0.2, "test", q + 10, true));
        }
        let md = selected_markdown(&[("run".into(), r)]);
        assert!(
            md.contains("| run | t | Letter | +10.0 @0.1 (1.00) |"),
            "{md}"
        );
    }

    #[test]
    fn expert_lead_is_expert_minus_target_over_both_splits() {
        let mut r = Vec::new();
        for q in 0..10 {
            r.push(rec("t", "expert", 0.0, "validation", q, q < 8));
            r.push(rec("t", "none", 0.0, "validation", q, q < 3));
            r.push(rec("t", "expert", 0.0, "test", q + 10, q < 6));
            r.push(rec("t", "none", 0.0, "test", q + 10, q < 5));
        }
        let md = expert_lead_markdown(&[("run".into(), r)]);
        assert!(
            md.contains("| run | t | Letter | 80.0 | 30.0 | 60.0 | 50.0 | +30.0 |"),
            "{md}"
        );
    }
}
