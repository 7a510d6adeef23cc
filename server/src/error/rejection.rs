//! Extractor rejections and bare error responses as the documented JSON error, in Chinese.
//!
//! axum's extractors answer bad input with English plain text (`Invalid URL: Cannot parse
//! `abc` to a `i64``, `Failed to parse the request body as JSON: EOF while parsing …`), and the
//! router and the body limit answer 404 / 405 / 413 with no JSON at all. [`describe`] turns the
//! English into a Chinese message that names the parameter and what was expected;
//! [`json_errors`] is the middleware that catches every error response that is not already the
//! JSON body and replaces it.

use std::sync::LazyLock;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use regex::Regex;

use super::ApiError;
use crate::App;

/// Where the bad value was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    Body,
    Query,
    Path,
}

/// axum's rejection headings, what they mean, and whether the body's JSON syntax is at fault.
const HEADINGS: [(&str, Origin); 6] = [
    ("Failed to deserialize the JSON body into the target type", Origin::Body),
    ("Failed to parse the request body as JSON", Origin::Body),
    ("Failed to deserialize query string", Origin::Query),
    ("Failed to deserialize form body", Origin::Body),
    ("Failed to deserialize form", Origin::Query),
    ("Invalid URL", Origin::Path),
];

static POSITION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r" at line (\d+) column (\d+)$").unwrap());
static FIELD_PATH: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^([A-Za-z0-9_\-\[\]\.?]+): (.+)$").unwrap());
static BACKTICKED: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"`([^`]*)`").unwrap());
static VALUE_OF_KIND: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(integer|floating point|boolean|character) `(.*)`$").unwrap());

/// One English message pattern and its Chinese rendering (`$1` … are the pattern's groups,
/// passed through [`render`]).
struct Rule {
    re: Regex,
    zh: fn(&regex::Captures<'_>) -> Said,
}

/// What a rule makes of a message: the problem in Chinese, and the parameter it names when
/// the message itself names one (path parameters, `missing field`).
struct Said {
    problem: String,
    names: Option<String>,
}

fn said(problem: impl Into<String>) -> Said {
    Said { problem: problem.into(), names: None }
}

/// A list of backticked names (`` `a`, `b` ``) as `a、b`.
fn names_list(s: &str) -> String {
    BACKTICKED.captures_iter(s).map(|c| c[1].to_string()).collect::<Vec<_>>().join("、")
}

/// An expected or received type, as serde writes it, in Chinese.
fn type_zh(raw: &str) -> String {
    let t = raw.trim().trim_start_matches("a ").trim_start_matches("an ");
    if let Some(c) = VALUE_OF_KIND.captures(t) {
        let kind = match &c[1] {
            "integer" => "整数",
            "floating point" => "小数",
            "boolean" => "布尔值",
            _ => "字符",
        };
        return format!("{kind} {}", &c[2]);
    }
    let t = t.trim_matches('`');
    let unsigned = ["u8", "u16", "u32", "u64", "u128", "usize"];
    let signed = ["i8", "i16", "i32", "i64", "i128", "isize", "integer"];
    if unsigned.contains(&t) {
        return "非负整数".into();
    }
    if signed.contains(&t) {
        return "整数".into();
    }
    if let Some(v) = t.strip_prefix("string ") {
        return format!("字符串 {v}");
    }
    match t {
        "string" | "str" | "String" => "字符串".into(),
        "char" | "character" => "单个字符".into(),
        "bool" | "boolean" => "true 或 false".into(),
        "f32" | "f64" | "float" | "floating point" => "数字".into(),
        "map" | "object" => "对象".into(),
        "sequence" | "seq" | "tuple" | "array" => "数组".into(),
        "null" | "unit value" | "unit" => "null".into(),
        _ if t.starts_with("struct ") || t.starts_with("map") => "对象".into(),
        _ if t.starts_with("sequence") || t.starts_with("tuple") => "数组".into(),
        _ if t.starts_with("variant identifier") || t.starts_with("field identifier") => "字段名".into(),
        _ => t.replace('`', ""),
    }
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |re: &str, zh: fn(&regex::Captures<'_>) -> Said| Rule { re: Regex::new(re).unwrap(), zh };
    vec![
        rule(r"^missing field `([^`]*)`$", |c| Said { problem: "缺少此项".into(), names: Some(c[1].to_string()) }),
        rule(r"^unknown field `([^`]*)`, there are no fields$", |c| said(format!("有不认识的字段 {}（此处不接受任何字段）", &c[1]))),
        rule(r"^unknown field `([^`]*)`, expected (?:one of )?(.*)$", |c| {
            said(format!("有不认识的字段 {}（可用的字段：{}）", &c[1], names_list(&c[2])))
        }),
        rule(r"^unknown variant `([^`]*)`, there are no variants$", |c| said(format!("取值“{}”无效", &c[1]))),
        rule(r"^unknown variant `([^`]*)`, expected (?:one of )?(.*)$", |c| {
            said(format!("取值“{}”无效（可选：{}）", &c[1], names_list(&c[2])))
        }),
        rule(r"^invalid type: (.*), expected (.*)$", |c| said(format!("类型不对，应为{}，收到{}", type_zh(&c[2]), type_zh(&c[1])))),
        rule(r"^invalid value: (.*), expected (.*)$", |c| said(format!("取值无效，应为{}，收到{}", type_zh(&c[2]), type_zh(&c[1])))),
        rule(r"^invalid length (\d+), expected (.*)$", |c| said(format!("长度不对，应为{}，收到 {} 项", type_zh(&c[2]), &c[1]))),
        rule(r"^duplicate field `([^`]*)`$", |c| said(format!("字段 {} 重复出现", &c[1]))),
        rule(r"^invalid digit found in string$", |_| said("应为整数")),
        rule(r"^cannot parse integer from empty string$", |_| said("不能为空，应为整数")),
        rule(r"^number too (?:large|small) to fit in target type$", |_| said("数值超出范围")),
        rule(r"^invalid float literal$", |_| said("应为数字")),
        rule(r"^provided string was not `true` or `false`$", |_| said("应为 true 或 false")),
        rule(r"^Cannot parse `([^`]*)` with value `([^`]*)` to a `([^`]*)`$", |c| Said {
            problem: format!("应为{}，收到“{}”", type_zh(&c[3]), &c[2]),
            names: Some(c[1].to_string()),
        }),
        rule(r"^Cannot parse `([^`]*)` to a `([^`]*)`$", |c| said(format!("应为{}，收到“{}”", type_zh(&c[2]), &c[1]))),
        rule(r"^Cannot parse `([^`]*)` with value `([^`]*)`: (.*)$", |c| Said {
            problem: problem_zh(&c[3]).problem,
            names: Some(c[1].to_string()),
        }),
        rule(r"^Invalid UTF-8 in `([^`]*)`$", |c| Said { problem: "含有无效的 UTF-8 编码".into(), names: Some(c[1].to_string()) }),
        rule(r"^Wrong number of path arguments", |_| said("路径参数个数不对")),
        rule(r"^EOF while parsing", |_| said("内容不完整（提前结束）")),
        rule(r"^expected value$", |_| said("不是有效的 JSON 值")),
        rule(r"^expected ident$", |_| said("不是有效的 JSON 值（true、false、null 拼写不对？）")),
        rule(r"^expected `(.)` or `(.)`$", |c| said(format!("此处应为“{}”或“{}”", &c[1], &c[2]))),
        rule(r"^expected `(.)`$", |c| said(format!("此处应为“{}”", &c[1]))),
        rule(r"^key must be a string$", |_| said("对象的键须为带引号的字符串")),
        rule(r"^trailing characters$", |_| said("JSON 之后还有多余的内容")),
        rule(r"^trailing comma$", |_| said("有多余的逗号")),
        rule(r"^control character .* found while parsing a string$", |_| said("字符串中含有未转义的控制字符")),
        rule(r"^invalid escape$", |_| said("字符串中有无效的转义")),
        rule(r"^(?:invalid unicode code point|lone leading surrogate in hex escape|unexpected end of hex escape)$", |_| {
            said("字符串中有无效的 Unicode 转义")
        }),
        rule(r"^invalid number$", |_| said("数字格式不对")),
        rule(r"^number out of range$", |_| said("数值超出范围")),
        rule(r"^recursion limit exceeded$", |_| said("嵌套层数过多")),
        rule(r"^(?:length limit exceeded|Failed to buffer the request body)", |_| said("请求体过大")),
        rule(r"^Request body didn't contain valid UTF-8", |_| said("请求体不是有效的 UTF-8 文本")),
    ]
});

/// One serde / axum message (no heading, no position) in Chinese.
fn problem_zh(english: &str) -> Said {
    for r in RULES.iter() {
        if let Some(c) = r.re.captures(english) {
            return (r.zh)(&c);
        }
    }
    said(format!("格式不正确（{english}）"))
}

/// The Chinese message for an axum rejection's text (`body_text()`): which part of the request
/// (body, query string, path), which field or parameter, the problem and, for JSON, where.
/// `route` is the matched route template and the request path, used to name a path parameter
/// when the message gives only its value. Never fails: text it does not know is kept, in
/// parentheses, after "格式不正确".
pub fn describe(text: &str, route: Option<(&str, &str)>) -> String {
    let mut rest = text.trim();
    let mut origin = None;
    for (heading, o) in HEADINGS {
        if let Some(r) = rest.strip_prefix(heading) {
            rest = r.trim_start_matches(':').trim_start();
            origin = Some(o);
            break;
        }
    }
    let syntax = text.starts_with("Failed to parse the request body as JSON");
    let mut position = None;
    let owned;
    if let Some(c) = POSITION.captures(rest) {
        position = Some(format!("第 {} 行第 {} 列", &c[1], &c[2]));
        owned = rest[..c.get(0).expect("match").start()].to_string();
        rest = &owned;
    }
    let mut field = None;
    let inner;
    if let Some(c) = FIELD_PATH.captures(rest) {
        if &c[1] != "?" && &c[1] != "." {
            field = Some(c[1].to_string());
        }
        inner = c[2].to_string();
        rest = &inner;
    }
    let origin = origin.unwrap_or(if rest.starts_with("Cannot parse") || rest.starts_with("Wrong number of path") {
        Origin::Path
    } else {
        Origin::Body
    });
    let said = problem_zh(rest);
    // `missing field` names the field inside the path serde reports.
    let field = match (field, said.names) {
        (Some(parent), Some(name)) if origin != Origin::Path => Some(format!("{parent}.{name}")),
        (_, Some(name)) => Some(name),
        (f, None) => f,
    };
    let field = match (origin, field, route) {
        (Origin::Path, None, Some((template, path))) => path_param(template, path, text),
        (_, f, _) => f,
    };
    let whole = match (origin, field) {
        (Origin::Body, _) if syntax => format!("请求体不是有效的 JSON：{}", said.problem),
        (Origin::Body, Some(f)) => format!("请求体中的字段 {f}：{}", said.problem),
        (Origin::Body, None) => format!("请求体无效：{}", said.problem),
        (Origin::Query, Some(f)) => format!("查询参数 {f}：{}", said.problem),
        (Origin::Query, None) => format!("查询参数无效：{}", said.problem),
        (Origin::Path, Some(f)) => format!("路径参数 {f}：{}", said.problem),
        (Origin::Path, None) => format!("路径参数无效：{}", said.problem),
    };
    match position {
        Some(p) => format!("{whole}（位置：{p}）"),
        None => whole,
    }
}

/// The name of the path parameter a rejection is about: the route's only parameter, or the
/// one whose value appears (backticked) in the message.
fn path_param(template: &str, path: &str, text: &str) -> Option<String> {
    let params: Vec<(&str, &str)> =
        template.split('/').zip(path.split('/')).filter_map(|(t, v)| Some((t.strip_prefix('{')?.strip_suffix('}')?, v))).collect();
    if let [(name, _)] = params.as_slice() {
        return Some(name.to_string());
    }
    let values: Vec<String> = BACKTICKED.captures_iter(text).map(|c| c[1].to_string()).collect();
    params.iter().find(|(_, v)| values.iter().any(|x| x == v)).map(|(n, _)| n.to_string())
}

impl From<JsonRejection> for ApiError {
    /// JSON body rejections (wrong type, missing or unknown field, bad JSON, too large, wrong
    /// content type) in the same shape, in Chinese.
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge("请求体过大".into()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::UnsupportedMediaType("请求体须为 JSON（Content-Type: application/json）".into())
            }
            _ => ApiError::BadRequest(describe(&r.body_text(), None)),
        }
    }
}

impl From<QueryRejection> for ApiError {
    /// Query-string rejections, naming the parameter and what it should be.
    fn from(r: QueryRejection) -> Self {
        ApiError::BadRequest(describe(&r.body_text(), None))
    }
}

/// A size for people: `10 MB`, `1.5 MB`, `16 KB`, `900 字节`.
pub fn size_zh(bytes: usize) -> String {
    const KB: usize = 1024;
    const MB: usize = 1024 * 1024;
    if bytes >= MB {
        let mb = bytes as f64 / MB as f64;
        if bytes.is_multiple_of(MB) {
            format!("{} MB", bytes / MB)
        } else {
            format!("{mb:.1} MB")
        }
    } else if bytes >= KB {
        format!("{} KB", bytes / KB)
    } else {
        format!("{bytes} 字节")
    }
}

/// Largest error body read back to translate it (rejection texts are short).
const MAX_ERROR_BODY: usize = 16 * 1024;

fn is_json(res: &Response) -> bool {
    let ct = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    ct.starts_with("application/json") || ct.starts_with("application/problem+json")
}

/// Middleware for JSON bodies: a string holding the NUL character (`\u0000`) is refused with
/// 422 naming it. No stored text needs one, and PostgreSQL's text columns cannot hold it (it
/// would fail the write as a database error). Other bodies (uploaded files) pass untouched; a
/// body over the limit is left to the limit's 413.
pub async fn no_nul_in_json(req: Request, next: Next) -> Response {
    let json = req.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
    if !json {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return ApiError::BadRequest("请求中含有空字符（\\u0000），请删除后重试".into()).into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// Middleware: every 4xx / 5xx response that is not already JSON becomes the documented
/// `{"error": {"code", "message"}}` body, in Chinese — extractor rejections (bad path
/// parameter, bad query string, bad JSON), the body limit's 413, unknown routes (404) and
/// wrong methods (405; the router adds `Allow`). The original headers stay, except the body's. Responses that are JSON or successful pass untouched.
/// A body that cannot be read is described by its status alone.
pub async fn json_errors(State(app): State<App>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let template = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&res) {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_BODY).await.map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
    let shown_path: String = path.chars().take(200).collect();
    let route = template.as_deref().map(|t| (t, path.as_str()));
    let err = match status {
        StatusCode::NOT_FOUND if template.is_none() && path.starts_with("/api/") => {
            ApiError::NotFound(format!("接口不存在：{method} {shown_path}"))
        }
        StatusCode::NOT_FOUND if template.is_none() => ApiError::NotFound(format!("页面不存在：{shown_path}")),
        StatusCode::NOT_FOUND => ApiError::NotFound("未找到".into()),
        // The methods it takes are in `Allow`, which the router adds after this middleware.
        StatusCode::METHOD_NOT_ALLOWED => {
            ApiError::MethodNotAllowed(format!("{shown_path} 不支持 {method} 请求（可用的方法见响应头 Allow）"))
        }
        StatusCode::PAYLOAD_TOO_LARGE if method == axum::http::Method::POST && path.ends_with("/uploads") => {
            ApiError::TooLarge(format!("文件过大：单个文件最大 {}", size_zh(app.config.max_upload_bytes)))
        }
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!("请求体过大：最多 {}", size_zh(app.config.max_body_bytes))),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType("请求体须为 JSON（Content-Type: application/json）".into()),
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        StatusCode::FORBIDDEN => ApiError::Forbidden("无权访问".into()),
        StatusCode::TOO_MANY_REQUESTS => {
            let secs = parts.headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1);
            ApiError::RateLimited(format!("请求过于频繁，请 {secs} 秒后再试"), secs)
        }
        StatusCode::SERVICE_UNAVAILABLE => ApiError::Unavailable(format!("服务暂不可用：{}", text.chars().take(200).collect::<String>())),
        s if s.is_server_error() => ApiError::Internal(format!("{status}: {text}")),
        _ if text.trim().is_empty() => ApiError::BadRequest(format!("请求无效（HTTP {}）", status.as_u16())),
        _ => ApiError::BadRequest(describe(&text, route)),
    };
    // Headers the original answer had (`Allow`, `Connection: close` after an unread body …)
    // stay, except the body's own.
    let mut out = err.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH && !out.headers().contains_key(name) {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_named() {
        let m = describe("Invalid URL: Cannot parse `abc` to a `i64`", Some(("/api/v1/agent/tickets/{id}", "/api/v1/agent/tickets/abc")));
        assert_eq!(m, "路径参数 id：应为整数，收到“abc”");
        let m = describe("Invalid URL: Cannot parse `n` with value `x` to a `u32`", None);
        assert_eq!(m, "路径参数 n：应为非负整数，收到“x”");
    }

    #[test]
    fn json_syntax_and_shape_errors_are_chinese() {
        const DATA: &str = "Failed to deserialize the JSON body into the target type";
        assert_eq!(
            describe("Failed to parse the request body as JSON: EOF while parsing a value at line 1 column 0", None),
            "请求体不是有效的 JSON：内容不完整（提前结束）（位置：第 1 行第 0 列）"
        );
        assert_eq!(
            describe(&format!("{DATA}: text: invalid type: integer `1`, expected a string at line 1 column 9"), None),
            "请求体中的字段 text：类型不对，应为字符串，收到整数 1（位置：第 1 行第 9 列）"
        );
        assert_eq!(
            describe(&format!("{DATA}: missing field `password` at line 1 column 20"), None),
            "请求体中的字段 password：缺少此项（位置：第 1 行第 20 列）"
        );
        assert_eq!(
            describe(&format!("{DATA}: unknown field `x`, expected `username` or `password` at line 1 column 4"), None),
            "请求体无效：有不认识的字段 x（可用的字段：username、password）（位置：第 1 行第 4 列）"
        );
    }

    #[test]
    fn query_errors_name_the_parameter() {
        assert_eq!(describe("Failed to deserialize query string: limit: invalid digit found in string", None), "查询参数 limit：应为整数");
        assert_eq!(
            describe("Failed to deserialize query string: view: unknown variant `all`, expected one of `queue`, `mine`", None),
            "查询参数 view：取值“all”无效（可选：queue、mine）"
        );
    }

    #[test]
    fn sizes_read_well() {
        let sizes = [size_zh(10 * 1024 * 1024), size_zh(1536 * 1024), size_zh(16 * 1024), size_zh(900)];
        assert_eq!(sizes, ["10 MB", "1.5 MB", "16 KB", "900 字节"]);
    }

    #[test]
    fn unknown_text_is_kept_after_a_chinese_lead() {
        assert!(describe("something odd", None).starts_with("请求体无效：格式不正确（something odd）"));
    }
}
