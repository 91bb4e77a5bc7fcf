//! The JSON Lines data readers on arbitrary text: each line is an item or
//! an error naming that line; a dataset that parses holds only non-blank
//! texts with labels 0/1 and writes back (as `write_dataset` does) to the
//! same items.

#![no_main]

use expertsteer_core::dataset::{parse_dataset, parse_texts, DataError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Files are read with read_to_string, which refuses invalid UTF-8
    // before the parser sees it.
    let Ok(body) = std::str::from_utf8(data) else {
        return;
    };
    let n_lines = body.lines().count();
    let all_blank = body.lines().all(|l| l.trim().is_empty());
    let check_err = |e: DataError| match e {
        DataError::Line { line, .. } => assert!((1..=n_lines).contains(&line), "line {line}"),
        DataError::Empty { .. } => assert!(all_blank),
    };

    match parse_dataset(body, "<fuzz>") {
        Ok(items) => {
            assert!(!items.is_empty());
            let mut copy = String::new();
            for t in &items {
                assert!(t.label <= 1 && !t.text.trim().is_empty());
                let line = serde_json::json!({"text": t.text, "label": t.label, "group": t.group});
                copy.push_str(&format!("{line}\n"));
            }
            assert_eq!(parse_dataset(&copy, "<copy>").as_ref(), Ok(&items));
        }
        Err(e) => check_err(e),
    }
    match parse_texts(body, "<fuzz>") {
        Ok(texts) => assert!(!texts.is_empty()),
        Err(e) => check_err(e),
    }
});
