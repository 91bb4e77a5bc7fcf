//! A token batch for `llama_decode`, holding several sequences at once.

use super::{LlamaError, Result, Token};
use llama_cpp_sys_2 as sys;

/// An owned `llama_batch` with a fixed capacity of tokens.
///
/// Each entry is one token at one position of one or more sequences;
/// `output` marks the entries whose logits (and last-layer hidden state)
/// llama.cpp keeps.
pub struct Batch {
    raw: sys::llama_batch,
    capacity: usize,
    max_seqs_per_token: usize,
    /// Sequence of each entry's first id, kept on the Rust side for the hook.
    first_seq: Vec<i32>,
    outputs: Vec<bool>,
}

impl Batch {
    /// A batch for up to `capacity` tokens, each in at most `max_seqs_per_token` sequences.
    pub fn new(capacity: usize, max_seqs_per_token: usize) -> Self {
        let capacity = capacity.max(1);
        let max_seqs_per_token = max_seqs_per_token.max(1);
        // SAFETY: llama_batch_init allocates arrays of `capacity` entries (and
        // `max_seqs_per_token` ids per entry); the result is owned by this
        // struct and freed exactly once in Drop.
        let raw = unsafe { sys::llama_batch_init(capacity as i32, 0, max_seqs_per_token as i32) };
        Batch {
            raw,
            capacity,
            max_seqs_per_token,
            first_seq: Vec::with_capacity(capacity),
            outputs: Vec::with_capacity(capacity),
        }
    }

    /// Number of tokens currently in the batch.
    pub fn len(&self) -> usize {
        self.raw.n_tokens as usize
    }

    /// True when the batch holds no token.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Maximum number of tokens.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Removes all tokens (keeps the allocation).
    pub fn clear(&mut self) {
        self.raw.n_tokens = 0;
        self.first_seq.clear();
        self.outputs.clear();
    }

    /// Appends `token` at position `pos` (0-based) of the sequences `seqs`;
    /// `output` asks llama.cpp to keep its logits.
    pub fn push(&mut self, token: Token, pos: usize, seqs: &[i32], output: bool) -> Result<()> {
        let i = self.len();
        if i >= self.capacity {
            return Err(LlamaError::Invalid(format!(
                "batch is full ({} tokens)",
                self.capacity
            )));
        }
        if seqs.is_empty() || seqs.len() > self.max_seqs_per_token {
            return Err(LlamaError::Invalid(format!(
                "a token must belong to 1..={} sequences, got {}",
                self.max_seqs_per_token,
                seqs.len()
            )));
        }
        // SAFETY: `i < capacity` and every array was allocated with
        // `capacity` entries by llama_batch_init; `seq_id[i]` points to an
        // array of `max_seqs_per_token` ids and `seqs.len()` is within it.
        unsafe {
            *self.raw.token.add(i) = token;
            *self.raw.pos.add(i) = pos as i32;
            *self.raw.n_seq_id.add(i) = seqs.len() as i32;
            let ids = *self.raw.seq_id.add(i);
            for (k, s) in seqs.iter().enumerate() {
                *ids.add(k) = *s;
            }
            *self.raw.logits.add(i) = output as i8;
        }
        self.raw.n_tokens += 1;
        self.first_seq.push(seqs[0]);
        self.outputs.push(output);
        Ok(())
    }

    /// Appends a run of tokens of one sequence starting at `start_pos`;
    /// only the last one is marked as output when `last_output` is set.
    pub fn push_sequence(
        &mut self,
        tokens: &[Token],
        start_pos: usize,
        seq: i32,
        last_output: bool,
    ) -> Result<()> {
        for (k, &t) in tokens.iter().enumerate() {
            let is_last = k + 1 == tokens.len();
            self.push(t, start_pos + k, &[seq], last_output && is_last)?;
        }
        Ok(())
    }

    /// Whether entry `i` keeps its logits.
    pub fn is_output(&self, i: usize) -> bool {
        self.outputs.get(i).copied().unwrap_or(false)
    }

    /// Output flags of all entries, in batch order.
    pub fn outputs(&self) -> &[bool] {
        &self.outputs
    }

    /// First sequence id of every entry, in batch order.
    pub fn first_seqs(&self) -> &[i32] {
        &self.first_seq
    }

    pub(crate) fn raw(&self) -> sys::llama_batch {
        self.raw
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        // SAFETY: `raw` came from llama_batch_init and is freed only here.
        unsafe { sys::llama_batch_free(self.raw) }
    }
}
