//! The append-only JSON Lines logs of evaluation runs (multiple choice,
//! behaviour, HumanEval): one record per line, flushed as it is written,
//! so a killed run loses at most the line it was writing and a re-run
//! skips what is already there.

use expertsteer::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Every record of a log (missing file = none). An unreadable line — the
/// torn last line of a killed run — is skipped with a warning; its record
/// is redone on resume.
pub fn read_jsonl_log<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(&line) {
            Ok(r) => out.push(r),
            Err(e) => eprintln!(
                "{}:{}: skipping unreadable record ({e})",
                path.display(),
                i + 1
            ),
        }
    }
    Ok(out)
}

/// Appends records to a log.
pub struct LogWriter {
    file: std::fs::File,
    path: PathBuf,
}

impl LogWriter {
    /// Opens (creating) `path` for appending. A last line without its
    /// newline (a run killed mid-write) is ended first, so the next record
    /// is not glued to it and lost as well.
    pub fn open(path: &Path) -> Result<LogWriter> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io(path, e))?;
        if len > 0 {
            file.seek(SeekFrom::End(-1))
                .map_err(|e| Error::io(path, e))?;
            let mut last = [0u8; 1];
            file.read_exact(&mut last).map_err(|e| Error::io(path, e))?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(|e| Error::io(path, e))?;
            }
        }
        Ok(LogWriter {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Writes one record as one line and flushes it.
    pub fn append<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let line = serde_json::to_string(record).map_err(|e| {
            Error::Input(format!(
                "{}: a record does not serialise: {e}",
                self.path.display()
            ))
        })?;
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::io(&self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_line_is_skipped_and_the_next_record_starts_a_new_line() {
        let dir = std::env::temp_dir().join(format!("expertsteer-jsonl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("log.jsonl");
        std::fs::write(&p, "[1]\n[2").unwrap();
        assert_eq!(read_jsonl_log::<Vec<u32>>(&p).unwrap(), vec![vec![1]]);
        LogWriter::open(&p).unwrap().append(&vec![3u32]).unwrap();
        assert_eq!(
            read_jsonl_log::<Vec<u32>>(&p).unwrap(),
            vec![vec![1], vec![3]]
        );
        assert!(read_jsonl_log::<Vec<u32>>(&dir.join("missing"))
            .unwrap()
            .is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
