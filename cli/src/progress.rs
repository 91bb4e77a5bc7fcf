//! Progress of long work on stderr: a bar on a terminal; in a log (stderr
//! redirected, a background run) a plain line when a stage starts or ends
//! and at most every [`LOG_EVERY`], so `tail -f` shows the work moving.
//! With `EXPERTSTEER_PROGRESS=json` (what the Python package sets), one JSON
//! object per line instead, at most every [`JSON_EVERY`]:
//! `{"progress": {"what": "fit", "stage": "capture target", "done": 16, "total": 200}}`.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often a redirected stderr gets a line within one stage.
pub const LOG_EVERY: Duration = Duration::from_secs(30);

/// How often a program reading JSON progress gets a line within one stage.
pub const JSON_EVERY: Duration = Duration::from_millis(250);

/// Where progress goes.
enum Sink {
    Bar(ProgressBar),
    Plain,
    Json,
}

/// Progress through named stages, each counted `done / total`.
pub struct StageProgress {
    sink: Sink,
    what: &'static str,
    stage: String,
    stage_start: Instant,
    last_line: Instant,
}

impl StageProgress {
    /// `what` prefixes every plain line (`fit: capture target 64/188`).
    pub fn new(what: &'static str) -> Self {
        let sink = if std::env::var("EXPERTSTEER_PROGRESS").is_ok_and(|v| v == "json") {
            Sink::Json
        } else if std::io::stderr().is_terminal() {
            let b = ProgressBar::new(1);
            b.set_style(
                ProgressStyle::with_template("{msg:<28} {bar:30} {pos}/{len} [{elapsed} < {eta}]")
                    .expect("static template"),
            );
            Sink::Bar(b)
        } else {
            Sink::Plain
        };
        Self {
            sink,
            what,
            stage: String::new(),
            stage_start: Instant::now(),
            last_line: Instant::now(),
        }
    }

    /// `done` of `total` in `stage`.
    pub fn update(&mut self, stage: &str, done: usize, total: usize) {
        let new_stage = stage != self.stage;
        if new_stage {
            self.stage = stage.to_string();
            self.stage_start = Instant::now();
        }
        match &self.sink {
            Sink::Bar(b) => {
                if new_stage {
                    b.reset();
                    b.set_message(stage.to_string());
                }
                b.set_length(total as u64);
                b.set_position(done as u64);
            }
            Sink::Json => {
                if new_stage || done == total || self.last_line.elapsed() >= JSON_EVERY {
                    self.last_line = Instant::now();
                    let line = serde_json::json!({"progress": {
                        "what": self.what, "stage": stage, "done": done, "total": total,
                    }});
                    errln!("{line}");
                }
            }
            Sink::Plain => {
                if new_stage || done == total || self.last_line.elapsed() >= LOG_EVERY {
                    self.last_line = Instant::now();
                    errln!(
                        "{}: {stage} {done}/{total} ({:.0} s)",
                        self.what,
                        self.stage_start.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }

    /// Clears the bar (plain lines stay).
    pub fn finish(self) {
        if let Sink::Bar(b) = self.sink {
            b.finish_and_clear();
        }
    }
}
