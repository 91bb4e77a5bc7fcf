//! Statistics for the evaluation: bootstrap and Wilson confidence
//! intervals over questions, McNemar's paired test, and Holm's correction.

use expertsteer::rng::SplitMix64;

/// Mean and 95% percentile-bootstrap interval of 0/1 outcomes.
pub fn bootstrap_ci(correct: &[bool], resamples: usize, seed: u64) -> (f64, f64, f64) {
    let n = correct.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    let mean = correct.iter().filter(|c| **c).count() as f64 / n as f64;
    let mut rng = SplitMix64::new(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).filter(|_| correct[rng.below(n)]).count() as f64 / n as f64)
        .collect();
    means.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| means[((p * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    (mean, q(0.025), q(0.975))
}

/// 95% Wilson score interval of `k` successes in `n` trials: unlike the
/// normal approximation it stays inside [0, 1] and is not empty at 0 or n.
/// (NaN, NaN) when n = 0.
pub fn wilson_ci(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    const Z: f64 = 1.959_963_984_540_054; // the 97.5% normal quantile
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z * Z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Exact two-sided McNemar test on paired outcomes (a = baseline, b =
/// method): p-value of the discordant counts under Binomial(n, 1/2).
pub fn mcnemar(a: &[bool], b: &[bool]) -> (usize, usize, f64) {
    let only_a = a.iter().zip(b).filter(|(x, y)| **x && !**y).count();
    let only_b = a.iter().zip(b).filter(|(x, y)| !**x && **y).count();
    let n = only_a + only_b;
    if n == 0 {
        return (only_a, only_b, 1.0);
    }
    let k = only_a.min(only_b);
    // P(X ≤ k) for X ~ Bin(n, 1/2), summed in log space.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_choose = 0.0f64; // ln C(n, 0)
    let mut tail = 0.0;
    for i in 0..=k {
        if i > 0 {
            ln_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_choose + ln_half_n).exp();
    }
    (only_a, only_b, (2.0 * tail).min(1.0))
}

/// Holm–Bonferroni adjusted p-values, in the input order.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&i, &j| p[i].total_cmp(&p[j]));
    let mut out = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &i) in order.iter().enumerate() {
        let adj = ((m - rank) as f64 * p[i]).min(1.0);
        running = running.max(adj);
        out[i] = running;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_of_a_known_proportion() {
        // 60 of 100 correct: the normal approximation gives ±0.096.
        let v: Vec<bool> = (0..100).map(|i| i < 60).collect();
        let (m, lo, hi) = bootstrap_ci(&v, 4000, 1);
        assert!((m - 0.6).abs() < 1e-12);
        assert!((lo - 0.504).abs() < 0.025, "{lo}");
        assert!((hi - 0.696).abs() < 0.025, "{hi}");
        let all: Vec<bool> = vec![true; 10];
        assert_eq!(bootstrap_ci(&all, 100, 1), (1.0, 1.0, 1.0));
    }

    #[test]
    fn wilson_matches_published_values() {
        // Closed form evaluated independently (Python); 81/263 is
        // Newcombe's (1998) worked example, 0.2553-0.3662.
        let close =
            |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() < 5e-4 && (a.1 - b.1).abs() < 5e-4;
        assert!(
            close(wilson_ci(5, 10), (0.2366, 0.7634)),
            "{:?}",
            wilson_ci(5, 10)
        );
        assert!(
            close(wilson_ci(0, 10), (0.0, 0.2775)),
            "{:?}",
            wilson_ci(0, 10)
        );
        assert!(
            close(wilson_ci(81, 263), (0.2553, 0.3662)),
            "{:?}",
            wilson_ci(81, 263)
        );
        let (lo, hi) = wilson_ci(10, 10);
        assert!(
            (hi - 1.0).abs() < 1e-12 && (lo - 0.7225).abs() < 5e-4,
            "{lo}"
        );
        assert!(wilson_ci(0, 0).0.is_nan());
    }

    #[test]
    fn mcnemar_matches_the_binomial_tail() {
        // 10 discordant pairs split 8/2: p = 2 * P(X <= 2), X ~ Bin(10, .5) = 2 * 56/1024.
        let a: Vec<bool> = (0..20).map(|i| !(8..12).contains(&i)).collect();
        let b: Vec<bool> = (0..20).map(|i| (8..10).contains(&i) || i >= 12).collect();
        let (oa, ob, p) = mcnemar(&a, &b);
        assert_eq!((oa, ob), (8, 2));
        assert!((p - 2.0 * 56.0 / 1024.0).abs() < 1e-12, "{p}");
        assert_eq!(mcnemar(&a, &a).2, 1.0);
    }

    #[test]
    fn holm_adjusts_in_order_and_stays_monotone() {
        let adj = holm(&[0.01, 0.04, 0.03]);
        assert!((adj[0] - 0.03).abs() < 1e-12);
        assert!((adj[2] - 0.06).abs() < 1e-12);
        assert!((adj[1] - 0.06).abs() < 1e-12);
    }
}
