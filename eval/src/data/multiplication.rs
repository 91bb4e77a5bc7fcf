//! Two-digit multiplication in BIG-bench's wording ("What is 98 times
//! 71?" → "6958"). BIG-bench's `arithmetic/2_digit_multiplication` was
//! read from `bigbench==1.0.0`, which the package index no longer serves
//! here; the task is random pairs of two-digit numbers, so it is drawn
//! again from a fixed seed: distinct ordered pairs, one group each.

use super::gen_file::GenFileRow;
use super::stable_hash;

/// The task name in logs and tables.
pub const TASK: &str = "2-digit-multiplication";

/// `n` distinct questions (at most 8,100, every ordered pair of 10..=99),
/// in an order fixed by `seed`.
pub fn multiplication_examples(n: usize, seed: u64) -> Vec<GenFileRow> {
    let mut pairs: Vec<(u32, u32)> = (10..100)
        .flat_map(|a| (10..100).map(move |b| (a, b)))
        .collect();
    pairs.sort_by_key(|&(a, b)| (stable_hash(&format!("{seed}:mul:{a}x{b}")), a, b));
    pairs
        .into_iter()
        .take(n)
        .map(|(a, b)| GenFileRow {
            id: format!("mul-{a}x{b}"),
            group: format!("mul-{a}x{b}"),
            task: TASK.into(),
            input: format!("What is {a} times {b}?"),
            targets: vec![(a * b).to_string()],
            rationale: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn questions_are_distinct_right_and_seeded() {
        let a = multiplication_examples(1000, 0);
        assert_eq!(a.len(), 1000);
        let ids: std::collections::HashSet<&str> = a.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 1000);
        for r in &a {
            let nums: Vec<u32> = r
                .input
                .trim_start_matches("What is ")
                .trim_end_matches('?')
                .split(" times ")
                .map(|x| x.parse().unwrap())
                .collect();
            assert!(nums.iter().all(|x| (10..100).contains(x)));
            assert_eq!(r.targets[0], (nums[0] * nums[1]).to_string());
        }
        assert_eq!(a, multiplication_examples(1000, 0));
        assert_ne!(a, multiplication_examples(1000, 1));
        assert_eq!(multiplication_examples(9000, 0).len(), 8100);
    }
}
