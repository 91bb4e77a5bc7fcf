//! Per-slot prompt cache (llama-server's `cache_prompt`): a slot keeps the
//! KV cache of its last request after it finishes, and the next request
//! whose prompt starts with those tokens, under the same steering, decodes
//! only the rest. A chat's next turn re-reads only the new messages.
//!
//! Steering changes every state computed under it, so a cache is reused
//! only for a request with the same steering key, and only the part of it
//! that the new request would compute the same way: with `generated` (or
//! `from_end`) positions, the prompt region was read unsteered and the
//! generated tokens steered, so only the unsteered region is kept.

use crate::llama::Token;

/// What one slot holds in the KV cache once free.
#[derive(Debug, Clone, Default)]
pub struct SlotCache {
    /// Tokens whose states are in the slot's KV cache and reusable.
    pub tokens: Vec<Token>,
    /// The steering they were computed under.
    pub key: u64,
    /// When the slot was last given a request (for least-recently-used).
    pub last_used: u64,
}

/// Length of the common prefix.
pub fn common_prefix(a: &[Token], b: &[Token]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The free slot for a request: the one whose cache shares the longest
/// prefix with `prompt` under the same `key`, else the least recently used.
/// Returns (slot, tokens to reuse). At least one prompt token is always
/// decoded (it gives the logits of the first answer token), and nothing
/// past `limit` (where the request's own steered region starts).
pub fn choose(
    caches: &[SlotCache],
    free: &[usize],
    prompt: &[Token],
    key: u64,
    limit: usize,
    enabled: bool,
) -> Option<(usize, usize)> {
    let cap = prompt.len().saturating_sub(1).min(limit);
    let reuse = |i: usize| {
        let c = &caches[i];
        if !enabled || c.key != key {
            0
        } else {
            common_prefix(&c.tokens, prompt).min(cap)
        }
    };
    let best = free
        .iter()
        .copied()
        .max_by_key(|&i| (reuse(i), u64::MAX - caches[i].last_used))?;
    let n = reuse(best);
    if n > 0 {
        return Some((best, n));
    }
    let lru = free.iter().copied().min_by_key(|&i| caches[i].last_used)?;
    Some((lru, 0))
}

/// The part of a finished request's tokens that a later request may reuse:
/// everything, unless steering acted by phase (`steered_from`: where its
/// steered region began), in which case only the unsteered prefix.
pub fn reusable(decoded: Vec<Token>, steered_from: Option<usize>) -> Vec<Token> {
    let mut t = decoded;
    if let Some(from) = steered_from {
        t.truncate(from);
    }
    t
}

/// A fingerprint of a request's steering (FNV-1a over its vectors, the
/// ablated directions and where it acts); 0 = unsteered.
pub fn steering_key<'a>(
    vectors: impl Iterator<Item = (usize, &'a [f32])>,
    ablate: impl Iterator<Item = (usize, &'a [f32])>,
    positions_tag: u64,
) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut any = false;
    let mut eat = |x: u64| {
        for b in x.to_le_bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (tag, it) in [
        (1u64, vectors.collect::<Vec<_>>()),
        (2u64, ablate.collect::<Vec<_>>()),
    ] {
        for (layer, v) in it {
            any = true;
            eat(tag);
            eat(layer as u64);
            for x in v {
                eat(x.to_bits() as u64);
            }
        }
    }
    if !any {
        return 0;
    }
    eat(positions_tag);
    h.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(tokens: &[Token], key: u64, last_used: u64) -> SlotCache {
        SlotCache {
            tokens: tokens.to_vec(),
            key,
            last_used,
        }
    }

    #[test]
    fn the_longest_matching_prefix_under_the_same_steering_wins() {
        let caches = vec![
            cache(&[1, 2, 3], 0, 5),
            cache(&[1, 2, 3, 4, 5], 7, 1),
            cache(&[1, 2], 0, 9),
        ];
        let prompt = [1, 2, 3, 4, 5, 6];
        assert_eq!(
            choose(&caches, &[0, 1, 2], &prompt, 0, usize::MAX, true),
            Some((0, 3))
        );
        assert_eq!(
            choose(&caches, &[0, 1, 2], &prompt, 7, usize::MAX, true),
            Some((1, 5))
        );
        // The whole prompt cached: one token is still decoded.
        assert_eq!(
            choose(&caches, &[1], &[1, 2, 3, 4, 5], 7, usize::MAX, true),
            Some((1, 4))
        );
        // Not past the request's steered region.
        assert_eq!(choose(&caches, &[1], &prompt, 7, 2, true), Some((1, 2)));
        // No match: the least recently used free slot, nothing reused.
        assert_eq!(
            choose(&caches, &[0, 2], &[9, 9], 0, usize::MAX, true),
            Some((0, 0))
        );
        assert_eq!(
            choose(&caches, &[0, 1, 2], &prompt, 0, usize::MAX, false),
            Some((1, 0))
        );
        assert_eq!(choose(&caches, &[], &prompt, 0, usize::MAX, true), None);
    }

    #[test]
    fn phase_steered_requests_keep_only_their_unsteered_prefix() {
        assert_eq!(reusable(vec![1, 2, 3, 4], None), vec![1, 2, 3, 4]);
        assert_eq!(reusable(vec![1, 2, 3, 4], Some(2)), vec![1, 2]);
    }

    #[test]
    fn keys_tell_steerings_apart() {
        let v = [0.5f32, -1.0];
        let w = [0.5f32, -1.5];
        let none = steering_key(std::iter::empty(), std::iter::empty(), 0);
        assert_eq!(none, 0);
        let a = steering_key([(3, &v[..])].into_iter(), std::iter::empty(), 0);
        let b = steering_key([(3, &w[..])].into_iter(), std::iter::empty(), 0);
        let c = steering_key([(4, &v[..])].into_iter(), std::iter::empty(), 0);
        let d = steering_key(std::iter::empty(), [(3, &v[..])].into_iter(), 0);
        let e = steering_key([(3, &v[..])].into_iter(), std::iter::empty(), 1);
        let all = [a, b, c, d, e];
        for (i, x) in all.iter().enumerate() {
            assert_ne!(*x, 0);
            for y in &all[i + 1..] {
                assert_ne!(x, y);
            }
        }
    }
}
