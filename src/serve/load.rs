//! A bounded load test for a server on loopback: a fixed number of client
//! threads, each sending a fixed number of chat requests one after
//! another, every request with its own time limit and the whole run with
//! a deadline, so it always stops by itself.

use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request's steering: `None` = explicitly unsteered.
pub type SteerChoice = Option<(String, f32)>;

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `http://127.0.0.1:PORT`; only loopback addresses are accepted.
    pub base_url: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Requests each client sends, one after another.
    pub requests_per_client: usize,
    /// Tokens per answer (sent with `ignore_eos`, so every answer has
    /// exactly this many and runs compare like with like).
    pub max_tokens: usize,
    /// Request `k` of client `c` uses `steerings[(c + k) % len]`.
    pub steerings: Vec<SteerChoice>,
    /// Request `k` of client `c` uses `prompts[(c * requests + k) % len]`.
    pub prompts: Vec<String>,
    /// Limit of one request.
    pub request_timeout: Duration,
    /// No request starts after this much time.
    pub deadline: Duration,
}

/// What came back.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Requests answered with 200.
    pub ok: usize,
    /// Requests that failed (status, transport or timeout).
    pub errors: usize,
    /// Requests never sent because the deadline passed.
    pub skipped: usize,
    /// The first error, to show.
    pub first_error: Option<String>,
    /// Generated tokens over all answers (from `usage`).
    pub completion_tokens: usize,
    /// Seconds per successful request.
    pub latencies_secs: Vec<f64>,
    /// Wall time of the whole run.
    pub wall_secs: f64,
}

impl LoadReport {
    /// Successful requests per second.
    pub fn requests_per_sec(&self) -> f64 {
        self.ok as f64 / self.wall_secs.max(1e-9)
    }

    /// Generated tokens per second over the whole run.
    pub fn tokens_per_sec(&self) -> f64 {
        self.completion_tokens as f64 / self.wall_secs.max(1e-9)
    }

    /// The `q`-quantile (0..=1) of latency, nearest rank; NaN if none.
    pub fn latency_quantile(&self, q: f64) -> f64 {
        let mut v = self.latencies_secs.clone();
        if v.is_empty() {
            return f64::NAN;
        }
        v.sort_by(f64::total_cmp);
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }
}

/// Refuses anything but a loopback URL: load tests never leave the machine.
pub fn check_loopback(base_url: &str) -> Result<(), String> {
    let rest = base_url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{base_url}: only http:// URLs"))?;
    let host = rest.split('/').next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "{base_url}: load tests only talk to loopback addresses"
        ))
    }
}

/// Runs the load and waits for every client.
pub fn run_load(cfg: &LoadConfig) -> Result<LoadReport, String> {
    check_loopback(&cfg.base_url)?;
    if cfg.steerings.is_empty() || cfg.prompts.is_empty() {
        return Err("a load needs at least one steering choice and one prompt".into());
    }
    let agent = ureq::AgentBuilder::new()
        .timeout(cfg.request_timeout)
        .max_idle_connections_per_host(cfg.clients)
        .build();
    let report = Arc::new(Mutex::new(LoadReport::default()));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for c in 0..cfg.clients {
            let agent = agent.clone();
            let report = report.clone();
            scope.spawn(move || {
                for k in 0..cfg.requests_per_client {
                    if start.elapsed() > cfg.deadline {
                        report.lock().unwrap().skipped += cfg.requests_per_client - k;
                        break;
                    }
                    let steering = &cfg.steerings[(c + k) % cfg.steerings.len()];
                    let prompt =
                        &cfg.prompts[(c * cfg.requests_per_client + k) % cfg.prompts.len()];
                    let t = Instant::now();
                    let r = one_request(&agent, cfg, prompt, steering);
                    let secs = t.elapsed().as_secs_f64();
                    let mut rep = report.lock().unwrap();
                    match r {
                        Ok(tokens) => {
                            rep.ok += 1;
                            rep.completion_tokens += tokens;
                            rep.latencies_secs.push(secs);
                        }
                        Err(e) => {
                            rep.errors += 1;
                            rep.first_error.get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    let mut rep = Arc::try_unwrap(report)
        .map_err(|_| "load report still shared".to_string())?
        .into_inner()
        .map_err(|_| "a client thread panicked".to_string())?;
    rep.wall_secs = start.elapsed().as_secs_f64();
    Ok(rep)
}

/// The body of one load request.
pub fn request_body(prompt: &str, max_tokens: usize, steering: &SteerChoice) -> Value {
    let steering = match steering {
        Some((name, c)) => json!([{"name": name, "strength": c}]),
        None => json!([]),
    };
    json!({
        "model": "load",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": true,
        "steering": steering,
    })
}

/// Sends one chat request; returns its generated token count.
fn one_request(
    agent: &ureq::Agent,
    cfg: &LoadConfig,
    prompt: &str,
    steering: &SteerChoice,
) -> Result<usize, String> {
    let url = format!("{}/v1/chat/completions", cfg.base_url);
    let resp = agent
        .post(&url)
        .send_json(request_body(prompt, cfg.max_tokens, steering))
        .map_err(|e| match e {
            ureq::Error::Status(code, r) => {
                format!("HTTP {code}: {}", r.into_string().unwrap_or_default())
            }
            other => other.to_string(),
        })?;
    let v: Value = resp.into_json().map_err(|e| format!("bad JSON: {e}"))?;
    v["usage"]["completion_tokens"]
        .as_u64()
        .map(|n| n as usize)
        .ok_or_else(|| format!("no usage in the answer: {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_loaded() {
        assert!(check_loopback("http://127.0.0.1:8080").is_ok());
        assert!(check_loopback("http://localhost:1").is_ok());
        assert!(check_loopback("http://[::1]:9/x").is_ok());
        assert!(check_loopback("http://10.0.0.1:8080").is_err());
        assert!(check_loopback("http://example.com").is_err());
        assert!(check_loopback("https://127.0.0.1").is_err());
    }

    #[test]
    fn quantiles_use_nearest_rank() {
        let r = LoadReport {
            latencies_secs: (1..=20).map(f64::from).collect(),
            ..Default::default()
        };
        assert_eq!(r.latency_quantile(0.5), 10.0);
        assert_eq!(r.latency_quantile(0.95), 19.0);
        assert!(LoadReport::default().latency_quantile(0.5).is_nan());
    }
}
