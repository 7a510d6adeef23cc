//! The one place where error kinds become HTTP statuses.
//!
//! Every error body has the same shape, `{"error": {"code": "...", "message": "..."}}`: `code`
//! is stable for programs (mini-programs switch on it), `message` is Chinese for people.
//! Extractor rejections and bare error responses (unknown route, wrong method, the body
//! limit's 413) are turned into the same body by [`rejection`].

pub mod rejection;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use banshi_models::ModelError;

use crate::store::StoreError;

/// `Retry-After` for a model whose queue is full: about one answer's generation on 2 cores.
pub const MODEL_RETRY_AFTER_SECS: u64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a field is out of range.
    #[error("{0}")]
    BadRequest(String),
    /// The message or body is longer than the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// The body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// No session token, or one that does not own the session.
    #[error("缺少或无效的会话令牌")]
    Unauthorized,
    /// A staff log-in with a wrong username or password (not a session problem: the client
    /// keeps its state and asks again).
    #[error("用户名或密码不正确")]
    InvalidCredentials,
    /// Another credential is missing or wrong (the metrics token); the message says which.
    #[error("{0}")]
    Unauthenticated(String),
    /// The citizen's sign-in in this session has expired (idle or too old): sign in again.
    #[error("登录已超时，请重新登录")]
    SignInExpired,
    /// Authenticated, but not allowed (a citizen's token on a console endpoint, wrong role).
    #[error("{0}")]
    Forbidden(String),
    /// Form values that fail validation: a summary and the problem of each field, by key.
    #[error("{0}")]
    InvalidFields(String, std::collections::BTreeMap<String, String>),
    /// The change conflicts with the current state (ticket already claimed, already rated).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
    /// The route exists, but not with this method; the message names the methods it takes.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The wait queue is full; retry after the given number of seconds.
    #[error("当前咨询人数较多，请 {0} 秒后重试")]
    Busy(u64),
    /// Too many failed log-ins for this username from this address, or from this address
    /// overall; retry after the given number of seconds.
    #[error("登录失败次数过多，请 {0} 秒后再试")]
    Locked(u64),
    /// A rate limit or quota was reached (see [`crate::limits`]): the Chinese message says which;
    /// retry after the given number of seconds.
    #[error("{0}")]
    RateLimited(String, u64),
    /// A dependency (database, index) is failing.
    #[error("{0}")]
    Unavailable(String),
    #[error("服务内部错误")]
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `bad_request`, `busy`.
    pub code: &'static str,
    /// Human-readable explanation in Chinese.
    pub message: String,
    /// With `invalid_fields`: each field's problem and how to fix it, by field key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<std::collections::BTreeMap<String, String>>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::InvalidFields(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unauthorized | ApiError::InvalidCredentials | ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::SignInExpired => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Busy(_) | ApiError::Locked(_) | ApiError::RateLimited(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidFields(..) => "invalid_fields",
            ApiError::TooLarge(_) => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unauthorized | ApiError::Unauthenticated(_) => "unauthorized",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::SignInExpired => "sign_in_expired",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Conflict(_) => "conflict",
            ApiError::NotFound(_) => "not_found",
            ApiError::Busy(_) => "busy",
            ApiError::Locked(_) => "locked",
            ApiError::RateLimited(..) => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn body(&self) -> ErrorBody {
        let fields = match self {
            ApiError::InvalidFields(_, f) => Some(f.clone()),
            _ => None,
        };
        ErrorBody { error: ErrorDetail { code: self.code(), message: self.to_string(), fields } }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) | ApiError::Unavailable(detail) = &self {
            tracing::error!(code = self.code(), "{detail}");
        }
        let mut res = (self.status(), axum::Json(self.body())).into_response();
        if let ApiError::Busy(secs) | ApiError::Locked(secs) | ApiError::RateLimited(_, secs) = self {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// A database error: 503 when the database cannot be reached or is overloaded (retry later),
/// 409 when a concurrent request wrote the same thing first (a unique key), 500 otherwise.
fn database(e: sqlx::Error) -> ApiError {
    let unreachable = match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| unreachable_code(&c)),
        _ => false,
    };
    if unreachable {
        return ApiError::Unavailable(format!("数据库暂不可用：{e}"));
    }
    if matches!(&e, sqlx::Error::Database(d) if d.is_unique_violation()) {
        return ApiError::Conflict("同样的内容刚刚已由另一请求保存，请刷新后再试".into());
    }
    ApiError::Internal(format!("database: {e}"))
}

/// PostgreSQL's SQLSTATE (five characters) 08… connection exceptions, 53… insufficient
/// resources, 57P… shutdown or crash recovery; SQLite's (extended) result codes for a busy or
/// locked database.
fn unreachable_code(code: &str) -> bool {
    if code.len() == 5 {
        return code.starts_with("08") || code.starts_with("53") || code.starts_with("57P");
    }
    code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Database(e) => database(e),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::NotFound(m) => ApiError::NotFound(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<banshi_knowledge::KnowledgeError> for ApiError {
    fn from(e: banshi_knowledge::KnowledgeError) -> Self {
        use banshi_knowledge::KnowledgeError;
        match e {
            KnowledgeError::NotFound(what) => ApiError::NotFound(format!("{what} 不存在")),
            KnowledgeError::Conflict { base, latest, by, .. } => {
                ApiError::Conflict(format!("该指南已被 {by} 修改（当前为第 {latest} 版，您是在第 {base} 版上编辑的），请重新载入后再修改"))
            }
            KnowledgeError::Invalid { problems, .. } => {
                let fields = problems.iter().enumerate().map(|(i, p)| (format!("problem_{}", i + 1), p.clone())).collect();
                ApiError::InvalidFields(format!("有 {} 处需要修改：{}", problems.len(), problems.join("；")), fields)
            }
            KnowledgeError::Stale { version, root, live, publishing, .. } => {
                let live = live.map_or("线上暂无版本".to_string(), |v| format!("线上现为第 {v} 版"));
                ApiError::Conflict(if !publishing {
                    format!(
                        "您是在第 {version} 版上修改的，但该版本已被回滚或被新发布的版本取代（{live}），请重新载入后在线上版本的基础上修改"
                    )
                } else if version == root {
                    format!("第 {version} 版已被撤下（{live}），不能通过“发布”重新上线；如确需恢复，请在版本历史中使用“回滚到此版”")
                } else {
                    format!("第 {version} 版草稿是在第 {root} 版上修改的，而第 {root} 版已被回滚或被新发布的版本取代（{live}）；发布它会让已撤下的内容重新上线，请重新载入后在线上版本的基础上修改")
                })
            }
            KnowledgeError::NotAllowed(m) => ApiError::Conflict(m),
            KnowledgeError::Model(m) => m.into(),
            // The vector index (a Qdrant server) or the database is down: retry later, not a bug.
            KnowledgeError::Index(m) => ApiError::Unavailable(format!("检索服务暂不可用：{m}")),
            KnowledgeError::Database(e) => database(e),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<banshi_assistant::AssistantError> for ApiError {
    fn from(e: banshi_assistant::AssistantError) -> Self {
        use banshi_assistant::AssistantError as E;
        match e {
            E::EmptyMessage => ApiError::BadRequest("消息不能为空".into()),
            E::NotFound(code) => ApiError::NotFound(format!("事项 {code} 不存在")),
            E::Model(m) => m.into(),
            E::Knowledge(k) => k.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Busy (retry later) → 429 with `Retry-After`; no model to ask → 503; a computation that
/// broke → 500.
impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Busy => ApiError::Busy(MODEL_RETRY_AFTER_SECS),
            ModelError::Unavailable(_) | ModelError::Missing(_) => ApiError::Unavailable(format!("模型暂不可用：{e}")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_codes_that_mean_retry_later() {
        for c in ["08006", "53300", "57P01", "5", "517", "6"] {
            assert!(unreachable_code(c), "{c}");
        }
        for c in ["23505", "42P01", "19", "2067"] {
            assert!(!unreachable_code(c), "{c}");
        }
        assert!(matches!(database(sqlx::Error::PoolTimedOut), ApiError::Unavailable(_)));
        assert!(matches!(database(sqlx::Error::RowNotFound), ApiError::Internal(_)));
    }

    #[test]
    fn busy_maps_to_429_with_retry_after() {
        let res = ApiError::Busy(7).into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[header::RETRY_AFTER], "7");
    }

    /// Status, `Retry-After` and JSON body of a handler whose answer failed with `error()`.
    async fn served(error: fn() -> ModelError) -> (StatusCode, Option<String>, serde_json::Value) {
        use tower::ServiceExt;
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || async move { Err::<(), ApiError>(banshi_assistant::AssistantError::Model(error()).into()) }),
        );
        let res = app.oneshot(axum::http::Request::get("/").body(axum::body::Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let retry = res.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_string());
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(res.into_body(), 1 << 16).await.unwrap();
        (status, retry, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn model_errors_answer_by_kind() {
        let (status, retry, body) = served(|| ModelError::Busy).await;
        assert_eq!((status, retry.as_deref()), (StatusCode::TOO_MANY_REQUESTS, Some("10")));
        assert_eq!(body["error"]["code"], "busy");
        assert_eq!(body["error"]["message"], "当前咨询人数较多，请 10 秒后重试");
        let (status, retry, body) = served(|| ModelError::Unavailable("the compute thread has stopped".into())).await;
        assert_eq!((status, retry, body["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, None, Some("unavailable")));
        assert!(body["error"]["message"].as_str().unwrap().starts_with("模型暂不可用"));
        let (status, retry, body) = served(|| ModelError::Failed("NaN in logits".into())).await;
        assert_eq!((status, retry, body["error"]["code"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, None, Some("internal")));
        assert_eq!(body["error"]["message"], "服务内部错误", "internals are not shown");
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(ApiError::Unauthorized.code(), "unauthorized");
        assert_eq!(
            (ApiError::InvalidCredentials.status(), ApiError::InvalidCredentials.code()),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
        assert_eq!(ApiError::InvalidCredentials.to_string(), "用户名或密码不正确");
        assert_eq!((ApiError::SignInExpired.status(), ApiError::SignInExpired.code()), (StatusCode::FORBIDDEN, "sign_in_expired"));
        assert_eq!(ApiError::MethodNotAllowed("x".into()).status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(ApiError::BadRequest("x".into()).status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
}
