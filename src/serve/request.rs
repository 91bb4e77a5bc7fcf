//! OpenAI request bodies, checked once into a [`Plan`] the engine can run:
//! every bad field becomes a 400 naming that field before any work starts.

use super::error::ApiError;
use crate::llama::{Model, Positions, SamplerParams, Token};
use crate::steering::steer::{first_overflowing, Steering};
use crate::steering::steerfile::SteerFile;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The largest |strength| a request may ask for. A strength is relative
/// to each layer's mean hidden-state norm, so 20 already adds twenty times
/// the model's own activity: far past anything that steers rather than
/// breaks the model. Files may still hold any default.
pub const MAX_REQUEST_STRENGTH: f64 = 20.0;

/// Most entries in a request's `steering` list. Each names a different
/// file, so this also bounds the work of summing them.
pub const MAX_STEERING_ENTRIES: usize = 8;

/// Most entries in `logit_bias` (OpenAI's limit is 300).
pub const MAX_LOGIT_BIAS: usize = 1024;

/// The largest |bias| (OpenAI's range; ±100 bans or forces a token).
pub const MAX_BIAS: f64 = 100.0;

/// Most stop strings per request.
pub const MAX_STOPS: usize = 16;

/// The fields of `/v1/chat/completions` and `/v1/completions` we read;
/// any other field is ignored, as OpenAI clients expect.
#[derive(Debug, Default, Deserialize)]
pub struct GenRequest {
    /// Echoed back; the server has one model.
    pub model: Option<String>,
    /// Chat turns (chat endpoint).
    pub messages: Option<Vec<Message>>,
    /// Text to continue (completions endpoint).
    pub prompt: Option<PromptField>,
    /// Server-sent events instead of one JSON answer.
    pub stream: Option<bool>,
    /// `{"include_usage": true}` adds a usage chunk at the end of a stream.
    pub stream_options: Option<StreamOptions>,
    /// Most new tokens.
    pub max_tokens: Option<i64>,
    /// Newer name for `max_tokens`.
    pub max_completion_tokens: Option<i64>,
    /// 0 = greedy; default 1 (OpenAI's).
    pub temperature: Option<f64>,
    /// Nucleus mass, (0, 1].
    pub top_p: Option<f64>,
    /// Random seed for sampling.
    pub seed: Option<i64>,
    /// Stop strings.
    pub stop: Option<StopField>,
    /// Completions per request (only 1).
    pub n: Option<i64>,
    /// Steering files by name and strength; `[]` = none; absent = the
    /// server's default.
    pub steering: Option<Vec<SteerRef>>,
    /// `"all"` (default), `"generated"`, or `{"from_end": N}`.
    pub steering_positions: Option<PositionsField>,
    /// llama-server's extension: reuse the slot's cached prompt prefix
    /// (default true).
    pub cache_prompt: Option<bool>,
    /// llama-server's extension: never stop at end-of-generation tokens
    /// (benchmarks that need an exact token count).
    pub ignore_eos: Option<bool>,
    /// Chat: `true` to return each token's log-probability; completions:
    /// the number of alternatives (0-20).
    pub logprobs: Option<LogprobsField>,
    /// Chat: alternatives per token with `logprobs: true` (0-20).
    pub top_logprobs: Option<i64>,
    /// Token id (as a string) → bias added to its logit, within ±100.
    pub logit_bias: Option<BTreeMap<String, f64>>,
}

/// `logprobs`: a flag (chat) or a count (completions).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum LogprobsField {
    /// Chat's `logprobs: true`.
    Flag(bool),
    /// Completions' `logprobs: 3`.
    Count(i64),
}

/// Most alternatives per token (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: i64 = 20;

/// One chat turn.
#[derive(Debug, Deserialize)]
pub struct Message {
    /// `system`, `user`, `assistant`, …
    pub role: String,
    /// Text, or a list of parts of which only text parts are supported.
    pub content: Option<Content>,
}

/// A message's content.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// `[{"type": "text", "text": ...}, ...]`.
    Parts(Vec<Part>),
}

/// One content part.
#[derive(Debug, Deserialize)]
pub struct Part {
    /// Only `text` is supported.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a text part.
    pub text: Option<String>,
}

/// `prompt`: a string or a one-element list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    /// One prompt.
    One(String),
    /// Several (only one is supported).
    Many(Vec<String>),
}

/// `stop`: a string or a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum StopField {
    /// One stop string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    /// Send a final chunk with token counts.
    pub include_usage: Option<bool>,
}

/// `{"name": "code", "strength": 0.1}` or `{"name": "refusal", "op": "ablate"}`.
#[derive(Debug, Deserialize)]
pub struct SteerRef {
    /// A name given with `--steer name=FILE`.
    pub name: String,
    /// Relative to each layer's mean norm; default: the file's (`add` only).
    pub strength: Option<f64>,
    /// `"add"` (default): add strength · r_j · u_j; `"ablate"`: remove the
    /// component along u_j (h ← h − (h·u)u) at the file's layers.
    pub op: Option<String>,
}

/// `steering_positions` as sent: a name or `{"from_end": N}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PositionsField {
    /// `"all"` or `"generated"`.
    Name(String),
    /// The last N prompt tokens and every generated one.
    FromEnd {
        /// N.
        from_end: i64,
    },
}

/// Where a request's steering acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// Prompt and generated tokens.
    All,
    /// Generated tokens only.
    Generated,
    /// The last N prompt tokens and the generated ones ("steer the answer,
    /// not the system prompt").
    FromEnd(usize),
}

impl Span {
    /// What the hook is told: the engine switches a sequence to its
    /// steered phase where the span starts.
    pub fn hook_positions(self) -> Positions {
        match self {
            Span::All => Positions::All,
            Span::Generated | Span::FromEnd(_) => Positions::GeneratedOnly,
        }
    }

    /// The prompt index from which the steered phase starts (None: the
    /// first generated token or, for `All`, everything).
    pub fn steer_from(self, prompt_len: usize) -> Option<usize> {
        match self {
            Span::FromEnd(n) => Some(prompt_len.saturating_sub(n)),
            _ => None,
        }
    }

    /// As the answer's `steering.positions` shows it.
    pub fn to_json(self) -> serde_json::Value {
        match self {
            Span::All => "all".into(),
            Span::Generated => "generated".into(),
            Span::FromEnd(n) => serde_json::json!({"from_end": n}),
        }
    }
}

/// Directions a request removes: the files' names and, per layer, their
/// unit directions.
#[derive(Debug, Default, Clone)]
pub struct Ablation {
    /// Files ablated, in request order.
    pub names: Vec<String>,
    /// Layer → unit directions to remove there.
    pub directions: BTreeMap<usize, Vec<Vec<f32>>>,
}

/// The steering files a server loaded, and its default.
#[derive(Debug, Default)]
pub struct Catalog {
    /// Name → file (checked against the model at start).
    pub files: BTreeMap<String, SteerFile>,
    /// Applied to requests without a `steering` field: name, strength.
    pub default: Option<(String, f32)>,
}

/// Which endpoint a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v1/chat/completions`.
    Chat,
    /// `/v1/completions`.
    Completion,
}

/// A checked request.
#[derive(Debug)]
pub struct Plan {
    /// Prompt tokens.
    pub prompt: Vec<Token>,
    /// Most new tokens.
    pub max_tokens: usize,
    /// Sampling.
    pub sampler: SamplerParams,
    /// Stop strings.
    pub stop: Vec<String>,
    /// Summed, scaled vectors, or none.
    pub steering: Option<Steering>,
    /// What was applied: (name, strength).
    pub applied: Applied,
    /// Directions removed.
    pub ablation: Ablation,
    /// Positions the steering acts on.
    pub positions: Span,
    /// Fingerprint of the steering, ablation and positions (0 = none).
    pub steer_key: u64,
    /// Reuse a slot's cached prompt prefix.
    pub cache_prompt: bool,
    /// Stream as server-sent events.
    pub stream: bool,
    /// End a stream with a usage chunk.
    pub include_usage: bool,
    /// Generate through end-of-generation tokens.
    pub ignore_eos: bool,
    /// (token, bias) added to the logits before sampling.
    pub logit_bias: Vec<(Token, f32)>,
    /// Alternatives per token when log-probabilities are asked for.
    pub logprobs: Option<usize>,
}

impl Plan {
    /// `code@0.8+tone@-0.2 (generated)`, or `none`.
    pub fn label(&self) -> String {
        if self.applied.is_empty() && self.ablation.names.is_empty() {
            return "none".into();
        }
        let names: Vec<String> = self
            .applied
            .iter()
            .map(|(n, c)| format!("{n}@{c}"))
            .chain(self.ablation.names.iter().map(|n| format!("-{n}")))
            .collect();
        match self.positions {
            Span::All => names.join("+"),
            Span::Generated => format!("{} (generated)", names.join("+")),
            Span::FromEnd(n) => format!("{} (last {n} prompt tokens on)", names.join("+")),
        }
    }
}

/// Parses a body, naming the field at fault when a known field has the
/// wrong type.
pub fn parse_body(bytes: &[u8]) -> Result<GenRequest, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::invalid(
                None,
                format!(
                    "the body is not valid JSON ({inner}); NaN and Infinity are not JSON numbers"
                ),
            )
        } else if path == "." {
            ApiError::invalid(None, format!("the body must be a JSON object: {inner}"))
        } else {
            ApiError::invalid(Some(&path), format!("{path}: {inner}"))
        }
    })
}

/// Checks `req` for `endpoint` against the model, the loaded steering
/// files and the slot size (tokens of context per request).
pub fn plan(
    req: GenRequest,
    endpoint: Endpoint,
    model: &Model,
    catalog: &Catalog,
    ctx_per_slot: usize,
) -> Result<Plan, ApiError> {
    if let Some(n) = req.n {
        if n != 1 {
            return Err(ApiError::invalid(
                Some("n"),
                format!("n = {n}: this server returns one choice per request"),
            ));
        }
    }
    let prompt = prompt_tokens(&req, endpoint, model)?;
    let max_tokens = max_tokens(&req, prompt.len(), ctx_per_slot)?;
    let sampler = sampler(&req)?;
    let stop = stops(&req)?;
    let positions = span(&req, ctx_per_slot)?;
    let (steering, applied, ablation) = steering(&req, catalog, positions.hook_positions())?;
    Ok(Plan {
        prompt,
        max_tokens,
        sampler,
        stop,
        steer_key: {
            let tag = match positions {
                Span::All => 0,
                Span::Generated => 1,
                Span::FromEnd(n) => 2 + n as u64,
            };
            let vectors = steering
                .iter()
                .flat_map(|s| s.vectors.iter().map(|(l, v)| (*l, &v[..])));
            let ablate = ablation
                .directions
                .iter()
                .flat_map(|(l, ds)| ds.iter().map(move |d| (*l, &d[..])));
            crate::serve::prompt_cache::steering_key(vectors, ablate, tag)
        },
        cache_prompt: req.cache_prompt.unwrap_or(true),
        steering,
        applied,
        ablation,
        positions,
        stream: req.stream.unwrap_or(false),
        include_usage: req
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        ignore_eos: req.ignore_eos.unwrap_or(false),
        logit_bias: logit_bias(&req, model.n_vocab())?,
        logprobs: logprobs(&req)?,
    })
}

fn span(req: &GenRequest, ctx_per_slot: usize) -> Result<Span, ApiError> {
    let bad = |msg: String| ApiError::invalid(Some("steering_positions"), msg);
    match &req.steering_positions {
        None => Ok(Span::All),
        Some(PositionsField::Name(n)) => match n.as_str() {
            "all" => Ok(Span::All),
            "generated" => Ok(Span::Generated),
            other => Err(bad(format!(
                "steering_positions must be \"all\", \"generated\" or {{\"from_end\": N}}, not {other:?}"
            ))),
        },
        Some(PositionsField::FromEnd { from_end }) => usize::try_from(*from_end)
            .ok()
            .filter(|&n| n <= ctx_per_slot)
            .map(Span::FromEnd)
            .ok_or_else(|| {
                bad(format!(
                    "from_end must be a whole number of prompt tokens in [0, {ctx_per_slot}], not {from_end}"
                ))
            }),
    }
}

fn prompt_tokens(
    req: &GenRequest,
    endpoint: Endpoint,
    model: &Model,
) -> Result<Vec<Token>, ApiError> {
    let tokens = match endpoint {
        Endpoint::Chat => {
            let messages = req.messages.as_ref().ok_or_else(|| {
                ApiError::invalid(
                    Some("messages"),
                    "messages is required (a list of chat turns)",
                )
            })?;
            if messages.is_empty() {
                return Err(ApiError::invalid(Some("messages"), "messages is empty"));
            }
            let mut turns = Vec::with_capacity(messages.len());
            for (i, m) in messages.iter().enumerate() {
                let text = match &m.content {
                    None => String::new(),
                    Some(Content::Text(t)) => t.clone(),
                    Some(Content::Parts(parts)) => {
                        let mut t = String::new();
                        for p in parts {
                            match (p.kind.as_str(), &p.text) {
                                ("text", Some(s)) => t.push_str(s),
                                (kind, _) => {
                                    return Err(ApiError::invalid(
                                        Some(&format!("messages[{i}].content")),
                                        format!("content parts of type {kind:?} are not supported (text only)"),
                                    ))
                                }
                            }
                        }
                        t
                    }
                };
                // OpenAI's newer name for the system turn; templates know "system".
                let role = if m.role == "developer" {
                    "system"
                } else {
                    &m.role
                };
                turns.push((role.to_string(), text));
            }
            let refs: Vec<(&str, &str)> = turns
                .iter()
                .map(|(r, c)| (r.as_str(), c.as_str()))
                .collect();
            let text = model.apply_chat_template(&refs, true).map_err(|e| {
                ApiError::invalid(
                    Some("messages"),
                    format!("{e}; use /v1/completions with a plain prompt"),
                )
            })?;
            model.tokenize(&text, true, true)
        }
        Endpoint::Completion => {
            let text = match &req.prompt {
                Some(PromptField::One(s)) => s.as_str(),
                Some(PromptField::Many(v)) if v.len() == 1 => v[0].as_str(),
                Some(PromptField::Many(v)) => {
                    return Err(ApiError::invalid(
                        Some("prompt"),
                        format!("{} prompts given: send one prompt per request", v.len()),
                    ))
                }
                None => return Err(ApiError::invalid(Some("prompt"), "prompt is required")),
            };
            model.tokenize(text, true, false)
        }
    };
    tokens.map_err(|e| ApiError::invalid(None, e.to_string()))
}

fn max_tokens(req: &GenRequest, prompt_len: usize, ctx: usize) -> Result<usize, ApiError> {
    let (field, asked) = match (req.max_completion_tokens, req.max_tokens) {
        (Some(m), _) => ("max_completion_tokens", Some(m)),
        (None, m) => ("max_tokens", m),
    };
    let room = ctx.saturating_sub(prompt_len);
    if room == 0 {
        return Err(ApiError::invalid(
            Some("messages"),
            format!(
                "the prompt has {prompt_len} tokens; this server's context per request is {ctx} \
                 tokens (serve --ctx), which leaves no room to generate"
            ),
        )
        .with_code("context_length_exceeded"));
    }
    match asked {
        None => Ok(room),
        Some(m) if m < 1 => Err(ApiError::invalid(
            Some(field),
            format!("{field} must be at least 1, not {m}"),
        )),
        Some(m) if m as u64 > room as u64 => Err(ApiError::invalid(
            Some(field),
            format!(
                "this server's context per request is {ctx} tokens (serve --ctx); the prompt has \
                 {prompt_len}, so {field} can be at most {room}, not {m}"
            ),
        )
        .with_code("context_length_exceeded")),
        Some(m) => Ok(m as usize),
    }
}

fn sampler(req: &GenRequest) -> Result<SamplerParams, ApiError> {
    let temperature = req.temperature.unwrap_or(1.0);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid(
            Some("temperature"),
            format!("temperature must be between 0 and 2, not {temperature}"),
        ));
    }
    let top_p = req.top_p.unwrap_or(1.0);
    if !(top_p > 0.0 && top_p <= 1.0) {
        return Err(ApiError::invalid(
            Some("top_p"),
            format!("top_p must be in (0, 1], not {top_p}"),
        ));
    }
    let seed = match req.seed {
        Some(s) => s as u64 as u32,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0),
    };
    Ok(SamplerParams {
        temperature: temperature as f32,
        top_k: 0,
        top_p: top_p as f32,
        seed,
    })
}

/// `{"1234": -100, ...}` → (token, bias): ids must be tokens of the
/// model's vocabulary and biases finite within ±[`MAX_BIAS`].
fn logit_bias(req: &GenRequest, n_vocab: usize) -> Result<Vec<(Token, f32)>, ApiError> {
    let Some(map) = &req.logit_bias else {
        return Ok(Vec::new());
    };
    if map.len() > MAX_LOGIT_BIAS {
        return Err(ApiError::invalid(
            Some("logit_bias"),
            format!(
                "at most {MAX_LOGIT_BIAS} tokens in logit_bias, not {}",
                map.len()
            ),
        ));
    }
    map.iter()
        .map(|(key, &bias)| {
            let param = format!("logit_bias.{key}");
            let token = key
                .parse::<Token>()
                .ok()
                .filter(|&t| t >= 0 && (t as usize) < n_vocab)
                .ok_or_else(|| {
                    ApiError::invalid(
                        Some(&param),
                        format!(
                            "logit_bias keys are token ids of this model, 0 to {}; not {key:?}",
                            n_vocab - 1
                        ),
                    )
                })?;
            if !(bias.is_finite() && bias.abs() <= MAX_BIAS) {
                return Err(ApiError::invalid(
                    Some(&param),
                    format!("a logit bias must be within ±{MAX_BIAS}, not {bias}"),
                ));
            }
            Ok((token, bias as f32))
        })
        .collect()
}

fn logprobs(req: &GenRequest) -> Result<Option<usize>, ApiError> {
    let k = match (&req.logprobs, req.top_logprobs) {
        (None | Some(LogprobsField::Flag(false)), None) => return Ok(None),
        (None | Some(LogprobsField::Flag(false)), Some(_)) => {
            return Err(ApiError::invalid(
                Some("top_logprobs"),
                "top_logprobs needs logprobs: true",
            ))
        }
        (Some(LogprobsField::Flag(true)), k) => k.unwrap_or(0),
        (Some(LogprobsField::Count(k)), _) => *k,
    };
    if !(0..=MAX_TOP_LOGPROBS).contains(&k) {
        return Err(ApiError::invalid(
            Some("top_logprobs"),
            format!("between 0 and {MAX_TOP_LOGPROBS} alternatives per token, not {k}"),
        ));
    }
    Ok(Some(k as usize))
}

fn stops(req: &GenRequest) -> Result<Vec<String>, ApiError> {
    let stop = match &req.stop {
        None => Vec::new(),
        Some(StopField::One(s)) => vec![s.clone()],
        Some(StopField::Many(v)) => v.clone(),
    };
    if stop.len() > MAX_STOPS {
        return Err(ApiError::invalid(
            Some("stop"),
            format!("at most {MAX_STOPS} stop strings, not {}", stop.len()),
        ));
    }
    Ok(stop.into_iter().filter(|s| !s.is_empty()).collect())
}

/// What a request's steering applied: (name, strength) per file.
pub type Applied = Vec<(String, f32)>;

/// The request's steering (or the server default), summed and checked,
/// and the directions it ablates.
fn steering(
    req: &GenRequest,
    catalog: &Catalog,
    positions: Positions,
) -> Result<(Option<Steering>, Applied, Ablation), ApiError> {
    let asked: Vec<(String, Option<f64>, Option<String>)> = match &req.steering {
        None => match &catalog.default {
            Some((name, c)) => vec![(name.clone(), Some(*c as f64), None)],
            None => Vec::new(),
        },
        Some(list) => list
            .iter()
            .map(|r| (r.name.clone(), r.strength, r.op.clone()))
            .collect(),
    };
    if asked.is_empty() {
        return Ok((None, Vec::new(), Ablation::default()));
    }
    if asked.len() > MAX_STEERING_ENTRIES {
        return Err(ApiError::invalid(
            Some("steering"),
            format!(
                "at most {MAX_STEERING_ENTRIES} steering entries, not {}",
                asked.len()
            ),
        ));
    }
    let mut sum = Steering {
        vectors: BTreeMap::new(),
        positions,
    };
    let mut applied: Applied = Vec::new();
    let mut ablation = Ablation::default();
    let mut total = 0.0;
    for (i, (name, strength, op)) in asked.iter().enumerate() {
        let ablate = match op.as_deref() {
            None | Some("add") => false,
            Some("ablate") => true,
            Some(other) => {
                return Err(ApiError::invalid(
                    Some(&format!("steering[{i}].op")),
                    format!("op must be \"add\" or \"ablate\", not {other:?}"),
                )
                .with_code("unknown_op"))
            }
        };
        if applied.iter().any(|(n, _)| n == name) || ablation.names.contains(name) {
            return Err(ApiError::invalid(
                Some(&format!("steering[{i}].name")),
                format!("{name:?} is named twice; give each file once, with the strength you want"),
            ));
        }
        let file = catalog.files.get(name).ok_or_else(|| {
            let known: Vec<&str> = catalog.files.keys().map(String::as_str).collect();
            ApiError::invalid(
                Some(&format!("steering[{i}].name")),
                format!(
                    "no steering file named {name:?} is loaded; this server has: {} (GET /v1/steering)",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            )
            .with_code("unknown_steering")
        })?;
        if ablate {
            if strength.is_some() {
                return Err(ApiError::invalid(
                    Some(&format!("steering[{i}].strength")),
                    "a strength does not apply to op \"ablate\" (it removes the whole component)",
                ));
            }
            for l in &file.layers {
                ablation
                    .directions
                    .entry(l.target_layer)
                    .or_default()
                    .push(l.direction.clone());
            }
            ablation.names.push(name.clone());
            continue;
        }
        let c = strength.unwrap_or(file.default_strength as f64);
        if !c.is_finite() || c.abs() > MAX_REQUEST_STRENGTH {
            return Err(ApiError::invalid(
                Some(&format!("steering[{i}].strength")),
                format!(
                    "strength must be a finite number in [-{MAX_REQUEST_STRENGTH}, {MAX_REQUEST_STRENGTH}] \
                     (relative to each layer's mean norm), not {c}"
                ),
            ));
        }
        // Files may steer the same layers: the bound holds for the sum.
        total += c.abs();
        if total > MAX_REQUEST_STRENGTH {
            return Err(ApiError::invalid(
                Some("steering"),
                format!(
                    "the strengths add up to more than {MAX_REQUEST_STRENGTH} in absolute value \
                     (the bound holds for a request's files together)"
                ),
            ));
        }
        for (layer, v) in file.steering(Some(c as f32), positions).vectors {
            let acc = sum
                .vectors
                .entry(layer)
                .or_insert_with(|| vec![0.0; v.len()]);
            for (a, x) in acc.iter_mut().zip(&v) {
                *a += x;
            }
        }
        applied.push((name.clone(), c as f32));
    }
    if let Some((layer, norm)) = first_overflowing(&sum.vectors) {
        return Err(ApiError::invalid(
            Some("steering"),
            format!("the summed vector for layer {layer} has norm {norm:.3e}, which overflows llama.cpp's f32 arithmetic; use smaller strengths"),
        ));
    }
    Ok((Some(sum), applied, ablation))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrongly_typed_field_is_named() {
        let e = parse_body(br#"{"messages": [], "max_tokens": "ten"}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        let e = parse_body(br#"{"steering": [{"name": "x", "strength": "big"}]}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("steering[0].strength"));
    }

    #[test]
    fn nan_is_malformed_json_and_says_so() {
        let e = parse_body(br#"{"steering": [{"name": "x", "strength": NaN}]}"#).unwrap_err();
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let r = parse_body(
            br#"{"prompt": "hi", "logit_bias": {}, "user": "u", "frequency_penalty": 0}"#,
        )
        .unwrap();
        assert!(matches!(r.prompt, Some(PromptField::One(_))));
    }

    #[test]
    fn max_tokens_bounds() {
        let req = |m| GenRequest {
            max_tokens: Some(m),
            ..Default::default()
        };
        assert_eq!(max_tokens(&req(10), 5, 100).unwrap(), 10);
        assert!(max_tokens(&req(0), 5, 100).is_err());
        assert!(max_tokens(&req(-3), 5, 100).is_err());
        let e = max_tokens(&req(96), 5, 100).unwrap_err();
        assert_eq!(e.code, Some("context_length_exceeded"));
        assert_eq!(max_tokens(&GenRequest::default(), 5, 100).unwrap(), 95);
        assert!(max_tokens(&GenRequest::default(), 100, 100).is_err());
    }

    #[test]
    fn sampler_bounds() {
        let t = |x| GenRequest {
            temperature: Some(x),
            ..Default::default()
        };
        assert!(sampler(&t(2.5)).is_err());
        assert!(sampler(&t(-0.1)).is_err());
        assert_eq!(sampler(&t(0.0)).unwrap().temperature, 0.0);
        let p = GenRequest {
            top_p: Some(0.0),
            ..Default::default()
        };
        assert!(sampler(&p).is_err());
    }

    /// A catalog of two small files, `a` and `b`, on one layer.
    fn two_files() -> Catalog {
        use crate::steering::steerfile::{Method, ModelIdentity, SteerLayer};
        let file = |x: f32| SteerFile {
            target: ModelIdentity {
                arch: "llama".into(),
                n_embd: 2,
                n_layer: 4,
                file_name: "m.gguf".into(),
                sha256: "00".repeat(32),
            },
            expert: None,
            method: Method::Caa,
            layers: vec![SteerLayer {
                target_layer: 1,
                expert_layer: None,
                direction: vec![x, 0.0],
                mean_norm: 1.0,
                val_auc: None,
                mi: None,
            }],
            default_strength: 0.1,
            params: Default::default(),
            mi: None,
            data_sha256: "00".repeat(32),
            n_texts: 0,
        };
        Catalog {
            files: [("a".to_string(), file(1.0)), ("b".to_string(), file(-1.0))].into(),
            default: None,
        }
    }

    fn steer_request(list: Vec<(&str, f64)>) -> GenRequest {
        GenRequest {
            steering: Some(
                list.into_iter()
                    .map(|(n, c)| SteerRef {
                        op: None,
                        name: n.into(),
                        strength: Some(c),
                    })
                    .collect(),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn a_name_given_twice_is_refused_so_the_strength_bound_holds() {
        let cat = two_files();
        let e = steering(&steer_request(vec![("a", 20.0); 100]), &cat, Positions::All).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("steering"), "{}", e.message);
        let e = steering(
            &steer_request(vec![("a", 1.0), ("a", 1.0)]),
            &cat,
            Positions::All,
        )
        .unwrap_err();
        assert_eq!(
            e.param.as_deref(),
            Some("steering[1].name"),
            "{}",
            e.message
        );
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn the_strength_bound_holds_for_the_files_together() {
        let cat = two_files();
        let e = steering(
            &steer_request(vec![("a", 15.0), ("b", -15.0)]),
            &cat,
            Positions::All,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("steering"), "{}", e.message);
        let (s, applied, _) = steering(
            &steer_request(vec![("a", 0.5), ("b", 0.25)]),
            &cat,
            Positions::All,
        )
        .unwrap();
        assert_eq!(applied.len(), 2);
        assert_eq!(s.unwrap().vectors[&1], vec![0.25, 0.0]);
    }

    #[test]
    fn a_long_steering_list_is_refused_before_any_work() {
        let list = vec![("nope", 0.1); 10_000];
        let e = steering(&steer_request(list), &two_files(), Positions::All).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("steering"), "{}", e.message);
        assert!(e.message.contains("at most"), "{}", e.message);
    }

    #[test]
    fn context_errors_name_the_flag_that_exists() {
        let e = max_tokens(&GenRequest::default(), 100, 100).unwrap_err();
        assert!(e.message.contains("serve --ctx)"), "{}", e.message);
        let req = GenRequest {
            max_tokens: Some(500),
            ..Default::default()
        };
        let e = max_tokens(&req, 10, 100).unwrap_err();
        assert!(e.message.contains("serve --ctx)"), "{}", e.message);
    }

    #[test]
    fn logit_bias_takes_token_ids_of_the_vocabulary_and_biases_within_100() {
        let req = |pairs: &[(&str, f64)]| GenRequest {
            logit_bias: Some(pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()),
            ..Default::default()
        };
        assert_eq!(
            logit_bias(&req(&[("7", -100.0), ("3", 2.5)]), 10).unwrap(),
            vec![(3, 2.5), (7, -100.0)]
        );
        assert!(logit_bias(&GenRequest::default(), 10).unwrap().is_empty());
        for (bad, param) in [
            (req(&[("10", 1.0)]), "logit_bias.10"),
            (req(&[("-1", 1.0)]), "logit_bias.-1"),
            (req(&[("cat", 1.0)]), "logit_bias.cat"),
            (req(&[("1", 100.5)]), "logit_bias.1"),
        ] {
            let e = logit_bias(&bad, 10).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{}", e.message);
        }
        let many: Vec<(String, f64)> = (0..2000).map(|i| (i.to_string(), 1.0)).collect();
        let e = logit_bias(
            &GenRequest {
                logit_bias: Some(many.into_iter().collect()),
                ..Default::default()
            },
            5000,
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("logit_bias"));
    }
}
