//! The accuracy table of an exact-match run: per condition, accuracy with
//! a 95% Wilson interval and, for steered rows, the exact McNemar p-value
//! against no steering on the questions both answered, Holm-adjusted
//! across the steered rows.

use super::prompt::numbered_parts;
use super::run::{AnswerMode, GenPlan, GenRecord};
use crate::stats::{holm, mcnemar, wilson_ci};
use std::collections::HashMap;

/// Accuracy of one condition.
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracyRow {
    /// `none` or the steering label.
    pub steering: String,
    /// Strength c.
    pub strength: f32,
    /// `all` or `generated`.
    pub positions: String,
    /// Questions scored.
    pub n: usize,
    /// Questions answered exactly.
    pub correct: usize,
    /// correct / n.
    pub accuracy: f64,
    /// 95% Wilson interval.
    pub ci: (f64, f64),
    /// Questions right only without steering, and only with it (on the
    /// questions both conditions answered); `None` for no steering.
    pub discordant: Option<(usize, usize)>,
    /// Exact McNemar p-value against no steering; `None` for no steering.
    pub p: Option<f64>,
    /// `p` Holm-adjusted across the steered rows of the table.
    pub p_holm: Option<f64>,
    /// Mean seconds generating per question.
    pub secs_per_question: f64,
    /// Mean tokens generated per answer.
    pub mean_tokens: f64,
    /// Share of answers with at least two lines or sentences holding a
    /// number (a worked solution rather than a bare answer).
    pub worked: f64,
}

/// One row per condition of `plan`, over its records in `log`.
pub fn accuracy_table(plan: &GenPlan, log: &[GenRecord]) -> Vec<AccuracyRow> {
    let chosen = plan.select(log);
    let of = |label: &str, c: f32, cue: &str| -> Vec<&GenRecord> {
        chosen
            .iter()
            .filter(|r| r.steering == label && r.strength.to_bits() == c.to_bits() && r.cue == cue)
            .copied()
            .collect()
    };
    let baseline: HashMap<&str, bool> = of("none", 0.0, "")
        .iter()
        .map(|r| (r.question.as_str(), r.correct))
        .collect();
    let mut rows: Vec<AccuracyRow> = plan
        .conditions()
        .into_iter()
        .map(|cond| {
            let rs = of(&cond.steering, cond.strength, &cond.cue);
            let n = rs.len();
            let correct = rs.iter().filter(|r| r.correct).count();
            let is_baseline = cond.steering == "none" && cond.cue.is_empty();
            let (discordant, p) = if is_baseline {
                (None, None)
            } else {
                let (a, b): (Vec<bool>, Vec<bool>) = rs
                    .iter()
                    .filter_map(|r| baseline.get(r.question.as_str()).map(|&a| (a, r.correct)))
                    .unzip();
                let (only_a, only_b, p) = mcnemar(&a, &b);
                (Some((only_a, only_b)), Some(p))
            };
            let nan_if_empty = |x: f64| if n == 0 { f64::NAN } else { x / n as f64 };
            let worked = rs.iter().filter(|r| numbered_parts(&r.answer) >= 2).count();
            AccuracyRow {
                steering: cond.name(),
                strength: cond.strength,
                positions: plan.positions_label(&cond.steering),
                n,
                correct,
                accuracy: nan_if_empty(correct as f64),
                ci: wilson_ci(correct, n),
                discordant,
                p,
                p_holm: None,
                secs_per_question: nan_if_empty(rs.iter().map(|r| r.gen_secs).sum()),
                mean_tokens: nan_if_empty(rs.iter().map(|r| r.n_tokens as f64).sum()),
                worked: nan_if_empty(worked as f64),
            }
        })
        .collect();
    // A steered condition with no answers in the log was not run: it is
    // left out, and out of Holm's family.
    rows.retain(|r| r.steering == "none" || r.n > 0);
    let steered: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].p.is_some()).collect();
    let adjusted = holm(
        &steered
            .iter()
            .map(|&i| rows[i].p.unwrap_or(1.0))
            .collect::<Vec<_>>(),
    );
    for (&i, a) in steered.iter().zip(adjusted) {
        rows[i].p_holm = Some(a);
    }
    rows
}

/// The table as Markdown; free answers (`AnswerMode::Number`) also get
/// their mean length and the share of worked solutions.
pub fn accuracy_table_markdown(rows: &[AccuracyRow], mode: AnswerMode) -> String {
    let free = mode == AnswerMode::Number;
    let mut s = String::from(
        "| condition | c | positions | n | correct | accuracy | 95% CI (Wilson) | \
         lost/gained vs none | McNemar p | Holm p | s/question |",
    );
    s.push_str(if free {
        " mean tokens | worked |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    } else {
        "\n|---|---|---|---|---|---|---|---|---|---|---|\n"
    });
    let p = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{v:.3}"));
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.3} | {:.3}-{:.3} | {} | {} | {} | {:.2} |\n",
            r.steering,
            r.strength,
            r.positions,
            r.n,
            r.correct,
            r.accuracy,
            r.ci.0,
            r.ci.1,
            r.discordant
                .map_or("-".to_string(), |(a, b)| format!("{a}/{b}")),
            p(r.p),
            p(r.p_holm),
            r.secs_per_question
        ));
        if free {
            s.pop();
            s.push_str(&format!(" {:.0} | {:.2} |\n", r.mean_tokens, r.worked));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::GenExample;
    use crate::greedy::LabelledSteer;
    use expertsteer::llama::Positions;

    fn question(i: usize) -> GenExample {
        GenExample {
            id: format!("q{i}"),
            group: format!("q{i}"),
            task: "t".into(),
            input: format!("in {i}"),
            targets: vec!["1".into()],
        }
    }

    fn record(plan: &GenPlan, q: usize, steering: &str, c: f32, correct: bool) -> GenRecord {
        GenRecord {
            task: "t".into(),
            question: format!("q{q}"),
            split: "validation".into(),
            split_seed: plan.split_seed,
            model: plan.model.clone(),
            steering: steering.into(),
            strength: c,
            positions: plan.positions_label(steering),
            shots: plan.shots.len(),
            max_tokens: plan.max_tokens,
            correct,
            answer: String::new(),
            targets: vec!["1".into()],
            n_tokens: 1,
            stopped: true,
            gen_secs: 0.5,
            mode: AnswerMode::Line,
            cue: String::new(),
        }
    }

    #[test]
    fn steered_rows_get_paired_mcnemar_and_holm_across_rows() {
        let plan = GenPlan {
            questions: (0..20).map(question).collect(),
            shots: Vec::new(),
            model: "m".into(),
            steer: Some(LabelledSteer {
                label: "s".into(),
                file: expertsteer_core::testing::sample_file(),
            }),
            // 0.3 was never run: no row, and not in Holm's family.
            strengths: vec![0.0, 0.1, 0.2, 0.3],
            positions: Positions::GeneratedOnly,
            max_tokens: 4,
            mode: AnswerMode::Line,
            cue: None,
            n_ctx: 64,
            split_seed: 0,
            threads: 1,
            log: "unused".into(),
        };
        // Baseline right on 0..10. c = 0.1 loses 8..10 and gains 12..20 (2
        // vs 8 discordant, p = 2 * 56/1024); c = 0.2 equals the baseline.
        let mut log = Vec::new();
        for q in 0..20 {
            log.push(record(&plan, q, "none", 0.0, q < 10));
            log.push(record(&plan, q, "s", 0.1, !(8..12).contains(&q)));
            log.push(record(&plan, q, "s", 0.2, q < 10));
        }
        // A record of another model is not this plan's.
        let mut other = record(&plan, 0, "none", 0.0, false);
        other.model = "other".into();
        log.push(other);
        let rows = accuracy_table(&plan, &log);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].n, rows[0].correct, rows[0].p), (20, 10, None));
        assert_eq!(rows[1].discordant, Some((2, 8)));
        let p = 2.0 * 56.0 / 1024.0;
        assert!((rows[1].p.unwrap() - p).abs() < 1e-12);
        assert_eq!(rows[2].p, Some(1.0));
        // Holm over two steered rows: the smaller p doubled.
        assert!((rows[1].p_holm.unwrap() - 2.0 * p).abs() < 1e-12);
        assert_eq!(rows[2].p_holm, Some(1.0));
        assert_eq!(rows[1].positions, "generated");
        assert_eq!(rows[0].positions, "all");
        let md = accuracy_table_markdown(&rows, AnswerMode::Line);
        assert!(md.contains("| none | 0 | all | 20 | 10 | 0.500 |"), "{md}");
        assert!(md.contains("| 2/8 | 0.109 | 0.219 |"), "{md}");
    }

    #[test]
    fn a_cued_row_is_compared_with_the_uncued_baseline_and_shows_its_work() {
        let plan = GenPlan {
            questions: (0..10).map(question).collect(),
            shots: Vec::new(),
            model: "m".into(),
            steer: None,
            strengths: vec![],
            positions: Positions::All,
            max_tokens: 64,
            mode: AnswerMode::Number,
            cue: Some("Think.".into()),
            n_ctx: 256,
            split_seed: 0,
            threads: 1,
            log: "unused".into(),
        };
        let mut log = Vec::new();
        for q in 0..10 {
            let mut bare = record(&plan, q, "none", 0.0, q < 2);
            bare.mode = AnswerMode::Number;
            bare.answer = " 1".into();
            let mut cued = record(&plan, q, "none", 0.0, q < 8);
            cued.mode = AnswerMode::Number;
            cued.cue = "Think.".into();
            cued.answer = "2 + 3 = 5.\nSo 5 - 4 = 1.".into();
            cued.n_tokens = 20;
            log.extend([bare, cued]);
        }
        let rows = accuracy_table(&plan, &log);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].steering.as_str(), rows[0].correct), ("none", 2));
        assert_eq!(
            (rows[1].steering.as_str(), rows[1].correct),
            ("none + cue", 8)
        );
        assert_eq!(rows[1].discordant, Some((0, 6)));
        assert_eq!((rows[0].worked, rows[1].worked), (0.0, 1.0));
        assert_eq!((rows[0].mean_tokens, rows[1].mean_tokens), (1.0, 20.0));
        let md = accuracy_table_markdown(&rows, AnswerMode::Number);
        assert!(md.contains("| mean tokens | worked |"), "{md}");
        assert!(md.contains("| 20 | 1.00 |"), "{md}");
        // A line-mode record of the same question is another plan's.
        let mut line = record(&plan, 0, "none", 0.0, true);
        line.mode = AnswerMode::Line;
        log.push(line);
        assert_eq!(accuracy_table(&plan, &log)[0].n, 10);
    }
}
