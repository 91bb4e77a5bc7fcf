//! `data build --source multiplication | gsm-symbolic`: generative tasks
//! written as example files for `eval gen --task FILE` (and for
//! `--source bigbench-exact --tasks FILE`'s right-vs-wrong pairs), and,
//! for word problems, `--label steps`: worked solutions against bare
//! answers.

use super::data_args::{BuildArgs, CodeLabel, Source, SplitArg};
use expertsteer::{Error, Result};
use expertsteer_eval::data::{
    self, bare_answer, load_gsm_symbolic, multiplication_examples, split_of, write_gen_file,
    GenFileRow, LabelledText, Part, SplitFractions,
};

pub fn build(b: &BuildArgs) -> Result<()> {
    if b.log.is_some() || b.model.is_some() || !b.subjects.is_empty() || !b.tasks.is_empty() {
        return Err(Error::Input(
            "--source multiplication and gsm-symbolic take --limit, --per-template, --seed, \
             --split and --label steps (gsm-symbolic) only"
                .into(),
        ));
    }
    let rows = match b.source {
        Source::Multiplication => {
            if b.label.is_some() {
                return Err(Error::Input(
                    "--source multiplication writes examples; for right-vs-wrong pairs run \
                     --source bigbench-exact --tasks FILE.jsonl on them"
                        .into(),
                ));
            }
            multiplication_examples(if b.limit > 0 { b.limit } else { 1000 }, b.seed)
        }
        _ => load_gsm_symbolic(b.per_template, b.seed)?,
    };
    let part = |r: &GenFileRow| split_of(&r.group, b.seed, SplitFractions::BENCHMARK);
    match b.label {
        Some(CodeLabel::Steps) => write_steps(b, &rows, &part),
        Some(other) => Err(Error::Input(format!(
            "--label {other:?} is for --source humaneval or pycode; gsm-symbolic takes steps"
        ))),
        None => {
            let split = b.split.unwrap_or(SplitArg::All);
            let kept: Vec<GenFileRow> = rows.into_iter().filter(|r| split.keeps(part(r))).collect();
            write_gen_file(&b.out, &kept)?;
            let count = |p: Part| kept.iter().filter(|r| part(r) == p).count();
            errln!(
                "wrote {} ({} examples: fit {}, validation {}, test {}; seed {})",
                b.out.display(),
                kept.len(),
                count(Part::Fit),
                count(Part::Validation),
                count(Part::Test),
                b.seed
            );
            Ok(())
        }
    }
}

/// Each problem of the split twice, as `eval gen` prompts it: with its
/// worked solution (1) and with the bare answer (0). Both end with the same
/// sentence, "The answer is N.", so the last token's state differs by the
/// reasoning before it, not by how the text ends.
fn write_steps(
    b: &BuildArgs,
    rows: &[GenFileRow],
    part: &dyn Fn(&GenFileRow) -> Part,
) -> Result<()> {
    let split = b.split.unwrap_or(SplitArg::Fit);
    let mut chosen: Vec<&GenFileRow> = rows.iter().filter(|r| split.keeps(part(r))).collect();
    // Round robin over templates, so that --limit keeps every template of
    // the split rather than the first few.
    let mut seen: std::collections::HashMap<&str, usize> = Default::default();
    let mut rank: Vec<(usize, usize)> = Vec::with_capacity(chosen.len());
    for (i, r) in chosen.iter().enumerate() {
        let k = seen.entry(r.group.as_str()).or_default();
        rank.push((*k, i));
        *k += 1;
    }
    rank.sort();
    chosen = rank.into_iter().map(|(_, i)| chosen[i]).collect();
    if b.limit > 0 {
        chosen.truncate(b.limit);
    }
    let mut items = Vec::new();
    for r in &chosen {
        let worked = r
            .rationale
            .as_deref()
            .ok_or_else(|| Error::Input(format!("{}: no worked solution to label", r.id)))?;
        let q = format!("Q: {}\nA: ", r.input.trim());
        items.push(LabelledText {
            text: format!("{q}{worked}"),
            label: 1,
            group: r.group.clone(),
        });
        items.push(LabelledText {
            text: format!("{q}{}", bare_answer(&r.targets[0])),
            label: 0,
            group: r.group.clone(),
        });
    }
    if items.is_empty() {
        return Err(Error::Input("no problems selected".into()));
    }
    data::write_dataset(&b.out, &items)?;
    let templates: std::collections::HashSet<&str> =
        chosen.iter().map(|r| r.group.as_str()).collect();
    errln!(
        "wrote {} ({} problems from {} templates, {} texts, split {:?}, seed {})",
        b.out.display(),
        chosen.len(),
        templates.len(),
        items.len(),
        split,
        b.seed
    );
    Ok(())
}
