//! Generative examples as a JSON Lines file of their own, so that tasks
//! built here (two-digit multiplication, GSM-Symbolic word problems) run
//! through the same exact-match loop as BIG-bench's: one line per example,
//! `{"id", "group", "task", "input", "targets", "rationale"?}`. The split
//! is drawn from `group` as for every other source.

use super::GenExample;
use expertsteer::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One line of a generative-examples file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenFileRow {
    /// Stable id of the example.
    pub id: String,
    /// Split key: examples sharing it land in the same split.
    pub group: String,
    /// Task name shown in logs and tables.
    pub task: String,
    /// The question.
    pub input: String,
    /// Accepted answers (at least one).
    pub targets: Vec<String>,
    /// A worked solution, where the source has one (GSM-Symbolic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
}

impl GenFileRow {
    /// The example the exact-match loop reads.
    pub fn example(&self) -> GenExample {
        GenExample {
            id: self.id.clone(),
            group: self.group.clone(),
            task: self.task.clone(),
            input: self.input.clone(),
            targets: self.targets.clone(),
        }
    }
}

/// Whether `task` names a generative-examples file rather than a BIG-bench
/// task: it ends in `.jsonl`.
pub fn is_gen_file(task: &str) -> bool {
    task.ends_with(".jsonl")
}

/// Writes `rows` as JSON Lines (atomically).
pub fn write_gen_file(path: &Path, rows: &[GenFileRow]) -> Result<()> {
    let mut body = String::new();
    for r in rows {
        body.push_str(&serde_json::to_string(r).map_err(|e| Error::Input(e.to_string()))?);
        body.push('\n');
    }
    expertsteer::atomic_file::write_atomic(path, body.as_bytes()).map_err(Error::from)
}

/// Reads a generative-examples file; every line must parse and have an
/// input and a non-empty target, and ids must be unique.
pub fn read_gen_file(path: &Path) -> Result<Vec<GenFileRow>> {
    let body = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut rows = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (i, line) in body.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let where_ = || format!("{} line {}", path.display(), i + 1);
        let r: GenFileRow =
            serde_json::from_str(line).map_err(|e| Error::Input(format!("{}: {e}", where_())))?;
        if r.input.trim().is_empty() || r.targets.iter().all(|t| t.trim().is_empty()) {
            return Err(Error::Input(format!(
                "{}: an example needs an input and a target",
                where_()
            )));
        }
        if !ids.insert(r.id.clone()) {
            return Err(Error::Input(format!("{}: id '{}' repeats", where_(), r.id)));
        }
        rows.push(r);
    }
    if rows.is_empty() {
        return Err(Error::Input(format!("{}: no examples", path.display())));
    }
    Ok(rows)
}

/// The generative examples of `task`: a `.jsonl` file of them, or a
/// BIG-bench task name (downloaded on first use).
pub fn load_generative(task: &str) -> Result<Vec<GenExample>> {
    if is_gen_file(task) {
        Ok(read_gen_file(Path::new(task))?
            .iter()
            .map(GenFileRow::example)
            .collect())
    } else {
        super::load_bigbench_generative(task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize) -> GenFileRow {
        GenFileRow {
            id: format!("x-{i}"),
            group: format!("g-{}", i / 2),
            task: "t".into(),
            input: format!("What is {i} times 2?"),
            targets: vec![(2 * i).to_string()],
            rationale: i.is_multiple_of(2).then(|| "2 * i".to_string()),
        }
    }

    #[test]
    fn a_file_reads_back_as_written_and_bad_lines_are_refused() {
        let dir = std::env::temp_dir().join(format!("es-genfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("ex.jsonl");
        let rows: Vec<GenFileRow> = (0..5).map(row).collect();
        write_gen_file(&p, &rows).unwrap();
        assert_eq!(read_gen_file(&p).unwrap(), rows);
        let ex = load_generative(p.to_str().unwrap()).unwrap();
        assert_eq!(ex.len(), 5);
        assert_eq!(ex[3].group, "g-1");
        for (body, why) in [
            ("", "no examples"),
            ("{\"id\":1}\n", "line 1"),
            (
                "{\"id\":\"a\",\"group\":\"g\",\"task\":\"t\",\"input\":\"q\",\"targets\":[\" \"]}\n",
                "needs an input and a target",
            ),
        ] {
            std::fs::write(&p, body).unwrap();
            let e = read_gen_file(&p).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        let twice = format!(
            "{}\n{}\n",
            serde_json::to_string(&row(1)).unwrap(),
            serde_json::to_string(&row(1)).unwrap()
        );
        std::fs::write(&p, twice).unwrap();
        assert!(read_gen_file(&p)
            .unwrap_err()
            .to_string()
            .contains("repeats"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
