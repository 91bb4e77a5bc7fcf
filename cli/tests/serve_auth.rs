//! API keys on the real server: 401 in OpenAI's shape without or with a
//! wrong key, served with any configured key (flag or file, and through the
//! official openai client), /health open; no key beyond loopback is refused
//! at start, for `serve` and for `rpc-worker`.

#[path = "../../tests/common/mod.rs"]
mod common;
mod server;

use common::scratch;
use serde_json::{json, Value};
use server::{python, ServerProcess};
use std::process::Command;
use std::time::Duration;

fn call(s: &ServerProcess, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut req = if path == "/health" || path == "/v1/models" {
        ureq::get(&s.url(path))
    } else {
        ureq::post(&s.url(path))
    };
    req = req.timeout(Duration::from_secs(120));
    if let Some(k) = key {
        req = req.set("Authorization", &format!("Bearer {k}"));
    }
    let body =
        json!({"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2, "temperature": 0});
    let r = if path == "/health" || path == "/v1/models" {
        req.call()
    } else {
        req.send_json(body)
    };
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    (resp.status(), resp.into_json().unwrap())
}

#[test]
fn keys_are_required_and_checked() {
    let file = scratch("serve-auth").join("keys.txt");
    std::fs::write(&file, "# team keys\n\nsk-from-file\n").unwrap();
    let s = ServerProcess::start(
        "serve-auth",
        &[
            "--api-key",
            "sk-flag",
            "--api-key-file",
            file.to_str().unwrap(),
        ],
    );
    const CHAT: &str = "/v1/chat/completions";
    for (key, what) in [
        (None, "no key"),
        (Some("sk-wrong"), "wrong key"),
        (Some("sk-fla"), "a prefix of a key"),
    ] {
        let (st, v) = call(&s, CHAT, key);
        assert_eq!(st, 401, "{what}: {v}");
        assert_eq!(v["error"]["code"], "invalid_api_key", "{what}: {v}");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].as_str().unwrap().len() > 10);
        // A good request right after succeeds.
        let (st, v) = call(&s, CHAT, Some("sk-flag"));
        assert_eq!(st, 200, "{v}");
    }
    let (st, _) = call(&s, CHAT, Some("sk-from-file"));
    assert_eq!(st, 200);
    assert_eq!(call(&s, "/v1/models", None).0, 401);
    assert_eq!(call(&s, "/v1/models", Some("sk-from-file")).0, 200);
    let (st, v) = call(&s, "/health", None);
    assert_eq!(st, 200, "{v}");

    // The official client sends its api_key as the bearer token.
    let script = scratch("serve-auth").join("client.py");
    std::fs::write(
        &script,
        r#"import sys
from openai import OpenAI, AuthenticationError
base = sys.argv[1] + "/v1"
ok = OpenAI(base_url=base, api_key="sk-flag").chat.completions.create(
    model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=2, temperature=0)
print("ok", ok.choices[0].finish_reason)
try:
    OpenAI(base_url=base, api_key="sk-nope", max_retries=0).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=2)
except AuthenticationError as e:
    print("refused", e.status_code)
"#,
    )
    .unwrap();
    let (code, out, err) = python(&script, &[&s.url("")]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("ok length") || out.contains("ok stop"),
        "{out}"
    );
    assert!(out.contains("refused 401"), "{out}");
    assert!(!s.stderr().contains("panicked"), "{}", s.stderr());
}

#[test]
fn beyond_loopback_without_a_key_is_refused_at_start() {
    let bin = env!("CARGO_BIN_EXE_expertsteer");
    let run = |args: &[&str]| {
        let out = Command::new(bin).args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["serve", "--host", "0.0.0.0", "--port", "0"]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("--api-key") && err.contains("--no-auth"),
        "{err}"
    );
    let (code, err) = run(&["serve", "--host", "::", "--no-auth", "--api-key", "k"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("contradicts"), "{err}");
    let (code, err) = run(&["rpc-worker", "--host", "0.0.0.0", "--port", "0"]);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("--trusted-network") && err.contains("no authentication"),
        "{err}"
    );
}
