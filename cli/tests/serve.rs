//! `expertsteer serve` end to end: a real server process on 127.0.0.1 with
//! the real SmolLM2 and steering files made by the real pipeline, talked to
//! by the official `openai` Python client and by plain HTTP.

#[path = "../../tests/common/mod.rs"]
mod common;
mod server;

use serde_json::{json, Value};
use server::{python, steer_args, ServerProcess};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Strong enough to change SmolLM2's greedy answer (CAA files default to 0.1).
const STRENGTH: f64 = 0.6;

fn start(name: &str, extra: &[&str]) -> ServerProcess {
    let steer = steer_args();
    let mut args: Vec<&str> = steer.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    ServerProcess::start(name, &args)
}

/// POSTs `body` (raw bytes); (status, JSON body).
fn post_raw(s: &ServerProcess, path: &str, body: &[u8]) -> (u16, Value) {
    let r = ureq::post(&s.url(path))
        .timeout(Duration::from_secs(300))
        .set("content-type", "application/json")
        .send_bytes(body);
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error on {path}: {e}\n{}", s.stderr()),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, v)
}

fn post(s: &ServerProcess, path: &str, body: &Value) -> (u16, Value) {
    post_raw(s, path, body.to_string().as_bytes())
}

fn get(s: &ServerProcess, path: &str) -> (u16, Value) {
    let resp = match ureq::get(&s.url(path)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error on {path}: {e}"),
    };
    (resp.status(), resp.into_json().unwrap())
}

fn chat(prompt: &str, max_tokens: usize, steering: Value) -> Value {
    json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "steering": steering,
    })
}

fn happy() -> Value {
    json!([{"name": "happy", "strength": STRENGTH}])
}

/// A short normal request succeeds (the server kept serving).
fn assert_serves(s: &ServerProcess) {
    let (status, v) = post(s, "/v1/chat/completions", &chat("Hi", 2, json!([])));
    assert_eq!(status, 200, "normal request after a bad one: {v}");
}

fn health(s: &ServerProcess) -> Value {
    get(s, "/health").1
}

/// Polls `/health` until `pred` holds or `limit` passes.
fn wait_health(s: &ServerProcess, limit: Duration, pred: impl Fn(&Value) -> bool) -> Value {
    let t = Instant::now();
    loop {
        let h = health(s);
        if pred(&h) || t.elapsed() > limit {
            return h;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_official_openai_client_gets_chats_streams_and_completions() {
    let s = start("serve-openai", &["--parallel", "2"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/serve/openai_client.py");
    let (code, out, err) = python(&script, &[&s.base, "happy", &STRENGTH.to_string()]);
    assert_eq!(
        code,
        Some(0),
        "openai client failed:\n{err}\nserver:\n{}",
        s.stderr()
    );
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        v["models"],
        json!([common::smollm2_path()
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()])
    );

    for kind in ["plain", "steered"] {
        let whole = &v[kind];
        let stream = &v[format!("{kind}_stream")];
        assert_eq!(whole["object"], "chat.completion");
        assert!(
            !whole["text"].as_str().unwrap().is_empty(),
            "{kind}: empty answer"
        );
        // Greedy: the stream carries exactly the whole answer's text.
        assert_eq!(
            whole["text"], stream["text"],
            "{kind}: stream differs from whole answer"
        );
        assert_eq!(whole["usage"], stream["usage"], "{kind}: usage");
        assert_eq!(
            stream["ids"].as_array().unwrap().len(),
            1,
            "one id per stream"
        );
        assert_eq!(stream["objects"], json!(["chat.completion.chunk"]));
        assert_eq!(stream["first_role"], "assistant");
        let finishes = stream["finishes"].as_array().unwrap();
        assert!(finishes.len() >= 3, "{kind}: {} chunks", finishes.len());
        assert_eq!(finishes.last().unwrap(), &whole["finish"]);
        assert!(finishes[..finishes.len() - 1].iter().all(Value::is_null));
    }
    assert_ne!(
        v["plain"]["text"], v["steered"]["text"],
        "steering at {STRENGTH} must change the answer"
    );
    assert!(!v["completion"].as_str().unwrap().is_empty());
    assert_eq!(v["completion"], v["completion_stream"]);
    assert_ne!(v["completion"], v["completion_steered"]);
    assert_eq!(
        v["bad_name_error"],
        json!({"status": 400, "code": "unknown_steering", "param": "steering[0].name"})
    );
}

/// Largest per-token log-probability difference that batching alone may
/// cause. llama.cpp's CPU kernels differ with the number of rows in a
/// batch (1-row vector paths vs. tiled matrix paths with other activation
/// rounding), so the same unsteered request decoded next to others moves
/// by up to 0.19 nats over 24 tokens (measured here: 8 prompts, 3 rounds,
/// no steering anywhere). A neighbour's steering leaking in moves it by
/// far more (checked below for the pair used).
const BATCH_NOISE_NATS: f64 = 0.35;

/// Generated tokens with their log-probabilities and top-2 alternatives.
#[derive(Debug)]
struct Run {
    tokens: Vec<String>,
    logprobs: Vec<f64>,
    top: Vec<Vec<(String, f64)>>,
}

fn run_of(v: &Value) -> Run {
    let content = v["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap_or_else(|| panic!("no logprobs in {v}"));
    Run {
        tokens: content
            .iter()
            .map(|t| t["token"].as_str().unwrap().to_string())
            .collect(),
        logprobs: content
            .iter()
            .map(|t| t["logprob"].as_f64().unwrap())
            .collect(),
        top: content
            .iter()
            .map(|t| {
                t["top_logprobs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| {
                        (
                            a["token"].as_str().unwrap().to_string(),
                            a["logprob"].as_f64().unwrap(),
                        )
                    })
                    .collect()
            })
            .collect(),
    }
}

/// Whether `got` is `solo` up to batching noise: the same tokens with
/// log-probabilities within `tol`, or a different token only where
/// `solo` had a near tie (its runner-up within `tol` of its choice).
fn same_up_to_noise(solo: &Run, got: &Run, tol: f64) -> Result<(), String> {
    for j in 0..solo.tokens.len().min(got.tokens.len()) {
        if solo.tokens[j] == got.tokens[j] {
            let d = (solo.logprobs[j] - got.logprobs[j]).abs();
            if d > tol {
                return Err(format!(
                    "token {j} {:?}: log-probability moved by {d:.3}",
                    solo.tokens[j]
                ));
            }
            continue;
        }
        return match solo.top[j].iter().find(|(t, _)| *t == got.tokens[j]) {
            Some((_, lp)) if solo.logprobs[j] - lp <= tol => Ok(()),
            _ => Err(format!(
                "token {j}: {:?} instead of {:?}, which was no near tie (top: {:?})",
                got.tokens[j], solo.tokens[j], solo.top[j]
            )),
        };
    }
    if solo.tokens.len() != got.tokens.len() {
        return Err(format!(
            "{} tokens instead of {}",
            got.tokens.len(),
            solo.tokens.len()
        ));
    }
    Ok(())
}

#[test]
fn concurrent_steered_and_unsteered_requests_each_match_their_solo_run() {
    let s = start("serve-isolation", &["--parallel", "4"]);
    let prompt = "Describe the weather today.";
    let with_lp = |mut b: Value| {
        b["logprobs"] = json!(true);
        b["top_logprobs"] = json!(2);
        b
    };
    let strong = json!([{"name": "happy", "strength": 1.0}]);
    let mut generated = chat(prompt, 24, strong.clone());
    generated["steering_positions"] = json!("generated");
    let cases: Vec<Value> = [
        chat(prompt, 24, json!([])),
        chat(prompt, 24, strong),
        chat(prompt, 24, json!([{"name": "formal", "strength": 1.0}])),
        chat("Name a fruit.", 24, json!([])),
        generated,
    ]
    .into_iter()
    .map(with_lp)
    .collect();
    let solo: Vec<Run> = cases
        .iter()
        .map(|b| {
            let (st, v) = post(&s, "/v1/chat/completions", b);
            assert_eq!(st, 200, "{v}");
            run_of(&v)
        })
        .collect();
    // A leak would show: the steered answers are far outside the noise.
    for k in [1, 2, 4] {
        assert!(
            same_up_to_noise(&solo[0], &solo[k], BATCH_NOISE_NATS).is_err(),
            "request {k}'s steering is too weak to tell a leak from batching noise"
        );
    }
    // Five requests on four slots: the fifth joins a running batch.
    for round in 0..2 {
        let together: Vec<Run> = std::thread::scope(|sc| {
            let hs: Vec<_> = cases
                .iter()
                .map(|b| sc.spawn(|| post(&s, "/v1/chat/completions", b)))
                .collect();
            hs.into_iter()
                .map(|h| {
                    let (st, v) = h.join().unwrap();
                    assert_eq!(st, 200, "{v}");
                    run_of(&v)
                })
                .collect()
        });
        for (i, (a, b)) in solo.iter().zip(&together).enumerate() {
            if let Err(e) = same_up_to_noise(a, b, BATCH_NOISE_NATS) {
                panic!("round {round}, request {i}: batched answer is not its solo answer: {e}");
            }
        }
    }
}

/// A bad request: what it is, its body, the `param` and `code` expected.
type BadCase<'a> = (&'a str, Vec<u8>, Option<&'a str>, Option<&'a str>);

#[test]
fn bad_requests_get_openai_errors_and_the_server_keeps_serving() {
    let s = start("serve-bad", &["--parallel", "2", "--ctx", "128"]);
    let long_prompt = "word ".repeat(400);
    // (what, body, param, code); every one is a 400.
    let cases: Vec<BadCase> = vec![
        ("malformed JSON", br#"{"messages": [{"role": "user""#.to_vec(), None, None),
        ("NaN strength", br#"{"messages": [{"role": "user", "content": "hi"}], "steering": [{"name": "happy", "strength": NaN}]}"#.to_vec(), None, None),
        ("infinite strength", br#"{"messages": [{"role": "user", "content": "hi"}], "steering": [{"name": "happy", "strength": 1e999}]}"#.to_vec(), None, None),
        ("strength beyond the bound", chat("hi", 4, json!([{"name": "happy", "strength": -25.0}])).to_string().into_bytes(), Some("steering[0].strength"), None),
        ("huge finite strength", chat("hi", 4, json!([{"name": "happy", "strength": 1e300}])).to_string().into_bytes(), Some("steering[0].strength"), None),
        ("one file named 100 times", chat("hi", 4, json!(vec![json!({"name": "happy", "strength": 20.0}); 100])).to_string().into_bytes(), Some("steering"), None),
        ("one file named twice", chat("hi", 4, json!([{"name": "happy", "strength": 1.0}, {"name": "happy", "strength": 1.0}])).to_string().into_bytes(), Some("steering[1].name"), None),
        ("10,000 steering entries", chat("hi", 4, json!(vec![json!({"name": "happy"}); 10_000])).to_string().into_bytes(), Some("steering"), None),
        ("strengths adding up beyond the bound", chat("hi", 4, json!([{"name": "happy", "strength": 15.0}, {"name": "formal", "strength": -15.0}])).to_string().into_bytes(), Some("steering"), None),
        ("unknown steering name", chat("hi", 4, json!([{"name": "nope"}])).to_string().into_bytes(), Some("steering[0].name"), Some("unknown_steering")),
        ("prompt longer than the context", chat(&long_prompt, 4, json!([])).to_string().into_bytes(), Some("messages"), Some("context_length_exceeded")),
        ("max_tokens 0", chat("hi", 0, json!([])).to_string().into_bytes(), Some("max_tokens"), None),
        ("max_tokens huge", chat("hi", 1_000_000_000, json!([])).to_string().into_bytes(), Some("max_tokens"), Some("context_length_exceeded")),
        ("max_tokens of the wrong type", br#"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": "ten"}"#.to_vec(), Some("max_tokens"), None),
        ("no messages", br#"{"model": "x"}"#.to_vec(), Some("messages"), None),
        ("body not an object", b"[1, 2]".to_vec(), None, None),
        ("bad positions", br#"{"messages": [{"role": "user", "content": "hi"}], "steering_positions": "sometimes"}"#.to_vec(), Some("steering_positions"), None),
        ("temperature out of range", br#"{"messages": [{"role": "user", "content": "hi"}], "temperature": 5}"#.to_vec(), Some("temperature"), None),
        ("n = 2", br#"{"messages": [{"role": "user", "content": "hi"}], "n": 2}"#.to_vec(), Some("n"), None),
        ("image content part", br#"{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}"#.to_vec(), Some("messages[0].content"), None),
    ];
    for (what, body, param, code) in &cases {
        let (st, v) = post_raw(&s, "/v1/chat/completions", body);
        assert_eq!(st, 400, "{what}: {v}");
        let e = &v["error"];
        assert!(
            e["message"].as_str().is_some_and(|m| m.len() > 10),
            "{what}: message {e}"
        );
        assert_eq!(e["type"], "invalid_request_error", "{what}: {e}");
        if let Some(p) = param {
            assert_eq!(e["param"], *p, "{what}: {e}");
        }
        if let Some(c) = code {
            assert_eq!(e["code"], *c, "{what}: {e}");
        }
        assert_serves(&s);
    }
    // The context error names the flag that exists.
    let (_, v) = post(
        &s,
        "/v1/chat/completions",
        &chat(&long_prompt, 4, json!([])),
    );
    let m = v["error"]["message"].as_str().unwrap();
    assert!(m.contains("(serve --ctx)"), "{m}");
    // Unknown fields are ignored, as OpenAI clients expect; a negative
    // strength inside the bound steers away.
    let mut ok = chat("hi", 3, json!([{"name": "happy", "strength": -0.5}]));
    ok["logit_bias"] = json!({});
    ok["user"] = json!("someone");
    ok["frequency_penalty"] = json!(0);
    let (st, v) = post(&s, "/v1/chat/completions", &ok);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["steering"]["applied"][0]["strength"], json!(-0.5));
    // Unknown paths answer in the same shape.
    let (st, v) = get(&s, "/v1/nothing");
    assert_eq!(st, 404);
    assert_eq!(v["error"]["code"], "unknown_url");
    assert!(s.stderr().find("panicked").is_none(), "{}", s.stderr());
}

#[test]
fn a_full_queue_answers_503_with_an_openai_error() {
    let s = start("serve-queue", &["--parallel", "1", "--queue", "1"]);
    let mut long = chat("Count to a thousand.", 150, json!([]));
    long["ignore_eos"] = json!(true);
    std::thread::scope(|sc| {
        let first = sc.spawn(|| post(&s, "/v1/chat/completions", &long));
        wait_health(&s, Duration::from_secs(30), |h| h["slots"]["busy"] == 1);
        let second = sc.spawn(|| post(&s, "/v1/chat/completions", &long));
        let h = wait_health(&s, Duration::from_secs(30), |h| h["queue"]["waiting"] == 1);
        assert_eq!(h["queue"]["waiting"], 1, "{h}");
        let (st, v) = post(&s, "/v1/chat/completions", &chat("hi", 2, json!([])));
        assert_eq!(st, 503, "{v}");
        assert_eq!(v["error"]["code"], "queue_full");
        assert_eq!(v["error"]["type"], "server_error");
        for h in [first, second] {
            let (st, v) = h.join().unwrap();
            assert_eq!(st, 200, "{v}");
            assert_eq!(v["usage"]["completion_tokens"], 150);
        }
    });
    assert_serves(&s);
}

#[test]
fn a_client_that_disconnects_mid_stream_frees_its_slot_at_once() {
    let s = start("serve-disconnect", &["--parallel", "1", "--ctx", "4096"]);
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut body = chat("Count to a thousand.", 4000, json!([]));
    body["stream"] = json!(true);
    body["ignore_eos"] = json!(true);
    let body = body.to_string();
    let mut tcp = TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        tcp,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let mut line = String::new();
    let mut chunks = 0;
    while chunks < 5 {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "stream ended early"
        );
        if line.starts_with("data: {") {
            chunks += 1;
        }
    }
    assert_eq!(health(&s)["slots"]["busy"], 1);
    tcp.shutdown(std::net::Shutdown::Both).unwrap();
    drop(reader);
    drop(tcp);
    let t = Instant::now();
    let h = wait_health(&s, Duration::from_secs(10), |h| h["slots"]["busy"] == 0);
    assert_eq!(
        h["slots"]["busy"], 0,
        "slot still busy 10 s after the client left: {h}"
    );
    let freed_after = t.elapsed();
    assert!(
        freed_after < Duration::from_secs(2),
        "freed after {freed_after:?}"
    );
    let generated = h["generated_tokens"].as_u64().unwrap();
    assert!(
        generated < 1000,
        "kept generating for a gone client: {generated} tokens"
    );
    assert!(
        s.stderr().contains("cancelled (client gone)"),
        "{}",
        s.stderr()
    );
    assert_serves(&s);
}

#[test]
fn ctrl_c_finishes_in_flight_requests_then_exits() {
    let mut s = start("serve-ctrlc", &["--parallel", "2"]);
    let mut body = chat("Count to a hundred.", 60, happy());
    body["ignore_eos"] = json!(true);
    let addr = s.base.trim_start_matches("http://").to_string();
    let pid = s.pid();
    let (status, v) = std::thread::scope(|sc| {
        let h = sc.spawn(|| post(&s, "/v1/chat/completions", &body));
        wait_health(&s, Duration::from_secs(30), |h| h["slots"]["busy"] == 1);
        let kill = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        h.join().unwrap()
    });
    assert_eq!(status, 200, "in-flight request after Ctrl-C: {v}");
    assert_eq!(v["usage"]["completion_tokens"], 60, "cut short: {v}");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    let exit = s.wait_exit(Duration::from_secs(20));
    assert_eq!(
        exit,
        Some(0),
        "exit after draining; stderr:\n{}",
        s.stderr()
    );
    assert!(s.stderr().contains("Ctrl-C"), "{}", s.stderr());
    assert!(
        TcpStream::connect(&addr).is_err(),
        "still accepting after exit"
    );
}

/// A greedy completion of `prompt` with `logit_bias`; (status, answer).
fn biased(s: &ServerProcess, prompt: &str, tokens: usize, bias: Value) -> (u16, Value) {
    let body = json!({
        "prompt": prompt, "max_tokens": tokens, "temperature": 0,
        "ignore_eos": true, "logit_bias": bias,
    });
    post(s, "/v1/completions", &body)
}

#[test]
fn logit_bias_forces_and_bans_tokens_and_bad_biases_are_refused() {
    let s = start("serve-logit-bias", &["--parallel", "1"]);
    let model = common::smollm2();
    let prompt = "The capital of France is";
    let text = |v: &Value| v["choices"][0]["text"].as_str().unwrap().to_string();
    // +100 forces a token the model would not pick.
    let cat = model.tokenize(" cat", false, false).unwrap();
    assert_eq!(cat.len(), 1, "{cat:?}");
    let piece = String::from_utf8(model.token_bytes(cat[0])).unwrap();
    let (st, v) = biased(&s, prompt, 3, json!({cat[0].to_string(): 100}));
    assert_eq!(st, 200, "{v}");
    assert_eq!(text(&v), piece.repeat(3), "{v}");
    // -100 bans the greedy choice.
    let (_, v) = biased(&s, prompt, 1, json!({}));
    let first = text(&v);
    let ids = model.tokenize(&first, false, false).unwrap();
    assert_eq!(ids.len(), 1, "{first:?} → {ids:?}");
    let (st, v) = biased(&s, prompt, 1, json!({ids[0].to_string(): -100}));
    assert_eq!(st, 200, "{v}");
    assert_ne!(text(&v), first, "a banned token was generated: {v}");
    // The bias lasts for that request only.
    let (_, v) = biased(&s, prompt, 1, json!({}));
    assert_eq!(text(&v), first);
    for (bias, param) in [
        (json!({"49152": 1}), "logit_bias.49152"),
        (json!({"cat": 1}), "logit_bias.cat"),
        (json!({"5": 101}), "logit_bias.5"),
        (json!({"5": "high"}), "logit_bias.5"),
    ] {
        let (st, v) = biased(&s, prompt, 1, bias.clone());
        assert_eq!(st, 400, "{bias}: {v}");
        assert_eq!(v["error"]["param"], param, "{bias}: {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    }
    assert_serves(&s);
}
