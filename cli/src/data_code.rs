//! `expertsteer data build --source humaneval|pycode`: the labelled sets
//! code steering files are fitted on ([`expertsteer_eval::code::labels`]).

use super::data_args::{BuildArgs, CodeLabel, Source, SplitArg};
use expertsteer::{Error, Result};
use expertsteer_eval::code::humaneval::{load_humaneval, problem_split};
use expertsteer_eval::code::labels::{correctness_set, domain_set, outcome_set};
use expertsteer_eval::code::pycode::load_pycode;
use expertsteer_eval::code::run::read_code_log;
use expertsteer_eval::code::sandbox::{Limits, Sandbox, SandboxConfig};
use expertsteer_eval::data::{self, LabelledText};
use std::time::Instant;

pub fn build(b: &BuildArgs) -> Result<()> {
    let label = b.label.ok_or_else(|| {
        Error::Input(format!(
            "--source {} needs --label (correctness, domain or outcome)",
            if b.source == Source::Pycode {
                "pycode"
            } else {
                "humaneval"
            }
        ))
    })?;
    if label == CodeLabel::Steps {
        return Err(Error::Input(
            "--label steps is for --source gsm-symbolic (worked solutions against bare answers)"
                .into(),
        ));
    }
    if (b.log.is_some() || b.model.is_some()) != (label == CodeLabel::Outcome) {
        return Err(Error::Input(
            "--log (and --model) go with --label outcome, and --label outcome needs --log".into(),
        ));
    }
    let t = Instant::now();
    let (items, what) = match b.source {
        Source::Pycode => {
            if label != CodeLabel::Domain {
                return Err(Error::Input(
                    "--source pycode has no tests and no logged completions: use --label domain"
                        .into(),
                ));
            }
            if b.split.is_some() {
                return Err(Error::Input(
                    "--source pycode has no split: its functions are in no evaluation".into(),
                ));
            }
            let mut fs = load_pycode()?;
            if b.limit > 0 {
                fs.truncate(b.limit);
            }
            let n = fs.len();
            let items = domain_set(fs.into_iter().map(|f| (f.id, f.source)).collect())?;
            (items, format!("{n} more-itertools functions"))
        }
        _ => humaneval_items(b, label)?,
    };
    if items.is_empty() {
        return Err(Error::Input("no problems selected".into()));
    }
    data::write_dataset(&b.out, &items)?;
    errln!(
        "wrote {} ({what}, {} texts, {} labelled 1) in {:.1} s",
        b.out.display(),
        items.len(),
        items.iter().filter(|t| t.label == 1).count(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn humaneval_items(b: &BuildArgs, label: CodeLabel) -> Result<(Vec<LabelledText>, String)> {
    let split = b.split.unwrap_or(SplitArg::Fit);
    let mut problems = load_humaneval()?;
    problems.retain(|p| split.keeps(problem_split(p, b.seed)));
    if b.limit > 0 {
        problems.truncate(b.limit);
    }
    let n = problems.len();
    match label {
        CodeLabel::Outcome => {
            let log = b.log.as_deref().ok_or_else(|| {
                Error::Input("--label outcome needs --log (an eval-code log)".into())
            })?;
            let records = read_code_log(log)?;
            let items = outcome_set(&problems, &records, b.model.as_deref())?;
            Ok((
                items,
                format!(
                    "completions from {} on {n} HumanEval problems, split {split:?}",
                    log.display()
                ),
            ))
        }
        CodeLabel::Domain => {
            let code = problems
                .into_iter()
                .map(|p| (p.task_id, format!("{}{}", p.prompt, p.canonical_solution)))
                .collect();
            Ok((
                domain_set(code)?,
                format!("{n} HumanEval problems, split {split:?}"),
            ))
        }
        // Refused before any download (top of `build`).
        CodeLabel::Steps => Err(Error::Input(
            "--label steps is for --source gsm-symbolic".into(),
        )),
        CodeLabel::Correctness => {
            let sandbox = Sandbox::new(SandboxConfig {
                limits: Limits {
                    wall_secs: 5.0,
                    cpu_secs: 3,
                    ..Limits::default()
                },
                ..SandboxConfig::default()
            })?;
            let mut done = 0;
            let (items, r) = correctness_set(
                &problems,
                &sandbox,
                b.seed,
                b.mutation_tries,
                &mut |id, ok| {
                    done += 1;
                    if !ok || done % 20 == 0 {
                        errln!(
                            "[{done}/{n}] {id}: {}",
                            if ok {
                                "paired"
                            } else {
                                "no failing mutant, skipped"
                            }
                        );
                    }
                },
            )?;
            errln!(
                "correctness: {} of {n} problems paired; {} mutants run, {} still passed; \
                 no failing mutant: {:?}; canonical failed: {:?}",
                r.paired,
                r.mutants_run,
                r.mutants_passed,
                r.no_mutant,
                r.canonical_failed
            );
            Ok((
                items,
                format!("{} HumanEval problems, split {split:?}", r.paired),
            ))
        }
    }
}
