//! A real `expertsteer serve` process on 127.0.0.1 for end-to-end tests,
//! and steering files made by the real pipeline (CAA on SmolLM2).
#![allow(dead_code)]

use crate::common::{scratch, smollm2_path};
use expertsteer::fit::{run_fit, FitConfig};
use expertsteer::pipeline::dataset::LabelledText;
use expertsteer::steerfile::Method;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server process, killed when dropped (pass or fail).
pub struct ServerProcess {
    pub child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub stderr_log: PathBuf,
}

impl ServerProcess {
    /// Starts `expertsteer serve --port 0 ARGS…` on SmolLM2 with one thread
    /// and waits for its `listening on` line.
    pub fn start(name: &str, args: &[&str]) -> ServerProcess {
        let bin = PathBuf::from(env!("CARGO_BIN_EXE_expertsteer"));
        let stderr_log = scratch(name).join("server.stderr");
        let mut child = Command::new(bin)
            .args(["serve", "--model"])
            .arg(smollm2_path())
            .args(["--port", "0", "--threads", "1"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .expect("start expertsteer serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let mut server = ServerProcess {
            child: Some(child),
            base: String::new(),
            stderr_log,
        };
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(url) => server.base = url,
            Err(_) => panic!("server did not start:\n{}", server.stderr()),
        }
        server
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits up to `limit` for the process to exit; its status code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// (positive, negative) contrast texts of two concepts.
const CONCEPTS: &[(&str, &[(&str, &str)])] = &[
    (
        "happy",
        &[
            (
                "I love this, it is wonderful and makes me happy.",
                "I hate this, it is awful and makes me sad.",
            ),
            (
                "What a fantastic, joyful day!",
                "What a terrible, miserable day.",
            ),
            (
                "This is the best meal I have ever had.",
                "This is the worst meal I have ever had.",
            ),
            (
                "I'm thrilled with the results, truly excellent.",
                "I'm furious with the results, truly dreadful.",
            ),
            (
                "Such a delightful and kind person.",
                "Such a rude and cruel person.",
            ),
            (
                "The movie was brilliant and uplifting.",
                "The movie was boring and depressing.",
            ),
            (
                "I feel great and full of hope.",
                "I feel terrible and hopeless.",
            ),
            (
                "Everything went perfectly, I am so grateful.",
                "Everything went wrong, I am so angry.",
            ),
        ],
    ),
    (
        "formal",
        &[
            (
                "We kindly request that you submit the documents at your earliest convenience.",
                "hey just send the docs whenever lol",
            ),
            (
                "I am writing to inform you of a change in our schedule.",
                "yo, schedule changed btw",
            ),
            (
                "Please accept my sincere apologies for the inconvenience caused.",
                "my bad, sorry about that",
            ),
            (
                "The committee will convene on Monday to review the proposal.",
                "we're gonna look at the thing monday",
            ),
            (
                "Should you require further assistance, do not hesitate to contact us.",
                "ping me if u need anything",
            ),
            (
                "It is with great pleasure that we announce the appointment.",
                "guess what, we hired someone!",
            ),
            (
                "Kindly ensure that all attendees register in advance.",
                "everyone sign up first ok?",
            ),
            (
                "We appreciate your continued cooperation in this matter.",
                "thanks for going along with it",
            ),
        ],
    ),
];

/// Steering files `name → path` fitted with CAA on SmolLM2 (the real
/// pipeline; a few seconds), made once per test process.
pub fn steer_files() -> Vec<(String, PathBuf)> {
    static FILES: std::sync::OnceLock<Vec<(String, PathBuf)>> = std::sync::OnceLock::new();
    FILES
        .get_or_init(|| {
            let dir = scratch("serve-steer");
            CONCEPTS
                .iter()
                .map(|(name, pairs)| {
                    let data: Vec<LabelledText> = pairs
                        .iter()
                        .enumerate()
                        .flat_map(|(i, (p, n))| {
                            [(p, 1u8), (n, 0u8)].map(|(t, label)| LabelledText {
                                text: t.to_string(),
                                label,
                                group: format!("{name}{i}"),
                            })
                        })
                        .collect();
                    let mut cfg = FitConfig {
                        method: Method::Caa,
                        ..Default::default()
                    };
                    cfg.capture.threads = 1;
                    cfg.capture.cache_root = dir.clone();
                    let out = run_fit(None, &smollm2_path(), &data, &cfg, &mut |_, _, _| {})
                        .expect("fit a CAA steering file");
                    let p = dir.join(format!("{name}.steer"));
                    out.file.write(&p).unwrap();
                    (name.to_string(), p)
                })
                .collect()
        })
        .clone()
}

/// `--steer name=path` arguments for every test steering file.
pub fn steer_args() -> Vec<String> {
    steer_files()
        .iter()
        .flat_map(|(n, p)| ["--steer".to_string(), format!("{n}={}", p.display())])
        .collect()
}

/// Runs a Python script with arguments; (exit code, stdout, stderr).
pub fn python(script: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
