//! Small textual mutations of a Python solution (mutation testing's
//! classic operators): a comparison flipped, `+` for `-`, `and` for `or`,
//! `True` for `False`, a constant off by one. Each mutant changes exactly
//! one site. Whether a mutant is *wrong* is not decided here: the caller
//! runs the official tests on it (see [`super::labels`]).

use expertsteer::rng::SplitMix64;

/// The operators, longest first so that `<=` is never read as `<`.
/// Keywords carry their spaces so that names such as `order` or `land`
/// are not touched.
const OPERATORS: &[(&str, &str)] = &[
    ("==", "!="),
    ("!=", "=="),
    ("<=", "<"),
    (">=", ">"),
    ("+=", "-="),
    ("-=", "+="),
    ("//", "/"),
    ("<", "<="),
    (">", ">="),
    ("+", "-"),
    ("-", "+"),
    (" and ", " or "),
    (" or ", " and "),
    (" not ", " "),
    ("True", "False"),
    ("False", "True"),
    ("0", "1"),
    ("1", "0"),
    ("2", "3"),
];

/// One mutant: where it differs and the whole mutated text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutant {
    /// Byte offset of the changed site in the original.
    pub at: usize,
    /// What was replaced, and by what (`"<="` → `"<"`).
    pub from: &'static str,
    /// The replacement.
    pub to: &'static str,
    /// The mutated text.
    pub text: String,
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Every single-site mutant of `code`, in text order. Sites inside a
/// `#` comment are skipped; digits count only as a whole number literal
/// (not inside a name such as `x1` or a longer number), `True`/`False` only
/// as whole words, `->` and `**` are left alone.
pub fn mutants(code: &str) -> Vec<Mutant> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_comment = false;
    while i < b.len() {
        match b[i] {
            b'\n' => in_comment = false,
            b'#' => in_comment = true,
            _ => {}
        }
        if in_comment {
            i += 1;
            continue;
        }
        let mut step = 1;
        for &(from, to) in OPERATORS {
            if !code[i..].starts_with(from) {
                continue;
            }
            let end = i + from.len();
            let before = if i > 0 { b[i - 1] } else { b' ' };
            let after = if end < b.len() { b[end] } else { b' ' };
            let word = from.as_bytes()[0].is_ascii_alphanumeric();
            let skip = (word && (is_ident_byte(before) || is_ident_byte(after) || before == b'.'))
                || (from == "-" && after == b'>')
                || (from.starts_with('>') && before == b'-')
                || (from.len() == 1
                    && matches!(from, "<" | ">")
                    && (after == b'<' || after == b'>' || before == b'<' || before == b'>'))
                || (matches!(from, "+" | "-")
                    && (after == b'=' || before == b'e' || before == b'E'))
                || (from == "-" && before == b'-')
                || (from == "//" && after == b'=');
            if !skip {
                let mut text = String::with_capacity(code.len() + 2);
                text.push_str(&code[..i]);
                text.push_str(to);
                text.push_str(&code[end..]);
                out.push(Mutant {
                    at: i,
                    from,
                    to,
                    text,
                });
            }
            step = from.len();
            break;
        }
        i += step;
    }
    out
}

/// The mutants of `code` in a fixed pseudo-random order under `seed`, so
/// the first wrong one is not always the first comparison of the text.
pub fn shuffled_mutants(code: &str, seed: u64) -> Vec<Mutant> {
    let mut m = mutants(code);
    SplitMix64::new(seed).shuffle(&mut m);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(code: &str) -> Vec<String> {
        mutants(code).into_iter().map(|m| m.text).collect()
    }

    #[test]
    fn comparisons_flip_without_splitting_two_character_operators() {
        let t = texts("    return a <= b\n");
        assert_eq!(t, vec!["    return a < b\n"]);
        let t = texts("    if x < y and y != 0:\n");
        assert!(t.contains(&"    if x <= y and y != 0:\n".to_string()));
        assert!(t.contains(&"    if x < y or y != 0:\n".to_string()));
        assert!(t.contains(&"    if x < y and y == 0:\n".to_string()));
        assert!(t.contains(&"    if x < y and y != 1:\n".to_string()));
        assert_eq!(t.len(), 4, "{t:?}");
    }

    #[test]
    fn names_comments_arrows_and_exponents_are_left_alone() {
        assert!(texts("def f(x1) -> int:\n    # a < b + 1\n    return x1\n").is_empty());
        assert!(texts("    return band or_ 10 ** 2e-3\n")
            .iter()
            .all(|t| t.contains("band") && t.contains("or_") && t.contains("e-3")));
        assert!(texts("    s = sorted(TrueValue)\n").is_empty());
        assert_eq!(texts("    return True\n"), vec!["    return False\n"]);
    }

    #[test]
    fn every_mutant_changes_one_site_and_the_order_is_seeded() {
        let code = "    for i in range(1, n + 1):\n        if i % 2 == 0:\n            s += i\n";
        let all = mutants(code);
        assert!(all.len() >= 5, "{all:?}");
        for m in &all {
            assert_ne!(m.text, code);
            assert_eq!(&code[m.at..m.at + m.from.len()], m.from);
            assert_eq!(
                m.text,
                format!("{}{}{}", &code[..m.at], m.to, &code[m.at + m.from.len()..])
            );
        }
        let a = shuffled_mutants(code, 3);
        assert_eq!(a, shuffled_mutants(code, 3));
        assert_ne!(a, shuffled_mutants(code, 4));
        let mut sorted = a.clone();
        sorted.sort_by_key(|m| m.at);
        assert_eq!(sorted, all);
    }
}
