//! `expertsteer bench peer`: our server and llama.cpp's llama-server side
//! by side on the same model, slots, threads and requests, over loopback
//! (scripts/build-llama-server.sh builds the peer). Interleaved rounds of
//! concurrent and serial greedy requests, then a streamed multi-turn chat
//! for time to first token on every turn.

use super::bench::{at_least_one, median, median_ratio};
use super::bench_serve::{complete, differently_steered, PROMPTS};
use super::options::{EngineOpts, ModelOpts};
use super::serve::{model_id, parse_steer_arg};
use clap::Args;
use expertsteer::serve::load::{run_load, LoadConfig, LoadReport, SteerChoice};
use expertsteer::serve::peer::{stream_chat, PeerServer};
use expertsteer::serve::{Catalog, ConnLimits, EngineConfig, ServeConfig, Server, Signals};
use expertsteer::{Error, Result};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct BenchPeerArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    /// The llama-server binary (scripts/build-llama-server.sh prints it).
    #[arg(long, value_name = "PATH")]
    pub llama_server: PathBuf,
    /// Steering files for the differently-steered load (NAME=FILE or FILE):
    /// request k takes file k mod n, at its default strength and, on the
    /// second pass through the files, the opposite sign.
    #[arg(long = "steer", value_name = "NAME=FILE", required = true)]
    pub steer: Vec<String>,
    #[command(flatten)]
    pub engine: EngineOpts,
    /// Slots on both servers.
    #[arg(long, default_value_t = 4, value_parser = at_least_one())]
    pub parallel: usize,
    /// Tokens generated per request (exactly: end-of-generation ignored).
    #[arg(long, default_value_t = 64, value_parser = at_least_one())]
    pub tokens: usize,
    /// Interleaved rounds; each starts with another load.
    #[arg(long, default_value_t = 3, value_parser = at_least_one())]
    pub rounds: usize,
    /// Chat phase: turns of one conversation (0 skips it).
    #[arg(long, default_value_t = 5)]
    pub turns: usize,
    /// Chat phase: tokens per answer.
    #[arg(long, default_value_t = 32, value_parser = at_least_one())]
    pub turn_tokens: usize,
    /// Our server starts its CPU threads for every graph (the library's
    /// default for a `Context`) instead of keeping them polling between
    /// decodes; llama-server keeps its own. The A/B for the kept threads.
    #[arg(long)]
    pub threads_per_graph: bool,
}

/// A ~400-token system prompt for the chat phase.
fn system_prompt() -> String {
    let rules = [
        "Answer in plain English and keep every answer short.",
        "When you are unsure, say so instead of guessing.",
        "Prefer concrete examples over general statements.",
        "Never invent facts about people, places or dates.",
        "If the user asks for code, give a minimal working example first.",
        "Explain technical terms the first time you use them.",
        "Do not repeat the question back to the user.",
        "Use metric units unless the user uses others.",
    ];
    let mut s = String::from(
        "You are a careful, friendly assistant for a small team. Follow these rules:\n",
    );
    for round in 0..3 {
        for (i, r) in rules.iter().enumerate() {
            s += &format!("{}. {r}\n", round * rules.len() + i + 1);
        }
    }
    s
}

const TURNS: &[&str] = &[
    "What is a hash table?",
    "How is it different from a binary search tree?",
    "Which one should I use for a phone book?",
    "And if I need the names in order?",
    "Give me a one-line summary of all that.",
];

pub fn run(a: BenchPeerArgs) -> Result<()> {
    let steers = a
        .steer
        .iter()
        .map(|s| parse_steer_arg(s))
        .collect::<Result<Vec<_>>>()?;
    let model_path = expertsteer::models::resolve(&a.model.model)?;
    let model = Arc::new(a.model.load()?);
    let catalog = Catalog::load(&model, &steers, None)?;
    let defaults: Vec<(String, f32)> = catalog
        .files
        .iter()
        .map(|(n, f)| (n.clone(), f.default_strength))
        .collect();
    let params = a.model.context_params(&model)?;
    let n = a.parallel;
    let server = Server::start(ServeConfig {
        model_id: model_id(&a.model.model),
        model,
        catalog,
        addr: "127.0.0.1:0".parse().expect("literal address"),
        engine: EngineConfig {
            parallel: n,
            ctx_per_slot: params.n_ctx,
            threads: params.threads,
            n_batch: 512,
            log: false,
            prompt_cache: !a.engine.no_prompt_cache,
            poll: (!a.threads_per_graph).then_some(a.engine.poll),
        },
        queue: 4 * n,
        limits: ConnLimits::default(),
        signals: Signals {
            enabled: false,
            ..Signals::default()
        },
        keys: Default::default(),
        admin: Default::default(),
    })?;
    let ours = format!("http://{}", server.addr());
    let peer = PeerServer::start(
        &a.llama_server,
        &model_path,
        n,
        params.n_ctx as usize,
        (params.threads as usize, a.model.gpu_layers, a.engine.poll),
        Duration::from_secs(180),
    )
    .map_err(Error::Input)?;
    errln!(
        "bench-peer: expertsteer on {ours}, llama-server on {}, {n} slots, {} threads",
        peer.base,
        params.threads
    );

    let load = |base: &str,
                clients: usize,
                requests: usize,
                steer: Vec<SteerChoice>|
     -> Result<LoadReport> {
        let r = run_load(&LoadConfig {
            base_url: base.to_string(),
            clients,
            requests_per_client: requests,
            max_tokens: a.tokens,
            steerings: steer,
            prompts: PROMPTS.iter().map(|s| s.to_string()).collect(),
            request_timeout: Duration::from_secs(300),
            deadline: Duration::from_secs(1800),
        })
        .map_err(Error::Input)?;
        complete(&r, Some(clients * requests * a.tokens))
            .map_err(|e| Error::Input(format!("{base}: {e}")))?;
        Ok(r)
    };
    let steered = differently_steered(&defaults, n);
    // Loads: (label, base, clients, requests per client, steering).
    let loads: Vec<(&str, &str, usize, usize, Vec<SteerChoice>)> = vec![
        (
            "expertsteer, concurrent, unsteered",
            &ours,
            n,
            1,
            vec![None],
        ),
        (
            "expertsteer, concurrent, each steered differently",
            &ours,
            n,
            1,
            steered,
        ),
        ("llama-server, concurrent", &peer.base, n, 1, vec![None]),
        ("expertsteer, one after another", &ours, 1, n, vec![None]),
        (
            "llama-server, one after another",
            &peer.base,
            1,
            n,
            vec![None],
        ),
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); loads.len()];
    for round in 0..a.rounds {
        errln!("bench-peer: round {}/{}", round + 1, a.rounds);
        for k in 0..loads.len() {
            let i = (k + round) % loads.len();
            let (_, base, clients, requests, steer) = &loads[i];
            std::thread::sleep(SETTLE);
            rates[i].push(load(base, *clients, *requests, steer.clone())?.tokens_per_sec());
        }
    }
    let ratio = |i: usize, j: usize| median_ratio(&rates[i], &rates[j]);
    outln!(
        "\n## {} against llama-server: {n} slots, {} threads ({}), {} greedy tokens per request, {} interleaved rounds (medians)\n",
        a.model.model,
        params.threads,
        if a.threads_per_graph {
            "ours started per graph".to_string()
        } else {
            format!("kept, poll {} on both", a.engine.poll)
        },
        a.tokens,
        a.rounds
    );
    outln!("| load | tokens/s |");
    outln!("|---|---|");
    for (i, (label, ..)) in loads.iter().enumerate() {
        outln!("| {label} | {:.1} |", median(&rates[i]));
    }
    outln!("\n| ratio (same round) | value | target |");
    outln!("|---|---|---|");
    outln!(
        "| expertsteer unsteered / llama-server, concurrent | **{:.3}** | ≥ 1.0 |",
        ratio(0, 2)
    );
    outln!(
        "| expertsteer, {n} steered differently / llama-server unsteered | **{:.3}** | ≥ 0.95 |",
        ratio(1, 2)
    );
    outln!(
        "| expertsteer / llama-server, one after another | {:.3} | |",
        ratio(3, 4)
    );
    outln!(
        "| expertsteer concurrent / one after another | {:.2} | |",
        ratio(0, 3)
    );
    outln!(
        "| llama-server concurrent / one after another | {:.2} | |",
        ratio(2, 4)
    );

    if a.turns > 0 {
        let (name, c) = &defaults[0];
        chat_phase(
            &a,
            &ours,
            &peer.base,
            json!([{"name": name, "strength": c}]),
        )?;
    }
    drop(peer);
    server.stop()
}

/// The pause before each measured load or turn: both engines' idle CPU
/// threads poll for work for a while after each decode (`--poll`, up to a
/// few hundred ms at 50), and must not be spinning on the cores the other
/// engine is being timed on.
const SETTLE: Duration = Duration::from_secs(1);

/// Streamed conversations, turns interleaved: ours unsteered, ours
/// steered, llama-server; time to first token per turn.
fn chat_phase(a: &BenchPeerArgs, ours: &str, peer: &str, steering: Value) -> Result<()> {
    let system = json!({"role": "system", "content": system_prompt()});
    let mut histories: [Vec<Value>; 3] = [vec![system.clone()], vec![system.clone()], vec![system]];
    let mut ttft: [Vec<f64>; 3] = Default::default();
    let runs = [(ours, json!([])), (ours, steering), (peer, json!([]))];
    for t in 0..a.turns {
        let user = TURNS[t % TURNS.len()];
        for (k, (base, steer)) in runs.iter().enumerate() {
            histories[k].push(json!({"role": "user", "content": user}));
            std::thread::sleep(SETTLE);
            let r = stream_chat(
                base,
                &histories[k],
                a.turn_tokens,
                steer.clone(),
                Duration::from_secs(300),
            )
            .map_err(|e| Error::Input(format!("{base}: {e}")))?;
            histories[k].push(json!({"role": "assistant", "content": r.text}));
            ttft[k].push(r.ttft_secs * 1000.0);
        }
    }
    outln!(
        "\n## a streamed chat: ~400-token system prompt, {} turns, {} tokens per answer (time to first token, ms)\n",
        a.turns,
        a.turn_tokens
    );
    outln!("| turn | expertsteer | expertsteer, steered | llama-server | ratios (target ≤ 1.2) |");
    outln!("|---|---|---|---|---|");
    let [plain, steered, peer] = &ttft;
    for (t, ((p, s), l)) in plain.iter().zip(steered).zip(peer).enumerate() {
        outln!(
            "| {} | {p:.0} | {s:.0} | {l:.0} | {:.2}, {:.2} |",
            t + 1,
            p / l,
            s / l
        );
    }
    Ok(())
}
