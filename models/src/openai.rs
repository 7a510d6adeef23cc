//! The OpenAI-compatible wire format that llama.cpp's server, vLLM, TGI and banshi's own model
//! node speak: `/v1/chat/completions` (streamed as server-sent events) and `/v1/embeddings`.
//!
//! Only the fields banshi reads or writes are modelled; unknown fields are ignored when
//! reading, so servers that send more still parse. `repeat_penalty` and `draft` are extensions
//! (llama.cpp's and banshi's) that other servers ignore.

use serde::{Deserialize, Serialize};

use crate::generator::{GenParams, Message};

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    pub model: String,
    pub messages: Vec<Message>,
    #[serde(default)]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<f32>,
    /// Prompt-lookup draft length (banshi's node; 0 disables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<usize>,
    /// A final assistant message is the start of the answer, to be continued (vLLM's name for
    /// it; banshi's node always continues a final assistant message).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_final_message: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub add_generation_prompt: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamOptions {
    pub include_usage: bool,
}

impl ChatRequest {
    /// A streamed request for `messages` with banshi's sampling settings.
    pub fn streamed(model: &str, messages: Vec<Message>, p: &GenParams) -> Self {
        let continues = messages.last().is_some_and(|m| m.role == crate::Role::Assistant);
        ChatRequest {
            model: model.to_string(),
            messages,
            stream: true,
            max_tokens: Some(p.max_tokens),
            temperature: Some(p.temperature),
            top_p: Some(p.top_p),
            seed: Some(p.seed),
            repeat_penalty: Some(p.repeat_penalty),
            draft: Some(p.draft),
            continue_final_message: continues,
            add_generation_prompt: !continues,
            stream_options: Some(StreamOptions { include_usage: true }),
        }
    }

    /// The sampling settings asked for, banshi's defaults for the rest.
    pub fn params(&self) -> GenParams {
        let d = GenParams::default();
        GenParams {
            max_tokens: self.max_tokens.unwrap_or(d.max_tokens),
            temperature: self.temperature.unwrap_or(d.temperature),
            top_p: self.top_p.unwrap_or(d.top_p),
            repeat_penalty: self.repeat_penalty.unwrap_or(d.repeat_penalty),
            seed: self.seed.unwrap_or(d.seed),
            draft: self.draft.unwrap_or(d.draft),
        }
    }
}

/// One server-sent event of a streamed chat answer (`object: chat.completion.chunk`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChatChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// An error in the stream (`{"error": {…}}` in place of a chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// A whole chat answer (`stream: false`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub model: String,
    pub choices: Vec<CompletionChoice>,
    pub usage: Usage,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletionChoice {
    pub index: u32,
    pub message: Message,
    pub finish_reason: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: usize,
    #[serde(default)]
    pub completion_tokens: usize,
    #[serde(default)]
    pub total_tokens: usize,
}

/// `POST /v1/embeddings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    #[serde(default)]
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
}

/// One text or several.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
}

impl EmbeddingInput {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            EmbeddingInput::One(s) => vec![s],
            EmbeddingInput::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    #[serde(default)]
    pub object: String,
    pub data: Vec<Embedding>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub usage: Usage,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Embedding {
    #[serde(default)]
    pub object: String,
    pub index: usize,
    pub embedding: Vec<f32>,
}

/// The error body: `{"error": {"message": …, "type": …}}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type", default)]
    pub kind: String,
}

impl ErrorBody {
    pub fn new(kind: &str, message: impl Into<String>) -> Self {
        ErrorBody { error: ErrorDetail { message: message.into(), kind: kind.into() } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_request_continues_a_final_assistant_message() {
        let p = GenParams { max_tokens: 9, ..GenParams::default() };
        let open = ChatRequest::streamed("m", vec![Message::user("问")], &p);
        assert!(!open.continue_final_message && open.add_generation_prompt);
        let forced = ChatRequest::streamed("m", vec![Message::user("问"), Message::assistant("{")], &p);
        let json = serde_json::to_value(&forced).unwrap();
        assert_eq!(json["continue_final_message"], true);
        assert_eq!(json["messages"][1]["role"], "assistant");
        assert_eq!(json["max_tokens"], 9);
        let back: ChatRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back.params(), p);
    }

    #[test]
    fn chunks_from_other_servers_parse() {
        // llama.cpp-style chunk with fields banshi does not model.
        let c: ChatChunk = serde_json::from_str(
            r#"{"id":"x","object":"chat.completion.chunk","created":1,"model":"q","system_fingerprint":"b1",
                "choices":[{"index":0,"delta":{"content":"办"},"logprobs":null,"finish_reason":null}]}"#,
        )
        .unwrap();
        assert_eq!(c.choices[0].delta.content.as_deref(), Some("办"));
        let last: ChatChunk = serde_json::from_str(r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#).unwrap();
        assert_eq!(last.usage.unwrap().completion_tokens, 2);
        let err: ChatChunk = serde_json::from_str(r#"{"error":{"message":"context too long","type":"server_error"}}"#).unwrap();
        assert_eq!(err.error.unwrap().message, "context too long");
        let one: EmbeddingRequest = serde_json::from_str(r#"{"input":"query: 身份证"}"#).unwrap();
        assert_eq!(one.input.into_vec(), ["query: 身份证"]);
    }
}
