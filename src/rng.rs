//! Deterministic random numbers for initialisation, shuffling, splits and tests.
//!
//! SplitMix64 (Steele, Lea, Flood 2014) for integers and Box–Muller for
//! Gaussians: small, seedable and identical on every platform, so a seed in a
//! steering file reproduces the same split and the same initial weights.

use ndarray::Array2;

/// SplitMix64 generator with a cached second Box–Muller variate.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
    spare_gaussian: Option<f64>,
}

impl SplitMix64 {
    /// A generator started from `seed`; equal seeds give equal streams.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare_gaussian: None,
        }
    }

    /// Next 64 uniformly distributed bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in 0..n (n > 0). Multiply-shift: bias below 2^-64 · n, irrelevant here.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Standard normal variate (Box–Muller; every second call is free).
    pub fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare_gaussian.take() {
            return z;
        }
        // 1 - u keeps the logarithm's argument in (0, 1].
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        self.spare_gaussian = Some(r * theta.sin());
        r * theta.cos()
    }

    /// Fisher–Yates shuffle in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// Matrix of independent standard normals, f64.
    pub fn gaussian_matrix(&mut self, rows: usize, cols: usize) -> Array2<f64> {
        Array2::from_shape_simple_fn((rows, cols), || self.gaussian())
    }

    /// Matrix of independent standard normals, f32 (for synthetic hidden states).
    pub fn gaussian_matrix_f32(&mut self, rows: usize, cols: usize) -> Array2<f32> {
        Array2::from_shape_simple_fn((rows, cols), || self.gaussian() as f32)
    }
}

/// Seeded split of `0..n` into (fit, validation) row indices, each sorted.
///
/// The validation part has `round(n · val_fraction)` rows (METHOD.md: 80/20,
/// `val_fraction = 0.2`); sorting keeps the rows in their file order.
pub fn split_fit_val(n: usize, val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    SplitMix64::new(seed).shuffle(&mut idx);
    let n_val = ((n as f64) * val_fraction.clamp(0.0, 1.0)).round() as usize;
    let mut val = idx[..n_val].to_vec();
    let mut fit = idx[n_val..].to_vec();
    val.sort_unstable();
    fit.sort_unstable();
    (fit, val)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_gives_same_stream_and_gaussians_have_unit_variance() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| a.gaussian()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }

    #[test]
    fn split_is_a_partition_of_the_requested_sizes() {
        let (fit, val) = split_fit_val(101, 0.2, 3);
        assert_eq!(val.len(), 20);
        assert_eq!(fit.len(), 81);
        let mut all: Vec<usize> = fit.iter().chain(val.iter()).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..101).collect::<Vec<_>>());
    }
}
