//! `expertsteer eval code`: HumanEval pass@1, each completion run in the
//! sandbox, with and without steering; resumable through its log.

use super::options::{model_label, parse_split, ModelOpts, SteerGrid, DEFAULT_CTX};
use clap::Args;
use expertsteer::{Error, Result};
use expertsteer_eval::code::compare::{
    compare_conditions, compare_markdown, flipped_markdown, Scope,
};
use expertsteer_eval::code::humaneval::{load_humaneval, problem_split, PromptFormat};
use expertsteer_eval::code::run::{
    pass_table, pass_table_markdown, positions_name, read_code_log, run_code_eval, CodePlan,
    CodeRecord,
};
use expertsteer_eval::code::sandbox::{Limits, Sandbox, SandboxConfig};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct EvalCodeArgs {
    #[command(flatten)]
    pub model: ModelOpts,
    #[command(flatten)]
    pub grid: SteerGrid,
    /// Problems of this part of the fixed 60/20/20 split: fit, validation,
    /// test or all.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Seed of the problem split.
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    /// Only the first N problems of the split (0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// The JSON Lines log: one line per problem and condition; a run
    /// continues where an earlier one with the same log stopped.
    #[arg(long)]
    pub log: PathBuf,
    /// Most tokens per completion.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// plain (continue the prompt text, HumanEval's protocol) or chat (the
    /// model's chat template, the answer pre-filled with the prompt).
    #[arg(long, default_value = "plain")]
    pub prompt_format: String,
    /// Python interpreter for the sandbox (default /usr/bin/python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Wall-clock seconds per program.
    #[arg(long, default_value_t = 10.0)]
    pub wall_secs: f64,
    /// CPU seconds per program.
    #[arg(long, default_value_t = 5)]
    pub cpu_secs: u64,
    /// Only print the table from the log. Without --steer: every condition
    /// the log holds for this model, split, prompt format and token cap,
    /// each against no steering on the same problems (exact McNemar, Holm
    /// over the steered rows).
    #[arg(long)]
    pub report_only: bool,
    /// With --report-only and no --steer: also print, for each steered
    /// condition, up to N problems whose verdict steering changed, both
    /// completions side by side.
    #[arg(long, default_value_t = 0)]
    pub examples: usize,
}

pub fn run(a: EvalCodeArgs) -> Result<()> {
    let split = parse_split(&a.split)?;
    let positions = a.grid.positions()?;
    let format = PromptFormat::parse(&a.prompt_format)?;
    let steer = a.grid.steer()?;

    let t = Instant::now();
    let mut problems = load_humaneval()?;
    problems.retain(|p| split.is_none_or(|s| problem_split(p, a.split_seed) == s));
    if a.limit > 0 {
        problems.truncate(a.limit);
    }
    errln!(
        "data: {} HumanEval problems ({} split) in {:.1} s",
        problems.len(),
        a.split,
        t.elapsed().as_secs_f64()
    );
    let mut plan = CodePlan {
        problems,
        model: model_label(&a.model.model),
        steer,
        strengths: a.grid.strengths()?,
        positions,
        format,
        max_tokens: a.max_tokens,
        n_ctx: a.model.ctx.unwrap_or(DEFAULT_CTX),
        split_seed: a.split_seed,
        threads: a.model.threads(),
        log: a.log.clone(),
    };
    if !a.report_only {
        let t = Instant::now();
        let mut config = SandboxConfig {
            limits: Limits {
                wall_secs: a.wall_secs,
                cpu_secs: a.cpu_secs,
                ..Limits::default()
            },
            ..SandboxConfig::default()
        };
        if let Some(p) = &a.python {
            config.python = p.clone();
        }
        let sandbox = Sandbox::new(config)?;
        errln!(
            "sandbox: self-test passed in {:.2} s ({} as {}, {} s wall / {} s CPU per program)",
            t.elapsed().as_secs_f64(),
            sandbox.config().python.display(),
            sandbox.user(),
            a.wall_secs,
            a.cpu_secs
        );
        let model = a.model.load_timed(&plan.model)?;
        plan.n_ctx = a.model.ctx(&model)?;
        let t = Instant::now();
        let mut gen_total = 0.0;
        let mut exec_total = 0.0;
        let n_new = run_code_eval(&model, &sandbox, &plan, &mut |p| {
            let r = p.record;
            gen_total += r.gen_secs;
            exec_total += r.exec_secs;
            errln!(
                "[{}/{}] {} {} c={} {}: {} ({} tokens{}, gen {:.1} s, exec {:.2} s)",
                p.done,
                p.total,
                r.problem,
                r.steering,
                r.strength,
                positions_name(positions),
                r.outcome.summary(),
                r.n_tokens,
                if r.stopped { "" } else { ", no stop" },
                r.gen_secs,
                r.exec_secs
            );
        })?;
        let secs = t.elapsed().as_secs_f64();
        if n_new > 0 {
            errln!(
                "generation + execution: {n_new} new results in {secs:.0} s \
                 ({:.1} s per problem: generation {:.1} s, execution {:.2} s)",
                secs / n_new as f64,
                gen_total / n_new as f64,
                exec_total / n_new as f64
            );
        } else {
            errln!("nothing new to run: the log holds every result of this plan");
        }
    }
    let log = read_code_log(&a.log)?;
    if a.report_only && plan.steer.is_none() {
        return report_all(&plan, &log, &a);
    }
    let rows = pass_table(&plan, &log);
    outln!(
        "\nHumanEval pass@1, {} split, {} prompt, greedy, at most {} tokens, model {}:\n",
        a.split,
        format.name(),
        a.max_tokens,
        plan.model
    );
    out!("{}", pass_table_markdown(&rows));
    Ok(())
}

/// Every condition of the log against no steering.
fn report_all(plan: &CodePlan, log: &[CodeRecord], a: &EvalCodeArgs) -> Result<()> {
    let ids: HashSet<String> = plan.problems.iter().map(|p| p.task_id.clone()).collect();
    let scope = Scope {
        model: &plan.model,
        format: plan.format,
        max_tokens: plan.max_tokens,
        problems: &ids,
    };
    let rows = compare_conditions(log, &scope);
    if rows.is_empty() {
        return Err(Error::Input(format!(
            "{}: no unsteered results for model {}, {} prompt, {} tokens, {} split",
            a.log.display(),
            plan.model,
            plan.format.name(),
            plan.max_tokens,
            a.split
        )));
    }
    outln!(
        "\nHumanEval pass@1, {} split, {} prompt, greedy, at most {} tokens, model {}; \
         each row against no steering on the same problems:\n",
        a.split,
        plan.format.name(),
        plan.max_tokens,
        plan.model
    );
    out!("{}", compare_markdown(&rows));
    if a.examples > 0 {
        for r in rows.iter().skip(1) {
            out!("{}", flipped_markdown(log, &scope, r, a.examples));
        }
    }
    Ok(())
}
