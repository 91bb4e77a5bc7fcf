//! Per-request ablation (`"op": "ablate"`) and `{"from_end": N}` positions
//! on the real server with the real SmolLM2.

#[path = "../../tests/common/mod.rs"]
mod common;
mod server;

use serde_json::{json, Value};
use server::{steer_args, ServerProcess};
use std::time::Duration;

fn post(s: &ServerProcess, body: &Value) -> (u16, Value) {
    let r = ureq::post(&s.url("/v1/chat/completions"))
        .timeout(Duration::from_secs(300))
        .send_json(body.clone());
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}\n{}", s.stderr()),
    };
    (resp.status(), resp.into_json().unwrap())
}

fn chat(steering: Value, positions: Value) -> Value {
    json!({
        "messages": [
            {"role": "system", "content": "You are a helpful assistant who answers briefly."},
            {"role": "user", "content": "Describe your morning."}
        ],
        "max_tokens": 6,
        "temperature": 0,
        "logprobs": true,
        "steering": steering,
        "steering_positions": positions,
    })
}

/// The log-probability of each generated token.
fn lps(v: &Value) -> Vec<f64> {
    v["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap_or_else(|| panic!("no logprobs: {v}"))
        .iter()
        .map(|t| t["logprob"].as_f64().unwrap())
        .collect()
}

fn ok(s: &ServerProcess, steering: Value, positions: Value) -> Value {
    let (st, v) = post(s, &chat(steering, positions));
    assert_eq!(st, 200, "{v}");
    v
}

fn start() -> ServerProcess {
    let steer = steer_args();
    let mut args: Vec<&str> = steer.iter().map(String::as_str).collect();
    args.extend_from_slice(&["--parallel", "2"]);
    ServerProcess::start("serve-ops", &args)
}

#[test]
fn ablation_and_from_end_positions_per_request() {
    let s = start();
    let plain = ok(&s, json!([]), json!("all"));

    // Ablation changes the states (the component along u is gone), and
    // combines with addition in one request.
    let ablated = ok(&s, json!([{"name": "happy", "op": "ablate"}]), json!("all"));
    assert_eq!(ablated["steering"]["ablated"], json!(["happy"]));
    assert_eq!(ablated["steering"]["applied"], json!([]));
    let d = (lps(&ablated)[0] - lps(&plain)[0]).abs();
    assert!(d > 1e-4, "ablation changed nothing ({d})");
    let both = ok(
        &s,
        json!([{"name": "happy", "op": "ablate"}, {"name": "formal", "strength": 0.6}]),
        json!("all"),
    );
    assert_eq!(both["steering"]["ablated"], json!(["happy"]));
    assert_eq!(both["steering"]["applied"][0]["name"], "formal");
    let formal = ok(
        &s,
        json!([{"name": "formal", "strength": 0.6}]),
        json!("all"),
    );
    assert_ne!(
        lps(&both),
        lps(&formal),
        "the ablation was lost next to an addition"
    );
    // The ablated sequence does not leak into the next request.
    assert_eq!(lps(&ok(&s, json!([]), json!("all"))), lps(&plain));

    // from_end: 0 is "generated"; beyond the prompt it is "all"; in between
    // it differs from both.
    let steer = json!([{"name": "happy", "strength": 0.6}]);
    let all = ok(&s, steer.clone(), json!("all"));
    let generated = ok(&s, steer.clone(), json!("generated"));
    let end0 = ok(&s, steer.clone(), json!({"from_end": 0}));
    let end_all = ok(&s, steer.clone(), json!({"from_end": 2048}));
    let end4 = ok(&s, steer.clone(), json!({"from_end": 4}));
    assert_eq!(end4["steering"]["positions"], json!({"from_end": 4}));
    assert_eq!(lps(&end0), lps(&generated));
    assert_eq!(lps(&end_all), lps(&all));
    assert_ne!(lps(&end4), lps(&generated));
    assert_ne!(lps(&end4), lps(&all));
    assert_ne!(lps(&all), lps(&generated));

    // Bad input: a 400 naming the field, and the server keeps serving.
    let bad = [
        (
            json!([{"name": "happy", "op": "multiply"}]),
            json!("all"),
            "steering[0].op",
        ),
        (
            json!([{"name": "happy", "op": "ablate", "strength": 1.0}]),
            json!("all"),
            "steering[0].strength",
        ),
        (
            json!([{"name": "happy", "op": "ablate"}, {"name": "happy"}]),
            json!("all"),
            "steering[1].name",
        ),
        (
            json!([{"name": "happy"}]),
            json!({"from_end": -1}),
            "steering_positions",
        ),
        (
            json!([{"name": "happy"}]),
            json!({"from_end": "3"}),
            "steering_positions",
        ),
    ];
    for (steering, positions, param) in bad {
        let (st, v) = post(&s, &chat(steering.clone(), positions.clone()));
        assert_eq!(st, 400, "{steering} {positions}: {v}");
        assert_eq!(v["error"]["param"], param, "{v}");
        assert_eq!(lps(&ok(&s, json!([]), json!("all"))), lps(&plain));
    }
    let (_, v) = post(
        &s,
        &chat(json!([{"name": "happy", "op": "multiply"}]), json!("all")),
    );
    assert_eq!(v["error"]["code"], "unknown_op");
    assert!(!s.stderr().contains("panicked"), "{}", s.stderr());
}
