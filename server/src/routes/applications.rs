//! Applying from the chat: the open form (read it, correct a field), submitting an application
//! (every value re-checked against the live guides before anything is stored; a tracking number
//! back), the session's applications, progress by tracking number, and the departments' side
//! (`/agent/applications`: list, read, move the status on).
//!
//! A submission is all-or-nothing: with any invalid, unknown or missing field the answer is 422
//! `invalid_fields` naming each problem, and nothing is stored.

use std::collections::BTreeMap;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use banshi_assistant::apply::FormView;
use banshi_assistant::forms::fill::ValueSource;
use banshi_assistant::forms::Target;
use banshi_assistant::records::{describe, ApplicationView};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::sessions::authorize;
use crate::auth::{bearer, hash_token, Agent};
use crate::error::{ApiError, ErrorBody};
use crate::records::view;
use crate::store::{
    AppEvent, AppStatus, Application, NewApplication, NewAudit, NewMessage, OfferStatus, ProxyGrant, Role, Session, StoreError,
};
use crate::App;

/// The form open in the session; 404 when none is.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/form", params(("id" = String, Path)),
    responses((status = 200, body = FormView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])), tag = "applications")]
pub async fn form(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<FormView>, ApiError> {
    let session = authorize(&app, &id, &headers).await?;
    let p = session.state.form.ok_or_else(|| ApiError::NotFound("当前没有正在填写的表单".into()))?;
    Ok(Json(FormView::of(&p)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditField {
    pub key: String,
    pub value: String,
}

/// Set one field of the open form (the citizen typed or corrected it). 422 `invalid_fields`
/// with the reason when the value is not valid; the form keeps its earlier value.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/form", params(("id" = String, Path)), request_body = EditField,
    responses((status = 200, body = FormView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "applications")]
pub async fn edit_field(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<EditField>, JsonRejection>,
) -> Result<Json<FormView>, ApiError> {
    let Json(req) = body?;
    let mut session = authorize(&app, &id, &headers).await?;
    let before = session.state.clone();
    let mut p = session.state.form.take().ok_or_else(|| ApiError::NotFound("当前没有正在填写的表单".into()))?;
    let mut trial = (*p).clone();
    if let Err(e) = trial.offer(&req.key, &req.value, ValueSource::Citizen) {
        return Err(ApiError::InvalidFields(e.clone(), BTreeMap::from([(req.key, e)])));
    }
    *p = trial;
    let view = FormView::of(&p);
    session.state.form = Some(p);
    crate::dialogue_state::save(&app, &mut session, &before).await?;
    Ok(Json(view))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submit {
    /// Item or bundle code (`BUNDLE-…`).
    pub target: String,
    /// Field key → value, as the form shows them.
    pub values: BTreeMap<String, String>,
}

/// Submit an application. 201 with its tracking number; 422 `invalid_fields` naming every
/// problem (nothing stored); 404 when the item has no online form.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/applications", params(("id" = String, Path)), request_body = Submit,
    responses((status = 201, body = Application), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "applications")]
pub async fn submit(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Submit>, JsonRejection>,
) -> Result<(StatusCode, Json<Application>), ApiError> {
    let Json(req) = body?;
    let mut session = authorize(&app, &id, &headers).await?;
    if req.values.len() > 200 {
        return Err(ApiError::BadRequest("表单字段过多".into()));
    }
    let spec = app
        .assistant
        .form_spec(&req.target)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("事项 {} 不存在或不支持在线申请", req.target)))?;
    if session.state.acting_for.is_some() {
        // Acting for someone needs a sign-in that has not run out.
        super::citizen::signed_in_session(&app, &id, &headers).await?;
    }
    let on_behalf = on_behalf(&app, &session, &spec.target).await?;
    let clean = spec
        .check_submission(&req.values)
        .map_err(|e| ApiError::InvalidFields(format!("有 {} 项需要修改，请按提示更正后再提交", e.len()), e))?;
    // Sources and 免提交 marks come from the form filled in this chat, when it is this one.
    let open = session.state.form.as_ref().filter(|p| p.spec.target.code() == spec.target.code());
    let sources: BTreeMap<&String, String> = clean
        .iter()
        .map(|(k, v)| {
            let from_chat = open.and_then(|p| p.values.get(k)).filter(|fv| &fv.value == v).map(|fv| fv.source.label());
            (k, from_chat.unwrap_or_else(|| ValueSource::Citizen.label()))
        })
        .collect();
    let materials = match open {
        Some(p) => FormView::of(p).materials,
        None => banshi_assistant::apply::materials_view(&spec, &Default::default()),
    };
    let kind = match spec.target {
        Target::Item { .. } => "item",
        Target::Bundle { .. } => "bundle",
    };
    let new = NewApplication {
        session_id: id.clone(),
        citizen_id: on_behalf.as_ref().map(|b| b.grant.principal_id).or(session.state.citizen_id),
        target_kind: kind.into(),
        target_code: spec.target.code().to_string(),
        target_name: spec.target.name().to_string(),
        values: json!(clean),
        value_sources: json!(sources),
        materials: json!(materials),
        promised_days: spec.promised_days,
        proxy_id: on_behalf.as_ref().map(|b| b.proxy),
        actor: on_behalf
            .as_ref()
            .map_or_else(|| "citizen".into(), |b| format!("代办：{} 为 {}", b.grant.proxy_name, b.grant.principal_name)),
    };
    let mut a = app.store.submit(new).await?;
    if let Some(b) = &on_behalf {
        audit_proxy_submit(&app, b, &a).await;
    }
    // Applying for something on offer (一键确认 that needed fields added) takes the offer up.
    if let Some(cid) = a.citizen_id.filter(|_| on_behalf.is_none()) {
        match app.store.move_offer(cid, &a.target_code, &[OfferStatus::Open], OfferStatus::Accepted, Some(&a.tracking_no)).await {
            Ok(_) | Err(StoreError::NotFound(_) | StoreError::Conflict(_)) => {}
            Err(e) => tracing::warn!(application = %a.tracking_no, "taking up the offer: {e}"),
        }
    }
    // The latest pre-review of this target goes with the application to the department.
    if let Some(r) = app.store.reports(&id, &a.target_code).await?.into_iter().next() {
        app.store.attach_report(a.id, &r.report).await?;
        a.prereview = Some(serde_json::to_value(&r.report).expect("reports serialise"));
    }
    tracing::info!(session = %id, application = %a.tracking_no, target = %a.target_code, "application submitted");
    // The conversation remembers what it submitted, so “办到哪了” needs no number.
    let before = session.state.clone();
    if open.is_some() {
        session.state.form = None;
    }
    session.state.submitted.push(a.tracking_no.clone());
    crate::dialogue_state::save(&app, &mut session, &before).await?;
    let text = format!(
        "“{}”已{}提交，受理编号 {}。部门受理后开始计算承诺时限{}，您可随时发送“进度查询 {}”查看办理进度。",
        a.target_name,
        on_behalf.as_ref().map(|b| format!("代{}", b.grant.principal_name)).unwrap_or_default(),
        a.tracking_no,
        a.promised_days.map(|d| format!("（{d} 个工作日）")).unwrap_or_default(),
        a.tracking_no
    );
    let note = NewMessage {
        session_id: id,
        role: Some(Role::Assistant),
        text,
        kind: Some("submitted".into()),
        meta: json!({"application": view(&a)}),
        ..Default::default()
    };
    app.store.add_message(note).await?;
    Ok((StatusCode::CREATED, Json(a)))
}

/// A submission made by a relative acting on a grant (亲友代办).
struct OnBehalf {
    grant: ProxyGrant,
    proxy: i64,
}

/// The grant this submission is made on, checked now: 403 with the reason when the session
/// acts for someone and the grant was revoked, has expired or does not cover `target`.
async fn on_behalf(app: &App, session: &Session, target: &Target) -> Result<Option<OnBehalf>, ApiError> {
    let Some(acting) = &session.state.acting_for else { return Ok(None) };
    let proxy = session.state.citizen_id.ok_or_else(|| ApiError::Forbidden("请先登录，再代他人办理".into()))?;
    let grant = app.store.grant(acting.grant_id).await?.ok_or_else(|| ApiError::Forbidden("代办授权不存在".into()))?;
    if let Some(why) = grant.refusal(proxy, Some((target.code(), target.name())), &crate::store::now()) {
        return Err(ApiError::Forbidden(why));
    }
    Ok(Some(OnBehalf { grant, proxy }))
}

async fn audit_proxy_submit(app: &App, b: &OnBehalf, a: &Application) {
    let e = NewAudit {
        actor: format!("citizen:{}", b.proxy),
        action: "application.proxy_submit".into(),
        entity: "application".into(),
        entity_id: a.tracking_no.clone(),
        before: None,
        after: Some(json!({"on_behalf_of": b.grant.principal_id, "by": b.proxy, "grant": b.grant.id, "target": a.target_code,
            "note": format!("代办：{} 为 {}", b.grant.proxy_name, b.grant.principal_name)})),
    };
    if let Err(err) = app.store.record(e).await {
        tracing::error!(application = %a.tracking_no, "auditing a proxy submission: {err}");
    }
}

/// The session's applications, newest last.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/applications", params(("id" = String, Path)),
    responses((status = 200, body = [Application]), (status = 401, body = ErrorBody)), security(("bearer" = [])), tag = "applications")]
pub async fn of_session(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Vec<Application>>, ApiError> {
    authorize(&app, &id, &headers).await?;
    Ok(Json(app.store.session_applications(&id).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    pub application: ApplicationView,
    /// The answer in Chinese: status and working days left against the promised limit.
    pub message: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgressQuery {
    /// The last 4 digits of the phone number given in the application; not needed with the
    /// bearer token of the session that submitted it.
    pub phone_last4: Option<String>,
}

/// Progress by tracking number (进度查询). Shows no personal data, like the counter's screen.
/// Tracking numbers can be guessed, so a second factor is required: `phone_last4` matching the
/// application's phone, or the bearer token of the session that submitted it. Without either,
/// 422 before anything is looked up; with a wrong one, the same 404 as an unknown number, so
/// guesses learn nothing. Look-ups are rate-limited per client address.
#[utoipa::path(get, path = "/api/v1/applications/{tracking_no}", params(("tracking_no" = String, Path), ProgressQuery),
    responses((status = 200, body = Progress), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "too many look-ups from this address; see Retry-After", body = ErrorBody)),
    security((), ("bearer" = [])), tag = "applications")]
pub async fn progress(
    State(app): State<App>,
    Path(no): Path<String>,
    headers: HeaderMap,
    q: Result<Query<ProgressQuery>, QueryRejection>,
) -> Result<Json<Progress>, ApiError> {
    let Query(q) = q?;
    let no = no.trim().to_uppercase();
    let last4 = q.phone_last4.as_deref().map(str::trim).filter(|l| !l.is_empty());
    if last4.is_some_and(|l| l.len() != 4 || !l.bytes().all(|b| b.is_ascii_digit())) {
        return Err(ApiError::BadRequest("phone_last4 须为申请时所留联系电话的后 4 位数字".into()));
    }
    let token = bearer(&headers);
    if last4.is_none() && token.is_none() {
        return Err(ApiError::BadRequest("查询办理进度须提供申请时所留联系电话的后 4 位（phone_last4），或在提交申请的会话中查询".into()));
    }
    let not_found = || ApiError::NotFound(format!("没有查到受理编号 {no} 的申请，请核对编号和联系电话后四位"));
    let a = app.store.application(&no).await?.ok_or_else(not_found)?;
    let phone: String = a.values.get("phone").and_then(|p| p.as_str()).unwrap_or_default().chars().filter(char::is_ascii_digit).collect();
    let by_phone = last4.is_some_and(|l| phone.len() >= 4 && phone.ends_with(l));
    let by_session = match token {
        Some(t) if !by_phone => app.store.session(&a.session_id).await?.is_some_and(|s| s.token_hash == hash_token(t)),
        _ => false,
    };
    if !by_phone && !by_session {
        return Err(not_found());
    }
    let application = view(&a);
    let message = describe(&application, chrono::Local::now().date_naive());
    Ok(Json(Progress { application, message }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppQuery {
    /// Only applications in this status (`submitted`, `accepted`, `in_review`, `done`, `returned`).
    pub status: Option<String>,
}

fn parse_status(s: &str) -> Result<AppStatus, ApiError> {
    AppStatus::parse(s).map_err(|_| ApiError::BadRequest(format!("未知状态 {s:?}：可选 submitted、accepted、in_review、done、returned")))
}

/// Applications for the departments, newest first (at most 200).
#[utoipa::path(get, path = "/api/v1/agent/applications", params(AppQuery),
    responses((status = 200, body = [Application]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn list(
    State(app): State<App>,
    _agent: Agent,
    q: Result<Query<AppQuery>, QueryRejection>,
) -> Result<Json<Vec<Application>>, ApiError> {
    let Query(q) = q?;
    let status = q.status.as_deref().map(parse_status).transpose()?;
    Ok(Json(app.store.applications(status, 200).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldLabel {
    pub key: String,
    pub label: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationDetail {
    #[serde(flatten)]
    pub application: Application,
    /// Every status change, oldest first (who, when, the note).
    pub history: Vec<AppEvent>,
    /// The form's fields in its order, with their labels (from the live guides; empty when the
    /// item no longer has a form, and the console then shows the keys).
    pub fields: Vec<FieldLabel>,
}

/// One application with its values and their sources, its status history and the form's field
/// labels. 404 for an unknown tracking number.
#[utoipa::path(get, path = "/api/v1/agent/applications/{tracking_no}", params(("tracking_no" = String, Path)),
    responses((status = 200, body = ApplicationDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn detail(State(app): State<App>, _agent: Agent, Path(no): Path<String>) -> Result<Json<ApplicationDetail>, ApiError> {
    let application = app.store.application(&no).await?.ok_or_else(|| ApiError::NotFound(format!("受理编号 {no} 不存在")))?;
    let history = app.store.application_history(&no).await?;
    let fields = match app.assistant.form_spec(&application.target_code).await {
        Ok(spec) => spec.map(|s| s.fields.into_iter().map(|f| FieldLabel { key: f.key, label: f.label }).collect()).unwrap_or_default(),
        Err(e) => {
            tracing::warn!(application = %no, "the form's labels: {e}");
            Vec::new()
        }
    };
    Ok(Json(ApplicationDetail { application, history, fields }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusChange {
    /// `accepted`, `in_review`, `done` or `returned`.
    pub status: String,
    /// Required when returning: what the citizen must correct.
    #[serde(default)]
    pub note: Option<String>,
}

/// Move an application on (受理 → 审核 → 办结, or 退回 with the reasons; see
/// [`AppStatus::next`]). 409 naming the current status and the allowed steps when the step may
/// not follow it (also when another member of staff moved it first); the store decides in one
/// conditional update and records the step. The citizen's chat gets a message.
#[utoipa::path(post, path = "/api/v1/agent/applications/{tracking_no}/status", params(("tracking_no" = String, Path)), request_body = StatusChange,
    responses((status = 200, body = Application), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn set_status(
    State(app): State<App>,
    Agent(staff): Agent,
    Path(no): Path<String>,
    body: Result<Json<StatusChange>, JsonRejection>,
) -> Result<Json<Application>, ApiError> {
    let Json(req) = body?;
    let to = parse_status(&req.status)?;
    let note = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if to == AppStatus::Returned && note.is_none() {
        return Err(ApiError::BadRequest("退回申请须写明原因，告诉市民要补正什么".into()));
    }
    if note.is_some_and(|n| n.chars().count() > 1000) {
        return Err(ApiError::BadRequest("说明过长，请控制在 1000 字以内".into()));
    }
    let a = app.store.set_status(&no, to, note, &staff.actor()).await?;
    tracing::info!(application = %no, status = to.as_str(), by = %staff.0.username, "application status changed");
    let text = describe(&view(&a), chrono::Local::now().date_naive());
    let m = NewMessage {
        session_id: a.session_id.clone(),
        role: Some(Role::System),
        text,
        kind: Some("progress".into()),
        meta: json!({"application": view(&a)}),
        ..Default::default()
    };
    match app.store.add_message(m).await {
        Ok(m) => app.live.to_citizen(&a.session_id, crate::live::CitizenEvent::Message { message: m }),
        Err(e) => tracing::error!(application = %no, "telling the citizen: {e}"),
    }
    Ok(Json(a))
}
