//! Python functions from outside HumanEval: the top-level functions of
//! `more-itertools==10.5.0` (MIT licence; `more.py` and `recipes.py` of its
//! wheel, downloaded once from the registry), docstrings removed. They are
//! real library code written by people other than HumanEval's authors, so
//! a code direction fitted on them can be scored on all 164 problems. The
//! docstrings go because they are English prose (often longer than the
//! code): the texts are to stand for code against prose.

use expertsteer::registry::cached_member;
use expertsteer::{Error, Result};
use std::path::PathBuf;

const PACKAGE: &str = "more-itertools";
const VERSION: &str = "10.5.0";
const MEMBERS: &[&str] = &["more_itertools/more.py", "more_itertools/recipes.py"];

/// Functions shorter than this (bytes, docstring removed) are skipped: a
/// one-line wrapper says little about code.
pub const MIN_CHARS: usize = 150;
/// Longer functions are cut at the last line break before this.
pub const MAX_CHARS: usize = 1200;

/// One function's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyFunction {
    /// `more.py:chunked`.
    pub id: String,
    /// `def ...` through its last line, without its docstring (cut at
    /// [`MAX_CHARS`]).
    pub source: String,
}

fn member_file(member: &str) -> Result<PathBuf> {
    let name = member.rsplit('/').next().unwrap_or(member);
    cached_member(
        &expertsteer::cache::data_dir().join("pycode"),
        &format!("{PACKAGE}-{VERSION}-{name}"),
        PACKAGE,
        VERSION,
        member,
        &format!("MIT licence, for {member}"),
    )
    .map_err(|e| Error::Input(format!("{PACKAGE}=={VERSION} {member}: {e}")))
}

/// The top-level functions of the pinned package with at least
/// [`MIN_CHARS`] bytes of code, in file order.
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
/// line before the next line that starts in column 0 (trailing blank lines
/// dropped), the docstring removed. Functions of [`MIN_CHARS`] or more are
/// kept; longer ones are cut at [`MAX_CHARS`].
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
        let body = without_docstring(&lines[i..end]);
        let source = body.join("\n") + "\n";
        if source.len() >= MIN_CHARS && !name.is_empty() {
            out.push(PyFunction {
                id: format!("{file}:{name}"),
                source: cut_at_line(&source, MAX_CHARS),
            });
        }
        i = j;
    }
    out
}

/// The function's lines without the docstring: the string literal that
/// opens the body, right after the signature (which may span lines).
fn without_docstring<'a>(f: &[&'a str]) -> Vec<&'a str> {
    let mut depth = 0i32;
    let mut sig_end = None;
    for (k, l) in f.iter().enumerate() {
        depth += l.matches(['(', '[']).count() as i32 - l.matches([')', ']']).count() as i32;
        if depth <= 0 && l.trim_end().ends_with(':') {
            sig_end = Some(k);
            break;
        }
    }
    let Some(k) = sig_end else {
        return f.to_vec();
    };
    let Some(first) = f.get(k + 1) else {
        return f.to_vec();
    };
    let t = first.trim_start().trim_start_matches(['r', 'R', 'u', 'U']);
    let Some(quote) = ["\"\"\"", "'''"].into_iter().find(|q| t.starts_with(q)) else {
        return f.to_vec();
    };
    let rest = &t[3..];
    let close = if rest.contains(quote) {
        Some(k + 1)
    } else {
        (k + 2..f.len()).find(|&m| f[m].contains(quote))
    };
    match close {
        Some(c) => f[..=k].iter().chain(&f[c + 1..]).copied().collect(),
        None => f.to_vec(),
    }
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

    const MODULE: &str = "import x\n\n\ndef documented(a, b,\n               c=(1, 2)):\n    \"\"\"Add a and b.\n    \"\"\"\n\n    total = a + b + 1000000 + 2000000 + 3000000 + 4000000 + 5000000 + 6000000 + 7000000\n    return total\n\n\ndef bare(a):\n    return a * 2 + 1 - 1 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0 + 0\n\nclass C:\n    def method(self):\n        \"\"\"Not top level.\"\"\"\n\ndef short():\n    \"\"\"Tiny.\"\"\"\n";

    #[test]
    fn keeps_top_level_functions_without_their_docstrings() {
        let fs = top_level_functions(MODULE, "m.py");
        let ids: Vec<&str> = fs.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, vec!["m.py:documented", "m.py:bare"], "{fs:?}");
        assert_eq!(
            fs[0].source,
            "def documented(a, b,\n               c=(1, 2)):\n\n    total = a + b + 1000000 + 2000000 + 3000000 + 4000000 + 5000000 + 6000000 + 7000000\n    return total\n",
            "the docstring goes, inner blank lines stay"
        );
    }

    #[test]
    fn long_functions_are_cut_at_a_line_break() {
        let body: String = (0..200).map(|i| format!("    x{i} = {i}\n")).collect();
        let module = format!("def long():\n    r\"\"\"Doc.\"\"\"\n{body}");
        let fs = top_level_functions(&module, "m.py");
        assert_eq!(fs.len(), 1);
        assert!(fs[0].source.len() <= MAX_CHARS);
        assert!(fs[0].source.ends_with('\n'));
        assert!(
            fs[0].source.starts_with("def long():\n    x0 = 0\n"),
            "one-line docstring removed"
        );
    }
}
