//! OpenAI response bodies: whole answers and stream chunks for the chat
//! and completions endpoints, with the steering that was applied as an
//! extra `steering` field (clients ignore fields they do not know).

use super::engine::{Finish, TokenLogprob};
use super::request::{Endpoint, Plan};
use serde_json::{json, Value};

/// What every body of one request shares.
#[derive(Debug, Clone)]
pub struct Meta {
    /// `chatcmpl-…` or `cmpl-…`, the same for every chunk of a stream.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    /// The served model's name.
    pub model: String,
    /// Which endpoint.
    pub endpoint: Endpoint,
    /// The applied steering, as JSON.
    pub steering: Value,
}

impl Meta {
    /// Fresh metadata for a request.
    pub fn new(endpoint: Endpoint, model: &str, plan: &Plan, serial: u64) -> Meta {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let prefix = match endpoint {
            Endpoint::Chat => "chatcmpl",
            Endpoint::Completion => "cmpl",
        };
        Meta {
            id: format!("{prefix}-{created:x}{serial:06x}"),
            created,
            model: model.to_string(),
            endpoint,
            steering: steering_json(plan),
        }
    }

    fn object(&self, chunk: bool) -> &'static str {
        match (self.endpoint, chunk) {
            (Endpoint::Chat, false) => "chat.completion",
            (Endpoint::Chat, true) => "chat.completion.chunk",
            (Endpoint::Completion, _) => "text_completion",
        }
    }

    fn envelope(&self, chunk: bool, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": self.object(chunk),
            "created": self.created,
            "model": self.model,
            "system_fingerprint": Value::Null,
            "choices": choices,
            "steering": self.steering,
        })
    }

    /// The whole answer.
    pub fn answer(&self, text: &str, logprobs: &[TokenLogprob], finish: &Finish) -> Value {
        let choice = match self.endpoint {
            Endpoint::Chat => json!({
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": self.logprobs_json(logprobs),
                "finish_reason": finish.reason.as_str(),
            }),
            Endpoint::Completion => json!({
                "index": 0,
                "text": text,
                "logprobs": self.logprobs_json(logprobs),
                "finish_reason": finish.reason.as_str(),
            }),
        };
        let mut v = self.envelope(false, json!([choice]));
        v["usage"] = usage(finish);
        v
    }

    /// A stream chunk with new text and the log-probabilities of the
    /// tokens that made it (chat: the first chunk also carries the role).
    pub fn text_chunk(&self, text: &str, logprobs: &[TokenLogprob], first: bool) -> Value {
        let lp = self.logprobs_json(logprobs);
        let choice = match self.endpoint {
            Endpoint::Chat => {
                let delta = if first {
                    json!({"role": "assistant", "content": text})
                } else {
                    json!({"content": text})
                };
                json!({"index": 0, "delta": delta, "logprobs": lp, "finish_reason": Value::Null})
            }
            Endpoint::Completion => {
                json!({"index": 0, "text": text, "logprobs": lp, "finish_reason": Value::Null})
            }
        };
        self.envelope(true, json!([choice]))
    }

    /// OpenAI's shape: chat `{"content": [{token, logprob, bytes,
    /// top_logprobs}]}`, completions `{tokens, token_logprobs,
    /// top_logprobs}`; null when none were asked for.
    fn logprobs_json(&self, lps: &[TokenLogprob]) -> Value {
        if lps.is_empty() {
            return Value::Null;
        }
        match self.endpoint {
            Endpoint::Chat => json!({"content": lps.iter().map(|l| json!({
                "token": l.token,
                "logprob": l.logprob,
                "bytes": l.bytes,
                "top_logprobs": l.top.iter().map(|(t, b, v)| json!({
                    "token": t, "logprob": v, "bytes": b,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>()}),
            Endpoint::Completion => json!({
                "tokens": lps.iter().map(|l| &l.token).collect::<Vec<_>>(),
                "token_logprobs": lps.iter().map(|l| l.logprob).collect::<Vec<_>>(),
                "top_logprobs": lps.iter().map(|l| l.top.iter()
                    .map(|(t, _, v)| (t.clone(), json!(v)))
                    .collect::<serde_json::Map<_, _>>()).collect::<Vec<_>>(),
            }),
        }
    }

    /// The last chunk: empty delta and the finish reason.
    pub fn final_chunk(&self, finish: &Finish) -> Value {
        let choice = match self.endpoint {
            Endpoint::Chat => json!({"index": 0, "delta": {}, "logprobs": Value::Null,
                                     "finish_reason": finish.reason.as_str()}),
            Endpoint::Completion => json!({"index": 0, "text": "", "logprobs": Value::Null,
                                           "finish_reason": finish.reason.as_str()}),
        };
        self.envelope(true, json!([choice]))
    }

    /// `stream_options.include_usage`: no choices, the counts.
    pub fn usage_chunk(&self, finish: &Finish) -> Value {
        let mut v = self.envelope(true, json!([]));
        v["usage"] = usage(finish);
        v
    }
}

fn usage(f: &Finish) -> Value {
    json!({
        "prompt_tokens": f.prompt_tokens,
        "completion_tokens": f.completion_tokens,
        "total_tokens": f.prompt_tokens + f.completion_tokens,
    })
}

fn steering_json(plan: &Plan) -> Value {
    let applied: Vec<Value> = plan
        .applied
        .iter()
        .map(|(n, c)| json!({"name": n, "strength": short_f32(*c)}))
        .collect();
    json!({
        "applied": applied,
        "ablated": plan.ablation.names,
        "positions": plan.positions.to_json(),
    })
}

/// An f32 as the shortest decimal that reads back to it (0.1, not
/// 0.10000000149011612).
pub fn short_f32(x: f32) -> Value {
    x.to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::short_f32;

    #[test]
    fn strengths_print_as_written() {
        assert_eq!(short_f32(0.1).to_string(), "0.1");
        assert_eq!(short_f32(-0.5).to_string(), "-0.5");
        assert_eq!(short_f32(f32::NAN), serde_json::Value::Null);
    }
}
