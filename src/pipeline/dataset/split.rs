//! Fixed, documented splits: a group's split depends only on its id and
//! the seed, so no group (question) is ever in two splits and a file can
//! be edited without reshuffling everything else.

use super::stable_hash;

/// Which part of the data a group belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// Used to fit steering vectors.
    Fit,
    /// Used to choose settings (strength, method).
    Validation,
    /// Held out for the final numbers.
    Test,
}

/// Shares of fit / validation / test, in percent (sum 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitFractions {
    /// Percent of groups in the fit part.
    pub fit: u32,
    /// Percent of groups in the validation part.
    pub validation: u32,
    /// Percent of groups in the test part.
    pub test: u32,
}

impl SplitFractions {
    /// Benchmark data: 60 / 20 / 20 (fit data for the steering vectors,
    /// validation to choose settings, test to report).
    pub const BENCHMARK: SplitFractions = SplitFractions {
        fit: 60,
        validation: 20,
        test: 20,
    };
    /// Inside `fit`: 80 / 20 fit / validation (METHOD.md), no test.
    pub const FIT: SplitFractions = SplitFractions {
        fit: 80,
        validation: 20,
        test: 0,
    };
}

/// The part of `group` under `seed`.
pub fn split_of(group: &str, seed: u64, f: SplitFractions) -> Part {
    debug_assert_eq!(f.fit + f.validation + f.test, 100);
    let h = stable_hash(&format!("{seed}:{group}"));
    let bucket = (h % 100) as u32;
    if bucket < f.fit {
        Part::Fit
    } else if bucket < f.fit + f.validation {
        Part::Validation
    } else {
        Part::Test
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_stable_disjoint_and_near_their_shares() {
        let groups: Vec<String> = (0..5000).map(|i| format!("question-{i}")).collect();
        let mut counts = [0usize; 3];
        for g in &groups {
            let p = split_of(g, 7, SplitFractions::BENCHMARK);
            assert_eq!(p, split_of(g, 7, SplitFractions::BENCHMARK), "stable");
            counts[p as usize] += 1;
        }
        assert!((2800..3200).contains(&counts[0]), "{counts:?}");
        assert!((850..1150).contains(&counts[1]), "{counts:?}");
        assert!((850..1150).contains(&counts[2]), "{counts:?}");
        let other: usize = groups
            .iter()
            .filter(|g| {
                split_of(g, 8, SplitFractions::BENCHMARK)
                    != split_of(g, 7, SplitFractions::BENCHMARK)
            })
            .count();
        assert!(other > 1000, "the seed matters");
    }
}
