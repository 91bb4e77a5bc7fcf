//! The corpus `map` reads unless given --texts, which `data build --source
//! generic --map-corpus` also writes: everyday prose sampled from the
//! target (kept in the cache per target file, resumed when interrupted),
//! Python source and the generic MMLU questions, mixed by bytes; or, with
//! --prose-only, the sampled prose alone.

use clap::Args;
use expertsteer::llama::{Context, ContextParams, Model};
use expertsteer::map::corpus::{generic_corpus, mixed_corpus, python_stdlib};
use expertsteer::map::sampled::{longest_prompt, sample_prose, SampleSettings};
use expertsteer::{Error, Result};
use std::path::{Path, PathBuf};

/// Sampled texts `--prose-only` takes by default: for SmolLM2-135M, 1,200
/// texts held 1,027 that paired 200k positions with Gemma 3 270M.
pub const PROSE_ONLY_TEXTS: usize = 1200;

#[derive(Args, Debug, Clone)]
pub struct CorpusArgs {
    /// Folder of Python sources for the default corpus's code (default:
    /// the standard library of the python3 on PATH; `none`: no code).
    #[arg(long)]
    pub code: Option<String>,
    /// The corpus is the sampled prose alone: no code, no MMLU; --sample
    /// defaults to 1200 texts (~200k positions). For everyday topics from
    /// an expert that is no coder: Gemma 3 270M → SmolLM2 at 200k moved
    /// music 0.82 of SmolLM2's own CAA through it against 0.63 through the
    /// default mix, and cooking 1.32 against 1.13, but its code-vs-prose
    /// direction mapped at a median cos of 0.62 against the mix's 0.86
    /// (EVALUATION.md, "Gemma 3 270M on prose alone").
    #[arg(long, conflicts_with = "code")]
    pub prose_only: bool,
    /// Texts of everyday prose the default corpus samples from the target
    /// (answers to genre requests such as "Write a letter to a friend.",
    /// no topic named; half the corpus's bytes while they last) [default:
    /// 500; 1200 with --prose-only]. Kept in the cache per target file and
    /// resumed when interrupted, so a larger number adds to the texts
    /// already there: 500 texts are ~100k tokens; for SmolLM2-135M at 2
    /// threads on 2 cores here, the 500 took 832 s beside one single-core
    /// job (41 minutes beside two).
    /// 0: MMLU and code only, the corpus before sampling, on which
    /// everyday topics mapped at a median cos of 0.29-0.37 even at 200k
    /// positions, against 0.50-0.53 at 25-50k with sampled prose
    /// (EVALUATION.md).
    #[arg(long)]
    pub sample: Option<usize>,
    /// Most tokens per sampled text [default: 240].
    #[arg(long)]
    pub sample_tokens: Option<usize>,
}

impl CorpusArgs {
    /// Sampled texts wanted: --sample, else the corpus kind's default.
    pub fn sample_texts(&self) -> usize {
        self.sample.unwrap_or(if self.prose_only {
            PROSE_ONLY_TEXTS
        } else {
            SampleSettings::default().texts
        })
    }

    /// Most tokens per sampled text: --sample-tokens, else the default.
    pub fn tokens_per_text(&self) -> usize {
        self.sample_tokens
            .unwrap_or(SampleSettings::default().max_tokens)
    }

    /// Whether any corpus option was given (they go with --map-corpus).
    pub fn any_given(&self) -> bool {
        self.code.is_some()
            || self.prose_only
            || self.sample.is_some()
            || self.sample_tokens.is_some()
    }
}

/// Where the sampled prose of `target` is kept: `corpus/` under the cache,
/// named for the model file, its content hash and the token limit.
pub fn sample_store(target: &Path, max_tokens: usize) -> Result<PathBuf> {
    let sha = expertsteer::hash::content_sha256(target)?;
    let stem = target
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    Ok(expertsteer::cache::cache_root()
        .join("corpus")
        .join(format!("sampled-{stem}-{}-t{max_tokens}.jsonl", &sha[..12])))
}

/// The default corpus for the target at `target_path`; `loaded` is that
/// model when the caller has it, else it is loaded only if there is prose
/// to sample.
pub fn corpus_texts(
    c: &CorpusArgs,
    target_path: &Path,
    loaded: Option<&Model>,
    threads: i32,
) -> Result<Vec<String>> {
    let n_texts = c.sample_texts();
    if c.prose_only && n_texts == 0 {
        return Err(Error::Input(
            "--prose-only needs --sample above 0: the sampled prose is the whole corpus".into(),
        ));
    }
    let code = match c.code.as_deref() {
        _ if c.prose_only => None,
        Some("none") => None,
        Some(dir) => Some(PathBuf::from(dir)),
        None => Some(python_stdlib().ok_or_else(|| {
            Error::Input(
                "no python3 standard library found for the code in the corpus; \
                 pass --code DIR or --code none"
                    .into(),
            )
        })?),
    };
    if n_texts == 0 {
        return generic_corpus(code.as_deref());
    }
    let settings = SampleSettings {
        texts: n_texts,
        max_tokens: c.tokens_per_text(),
        ..SampleSettings::default()
    };
    let own;
    let target = match loaded {
        Some(m) => m,
        None => {
            own = Model::load(target_path, &Default::default())?;
            &own
        }
    };
    let store = sample_store(target_path, c.tokens_per_text())?;
    if let Some(dir) = store.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let n_ctx = settings.n_ctx(longest_prompt(target)?);
    let mut ctx = Context::new(
        target,
        ContextParams {
            n_ctx,
            n_batch: n_ctx,
            n_ubatch: 512,
            n_seq_max: settings.seqs as u32,
            threads,
            hook: false,
        },
    )?;
    let mut progress = super::progress::StageProgress::new("map");
    let sampled = sample_prose(&mut ctx, &settings, &store, &mut |done, total| {
        progress.update("sampling everyday prose", done, total)
    })?;
    progress.finish();
    errln!(
        "map corpus: {} texts of everyday prose sampled from the target ({})",
        sampled.len(),
        store.display()
    );
    if c.prose_only {
        return Ok(sampled);
    }
    mixed_corpus(sampled, code.as_deref())
}
