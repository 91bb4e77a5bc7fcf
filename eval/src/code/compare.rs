//! Every condition of a HumanEval log against no steering on the same
//! problems: pass@1 with Wilson intervals, the exact McNemar test on the
//! paired outcomes, Holm's adjustment over the steered rows of the table,
//! and the problems where steering changed the verdict, side by side.

use super::humaneval::PromptFormat;
use super::run::CodeRecord;
use crate::stats::{holm, mcnemar, wilson_ci};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One condition against no steering.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    /// `none` or the steering label.
    pub steering: String,
    /// Strength c.
    pub strength: f32,
    /// `all` or `generated`.
    pub positions: String,
    /// Problems scored under this condition (and without steering).
    pub n: usize,
    /// Passed under this condition.
    pub passed: usize,
    /// Passed without steering, same problems.
    pub base_passed: usize,
    /// 95% Wilson interval of passed / n.
    pub ci: (f64, f64),
    /// Passed only without steering.
    pub only_base: usize,
    /// Passed only with steering.
    pub only_steered: usize,
    /// Completions whose text differs from the unsteered one (how often
    /// steering acted at all, right or wrong).
    pub changed: usize,
    /// Exact two-sided McNemar p (1 for the `none` row).
    pub p: f64,
    /// Holm-adjusted over the steered rows.
    pub p_holm: f64,
}

/// Which records a comparison reads: one model, prompt format and token
/// cap, on the given problems.
#[derive(Debug, Clone)]
pub struct Scope<'a> {
    /// The model's label.
    pub model: &'a str,
    /// The prompt format.
    pub format: PromptFormat,
    /// The token cap.
    pub max_tokens: usize,
    /// Task ids to include.
    pub problems: &'a HashSet<String>,
}

type Cond = (String, u32, String);

fn in_scope<'a>(log: &'a [CodeRecord], s: &Scope<'_>) -> Vec<&'a CodeRecord> {
    log.iter()
        .filter(|r| {
            r.model == s.model
                && r.prompt_format == s.format
                && r.max_tokens == s.max_tokens
                && s.problems.contains(&r.problem)
        })
        .collect()
}

fn by_condition<'a>(recs: &[&'a CodeRecord]) -> BTreeMap<Cond, HashMap<&'a str, &'a CodeRecord>> {
    let mut out: BTreeMap<Cond, HashMap<&str, &CodeRecord>> = BTreeMap::new();
    for r in recs {
        out.entry((
            r.steering.clone(),
            r.strength.to_bits(),
            r.positions.clone(),
        ))
        .or_default()
        .insert(r.problem.as_str(), r);
    }
    out
}

/// The `none` row first, then every steered condition in the log (by
/// label, positions, strength), each on the problems it shares with `none`.
pub fn compare_conditions(log: &[CodeRecord], scope: &Scope<'_>) -> Vec<CompareRow> {
    let conds = by_condition(&in_scope(log, scope));
    let none_key = ("none".to_string(), 0f32.to_bits(), "all".to_string());
    let Some(none) = conds.get(&none_key) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    let mut keys: Vec<&Cond> = conds.keys().filter(|k| **k != none_key).collect();
    keys.sort_by(|a, b| {
        (&a.0, &a.2)
            .cmp(&(&b.0, &b.2))
            .then(f32::from_bits(a.1).total_cmp(&f32::from_bits(b.1)))
    });
    let row = |key: &Cond, recs: &HashMap<&str, &CodeRecord>| {
        let mut ids: Vec<&&str> = recs.keys().filter(|id| none.contains_key(**id)).collect();
        ids.sort();
        let base: Vec<bool> = ids.iter().map(|id| none[**id].passed).collect();
        let this: Vec<bool> = ids.iter().map(|id| recs[**id].passed).collect();
        let (only_base, only_steered, p) = mcnemar(&base, &this);
        let changed = ids
            .iter()
            .filter(|id| none[**id].completion != recs[**id].completion)
            .count();
        let passed = this.iter().filter(|x| **x).count();
        CompareRow {
            steering: key.0.clone(),
            strength: f32::from_bits(key.1),
            positions: key.2.clone(),
            n: ids.len(),
            passed,
            base_passed: base.iter().filter(|x| **x).count(),
            ci: wilson_ci(passed, ids.len()),
            only_base,
            only_steered,
            changed,
            p,
            p_holm: p,
        }
    };
    rows.push(row(&none_key, none));
    for k in keys {
        rows.push(row(k, &conds[k]));
    }
    let adjusted = holm(&rows[1..].iter().map(|r| r.p).collect::<Vec<_>>());
    for (r, a) in rows[1..].iter_mut().zip(adjusted) {
        r.p_holm = a;
    }
    rows
}

/// The rows as a Markdown table.
pub fn compare_markdown(rows: &[CompareRow]) -> String {
    let mut s = String::from(
        "| steering | positions | c | n | passed | pass@1 | 95% CI | none on same | lost / gained | text changed | McNemar p | Holm p |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let steered = r.steering != "none";
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.3} | {:.3}-{:.3} | {} | {} | {} | {} | {} |\n",
            r.steering,
            if steered { r.positions.as_str() } else { "-" },
            r.strength,
            r.n,
            r.passed,
            r.passed as f64 / r.n.max(1) as f64,
            r.ci.0,
            r.ci.1,
            r.base_passed,
            if steered {
                format!("{} / {}", r.only_base, r.only_steered)
            } else {
                "-".into()
            },
            if steered {
                format!("{} of {}", r.changed, r.n)
            } else {
                "-".into()
            },
            if steered {
                format!("{:.3}", r.p)
            } else {
                "-".into()
            },
            if steered {
                format!("{:.3}", r.p_holm)
            } else {
                "-".into()
            },
        ));
    }
    s
}

/// Up to `limit` problems (in task order) whose verdict differs between no
/// steering and `row`'s condition, as Markdown: both completions side by
/// side in code blocks.
pub fn flipped_markdown(
    log: &[CodeRecord],
    scope: &Scope<'_>,
    row: &CompareRow,
    limit: usize,
) -> String {
    let conds = by_condition(&in_scope(log, scope));
    let none = &conds[&("none".to_string(), 0f32.to_bits(), "all".to_string())];
    let Some(this) = conds.get(&(
        row.steering.clone(),
        row.strength.to_bits(),
        row.positions.clone(),
    )) else {
        return String::new();
    };
    let mut ids: Vec<&&str> = this
        .keys()
        .filter(|id| {
            none.get(**id)
                .is_some_and(|b| b.passed != this[**id].passed)
        })
        .collect();
    ids.sort_by_key(|id| id.rsplit('/').next().and_then(|n| n.parse::<u32>().ok()));
    let mut s = String::new();
    for id in ids.into_iter().take(limit) {
        let (b, t) = (none[*id], this[*id]);
        let verdict = |r: &CodeRecord| {
            if r.passed {
                "passed".to_string()
            } else {
                r.outcome.summary()
            }
        };
        s.push_str(&format!(
            "#### {id}: {} at c = {} ({}): {} → {}\n\nno steering ({}):\n```python\n{}\n```\nsteered ({}):\n```python\n{}\n```\n\n",
            row.steering,
            row.strength,
            row.positions,
            if b.passed { "passed" } else { "failed" },
            if t.passed { "passed" } else { "failed" },
            verdict(b),
            b.completion.trim_end(),
            verdict(t),
            t.completion.trim_end()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::sandbox::Outcome;

    fn rec(problem: usize, steering: &str, c: f32, passed: bool) -> CodeRecord {
        let completion = if steering == "a" && problem >= 3 {
            format!("    return {problem} + 1")
        } else {
            format!("    return {problem}")
        };
        CodeRecord {
            problem: format!("HumanEval/{problem}"),
            split: "test".into(),
            model: "m".into(),
            steering: steering.into(),
            strength: c,
            positions: "all".into(),
            prompt_format: PromptFormat::Plain,
            max_tokens: 64,
            passed,
            outcome: if passed {
                Outcome::Passed
            } else {
                Outcome::TimedOut
            },
            completion,
            n_tokens: 3,
            stopped: true,
            gen_secs: 0.1,
            exec_secs: 0.1,
        }
    }

    #[test]
    fn rows_pair_each_condition_with_no_steering_on_shared_problems() {
        let mut log = Vec::new();
        for i in 0..10 {
            log.push(rec(i, "none", 0.0, i < 3));
            // a: gains problems 3..9 (7 discordant, all for steering).
            log.push(rec(i, "a", 0.2, i < 10));
            // b: the same as none, on the first 5 problems only.
            if i < 5 {
                log.push(rec(i, "b", 0.1, i < 3));
            }
        }
        log.push(rec(99, "a", 0.2, true)); // no unsteered run: not compared
        let problems: HashSet<String> = (0..100).map(|i| format!("HumanEval/{i}")).collect();
        let scope = Scope {
            model: "m",
            format: PromptFormat::Plain,
            max_tokens: 64,
            problems: &problems,
        };
        let rows = compare_conditions(&log, &scope);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].steering.as_str(), rows[0].n, rows[0].passed),
            ("none", 10, 3)
        );
        let a = &rows[1];
        assert_eq!(
            (a.steering.as_str(), a.n, a.passed, a.base_passed),
            ("a", 10, 10, 3)
        );
        assert_eq!((a.only_base, a.only_steered, a.changed), (0, 7, 7));
        assert!((a.p - 2.0 / 128.0).abs() < 1e-12, "{}", a.p);
        let b = &rows[2];
        assert_eq!(
            (b.n, b.passed, b.base_passed, b.p, b.changed),
            (5, 3, 3, 1.0, 0)
        );
        assert!(
            (a.p_holm - 2.0 * a.p).abs() < 1e-12,
            "Holm over two steered rows"
        );
        let md = compare_markdown(&rows);
        assert!(md.contains("| a | all | 0.2 | 10 | 10 | 1.000 |"), "{md}");
        assert!(md.contains("| 0 / 7 | 7 of 10 |"), "{md}");
        let ex = flipped_markdown(&log, &scope, a, 2);
        assert_eq!(ex.matches("#### ").count(), 2);
        assert!(ex.starts_with("#### HumanEval/3:"), "{ex}");
        assert!(
            ex.contains("    return 3\n")
                && ex.contains("    return 3 + 1")
                && ex.contains("timed out")
        );
        assert!(flipped_markdown(&log, &scope, b, 5).is_empty());
    }
}
