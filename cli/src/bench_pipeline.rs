//! `expertsteer bench pipeline`: speed and memory of the offline pipeline.
//!
//! 1. Capture throughput against plain batched prompt processing of the
//!    same batches, for the expert and the target, interleaved rounds.
//! 2. `fit` end to end on N texts with a cold capture cache: per-stage
//!    wall time and peak memory.
//! 3. RFM alone on synthetic data (n × d, full grid), multi-threaded here
//!    and single-threaded in a child process (MATMUL_NUM_THREADS=1).

use super::bench::{at_least_one, median};
use clap::Args;
use expertsteer::generate::prompt_tokens;
use expertsteer::llama::{
    Batch, CaptureRows, Context, ContextParams, HookPlan, Model, ModelParams, Token,
};
use expertsteer::pipeline::capture::{capture_states, Pooling};
use expertsteer::pipeline::fit::{run_fit, FitConfig};
use expertsteer::pipeline::rfm::{fit_rfm, RfmParams};
use expertsteer::rng::SplitMix64;
use expertsteer::{models, Error, Result};
use expertsteer_eval::data::{load_mmlu, split_of, Part, SplitFractions};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct BenchPipelineArgs {
    #[arg(long, default_value = "qwen2.5-coder-0.5b-instruct")]
    pub expert: String,
    #[arg(long, default_value = models::DEFAULT_MODEL)]
    pub target: String,
    /// Texts for the end-to-end fit (MMLU math, question + answer).
    #[arg(long, default_value_t = 1000)]
    pub texts: usize,
    /// Texts for the capture-throughput comparison.
    #[arg(long, default_value_t = 160)]
    pub throughput_texts: usize,
    /// Rounds of the throughput comparison (median reported); at least 1.
    #[arg(long, default_value_t = 3, value_parser = at_least_one())]
    pub rounds: usize,
    #[arg(long, default_value_t = 1)]
    pub threads: i32,
    /// RFM benchmark size.
    #[arg(long, default_value_t = 1000)]
    pub rfm_n: usize,
    #[arg(long, default_value_t = 576)]
    pub rfm_d: usize,
    /// Capture as `expertsteer map` does (every token's row, every block
    /// but the last) instead of each text's last token, and stop after
    /// the throughput table.
    #[arg(long)]
    pub token_level: bool,
    /// Skip the end-to-end fit (throughput and RFM only).
    #[arg(long)]
    pub skip_fit: bool,
    /// Internal: run only the RFM timing and print seconds.
    #[arg(long, hide = true)]
    pub rfm_only: bool,
    /// Only RFM, side by side with the numpy reference (`--numpy-ref`):
    /// interleaved rounds at each of `--rfm-sizes`, medians and the ratio.
    #[arg(long)]
    pub rfm_vs_numpy: bool,
    /// Sizes for --rfm-vs-numpy, NxD comma separated (n texts, d dimensions).
    #[arg(long, default_value = "1000x576,2000x1536", value_delimiter = ',')]
    pub rfm_sizes: Vec<String>,
    /// The numpy reference RFM script (prints `secs=…`), run with python3.
    #[arg(long, default_value = "../shared/bench/rfm_ref.py")]
    pub numpy_ref: std::path::PathBuf,
}

fn texts(n: usize) -> Result<Vec<String>> {
    let subjects: Vec<String> = expertsteer_eval::data::mmlu_subject_group("math")
        .expect("math group")
        .iter()
        .map(|s| s.to_string())
        .collect();
    let qs = load_mmlu(&subjects)?;
    let items: Vec<String> = qs
        .iter()
        .filter(|q| split_of(&q.group, 0, SplitFractions::BENCHMARK) == Part::Fit)
        .flat_map(|q| q.to_labelled())
        .map(|t| t.text)
        .take(n)
        .collect();
    if items.len() < n {
        return Err(Error::Input(format!(
            "only {} texts available",
            items.len()
        )));
    }
    Ok(items)
}

fn ctx_params(threads: i32, hook: bool) -> ContextParams {
    ContextParams {
        n_ctx: 512,
        n_batch: 512,
        n_ubatch: 512,
        n_seq_max: 16,
        threads,
        hook,
    }
}

/// Decodes `toks` packed as capture packs them (up to 16 texts and 512
/// tokens per decode, each text's last token an output), calling `after`
/// after each decode; returns the tokens decoded.
fn packed_pass(
    ctx: &mut Context<'_>,
    toks: &[Vec<Token>],
    after: &mut dyn FnMut(&mut Context<'_>),
) -> Result<usize> {
    let mut batch = Batch::new(512, 1);
    let (mut next, mut n) = (0, 0);
    while next < toks.len() {
        batch.clear();
        let first = next;
        while next < toks.len() && next - first < 16 && batch.len() + toks[next].len() <= 512 {
            batch.push_sequence(&toks[next], 0, (next - first) as i32, true)?;
            n += toks[next].len();
            next += 1;
        }
        ctx.clear_memory();
        ctx.decode(&batch)?;
        after(ctx);
    }
    Ok(n)
}

/// The same packed batches with every token's row captured at every block
/// but the last (what `expertsteer map` reads), the rows taken out after
/// each decode.
fn every_row_pass(ctx: &mut Context<'_>, toks: &[Vec<Token>]) -> Result<usize> {
    let layers: Vec<usize> = (0..ctx.model().n_layer() - 1).collect();
    ctx.set_hook_plan(&HookPlan {
        capture: layers,
        capture_rows: CaptureRows::All,
        ..Default::default()
    })?;
    let n = packed_pass(ctx, toks, &mut |c| drop(c.take_captures()))?;
    ctx.clear_hook_plan();
    Ok(n)
}

fn throughput(model: &Model, t: &[String], a: &BenchPipelineArgs) -> Result<(f64, f64)> {
    let toks: Vec<Vec<Token>> = t
        .iter()
        .map(|s| prompt_tokens(model, s, false))
        .collect::<std::result::Result<_, _>>()?;
    let n_tokens: usize = toks.iter().map(|x| x.len()).sum();
    let layers: Vec<usize> = (0..model.n_layer()).collect();
    let mut plain = Context::new(model, ctx_params(a.threads, false))?;
    let mut hooked = Context::new(model, ctx_params(a.threads, true))?;
    let (mut p, mut c) = (Vec::new(), Vec::new());
    for _ in 0..a.rounds {
        let t0 = Instant::now();
        packed_pass(&mut plain, &toks, &mut |_| {})?;
        p.push(n_tokens as f64 / t0.elapsed().as_secs_f64());
        let t1 = Instant::now();
        if a.token_level {
            every_row_pass(&mut hooked, &toks)?;
        } else {
            capture_states(
                &mut hooked,
                t,
                &layers,
                Pooling::Last,
                false,
                &mut |_, _| {},
            )?;
        }
        c.push(n_tokens as f64 / t1.elapsed().as_secs_f64());
    }
    Ok((median(&p), median(&c)))
}

/// Seconds of one full-grid RFM fit on the workload the numpy reference
/// times: X ~ N(0, I) `[n, d]`, label |x·p| > 0.7 for a planted unit p,
/// the last min(n/5, 256) rows for validation.
fn rfm_secs(n: usize, d: usize) -> Result<f64> {
    let mut rng = SplitMix64::new(5);
    let x = rng.gaussian_matrix_f32(n, d);
    let p: Vec<f32> = {
        let g: Vec<f32> = (0..d).map(|_| rng.gaussian() as f32).collect();
        let norm = g.iter().map(|v| v * v).sum::<f32>().sqrt();
        g.iter().map(|v| v / norm).collect()
    };
    let y: Vec<bool> = x
        .rows()
        .into_iter()
        .map(|r| r.iter().zip(&p).map(|(a, b)| a * b).sum::<f32>().abs() > 0.7)
        .collect();
    let n_fit = n - (n / 5).min(256);
    let fit = x.slice(ndarray::s![..n_fit, ..]).to_owned();
    let val = x.slice(ndarray::s![n_fit.., ..]).to_owned();
    let params = RfmParams::default().check()?;
    let t0 = Instant::now();
    fit_rfm(&fit, &y[..n_fit], &val, &y[n_fit..], &params)?;
    Ok(t0.elapsed().as_secs_f64())
}

/// Seconds the numpy reference reports for the same size, with OpenBLAS's
/// machine overrides unset for that child only (they slow a current numpy).
fn numpy_secs(script: &std::path::Path, n: usize, d: usize) -> Result<f64> {
    let out = std::process::Command::new("python3")
        .arg(script)
        .args([n.to_string(), d.to_string()])
        .env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE")
        .output()
        .map_err(|e| Error::Input(format!("python3 {}: {e}", script.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("secs="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| {
            Error::Input(format!(
                "{} printed no secs= (is numpy installed?): {}{}",
                script.display(),
                text.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        })
}

fn rfm_vs_numpy(a: &BenchPipelineArgs) -> Result<()> {
    if a.rounds == 0 {
        return Err(Error::Input("--rounds must be at least 1".into()));
    }
    if !a.numpy_ref.is_file() {
        return Err(Error::Input(format!(
            "the numpy reference {} does not exist (--numpy-ref)",
            a.numpy_ref.display()
        )));
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    outln!(
        "RFM, full grid (3 bandwidths x 2 row norms x 10 iterations), {} interleaved rounds, {cores} threads each, median seconds\n",
        a.rounds
    );
    outln!("| n | d | Rust (faer) | numpy (OpenBLAS) | numpy / Rust |");
    outln!("|---|---|---|---|---|");
    for size in &a.rfm_sizes {
        let (n, d) = size
            .split_once('x')
            .and_then(|(n, d)| Some((n.trim().parse().ok()?, d.trim().parse().ok()?)))
            .filter(|&(n, d): &(usize, usize)| n >= 10 && d >= 1)
            .ok_or_else(|| Error::Input(format!("--rfm-sizes: {size:?} is not NxD (n >= 10)")))?;
        let (mut rust, mut numpy) = (Vec::new(), Vec::new());
        for _ in 0..a.rounds {
            rust.push(rfm_secs(n, d)?);
            numpy.push(numpy_secs(&a.numpy_ref, n, d)?);
        }
        let (r, p) = (median(&rust), median(&numpy));
        outln!("| {n} | {d} | {r:.2} | {p:.2} | {:.2} |", p / r);
    }
    Ok(())
}

pub fn run(a: BenchPipelineArgs) -> Result<()> {
    if a.rfm_only {
        outln!("{}", rfm_secs(a.rfm_n, a.rfm_d)?);
        return Ok(());
    }
    if a.rfm_vs_numpy {
        return rfm_vs_numpy(&a);
    }
    let what = if a.token_level {
        "every token's row at every block but the last, as `map` captures"
    } else {
        "each text's last token at every layer"
    };
    outln!(
        "## Capture throughput ({} texts, {} rounds, {} thread(s), {what}, median tokens/s)\n",
        a.throughput_texts,
        a.rounds,
        a.threads
    );
    outln!("| model | plain prompt processing | capture | ratio |");
    outln!("|---|---|---|---|");
    let t = texts(a.throughput_texts)?;
    for name in [&a.expert, &a.target] {
        let model = Model::load(models::resolve(name)?, &ModelParams::default())?;
        let (p, c) = throughput(&model, &t, &a)?;
        outln!(
            "| {} ({} x {}) | {p:.1} | {c:.1} | {:.3} |",
            name,
            model.n_layer(),
            model.n_embd(),
            c / p
        );
    }
    if a.token_level {
        return Ok(());
    }
    outln!(
        "\n## RFM alone (n = {}, d = {}, full grid: 3 bandwidths x 2 row-norm x 10 iterations)\n",
        a.rfm_n,
        a.rfm_d
    );
    let multi = rfm_secs(a.rfm_n, a.rfm_d)?;
    let exe = std::env::current_exe().map_err(|e| Error::Input(format!("current exe: {e}")))?;
    let out = std::process::Command::new(exe)
        .env("RAYON_NUM_THREADS", "1")
        .args([
            "bench",
            "pipeline",
            "--rfm-only",
            "--rfm-n",
            &a.rfm_n.to_string(),
            "--rfm-d",
            &a.rfm_d.to_string(),
        ])
        .output()
        .map_err(|e| Error::Input(format!("child process: {e}")))?;
    let single: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    outln!("| threads | seconds |\n|---|---|\n| 1 | {single:.2} |\n| {cores} (faer, rayon) | {multi:.2} |");
    if a.skip_fit {
        return Ok(());
    }
    outln!(
        "\n## fit end to end ({} texts, {} → {}, closed-form alignment, cold capture cache)\n",
        a.texts,
        a.expert,
        a.target
    );
    let items: Vec<expertsteer_eval::data::LabelledText> = {
        let subjects: Vec<String> = expertsteer_eval::data::mmlu_subject_group("math")
            .expect("math")
            .iter()
            .map(|s| s.to_string())
            .collect();
        load_mmlu(&subjects)?
            .iter()
            .filter(|q| split_of(&q.group, 0, SplitFractions::BENCHMARK) == Part::Fit)
            .flat_map(|q| q.to_labelled())
            .take(a.texts)
            .collect()
    };
    let cache = std::env::temp_dir().join(format!("expertsteer-bench-{}", std::process::id()));
    let mut cfg = FitConfig::default();
    cfg.capture.cache_root = cache.clone();
    cfg.capture.threads = a.threads;
    let e = models::resolve(&a.expert)?;
    let tg = models::resolve(&a.target)?;
    let out = run_fit(Some(&e), &tg, &items, &cfg, &mut |_, _, _| {})?;
    let _ = std::fs::remove_dir_all(&cache);
    outln!("| stage | seconds |\n|---|---|");
    for (s, secs) in &out.stage_secs {
        outln!("| {s} | {secs:.1} |");
    }
    let post: f64 = out
        .stage_secs
        .iter()
        .filter(|s| ["align", "pair", "rfm"].contains(&s.0.as_str()))
        .map(|s| s.1)
        .sum();
    outln!("| align + pair + RFM | {post:.1} |");
    outln!(
        "\npeak resident memory: {:.0} MB",
        out.peak_rss_bytes as f64 / 1e6
    );
    Ok(())
}
