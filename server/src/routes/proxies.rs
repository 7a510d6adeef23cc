//! 亲友代办 over HTTP. A signed-in citizen authorises a relative (who has an account) for listed
//! items or bundles for up to a year, and can revoke it; the relative, signed in as themselves,
//! starts acting for them in a chat session. While acting, forms are pre-filled from the
//! principal's records within the scope only, and every submission is checked again against
//! the grant (revoked, expired, out of scope are refused with the reason) and recorded as
//! “代办：X 为 Y” in the application's history and the audit log. Someone acting for another
//! cannot authorise anyone (no proxy of a proxy). The principal sees what was done for them.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use banshi_assistant::ActingFor;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::citizen::signed_in_session;
use crate::error::{ApiError, ErrorBody};
use crate::store::{now, stamp, Citizen, NewAudit, ProxyGrant};
use crate::App;

/// The longest a grant may last.
const MAX_DAYS: u32 = 365;
const MAX_SCOPE: usize = 20;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    /// The relative's account.
    pub proxy_username: String,
    /// The relative's name as their account has it (a check against typing the wrong account).
    pub proxy_name: String,
    /// Item or bundle codes they may apply for.
    pub scope: Vec<String>,
    /// How long the grant lasts, 1–365 days.
    pub days: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    #[serde(flatten)]
    pub grant: ProxyGrant,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    /// The names of the scope's items, in its order.
    pub scope_names: Vec<String>,
}

/// An application a proxy submitted for the principal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProxyAction {
    pub tracking_no: String,
    pub target_name: String,
    pub proxy_name: String,
    pub status: String,
    pub submitted_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Grants {
    /// Grants this citizen gave.
    pub given: Vec<GrantView>,
    /// Grants this citizen received.
    pub received: Vec<GrantView>,
    /// Whom this session is acting for now.
    pub acting_for: Option<ActingFor>,
    /// What proxies submitted for this citizen, newest first.
    pub actions: Vec<ProxyAction>,
}

async fn view(app: &App, g: ProxyGrant) -> Result<GrantView, ApiError> {
    let status = if g.revoked_at.is_some() {
        "revoked"
    } else if g.expires_at <= now() {
        "expired"
    } else {
        "active"
    };
    let mut scope_names = Vec::with_capacity(g.scope.len());
    for code in &g.scope {
        scope_names.push(app.kb.document(code).await?.map(|d| d.name().to_string()).unwrap_or_else(|| code.clone()));
    }
    Ok(GrantView { grant: g, status: status.into(), scope_names })
}

async fn audit(app: &App, who: &Citizen, action: &str, g: &ProxyGrant) {
    let e = NewAudit {
        actor: format!("citizen:{}", who.id),
        action: action.into(),
        entity: "proxy_grant".into(),
        entity_id: g.id.to_string(),
        before: None,
        after: Some(
            json!({"principal": g.principal_id, "proxy": g.proxy_id, "scope": g.scope, "expires_at": g.expires_at, "revoked_at": g.revoked_at}),
        ),
    };
    if let Err(err) = app.store.record(e).await {
        tracing::error!(grant = g.id, "auditing {action}: {err}");
    }
}

/// Authorise a relative (亲友代办). 201 with the grant; 403 while acting for someone else (a
/// proxy cannot pass the authority on); 422 naming what is wrong (unknown account, a name that
/// does not match it, oneself, an unknown item, 0 or more than 365 days).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/proxies", params(("id" = String, Path)), request_body = NewGrant,
    responses((status = 201, body = GrantView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "proxies")]
pub async fn create(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<NewGrant>, JsonRejection>,
) -> Result<(StatusCode, Json<GrantView>), ApiError> {
    let Json(req) = body?;
    let (session, me) = signed_in_session(&app, &id, &headers).await?;
    if let Some(a) = &session.state.acting_for {
        return Err(ApiError::Forbidden(format!("您正在代{}办理，代办人不能再委托他人；请先结束代办，再以本人身份授权", a.principal_name)));
    }
    if !(1..=MAX_DAYS).contains(&req.days) {
        return Err(ApiError::BadRequest(format!("授权期限须为 1–{MAX_DAYS} 天")));
    }
    if req.scope.is_empty() || req.scope.len() > MAX_SCOPE {
        return Err(ApiError::BadRequest(format!("请选择 1–{MAX_SCOPE} 个授权代办的事项")));
    }
    for code in &req.scope {
        if app.kb.document(code).await?.is_none() {
            return Err(ApiError::BadRequest(format!("事项 {code} 不存在")));
        }
    }
    let (proxy, _) = app
        .store
        .citizen_credentials(req.proxy_username.trim())
        .await?
        .ok_or_else(|| ApiError::BadRequest(format!("没有找到账号 {}，请让代办人先注册", req.proxy_username.trim())))?;
    let name = req.proxy_name.trim();
    if name != proxy.display_name && proxy.profile.get("name").map(String::as_str) != Some(name) {
        return Err(ApiError::BadRequest("代办人姓名与账号不符，请核对".into()));
    }
    if proxy.id == me.id {
        return Err(ApiError::BadRequest("不能授权给自己".into()));
    }
    let mut scope: Vec<String> = Vec::new();
    for code in &req.scope {
        if !scope.contains(code) {
            scope.push(code.clone());
        }
    }
    let expires = chrono::Utc::now() + chrono::Duration::days(i64::from(req.days));
    let g = app.store.create_grant(me.id, proxy.id, &scope, &stamp(expires)).await?;
    audit(&app, &me, "proxy.grant", &g).await;
    tracing::info!(grant = g.id, principal = me.id, proxy = proxy.id, "proxy authorised");
    Ok((StatusCode::CREATED, Json(view(&app, g).await?)))
}

/// The citizen's grants (given and received), whom this session acts for, and what proxies
/// submitted for them.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/proxies", params(("id" = String, Path)),
    responses((status = 200, body = Grants), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "proxies")]
pub async fn list(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Grants>, ApiError> {
    let (session, me) = signed_in_session(&app, &id, &headers).await?;
    let grants = app.store.grants_of(me.id).await?;
    let mut given = Vec::new();
    let mut received = Vec::new();
    for g in grants {
        if g.principal_id == me.id {
            given.push(view(&app, g).await?);
        } else {
            received.push(view(&app, g).await?);
        }
    }
    let actions = app
        .store
        .citizen_applications(me.id)
        .await?
        .into_iter()
        .filter_map(|a| {
            let proxy = a.proxy_id?;
            let proxy_name = given.iter().find(|g| g.grant.proxy_id == proxy).map(|g| g.grant.proxy_name.clone()).unwrap_or_default();
            Some(ProxyAction {
                tracking_no: a.tracking_no,
                target_name: a.target_name,
                proxy_name,
                status: a.status.as_str().into(),
                submitted_at: a.submitted_at,
            })
        })
        .collect();
    Ok(Json(Grants { given, received, acting_for: session.state.acting_for.clone(), actions }))
}

/// Revoke a grant this citizen gave; at once, also for a relative already acting on it.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/proxies/{grant}/revoke", params(("id" = String, Path), ("grant" = i64, Path)),
    responses((status = 200, body = GrantView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])), tag = "proxies")]
pub async fn revoke(
    State(app): State<App>,
    Path((id, grant)): Path<(String, i64)>,
    headers: HeaderMap,
) -> Result<Json<GrantView>, ApiError> {
    let (_, me) = signed_in_session(&app, &id, &headers).await?;
    let g = app.store.revoke_grant(grant, me.id).await?;
    audit(&app, &me, "proxy.revoke", &g).await;
    Ok(Json(view(&app, g).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Act {
    pub grant_id: i64,
}

/// Start acting for the principal of a grant this citizen received: later forms in the
/// session are the principal's (within the scope). 403 with the reason when the grant is not
/// theirs, revoked or expired; the open form, if any, is closed.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/acting-for", params(("id" = String, Path)), request_body = Act,
    responses((status = 200, body = ActingFor), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "proxies")]
pub async fn act(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Act>, JsonRejection>,
) -> Result<Json<ActingFor>, ApiError> {
    let Json(req) = body?;
    let (mut session, me) = signed_in_session(&app, &id, &headers).await?;
    let g = app.store.grant(req.grant_id).await?.ok_or_else(|| ApiError::NotFound(format!("没有编号为 {} 的授权", req.grant_id)))?;
    if let Some(why) = g.refusal(me.id, None, &now()) {
        return Err(ApiError::Forbidden(why));
    }
    let acting =
        ActingFor { grant_id: g.id, principal_id: g.principal_id, principal_name: g.principal_name.clone(), scope: g.scope.clone() };
    let a = acting.clone();
    crate::dialogue_state::update(&app, &mut session, move |s| {
        s.acting_for = Some(a);
        s.form = None;
    })
    .await?;
    tracing::info!(session = %id, grant = g.id, proxy = me.id, principal = g.principal_id, "acting for a principal");
    Ok(Json(acting))
}

/// Stop acting for someone: the session is the signed-in citizen's own again.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/acting-for/stop", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])), tag = "proxies")]
pub async fn stop(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let (mut session, _) = signed_in_session(&app, &id, &headers).await?;
    crate::dialogue_state::update(&app, &mut session, |s| {
        s.acting_for = None;
        s.form = None;
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
