//! How `expertsteer serve` stops: SIGTERM (what `kill`, systemd, Docker
//! and Kubernetes send) drains like Ctrl-C, and the drain is bounded by the
//! grace period. A real server process on 127.0.0.1 with the real SmolLM2.

#[path = "../../tests/common/mod.rs"]
mod common;
mod server;

use serde_json::{json, Value};
use server::ServerProcess;
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A streamed greedy chat request that generates exactly `tokens` tokens.
fn streamed(tokens: usize) -> Value {
    json!({
        "messages": [{"role": "user", "content": "Count to a thousand."}],
        "max_tokens": tokens,
        "temperature": 0,
        "ignore_eos": true,
        "stream": true,
    })
}

/// Streams `body` and returns the `data:` payloads until the server ends
/// the answer (bounded by the read timeout).
fn stream_data(url: &str, body: &Value) -> Vec<String> {
    let resp = ureq::post(url)
        .timeout(Duration::from_secs(120))
        .send_json(body.clone())
        .expect("stream request");
    BufReader::new(resp.into_reader())
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_string))
        .collect()
}

fn busy(s: &ServerProcess) -> u64 {
    let v: Value = ureq::get(&s.url("/health"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();
    v["slots"]["busy"].as_u64().unwrap()
}

/// Polls `/health` until `n` slots are busy (at most 60 s).
fn wait_busy(s: &ServerProcess, n: u64) {
    let t = Instant::now();
    while busy(s) != n {
        assert!(t.elapsed() < Duration::from_secs(60), "never {n} busy");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kill(sig: &str, pid: u32) {
    let st = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

#[test]
fn sigterm_finishes_streams_with_finish_reason_and_done_then_exits_zero() {
    let mut s = ServerProcess::start("lifecycle-term", &["--parallel", "2"]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let body = streamed(60);
    let url = s.url("/v1/chat/completions");
    let streams = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2)
            .map(|_| sc.spawn(|| stream_data(&url, &body)))
            .collect();
        wait_busy(&s, 2);
        kill("-TERM", s.pid());
        hs.into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    for data in &streams {
        assert_eq!(
            data.last().map(String::as_str),
            Some("[DONE]"),
            "stream cut by SIGTERM: {data:?}\n{}",
            s.stderr()
        );
        let last_chunk: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
        assert_eq!(
            last_chunk["choices"][0]["finish_reason"], "length",
            "{last_chunk}"
        );
        let texts = data.iter().filter(|d| d.contains("\"content\"")).count();
        assert!(texts >= 30, "only {texts} text chunks of 60 tokens");
    }
    assert_eq!(
        s.wait_exit(Duration::from_secs(30)),
        Some(0),
        "exit after draining; stderr:\n{}",
        s.stderr()
    );
    assert!(s.stderr().contains("SIGTERM"), "{}", s.stderr());
    assert!(
        TcpStream::connect(&addr).is_err(),
        "still accepting after exit"
    );
}

#[test]
fn the_grace_period_bounds_how_long_a_stop_waits_for_requests() {
    let mut s = ServerProcess::start(
        "lifecycle-grace",
        &["--parallel", "1", "--ctx", "4096", "--grace", "1"],
    );
    // 4000 tokens take minutes on one thread: far beyond the grace.
    let body = streamed(4000);
    let url = s.url("/v1/chat/completions");
    let h = std::thread::spawn(move || stream_data(&url, &body));
    wait_busy(&s, 1);
    let t = Instant::now();
    kill("-TERM", s.pid());
    let exit = s.wait_exit(Duration::from_secs(30));
    let waited = t.elapsed();
    let data = h.join().unwrap();
    assert_eq!(exit, Some(0), "stderr:\n{}", s.stderr());
    assert!(
        waited < Duration::from_secs(10),
        "took {waited:?} to stop with a 1 s grace"
    );
    assert!(
        waited >= Duration::from_millis(900),
        "quit before the grace period: {waited:?}"
    );
    assert_ne!(data.last().map(String::as_str), Some("[DONE]"));
    assert!(s.stderr().contains("grace period"), "{}", s.stderr());
}
