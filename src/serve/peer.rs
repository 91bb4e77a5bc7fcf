//! Driving another OpenAI-compatible server (llama.cpp's llama-server) with
//! the same requests as ours, for `expertsteer bench peer`: the child
//! process on a loopback port, and a streamed chat whose time to first
//! token is measured.

use super::load::check_loopback;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A llama-server child process, killed when dropped.
pub struct PeerServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl PeerServer {
    /// Starts `bin` on `model` with `parallel` slots of `ctx_per_slot`
    /// tokens, `threads` threads polling for work at level `poll` (its
    /// `--poll`) and `gpu_layers` blocks offloaded (negative: all; a CPU
    /// build ignores it) on a free loopback port, and waits (at
    /// most `wait`) until its `/health` answers 200.
    pub fn start(
        bin: &Path,
        model: &Path,
        parallel: usize,
        ctx_per_slot: usize,
        (threads, gpu_layers, poll): (usize, i32, u32),
        wait: Duration,
    ) -> Result<PeerServer, String> {
        // llama-server reads a large count as "all blocks" in every release.
        let ngl = if gpu_layers < 0 { 999 } else { gpu_layers };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let child = Command::new(bin)
            .arg("-m")
            .arg(model)
            .args(["-np", &parallel.to_string()])
            .args(["-c", &(parallel * ctx_per_slot).to_string()])
            .args(["-t", &threads.to_string(), "-tb", &threads.to_string()])
            .args(["-ngl", &ngl.to_string()])
            .args(["--poll", &poll.to_string()])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        let mut peer = PeerServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = peer.child.try_wait() {
                return Err(format!("{} exited at start ({st})", bin.display()));
            }
            let ok = ureq::get(&format!("{}/health", peer.base))
                .timeout(Duration::from_secs(2))
                .call()
                .is_ok_and(|r| r.status() == 200);
            if ok {
                return Ok(peer);
            }
            if start.elapsed() > wait {
                return Err(format!(
                    "{} did not become healthy in {wait:?}",
                    bin.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for PeerServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One streamed chat answer.
#[derive(Debug, Clone)]
pub struct Streamed {
    /// Seconds to the first chunk with text.
    pub ttft_secs: f64,
    /// Seconds to the end.
    pub total_secs: f64,
    /// The answer.
    pub text: String,
}

/// Streams a greedy chat answer of exactly `max_tokens` tokens.
pub fn stream_chat(
    base: &str,
    messages: &[Value],
    max_tokens: usize,
    steering: Value,
    timeout: Duration,
) -> Result<Streamed, String> {
    check_loopback(base)?;
    let body = json!({
        "model": "peer", "messages": messages, "max_tokens": max_tokens,
        "temperature": 0, "ignore_eos": true, "stream": true, "steering": steering,
    });
    let t = Instant::now();
    let resp = ureq::post(&format!("{base}/v1/chat/completions"))
        .timeout(timeout)
        .send_json(body)
        .map_err(|e| e.to_string())?;
    let mut ttft = None;
    let mut text = String::new();
    for line in BufReader::new(resp.into_reader()).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data.trim() == "[DONE]" {
            break;
        }
        let v: Value = serde_json::from_str(data).map_err(|e| format!("{e}: {data}"))?;
        if let Some(piece) = v["choices"][0]["delta"]["content"].as_str() {
            if !piece.is_empty() && ttft.is_none() {
                ttft = Some(t.elapsed().as_secs_f64());
            }
            text.push_str(piece);
        }
    }
    Ok(Streamed {
        ttft_secs: ttft.ok_or("no text in the stream")?,
        total_secs: t.elapsed().as_secs_f64(),
        text,
    })
}
