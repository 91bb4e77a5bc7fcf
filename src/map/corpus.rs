//! The generic corpus a map is fitted on: text outside every evaluation set
//! and concept file. Prose: the MMLU questions of [`GENERIC_SUBJECTS`] with
//! their options (subjects no evaluation uses). Code: Python source files
//! (by default the standard library of the `python3` on PATH), cut at line
//! breaks into pieces that fit one decode. The two are interleaved so that
//! any prefix of the corpus (the learning curve's sizes) holds both.
//!
//! `map`'s default adds everyday prose sampled from the target
//! ([`crate::map::sampled`]) and mixes the three by bytes
//! ([`SAMPLED_SHARE`], [`CODE_SHARE`], the rest MMLU), so that any prefix
//! holds each in its share: [`mixed_corpus`].
//!
//! [`GENERIC_SUBJECTS`]: crate::corpus::GENERIC_SUBJECTS

use crate::map::positions::split_text;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Largest piece of code text, in bytes (about 300-500 tokens).
pub const MAX_PIECE_BYTES: usize = 1500;
/// Code read at most, in bytes (far more than 200k tokens' worth).
pub const MAX_CODE_BYTES: usize = 4 << 20;

/// Folders of a source tree that are not read: tests (they quote other
/// languages and binary blobs), vendored packages and caches.
const SKIP_DIRS: &[&str] = &[
    "test",
    "tests",
    "idlelib",
    "site-packages",
    "__pycache__",
    "turtledemo",
    "lib2to3",
];

/// The prose half: generic MMLU questions with lettered options.
pub fn prose_texts() -> Result<Vec<String>> {
    let subjects: Vec<String> = crate::corpus::GENERIC_SUBJECTS
        .iter()
        .map(|s| s.to_string())
        .collect();
    Ok(crate::corpus::load_mmlu(&subjects)?
        .iter()
        .map(|q| {
            let mut s = format!("Question: {}", q.question.trim());
            for (k, o) in q.options.iter().enumerate() {
                s.push_str(&format!("\n{}. {}", (b'A' + k as u8) as char, o.trim()));
            }
            s
        })
        .collect())
}

/// The standard library folder of the `python3` on PATH, if any.
pub fn python_stdlib() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && dir.is_dir()).then_some(dir)
}

/// Pieces of the `.py` files under `root` (sorted paths, so the same tree
/// gives the same pieces), at most [`MAX_CODE_BYTES`] in all.
pub fn code_texts(root: &Path) -> Result<Vec<String>> {
    let mut files = Vec::new();
    collect_py(root, &mut files)?;
    files.sort();
    let mut out = Vec::new();
    let mut total = 0usize;
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue; // not UTF-8
        };
        for piece in split_text(&text, MAX_PIECE_BYTES)? {
            total += piece.len();
            out.push(piece);
        }
        if total >= MAX_CODE_BYTES {
            break;
        }
    }
    if out.is_empty() {
        return Err(Error::Input(format!(
            "{}: no Python source files",
            root.display()
        )));
    }
    Ok(out)
}

fn collect_py(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_dir() && !SKIP_DIRS.contains(&name.as_str()) && !name.starts_with('.') {
            collect_py(&p, out)?;
        } else if ft.is_file() && name.ends_with(".py") {
            out.push(p);
        }
    }
    Ok(())
}

/// Alternates `a` and `b` (a first) until one runs out, then the rest.
pub fn interleave(a: Vec<String>, b: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter(), b.into_iter());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

/// Share of the mixed corpus's bytes that is sampled everyday prose.
pub const SAMPLED_SHARE: f64 = 0.5;
/// Share of the mixed corpus's bytes that is code (when code is given).
pub const CODE_SHARE: f64 = 0.3;

/// Takes texts from `sources` (texts, share) one at a time, each time from
/// the source furthest below its share of the bytes taken so far (ties to
/// the first), until all run out: any prefix holds each source in its share
/// while it lasts.
pub fn mix_by_bytes(sources: Vec<(Vec<String>, f64)>) -> Vec<String> {
    let mut taken = vec![0usize; sources.len()];
    let shares: Vec<f64> = sources.iter().map(|(_, w)| *w).collect();
    let mut iters: Vec<_> = sources
        .into_iter()
        .map(|(t, _)| t.into_iter().peekable())
        .collect();
    let mut out = Vec::new();
    loop {
        let next = (0..iters.len())
            .filter(|&i| shares[i] > 0.0 && iters[i].peek().is_some())
            .min_by(|&a, &b| {
                let (ra, rb) = (taken[a] as f64 / shares[a], taken[b] as f64 / shares[b]);
                ra.total_cmp(&rb).then(a.cmp(&b))
            });
        let Some(i) = next else { return out };
        let t = iters[i].next().unwrap_or_default();
        taken[i] += t.len();
        out.push(t);
    }
}

/// `map`'s default corpus: `sampled` prose, code from `code_root` when
/// given and the generic MMLU prose, mixed by [`mix_by_bytes`] at
/// [`SAMPLED_SHARE`] and [`CODE_SHARE`] (without code, MMLU takes its
/// share).
pub fn mixed_corpus(sampled: Vec<String>, code_root: Option<&Path>) -> Result<Vec<String>> {
    let code = match code_root {
        Some(root) => code_texts(root)?,
        None => Vec::new(),
    };
    let code_share = if code.is_empty() { 0.0 } else { CODE_SHARE };
    Ok(mix_by_bytes(vec![
        (sampled, SAMPLED_SHARE),
        (code, code_share),
        (prose_texts()?, 1.0 - SAMPLED_SHARE - code_share),
    ]))
}

/// The corpus before sampled prose (`map --sample 0`): MMLU prose, and code
/// from `code_root` when given, interleaved one text each.
pub fn generic_corpus(code_root: Option<&Path>) -> Result<Vec<String>> {
    let prose = prose_texts()?;
    match code_root {
        Some(root) => Ok(interleave(prose, code_texts(root)?)),
        None => Ok(prose),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_keeps_everything_in_order() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            interleave(s(&["a", "b", "c"]), s(&["1"])),
            s(&["a", "1", "b", "c"])
        );
        assert_eq!(interleave(s(&[]), s(&["1", "2"])), s(&["1", "2"]));
    }

    #[test]
    fn mixing_by_bytes_keeps_each_share_in_every_prefix_and_loses_nothing() {
        let texts = |n: usize, len: usize, c: char| -> Vec<String> {
            (0..n).map(|_| c.to_string().repeat(len)).collect()
        };
        // a: 10-byte texts at half; b: 30-byte texts at 0.3; c: 5-byte at 0.2.
        let mixed = mix_by_bytes(vec![
            (texts(100, 10, 'a'), 0.5),
            (texts(20, 30, 'b'), 0.3),
            (texts(40, 5, 'c'), 0.2),
        ]);
        assert_eq!(mixed.len(), 160);
        let bytes = |upto: usize, c: char| -> usize {
            mixed[..upto]
                .iter()
                .filter(|t| t.starts_with(c))
                .map(String::len)
                .sum()
        };
        // While all three last (c runs out first, near text 100), each prefix
        // is within one text of its share.
        for upto in [10, 30, 45] {
            let total: usize = mixed[..upto].iter().map(String::len).sum();
            for (c, share, len) in [('a', 0.5, 10.0), ('b', 0.3, 30.0), ('c', 0.2, 5.0)] {
                let got = bytes(upto, c) as f64;
                assert!(
                    (got - share * total as f64).abs() <= len + 30.0 * share,
                    "prefix {upto}: {c} has {got} of {total} bytes"
                );
            }
        }
        assert_eq!(mixed[0], "a".repeat(10), "ties go to the first source");
        // A zero share takes nothing; an empty source is skipped.
        let only = mix_by_bytes(vec![
            (texts(2, 1, 'x'), 0.0),
            (vec![], 0.5),
            (texts(3, 1, 'y'), 0.5),
        ]);
        assert_eq!(only, texts(3, 1, 'y'));
    }

    #[test]
    fn code_pieces_come_from_py_files_outside_tests() {
        let dir = std::env::temp_dir().join(format!("es-corpus-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("pkg/tests")).unwrap();
        std::fs::write(dir.join("pkg/a.py"), "def f():\n    return 1\n").unwrap();
        std::fs::write(dir.join("pkg/tests/t.py"), "assert False\n").unwrap();
        std::fs::write(dir.join("pkg/notes.txt"), "not code\n").unwrap();
        let texts = code_texts(&dir).unwrap();
        assert_eq!(texts, vec!["def f():\n    return 1\n".to_string()]);
        assert!(code_texts(&dir.join("pkg/tests/none")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
