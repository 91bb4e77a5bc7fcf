//! Slow and idle clients cannot hold `expertsteer serve`'s connections:
//! a request head sent byte by byte, a body that never completes (a short
//! `Content-Length` body, an endless chunked one) and idle connections are
//! cut within the timeouts, and normal requests are still served, also
//! while `--max-connections` idle clients are connected. A real server
//! process on 127.0.0.1 with short timeouts.

#[path = "../../tests/common/mod.rs"]
mod common;
mod server;

use serde_json::{json, Value};
use server::ServerProcess;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn start(name: &str) -> ServerProcess {
    ServerProcess::start(
        name,
        &[
            "--header-timeout",
            "1",
            "--body-timeout",
            "1",
            "--max-connections",
            "4",
        ],
    )
}

fn connect(s: &ServerProcess) -> TcpStream {
    let tcp = TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    tcp
}

/// A normal request is answered (within 30 s).
fn assert_serves(s: &ServerProcess) {
    let body =
        json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "temperature": 0});
    let r = ureq::post(&s.url("/v1/chat/completions"))
        .timeout(Duration::from_secs(30))
        .send_json(body)
        .unwrap_or_else(|e| panic!("normal request: {e}\n{}", s.stderr()));
    assert_eq!(r.status(), 200);
}

/// Calls `feed` every 200 ms (a slow client sending more) until the
/// server closes the connection; the bytes it answered and how long it
/// took. Bounded: gives up after `limit`.
fn until_closed(
    tcp: &mut TcpStream,
    limit: Duration,
    mut feed: impl FnMut(&mut TcpStream),
) -> Option<(Vec<u8>, Duration)> {
    let t = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while t.elapsed() < limit {
        feed(tcp);
        match tcp.read(&mut buf) {
            Ok(0) => return Some((answer, t.elapsed())),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            // Reset by the server: closed too.
            Err(_) => return Some((answer, t.elapsed())),
        }
    }
    None
}

/// The JSON body of an HTTP answer.
fn json_body(answer: &[u8]) -> Value {
    let text = String::from_utf8_lossy(answer);
    let (_, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

const HEAD: &str =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";

#[test]
fn a_request_head_sent_byte_by_byte_is_cut_off() {
    let s = start("limits-head");
    let mut tcp = connect(&s);
    tcp.write_all(b"POST /v1/chat/completions HTTP/1.1\r\n")
        .unwrap();
    let mut n = 0;
    let got = until_closed(&mut tcp, Duration::from_secs(15), |t| {
        n += 1;
        let _ = t.write_all(format!("X-Slow-{n}: a\r\n").as_bytes());
    });
    let (_, after) = got.expect("a slow request head kept its connection 15 s");
    assert!(after < Duration::from_secs(4), "cut after {after:?}");
    assert_serves(&s);
}

#[test]
fn a_body_shorter_than_its_content_length_gets_408_and_is_closed() {
    let s = start("limits-length");
    let mut tcp = connect(&s);
    tcp.write_all(format!("{HEAD}Content-Length: 1000\r\n\r\n{{\"").as_bytes())
        .unwrap();
    let got = until_closed(&mut tcp, Duration::from_secs(15), |_| {});
    let (answer, after) = got.expect("a stalled body kept its connection 15 s");
    assert!(after < Duration::from_secs(4), "cut after {after:?}");
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let v = json_body(&answer);
    assert_eq!(v["error"]["code"], "request_timeout", "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    assert_serves(&s);
}

#[test]
fn an_endless_chunked_body_gets_408_and_is_closed() {
    let s = start("limits-chunked");
    let mut tcp = connect(&s);
    tcp.write_all(format!("{HEAD}Transfer-Encoding: chunked\r\n\r\n").as_bytes())
        .unwrap();
    let got = until_closed(&mut tcp, Duration::from_secs(15), |t| {
        let _ = t.write_all(b"1\r\n \r\n");
    });
    let (answer, after) = got.expect("an endless chunked body kept its connection 15 s");
    assert!(after < Duration::from_secs(4), "cut after {after:?}");
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(json_body(&answer)["error"]["code"], "request_timeout");
    assert_serves(&s);
}

#[test]
fn idle_connections_are_closed_and_never_lock_out_a_normal_request() {
    let s = start("limits-idle");
    // As many idle connections as the server allows at once.
    let mut idle: Vec<TcpStream> = (0..4).map(|_| connect(&s)).collect();
    let t = Instant::now();
    assert_serves(&s);
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "a normal request waited {:?} behind idle connections",
        t.elapsed()
    );
    for tcp in &mut idle {
        let got = until_closed(tcp, Duration::from_secs(10), |_| {});
        let (answer, _) = got.expect("an idle connection stayed open 10 s");
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }
    // A keep-alive connection that goes idle after its answer is closed too.
    let mut tcp = connect(&s);
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let got = until_closed(&mut tcp, Duration::from_secs(10), |_| {});
    let (answer, after) = got.expect("an idle keep-alive connection stayed open 10 s");
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    assert!(after < Duration::from_secs(4), "cut after {after:?}");
}

/// Sends `request` as is and reads the whole answer (the server closes).
fn raw(s: &ServerProcess, request: &[u8]) -> Vec<u8> {
    let mut tcp = connect(s);
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before all of a huge head is in.
    let _ = tcp.write_all(request);
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    answer
}

#[test]
fn every_refused_request_gets_an_openai_error_body() {
    let s = start("limits-shapes");
    let long_url = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let many_fields: String = (0..150).map(|i| format!("X-{i}: y\r\n")).collect();
    let many_fields = format!("GET /health HTTP/1.1\r\nHost: x\r\n{many_fields}\r\n");
    let cases: [(&str, String, &str); 5] = [
        (
            "wrong method",
            "DELETE /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
            "405",
        ),
        (
            "GET on a POST endpoint",
            "GET /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".into(),
            "405",
        ),
        ("URL of 70,000 bytes", long_url, "414"),
        ("150 header fields", many_fields, "431"),
        ("not HTTP", "HELLO THERE\r\n\r\n".into(), "400"),
    ];
    for (what, request, status) in &cases {
        let answer = raw(&s, request.as_bytes());
        let text = String::from_utf8_lossy(&answer);
        assert!(
            text.starts_with(&format!("HTTP/1.1 {status} ")),
            "{what}: {text}"
        );
        let v = json_body(&answer);
        assert!(
            v["error"]["message"].as_str().is_some_and(|m| m.len() > 10),
            "{what}: {v}"
        );
        assert_eq!(v["error"]["type"], "invalid_request_error", "{what}: {v}");
        if *status == "405" {
            assert_eq!(v["error"]["code"], "method_not_allowed", "{v}");
            assert!(
                text.to_ascii_lowercase().contains("\r\nallow: post"),
                "{what}: {text}"
            );
        }
    }
    assert_serves(&s);
}
