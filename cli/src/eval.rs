//! `expertsteer eval mcq`: multiple-choice accuracy with and without steering,
//! over a strength sweep, with statistics, tables and plots.

use super::options::RpcOpts;
use clap::Args;
use expertsteer::atomic_file::write_atomic;
use expertsteer::llama::{Model, ModelParams};
use expertsteer::{models, Error, Result};
use expertsteer_eval::data::{load_questions, Part, TaskSpec};
use expertsteer_eval::plot::accuracy_plot;
use expertsteer_eval::report::{csv, markdown};
use expertsteer_eval::run::{question_split, read_log, run_conditions, EvalPlan, LabelledSteer};
use expertsteer_eval::score::Scoring;
use expertsteer_eval::summary::{
    complete_questions, expert_lead_markdown, pool_validation, pooled_markdown, selected_markdown,
};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Target model (registry name or GGUF path).
    #[arg(long, default_value = models::DEFAULT_MODEL)]
    pub target: String,
    /// Steering files, as FILE or LABEL=FILE; repeat for several methods.
    #[arg(long = "steer")]
    pub steers: Vec<String>,
    /// Task: mmlu:GROUP (computer_science, math, medical, finance) or
    /// mmlu:subject+subject, or bigbench:TASK[/SUBTASK].
    #[arg(long)]
    pub task: String,
    /// Strengths c applied to every steering file (no steering is always run).
    #[arg(long, default_value = "0.05,0.1,0.2,0.4", value_delimiter = ',')]
    pub strengths: Vec<f32>,
    /// Scorings: letter (A/B/C/D after listed options) and/or text (full answer).
    #[arg(long, default_value = "letter,text", value_delimiter = ',')]
    pub scoring: Vec<String>,
    /// Questions per split (validation and test), 0 = all.
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Seed of the fixed 60/20/20 split (must match `data build`).
    #[arg(long, default_value_t = 0)]
    pub split_seed: u64,
    /// Also evaluate this expert model unsteered (the ceiling).
    #[arg(long)]
    pub expert: Option<String>,
    /// Output folder: log.jsonl (resumable), results.md, results.csv, plots.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub rpc: RpcOpts,
    /// CPU threads (1 lets two evaluations share a 2-core machine).
    #[arg(long, default_value_t = 1)]
    pub threads: i32,
    /// Only rebuild the tables and plots from the log.
    #[arg(long)]
    pub report_only: bool,
}

pub fn run(a: EvalArgs) -> Result<()> {
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    a.rpc.register()?;
    let log = a.out.join("log.jsonl");
    let all = load_questions(&TaskSpec::parse(&a.task)?)?;
    let mut questions = Vec::new();
    for part in [Part::Validation, Part::Test] {
        let mut qs: Vec<_> = all
            .iter()
            .filter(|q| question_split(q, a.split_seed) == part)
            .cloned()
            .collect();
        if a.limit > 0 {
            qs.truncate(a.limit);
        }
        questions.extend(qs);
    }
    let wanted: std::collections::HashSet<String> =
        questions.iter().map(|q| q.id.clone()).collect();
    if !a.report_only {
        let scorings = a
            .scoring
            .iter()
            .map(|s| match s.trim() {
                "letter" => Ok(Scoring::Letter),
                "text" | "full" | "full-text" => Ok(Scoring::FullText),
                other => Err(Error::Input(format!(
                    "scoring '{other}': use letter or text"
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        let steers = a
            .steers
            .iter()
            .map(|s| LabelledSteer::from_spec(s))
            .collect::<Result<Vec<_>>>()?;
        if let Some(bad) = a.strengths.iter().find(|s| !s.is_finite()) {
            return Err(Error::Input(format!("strength {bad} is not a number")));
        }
        let plan = EvalPlan {
            task: a.task.clone(),
            questions,
            steers,
            strengths: a.strengths.clone(),
            scorings,
            split_seed: a.split_seed,
            threads: a.threads,
            log: log.clone(),
        };
        errln!(
            "{}: {} questions (validation + test), {} steering files x {} strengths, {} scorings",
            a.task,
            plan.questions.len(),
            plan.steers.len(),
            plan.strengths.len(),
            plan.scorings.len()
        );
        let started = std::time::Instant::now();
        let mut progress = super::progress::StageProgress::new("eval");
        if let Some(e) = &a.expert {
            let model = Model::load(models::resolve(e)?, &ModelParams::default())?;
            let expert_plan = EvalPlan {
                steers: Vec::new(),
                ..plan.clone()
            };
            run_conditions(&model, "expert", &expert_plan, &mut |d, t| {
                progress.update("expert", d, t)
            })?;
        }
        let model = Model::load(models::resolve(&a.target)?, &ModelParams::default())?;
        run_conditions(&model, "none", &plan, &mut |d, t| {
            progress.update("target", d, t)
        })?;
        progress.finish();
        errln!("scoring took {:.0} s", started.elapsed().as_secs_f64());
    }
    // Report exactly this task's questions (a log may hold more, e.g. from
    // an earlier run with a larger --limit).
    let records: Vec<_> = read_log(&log)?
        .into_iter()
        .filter(|r| r.task == a.task && wanted.contains(&r.question))
        .collect();
    if records.is_empty() {
        return Err(Error::Input(format!(
            "{} holds no results yet",
            log.display()
        )));
    }
    let md = markdown(&records);
    write_atomic(&a.out.join("results.md"), md.as_bytes())?;
    write_atomic(&a.out.join("results.csv"), csv(&records).as_bytes())?;
    let mut groups: Vec<(String, Scoring)> = records
        .iter()
        .map(|r| (r.task.clone(), r.scoring))
        .collect();
    groups.sort();
    groups.dedup();
    for (task, scoring) in groups {
        let name = format!(
            "accuracy-{}-{:?}.png",
            task.replace([':', '/', '+'], "_"),
            scoring
        )
        .to_lowercase();
        accuracy_plot(&records, &task, scoring, &a.out.join(&name))?;
    }
    outln!("{md}");
    errln!(
        "wrote {}/results.md, results.csv and accuracy plots",
        a.out.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// Output folders of `expertsteer eval mcq` (each holds a log.jsonl).
    /// Only questions that every method and strength of a run has scored
    /// are counted, so all cells of a run cover the same questions.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
}

/// A run's name: the folder above `eval/` when the folder is called `eval`.
fn run_name(dir: &std::path::Path) -> String {
    let named = if dir.file_name().is_some_and(|n| n == "eval") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    named.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

pub fn summary(a: SummaryArgs) -> Result<()> {
    let mut runs = Vec::new();
    for d in &a.dirs {
        let log = d.join("log.jsonl");
        let records = read_log(&log)?;
        if records.is_empty() {
            return Err(Error::Input(format!(
                "{} holds no results (is {} an `eval --out` folder?)",
                log.display(),
                d.display()
            )));
        }
        runs.push((run_name(d), complete_questions(&records)));
    }
    outln!("Validation accuracy % pooled over {} runs (difference from no steering on the same questions):\n", runs.len());
    outln!(
        "{}",
        pooled_markdown(&pool_validation(runs.iter().map(|(_, r)| r.as_slice())))
    );
    outln!("Expert lead (unsteered expert vs unsteered target):\n");
    outln!("{}", expert_lead_markdown(&runs));
    outln!("Test accuracy change vs no steering (points) at the strength chosen on validation, (Holm-corrected McNemar p):\n");
    outln!("{}", selected_markdown(&runs));
    Ok(())
}
