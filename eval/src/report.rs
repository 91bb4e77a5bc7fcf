//! Turning evaluation records into tables and statistics (the plots are
//! in [`super::plot`], behind the `plot` feature).

use super::run::Record;
use super::score::Scoring;
use super::stats::{bootstrap_ci, holm, mcnemar};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Accuracy of one (task, scoring, method, strength, split) cell.
#[derive(Debug, Clone)]
pub struct Cell {
    /// Number of questions scored.
    pub n: usize,
    /// Accuracy as a fraction (0..1).
    pub acc: f64,
    /// Lower end of the 95% bootstrap interval of `acc`.
    pub lo: f64,
    /// Upper end of the 95% bootstrap interval of `acc`.
    pub hi: f64,
}

type Key = (String, Scoring, String, u32, String); // task, scoring, method, strength bits, split

pub(super) fn outcomes(records: &[Record]) -> BTreeMap<Key, BTreeMap<String, bool>> {
    let mut m: BTreeMap<Key, BTreeMap<String, bool>> = BTreeMap::new();
    for r in records {
        m.entry((
            r.task.clone(),
            r.scoring,
            r.method.clone(),
            r.strength.to_bits(),
            r.split.clone(),
        ))
        .or_default()
        .insert(r.question.clone(), r.correct);
    }
    m
}

pub(super) fn cell(v: &BTreeMap<String, bool>) -> Cell {
    let xs: Vec<bool> = v.values().copied().collect();
    let (acc, lo, hi) = bootstrap_ci(&xs, 2000, 17);
    Cell {
        n: xs.len(),
        acc,
        lo,
        hi,
    }
}

/// One method's line in the summary: strength chosen on validation,
/// measured on test against no steering.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The task spec (`mmlu:math`, ...).
    pub task: String,
    /// How answers were scored.
    pub scoring: Scoring,
    /// The steering file's label.
    pub method: String,
    /// The strength c chosen on validation (best accuracy, smaller c on ties).
    pub strength: f32,
    /// Validation accuracy at that strength.
    pub val: Cell,
    /// Test accuracy at that strength.
    pub test: Cell,
    /// Test accuracy minus no steering's on the same questions, as a fraction (NaN without a no-steering run).
    pub delta_vs_none: f64,
    /// Test questions only no steering got right (McNemar's discordant count).
    pub only_none: usize,
    /// Test questions only this method got right (McNemar's discordant count).
    pub only_method: usize,
    /// McNemar p-value of the difference on test.
    pub p: f64,
    /// `p` after Holm's correction over the methods of the task and scoring.
    pub p_holm: f64,
}

/// Picks each method's strength on validation and tests it on test.
pub fn select(records: &[Record]) -> Vec<Selected> {
    let o = outcomes(records);
    let mut out = Vec::new();
    let groups: BTreeSet<(String, Scoring)> = o.keys().map(|k| (k.0.clone(), k.1)).collect();
    for (task, scoring) in groups {
        let none_test = o.get(&(
            task.clone(),
            scoring,
            "none".into(),
            0f32.to_bits(),
            "test".into(),
        ));
        let methods: BTreeSet<String> = o
            .keys()
            .filter(|k| k.0 == task && k.1 == scoring && k.2 != "none" && k.2 != "expert")
            .map(|k| k.2.clone())
            .collect();
        let mut rows = Vec::new();
        for m in methods {
            let strengths: BTreeSet<u32> = o
                .keys()
                .filter(|k| k.0 == task && k.1 == scoring && k.2 == m && k.4 == "validation")
                .map(|k| k.3)
                .collect();
            let best = strengths.iter().copied().max_by(|a, b| {
                let acc = |s: &u32| {
                    cell(&o[&(task.clone(), scoring, m.clone(), *s, "validation".into())]).acc
                };
                acc(a)
                    .total_cmp(&acc(b))
                    .then(f32::from_bits(*b).total_cmp(&f32::from_bits(*a)))
            });
            let Some(best) = best else { continue };
            let val = cell(&o[&(task.clone(), scoring, m.clone(), best, "validation".into())]);
            let Some(test_v) = o.get(&(task.clone(), scoring, m.clone(), best, "test".into()))
            else {
                continue;
            };
            let test = cell(test_v);
            let (mut only_none, mut only_method, mut p, mut delta) = (0, 0, 1.0, f64::NAN);
            if let Some(nt) = none_test {
                let common: Vec<&String> = test_v.keys().filter(|q| nt.contains_key(*q)).collect();
                let a: Vec<bool> = common.iter().map(|q| nt[*q]).collect();
                let b: Vec<bool> = common.iter().map(|q| test_v[*q]).collect();
                let r = mcnemar(&a, &b);
                only_none = r.0;
                only_method = r.1;
                p = r.2;
                delta = test.acc - cell(nt).acc;
            }
            rows.push(Selected {
                task: task.clone(),
                scoring,
                method: m,
                strength: f32::from_bits(best),
                val,
                test,
                delta_vs_none: delta,
                only_none,
                only_method,
                p,
                p_holm: 1.0,
            });
        }
        let adj = holm(&rows.iter().map(|r| r.p).collect::<Vec<_>>());
        for (r, a) in rows.iter_mut().zip(adj) {
            r.p_holm = a;
        }
        out.extend(rows);
    }
    out
}

fn pct(c: &Cell) -> String {
    format!(
        "{:.1} [{:.1}, {:.1}] (n={})",
        100.0 * c.acc,
        100.0 * c.lo,
        100.0 * c.hi,
        c.n
    )
}

/// Markdown: baselines (none, expert ceiling) and the selected methods.
pub fn markdown(records: &[Record]) -> String {
    let o = outcomes(records);
    let mut s = String::new();
    let groups: BTreeSet<(String, Scoring)> = o.keys().map(|k| (k.0.clone(), k.1)).collect();
    let sel = select(records);
    for (task, scoring) in groups {
        let _ = writeln!(s, "\n### {task}, {scoring:?} scoring\n");
        let _ = writeln!(s, "| method | strength c | validation acc % [95% CI] | test acc % [95% CI] | Δ test vs none | McNemar (none-only / method-only) | p | p (Holm) |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
        for base in ["expert", "none"] {
            let get = |split: &str| {
                o.get(&(
                    task.clone(),
                    scoring,
                    base.to_string(),
                    0f32.to_bits(),
                    split.to_string(),
                ))
                .map(cell)
            };
            if let (Some(v), Some(t)) = (get("validation"), get("test")) {
                let name = if base == "expert" {
                    "expert model itself (ceiling)"
                } else {
                    "none (unsteered target)"
                };
                let _ = writeln!(s, "| {name} | 0 | {} | {} | | | | |", pct(&v), pct(&t));
            }
        }
        for r in sel
            .iter()
            .filter(|r| r.task == task && r.scoring == scoring)
        {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:+.1} | {} / {} | {:.3} | {:.3} |",
                r.method,
                r.strength,
                pct(&r.val),
                pct(&r.test),
                100.0 * r.delta_vs_none,
                r.only_none,
                r.only_method,
                r.p,
                r.p_holm
            );
        }
    }
    s
}

/// CSV of every cell (task, scoring, method, strength, split, n, accuracy, CI).
pub fn csv(records: &[Record]) -> String {
    let mut s = String::from("task,scoring,method,strength,split,n,accuracy,ci_low,ci_high\n");
    for (k, v) in outcomes(records) {
        let c = cell(&v);
        let _ = writeln!(
            s,
            "{},{:?},{},{},{},{},{:.4},{:.4},{:.4}",
            k.0,
            k.1,
            k.2,
            f32::from_bits(k.3),
            k.4,
            c.n,
            c.acc,
            c.lo,
            c.hi
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(method: &str, strength: f32, split: &str, q: usize, correct: bool) -> Record {
        crate::run::test_record("t", method, strength, split, q, correct)
    }

    #[test]
    fn strength_is_chosen_on_validation_and_reported_on_test() {
        let mut r = Vec::new();
        for q in 0..20 {
            r.push(rec("none", 0.0, "validation", q, q < 10));
            r.push(rec("none", 0.0, "test", q + 100, q < 10));
            // strength 0.1 is better on validation; 0.2 is worse.
            r.push(rec("m", 0.1, "validation", q, q < 15));
            r.push(rec("m", 0.2, "validation", q, q < 5));
            r.push(rec("m", 0.1, "test", q + 100, q < 14));
            r.push(rec("m", 0.2, "test", q + 100, q < 20));
        }
        let s = select(&r);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].strength, 0.1);
        assert!((s[0].test.acc - 0.7).abs() < 1e-12);
        assert!((s[0].delta_vs_none - 0.2).abs() < 1e-12);
        assert_eq!((s[0].only_none, s[0].only_method), (0, 4));
        let md = markdown(&r);
        assert!(md.contains("| m | 0.1 |"), "{md}");
        assert_eq!(csv(&r).lines().count(), 1 + 6);
    }
}
