//! banshi as a model node: the in-process models on the OpenAI-compatible API
//! (`POST /v1/chat/completions`, streamed or not; `POST /v1/embeddings`; `GET /v1/models`;
//! `GET /healthz`), so a CPU-only city runs one model node and several web replicas that hold
//! no weights (`banshi serve --llm-url … --embedder-url …`).
//!
//! The node queues work on its one compute thread and never queues without bound: a full queue
//! answers 429 with `Retry-After` at once. A final assistant message is always continued (the
//! model port's contract). Embedding inputs are embedded as given: clients send the e5 prefix.
//! A client that disconnects mid-answer stops the generation (the token stream is dropped).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use banshi_models::openai::{
    ChatChunk, ChatCompletion, ChatRequest, ChunkChoice, CompletionChoice, Delta, Embedding, EmbeddingRequest, EmbeddingResponse,
    ErrorBody, Usage,
};
use banshi_models::remote::CONTINUED_HEADER;
use banshi_models::{ChatModel, Embed, GenEvent, GenStats, Message, ModelError, TextKind, TokenStream};

/// What the node serves. Either model may be missing: its endpoint then answers 503.
#[derive(Clone)]
pub struct ModelNode {
    pub chat: Option<Arc<dyn ChatModel>>,
    pub embed: Option<Arc<dyn Embed>>,
    /// Names `/v1/models` lists and responses carry.
    pub chat_name: String,
    pub embed_name: String,
    /// Seconds in `Retry-After` of a 429.
    pub retry_after_secs: u64,
}

/// Texts per embedding request at most.
const MAX_INPUTS: usize = 256;

pub fn router(node: ModelNode) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/embeddings", post(embeddings))
        .route("/v1/models", get(models))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Arc::new(node))
}

/// An error in the API's own shape, with the status its kind maps to.
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, kind: "invalid_request_error", message: message.into(), retry_after: None }
    }

    fn model(e: ModelError, retry_after: u64) -> Self {
        let (status, kind, retry_after) = match &e {
            ModelError::Busy => (StatusCode::TOO_MANY_REQUESTS, "server_busy", Some(retry_after)),
            ModelError::Unavailable(_) | ModelError::Missing(_) => (StatusCode::SERVICE_UNAVAILABLE, "model_unavailable", None),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None),
        };
        ApiError { status, kind, message: e.to_string(), retry_after }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(ErrorBody::new(self.kind, self.message))).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut().insert(header::RETRY_AFTER, s.into());
        }
        r
    }
}

fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    payload.map(|Json(t)| t).map_err(|e| ApiError::bad(e.body_text()))
}

async fn chat(State(node): State<Arc<ModelNode>>, payload: Result<Json<ChatRequest>, JsonRejection>) -> Result<Response, ApiError> {
    let req = body(payload)?;
    let model = node.chat.as_ref().ok_or_else(|| ApiError::model(ModelError::Unavailable("no generator on this node".into()), 0))?;
    check_messages(&req.messages)?;
    let params = req.params();
    check_params(&params)?;
    let continues = req.messages.last().is_some_and(|m| m.role == banshi_models::Role::Assistant);
    let tokens = model.chat(req.messages, params).await.map_err(|e| ApiError::model(e, node.retry_after_secs))?;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let mut resp = if req.stream {
        streamed(tokens, id, node.chat_name.clone(), req.stream_options.is_some_and(|o| o.include_usage)).into_response()
    } else {
        whole(tokens, id, node.chat_name.clone()).await.map(|c| Json(c).into_response())?
    };
    if continues {
        resp.headers_mut().insert(CONTINUED_HEADER, header::HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// Longest answer a request may ask for, in tokens: the model's whole context.
const MAX_TOKENS: usize = banshi_models::qwen2::MAX_CONTEXT;

fn check_params(p: &banshi_models::GenParams) -> Result<(), ApiError> {
    if p.max_tokens == 0 || p.max_tokens > MAX_TOKENS {
        return Err(ApiError::bad(format!("max_tokens: 1 to {MAX_TOKENS}")));
    }
    if !(0.0..=2.0).contains(&p.temperature) {
        return Err(ApiError::bad("temperature: 0 to 2"));
    }
    if !(p.top_p > 0.0 && p.top_p <= 1.0) {
        return Err(ApiError::bad("top_p: above 0, at most 1"));
    }
    if !(p.repeat_penalty.is_finite() && p.repeat_penalty > 0.0) {
        return Err(ApiError::bad("repeat_penalty: a positive number"));
    }
    Ok(())
}

fn check_messages(messages: &[Message]) -> Result<(), ApiError> {
    if messages.is_empty() {
        return Err(ApiError::bad("messages: at least one message is required"));
    }
    if messages.iter().all(|m| m.content.trim().is_empty()) {
        return Err(ApiError::bad("messages: all messages are empty"));
    }
    Ok(())
}

/// The answer as `chat.completion.chunk` events, then `[DONE]`. A generation that breaks off
/// ends with an `error` event (the text before it stands).
fn streamed(
    mut tokens: TokenStream,
    id: String,
    model: String,
    include_usage: bool,
) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let created = chrono::Utc::now().timestamp();
    let chunk = move |delta: Delta, finish: Option<String>, usage: Option<Usage>| ChatChunk {
        id: id.clone(),
        object: "chat.completion.chunk".into(),
        created,
        model: model.clone(),
        choices: if usage.is_some() && finish.is_none() { vec![] } else { vec![ChunkChoice { index: 0, delta, finish_reason: finish }] },
        usage,
        error: None,
    };
    let stream = async_stream::stream! {
        let json = |c: &ChatChunk| Event::default().data(serde_json::to_string(c).unwrap_or_default());
        yield Ok(json(&chunk(Delta { role: Some("assistant".into()), content: Some(String::new()) }, None, None)));
        loop {
            match tokens.next().await {
                Some(GenEvent::Text(t)) => yield Ok(json(&chunk(Delta { role: None, content: Some(t) }, None, None))),
                Some(GenEvent::Done(stats)) => {
                    yield Ok(json(&chunk(Delta::default(), Some(finish_reason(&stats).into()), None)));
                    if include_usage {
                        yield Ok(json(&chunk(Delta::default(), None, Some(usage(&stats)))));
                    }
                    yield Ok(Event::default().data("[DONE]"));
                    break;
                }
                Some(GenEvent::Error(e)) => {
                    let b = ErrorBody::new("server_error", e.to_string());
                    yield Ok(Event::default().data(serde_json::to_string(&b).unwrap_or_default()));
                    break;
                }
                None => {
                    let b = ErrorBody::new("server_error", "the model stopped mid-answer");
                    yield Ok(Event::default().data(serde_json::to_string(&b).unwrap_or_default()));
                    break;
                }
            }
        }
    };
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn whole(mut tokens: TokenStream, id: String, model: String) -> Result<ChatCompletion, ApiError> {
    let mut text = String::new();
    loop {
        match tokens.next().await {
            Some(GenEvent::Text(t)) => text.push_str(&t),
            Some(GenEvent::Done(stats)) => {
                return Ok(ChatCompletion {
                    id,
                    object: "chat.completion".into(),
                    created: chrono::Utc::now().timestamp(),
                    model,
                    choices: vec![CompletionChoice {
                        index: 0,
                        message: Message::assistant(text),
                        finish_reason: finish_reason(&stats).into(),
                    }],
                    usage: usage(&stats),
                })
            }
            Some(GenEvent::Error(e)) => return Err(ApiError::model(e, 0)),
            None => return Err(ApiError::model(ModelError::Unavailable("the model stopped mid-answer".into()), 0)),
        }
    }
}

fn finish_reason(s: &GenStats) -> &'static str {
    if s.stopped_by_eos {
        "stop"
    } else {
        "length"
    }
}

fn usage(s: &GenStats) -> Usage {
    Usage { prompt_tokens: s.prompt_tokens, completion_tokens: s.generated_tokens, total_tokens: s.prompt_tokens + s.generated_tokens }
}

async fn embeddings(
    State(node): State<Arc<ModelNode>>,
    payload: Result<Json<EmbeddingRequest>, JsonRejection>,
) -> Result<Json<EmbeddingResponse>, ApiError> {
    let req = body(payload)?;
    if req.encoding_format.as_deref().is_some_and(|f| f != "float") {
        return Err(ApiError::bad("encoding_format: only \"float\" is served"));
    }
    let texts = req.input.into_vec();
    if texts.is_empty() || texts.len() > MAX_INPUTS {
        return Err(ApiError::bad(format!("input: 1 to {MAX_INPUTS} texts")));
    }
    let model = node.embed.as_ref().ok_or_else(|| ApiError::model(ModelError::Unavailable("no embedder on this node".into()), 0))?;
    let vectors = model.try_embed(texts, TextKind::Raw).await.map_err(|e| ApiError::model(e, node.retry_after_secs))?;
    Ok(Json(EmbeddingResponse {
        object: "list".into(),
        data: vectors
            .into_iter()
            .enumerate()
            .map(|(index, embedding)| Embedding { object: "embedding".into(), index, embedding })
            .collect(),
        model: node.embed_name.clone(),
        usage: Usage::default(),
    }))
}

async fn models(State(node): State<Arc<ModelNode>>) -> Json<serde_json::Value> {
    let mut data = Vec::new();
    if node.chat.is_some() {
        data.push(serde_json::json!({"id": node.chat_name, "object": "model", "owned_by": "banshi"}));
    }
    if node.embed.is_some() {
        data.push(serde_json::json!({"id": node.embed_name, "object": "model", "owned_by": "banshi"}));
    }
    Json(serde_json::json!({"object": "list", "data": data}))
}
