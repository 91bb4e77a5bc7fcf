//! `map --dump-rows DIR`: the paired rows themselves, for maps fitted
//! outside the ridge (the non-linear ablation). One file of raw
//! little-endian f32 per candidate layer (`expert.L<l>.f32`,
//! `target.L<l>.f32`, row-major), one of u32 text indices (`text.u32`,
//! the held-out fold is every fifth text), and `rows.json` with the shapes.
//! Rows are appended as decodes arrive; a resumed run cuts every file back
//! to its checkpoint's row count, so the dump matches an uninterrupted one.

use crate::atomic_file::write_atomic_with;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// `rows.json`: what the row files hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DumpMeta {
    /// The run the rows belong to (its checkpoint key: both models, the
    /// corpus, the layers and settings), so a dump is never resumed by
    /// another run of the same shapes.
    pub run: String,
    /// Width of an expert row.
    pub d_expert: usize,
    /// Width of a target row.
    pub d_target: usize,
    /// Expert layers, one file each.
    pub expert_layers: Vec<usize>,
    /// Target layers, one file each.
    pub target_layers: Vec<usize>,
    /// Target rows permuted within each decode (the shuffled control).
    pub shuffled: bool,
    /// Each text's first N target positions left out.
    pub skip_first: usize,
    /// Every `held_out_every`-th text (index % n == n - 1) is held out.
    pub held_out_every: usize,
    /// Rows written at the last sync.
    pub rows: u64,
}

impl DumpMeta {
    /// The same run, shapes and settings (the row count aside).
    fn same_layout(&self, other: &DumpMeta) -> bool {
        DumpMeta {
            rows: 0,
            ..self.clone()
        } == DumpMeta {
            rows: 0,
            ..other.clone()
        }
    }
}

/// Bytes one row takes: every expert and target layer's state and the
/// text index.
pub fn row_bytes(expert_layers: usize, target_layers: usize, d_e: usize, d_t: usize) -> u64 {
    4 * (expert_layers * d_e + target_layers * d_t + 1) as u64
}

/// An open dump.
pub struct RowDump {
    dir: PathBuf,
    meta: DumpMeta,
    expert: Vec<BufWriter<File>>,
    target: Vec<BufWriter<File>>,
    text: BufWriter<File>,
}

impl RowDump {
    /// Opens `dir` for a run that has `meta.rows` rows already (its
    /// checkpoint): a fresh run empties the files, a resumed one cuts them
    /// back to that count. Refuses a dump of other shapes, or one shorter
    /// than the checkpoint (it did not start with the run).
    pub fn open(dir: &Path, meta: DumpMeta) -> Result<RowDump> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let meta_path = dir.join("rows.json");
        if meta_path.exists() {
            let old: DumpMeta = std::fs::read(&meta_path)
                .map_err(|e| Error::io(&meta_path, e))
                .and_then(|b| {
                    serde_json::from_slice(&b)
                        .map_err(|e| Error::Input(format!("{}: {e}", meta_path.display())))
                })?;
            if !old.same_layout(&meta) {
                return Err(Error::Input(format!(
                    "{}: a row dump of another run (other models, texts, layers or settings) is there; give another --dump-rows folder",
                    dir.display()
                )));
            }
        } else if meta.rows > 0 {
            return Err(Error::Input(format!(
                "{}: no row dump to resume, but the run resumes at {} rows; a dump starts with its run \
                 (give a new --state, or no --dump-rows)",
                dir.display(),
                meta.rows
            )));
        }
        let open = |name: String, width: usize| -> Result<BufWriter<File>> {
            let path = dir.join(name);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| Error::io(&path, e))?;
            let want = meta.rows * (width as u64) * 4;
            let have = f.metadata().map_err(|e| Error::io(&path, e))?.len();
            if have < want {
                return Err(Error::Input(format!(
                    "{}: holds {} rows, the run resumes at {}; a dump starts with its run",
                    path.display(),
                    have / (width as u64 * 4).max(1),
                    meta.rows
                )));
            }
            f.set_len(want).map_err(|e| Error::io(&path, e))?;
            Ok(BufWriter::with_capacity(1 << 20, f))
        };
        let expert = meta
            .expert_layers
            .iter()
            .map(|l| open(format!("expert.L{l}.f32"), meta.d_expert))
            .collect::<Result<Vec<_>>>()?;
        let target = meta
            .target_layers
            .iter()
            .map(|l| open(format!("target.L{l}.f32"), meta.d_target))
            .collect::<Result<Vec<_>>>()?;
        let text = open("text.u32".into(), 1)?;
        let mut dump = RowDump {
            dir: dir.to_path_buf(),
            meta,
            expert,
            target,
            text,
        };
        dump.sync(dump.meta.rows)?;
        Ok(dump)
    }

    /// Appends rows: `x[k]` holds the rows of expert layer k, `y[k]` of
    /// target layer k (row-major), `texts` each row's text index.
    pub fn append(&mut self, x: &[&[f32]], y: &[&[f32]], texts: &[u32]) -> Result<()> {
        let n = texts.len();
        let (d_e, d_t) = (self.meta.d_expert, self.meta.d_target);
        debug_assert!(x.iter().all(|v| v.len() == n * d_e));
        debug_assert!(y.iter().all(|v| v.len() == n * d_t));
        let dir = self.dir.clone();
        let io = |e| Error::io(&dir, e);
        for (w, v) in self
            .expert
            .iter_mut()
            .zip(x)
            .chain(self.target.iter_mut().zip(y))
        {
            for f in v.iter() {
                w.write_all(&f.to_le_bytes()).map_err(io)?;
            }
        }
        for t in texts {
            self.text.write_all(&t.to_le_bytes()).map_err(io)?;
        }
        Ok(())
    }

    /// Flushes every file and records `rows` in `rows.json` (call with the
    /// row count the checkpoint is about to record).
    pub fn sync(&mut self, rows: u64) -> Result<()> {
        for w in self.expert.iter_mut().chain(self.target.iter_mut()) {
            w.flush().map_err(|e| Error::io(&self.dir, e))?;
        }
        self.text.flush().map_err(|e| Error::io(&self.dir, e))?;
        self.meta.rows = rows;
        let path = self.dir.join("rows.json");
        let bytes = serde_json::to_vec_pretty(&self.meta).expect("plain data");
        write_atomic_with(&path, |w| {
            w.write_all(&bytes).map_err(|e| Error::io(&path, e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(rows: u64) -> DumpMeta {
        DumpMeta {
            run: "run-a".into(),
            d_expert: 3,
            d_target: 2,
            expert_layers: vec![1, 4],
            target_layers: vec![7],
            shuffled: false,
            skip_first: 0,
            held_out_every: 5,
            rows,
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("es-dump-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn floats(path: &Path) -> Vec<f32> {
        std::fs::read(path)
            .unwrap()
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn rows_append_resume_cuts_back_and_other_layouts_are_refused() {
        let d = scratch("resume");
        let mut w = RowDump::open(&d, meta(0)).unwrap();
        let x1: Vec<f32> = (0..6).map(|i| i as f32).collect();
        let x4: Vec<f32> = (10..16).map(|i| i as f32).collect();
        let y7 = [0.5f32, 1.5, 2.5, 3.5];
        w.append(&[&x1, &x4], &[&y7], &[3, 4]).unwrap();
        w.sync(2).unwrap();
        // Rows after the last checkpoint are cut when the run resumes there.
        w.append(&[&x1, &x4], &[&y7], &[5, 6]).unwrap();
        w.sync(4).unwrap();
        drop(w);
        assert_eq!(floats(&d.join("expert.L1.f32")).len(), 12);
        let mut w = RowDump::open(&d, meta(2)).unwrap();
        assert_eq!(floats(&d.join("expert.L4.f32")), x4);
        assert_eq!(floats(&d.join("target.L7.f32")), y7);
        let t = std::fs::read(d.join("text.u32")).unwrap();
        assert_eq!(
            t,
            [3u32, 4]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>()
        );
        w.append(&[&x4, &x1], &[&y7], &[9, 9]).unwrap();
        w.sync(4).unwrap();
        drop(w);
        let mut both = x1.clone();
        both.extend(&x4);
        assert_eq!(floats(&d.join("expert.L1.f32")), both);
        let said: DumpMeta =
            serde_json::from_slice(&std::fs::read(d.join("rows.json")).unwrap()).unwrap();
        assert_eq!(said.rows, 4);

        // A resume past what the files hold, and other layers, are refused.
        let e = RowDump::open(&d, meta(9)).err().unwrap().to_string();
        assert!(e.contains("holds 4 rows"), "{e}");
        let mut other = meta(0);
        other.target_layers = vec![8];
        let e = RowDump::open(&d, other).err().unwrap().to_string();
        assert!(e.contains("another run"), "{e}");
        // ...and so is another run of the same shapes.
        let mut other = meta(0);
        other.run = "run-b".into();
        let e = RowDump::open(&d, other).err().unwrap().to_string();
        assert!(e.contains("another run"), "{e}");
        assert_eq!(row_bytes(2, 1, 3, 2), 4 * (2 * 3 + 2 + 1));
        // No dump to resume while the run resumes mid-way.
        let e = RowDump::open(&scratch("none"), meta(3))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("starts with its run"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
