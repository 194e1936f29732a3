//! Server-side browser sessions: the cookie holds a random key, the database the SHA-256 of it
//! (so replicas share sessions and a database leak reveals no usable cookie).

use chrono::{Duration, Utc};
use poem::Request;
use poem::http::header;

use crate::domain::{Id, Session, User};
use crate::error::CoreResult;
use crate::server::AppState;

/// Name of the session cookie (as Django's).
pub const SESSION_COOKIE: &str = "sessionid";

/// The session of the request (if its cookie names a live session) and the cookie value.
pub async fn load(state: &AppState, req: &Request) -> CoreResult<Option<(String, Session)>> {
    let Some(key) = cookie_value(req, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = jhe_kdf::sha256_hex(&key);
    Ok(state
        .store
        .get_session(&hash, Utc::now())
        .await?
        .map(|s| (key, s)))
}

/// The logged-in user of the request's session (active accounts only), with the session.
pub async fn current_user(state: &AppState, req: &Request) -> CoreResult<Option<(User, Session)>> {
    let Some((_, session)) = load(state, req).await? else {
        return Ok(None);
    };
    let Some(user_id) = session.user_id else {
        return Ok(None);
    };
    Ok(state
        .store
        .get_user(user_id)
        .await?
        .filter(|u| u.is_active)
        .map(|u| (u, session)))
}

/// Creates a new session (for `user_id`, or anonymous) and returns the cookie value.
///
/// Logging in always creates a new session (the old one is deleted by the caller), so a session
/// id planted before login is worthless afterwards.
pub async fn create(
    state: &AppState,
    user_id: Option<Id>,
    data: serde_json::Value,
) -> CoreResult<(String, Session)> {
    let key = jhe_kdf::random_token(40);
    let now = Utc::now();
    let session = Session {
        id: jhe_kdf::sha256_hex(&key),
        user_id,
        data,
        expires: now + Duration::seconds(state.config.lifetimes.session.max(60)),
        created: now,
        updated: now,
    };
    state.store.put_session(&session).await?;
    Ok((key, session))
}

/// Logs `user_id` in on this browser, as every login does (password, sign-up, single
/// sign-on): the request's old session is deleted and a fresh one created with the
/// authentication time and a new CSRF secret, so a session id planted before login is
/// worthless. Returns the `Set-Cookie` value to send.
///
/// # Errors
/// A store error.
pub async fn start_login(state: &AppState, req: &Request, user_id: Id) -> CoreResult<String> {
    destroy(state, req).await?;
    let (key, _) = create(
        state,
        Some(user_id),
        serde_json::json!({"auth_time": Utc::now().timestamp(), "csrf": jhe_kdf::random_token(48)}),
    )
    .await?;
    Ok(set_cookie(state, req, &key))
}

/// Saves changed session data.
pub async fn save(state: &AppState, session: &Session) -> CoreResult<()> {
    state.store.put_session(session).await?;
    Ok(())
}

/// Deletes the request's session, if any.
pub async fn destroy(state: &AppState, req: &Request) -> CoreResult<()> {
    if let Some(key) = cookie_value(req, SESSION_COOKIE) {
        state
            .store
            .delete_session(&jhe_kdf::sha256_hex(&key))
            .await?;
    }
    Ok(())
}

/// The `Set-Cookie` value for a session key (HttpOnly, SameSite=Lax; `Secure` when the site or
/// the public origin of the request — through a trusted proxy — is https).
pub fn set_cookie(state: &AppState, req: &Request, key: &str) -> String {
    let secure = if state.config.site_url.starts_with("https://")
        || crate::http::forwarded::request_origin(req, &state.config).is_https()
    {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SESSION_COOKIE}={key}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        state.config.lifetimes.session.max(60)
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// A cookie of the request by name.
pub fn cookie_value(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .find_map(|value| {
            value.to_str().ok()?.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == name && !v.is_empty()).then(|| v.to_string())
            })
        })
}

/// The user's authentication time recorded in the session at login (for OIDC `auth_time`).
pub fn auth_time(session: &Session) -> Option<chrono::DateTime<Utc>> {
    session
        .data
        .get("auth_time")
        .and_then(|v| v.as_i64())
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
}
