//! Steering files loaded, replaced and removed while the real server runs:
//! from --steer-dir by name and as uploaded bytes, admin keys, a request in
//! flight keeping its vectors through a delete, and hostile uploads refused
//! with the server still serving.

#[path = "../../tests/common/mod.rs"]
mod common;
mod server;

use common::scratch;
use expertsteer::steerfile::SteerFile;
use serde_json::{json, Value};
use server::{steer_files, ServerProcess};
use std::io::{BufRead, BufReader};
use std::time::Duration;

const USER: &str = "user-key";
const ADMIN: &str = "admin-key";

fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let st = resp.status();
    let text = resp.into_string().unwrap();
    (
        st,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({st}): {text}")),
    )
}

fn auth(r: ureq::Request, key: Option<&str>) -> ureq::Request {
    let r = r.timeout(Duration::from_secs(120));
    match key {
        Some(k) => r.set("Authorization", &format!("Bearer {k}")),
        None => r,
    }
}

fn load(s: &ServerProcess, key: Option<&str>, body: Value) -> (u16, Value) {
    answer(auth(ureq::post(&s.url("/v1/steering")), key).send_json(body))
}

fn upload(s: &ServerProcess, key: Option<&str>, name: Option<&str>, bytes: &[u8]) -> (u16, Value) {
    let url = match name {
        Some(n) => s.url(&format!("/v1/steering?name={n}")),
        None => s.url("/v1/steering"),
    };
    answer(
        auth(ureq::post(&url), key)
            .set("Content-Type", "application/octet-stream")
            .send_bytes(bytes),
    )
}

fn delete(s: &ServerProcess, key: Option<&str>, name: &str) -> (u16, Value) {
    answer(auth(ureq::delete(&s.url(&format!("/v1/steering/{name}"))), key).call())
}

fn names(s: &ServerProcess) -> Vec<String> {
    let (_, v) = answer(auth(ureq::get(&s.url("/v1/steering")), Some(USER)).call());
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

fn chat_body(steering: Value, max_tokens: usize, stream: bool) -> Value {
    json!({
        "messages": [{"role": "user", "content": "Tell me about your day."}],
        "max_tokens": max_tokens, "temperature": 0, "ignore_eos": true,
        "steering": steering, "stream": stream,
    })
}

fn chat(s: &ServerProcess, steering: Value) -> (u16, Value) {
    answer(
        auth(ureq::post(&s.url("/v1/chat/completions")), Some(USER))
            .send_json(chat_body(steering, 12, false)),
    )
}

fn text(v: &Value) -> String {
    v["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"))
        .to_string()
}

fn assert_serves(s: &ServerProcess) {
    let (st, v) = chat(s, json!([]));
    assert_eq!(st, 200, "a normal request after a refused one: {v}");
}

#[test]
fn steering_files_load_replace_and_delete_at_run_time() {
    let files = steer_files();
    let path_of = |n: &str| files.iter().find(|(k, _)| k == n).unwrap().1.clone();
    let happy = std::fs::read(path_of("happy")).unwrap();
    let formal = std::fs::read(path_of("formal")).unwrap();
    let root = scratch("serve-runtime");
    let dir = root.join("steer-dir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("happy.steer"), &happy).unwrap();
    std::fs::write(root.join("outside.steer"), &happy).unwrap();
    let _ = std::fs::remove_file(dir.join("link.steer"));
    std::os::unix::fs::symlink(root.join("outside.steer"), dir.join("link.steer")).unwrap();

    let s = ServerProcess::start(
        "serve-runtime",
        &[
            "--steer-dir",
            dir.to_str().unwrap(),
            "--api-key",
            USER,
            "--admin-key",
            ADMIN,
            "--max-upload-mb",
            "1",
            "--parallel",
            "2",
        ],
    );
    assert!(names(&s).is_empty());
    let (st, v) = chat(&s, json!([{"name": "h", "strength": 0.6}]));
    assert_eq!((st, &v["error"]["code"]), (400, &json!("unknown_steering")));

    // Loading from the folder needs the admin key.
    let from_dir = json!({"name": "h", "file": "happy.steer"});
    assert_eq!(load(&s, None, from_dir.clone()).0, 401);
    let (st, v) = load(&s, Some(USER), from_dir.clone());
    assert_eq!(
        (st, &v["error"]["code"]),
        (403, &json!("admin_key_required")),
        "{v}"
    );
    let (st, v) = load(&s, Some(ADMIN), from_dir);
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["steering"]["name"], "h");
    let (_, plain) = chat(&s, json!([]));
    let (st, steered) = chat(&s, json!([{"name": "h", "strength": 0.6}]));
    assert_eq!(st, 200);
    assert_ne!(
        text(&steered),
        text(&plain),
        "the loaded file did not steer"
    );

    // Uploaded bytes, then a replacement under an existing name.
    let (st, v) = upload(&s, Some(ADMIN), Some("f"), &formal);
    assert_eq!(st, 201, "{v}");
    let (_, with_f) = chat(&s, json!([{"name": "f", "strength": 0.6}]));
    let (st, v) = upload(&s, Some(ADMIN), Some("h"), &formal);
    assert_eq!((st, &v["replaced"]), (200, &json!(true)), "{v}");
    let (_, h_now) = chat(&s, json!([{"name": "h", "strength": 0.6}]));
    assert_eq!(text(&h_now), text(&with_f), "the replacement is not in use");

    // A stream running on "h" keeps its vectors when "h" is deleted.
    let resp = auth(ureq::post(&s.url("/v1/chat/completions")), Some(USER))
        .send_json(chat_body(json!([{"name": "h", "strength": 0.6}]), 48, true))
        .unwrap();
    let mut lines = BufReader::new(resp.into_reader()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("data: "), "{first}");
    let (st, v) = delete(&s, Some(ADMIN), "h");
    assert_eq!(st, 200, "{v}");
    let mut streamed = String::new();
    let mut finish = Value::Null;
    let mut done = false;
    for line in std::iter::once(Ok(first)).chain(lines) {
        let line = line.unwrap();
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            done = true;
            break;
        }
        let c: Value = serde_json::from_str(data).unwrap();
        streamed += c["choices"][0]["delta"]["content"].as_str().unwrap_or("");
        if !c["choices"][0]["finish_reason"].is_null() {
            finish = c["choices"][0]["finish_reason"].clone();
        }
    }
    assert!(
        done && finish == "length",
        "the stream ended early: {finish}"
    );
    let full = answer(
        auth(ureq::post(&s.url("/v1/chat/completions")), Some(USER)).send_json(chat_body(
            json!([{"name": "f", "strength": 0.6}]),
            48,
            false,
        )),
    )
    .1;
    assert_eq!(
        streamed,
        text(&full),
        "the stream lost its vectors when its file was deleted"
    );
    let (st, v) = chat(&s, json!([{"name": "h"}]));
    assert_eq!((st, &v["error"]["code"]), (400, &json!("unknown_steering")));
    assert_eq!(delete(&s, Some(ADMIN), "h").0, 404);
    assert_eq!(names(&s), vec!["f".to_string()]);

    // Hostile loads: refused, naming the field, and the server serves on.
    let other_model = {
        let mut f = SteerFile::from_bytes(&formal, "formal").unwrap();
        f.target.n_embd = 64;
        for l in &mut f.layers {
            l.direction.truncate(64);
        }
        f.to_bytes().unwrap()
    };
    let cases: Vec<(&str, (u16, Value), u16, &str)> = vec![
        (
            "traversal",
            load(
                &s,
                Some(ADMIN),
                json!({"name": "x", "file": "../outside.steer"}),
            ),
            400,
            "file",
        ),
        (
            "absolute path",
            load(&s, Some(ADMIN), json!({"name": "x", "file": "/etc/passwd"})),
            400,
            "file",
        ),
        (
            "symlink out of the folder",
            load(&s, Some(ADMIN), json!({"name": "x", "file": "link.steer"})),
            400,
            "file",
        ),
        (
            "missing file",
            load(&s, Some(ADMIN), json!({"name": "x", "file": "nope.steer"})),
            400,
            "file",
        ),
        (
            "bad name",
            load(
                &s,
                Some(ADMIN),
                json!({"name": "a/b", "file": "happy.steer"}),
            ),
            400,
            "name",
        ),
        (
            "truncated upload",
            upload(&s, Some(ADMIN), Some("x"), &formal[..formal.len() / 2]),
            400,
            "file",
        ),
        (
            "random bytes",
            upload(&s, Some(ADMIN), Some("x"), &[7u8; 4096]),
            400,
            "file",
        ),
        (
            "another model's file",
            upload(&s, Some(ADMIN), Some("x"), &other_model),
            400,
            "file",
        ),
        (
            "upload without a name",
            upload(&s, Some(ADMIN), None, &formal),
            400,
            "name",
        ),
        (
            "oversized upload",
            upload(&s, Some(ADMIN), Some("x"), &vec![0u8; 3 << 20]),
            413,
            "",
        ),
    ];
    for (what, (st, v), want, param) in cases {
        assert_eq!(st, want, "{what}: {v}");
        assert!(
            v["error"]["message"].as_str().is_some_and(|m| m.len() > 10),
            "{what}: {v}"
        );
        if !param.is_empty() {
            assert_eq!(v["error"]["param"], param, "{what}: {v}");
        }
        assert_serves(&s);
    }
    assert_eq!(names(&s), vec!["f".to_string()]);
    assert!(!s.stderr().contains("panicked"), "{}", s.stderr());
}
