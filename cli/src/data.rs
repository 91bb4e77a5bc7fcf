//! `expertsteer data build`: labelled JSON Lines from benchmark data.

use super::data_args::{BuildArgs, DataAction, DataArgs, Source, SplitArg};
use expertsteer::{models, Error, Result};
use expertsteer_eval::data::{
    self, load_questions, split_of, LabelledText, McQuestion, QuestionSource, SplitFractions,
    TaskSpec,
};

pub fn run(a: DataArgs) -> Result<()> {
    let DataAction::Build(b) = a.action;
    let source = match b.source {
        Source::Mmlu => QuestionSource::Mmlu,
        Source::Bigbench => QuestionSource::Bigbench,
        Source::BigbenchExact => QuestionSource::BigbenchExact,
        Source::Humaneval | Source::Pycode => return super::data_code::build(&b),
        Source::Generic => return build_generic(&b),
        Source::Multiplication | Source::GsmSymbolic => return super::data_gen::build(&b),
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
            "--source generic takes only --limit, --map-corpus (with --target, --code, --sample, --sample-tokens, --prose-only) and --out: its texts are unlabelled, \
             come from fixed subjects that no evaluation uses, and have no split"
                .into(),
        ));
    }
    let texts = if b.map_corpus {
        let target_arg = b.target.as_deref().unwrap_or(models::DEFAULT_MODEL);
        let target_path = models::resolve(target_arg)?;
        let threads = expertsteer::llama::default_threads();
        let mut t = super::map_corpus::corpus_texts(&b.corpus, &target_path, None, threads)?;
        if b.limit > 0 && b.limit <= t.len() {
            t.truncate(b.limit);
        }
        t
    } else if b.corpus.any_given() || b.target.is_some() {
        return Err(Error::Input(
            "--code, --sample, --sample-tokens, --prose-only and --target go with --map-corpus"
                .into(),
        ));
    } else {
        data::generic_texts(if b.limit > 0 { b.limit } else { usize::MAX })?
    };
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
