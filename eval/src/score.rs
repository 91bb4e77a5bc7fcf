//! Multiple-choice scoring by log-likelihood (evaluation, issue "eval").
//!
//! A question's prefix is decoded once into sequence 0; each option is a
//! branch: the prefix is shared into sequence o+1 (`seq_copy`, no
//! recompute) and all options' tokens go through one batched decode. The
//! score of an option is Σ_k log p(c_k | prefix, c_<k).

use crate::data::McQuestion;
use expertsteer::llama::{Batch, Context, LlamaError, Model, Result, Token};

/// How options are presented and scored.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Scoring {
    /// Options listed as A., B., …; the continuation is the letter.
    Letter,
    /// The continuation is the full answer text.
    FullText,
}

const LETTERS: &[&str] = &["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"];

/// Prefix text and continuation texts of a question under `scoring`.
pub fn render(q: &McQuestion, scoring: Scoring) -> (String, Vec<String>) {
    match scoring {
        Scoring::Letter => {
            let mut p = format!("Question: {}\n", q.question.trim());
            for (i, o) in q.options.iter().enumerate() {
                p.push_str(&format!(
                    "{}. {}\n",
                    LETTERS.get(i).unwrap_or(&"?"),
                    o.trim()
                ));
            }
            p.push_str("Answer:");
            let conts = (0..q.options.len())
                .map(|i| format!(" {}", LETTERS.get(i).unwrap_or(&"?")))
                .collect();
            (p, conts)
        }
        Scoring::FullText => (
            format!("Question: {}\nAnswer:", q.question.trim()),
            q.options.iter().map(|o| format!(" {}", o.trim())).collect(),
        ),
    }
}

/// Tokens of a prefix (with BOS) and of each continuation (no BOS).
pub fn tokenize_question(
    model: &Model,
    q: &McQuestion,
    scoring: Scoring,
) -> Result<(Vec<Token>, Vec<Vec<Token>>)> {
    let (prefix, conts) = render(q, scoring);
    let p = model.tokenize(&prefix, true, false)?;
    let c = conts
        .iter()
        .map(|c| model.tokenize(c, false, false))
        .collect::<Result<Vec<_>>>()?;
    if c.iter().any(|t| t.is_empty()) {
        return Err(LlamaError::Invalid("an option tokenizes to nothing".into()));
    }
    Ok((p, c))
}

pub use expertsteer::perplexity::log_prob;

/// Log-likelihood of each continuation after `prefix`. The context needs
/// `n_seq_max ≥ options + 1` and `n_batch ≥` the options' total tokens.
/// Steering installed on the context applies to prefix and options alike.
pub fn score_options(
    ctx: &mut Context<'_>,
    prefix: &[Token],
    options: &[Vec<Token>],
) -> Result<Vec<f64>> {
    let n_batch = ctx.params().n_batch as usize;
    let need_seqs = options.len() + 1;
    if (ctx.params().n_seq_max as usize) < need_seqs {
        return Err(LlamaError::Invalid(format!(
            "{} options need n_seq_max ≥ {need_seqs}",
            options.len()
        )));
    }
    if options.iter().any(|o| o.is_empty()) {
        return Err(LlamaError::Invalid("an option holds no tokens".into()));
    }
    let total: usize = options.iter().map(|o| o.len()).sum();
    if total > n_batch {
        return Err(LlamaError::Invalid(format!(
            "options hold {total} tokens, more than n_batch {n_batch}"
        )));
    }
    if prefix.is_empty() {
        return Err(LlamaError::Invalid("empty prefix".into()));
    }
    ctx.clear_memory();
    let mut batch = Batch::new(n_batch, 1);
    for (c, chunk) in prefix.chunks(n_batch).enumerate() {
        batch.clear();
        let last = (c + 1) * n_batch >= prefix.len();
        batch.push_sequence(chunk, c * n_batch, 0, last)?;
        ctx.decode(&batch)?;
    }
    let first_logits = ctx.logits(batch.len() - 1)?;
    let mut scores: Vec<f64> = options
        .iter()
        .map(|o| log_prob(first_logits, o[0]))
        .collect();
    let multi: Vec<usize> = (0..options.len())
        .filter(|&o| options[o].len() > 1)
        .collect();
    if !multi.is_empty() {
        batch.clear();
        // (option, entry index in batch, next token to score)
        let mut reads = Vec::new();
        for &o in &multi {
            let seq = o as i32 + 1;
            ctx.seq_copy(0, seq);
            let toks = &options[o];
            for (k, &t) in toks[..toks.len() - 1].iter().enumerate() {
                reads.push((o, batch.len(), toks[k + 1]));
                batch.push(t, prefix.len() + k, &[seq], true)?;
            }
        }
        ctx.decode(&batch)?;
        for (o, entry, next) in reads {
            scores[o] += log_prob(ctx.logits(entry)?, next);
        }
    }
    ctx.clear_memory();
    Ok(scores)
}

/// Index of the best score (first on ties).
pub fn argmax(scores: &[f64]) -> usize {
    let mut best = 0;
    for (i, s) in scores.iter().enumerate() {
        if *s > scores[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> McQuestion {
        McQuestion {
            id: "x".into(),
            group: "x".into(),
            source: "t".into(),
            subject: "t".into(),
            question: "2 + 2 = ?".into(),
            options: vec!["3".into(), "4".into()],
            correct: 1,
        }
    }

    #[test]
    fn renders_letters_and_full_text() {
        let (p, c) = render(&q(), Scoring::Letter);
        assert_eq!(p, "Question: 2 + 2 = ?\nA. 3\nB. 4\nAnswer:");
        assert_eq!(c, vec![" A", " B"]);
        let (p, c) = render(&q(), Scoring::FullText);
        assert_eq!(p, "Question: 2 + 2 = ?\nAnswer:");
        assert_eq!(c, vec![" 3", " 4"]);
    }

    #[test]
    fn log_prob_is_a_log_softmax() {
        let l = [1.0f32, 2.0, 3.0];
        let total: f64 = (0..3).map(|t| log_prob(&l, t).exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert!(
            (log_prob(&l, 2) - (3.0 - (1f64.exp() + 2f64.exp() + 3f64.exp()).ln())).abs() < 1e-9
        );
        assert_eq!(argmax(&[0.1, 0.5, 0.5]), 1);
    }
}
