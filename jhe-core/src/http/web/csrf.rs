//! CSRF protection of the server-rendered forms: a secret per session, sent back in the form field
//! `csrfmiddlewaretoken` (Django's name, so scripted logins keep working).

use poem::Request;

use crate::domain::Session;
use crate::error::CoreResult;
use crate::http::session;
use crate::server::AppState;

/// The session of the request, created (anonymous) when missing, with a CSRF secret. Returns the
/// cookie to set when a session was created.
pub async fn ensure(state: &AppState, req: &Request) -> CoreResult<(Session, Option<String>)> {
    let (mut current, cookie) = match session::load(state, req).await? {
        Some((_, s)) => (s, None),
        None => {
            let (key, s) = session::create(state, None, serde_json::json!({})).await?;
            (s, Some(session::set_cookie(state, req, &key)))
        }
    };
    if token_of(&current).is_none() {
        if let Some(map) = current.data.as_object_mut() {
            map.insert("csrf".into(), jhe_kdf::random_token(48).into());
        }
        session::save(state, &current).await?;
    }
    Ok((current, cookie))
}

/// The CSRF secret of a session.
pub fn token_of(session: &Session) -> Option<&str> {
    session
        .data
        .get("csrf")
        .and_then(|v| v.as_str())
        .filter(|t| !t.is_empty())
}

/// Whether a submitted form carries the CSRF token of the browser's current session (loaded
/// from its cookie; no session, no match).
pub async fn valid_form(
    state: &AppState,
    req: &Request,
    fields: &std::collections::HashMap<String, String>,
) -> bool {
    let current = session::load(state, req)
        .await
        .ok()
        .flatten()
        .map(|(_, s)| s);
    valid(
        current.as_ref(),
        fields.get("csrfmiddlewaretoken").map(String::as_str),
    )
}

/// Whether the submitted token matches the session's (constant-time).
pub fn valid(session: Option<&Session>, submitted: Option<&str>) -> bool {
    match (session.and_then(token_of), submitted) {
        (Some(expected), Some(given)) => {
            subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes()).into()
        }
        _ => false,
    }
}
