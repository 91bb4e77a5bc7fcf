//! The ridge maps' sufficient statistics, accumulated as chunks of paired
//! token states arrive: per expert layer the sums and XᵀX, per target layer
//! the sums and squares, per (expert, target) layer pair XᵀY; all f64, all
//! on rows shifted by a per-layer reference (the first chunk's mean) so
//! that large activation means do not cancel away the variance later.
//! Memory is these matrices, never the rows: two folds (fit, held-out) of
//! `L_E·d_E² + P·d_E·d_T` floats.

use faer::linalg::matmul::{
    matmul,
    triangular::{self, BlockStructure},
};
use faer::{Accum, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};

/// One fold's statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldMoments {
    /// Rows accumulated.
    pub n: u64,
    /// Per expert layer: column sums `[d_E]` of the shifted rows.
    pub x_sum: Vec<Vec<f64>>,
    /// Per expert layer: XᵀX `[d_E, d_E]`, row-major, lower triangle valid.
    pub x_gram: Vec<Vec<f64>>,
    /// Per target layer: column sums `[d_T]`.
    pub y_sum: Vec<Vec<f64>>,
    /// Per target layer: column sums of squares `[d_T]`.
    pub y_sq: Vec<Vec<f64>>,
    /// Per pair: XᵀY `[d_E, d_T]`, row-major.
    pub xy: Vec<Vec<f64>>,
}

impl FoldMoments {
    fn zeros(n_x: usize, d_e: usize, n_y: usize, d_t: usize, n_pairs: usize) -> Self {
        FoldMoments {
            n: 0,
            x_sum: vec![vec![0.0; d_e]; n_x],
            x_gram: vec![vec![0.0; d_e * d_e]; n_x],
            y_sum: vec![vec![0.0; d_t]; n_y],
            y_sq: vec![vec![0.0; d_t]; n_y],
            xy: vec![vec![0.0; d_e * d_t]; n_pairs],
        }
    }

    /// The element-wise sum of two folds (for the final fit on all rows).
    pub fn plus(&self, other: &FoldMoments) -> FoldMoments {
        let add = |a: &Vec<Vec<f64>>, b: &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
            a.iter()
                .zip(b)
                .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p + q).collect())
                .collect()
        };
        FoldMoments {
            n: self.n + other.n,
            x_sum: add(&self.x_sum, &other.x_sum),
            x_gram: add(&self.x_gram, &other.x_gram),
            y_sum: add(&self.y_sum, &other.y_sum),
            y_sq: add(&self.y_sq, &other.y_sq),
            xy: add(&self.xy, &other.xy),
        }
    }
}

/// Statistics of every candidate layer pair, in two folds by text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapMoments {
    /// Expert hidden size d_E.
    pub d_e: usize,
    /// Target hidden size d_T.
    pub d_t: usize,
    /// Candidate expert layers (0-based blocks).
    pub expert_layers: Vec<usize>,
    /// Candidate target layers.
    pub target_layers: Vec<usize>,
    /// Candidate pairs as (index into `expert_layers`, index into `target_layers`).
    pub pairs: Vec<(usize, usize)>,
    /// Per expert layer: the shift subtracted from every row (empty until set).
    pub x_shift: Vec<Vec<f64>>,
    /// Per target layer: the shift.
    pub y_shift: Vec<Vec<f64>>,
    /// Fold 0 fits the maps, fold 1 is held out to choose the ridge.
    pub folds: [FoldMoments; 2],
}

/// One chunk of paired rows: per candidate expert layer `[rows, d_E]` and
/// per candidate target layer `[rows, d_T]`, row-major f32 as captured.
pub struct Chunk<'a> {
    /// Number of rows.
    pub rows: usize,
    /// Per expert layer, `rows · d_E` floats.
    pub x: Vec<&'a [f32]>,
    /// Per target layer, `rows · d_T` floats.
    pub y: Vec<&'a [f32]>,
}

impl MapMoments {
    /// Empty statistics for these layers and pairs.
    pub fn new(
        d_e: usize,
        d_t: usize,
        expert_layers: Vec<usize>,
        target_layers: Vec<usize>,
        pairs: Vec<(usize, usize)>,
    ) -> Self {
        let (nx, ny, np) = (expert_layers.len(), target_layers.len(), pairs.len());
        MapMoments {
            d_e,
            d_t,
            expert_layers,
            target_layers,
            pairs,
            x_shift: Vec::new(),
            y_shift: Vec::new(),
            folds: [
                FoldMoments::zeros(nx, d_e, ny, d_t, np),
                FoldMoments::zeros(nx, d_e, ny, d_t, np),
            ],
        }
    }

    /// Rows accumulated in both folds.
    pub fn rows(&self) -> u64 {
        self.folds[0].n + self.folds[1].n
    }

    /// Adds a chunk to `fold` (0 or 1), using `par` for the products.
    pub fn add(&mut self, fold: usize, chunk: &Chunk<'_>, par: Par) {
        let (r, d_e, d_t) = (chunk.rows, self.d_e, self.d_t);
        if r == 0 {
            return;
        }
        assert_eq!(chunk.x.len(), self.expert_layers.len(), "expert layers");
        assert_eq!(chunk.y.len(), self.target_layers.len(), "target layers");
        if self.x_shift.is_empty() {
            self.x_shift = chunk.x.iter().map(|x| col_means(x, r, d_e)).collect();
            self.y_shift = chunk.y.iter().map(|y| col_means(y, r, d_t)).collect();
        }
        let xs: Vec<Vec<f64>> = chunk
            .x
            .iter()
            .zip(&self.x_shift)
            .map(|(x, s)| shifted(x, s))
            .collect();
        let ys: Vec<Vec<f64>> = chunk
            .y
            .iter()
            .zip(&self.y_shift)
            .map(|(y, s)| shifted(y, s))
            .collect();
        let f = &mut self.folds[fold];
        f.n += r as u64;
        for (k, x) in xs.iter().enumerate() {
            add_col_sums(&mut f.x_sum[k], x, d_e, false);
            let xm = MatRef::from_row_major_slice(x, r, d_e);
            triangular::matmul(
                MatMut::from_row_major_slice_mut(&mut f.x_gram[k], d_e, d_e),
                BlockStructure::TriangularLower,
                Accum::Add,
                xm.transpose(),
                BlockStructure::Rectangular,
                xm,
                BlockStructure::Rectangular,
                1.0,
                par,
            );
        }
        for (k, y) in ys.iter().enumerate() {
            add_col_sums(&mut f.y_sum[k], y, d_t, false);
            add_col_sums(&mut f.y_sq[k], y, d_t, true);
        }
        for (p, &(a, b)) in self.pairs.iter().enumerate() {
            matmul(
                MatMut::from_row_major_slice_mut(&mut f.xy[p], d_e, d_t),
                Accum::Add,
                MatRef::from_row_major_slice(&xs[a], r, d_e).transpose(),
                MatRef::from_row_major_slice(&ys[b], r, d_t),
                1.0,
                par,
            );
        }
    }
}

fn col_means(x: &[f32], rows: usize, d: usize) -> Vec<f64> {
    let mut m = vec![0.0; d];
    for row in x.chunks_exact(d) {
        m.iter_mut().zip(row).for_each(|(a, &v)| *a += v as f64);
    }
    m.iter_mut().for_each(|a| *a /= rows as f64);
    m
}

fn shifted(x: &[f32], shift: &[f64]) -> Vec<f64> {
    let d = shift.len();
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(d) {
        out.extend(row.iter().zip(shift).map(|(&v, s)| v as f64 - s));
    }
    out
}

fn add_col_sums(acc: &mut [f64], x: &[f64], d: usize, squares: bool) {
    for row in x.chunks_exact(d) {
        if squares {
            acc.iter_mut().zip(row).for_each(|(a, v)| *a += v * v);
        } else {
            acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_moments_equal_the_batch_ones() {
        let (d_e, d_t, n) = (3, 2, 7);
        let x: Vec<f32> = (0..n * d_e).map(|i| ((i * 7 % 11) as f32) - 3.0).collect();
        let y: Vec<f32> = (0..n * d_t).map(|i| ((i * 5 % 13) as f32) * 0.5).collect();
        let mut m = MapMoments::new(d_e, d_t, vec![4], vec![9], vec![(0, 0)]);
        // Two chunks: 3 rows then 4.
        for (lo, hi) in [(0, 3), (3, 7)] {
            let chunk = Chunk {
                rows: hi - lo,
                x: vec![&x[lo * d_e..hi * d_e]],
                y: vec![&y[lo * d_t..hi * d_t]],
            };
            m.add(0, &chunk, Par::Seq);
        }
        let f = &m.folds[0];
        assert_eq!(f.n, 7);
        assert_eq!(m.folds[1].n, 0);
        // Recompute from the shifted rows directly.
        let sx = &m.x_shift[0];
        let sy = &m.y_shift[0];
        for a in 0..d_e {
            for b in 0..=a {
                let want: f64 = (0..n)
                    .map(|i| (x[i * d_e + a] as f64 - sx[a]) * (x[i * d_e + b] as f64 - sx[b]))
                    .sum();
                assert!((f.x_gram[0][a * d_e + b] - want).abs() < 1e-9);
            }
            for c in 0..d_t {
                let want: f64 = (0..n)
                    .map(|i| (x[i * d_e + a] as f64 - sx[a]) * (y[i * d_t + c] as f64 - sy[c]))
                    .sum();
                assert!((f.xy[0][a * d_t + c] - want).abs() < 1e-9);
            }
        }
        let sq: f64 = (0..n)
            .map(|i| (y[i * d_t + 1] as f64 - sy[1]).powi(2))
            .sum();
        assert!((f.y_sq[0][1] - sq).abs() < 1e-9);
        let both = f.plus(&m.folds[1]);
        assert_eq!(&both, f);
    }
}
