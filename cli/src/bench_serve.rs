//! `expertsteer bench serve`: a bounded load test of the server on
//! loopback, with the throughput ratios of issue 9 measured side by side
//! in interleaved rounds, then a mixed load of many clients.

use super::bench::{at_least_one, median, median_ratio};
use super::options::{EngineOpts, ModelOpts};
use super::serve::{model_id, parse_steer_arg};
use clap::Args;
use expertsteer::pipeline::fit::peak_rss_bytes;
use expertsteer::serve::load::{run_load, LoadConfig, LoadReport, SteerChoice};
use expertsteer::serve::{Catalog, ConnLimits, EngineConfig, ServeConfig, Server, Signals};
use expertsteer::{Error, Result};
use std::sync::Arc;
use std::time::Duration;

pub(super) const PROMPTS: &[&str] = &[
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
    #[command(flatten)]
    pub engine: EngineOpts,
    /// Server slots (requests decoded together).
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Mixed load: concurrent clients.
    #[arg(long, default_value_t = 16, value_parser = at_least_one())]
    pub clients: usize,
    /// Mixed load: requests per client.
    #[arg(long, default_value_t = 20, value_parser = at_least_one())]
    pub requests: usize,
    /// Mixed load: tokens generated per request (exactly: end-of-generation
    /// is ignored).
    #[arg(long, default_value_t = 32, value_parser = at_least_one())]
    pub max_tokens: usize,
    /// Ratio phase: tokens generated per request. Short answers measure
    /// mostly prompt processing, which batching cannot speed up.
    #[arg(long, default_value_t = 128, value_parser = at_least_one())]
    pub ratio_tokens: usize,
    /// Ratio phase: rounds of (steered, unsteered, serial), interleaved.
    #[arg(long, default_value_t = 3, value_parser = at_least_one())]
    pub rounds: usize,
    /// Ratio phase: requests per client and round.
    #[arg(long, default_value_t = 1, value_parser = at_least_one())]
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
    let params = a.model.context_params(&model)?;
    let server = Server::start(ServeConfig {
        model_id: model_id(&a.model.model),
        model,
        catalog,
        addr: "127.0.0.1:0".parse().expect("literal address"),
        engine: EngineConfig {
            parallel: a.parallel,
            ctx_per_slot: params.n_ctx,
            threads: params.threads,
            n_batch: 512,
            log: false,
            prompt_cache: !a.engine.no_prompt_cache,
            poll: Some(a.engine.poll),
        },
        queue: a.clients.max(a.parallel),
        limits: ConnLimits::default(),
        signals: Signals {
            enabled: false,
            ..Signals::default()
        },
        keys: Default::default(),
        admin: Default::default(),
    })?;
    let base = format!("http://{}", server.addr());
    errln!(
        "bench-serve: server on {base}, {} slots, {} threads",
        a.parallel,
        params.threads
    );
    let deadline = Duration::from_secs(a.deadline_secs);
    let load = |clients, requests, tokens, steerings: Vec<SteerChoice>| -> Result<LoadReport> {
        let r = run_load(&LoadConfig {
            base_url: base.clone(),
            clients,
            requests_per_client: requests,
            max_tokens: tokens,
            steerings,
            prompts: PROMPTS.iter().map(|s| s.to_string()).collect(),
            request_timeout: Duration::from_secs(300),
            deadline,
        })
        .map_err(Error::Input)?;
        complete(&r, None)?;
        Ok(r)
    };

    let n = a.parallel;
    let steered = differently_steered(&defaults, n);
    // Tokens/s of each load per round; ratios are taken within a round
    // (the loads of one round run back to back) and their median reported.
    let mut rates: [Vec<f64>; 3] = Default::default();
    for round in 0..a.rounds {
        errln!("bench-serve: ratio round {}/{}", round + 1, a.rounds);
        let runs = [
            load(n, a.per_round, a.ratio_tokens, steered.clone())?,
            load(n, a.per_round, a.ratio_tokens, vec![None])?,
            load(1, n * a.per_round, a.ratio_tokens, steered.clone())?,
        ];
        for (r, run) in rates.iter_mut().zip(&runs) {
            r.push(run.tokens_per_sec());
        }
    }
    let ratio = |i: usize, j: usize| median_ratio(&rates[i], &rates[j]);
    outln!(
        "\n## {n} requests at once, {} tokens each, {} interleaved rounds (medians)\n",
        a.ratio_tokens,
        a.rounds
    );
    outln!("| load | tokens/s |");
    outln!("|---|---|");
    outln!(
        "| {n} concurrent, each steered differently | {:.1} |",
        median(&rates[0])
    );
    outln!("| {n} concurrent, unsteered | {:.1} |", median(&rates[1]));
    outln!(
        "| the same {n} steered requests one after another | {:.1} |",
        median(&rates[2])
    );
    outln!(
        "\nsteered / unsteered (target ≥ 0.95): **{:.3}**",
        ratio(0, 1)
    );
    outln!(
        "concurrent / one after another (target ≥ 2): **{:.2}**",
        ratio(0, 2)
    );

    let mut mixed: Vec<SteerChoice> = defaults.iter().cloned().map(Some).collect();
    mixed.push(None);
    errln!(
        "bench-serve: mixed load, {} clients × {} requests",
        a.clients,
        a.requests
    );
    let r = load(a.clients, a.requests, a.max_tokens, mixed)?;
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

/// `n` differently steered requests: each file at its default strength,
/// then the files again at the opposite sign.
pub(super) fn differently_steered(defaults: &[(String, f32)], n: usize) -> Vec<SteerChoice> {
    (0..n)
        .map(|i| {
            let (name, c) = &defaults[i % defaults.len()];
            let sign = if (i / defaults.len()).is_multiple_of(2) {
                1.0
            } else {
                -1.0
            };
            Some((name.clone(), c * sign))
        })
        .collect()
}

/// Refuses a load in which a request failed, was skipped, or (with
/// `tokens`) the answers did not hold exactly that many tokens.
pub(super) fn complete(r: &LoadReport, tokens: Option<usize>) -> Result<()> {
    let short = tokens.is_some_and(|t| r.completion_tokens != t);
    if r.errors > 0 || r.skipped > 0 || short {
        return Err(Error::Input(format!(
            "{} requests failed and {} were skipped ({} tokens); first error: {}",
            r.errors,
            r.skipped,
            r.completion_tokens,
            r.first_error.as_deref().unwrap_or("none")
        )));
    }
    Ok(())
}
