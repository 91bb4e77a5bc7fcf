//! The k-shot prompt and exact-match scoring of generative examples.
//!
//! The prompt is `Q: {input}\nA: {target}\n\n` for each shot, then
//! `Q: {input}\nA:` for the question: plain text (no chat template), so
//! every model reads the same bytes and continues after `A:`. Shots are k
//! examples of the *fit* part of the split, the same for every question,
//! and are never scored.

use crate::data::{split_of, stable_hash, GenExample, Part, SplitFractions};

/// The part of the fixed 60/20/20 split `ex` belongs to under `seed`
/// (the split `data build` uses).
pub fn example_split(ex: &GenExample, seed: u64) -> Part {
    split_of(&ex.group, seed, SplitFractions::BENCHMARK)
}

/// The `k` shots: fit-part examples in an order fixed by `seed`.
pub fn choose_shots(examples: &[GenExample], seed: u64, k: usize) -> Vec<GenExample> {
    let mut fit: Vec<&GenExample> = examples
        .iter()
        .filter(|e| example_split(e, seed) == Part::Fit)
        .collect();
    fit.sort_by_key(|e| (stable_hash(&format!("{seed}:shot:{}", e.id)), e.id.clone()));
    fit.into_iter().take(k).cloned().collect()
}

/// The examples to score: those of `part` (all parts when `None`), less the
/// shots (which matters for `fit` and `all`), in file order.
pub fn scored_examples(
    examples: &[GenExample],
    part: Option<Part>,
    seed: u64,
    shots: &[GenExample],
) -> Vec<GenExample> {
    let shot_groups: std::collections::HashSet<&str> =
        shots.iter().map(|s| s.group.as_str()).collect();
    examples
        .iter()
        .filter(|e| part.is_none_or(|p| example_split(e, seed) == p))
        .filter(|e| !shot_groups.contains(e.group.as_str()))
        .cloned()
        .collect()
}

/// The prompt for `question` after `shots` (the first target of each shot
/// is its answer).
pub fn few_shot_prompt(shots: &[GenExample], question: &GenExample) -> String {
    let mut s = String::new();
    for shot in shots {
        s.push_str(&format!(
            "Q: {}\nA: {}\n\n",
            shot.input.trim(),
            shot.targets[0].trim()
        ));
    }
    s.push_str(&format!("Q: {}\nA:", question.input.trim()));
    s
}

/// The answer part of a generation: everything before the first newline.
/// The second value says whether a newline was there (false: the token cap
/// or end of text cut it).
pub fn cut_answer(generated: &str) -> (&str, bool) {
    match generated.find('\n') {
        Some(i) => (&generated[..i], true),
        None => (generated, false),
    }
}

/// An answer as it is compared: surrounding whitespace and one trailing
/// period removed (`" 551."` and `"551"` match).
pub fn normalise_answer(answer: &str) -> &str {
    let t = answer.trim();
    t.strip_suffix('.').unwrap_or(t).trim()
}

/// Whether `answer` equals one of `targets` after [`normalise_answer`] on
/// both sides (case and inner spacing count).
pub fn exact_match(answer: &str, targets: &[String]) -> bool {
    let a = normalise_answer(answer);
    targets.iter().any(|t| normalise_answer(t) == a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(i: usize) -> GenExample {
        let input = format!("What is {i} plus {i}?");
        GenExample {
            id: format!("bb-{i}"),
            group: format!("bb-{i}"),
            task: "t".into(),
            input,
            targets: vec![(2 * i).to_string()],
        }
    }

    #[test]
    fn answers_match_after_trimming_space_and_one_period() {
        let t = vec!["551".to_string()];
        assert!(exact_match(" 551", &t));
        assert!(exact_match("551.", &t));
        assert!(exact_match(" 551. ", &t));
        assert!(!exact_match("5510", &t));
        assert!(!exact_match("551 apples", &t));
        assert!(!exact_match("", &t));
        let several = vec!["five".to_string(), "5".to_string()];
        assert!(exact_match("5", &several) && exact_match("five", &several));
        assert!(!exact_match("Five", &several), "case counts");
    }

    #[test]
    fn the_answer_ends_at_the_first_newline() {
        assert_eq!(cut_answer(" 551\n\nQ: What"), (" 551", true));
        assert_eq!(cut_answer(" 55"), (" 55", false));
        assert_eq!(cut_answer("\n551"), ("", true));
    }

    #[test]
    fn the_prompt_lists_the_shots_then_asks() {
        let p = few_shot_prompt(&[ex(1), ex(2)], &ex(3));
        assert_eq!(
            p,
            "Q: What is 1 plus 1?\nA: 2\n\nQ: What is 2 plus 2?\nA: 4\n\nQ: What is 3 plus 3?\nA:"
        );
    }

    #[test]
    fn no_prompt_shows_a_scored_question_whatever_the_split() {
        let all: Vec<GenExample> = (0..200).map(ex).collect();
        for seed in [0, 7] {
            let shots = choose_shots(&all, seed, 3);
            assert_eq!(shots.len(), 3);
            assert!(shots.iter().all(|s| example_split(s, seed) == Part::Fit));
            assert_eq!(shots, choose_shots(&all, seed, 3), "deterministic");
            for part in [
                None,
                Some(Part::Fit),
                Some(Part::Validation),
                Some(Part::Test),
            ] {
                let scored = scored_examples(&all, part, seed, &shots);
                assert!(!scored.is_empty());
                for q in &scored {
                    let p = few_shot_prompt(&shots, q);
                    for other in &scored {
                        let shown = format!("Q: {}\nA: ", other.input);
                        assert!(!p.contains(&shown), "{} shown in {p}", other.id);
                    }
                }
            }
        }
    }
}
