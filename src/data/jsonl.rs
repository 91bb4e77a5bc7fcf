//! Reading and writing the JSON Lines data forms, with line-numbered errors.

use super::LabelledText;
use crate::atomic_file::write_atomic_with;
use crate::{Error, Result};
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// The lines of a JSON Lines file as (0-based index, text); a line that is
/// not UTF-8 is an error naming its 1-based number.
fn lines_of(path: &Path) -> Result<Vec<(usize, String)>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    // `split` yields an empty last piece after a final newline; it is blank.
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = std::str::from_utf8(raw).map_err(|e| {
            Error::Input(format!(
                "{}:{}: not UTF-8 text (invalid byte at column {}); save the file as UTF-8",
                path.display(),
                i + 1,
                e.valid_up_to() + 1
            ))
        })?;
        out.push((i, line.to_string()));
    }
    Ok(out)
}

/// Reads labelled texts or contrastive pairs (both forms may be mixed).
/// A pair becomes two texts (positive = 1, negative = 0) sharing a group.
pub fn read_dataset(path: &Path) -> Result<Vec<LabelledText>> {
    let mut out = Vec::new();
    for (i, line) in lines_of(path)? {
        let line = line.as_str();
        if line.trim().is_empty() {
            continue;
        }
        let at = |msg: String| Error::Input(format!("{}:{}: {msg}", path.display(), i + 1));
        let v: Value =
            serde_json::from_str(line).map_err(|e| at(format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| at("expected a JSON object".into()))?;
        let group = match obj.get("group") {
            None | Some(Value::Null) => format!("line{}", i + 1),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let text_field = |k: &str| -> Result<String> {
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
                Some(Value::Bool(b)) => *b as u8,
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
        return Err(Error::Input(format!(
            "{} holds no examples",
            path.display()
        )));
    }
    Ok(out)
}

/// Reads unlabelled texts: the "text" (or "prompt") string of every line
/// of a JSON Lines file; errors name the line.
pub fn read_texts(path: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (i, line) in lines_of(path)? {
        let line = line.as_str();
        if line.trim().is_empty() {
            continue;
        }
        let at = |msg: &str| Error::Input(format!("{}:{}: {msg}", path.display(), i + 1));
        let v: Value =
            serde_json::from_str(line).map_err(|e| at(&format!("not valid JSON: {e}")))?;
        let text = v
            .get("text")
            .or_else(|| v.get("prompt"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| at("expected an object with a \"text\" string"))?;
        out.push(text.to_string());
    }
    if out.is_empty() {
        return Err(Error::Input(format!("{} holds no texts", path.display())));
    }
    Ok(out)
}

/// Writes labelled texts as JSON Lines, atomically.
pub fn write_dataset(path: &Path, items: &[LabelledText]) -> Result<()> {
    write_atomic_with(path, |f| {
        for t in items {
            let line = serde_json::json!({"text": t.text, "label": t.label, "group": t.group});
            writeln!(f, "{line}").map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, body: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("jsonl-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    #[test]
    fn both_forms_read_and_round_trip() {
        let p = write(
            "ok.jsonl",
            "{\"text\": \"a\", \"label\": 1, \"group\": \"g\"}\n\n{\"positive\": \"p\", \"negative\": \"n\"}\n{\"text\": \"b\", \"label\": false}\n",
        );
        let items = read_dataset(&p).unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(items[1].label, 1);
        assert_eq!(items[2].label, 0);
        assert_eq!(items[1].group, items[2].group);
        assert_eq!(items[3].group, "line4");
        let q = p.with_file_name("back.jsonl");
        write_dataset(&q, &items).unwrap();
        assert_eq!(read_dataset(&q).unwrap(), items);
    }

    #[test]
    fn texts_read_from_text_or_prompt_and_errors_name_the_line() {
        let p = write(
            "texts.jsonl",
            "{\"text\": \"a\"}\n\n{\"prompt\": \"b\", \"label\": 1}\n",
        );
        assert_eq!(read_texts(&p).unwrap(), vec!["a", "b"]);
        let p = write("texts-bad.jsonl", "{\"text\": \"a\"}\n{\"body\": \"b\"}\n");
        let e = read_texts(&p).unwrap_err().to_string();
        assert!(e.contains(":2: expected an object"), "{e}");
        let p = write("texts-empty.jsonl", "\n");
        assert!(read_texts(&p).unwrap_err().to_string().contains("no texts"));
    }

    #[test]
    fn a_line_that_is_not_utf8_is_named_by_number() {
        let d = std::env::temp_dir().join(format!("jsonl-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join("latin1.jsonl");
        let mut body = b"{\"text\": \"a\", \"label\": 1}\r\n{\"text\": \"caf".to_vec();
        body.extend_from_slice(b"\xe9\", \"label\": 0}\n");
        std::fs::write(&p, &body).unwrap();
        let e = read_dataset(&p).unwrap_err().to_string();
        assert!(e.contains("latin1.jsonl:2: not UTF-8"), "{e}");
        let e = read_texts(&p).unwrap_err().to_string();
        assert!(e.contains("latin1.jsonl:2: not UTF-8"), "{e}");
    }

    #[test]
    fn bad_lines_name_their_line_number() {
        for (body, want) in [
            (
                "{\"text\": \"a\", \"label\": 1}\nnot json\n",
                ":2: not valid JSON",
            ),
            (
                "{\"text\": \"a\", \"label\": 2}\n",
                ":1: \"label\" must be 0 or 1",
            ),
            ("{\"text\": \"a\"}\n", ":1: missing \"label\""),
            ("{\"positive\": \"a\"}\n", ":1: missing \"negative\""),
            ("{\"text\": \"\", \"label\": 0}\n", ":1: \"text\" is empty"),
            ("[1,2]\n", ":1: expected a JSON object"),
            ("\n\n", "holds no examples"),
        ] {
            let p = write("bad.jsonl", body);
            let e = read_dataset(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{body:?}: {e}");
        }
    }
}
