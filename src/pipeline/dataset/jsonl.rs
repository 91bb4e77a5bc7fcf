//! Reading and writing the JSON Lines data forms, with line-numbered
//! errors. The format itself is `expertsteer_core::dataset`; this module
//! adds the files.

use super::LabelledText;
use crate::atomic_file::write_atomic_with;
use crate::{Error, Result};
use expertsteer_core::dataset::{parse_dataset, parse_texts};
use std::io::Write;
use std::path::Path;

/// The file as text; bytes that are not UTF-8 are an error naming the
/// 1-based line and column where they start.
fn read_utf8(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let before = &e.as_bytes()[..at];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = at
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1)
            + 1;
        Error::Input(format!(
            "{}:{line}: not UTF-8 text (invalid byte at column {column}); save the file as UTF-8",
            path.display()
        ))
    })
}

/// Reads labelled texts or contrastive pairs (both forms may be mixed; see
/// [`parse_dataset`]). A pair becomes two texts (positive = 1, negative =
/// 0) sharing a group.
pub fn read_dataset(path: &Path) -> Result<Vec<LabelledText>> {
    let body = read_utf8(path)?;
    Ok(parse_dataset(&body, &path.display().to_string())?)
}

/// Reads unlabelled texts: the "text" (or "prompt") string of every line
/// of a JSON Lines file; errors name the line.
pub fn read_texts(path: &Path) -> Result<Vec<String>> {
    let body = read_utf8(path)?;
    Ok(parse_texts(&body, &path.display().to_string())?)
}

/// Writes unlabelled texts as JSON Lines (`{"text": ...}`, the form
/// [`read_texts`] and `fit --generic` read), atomically.
pub fn write_texts(path: &Path, texts: &[String]) -> Result<()> {
    write_atomic_with(path, |f| {
        for t in texts {
            let line = serde_json::json!({ "text": t });
            writeln!(f, "{line}").map_err(|e| Error::io(path, e))?;
        }
        Ok(())
    })
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
