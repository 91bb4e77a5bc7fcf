//! Continuous batching: one llama.cpp context, up to `parallel` requests
//! decoding together, each sequence with its own steering through the
//! per-sequence hook.
//!
//! The engine runs on its own OS thread (llama.cpp calls block). Requests
//! arrive as [`Job`]s through a bounded queue; each step builds one batch
//! with the next token of every generating sequence plus as much of the
//! waiting prompts as `n_batch` allows, decodes it, samples every sequence
//! that produced logits and sends its text to the request's channel. A
//! request whose channel is closed (the client went away) loses its slot
//! at the next step.

use crate::generate::flush_utf8;
use crate::llama::{
    Batch, Context, ContextParams, LlamaError, Model, Positions, Sampler, SamplerParams, Token,
};
use crate::serve::prompt_cache::{choose, reusable, SlotCache};
use crate::steering::steer::Steering;
use crate::stop::StopScan;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// One request, validated and tokenized.
pub struct Job {
    /// Prompt tokens (chat template already applied).
    pub prompt: Vec<Token>,
    /// Most new tokens (≥ 1; prompt + max_tokens fit the slot's context).
    pub max_tokens: usize,
    /// Temperature, top-p, seed.
    pub sampler: SamplerParams,
    /// Stop strings: generation ends before the first one.
    pub stop: Vec<String>,
    /// Scaled steering vectors for this sequence, or none.
    pub steering: Option<Steering>,
    /// Layer → unit directions removed from this sequence's states
    /// (before the vectors are added; on the steering's positions).
    pub ablate: BTreeMap<usize, Vec<Vec<f32>>>,
    /// With `Positions::GeneratedOnly` steering: the prompt index where the
    /// steered phase starts (the last N prompt tokens); None = the first
    /// generated token.
    pub steer_from: Option<usize>,
    /// Fingerprint of the steering (0 = none): a slot's cached prompt is
    /// reused only under the same key.
    pub steer_key: u64,
    /// Reuse a slot's cached prompt prefix (llama-server's `cache_prompt`).
    pub cache_prompt: bool,
    /// Never stop at end-of-generation tokens.
    pub ignore_eos: bool,
    /// Added to the logits before sampling (OpenAI's `logit_bias`): token
    /// ids below the vocabulary size, biases within ±100.
    pub logit_bias: Vec<(Token, f32)>,
    /// Report each generated token's log-probability and this many
    /// alternatives (OpenAI's `logprobs` / `top_logprobs`); None = off.
    pub logprobs: Option<usize>,
    /// A label for the log line (e.g. `code@0.8`).
    pub label: String,
    /// Where the text goes; dropping the receiver cancels the request.
    pub events: mpsc::UnboundedSender<Event>,
}

/// What the engine tells a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The next piece of text (valid UTF-8, never part of a stop string).
    Text(String),
    /// The log-probability of a generated token (sent before its text).
    Logprob(TokenLogprob),
    /// Generation ended.
    Done(Finish),
    /// Generation failed; no more events follow.
    Failed(String),
}

/// One generated token's log-probability under the (steered) model's raw
/// logits, and the most likely alternatives.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    /// The token's text (lossy for a partial UTF-8 character).
    pub token: String,
    /// Its raw bytes.
    pub bytes: Vec<u8>,
    /// Natural log of its probability.
    pub logprob: f64,
    /// The `k` most likely tokens: (text, bytes, logprob), best first.
    pub top: Vec<(String, Vec<u8>, f64)>,
}

/// Log-softmax of `logits` at `token`, and the `k` best entries.
pub fn logprobs_of(logits: &[f32], token: usize, k: usize) -> (f64, Vec<(usize, f64)>) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let lse = max
        + logits
            .iter()
            .map(|&x| (x as f64 - max).exp())
            .sum::<f64>()
            .ln();
    let mut top: Vec<(usize, f64)> = Vec::with_capacity(k + 1);
    for (i, &x) in logits.iter().enumerate() {
        let x = x as f64;
        if top.len() < k || top.last().is_some_and(|&(_, worst)| x > worst) {
            let at = top.partition_point(|&(_, v)| v >= x);
            top.insert(at, (i, x));
            top.truncate(k);
        }
    }
    (
        logits[token] as f64 - lse,
        top.into_iter().map(|(i, x)| (i, x - lse)).collect(),
    )
}

/// How a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finish {
    /// Why it ended.
    pub reason: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Tokens generated (a stop string's tokens included).
    pub completion_tokens: usize,
}

/// OpenAI's `finish_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End-of-generation token or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
}

impl FinishReason {
    /// The name OpenAI clients expect.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// How the engine's context is shaped.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Sequences decoded together (slots).
    pub parallel: usize,
    /// Context length of each slot in tokens (prompt + generated).
    pub ctx_per_slot: u32,
    /// CPU threads.
    pub threads: i32,
    /// Most tokens in one decode.
    pub n_batch: u32,
    /// Print one line per finished request to stderr.
    pub log: bool,
    /// Keep each slot's KV cache for the next request that starts the same
    /// way (requests may still opt out with `cache_prompt: false`).
    pub prompt_cache: bool,
    /// Keep the CPU threads between decodes, polling for work at this
    /// level (0-100, llama-server's `--poll`); None starts them per graph.
    pub poll: Option<u32>,
}

/// Counters the HTTP side reads for `/health`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Slots generating now.
    pub busy: AtomicUsize,
    /// Requests finished (any reason).
    pub finished: AtomicU64,
    /// Tokens generated since start.
    pub generated_tokens: AtomicU64,
    /// Prompt tokens not decoded because a slot's cache held them.
    pub cached_prompt_tokens: AtomicU64,
}

/// A running engine: the job queue's sending end and the thread.
pub struct Engine {
    /// Submit jobs here (`try_send`: a full queue means "busy").
    pub jobs: mpsc::Sender<Job>,
    /// Live counters.
    pub stats: Arc<Stats>,
    thread: std::thread::JoinHandle<()>,
}

impl Engine {
    /// Creates the context and starts the engine thread. `queue` jobs may
    /// wait beyond the `parallel` that run. Fails if the context cannot be
    /// made (e.g. out of memory).
    pub fn start(
        model: Arc<Model>,
        cfg: EngineConfig,
        queue: usize,
    ) -> crate::llama::Result<Engine> {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let stats = Arc::new(Stats::default());
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread_stats = stats.clone();
        let thread = std::thread::Builder::new()
            .name("expertsteer-engine".into())
            .spawn(move || {
                let params = ContextParams {
                    n_ctx: cfg.ctx_per_slot * cfg.parallel as u32,
                    n_batch: cfg.n_batch,
                    n_ubatch: cfg.n_batch,
                    n_seq_max: cfg.parallel as u32,
                    threads: cfg.threads,
                    hook: true,
                };
                let ctx = Context::new(&model, params).and_then(|mut ctx| {
                    if let Some(poll) = cfg.poll {
                        ctx.keep_threads(poll)?;
                    }
                    Ok(ctx)
                });
                match ctx {
                    Ok(ctx) => {
                        let _ = ready_tx.send(Ok(()));
                        Runner::new(ctx, cfg, thread_stats).run(rx);
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| LlamaError::ContextFailed(format!("engine thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Engine {
                jobs: tx,
                stats,
                thread,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(LlamaError::ContextFailed(
                "the engine thread ended before its context was made".into(),
            )),
        }
    }

    /// Waits for the thread; it ends once every sender of the queue is
    /// dropped and the jobs already accepted are finished.
    pub fn join(self) {
        drop(self.jobs);
        let _ = self.thread.join();
    }
}

/// One occupied slot.
struct Slot {
    seq: i32,
    job: Job,
    /// Prompt tokens decoded so far (or found in the slot's cache).
    fed: usize,
    /// Generated tokens decoded so far (in the KV cache).
    gen_tokens: Vec<Token>,
    /// Tokens generated so far.
    generated: usize,
    /// The sampled token not yet decoded (generation phase).
    next: Option<Token>,
    /// The hook has been told this sequence is generating.
    generating: bool,
    /// This step's batch entry holding its logits.
    out_index: Option<usize>,
    sampler: Sampler,
    utf8: Vec<u8>,
    scan: StopScan,
    started: Instant,
}

struct Runner<'m> {
    ctx: Context<'m>,
    cfg: EngineConfig,
    stats: Arc<Stats>,
    slots: Vec<Option<Slot>>,
    /// What each slot's KV cache holds while free (prompt cache).
    caches: Vec<SlotCache>,
    /// Counts admissions (for least-recently-used slots).
    clock: u64,
    batch: Batch,
    /// End-of-generation tokens, banned for `ignore_eos` jobs.
    eog: Vec<Token>,
    n_vocab: usize,
}

impl<'m> Runner<'m> {
    fn new(ctx: Context<'m>, cfg: EngineConfig, stats: Arc<Stats>) -> Self {
        let slots = (0..cfg.parallel).map(|_| None).collect();
        let batch = Batch::new(cfg.n_batch as usize, 1);
        let eog = ctx.model().eog_tokens();
        let n_vocab = ctx.model().n_vocab();
        let caches = vec![SlotCache::default(); cfg.parallel];
        Runner {
            eog,
            n_vocab,
            ctx,
            cfg,
            stats,
            slots,
            caches,
            clock: 0,
            batch,
        }
    }

    fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        loop {
            if !self.admit(&mut rx) {
                return;
            }
            self.drop_cancelled();
            if self.slots.iter().all(Option::is_none) {
                continue;
            }
            self.step();
        }
    }

    /// Fills free slots from the queue; blocks when nothing runs. Returns
    /// false once the queue is closed and nothing is left to do.
    fn admit(&mut self, rx: &mut mpsc::Receiver<Job>) -> bool {
        while self.slots.iter().any(Option::is_none) {
            let idle = self.slots.iter().all(Option::is_none);
            let job = if idle {
                match rx.blocking_recv() {
                    Some(j) => j,
                    None => return false,
                }
            } else {
                match rx.try_recv() {
                    Ok(j) => j,
                    Err(_) => break,
                }
            };
            if job.events.is_closed() {
                continue; // the client left while waiting
            }
            let free: Vec<usize> = (0..self.slots.len())
                .filter(|&i| self.slots[i].is_none())
                .collect();
            let limit = job.steer_from.unwrap_or(usize::MAX);
            let Some((free, reuse)) = choose(
                &self.caches,
                &free,
                &job.prompt,
                job.steer_key,
                limit,
                job.cache_prompt && self.cfg.prompt_cache,
            ) else {
                break;
            };
            // Keep the reused prefix of the slot's KV cache, drop the rest.
            if reuse == 0 {
                self.ctx.seq_remove(free as i32, None, None);
            } else {
                self.ctx.seq_remove(free as i32, Some(reuse), None);
                self.stats
                    .cached_prompt_tokens
                    .fetch_add(reuse as u64, Ordering::Relaxed);
            }
            self.clock += 1;
            self.caches[free] = SlotCache {
                last_used: self.clock,
                ..SlotCache::default()
            };
            let seq = free as i32;
            let steered = match &job.steering {
                Some(s) => self
                    .ctx
                    .set_seq_steering(seq, &s.vectors, s.positions)
                    .and_then(|()| self.ctx.set_seq_ablation(Some(seq), &job.ablate)),
                None => {
                    self.ctx.clear_seq_steering(seq);
                    Ok(())
                }
            };
            if let Err(e) = steered {
                let _ = job.events.send(Event::Failed(e.to_string()));
                continue;
            }
            self.ctx.set_seq_generation_phase(seq, false);
            let mut biases = job.logit_bias.clone();
            if job.ignore_eos {
                biases.extend(self.eog.iter().map(|&t| (t, f32::NEG_INFINITY)));
            }
            let sampler = Sampler::with_biases(&job.sampler, self.n_vocab, &biases);
            let scan = StopScan::new(&job.stop);
            self.slots[free] = Some(Slot {
                seq,
                job,
                fed: reuse,
                gen_tokens: Vec::new(),
                generated: 0,
                next: None,
                generating: false,
                out_index: None,
                sampler,
                utf8: Vec::new(),
                scan,
                started: Instant::now(),
            });
            self.stats.busy.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Frees the slots whose client has gone.
    fn drop_cancelled(&mut self) {
        for i in 0..self.slots.len() {
            if matches!(&self.slots[i], Some(s) if s.job.events.is_closed()) {
                self.free(i, "cancelled (client gone)");
            }
        }
    }

    /// One decode over every active slot.
    fn step(&mut self) {
        self.batch.clear();
        let mut budget = self.cfg.n_batch as usize;
        // Generating sequences first: one token each, so a long prompt
        // arriving never stalls the streams already running.
        for s in self.slots.iter_mut().flatten() {
            s.out_index = None;
            if let Some(t) = s.next {
                let pos = s.job.prompt.len() + s.generated - 1;
                // Cannot fail: the batch holds n_batch ≥ parallel entries.
                if self.batch.push(t, pos, &[s.seq], true).is_ok() {
                    s.gen_tokens.push(t);
                    s.out_index = Some(self.batch.len() - 1);
                    budget -= 1;
                }
            }
        }
        for s in self.slots.iter_mut().flatten() {
            if s.next.is_some() || budget == 0 {
                continue;
            }
            let mut n = budget.min(s.job.prompt.len() - s.fed);
            // A chunk never straddles where the steered phase starts: the
            // hook's phase holds for a sequence's whole chunk.
            if let Some(from) = s.job.steer_from {
                if s.fed < from {
                    n = n.min(from - s.fed);
                } else if !s.generating {
                    s.generating = true;
                    self.ctx.set_seq_generation_phase(s.seq, true);
                }
            }
            let last = s.fed + n == s.job.prompt.len();
            let chunk = &s.job.prompt[s.fed..s.fed + n];
            if self.batch.push_sequence(chunk, s.fed, s.seq, last).is_err() {
                continue;
            }
            s.fed += n;
            budget -= n;
            if last {
                s.out_index = Some(self.batch.len() - 1);
            }
        }
        // A sequence enters the generation phase once, with its first
        // generated token (admit() starts it outside).
        for s in self.slots.iter_mut().flatten() {
            if s.next.is_some() && !s.generating {
                s.generating = true;
                self.ctx.set_seq_generation_phase(s.seq, true);
            }
        }
        if let Err(e) = self.ctx.decode(&self.batch) {
            let msg = e.to_string();
            for i in 0..self.slots.len() {
                if let Some(s) = &self.slots[i] {
                    let _ = s.job.events.send(Event::Failed(msg.clone()));
                    self.free(i, "failed");
                }
            }
            return;
        }
        for i in 0..self.slots.len() {
            self.sample_slot(i);
        }
    }

    /// Samples slot `i` if this step gave it logits, and sends its text.
    fn sample_slot(&mut self, i: usize) {
        let Some(s) = self.slots[i].as_mut() else {
            return;
        };
        let Some(idx) = s.out_index else { return };
        let model = self.ctx.model();
        let nan = match self.ctx.logits(idx) {
            Ok(l) => l.iter().any(|x| x.is_nan()),
            Err(_) => true,
        };
        if nan {
            let _ = s.job.events.send(Event::Failed(format!(
                "the model produced NaN logits at generated token {}: its hidden states \
                 overflowed (is the steering too strong?)",
                s.generated
            )));
            self.free(i, "failed (NaN logits)");
            return;
        }
        let token = match s.sampler.sample(&self.ctx, idx) {
            Ok(t) => t,
            Err(e) => {
                let _ = s.job.events.send(Event::Failed(e.to_string()));
                self.free(i, "failed");
                return;
            }
        };
        if model.is_eog(token) {
            self.finish(i, FinishReason::Stop);
            return;
        }
        if let (Some(k), Ok(logits)) = (s.job.logprobs, self.ctx.logits(idx)) {
            let (lp, top) = logprobs_of(logits, token as usize, k);
            let piece = |t: usize| {
                let b = model.token_bytes(t as Token);
                (String::from_utf8_lossy(&b).into_owned(), b)
            };
            let (text, bytes) = piece(token as usize);
            let _ = s.job.events.send(Event::Logprob(TokenLogprob {
                token: text,
                bytes,
                logprob: lp,
                top: top
                    .into_iter()
                    .map(|(t, v)| {
                        let (a, b) = piece(t);
                        (a, b, v)
                    })
                    .collect(),
            }));
        }
        s.generated += 1;
        self.stats.generated_tokens.fetch_add(1, Ordering::Relaxed);
        s.utf8.extend(model.token_bytes(token));
        let mut piece = String::new();
        flush_utf8(&mut s.utf8, &mut piece, &mut |_| true);
        let scanned = s.scan.push(&piece);
        if !scanned.text.is_empty() {
            let _ = s.job.events.send(Event::Text(scanned.text));
        }
        if scanned.stopped {
            s.utf8.clear();
            self.finish(i, FinishReason::Stop);
        } else if s.generated >= s.job.max_tokens {
            self.finish(i, FinishReason::Length);
        } else {
            s.next = Some(token);
        }
    }

    /// Sends what is held back and the finish event, then frees the slot.
    fn finish(&mut self, i: usize, reason: FinishReason) {
        let Some(s) = self.slots[i].as_mut() else {
            return;
        };
        // A token cut inside a UTF-8 character at the end: show what it has.
        let tail = String::from_utf8_lossy(&s.utf8).into_owned();
        s.utf8.clear();
        let scanned = s.scan.push(&tail);
        let mut rest = scanned.text;
        if !scanned.stopped {
            rest.push_str(&s.scan.finish());
        }
        if !rest.is_empty() {
            let _ = s.job.events.send(Event::Text(rest));
        }
        let _ = s.job.events.send(Event::Done(Finish {
            reason,
            prompt_tokens: s.job.prompt.len(),
            completion_tokens: s.generated,
        }));
        self.free(i, reason.as_str());
    }

    /// Forgets slot `i`'s sequence and steering.
    fn free(&mut self, i: usize, how: &str) {
        let Some(s) = self.slots[i].take() else {
            return;
        };
        // The slot's KV cache stays for the next request that starts the
        // same way; a failed decode leaves nothing trustworthy.
        if how == "failed" || !self.cfg.prompt_cache {
            self.ctx.seq_remove(s.seq, None, None);
            self.caches[i].tokens.clear();
        } else {
            let mut decoded = s.job.prompt[..s.fed].to_vec();
            decoded.extend_from_slice(&s.gen_tokens);
            let steered_from = match &s.job.steering {
                Some(st) if st.positions == Positions::GeneratedOnly => {
                    Some(s.job.steer_from.unwrap_or(s.job.prompt.len()))
                }
                _ => None,
            };
            self.caches[i].tokens = reusable(decoded, steered_from);
            self.caches[i].key = s.job.steer_key;
        }
        self.ctx.clear_seq_steering(s.seq);
        self.ctx.set_seq_generation_phase(s.seq, false);
        self.stats.busy.fetch_sub(1, Ordering::Relaxed);
        self.stats.finished.fetch_add(1, Ordering::Relaxed);
        if self.cfg.log {
            eprintln!(
                "serve: slot {} {}: {} prompt + {} generated tokens in {:.2} s, steering {}",
                s.seq,
                how,
                s.job.prompt.len(),
                s.generated,
                s.started.elapsed().as_secs_f64(),
                s.job.label
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::logprobs_of;

    #[test]
    fn logprobs_are_a_log_softmax_with_the_best_first() {
        let logits = [1.0f32, 3.0, 2.0, 3.0 - 2f32.ln()];
        let (lp, top) = logprobs_of(&logits, 2, 3);
        let z: f64 = logits.iter().map(|&x| (x as f64).exp()).sum();
        assert!((lp - (2.0 - z.ln())).abs() < 1e-12);
        assert_eq!(top.iter().map(|t| t.0).collect::<Vec<_>>(), vec![1, 3, 2]);
        assert!((top[0].1 - top[1].1 - 2f64.ln()).abs() < 1e-6);
        assert!(logprobs_of(&logits, 0, 0).1.is_empty());
    }
}
