//! Uploading materials and pre-reviewing them (智能预审).
//!
//! `POST /sessions/{id}/uploads` takes one file (multipart field `file`, optional `material`
//! naming which material it is). The type is decided by magic bytes, sizes and pages are bounded
//! before decoding, the bytes are stored content-addressed (sha256) in the data dir before the
//! row is written, and the text is read (PDF text; OCR for images and scanned pages, on the
//! compute thread). Fields read from it pre-fill the open form. `POST /sessions/{id}/prereview`
//! checks the session's uploads against the form's material list and stores the report; a
//! second failing report in a row hands the conversation to a person.

use std::collections::BTreeMap;
use std::path::Path;

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use banshi_assistant::apply::FormView;
use banshi_assistant::forms::fill::FormProgress;
use banshi_assistant::forms::prefill::{prefill_from_materials, MaterialFields};
use banshi_assistant::handoff::{Handoff, HandoffReason};
use banshi_assistant::prereview::{self, report::recognise, Analysed, Limits, Report, UploadError, Verdict};
use banshi_assistant::ItemRef;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::sessions::authorize;
use crate::error::{ApiError, ErrorBody};
use crate::store::{NewMessage, NewUpload, Role, Upload};
use crate::{handoff, App};

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::TooLarge(..) => ApiError::TooLarge(e.to_string()),
            UploadError::Unsupported(m) => ApiError::UnsupportedMediaType(m),
            UploadError::Invalid(m) => ApiError::BadRequest(m),
            UploadError::Ocr(_) => ApiError::Unavailable(e.to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    pub upload: Upload,
    /// The open form after the upload's fields pre-filled it, if a form is open.
    pub form: Option<FormView>,
}

/// Store `bytes` under `dir/ab/abcdef…` unless already there (written to a temporary name, then
/// renamed, so a reader never sees half a file). Uploads are identity documents: directories are
/// created 0700 and files 0600 ([`banshi_knowledge::private`]). Fails when the directory or file
/// cannot be created, written or renamed.
fn store_file(dir: &Path, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
    use banshi_knowledge::private;
    let sub = dir.join(&sha[..2]);
    let path = sub.join(sha);
    if path.exists() {
        return Ok(());
    }
    private::create_dir_all(&sub)?;
    let tmp = sub.join(format!("{sha}.tmp{}", std::process::id()));
    private::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)
}

/// A multipart read that failed: over the body limit (413, in the file size the citizen knows),
/// or `what` went wrong (the parser's English detail is not shown).
fn multipart_error(e: &axum::extract::multipart::MultipartError, what: &str, max: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(format!("文件过大：单个文件最大 {}", crate::error::rejection::size_zh(max)))
    } else {
        ApiError::BadRequest(format!("{what}，请重新上传"))
    }
}

/// A file name fit to show: no path, no control characters, at most 100 characters.
fn clean_name(raw: Option<&str>) -> String {
    let base = raw.unwrap_or("材料").rsplit(['/', '\\']).next().unwrap_or("材料");
    let name: String = base.chars().filter(|c| !c.is_control()).take(100).collect();
    if name.trim().is_empty() {
        "材料".into()
    } else {
        name
    }
}

/// Upload one material (multipart: `file`, optional `material`).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/uploads", params(("id" = String, Path)),
    request_body(content_type = "multipart/form-data", description = "`file`: PDF, JPEG or PNG; `material` (optional): which material it is"),
    responses((status = 201, body = Uploaded), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 409, description = "the session's upload count or bytes are used up", body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "too many uploads, or the service's daily upload budget is used up; see Retry-After", body = ErrorBody)),
    security(("bearer" = [])), tag = "prereview")]
pub async fn upload(
    State(app): State<App>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let mut session = authorize(&app, &id, &headers).await?;
    let mut multipart = multipart.map_err(|_| ApiError::BadRequest("请以 multipart/form-data 上传文件（文件字段名为 file）".into()))?;
    if app.store.count_uploads(&id).await? >= app.config.max_uploads_per_session {
        return Err(ApiError::Conflict(format!("本次咨询最多上传 {} 个文件", app.config.max_uploads_per_session)));
    }
    // Bytes left for this session and for the service today (from the store); checked as the file streams in.
    let room = crate::limits::UploadRoom::of(&app, &id).await?;
    let max = app.config.max_upload_bytes;
    let (mut file, mut file_name, mut declared) = (None, None, None);
    while let Some(mut field) = multipart.next_field().await.map_err(|e| multipart_error(&e, "上传内容不完整", max))? {
        match field.name() {
            Some("file") => {
                file_name = Some(clean_name(field.file_name()));
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e, "上传中断", max))? {
                    if bytes.len() + chunk.len() > max {
                        return Err(UploadError::TooLarge((bytes.len() + chunk.len()).div_ceil(1024 * 1024), max / (1024 * 1024)).into());
                    }
                    room.check((bytes.len() + chunk.len()) as u64)?;
                    bytes.extend_from_slice(&chunk);
                }
                file = Some(bytes);
            }
            Some("material") => {
                let m = field.text().await.map_err(|e| ApiError::BadRequest(format!("material 无效：{e}")))?;
                let m = m.trim().chars().take(100).collect::<String>();
                declared = (!m.is_empty()).then_some(m);
            }
            Some(other) => return Err(ApiError::BadRequest(format!("未知字段 {other:?}：只接受 file 和 material"))),
            None => return Err(ApiError::BadRequest("上传字段缺少名称".into())),
        }
    }
    let bytes = file.ok_or_else(|| ApiError::BadRequest("没有收到文件（字段名应为 file）".into()))?;
    if bytes.is_empty() {
        return Err(ApiError::BadRequest("文件为空".into()));
    }
    let limits = Limits { max_bytes: max, ..Limits::default() };
    let doc = prereview::read(&bytes, limits, app.assistant.compute.as_ref()).await?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let dir = app.config.uploads_dir.clone();
    let (sha_c, bytes_len) = (sha.clone(), bytes.len());
    tokio::task::spawn_blocking(move || store_file(&dir, &sha_c, &bytes))
        .await
        .map_err(|e| ApiError::Internal(format!("storing an upload: {e}")))?
        .map_err(|e| ApiError::Unavailable(format!("无法保存文件：{e}")))?;
    let recognised = recognise(&doc);
    let new = NewUpload {
        session_id: id.clone(),
        sha256: sha,
        file_name: file_name.unwrap_or_else(|| "材料".into()),
        kind: doc.kind,
        size: bytes_len,
        declared,
        document: doc,
        recognised,
    };
    let files = app.config.max_uploads_per_session;
    let Some(upload) = app.store.add_upload(new, &room.quota(files)).await? else {
        // Another upload of this session (or today's others) took the room meanwhile: the
        // insert refused it; say which limit, as the early checks would have.
        if app.store.count_uploads(&id).await? >= files {
            return Err(ApiError::Conflict(format!("本次咨询最多上传 {files} 个文件")));
        }
        crate::limits::UploadRoom::of(&app, &id).await?.check(bytes_len as u64)?;
        return Err(ApiError::Conflict("上传文件总量已达上限，无法继续上传".into()));
    };
    tracing::info!(session = %id, upload = upload.id, kind = ?upload.recognised.kind, "material uploaded");
    // Fields read from the material pre-fill the open form.
    let mut form = None;
    let before = session.state.clone();
    if let Some(p) = session.state.form.as_mut() {
        prefill_from_materials(p, &[material_fields(&upload)]);
        form = Some(FormView::of(p));
        crate::dialogue_state::save(&app, &mut session, &before).await?;
    }
    let text = format!("上传材料：{}（识别为{}）", upload.file_name, upload.kind_zh());
    let meta = json!({"upload": {"id": upload.id, "name": upload.file_name, "kind": upload.kind_zh(), "sha256": upload.sha256}});
    app.store
        .add_message(NewMessage { session_id: id, role: Some(Role::User), text, kind: Some("upload".into()), meta, ..Default::default() })
        .await?;
    Ok((StatusCode::CREATED, Json(Uploaded { upload, form })))
}

/// What pre-fill may take from an upload: its fields under the material's name.
fn material_fields(u: &Upload) -> MaterialFields {
    let mut fields: BTreeMap<String, String> = u.recognised.fields.clone();
    if let Some(first) = fields.get("公民身份号码").and_then(|v| v.split(',').next()).map(str::to_string) {
        fields.insert("公民身份号码".into(), first);
    }
    MaterialFields { material: u.declared.clone().unwrap_or_else(|| u.recognised.kind.zh().to_string()), fields }
}

/// The session's uploads, oldest first.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/uploads", params(("id" = String, Path)),
    responses((status = 200, body = [Upload]), (status = 401, body = ErrorBody)), security(("bearer" = [])), tag = "prereview")]
pub async fn list(State(app): State<App>, UrlPath(id): UrlPath<String>, headers: HeaderMap) -> Result<Json<Vec<Upload>>, ApiError> {
    authorize(&app, &id, &headers).await?;
    Ok(Json(app.store.uploads(&id).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrereviewRequest {
    /// Item or bundle code; default: the form open in the chat.
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PrereviewAnswer {
    pub report_id: i64,
    #[schema(value_type = Object)]
    pub report: Report,
    /// Set when a second failing review handed the conversation to a person.
    pub ticket_id: Option<i64>,
    /// Set when that handoff could not be opened (too many handoffs): what to tell the
    /// citizen instead. The report is stored either way.
    pub handoff_refused: Option<String>,
}

/// Pre-review the session's uploads against the material list of the open form (or `target`).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/prereview", params(("id" = String, Path)), request_body = PrereviewRequest,
    responses((status = 200, body = PrereviewAnswer), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "prereview")]
pub async fn prereview(
    State(app): State<App>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Result<Json<PrereviewRequest>, JsonRejection>,
) -> Result<Json<PrereviewAnswer>, ApiError> {
    // No body at all means: the open form.
    let req = match body {
        Ok(Json(b)) => b,
        Err(JsonRejection::MissingJsonContentType(_)) => PrereviewRequest::default(),
        Err(e) => return Err(e.into()),
    };
    let session = authorize(&app, &id, &headers).await?;
    let progress: FormProgress = match (&req.target, &session.state.form) {
        (None, Some(p)) => (**p).clone(),
        (Some(code), Some(p)) if p.spec.target.code() == code => (**p).clone(),
        (Some(code), _) => FormProgress::new(
            app.assistant.form_spec(code).await?.ok_or_else(|| ApiError::NotFound(format!("事项 {code} 不存在或没有材料清单")))?,
        ),
        (None, None) => return Err(ApiError::NotFound("请先选择要办理的事项（或传入 target）".into())),
    };
    let view = FormView::of(&progress);
    let uploads: Vec<Analysed> = app
        .store
        .uploads(&id)
        .await?
        .into_iter()
        .map(|u| Analysed { upload_id: u.id, file_name: u.file_name, doc: u.document, declared: u.declared })
        .collect();
    let values = progress.plain_values();
    let report = prereview::review(progress.spec.target.name(), &view.materials, &uploads, &values, chrono::Local::now().date_naive());
    let code = progress.spec.target.code().to_string();
    let earlier_failed = app.store.reports(&id, &code).await?.first().is_some_and(|r| r.report.verdict == Verdict::Fail);
    let stored = app.store.add_report(&id, &code, &report).await?;
    tracing::info!(session = %id, target = %code, verdict = ?report.verdict, "pre-review");
    let meta = json!({"prereview": {"report_id": stored.id, "report": report}});
    app.store
        .add_message(NewMessage {
            session_id: id.clone(),
            role: Some(Role::Assistant),
            text: report.summary.clone(),
            kind: Some("prereview".into()),
            meta,
            ..Default::default()
        })
        .await?;
    let (mut ticket_id, mut handoff_refused) = (None, None);
    if report.verdict == Verdict::Fail && earlier_failed && app.store.open_ticket(&id).await?.is_none() {
        let h = Handoff {
            reason: HandoffReason::PrereviewFailed,
            question: format!("“{}”材料预审两次未通过", progress.spec.target.name()),
            appeal: None,
            item: Some(ItemRef { code: code.clone(), name: progress.spec.target.name().to_string() }),
            item_department: None,
        };
        // The report is stored: a refused handoff must not turn the answer into an error.
        match handoff::open(&app, &id, &h).await {
            Ok(t) => ticket_id = Some(t.id),
            Err(e) => {
                tracing::warn!(session = %id, "pre-review handoff refused: {e}");
                handoff_refused = Some(handoff::refused_message(&e));
            }
        }
    }
    Ok(Json(PrereviewAnswer { report_id: stored.id, report, ticket_id, handoff_refused }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(clean_name(Some("../../etc/passwd")), "passwd");
        assert_eq!(clean_name(Some("C:\\Users\\a\\身份证.jpg")), "身份证.jpg");
        assert_eq!(clean_name(Some("a\u{0}b")), "ab");
        assert_eq!(clean_name(None), "材料");
    }

    #[test]
    fn files_are_stored_once_by_content() {
        let dir = tempfile::tempdir().unwrap();
        store_file(dir.path(), "abcdef", b"x").unwrap();
        store_file(dir.path(), "abcdef", b"x").unwrap();
        assert_eq!(std::fs::read(dir.path().join("ab/abcdef")).unwrap(), b"x");
        assert_eq!(std::fs::read_dir(dir.path().join("ab")).unwrap().count(), 1, "no temporary file left");
    }
}
