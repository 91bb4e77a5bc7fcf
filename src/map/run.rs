//! `expertsteer map`'s work: read generic texts through both models, pair
//! their token positions, and stream the paired states into the ridge
//! statistics; checkpointed so an interrupted run resumes where it stopped.

use crate::atomic_file::write_atomic_with;
use crate::hash::texts_sha256;
use crate::llama::{Batch, CaptureRows, Context, HookPlan, LlamaError};
use crate::map::dump::{DumpMeta, RowDump};
use crate::map::file::{CorpusInfo, MapFile};
use crate::map::moments::{Chunk, MapMoments};
use crate::map::positions::{paired_positions, tokenize_with_ends, Tokenized};
use crate::map::solve::fit_pairs;
use crate::rng::SplitMix64;
use crate::{Error, Result};
use bincode::Options;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Every fifth text (by position in the corpus) is held out.
pub const HELD_OUT_EVERY: usize = 5;

/// Candidate layers and pairs: each target layer with the expert layers at
/// the same relative depth ± `window`. Neither model's last block is a
/// candidate (its rows exist only for output tokens).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidates {
    /// Expert layers (ascending).
    pub expert_layers: Vec<usize>,
    /// Target layers (ascending).
    pub target_layers: Vec<usize>,
    /// (index into expert_layers, index into target_layers).
    pub pairs: Vec<(usize, usize)>,
}

impl Candidates {
    /// Target layers `targets` (all but the last block if empty: from a
    /// third of the depth, every `stride`-th), each with the expert layers
    /// within `window` of its relative depth.
    pub fn by_depth(
        n_e: usize,
        n_t: usize,
        targets: &[usize],
        stride: usize,
        window: usize,
    ) -> Result<Self> {
        if n_e < 2 || n_t < 2 {
            return Err(Error::Input(
                "map: both models need at least two blocks".into(),
            ));
        }
        let targets: Vec<usize> = if targets.is_empty() {
            (n_t / 3..n_t - 1).step_by(stride.max(1)).collect()
        } else {
            targets.to_vec()
        };
        if let Some(&t) = targets.iter().find(|&&t| t + 1 >= n_t) {
            return Err(Error::Input(format!(
                "map: target layer {t} is not a candidate (the target has {n_t} blocks; the last, {}, is never mapped)",
                n_t - 1
            )));
        }
        let mut expert_layers = Vec::new();
        let mut raw_pairs = Vec::new();
        for &t in &targets {
            let centre = (t as f64 / (n_t - 1) as f64 * (n_e - 1) as f64).round() as usize;
            let lo = centre.saturating_sub(window);
            let hi = (centre + window).min(n_e - 2);
            for e in lo..=hi {
                expert_layers.push(e);
                raw_pairs.push((e, t));
            }
        }
        expert_layers.sort_unstable();
        expert_layers.dedup();
        let mut target_layers = targets;
        target_layers.sort_unstable();
        target_layers.dedup();
        let pairs = raw_pairs
            .iter()
            .map(|(e, t)| {
                (
                    expert_layers.binary_search(e).expect("listed"),
                    target_layers.binary_search(t).expect("listed"),
                )
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        Ok(Candidates {
            expert_layers,
            target_layers,
            pairs,
        })
    }
}

/// How a map run goes.
#[derive(Debug, Clone)]
pub struct MapRunConfig {
    /// Candidate layers and pairs.
    pub candidates: Candidates,
    /// Stop once this many positions are paired (None: every text).
    pub max_paired: Option<u64>,
    /// Write the checkpoint after this many texts.
    pub checkpoint_texts: usize,
    /// Also fit and write a map when the paired count passes each of these
    /// (the learning curve), as `<out>.<N>.esmap`.
    pub snapshots: Vec<u64>,
    /// Permute the target rows of each decode before accumulating (the
    /// shuffled-map control), with this seed.
    pub shuffle_seed: Option<u64>,
    /// Target positions below this index are not paired (the first tokens
    /// carry the outsized "attention sink" states).
    pub skip_first: usize,
    /// Where the checkpoint lives.
    pub state_dir: PathBuf,
    /// The final map's path (snapshots sit next to it).
    pub out: PathBuf,
    /// Also write every paired row here ([`RowDump`]).
    pub dump_rows: Option<PathBuf>,
}

/// One text of a decode group: its index, both tokenizations, and the
/// paired positions (expert, target).
type GroupText = (usize, Tokenized, Tokenized, Vec<(usize, usize)>);

/// Counters of a run, reported as it goes and stored in the map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MapCounters {
    /// Texts processed (skipped ones included).
    pub texts: usize,
    /// Texts skipped.
    pub skipped: usize,
    /// Tokens each model read.
    pub expert_tokens: u64,
    /// Tokens the target read.
    pub target_tokens: u64,
    /// Seconds spent decoding (capture) on each side.
    pub expert_seconds: f64,
    /// Seconds in the target's decodes.
    pub target_seconds: f64,
    /// Seconds spent accumulating the statistics.
    pub stats_seconds: f64,
}

#[derive(Serialize, Deserialize)]
struct Checkpoint {
    key: String,
    counters: MapCounters,
    snapshots_done: Vec<u64>,
    moments: MapMoments,
}

fn ckpt_opts() -> impl bincode::Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(16 << 30)
}

/// Progress of a run.
pub struct MapProgress<'a> {
    /// Texts done so far, of the total.
    pub texts: (usize, usize),
    /// Positions paired so far.
    pub paired: u64,
    /// Counters so far.
    pub counters: &'a MapCounters,
}

/// Runs (or resumes) the capture and returns the fitted map file.
pub fn run_map(
    expert: &mut Context<'_>,
    target: &mut Context<'_>,
    texts: &[String],
    cfg: &MapRunConfig,
    progress: &mut dyn FnMut(&MapProgress<'_>),
    note: &mut dyn FnMut(&str),
) -> Result<(MapFile, MapCounters)> {
    let (em, tm) = (expert.model(), target.model());
    let (e_id, t_id) = (em.identity()?, tm.identity()?);
    let corpus_sha = texts_sha256(texts);
    let cand = &cfg.candidates;
    let key = {
        let mut h = Sha256::new();
        for s in [&e_id.sha256, &t_id.sha256, &corpus_sha] {
            h.update(s.as_bytes());
        }
        h.update(serde_json::to_vec(cand).expect("plain data"));
        h.update(format!(
            "{:?}/{}/{}/{}/{}",
            cfg.shuffle_seed,
            expert.params().n_ubatch,
            expert.params().n_seq_max,
            target.params().n_ubatch,
            target.params().n_seq_max
        ));
        // Added later: only a non-default value joins the key, so older
        // checkpoints still resume.
        if cfg.skip_first > 0 {
            h.update(format!("skip_first={}", cfg.skip_first));
        }
        crate::hash::hex(&h.finalize())
    };
    std::fs::create_dir_all(&cfg.state_dir).map_err(|e| Error::io(&cfg.state_dir, e))?;
    let ckpt_path = cfg.state_dir.join("checkpoint.bin");
    let mut ck = match read_checkpoint(&ckpt_path) {
        Some(c) if c.key == key => {
            note(&format!(
                "map: resuming at text {} ({} positions paired) from {}",
                c.counters.texts,
                c.moments.rows(),
                ckpt_path.display()
            ));
            c
        }
        other => {
            if other.is_some() {
                note(
                    "map: the checkpoint there is for other models, texts or layers; starting over",
                );
            }
            Checkpoint {
                key: key.clone(),
                counters: MapCounters::default(),
                snapshots_done: Vec::new(),
                moments: MapMoments::new(
                    em.n_embd(),
                    tm.n_embd(),
                    cand.expert_layers.clone(),
                    cand.target_layers.clone(),
                    cand.pairs.clone(),
                ),
            }
        }
    };
    let mut dump = match &cfg.dump_rows {
        Some(dir) => Some(RowDump::open(
            dir,
            DumpMeta {
                run: key.clone(),
                d_expert: em.n_embd(),
                d_target: tm.n_embd(),
                expert_layers: cand.expert_layers.clone(),
                target_layers: cand.target_layers.clone(),
                shuffled: cfg.shuffle_seed.is_some(),
                skip_first: cfg.skip_first,
                held_out_every: HELD_OUT_EVERY,
                rows: ck.moments.rows(),
            },
        )?),
        None => None,
    };
    let par = faer::Par::Seq;
    let mut since_ckpt = 0usize;
    let cap_e = expert.params().n_ubatch.min(expert.params().n_batch) as usize;
    let cap_t = target.params().n_ubatch.min(target.params().n_batch) as usize;
    let seqs = expert
        .params()
        .n_seq_max
        .min(target.params().n_seq_max)
        .max(1) as usize;
    expert.set_hook_plan(&HookPlan {
        capture: cand.expert_layers.clone(),
        capture_rows: CaptureRows::All,
        ..Default::default()
    })?;
    target.set_hook_plan(&HookPlan {
        capture: cand.target_layers.clone(),
        capture_rows: CaptureRows::All,
        ..Default::default()
    })?;
    let done_enough = |ck: &Checkpoint| cfg.max_paired.is_some_and(|m| ck.moments.rows() >= m);
    // A text read but left for the next decode (it did not fit this one).
    let mut held: Option<(usize, Tokenized, Tokenized)> = None;
    while ck.counters.texts < texts.len() && !done_enough(&ck) {
        // One group: texts that fit one decode on each side.
        let mut group: Vec<GroupText> = Vec::new();
        let (mut used_e, mut used_t) = (0usize, 0usize);
        let mut next = ck.counters.texts;
        while next < texts.len() && group.len() < seqs {
            let (e, t) = match held.take() {
                Some((i, e, t)) if i == next => (e, t),
                _ => {
                    let (e, t) = (
                        tokenize_with_ends(em, &texts[next])?,
                        tokenize_with_ends(tm, &texts[next])?,
                    );
                    let (Some(e), Some(t)) = (e, t) else {
                        ck.counters.skipped += 1;
                        next += 1;
                        continue;
                    };
                    (e, t)
                }
            };
            if e.tokens.len() > cap_e || t.tokens.len() > cap_t {
                ck.counters.skipped += 1;
                next += 1;
                continue;
            }
            if used_e + e.tokens.len() > cap_e || used_t + t.tokens.len() > cap_t {
                held = Some((next, e, t));
                break;
            }
            let mut pairs = paired_positions(&e.ends, &t.ends);
            pairs.retain(|&(_, pt)| pt >= cfg.skip_first);
            used_e += e.tokens.len();
            used_t += t.tokens.len();
            group.push((next, e, t, pairs));
            next += 1;
        }
        ck.counters.texts = next;
        if group.is_empty() {
            continue;
        }
        let t0 = Instant::now();
        let caps_e = decode_all(expert, group.iter().map(|g| &g.1.tokens))?;
        let t1 = Instant::now();
        let caps_t = decode_all(target, group.iter().map(|g| &g.2.tokens))?;
        let t2 = Instant::now();
        ck.counters.expert_seconds += (t1 - t0).as_secs_f64();
        ck.counters.target_seconds += (t2 - t1).as_secs_f64();
        ck.counters.expert_tokens += used_e as u64;
        ck.counters.target_tokens += used_t as u64;

        // Gather the paired rows per fold.
        let (d_e, d_t) = (em.n_embd(), tm.n_embd());
        let mut xs: [Vec<Vec<f32>>; 2] = [
            vec![Vec::new(); cand.expert_layers.len()],
            vec![Vec::new(); cand.expert_layers.len()],
        ];
        let mut ys: [Vec<Vec<f32>>; 2] = [
            vec![Vec::new(); cand.target_layers.len()],
            vec![Vec::new(); cand.target_layers.len()],
        ];
        let mut rows = [0usize; 2];
        let mut row_texts: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        let (mut off_e, mut off_t) = (0usize, 0usize);
        for (idx, e, t, pairs) in &group {
            let fold = usize::from(idx % HELD_OUT_EVERY == HELD_OUT_EVERY - 1);
            for &(pe, pt) in pairs {
                for (k, &l) in cand.expert_layers.iter().enumerate() {
                    let r = off_e + pe;
                    xs[fold][k].extend_from_slice(&caps_e[l][r * d_e..(r + 1) * d_e]);
                }
                for (k, &l) in cand.target_layers.iter().enumerate() {
                    let r = off_t + pt;
                    ys[fold][k].extend_from_slice(&caps_t[l][r * d_t..(r + 1) * d_t]);
                }
                rows[fold] += 1;
                row_texts[fold].push(*idx as u32);
            }
            off_e += e.tokens.len();
            off_t += t.tokens.len();
        }
        if let Some(seed) = cfg.shuffle_seed {
            // Seeded by the group's first text, so a resumed run permutes
            // like an uninterrupted one.
            let mut r =
                SplitMix64::new(seed ^ (group[0].0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for fold in 0..2 {
                let perm = permutation(rows[fold], &mut r);
                for y in ys[fold].iter_mut() {
                    *y = perm
                        .iter()
                        .flat_map(|&i| y[i * d_t..(i + 1) * d_t].to_vec())
                        .collect();
                }
            }
        }
        for fold in 0..2 {
            let chunk = Chunk {
                rows: rows[fold],
                x: xs[fold].iter().map(|v| v.as_slice()).collect(),
                y: ys[fold].iter().map(|v| v.as_slice()).collect(),
            };
            ck.moments.add(fold, &chunk, par);
            if let Some(d) = dump.as_mut() {
                d.append(&chunk.x, &chunk.y, &row_texts[fold])?;
            }
        }
        ck.counters.stats_seconds += t2.elapsed().as_secs_f64();
        since_ckpt += group.len();
        progress(&MapProgress {
            texts: (ck.counters.texts, texts.len()),
            paired: ck.moments.rows(),
            counters: &ck.counters,
        });
        for &s in &cfg.snapshots {
            if ck.moments.rows() >= s && !ck.snapshots_done.contains(&s) {
                let snap = snapshot_path(&cfg.out, s);
                let file = assemble(&ck, &e_id, &t_id, &corpus_sha, cfg)?;
                file.write(&snap)?;
                note(&format!(
                    "map: snapshot at {} paired positions → {}",
                    ck.moments.rows(),
                    snap.display()
                ));
                ck.snapshots_done.push(s);
            }
        }
        if since_ckpt >= cfg.checkpoint_texts {
            if let Some(d) = dump.as_mut() {
                d.sync(ck.moments.rows())?;
            }
            write_checkpoint(&ckpt_path, &ck)?;
            since_ckpt = 0;
        }
    }
    expert.clear_hook_plan();
    target.clear_hook_plan();
    if let Some(d) = dump.as_mut() {
        d.sync(ck.moments.rows())?;
    }
    write_checkpoint(&ckpt_path, &ck)?;
    Ok((assemble(&ck, &e_id, &t_id, &corpus_sha, cfg)?, ck.counters))
}

/// Where the snapshot at `paired` positions goes: next to `out`.
pub fn snapshot_path(out: &Path, paired: u64) -> PathBuf {
    let stem = out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!("{stem}.{paired}.esmap"))
}

fn assemble(
    ck: &Checkpoint,
    e_id: &crate::steering::steerfile::ModelIdentity,
    t_id: &crate::steering::steerfile::ModelIdentity,
    corpus_sha: &str,
    cfg: &MapRunConfig,
) -> Result<MapFile> {
    let pairs = fit_pairs(&ck.moments, &mut |_, _| {})?;
    Ok(MapFile {
        expert: e_id.clone(),
        target: t_id.clone(),
        corpus: CorpusInfo {
            sha256: corpus_sha.to_string(),
            texts: ck.counters.texts,
            skipped: ck.counters.skipped,
            expert_tokens: ck.counters.expert_tokens,
            target_tokens: ck.counters.target_tokens,
            paired: ck.moments.rows(),
            fold_rows: [ck.moments.folds[0].n, ck.moments.folds[1].n],
        },
        pairs,
        shuffled: cfg.shuffle_seed.is_some(),
        created_by: format!("expertsteer {}", env!("CARGO_PKG_VERSION")),
    })
}

/// Decodes the token lists as one sequence each in one batch (the last
/// token of each marked as output) and returns the captured rows per layer.
fn decode_all<'t>(
    ctx: &mut Context<'_>,
    seqs: impl Iterator<Item = &'t Vec<crate::llama::Token>>,
) -> Result<Vec<Vec<f32>>> {
    let cap = ctx.params().n_ubatch as usize;
    let mut batch = Batch::new(cap, 1);
    for (s, toks) in seqs.enumerate() {
        for (k, &t) in toks.iter().enumerate() {
            batch.push(t, k, &[s as i32], k + 1 == toks.len())?;
        }
    }
    ctx.clear_memory();
    ctx.decode(&batch)?;
    let caps = ctx.take_captures();
    ctx.clear_memory();
    let n_embd = ctx.model().n_embd();
    for (l, rows) in caps.iter().enumerate() {
        if !rows.is_empty() && rows.len() != batch.len() * n_embd {
            return Err(LlamaError::Hook(format!(
                "layer {l}: captured {} rows for a batch of {}",
                rows.len() / n_embd,
                batch.len()
            ))
            .into());
        }
    }
    Ok(caps)
}

fn permutation(n: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

fn read_checkpoint(path: &Path) -> Option<Checkpoint> {
    let f = std::fs::File::open(path).ok()?;
    ckpt_opts()
        .deserialize_from(std::io::BufReader::new(f))
        .ok()
}

fn write_checkpoint(path: &Path, ck: &Checkpoint) -> Result<()> {
    write_atomic_with(path, |w| {
        ckpt_opts()
            .serialize_into(w, ck)
            .map_err(|e| Error::Input(format!("{}: {e}", path.display())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_relative_depth() {
        // 24-block expert, 30-block target, layers 10..28 step 2, window 1.
        let c = Candidates::by_depth(24, 30, &[], 2, 1).unwrap();
        assert_eq!(
            c.target_layers,
            vec![10, 12, 14, 16, 18, 20, 22, 24, 26, 28]
        );
        // Target 28 of 29 → expert 22.2 → 22; window 1 but never the last (23).
        let last: Vec<usize> = c
            .pairs
            .iter()
            .filter(|p| c.target_layers[p.1] == 28)
            .map(|p| c.expert_layers[p.0])
            .collect();
        assert_eq!(last, vec![21, 22]);
        assert!(c.expert_layers.iter().all(|&e| e < 23));
        assert!(Candidates::by_depth(24, 30, &[29], 2, 1).is_err());
        assert!(Candidates::by_depth(1, 30, &[], 2, 1).is_err());
        let mut seen = c.pairs.clone();
        seen.dedup();
        assert_eq!(seen.len(), c.pairs.len());
        let p = permutation(10, &mut SplitMix64::new(1));
        let mut s = p.clone();
        s.sort_unstable();
        assert_eq!(s, (0..10).collect::<Vec<_>>());
    }
}
