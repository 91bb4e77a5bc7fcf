//! The HTTP surface (axum): OpenAI endpoints, `/v1/steering`, `/health`
//! and the comparison page. Handlers only check, submit and format; the
//! engine thread does the work.

use super::engine::{Event, Finish, Job, Stats, TokenLogprob};
use super::error::ApiError;
use super::request::{parse_body, plan, Catalog, Endpoint};
use super::response::{short_f32, Meta};
use crate::llama::Model;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::sse::{self, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::{stream, StreamExt};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The largest request body read (axum's default limit, kept).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// What every handler shares.
pub struct AppState {
    /// The served model (tokenizer and chat template).
    pub model: Arc<Model>,
    /// Its name in `/v1/models` and in answers.
    pub model_id: String,
    /// Loaded steering files and the default (replaced at run time by
    /// `POST`/`DELETE /v1/steering`).
    pub catalog: std::sync::RwLock<Catalog>,
    /// Where run-time steering files may come from, and their size bound.
    pub admin: super::steer_admin::SteerAdmin,
    /// The engine's queue.
    pub jobs: mpsc::Sender<Job>,
    /// The engine's counters.
    pub stats: Arc<Stats>,
    /// Tokens of context per request.
    pub ctx_per_slot: usize,
    /// Slots.
    pub parallel: usize,
    /// Queue capacity.
    pub queue: usize,
    /// Numbers request ids.
    pub serial: AtomicU64,
    /// Time a client has to send a request body once its head is in.
    pub body_timeout: Duration,
    /// Keys the API and its admin endpoints ask for (none: open).
    pub keys: Arc<crate::serve::auth::Keys>,
}

/// All routes.
pub fn router(state: Arc<AppState>) -> Router {
    let keys = state.keys.clone();
    Router::new()
        .route("/", get(page))
        .route("/health", get(health))
        .route("/v1/models", get(models))
        .route(
            "/v1/steering",
            get(steering_list).post(super::steer_admin::add),
        )
        .route(
            "/v1/steering/{name}",
            axum::routing::delete(super::steer_admin::delete),
        )
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            keys,
            crate::serve::auth::require_key,
        ))
        .with_state(state)
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(&method, uri.path())
}

async fn health(State(s): State<Arc<AppState>>) -> Json<Value> {
    let waiting = s.jobs.max_capacity() - s.jobs.capacity();
    Json(json!({
        "status": "ok",
        "slots": {"busy": s.stats.busy.load(Ordering::Relaxed), "total": s.parallel},
        "queue": {"waiting": waiting, "capacity": s.queue},
        "finished": s.stats.finished.load(Ordering::Relaxed),
        "generated_tokens": s.stats.generated_tokens.load(Ordering::Relaxed),
        "cached_prompt_tokens": s.stats.cached_prompt_tokens.load(Ordering::Relaxed),
    }))
}

async fn models(State(s): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({"object": "list", "data": [{
        "id": s.model_id,
        "object": "model",
        "created": 0,
        "owned_by": "expertsteer",
        "meta": {
            "arch": s.model.arch(),
            "n_layer": s.model.n_layer(),
            "n_embd": s.model.n_embd(),
            "n_params": s.model.n_params(),
            "ctx_per_request": s.ctx_per_slot,
        },
    }]}))
}

async fn steering_list(State(s): State<Arc<AppState>>) -> Json<Value> {
    let cat = s.catalog.read().unwrap_or_else(|e| e.into_inner());
    let data: Vec<Value> = cat
        .files
        .iter()
        .map(|(name, f)| {
            let is_default = cat.default.as_ref().is_some_and(|(d, _)| d == name);
            listing(name, f, is_default)
        })
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// One steering file as `GET /v1/steering` lists it.
pub fn listing(name: &str, f: &crate::steering::steerfile::SteerFile, is_default: bool) -> Value {
    json!({
        "name": name,
        "method": f.method.to_string(),
        "expert": f.expert.as_ref().map(|e| e.file_name.clone()),
        "target": f.target.file_name,
        "layers": f.layers.iter().map(|l| l.target_layer).collect::<Vec<_>>(),
        "default_strength": short_f32(f.default_strength),
        "is_default": is_default,
    })
}

async fn chat(State(s): State<Arc<AppState>>, body: Body) -> Response {
    generate(s, Endpoint::Chat, body).await
}

async fn completions(State(s): State<Arc<AppState>>, body: Body) -> Response {
    generate(s, Endpoint::Completion, body).await
}

/// Reads a whole body of at most [`MAX_BODY_BYTES`] within `limit`.
async fn read_body(body: Body, limit: Duration) -> Result<Bytes, Response> {
    read_body_max(body, limit, MAX_BODY_BYTES).await
}

/// How much of an oversized body is read and dropped before the 413: up to
/// four times the limit and at least 8 MiB, so that an ordinary oversized
/// upload gets its answer while a huge one is cut off.
fn drain_cap(max_bytes: usize) -> usize {
    max_bytes.saturating_mul(4).max(8 << 20)
}

/// Reads a whole body of at most `max_bytes` within `limit`: a client that
/// stops sending half-way (a `Content-Length` never reached, a chunked
/// body never ended) gets 408, a larger body 413 (after the rest of it, up
/// to [`drain_cap`], has been read and dropped), and either way its
/// connection is closed.
pub(crate) async fn read_body_max(
    body: Body,
    limit: Duration,
    max_bytes: usize,
) -> Result<Bytes, Response> {
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, chunks.next()).await {
            Err(_) => {
                let mut err = ApiError::invalid(
                    None,
                    format!(
                        "the request body did not arrive within {} s (serve --body-timeout)",
                        limit.as_secs_f64()
                    ),
                )
                .with_code("request_timeout");
                err.status = StatusCode::REQUEST_TIMEOUT;
                let mut r = err.into_response();
                r.headers_mut().insert(
                    header::CONNECTION,
                    header::HeaderValue::from_static("close"),
                );
                return Err(r);
            }
            Ok(None) => return Ok(Bytes::from(bytes)),
            Ok(Some(Err(e))) => {
                return Err(
                    ApiError::invalid(None, format!("reading the body: {e}")).into_response()
                )
            }
            Ok(Some(Ok(chunk))) => {
                if bytes.len() + chunk.len() > max_bytes {
                    // Read (and drop) the rest first, so that the client,
                    // still sending, gets the 413 rather than a broken
                    // pipe; bounded in bytes and by the same deadline.
                    let mut left = drain_cap(max_bytes).saturating_sub(bytes.len() + chunk.len());
                    drop(bytes);
                    while left > 0 {
                        match tokio::time::timeout_at(deadline, chunks.next()).await {
                            Ok(Some(Ok(c))) => left = left.saturating_sub(c.len().max(1)),
                            _ => break,
                        }
                    }
                    let mut err = ApiError::invalid(
                        None,
                        format!("the request body is larger than {max_bytes} bytes"),
                    );
                    err.status = StatusCode::PAYLOAD_TOO_LARGE;
                    let mut r = err.into_response();
                    r.headers_mut().insert(
                        header::CONNECTION,
                        header::HeaderValue::from_static("close"),
                    );
                    return Err(r);
                }
                bytes.extend_from_slice(&chunk);
            }
        }
    }
}

async fn generate(s: Arc<AppState>, endpoint: Endpoint, body: Body) -> Response {
    let bytes = match read_body(body, s.body_timeout).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req = match parse_body(&bytes) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let planned = {
        let cat = s.catalog.read().unwrap_or_else(|e| e.into_inner());
        plan(req, endpoint, &s.model, &cat, s.ctx_per_slot)
    };
    let plan = match planned {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let meta = Meta::new(
        endpoint,
        &s.model_id,
        &plan,
        s.serial.fetch_add(1, Ordering::Relaxed),
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let (stream, include_usage) = (plan.stream, plan.include_usage);
    let job = Job {
        label: plan.label(),
        steer_from: plan.positions.steer_from(plan.prompt.len()),
        steer_key: plan.steer_key,
        cache_prompt: plan.cache_prompt,
        ablate: plan.ablation.directions,
        prompt: plan.prompt,
        max_tokens: plan.max_tokens,
        sampler: plan.sampler,
        stop: plan.stop,
        steering: plan.steering,
        ignore_eos: plan.ignore_eos,
        logit_bias: plan.logit_bias,
        logprobs: plan.logprobs,
        events: tx,
    };
    match s.jobs.try_send(job) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => {
            return ApiError::unavailable(
                format!(
                    "the server is busy: {} requests are running and {} waiting (the queue is \
                     full); retry shortly",
                    s.parallel, s.queue
                ),
                "queue_full",
            )
            .into_response()
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            return ApiError::unavailable("the server is shutting down", "shutting_down")
                .into_response()
        }
    }
    if stream {
        sse_answer(meta, rx, include_usage).into_response()
    } else {
        whole_answer(meta, rx).await
    }
}

async fn whole_answer(meta: Meta, mut rx: mpsc::UnboundedReceiver<Event>) -> Response {
    let mut text = String::new();
    let mut logprobs = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            Event::Text(t) => text.push_str(&t),
            Event::Logprob(l) => logprobs.push(l),
            Event::Done(f) => return Json(meta.answer(&text, &logprobs, &f)).into_response(),
            Event::Failed(m) => return ApiError::internal(m).into_response(),
        }
    }
    ApiError::internal("the engine stopped before the answer was complete").into_response()
}

/// State of one stream: events waiting to be sent, and whether the
/// engine has finished.
struct Streaming {
    rx: mpsc::UnboundedReceiver<Event>,
    meta: Meta,
    out: VecDeque<sse::Event>,
    /// Log-probabilities waiting for the text chunk they belong to.
    logprobs: Vec<TokenLogprob>,
    first: bool,
    done: bool,
    include_usage: bool,
}

fn data(v: &Value) -> sse::Event {
    sse::Event::default().data(v.to_string())
}

/// Server-sent events: chunks as text arrives, the final chunk with the
/// finish reason (and usage if asked), then `[DONE]`. When the client
/// leaves, axum drops this stream, the engine sees the channel closed and
/// frees the slot.
fn sse_answer(
    meta: Meta,
    rx: mpsc::UnboundedReceiver<Event>,
    include_usage: bool,
) -> Sse<impl futures_util::Stream<Item = Result<sse::Event, Infallible>>> {
    let mut st = Streaming {
        rx,
        out: VecDeque::new(),
        logprobs: Vec::new(),
        first: true,
        done: false,
        include_usage,
        meta,
    };
    if st.meta.endpoint == Endpoint::Chat {
        // OpenAI opens a chat stream with the role.
        st.out.push_back(data(&st.meta.text_chunk("", &[], true)));
        st.first = false;
    }
    let events = stream::unfold(st, |mut st| async move {
        loop {
            if let Some(ev) = st.out.pop_front() {
                return Some((Ok(ev), st));
            }
            if st.done {
                return None;
            }
            match st.rx.recv().await {
                Some(Event::Logprob(l)) => st.logprobs.push(l),
                Some(Event::Text(t)) => {
                    let lps = std::mem::take(&mut st.logprobs);
                    let chunk = st.meta.text_chunk(&t, &lps, st.first);
                    st.first = false;
                    st.out.push_back(data(&chunk));
                }
                Some(Event::Done(f)) => finish_stream(&mut st, &f),
                Some(Event::Failed(m)) => {
                    st.out.push_back(data(&ApiError::internal(m).body()));
                    st.out.push_back(sse::Event::default().data("[DONE]"));
                    st.done = true;
                }
                None => st.done = true,
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

fn finish_stream(st: &mut Streaming, f: &Finish) {
    st.out.push_back(data(&st.meta.final_chunk(f)));
    if st.include_usage {
        st.out.push_back(data(&st.meta.usage_chunk(f)));
    }
    st.out.push_back(sse::Event::default().data("[DONE]"));
    st.done = true;
}
