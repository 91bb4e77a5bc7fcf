//! Everyday prose sampled from the target: the part of a map's default
//! corpus that varies along everyday topics. MMLU questions and code barely
//! mention cooking, music or sports (1-6 % of texts hold such a word), and
//! maps fitted on them carried those concepts' directions at a median cos
//! of 0.29-0.37 even at 200k positions; on 380 of the target's own answers
//! to genre requests, 0.50-0.53 at 25-50k (EVALUATION.md, "A corpus of
//! everyday prose").
//!
//! Text `i` answers [`GENRES`]`[i % 8]` in the target's chat template,
//! sampled at temperature 1 (top-k 40, top-p 0.95) with seed `i`. No topic
//! is named. Texts are generated `seqs` at a time in one batch and appended
//! to a JSON Lines store (`{"seed": i, "text": ...}`) as each batch ends, so
//! an interrupted run resumes where it stopped. The same settings on the
//! same build give the same texts.

use crate::generate::prompt_tokens;
use crate::llama::{Batch, Context, Model, Sampler, SamplerParams, Token};
use crate::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The requests, in turn: what to write, never what about.
pub const GENRES: [&str; 8] = [
    "Write a paragraph.",
    "Write a short story.",
    "Write a short article.",
    "Write a letter to a friend.",
    "Write a diary entry.",
    "Write a blog post.",
    "Describe an ordinary day.",
    "Explain something you find interesting.",
];

/// How much to sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSettings {
    /// Texts wanted (seeds `0..texts`).
    pub texts: usize,
    /// Most tokens per text.
    pub max_tokens: usize,
    /// Texts generated together in one batch.
    pub seqs: usize,
}

impl Default for SampleSettings {
    fn default() -> Self {
        SampleSettings {
            texts: 500,
            max_tokens: 240,
            seqs: 8,
        }
    }
}

impl SampleSettings {
    /// Context length a batch of `seqs` texts needs when the longest
    /// prompt is `prompt` tokens.
    pub fn n_ctx(&self, prompt: usize) -> u32 {
        (self.seqs.max(1) * (self.max_tokens + prompt)) as u32
    }
}

/// The requests in `model`'s chat template, as tokens.
fn prompts(model: &Model) -> Result<Vec<Vec<Token>>> {
    Ok(GENRES
        .iter()
        .map(|g| prompt_tokens(model, g, true))
        .collect::<std::result::Result<_, _>>()?)
}

/// Tokens of the longest request in `model`'s chat template.
pub fn longest_prompt(model: &Model) -> Result<usize> {
    Ok(prompts(model)?.iter().map(Vec::len).max().unwrap_or(0))
}

/// The sampler of text `seed`.
fn sampler_params(seed: u32) -> SamplerParams {
    SamplerParams {
        temperature: 1.0,
        top_k: 40,
        top_p: 0.95,
        seed,
    }
}

/// Reads a store: seed → text. A last line without its newline (a run
/// killed while writing) is cut off the file, so it is generated again.
pub fn read_store(path: &Path) -> Result<BTreeMap<u32, String>> {
    let mut out = BTreeMap::new();
    let body = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(path, e)),
    };
    let complete = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    if complete < body.len() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        f.set_len(complete as u64).map_err(|e| Error::io(path, e))?;
    }
    let text = std::str::from_utf8(&body[..complete])
        .map_err(|_| Error::Input(format!("{}: not UTF-8", path.display())))?;
    for (n, line) in text.lines().enumerate() {
        let bad = || Error::Input(format!("{}:{}: not a sampled text", path.display(), n + 1));
        let v: serde_json::Value = serde_json::from_str(line).map_err(|_| bad())?;
        let seed = v["seed"].as_u64().and_then(|s| u32::try_from(s).ok());
        match (seed, v["text"].as_str()) {
            (Some(s), Some(t)) => out.insert(s, t.to_string()),
            _ => return Err(bad()),
        };
    }
    Ok(out)
}

/// Samples the texts of `settings` the store lacks, appending each batch,
/// and returns the non-empty texts of seeds `0..texts` in seed order.
/// `progress(done, total)` follows the texts.
pub fn sample_prose(
    ctx: &mut Context<'_>,
    settings: &SampleSettings,
    store: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<String>> {
    if settings.texts > 0 && (settings.max_tokens == 0 || settings.seqs == 0) {
        return Err(Error::Input(
            "sampling needs at least one token and one sequence per batch".into(),
        ));
    }
    let need = settings.n_ctx(longest_prompt(ctx.model())?);
    if (ctx.params().n_seq_max as usize) < settings.seqs || ctx.params().n_ctx < need {
        return Err(Error::Input(format!(
            "the sampling context holds {} sequences and {} tokens; {} texts of {} tokens need {} and {}",
            ctx.params().n_seq_max,
            ctx.params().n_ctx,
            settings.seqs,
            settings.max_tokens,
            settings.seqs,
            need
        )));
    }
    let mut have = read_store(store)?;
    let todo: Vec<u32> = (0..settings.texts as u32)
        .filter(|s| !have.contains_key(s))
        .collect();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store)
        .map_err(|e| Error::io(store, e))?;
    let mut done = settings.texts - todo.len();
    progress(done, settings.texts);
    for wave in todo.chunks(settings.seqs) {
        let texts = sample_wave(ctx, wave, settings.max_tokens)?;
        let mut lines = String::new();
        for (&seed, text) in wave.iter().zip(&texts) {
            lines.push_str(&serde_json::json!({ "seed": seed, "text": text }).to_string());
            lines.push('\n');
        }
        file.write_all(lines.as_bytes())
            .and_then(|_| file.sync_data())
            .map_err(|e| Error::io(store, e))?;
        for (&seed, text) in wave.iter().zip(texts) {
            have.insert(seed, text);
        }
        done += wave.len();
        progress(done, settings.texts);
    }
    Ok((0..settings.texts as u32)
        .filter_map(|s| have.remove(&s))
        .filter(|t| !t.is_empty())
        .collect())
}

/// One batch: the prompts of `seeds` decoded together, then one token per
/// unfinished text per decode until each ends or reaches `max_tokens`.
fn sample_wave(ctx: &mut Context<'_>, seeds: &[u32], max_tokens: usize) -> Result<Vec<String>> {
    let model = ctx.model();
    let requests = prompts(model)?;
    let prompts: Vec<&Vec<Token>> = seeds
        .iter()
        .map(|&s| &requests[s as usize % GENRES.len()])
        .collect();
    let total: usize = prompts.iter().map(|p| p.len()).sum();
    let mut batch = Batch::new(total.max(seeds.len()), 1);
    let mut at = Vec::with_capacity(seeds.len()); // batch index of each text's logits
    ctx.clear_memory();
    for (k, p) in prompts.iter().enumerate() {
        batch.push_sequence(p, 0, k as i32, true)?;
        at.push(batch.len() - 1);
    }
    ctx.decode(&batch)?;
    let mut samplers: Vec<Sampler> = seeds
        .iter()
        .map(|&s| Sampler::new(&sampler_params(s)))
        .collect();
    let mut pos: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
    let mut bytes: Vec<Vec<u8>> = vec![Vec::new(); seeds.len()];
    let mut live = vec![true; seeds.len()];
    for step in 0..max_tokens {
        batch.clear();
        for k in 0..seeds.len() {
            if !live[k] {
                continue;
            }
            let t = samplers[k].sample(ctx, at[k])?;
            if model.is_eog(t) {
                live[k] = false;
                continue;
            }
            bytes[k].extend(model.token_bytes(t));
            if step + 1 == max_tokens {
                live[k] = false;
                continue;
            }
            batch.push(t, pos[k], &[k as i32], true)?;
            at[k] = batch.len() - 1;
            pos[k] += 1;
        }
        if batch.is_empty() {
            break;
        }
        ctx.decode(&batch)?;
    }
    Ok(bytes
        .into_iter()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("es-sampled-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("store.jsonl")
    }

    #[test]
    fn a_store_cut_mid_line_loses_only_that_line() {
        let p = temp("cut");
        std::fs::write(
            &p,
            "{\"seed\":0,\"text\":\"a\"}\n{\"seed\":2,\"text\":\"c\"}\n{\"seed\":1,\"te",
        )
        .unwrap();
        let got = read_store(&p).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[&2], "c");
        assert!(std::fs::read_to_string(&p).unwrap().ends_with("\"c\"}\n"));
        std::fs::write(&p, "{\"seed\":0}\n").unwrap();
        assert!(read_store(&p).unwrap_err().to_string().contains(":1:"));
        assert!(read_store(&p.with_extension("none")).unwrap().is_empty());
    }
}
