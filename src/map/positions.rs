//! Which token positions of two tokenizations of one text see the same
//! text: a position is paired where both tokenizations end a token at the
//! same byte offset. Same-tokenizer pairs pair every token; different
//! tokenizers agree mostly at word and space boundaries.

use crate::llama::{LlamaError, Model, Result, Token};

/// A text as one model reads it: its tokens and, per token, the byte offset
/// in the text where the token ends (`None` for tokens that stand for no
/// text, such as BOS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokenized {
    /// The tokens, BOS included where the model adds one.
    pub tokens: Vec<Token>,
    /// End offset of each token in the text's bytes.
    pub ends: Vec<Option<usize>>,
}

/// Tokenizes `text` (plain, no chat template, special tokens added as the
/// model does) and finds each token's end offset. `None` when the pieces do
/// not spell the text (a tokenizer that normalises it, say): the caller
/// skips such a text rather than pair wrong positions.
pub fn tokenize_with_ends(model: &Model, text: &str) -> Result<Option<Tokenized>> {
    let tokens = model.tokenize(text, true, false)?;
    let pieces: Vec<Vec<u8>> = tokens.iter().map(|&t| model.token_bytes(t)).collect();
    Ok(token_ends(text.as_bytes(), &pieces).map(|ends| Tokenized { tokens, ends }))
}

/// End offsets of `pieces` laid over `text`. An empty piece ends nowhere.
/// A piece may carry one space the text does not have at that point (the
/// space SentencePiece tokenizers put before the first word). Returns
/// `None` when the pieces do not spell the whole text.
pub fn token_ends(text: &[u8], pieces: &[Vec<u8>]) -> Option<Vec<Option<usize>>> {
    let mut at = 0usize;
    let mut ends = Vec::with_capacity(pieces.len());
    for (k, piece) in pieces.iter().enumerate() {
        if piece.is_empty() {
            ends.push(None);
            continue;
        }
        let rest = &text[at..];
        if rest.starts_with(piece) {
            at += piece.len();
        } else if at == 0 && piece[0] == b' ' && rest.starts_with(&piece[1..]) && k <= 1 {
            at += piece.len() - 1;
            if piece.len() == 1 {
                ends.push(None);
                continue;
            }
        } else {
            return None;
        }
        ends.push(Some(at));
    }
    (at == text.len()).then_some(ends)
}

/// Positions `(expert, target)` whose tokens end at the same byte offset,
/// in text order.
pub fn paired_positions(expert: &[Option<usize>], target: &[Option<usize>]) -> Vec<(usize, usize)> {
    let e: Vec<(usize, usize)> = expert
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.map(|o| (o, i)))
        .collect();
    let t: Vec<(usize, usize)> = target
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.map(|o| (o, i)))
        .collect();
    let (mut a, mut b) = (0, 0);
    let mut out = Vec::new();
    while a < e.len() && b < t.len() {
        match e[a].0.cmp(&t[b].0) {
            std::cmp::Ordering::Less => a += 1,
            std::cmp::Ordering::Greater => b += 1,
            std::cmp::Ordering::Equal => {
                out.push((e[a].1, t[b].1));
                a += 1;
                b += 1;
            }
        }
    }
    out
}

/// Splits `text` into pieces of at most `max_bytes` bytes at line breaks
/// (or, for a longer line, at a character boundary), so that each piece
/// fits one decode. Empty pieces are dropped.
pub fn split_text(text: &str, max_bytes: usize) -> Result<Vec<String>> {
    if max_bytes == 0 {
        return Err(LlamaError::Invalid("split_text: max_bytes is 0".into()));
    }
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.split_inclusive('\n') {
        if cur.len() + line.len() > max_bytes && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if line.len() > max_bytes {
            let mut rest = line;
            while rest.len() > max_bytes {
                let mut cut = max_bytes;
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.push(rest[..cut].to_string());
                rest = &rest[cut..];
            }
            cur.push_str(rest);
        } else {
            cur.push_str(line);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out.retain(|s| !s.trim().is_empty());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> Vec<Vec<u8>> {
        s.iter().map(|x| x.as_bytes().to_vec()).collect()
    }

    #[test]
    fn ends_follow_the_pieces_and_skip_empty_ones() {
        let ends = token_ends(b"Hello world", &p(&["", "Hello", " world"])).unwrap();
        assert_eq!(ends, vec![None, Some(5), Some(11)]);
        // A leading space the text lacks (SentencePiece's first word).
        let ends = token_ends(b"Hello world", &p(&["", " Hello", " world"])).unwrap();
        assert_eq!(ends, vec![None, Some(5), Some(11)]);
        // Pieces that do not spell the text, or stop short of it.
        assert!(token_ends(b"Hello world", &p(&["Hello", " there"])).is_none());
        assert!(token_ends(b"Hello world", &p(&["Hello"])).is_none());
        // A multi-byte character split over two byte tokens.
        let ends = token_ends("é!".as_bytes(), &[vec![0xC3], vec![0xA9], b"!".to_vec()]).unwrap();
        assert_eq!(ends, vec![Some(1), Some(2), Some(3)]);
    }

    #[test]
    fn pairs_are_the_shared_end_offsets() {
        // "the cat" as [the][ cat] and [th][e][ c][at].
        let e = vec![None, Some(3), Some(7)];
        let t = vec![None, Some(2), Some(3), Some(5), Some(7)];
        assert_eq!(paired_positions(&e, &t), vec![(1, 2), (2, 4)]);
        assert!(paired_positions(&[None], &t).is_empty());
        let same = vec![Some(1), Some(2)];
        assert_eq!(paired_positions(&same, &same), vec![(0, 0), (1, 1)]);
    }

    #[test]
    fn split_keeps_every_byte_in_order() {
        let text = "line one\nline two\n\nthree é é é\n";
        let parts = split_text(text, 10).unwrap();
        assert!(parts.iter().all(|s| s.len() <= 10));
        assert_eq!(parts.concat().replace('\n', ""), text.replace('\n', ""));
        assert!(split_text(text, 0).is_err());
    }
}
