//! The JSON Lines data forms the offline pipeline reads (METHOD.md
//! "Data"), parsed from text already in memory, with line-numbered errors.
//!
//! Two forms, which may be mixed in one file: labelled texts
//! `{"text": "...", "label": 1, "group": "q17"}` and contrastive pairs
//! `{"positive": "...", "negative": "..."}`. `group` (optional) ties texts
//! that must stay in the same split. Blank lines are skipped.
//!
//! The format lives here, away from file I/O and llama.cpp, so it can be
//! fuzzed and reused; `expertsteer::data` reads files with it.
//!
//! ```
//! use expertsteer_core::dataset::parse_dataset;
//!
//! let body = "{\"positive\": \"yes\", \"negative\": \"no\"}\n";
//! let items = parse_dataset(body, "pairs.jsonl")?;
//! assert_eq!((items[0].label, items[1].label), (1, 0));
//! assert_eq!(items[0].group, items[1].group);
//! # Ok::<(), expertsteer_core::dataset::DataError>(())
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One text with a 0/1 concept label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledText {
    /// The text as the models read it.
    pub text: String,
    /// 1 = the concept is present, 0 = absent.
    pub label: u8,
    /// Texts with the same group always land in the same split.
    pub group: String,
}

/// Why a JSON Lines data file was refused. The message names the file and,
/// for a bad line, its 1-based line number (`data.jsonl:3: ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// One line is not a valid item.
    #[error("{name}:{line}: {reason}")]
    Line {
        /// The file (as given to the parser).
        name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// The file holds no items at all (only blank lines, or nothing).
    #[error("{name} holds no {what}")]
    Empty {
        /// The file (as given to the parser).
        name: String,
        /// What was expected: `examples` or `texts`.
        what: &'static str,
    },
}

/// The non-blank lines of a JSON Lines body as (1-based line number,
/// parsed JSON value); a line that is not JSON is an error naming it.
fn json_lines<'a>(
    body: &'a str,
    name: &'a str,
) -> impl Iterator<Item = Result<(usize, Value), DataError>> + 'a {
    body.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(move |(i, l)| {
            serde_json::from_str(l)
                .map(|v| (i + 1, v))
                .map_err(|e| DataError::Line {
                    name: name.to_owned(),
                    line: i + 1,
                    reason: format!("not valid JSON: {e}"),
                })
        })
}

/// Labelled texts or contrastive pairs (both forms may be mixed) from the
/// body of a JSON Lines file; `name` appears in errors. A pair becomes two
/// texts (positive = 1, negative = 0) sharing a group; a line without a
/// group gets its own, `line<N>`.
pub fn parse_dataset(body: &str, name: &str) -> Result<Vec<LabelledText>, DataError> {
    let mut out = Vec::new();
    for parsed in json_lines(body, name) {
        let (line, v) = parsed?;
        let at = |reason: String| DataError::Line {
            name: name.to_owned(),
            line,
            reason,
        };
        let obj = v
            .as_object()
            .ok_or_else(|| at("expected a JSON object".into()))?;
        let group = match obj.get("group") {
            None | Some(Value::Null) => format!("line{line}"),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let text_field = |k: &str| -> Result<String, DataError> {
            match obj.get(k) {
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
                Some(Value::String(_)) => Err(at(format!("\"{k}\" is empty"))),
                Some(_) => Err(at(format!("\"{k}\" must be a string"))),
                None => Err(at(format!("missing \"{k}\""))),
            }
        };
        if obj.contains_key("positive") || obj.contains_key("negative") {
            out.push(LabelledText {
                text: text_field("positive")?,
                label: 1,
                group: group.clone(),
            });
            out.push(LabelledText {
                text: text_field("negative")?,
                label: 0,
                group,
            });
        } else if obj.contains_key("text") {
            let label = match obj.get("label") {
                Some(Value::Bool(b)) => u8::from(*b),
                Some(Value::Number(n)) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
                    n.as_u64().unwrap_or(0) as u8
                }
                Some(other) => return Err(at(format!("\"label\" must be 0 or 1, got {other}"))),
                None => return Err(at("missing \"label\" (0 or 1)".into())),
            };
            out.push(LabelledText {
                text: text_field("text")?,
                label,
                group,
            });
        } else {
            return Err(at(
                "expected {\"text\", \"label\"} or {\"positive\", \"negative\"}".into(),
            ));
        }
    }
    if out.is_empty() {
        return Err(DataError::Empty {
            name: name.to_owned(),
            what: "examples",
        });
    }
    Ok(out)
}

/// Unlabelled texts: the "text" (or else "prompt") string of every
/// non-blank line of a JSON Lines body; `name` appears in errors.
pub fn parse_texts(body: &str, name: &str) -> Result<Vec<String>, DataError> {
    let mut out = Vec::new();
    for parsed in json_lines(body, name) {
        let (line, v) = parsed?;
        let at = |reason: String| DataError::Line {
            name: name.to_owned(),
            line,
            reason,
        };
        let text = v
            .get("text")
            .or_else(|| v.get("prompt"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| at("expected an object with a \"text\" string".into()))?;
        out.push(text.to_string());
    }
    if out.is_empty() {
        return Err(DataError::Empty {
            name: name.to_owned(),
            what: "texts",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_parse_and_pairs_share_a_group() {
        let body = "{\"text\": \"a\", \"label\": 1, \"group\": \"g\"}\n\n\
                    {\"positive\": \"p\", \"negative\": \"n\"}\n\
                    {\"text\": \"b\", \"label\": false, \"group\": 7}\n\
                    {\"text\": \"c\", \"label\": true}\n";
        let items = parse_dataset(body, "t").unwrap();
        assert_eq!(items.len(), 5);
        assert_eq!((items[0].label, items[0].group.as_str()), (1, "g"));
        assert_eq!((items[1].label, items[2].label), (1, 0));
        assert_eq!(items[1].group, items[2].group);
        assert_eq!(items[3].group, "7");
        assert_eq!((items[4].label, items[4].group.as_str()), (1, "line5"));
    }

    #[test]
    fn texts_come_from_text_or_prompt_and_errors_name_the_line() {
        let body = "{\"text\": \"a\"}\n\n{\"prompt\": \"b\", \"label\": 1}\n";
        assert_eq!(parse_texts(body, "t").unwrap(), vec!["a", "b"]);
        let e = parse_texts("{\"text\": \"a\"}\n{\"body\": \"b\"}\n", "t")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "t:2: expected an object with a \"text\" string");
        let e = parse_texts("\n", "t").unwrap_err().to_string();
        assert_eq!(e, "t holds no texts");
    }

    #[test]
    fn deeply_nested_lines_are_errors_not_stack_overflows() {
        // serde_json stops at 128 levels; a data file is untrusted input.
        let deep = format!("{}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        for e in [
            parse_dataset(&deep, "t").unwrap_err(),
            parse_texts(&deep, "t").unwrap_err(),
        ] {
            assert!(e.to_string().starts_with("t:1: not valid JSON"), "{e}");
        }
    }

    #[test]
    fn bad_lines_name_their_line_number() {
        for (body, want) in [
            (
                "{\"text\": \"a\", \"label\": 1}\nnot json\n",
                "t:2: not valid JSON",
            ),
            (
                "{\"text\": \"a\", \"label\": 2}\n",
                "t:1: \"label\" must be 0 or 1, got 2",
            ),
            ("{\"text\": \"a\"}\n", "t:1: missing \"label\" (0 or 1)"),
            ("{\"positive\": \"a\"}\n", "t:1: missing \"negative\""),
            ("{\"negative\": \"a\"}\n", "t:1: missing \"positive\""),
            ("{\"text\": \"\", \"label\": 0}\n", "t:1: \"text\" is empty"),
            (
                "{\"text\": 3, \"label\": 0}\n",
                "t:1: \"text\" must be a string",
            ),
            ("[1,2]\n", "t:1: expected a JSON object"),
            ("{\"body\": \"a\"}\n", "t:1: expected {\"text\", \"label\"}"),
            ("\n\n", "t holds no examples"),
        ] {
            let e = parse_dataset(body, "t").unwrap_err().to_string();
            assert!(e.starts_with(want), "{body:?}: {e}");
        }
    }
}
