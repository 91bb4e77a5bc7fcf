//! `expertsteer bench-serve`: a bounded load test of the server on
//! loopback, with the throughput ratios of issue 9 measured side by side
//! in interleaved rounds, then a mixed load of many clients.

use super::bench::at_least_one;
use super::options::ModelOpts;
use super::serve::{model_id, parse_steer_arg};
use clap::Args;
use expertsteer::fit::peak_rss_bytes;
use expertsteer::serve::load::{run_load, LoadConfig, LoadReport, SteerChoice};
use expertsteer::serve::{Catalog, EngineConfig, ServeConfig, Server};
use expertsteer::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

const PROMPTS: &[&str] = &[
    "Explain what a hash table is.",
    "How do I reverse a list in Python?",
    "What causes the seasons on Earth?",
    "Give me three tips for writing clean code.",
    "Write a haiku about autumn.",
    "What is the difference between TCP and UDP?",
    "Summarise the plot of Romeo and Juliet.",
    "How does a binary search work?",
];

#[derive(Args, Debug)]
pub struct BenchServeArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// Steering files to load (NAME=FILE or FILE), 1 to 3; the mixed load
    /// cycles through them and no steering.
    #[arg(long = "steer", value_name = "NAME=FILE", required = true)]
    pub steer: Vec<String>,
    /// Server slots (requests decoded together).
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Mixed load: concurrent clients.
    #[arg(long, default_value_t = 16, value_parser = at_least_one())]
    pub clients: usize,
    /// Mixed load: requests per client.
    #[arg(long, default_value_t = 20, value_parser = at_least_one())]
    pub requests: usize,
    /// Tokens generated per request (exactly: end-of-generation is ignored).
    #[arg(long, default_value_t = 32, value_parser = at_least_one())]
    pub max_tokens: usize,
    /// Ratio phase: rounds of (steered, unsteered, serial), interleaved.
    #[arg(long, default_value_t = 3, value_parser = at_least_one())]
    pub rounds: usize,
    /// Ratio phase: requests per client and round.
    #[arg(long, default_value_t = 2, value_parser = at_least_one())]
    pub per_round: usize,
    /// Seconds after which no new request starts (the whole run is bounded).
    #[arg(long, default_value_t = 1200)]
    pub deadline_secs: u64,
}

pub fn run(a: BenchServeArgs) -> Result<()> {
    if a.steer.len() > 3 {
        return Err(Error::Input(
            "bench-serve takes 1 to 3 --steer files".into(),
        ));
    }
    let steers = a
        .steer
        .iter()
        .map(|s| parse_steer_arg(s))
        .collect::<Result<Vec<_>>>()?;
    let model = Arc::new(a.model.load()?);
    let catalog = Catalog::load(&model, &steers, None)?;
    let defaults: Vec<(String, f32)> = catalog
        .files
        .iter()
        .map(|(n, f)| (n.clone(), f.default_strength))
        .collect();
    let params = a.model.context_params();
    let server = Server::start(ServeConfig {
        model_id: model_id(&a.model.model),
        model,
        catalog,
        addr: "127.0.0.1:0".parse().expect("literal address"),
        engine: EngineConfig {
            parallel: a.parallel,
            ctx_per_slot: a.model.ctx,
            threads: params.threads,
            n_batch: 512,
            log: false,
        },
        queue: a.clients.max(a.parallel),
        ctrl_c: false,
    })?;
    let base = format!("http://{}", server.addr());
    errln!(
        "bench-serve: server on {base}, {} slots, {} threads",
        a.parallel,
        params.threads
    );
    let deadline = Duration::from_secs(a.deadline_secs);
    let load = |clients, requests, steerings: Vec<SteerChoice>| -> Result<LoadReport> {
        let r = run_load(&LoadConfig {
            base_url: base.clone(),
            clients,
            requests_per_client: requests,
            max_tokens: a.max_tokens,
            steerings,
            prompts: PROMPTS.iter().map(|s| s.to_string()).collect(),
            request_timeout: Duration::from_secs(300),
            deadline,
        })
        .map_err(Error::Input)?;
        if r.errors > 0 || r.skipped > 0 {
            return Err(Error::Input(format!(
                "{} requests failed and {} were skipped; first error: {}",
                r.errors,
                r.skipped,
                r.first_error.as_deref().unwrap_or("none")
            )));
        }
        Ok(r)
    };

    // Four differently steered requests: each file at its default, then
    // the files again at the opposite sign.
    let n = a.parallel;
    let steered: Vec<SteerChoice> = (0..n)
        .map(|i| {
            let (name, c) = &defaults[i % defaults.len()];
            let sign = if (i / defaults.len()).is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            Some((name.clone(), c * sign))
        })
        .collect();
    let mut totals = [(0usize, 0f64); 3];
    for round in 0..a.rounds {
        errln!("bench-serve: ratio round {}/{}", round + 1, a.rounds);
        let runs = [
            load(n, a.per_round, steered.clone())?,
            load(n, a.per_round, vec![None])?,
            load(1, n * a.per_round, steered.clone())?,
        ];
        for (t, r) in totals.iter_mut().zip(&runs) {
            t.0 += r.completion_tokens;
            t.1 += r.wall_secs;
        }
    }
    let tps = |i: usize| totals[i].0 as f64 / totals[i].1;
    outln!(
        "\n## {n} requests at once, {} tokens each, {} interleaved rounds\n",
        a.max_tokens,
        a.rounds
    );
    outln!("| load | tokens/s |");
    outln!("|---|---|");
    outln!(
        "| {n} concurrent, each steered differently | {:.1} |",
        tps(0)
    );
    outln!("| {n} concurrent, unsteered | {:.1} |", tps(1));
    outln!(
        "| the same {n} steered requests one after another | {:.1} |",
        tps(2)
    );
    outln!(
        "\nsteered / unsteered (target ≥ 0.95): **{:.3}**",
        tps(0) / tps(1)
    );
    outln!(
        "concurrent / one after another (target ≥ 2): **{:.2}**",
        tps(0) / tps(2)
    );

    let mut mixed: Vec<SteerChoice> = defaults.iter().cloned().map(Some).collect();
    mixed.push(None);
    errln!(
        "bench-serve: mixed load, {} clients × {} requests",
        a.clients,
        a.requests
    );
    let r = load(a.clients, a.requests, mixed)?;
    outln!(
        "\n## mixed load: {} clients × {} requests, {} steering files + none, {} tokens each\n",
        a.clients,
        a.requests,
        defaults.len(),
        a.max_tokens
    );
    outln!("| requests | errors | requests/s | tokens/s | p50 latency | p95 latency | peak RSS |");
    outln!("|---|---|---|---|---|---|---|");
    outln!(
        "| {} | {} | {:.2} | {:.1} | {:.2} s | {:.2} s | {:.0} MiB |",
        r.ok,
        r.errors,
        r.requests_per_sec(),
        r.tokens_per_sec(),
        r.latency_quantile(0.5),
        r.latency_quantile(0.95),
        peak_rss_bytes() as f64 / (1024.0 * 1024.0)
    );
    server.stop()
}
