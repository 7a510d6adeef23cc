//! Citizens signing in inside a chat session (统一身份认证, embedded): `POST
//! /sessions/{id}/sign-in` ties the session to the citizen's account, so their profile (一人一档 /
//! 一企一档) and e-licences pre-fill forms; `sign-out` unties it; `profile` reads and updates it.
//! Passwords are argon2id hashes, never logged; failed sign-ins back off per (username, client
//! address) like staff log-ins do ([`crate::auth::LoginGuard`]); usernames are logged only as
//! pseudonyms. A sign-in ends after `--citizen-idle-timeout` without use or `--citizen-max-age`
//! ([`crate::signins`]).

use std::collections::BTreeMap;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use banshi_assistant::forms::prefill::Profile;
use banshi_assistant::forms::validate;
use serde::Deserialize;
use utoipa::ToSchema;

use super::sessions::{authorize, authorize_expiring};
use crate::auth::{dummy_hash, verify_password};
use crate::error::{ApiError, ErrorBody};
use crate::limits::ClientIp;
use crate::mask::pseudonym;
use crate::store::{Citizen, Session};
use crate::App;

/// Profile keys a citizen may keep, with their labels (what forms' `profile:` sources name).
pub const PROFILE_KEYS: [(&str, &str); 10] = [
    ("name", "姓名"),
    ("id_number", "公民身份号码"),
    ("gender", "性别"),
    ("birth_date", "出生日期"),
    ("phone", "手机号码"),
    ("address", "住址"),
    ("company_name", "企业名称"),
    ("uscc", "统一社会信用代码"),
    ("legal_person", "法定代表人"),
    ("company_address", "企业住所"),
];

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn").field("username", &self.username).field("password", &"<hidden>").finish()
    }
}

/// Sign the session's citizen in: later forms are pre-filled from their profile and e-licences.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/sign-in", params(("id" = String, Path)), request_body = SignIn,
    responses((status = 200, body = Citizen), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "too many failures for this username from this address, or from this address; see Retry-After", body = ErrorBody)),
    security(("bearer" = [])), tag = "citizens")]
pub async fn sign_in(
    State(app): State<App>,
    Path(id): Path<String>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Result<Json<Citizen>, ApiError> {
    let Json(req) = body?;
    let mut session = authorize(&app, &id, &headers).await?;
    let username = req.username.trim();
    if username.is_empty() || req.password.is_empty() {
        return Err(ApiError::BadRequest("请输入账号和密码".into()));
    }
    let guard_key = format!("citizen:{username}");
    app.logins.check(&guard_key, ip).map_err(ApiError::Locked)?;
    let found = app.store.citizen_credentials(username).await?;
    let ok = match &found {
        Some((_, hash)) => verify_password(&req.password, hash),
        None => verify_password(&req.password, dummy_hash()),
    };
    let known = found.as_ref().map(|(c, _)| c.id);
    let citizen = match found {
        Some((c, _)) if ok => c,
        _ => {
            let wait = app.logins.failed(&guard_key, ip);
            // The account by its id when it exists (operators can look it up), the typed name
            // only as a pseudonym: citizens' names and usernames stay out of the log.
            tracing::warn!(session = %id, citizen = known, username = %pseudonym(username), client = %ip, wait_secs = ?wait, "failed citizen sign-in");
            return Err(ApiError::BadRequest("账号或密码不正确".into()));
        }
    };
    app.logins.succeeded(&guard_key, ip);
    let began = app.signins.began();
    crate::dialogue_state::update(&app, &mut session, |s| {
        // Acting for someone belongs to the citizen who started it.
        if s.citizen_id != Some(citizen.id) {
            s.acting_for = None;
        }
        s.citizen_id = Some(citizen.id);
        s.citizen_signed_in_at = Some(began);
    })
    .await?;
    tracing::info!(session = %id, citizen = citizen.id, "citizen signed in");
    Ok(Json(citizen))
}

/// Untie the session from the citizen's account (the conversation stays).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/sign-out", params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody)), security(("bearer" = [])), tag = "citizens")]
pub async fn sign_out(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let mut session = authorize(&app, &id, &headers).await?;
    crate::dialogue_state::update(&app, &mut session, |s| {
        s.citizen_id = None;
        s.citizen_signed_in_at = None;
        s.acting_for = None;
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The session's signed-in citizen; 403 `sign_in_expired` when the sign-in has just expired,
/// 403 `forbidden` when nobody is signed in.
async fn signed_in(app: &App, id: &str, headers: &HeaderMap) -> Result<Citizen, ApiError> {
    Ok(signed_in_session(app, id, headers).await?.1)
}

/// [`signed_in`] with the session itself.
pub(crate) async fn signed_in_session(app: &App, id: &str, headers: &HeaderMap) -> Result<(Session, Citizen), ApiError> {
    let (session, expired) = authorize_expiring(app, id, headers).await?;
    if expired {
        return Err(ApiError::SignInExpired);
    }
    let cid = session.state.citizen_id.ok_or_else(|| ApiError::Forbidden("请先登录".into()))?;
    let citizen = app.store.citizen(cid).await?.ok_or_else(|| ApiError::Forbidden("账号不存在，请重新登录".into()))?;
    Ok((session, citizen))
}

/// The signed-in citizen and their profile; 403 when nobody is signed in (`sign_in_expired`
/// when the sign-in has just ended: idle or too old, see `serve --citizen-idle-timeout`).
#[utoipa::path(get, path = "/api/v1/sessions/{id}/profile", params(("id" = String, Path)),
    responses((status = 200, body = Citizen), (status = 401, body = ErrorBody), (status = 403, description = "`forbidden`: nobody is signed in; `sign_in_expired`: the sign-in expired", body = ErrorBody)),
    security(("bearer" = [])), tag = "citizens")]
pub async fn profile(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Citizen>, ApiError> {
    Ok(Json(signed_in(&app, &id, &headers).await?))
}

/// Replace the signed-in citizen's profile. Every value is checked (ID numbers, credit codes,
/// phones, dates by the national rules); unknown keys are refused.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/profile", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, body = Citizen), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "citizens")]
pub async fn update_profile(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<BTreeMap<String, String>>, JsonRejection>,
) -> Result<Json<Citizen>, ApiError> {
    let Json(raw) = body?;
    let citizen = signed_in(&app, &id, &headers).await?;
    let profile = check_profile(&raw).map_err(|e| ApiError::InvalidFields("个人档案中有需要修改的内容".into(), e))?;
    Ok(Json(app.store.update_profile(citizen.id, &profile).await?))
}

/// Normalised profile values, or each problem by key. Empty values are dropped.
pub fn check_profile(raw: &BTreeMap<String, String>) -> Result<Profile, BTreeMap<String, String>> {
    let mut out = Profile::new();
    let mut errors = BTreeMap::new();
    for (k, v) in raw {
        let v = v.trim();
        let Some((_, label)) = PROFILE_KEYS.iter().find(|(key, _)| key == k) else {
            errors.insert(k.clone(), format!("档案中没有“{k}”这一项"));
            continue;
        };
        if v.is_empty() {
            continue;
        }
        let checked = match k.as_str() {
            "id_number" => validate::id_card(v),
            "uscc" => validate::uscc(v),
            "phone" => validate::phone(v),
            "birth_date" => validate::date(v, None, Some(chrono::Local::now().date_naive())).map(|d| d.to_string()),
            "gender" if v != "男" && v != "女" => Err("请填写“男”或“女”".into()),
            _ if v.chars().count() > 200 || v.chars().any(char::is_control) => Err("内容过长或含有不可见字符".into()),
            _ => Ok(v.to_string()),
        };
        match checked {
            Ok(v) => {
                out.insert(k.clone(), v);
            }
            Err(e) => {
                errors.insert(k.clone(), format!("{label}：{e}"));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_checked_by_the_national_rules() {
        let mut raw = BTreeMap::new();
        raw.insert("name".to_string(), " 张三 ".to_string());
        raw.insert("id_number".to_string(), "11010519491231002x".to_string());
        let p = check_profile(&raw).unwrap();
        assert_eq!((p["name"].as_str(), p["id_number"].as_str()), ("张三", "11010519491231002X"));
        raw.insert("uscc".to_string(), "91350100M000100Y4Z".to_string());
        raw.insert("salary".to_string(), "1".to_string());
        let e = check_profile(&raw).unwrap_err();
        assert!(e["uscc"].contains('3'), "{e:?}");
        assert!(e.contains_key("salary"));
    }
}
