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
    cued_prompt(shots, question, "")
}

/// [`few_shot_prompt`] with `cue` after the question's `A:` (e.g. "Let's
/// think step by step.", the zero-shot reasoning prompt); none when empty.
pub fn cued_prompt(shots: &[GenExample], question: &GenExample, cue: &str) -> String {
    let mut s = String::new();
    for shot in shots {
        s.push_str(&format!(
            "Q: {}\nA: {}\n\n",
            shot.input.trim(),
            shot.targets[0].trim()
        ));
    }
    s.push_str(&format!("Q: {}\nA:", question.input.trim()));
    if !cue.trim().is_empty() {
        s.push(' ');
        s.push_str(cue.trim());
    }
    s
}

/// Where a free-form answer ends: at the first line that starts with one
/// capital letter and a colon — the next question the model starts writing
/// itself (`Q:`), or the options it invents after reading the answer
/// prefix as option A (`B: 20`). The second value says whether such a
/// line was there (false: the token cap or end of text cut it).
pub fn cut_free_answer(generated: &str) -> (&str, bool) {
    match free_answer_end(generated) {
        Some(i) => (&generated[..i], true),
        None => (generated, false),
    }
}

/// The byte offset of the newline that ends a free answer, if any.
pub fn free_answer_end(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    (0..b.len()).find(|&i| {
        b[i] == b'\n'
            && b.get(i + 1).is_some_and(u8::is_ascii_uppercase)
            && b.get(i + 2) == Some(&b':')
    })
}

/// The numbers of `text` in order, commas inside them removed (`1,200` →
/// `1200`; a sentence's full stop is not a decimal point).
fn numbers(text: &str) -> Vec<(usize, String)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = if i > 0 && b[i - 1] == b'-' { i - 1 } else { i };
        let mut s = String::new();
        while i < b.len() {
            let c = b[i];
            let digit_follows = i + 1 < b.len() && b[i + 1].is_ascii_digit();
            if c.is_ascii_digit() {
                s.push(c as char);
            } else if c == b',' && digit_follows {
                // A thousands separator: skipped.
            } else if c == b'.' && digit_follows && !s.contains('.') {
                s.push('.');
            } else {
                break;
            }
            i += 1;
        }
        if start < i && b[start] == b'-' {
            s.insert(0, '-');
        }
        out.push((start, s));
    }
    out
}

/// The final answer of a worked solution: the first number after the last
/// "answer is" or "####" when there is one, else the last number of the
/// text. `None` when the text has no number.
pub fn final_number(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let marker = ["answer is", "####"]
        .iter()
        .filter_map(|m| lower.rfind(m).map(|i| i + m.len()))
        .max();
    let nums = numbers(text);
    match marker {
        Some(at) => nums
            .iter()
            .find(|(i, _)| *i >= at)
            .or(nums.last())
            .map(|(_, n)| n.clone()),
        None => nums.last().map(|(_, n)| n.clone()),
    }
}

/// Whether `answer`'s final number equals one of `targets` as a number
/// (`12.0` and `12` match).
pub fn number_match(answer: &str, targets: &[String]) -> bool {
    let Some(got) = final_number(answer).and_then(|n| n.parse::<f64>().ok()) else {
        return false;
    };
    targets.iter().any(|t| {
        let t = t.trim().replace(',', "");
        t.parse::<f64>()
            .is_ok_and(|want| (got - want).abs() <= 1e-9 * want.abs().max(1.0))
    })
}

/// How many parts of an answer hold a number (parts: lines and
/// sentences). A worked solution has several; a bare answer one.
pub fn numbered_parts(answer: &str) -> usize {
    answer
        .split('\n')
        .flat_map(|line| line.split(". "))
        .filter(|part| part.bytes().any(|b| b.is_ascii_digit()))
        .count()
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
    fn the_final_number_is_found_after_the_answer_marker_or_last() {
        assert_eq!(
            final_number("3 * 4 = 12. The answer is 12."),
            Some("12".into())
        );
        assert_eq!(
            final_number("The answer is $1,250.50 and 7 more"),
            Some("1250.50".into())
        );
        assert_eq!(
            final_number("She has 5, then 7.\n#### 12"),
            Some("12".into())
        );
        assert_eq!(final_number("It is -3 degrees"), Some("-3".into()));
        assert_eq!(final_number("He had 5 then 9"), Some("9".into()));
        assert_eq!(final_number("no number"), None);
        let t = vec!["12".to_string()];
        assert!(number_match(" 12", &t) && number_match("so 12.0 in all.", &t));
        assert!(!number_match("12 then 13", &t));
        assert!(!number_match("none", &t));
        assert!(number_match("The answer is 1,200.", &["1200".to_string()]));
    }

    #[test]
    fn a_free_answer_ends_where_the_model_asks_itself_a_question() {
        assert_eq!(
            cut_free_answer(" 5 + 7 = 12\n\nQ: next"),
            (" 5 + 7 = 12\n", true)
        );
        assert_eq!(cut_free_answer(" 12"), (" 12", false));
        assert_eq!(
            numbered_parts("First 3 * 4 = 12.\nThen 12 + 1 = 13. So 13."),
            3
        );
        assert_eq!(numbered_parts(" 13"), 1);
        assert_eq!(numbered_parts("I do not know."), 0);
    }

    #[test]
    fn a_cue_follows_the_answer_prefix() {
        assert_eq!(
            cued_prompt(&[], &ex(3), "Let's think step by step."),
            "Q: What is 3 plus 3?\nA: Let's think step by step."
        );
        assert_eq!(cued_prompt(&[], &ex(3), " "), few_shot_prompt(&[], &ex(3)));
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
