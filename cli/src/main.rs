//! `expertsteer`: the command-line tool. Flags become library calls
//! (`expertsteer` for the product, `expertsteer-eval` for the research
//! harness); errors are printed once, here. This file holds the command
//! definitions (clap) and their dispatch.

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
mod data_gen;
mod demo;
mod directions;
mod eval;
mod eval_code;
mod eval_gen;
mod fit;
mod fluency;
mod generate;
mod inspect;
mod map;
mod map_corpus;
mod models;
mod options;
mod progress;
mod rpc_worker;
mod serve;
mod show;
mod steerability;

use clap::{Parser, Subcommand};
use expertsteer::Result;
use std::process::ExitCode;

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
    /// Fit the token-level maps from an expert's layers into a target's, once per model pair (.esmap), for `fit --map`.
    Map(map::MapArgs),
    /// Make a steering file: ExpertSteer (expert → target) or a self-steering baseline.
    Fit(fit::FitArgs),
    /// A control file: random unit directions at another file's layers and norms.
    RandomSteer(directions::RandomSteerArgs),
    /// Cosine of each steered direction to the target's own direction at
    /// the same layer (e.g. CAA), next to random directions.
    CompareDirections(directions::CompareArgs),
    /// Print a steering file's contents.
    Show(show::ShowArgs),
    /// Write a steering file as a llama.cpp control-vector GGUF.
    ExportCvec(show::ExportArgs),
    /// OpenAI-compatible HTTP server; each request picks its own steering
    /// (`"steering": [{"name": ..., "strength": ...}]`), and requests decode
    /// together. `--ctx` is the context of each request. A page at `/`
    /// compares unsteered and steered answers.
    Serve(serve::ServeArgs),
    /// Serve this machine's CPU backend to llama.cpp RPC clients (--rpc).
    RpcWorker(rpc_worker::RpcWorkerArgs),
    /// The main job on the default model: build a vector from two contrast
    /// prompts, then generate unsteered and steered side by side.
    Demo(demo::DemoArgs),
    /// The evaluation harness: steering's effect on benchmarks (mcq, code,
    /// gen, behaviour, summary, fluency).
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Speed and memory benchmarks (steer, batch, pipeline, serve, peer).
    #[command(subcommand)]
    Bench(BenchCommand),

    // The names from before `eval …` and `bench …` existed, hidden and
    // kept for one release so that scripts keep working. Bare `eval FLAGS`
    // and `bench FLAGS` are rewritten by `legacy_argv`.
    /// Old name of `eval code`.
    #[command(hide = true)]
    EvalCode(eval_code::EvalCodeArgs),
    /// Old name of `eval gen`.
    #[command(hide = true)]
    EvalGen(eval_gen::EvalGenArgs),
    /// Old name of `eval summary`.
    #[command(hide = true)]
    EvalSummary(eval::SummaryArgs),
    /// Old name of `eval fluency`.
    #[command(hide = true)]
    Fluency(fluency::FluencyArgs),
    /// Old name of `eval behaviour`.
    #[command(hide = true)]
    Behaviour(behaviour::BehaviourArgs),
    /// Old name of `bench batch`.
    #[command(hide = true)]
    BenchBatch(bench_batch::BenchBatchArgs),
    /// Old name of `bench pipeline`.
    #[command(hide = true)]
    BenchPipeline(bench_pipeline::BenchPipelineArgs),
    /// Old name of `bench serve`.
    #[command(hide = true)]
    BenchServe(bench_serve::BenchServeArgs),
    /// Old name of `bench peer`.
    #[command(hide = true)]
    BenchPeer(bench_peer::BenchPeerArgs),
}

/// `expertsteer eval …`: the research harness's commands.
#[derive(Subcommand, Debug)]
enum EvalCommand {
    /// Multiple-choice accuracy with and without steering (strength sweep, statistics).
    Mcq(eval::EvalArgs),
    /// HumanEval pass@1 with and without steering, each completion run in a sandbox.
    Code(eval_code::EvalCodeArgs),
    /// Exact-match accuracy on a generative BIG-bench task (k-shot, greedy)
    /// with and without steering.
    Gen(eval_gen::EvalGenArgs),
    /// Steered open-ended generations × strengths × prompts, with their
    /// perplexity under the unsteered model, to a resumable JSONL log.
    Behaviour(behaviour::BehaviourArgs),
    /// Pool several evaluation logs: validation accuracy per method and
    /// strength against no steering, and each expert's lead.
    Summary(eval::SummaryArgs),
    /// Steered vs unsteered continuations with their perplexity under the unsteered model.
    Fluency(fluency::FluencyArgs),
    /// How far each layer of a steering file, alone, moves the model's
    /// likelihoods toward a labelled concept, and the most steerable layers
    /// (the target-side layer rule for `fit --target-layers`).
    Steerability(steerability::SteerabilityArgs),
}

/// `expertsteer bench …`: speed and memory measurements.
#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Speed of steering paths side by side (tokens/s and ratios).
    Steer(bench::BenchArgs),
    /// Batched decoding with a different steering per sequence vs unsteered.
    Batch(bench_batch::BenchBatchArgs),
    /// Speed and memory of the offline pipeline (capture, align, pair, RFM).
    Pipeline(bench_pipeline::BenchPipelineArgs),
    /// Bounded load test of the server on loopback: steered vs unsteered
    /// vs serial throughput ratios, then many clients at once.
    Serve(bench_serve::BenchServeArgs),
    /// Our server against llama.cpp's llama-server on the same model, slots, threads and requests over loopback (scripts/build-llama-server.sh builds it): throughput ratios in interleaved rounds, then time to first token over a multi-turn chat
    Peer(bench_peer::BenchPeerArgs),
}

/// The old bare forms `eval FLAGS` (now `eval mcq`) and `bench FLAGS`
/// (now `bench steer`, as is bare `bench`) get their subcommand inserted;
/// everything else is left as it is. `eval --help` and `bench --help`
/// show the groups.
pub fn legacy_argv(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let sub = match args.get(1).and_then(|a| a.to_str()) {
        Some("eval") => "mcq",
        Some("bench") => "steer",
        _ => return args,
    };
    let old_form = match args.get(2).and_then(|a| a.to_str()) {
        Some(a) => a.starts_with('-') && !matches!(a, "-h" | "--help" | "-V" | "--version"),
        // Bare `bench` ran the steering-path benchmark on its defaults.
        None => sub == "steer" && args.len() == 2,
    };
    if old_form {
        args.insert(2, sub.into());
    }
    args
}

/// Parses the process's arguments, old command names included.
pub fn parse() -> Cli {
    Cli::parse_from(legacy_argv(std::env::args_os().collect()))
}

/// Runs one parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate(a) => generate::run(a),
        Command::Capture(a) => capture::run(a),
        Command::Models(a) => models::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Demo(a) => demo::run(a),
        Command::RpcWorker(a) => rpc_worker::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Data(a) => data::run(a),
        Command::Map(a) => map::run(a),
        Command::Fit(a) => fit::run(a),
        Command::RandomSteer(a) => directions::random_steer(a),
        Command::CompareDirections(a) => directions::compare(a),
        Command::Show(a) => show::show(a),
        Command::ExportCvec(a) => show::export(a),
        Command::Eval(c) => run_eval(c),
        Command::Bench(c) => run_bench(c),
        Command::EvalCode(a) => run_eval(EvalCommand::Code(a)),
        Command::EvalGen(a) => run_eval(EvalCommand::Gen(a)),
        Command::EvalSummary(a) => run_eval(EvalCommand::Summary(a)),
        Command::Fluency(a) => run_eval(EvalCommand::Fluency(a)),
        Command::Behaviour(a) => run_eval(EvalCommand::Behaviour(a)),
        Command::BenchBatch(a) => run_bench(BenchCommand::Batch(a)),
        Command::BenchPipeline(a) => run_bench(BenchCommand::Pipeline(a)),
        Command::BenchServe(a) => run_bench(BenchCommand::Serve(a)),
        Command::BenchPeer(a) => run_bench(BenchCommand::Peer(a)),
    }
}

fn run_eval(c: EvalCommand) -> Result<()> {
    match c {
        EvalCommand::Mcq(a) => eval::run(a),
        EvalCommand::Code(a) => eval_code::run(a),
        EvalCommand::Gen(a) => eval_gen::run(a),
        EvalCommand::Behaviour(a) => behaviour::run(a),
        EvalCommand::Summary(a) => eval::summary(a),
        EvalCommand::Fluency(a) => fluency::run(a),
        EvalCommand::Steerability(a) => steerability::run(a),
    }
}

fn run_bench(c: BenchCommand) -> Result<()> {
    match c {
        BenchCommand::Steer(a) => bench::run(a),
        BenchCommand::Batch(a) => bench_batch::run(a),
        BenchCommand::Pipeline(a) => bench_pipeline::run(a),
        BenchCommand::Serve(a) => bench_serve::run(a),
        BenchCommand::Peer(a) => bench_peer::run(a),
    }
}

fn main() -> ExitCode {
    let args = parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Most errors embed their source's text (or are transparent):
            // a cause is printed only when it says something not yet said.
            let mut said = e.to_string();
            out::stderr(format_args!("error: {said}\n"));
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                let text = s.to_string();
                if !text.is_empty() && !said.contains(&text) {
                    out::stderr(format_args!("  caused by: {text}\n"));
                    said.push('\n');
                    said.push_str(&text);
                }
                src = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let argv = std::iter::once("expertsteer")
            .chain(args.iter().copied())
            .map(Into::into)
            .collect();
        Cli::try_parse_from(legacy_argv(argv)).unwrap()
    }

    #[test]
    fn old_command_names_parse_to_the_grouped_commands() {
        assert!(matches!(
            parse(&["eval", "--task", "mmlu:x", "--out", "o"]).command,
            Command::Eval(EvalCommand::Mcq(_))
        ));
        assert!(matches!(
            parse(&["eval", "mcq", "--task", "mmlu:x", "--out", "o"]).command,
            Command::Eval(EvalCommand::Mcq(_))
        ));
        assert!(matches!(
            parse(&["bench", "--rounds", "2"]).command,
            Command::Bench(BenchCommand::Steer(_))
        ));
        assert!(matches!(
            parse(&["bench"]).command,
            Command::Bench(BenchCommand::Steer(_))
        ));
        assert!(matches!(
            parse(&["bench-pipeline", "--skip-fit"]).command,
            Command::BenchPipeline(_)
        ));
        assert!(matches!(
            parse(&["bench", "pipeline", "--skip-fit"]).command,
            Command::Bench(BenchCommand::Pipeline(_))
        ));
    }

    #[test]
    fn group_help_is_not_rewritten() {
        let argv: Vec<std::ffi::OsString> = ["expertsteer", "eval", "--help"]
            .iter()
            .map(Into::into)
            .collect();
        assert_eq!(legacy_argv(argv.clone()), argv);
    }
}
