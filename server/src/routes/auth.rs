//! Staff log-in for the consoles: `POST /auth/login` trades a username and password for a
//! bearer token; `POST /auth/logout` ends it; `GET /auth/me` says who it belongs to. Passwords
//! are never logged or returned (the request type's `Debug` hides it).

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{bearer, dummy_hash, hash_token, new_token, verify_password, Staff, SESSION_HOURS};
use crate::error::{ApiError, ErrorBody};
use crate::limits::ClientIp;
use crate::mask::pseudonym;
use crate::store::User;
use crate::App;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("username", &self.username).field("password", &"<hidden>").finish()
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoggedIn {
    /// Bearer token for the console API; valid for 12 hours.
    pub token: String,
    pub expires_at: String,
    pub user: User,
}

/// Log in (agents, editors, admins).
#[utoipa::path(post, path = "/api/v1/auth/login", request_body = Login,
    responses((status = 200, body = LoggedIn), (status = 401, description = "`invalid_credentials`: wrong username or password", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "too many failures for this username from this address, or from this address; see Retry-After", body = ErrorBody)),
    tag = "staff")]
pub async fn login(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    body: Result<Json<Login>, JsonRejection>,
) -> Result<Json<LoggedIn>, ApiError> {
    let Json(req) = body?;
    let username = req.username.trim();
    if username.is_empty() || req.password.is_empty() {
        return Err(ApiError::BadRequest("请输入用户名和密码".into()));
    }
    app.logins.check(username, ip).map_err(ApiError::Locked)?;
    let found = app.store.user_credentials(username).await?;
    // Verify even for unknown users, so timing does not reveal who exists.
    let ok = match &found {
        Some((_, hash)) => verify_password(&req.password, hash),
        None => verify_password(&req.password, dummy_hash()),
    };
    // A staff username is logged as it is; anything else typed there (a citizen's name, a
    // password in the wrong field) only as a pseudonym.
    let shown = if found.is_some() { username.to_string() } else { pseudonym(username) };
    let user = match found {
        Some((user, _)) if ok && user.active => user,
        _ => {
            let wait = app.logins.failed(username, ip);
            tracing::warn!(username = %shown, client = %ip, wait_secs = ?wait, "failed log-in");
            return Err(ApiError::InvalidCredentials);
        }
    };
    app.logins.succeeded(username, ip);
    let token = new_token();
    let expires_at = (chrono::Utc::now() + chrono::Duration::hours(SESSION_HOURS)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    app.store.create_staff_session(&hash_token(&token), user.id, &expires_at).await?;
    tracing::info!(username, role = user.role.as_str(), "logged in");
    Ok(Json(LoggedIn { token, expires_at, user }))
}

/// End this log-in.
#[utoipa::path(post, path = "/api/v1/auth/logout", responses((status = 204), (status = 401, body = ErrorBody)), security(("bearer" = [])), tag = "staff")]
pub async fn logout(State(app): State<App>, staff: Staff, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    if let Some(t) = bearer(&headers) {
        app.store.delete_staff_session(&hash_token(t)).await?;
    }
    tracing::info!(username = %staff.0.username, "logged out");
    Ok(StatusCode::NO_CONTENT)
}

/// Who this token belongs to.
#[utoipa::path(get, path = "/api/v1/auth/me", responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "staff")]
pub async fn me(staff: Staff) -> Json<User> {
    Json(staff.0)
}
