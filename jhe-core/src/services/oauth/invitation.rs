//! Patient invitation links (auth.md §6): an authorization code for the patient's user, delivered
//! out of band inside a link the patient opens in a partner app, which redeems it at `/o/token/`
//! with the client's fixed PKCE verifier.

use chrono::{Duration, Utc};

use super::pkce::{S256, is_valid_verifier, s256_challenge, verify_s256};
use super::{TOKEN_LENGTH, tokens};
use crate::config::Config;
use crate::domain::{GrantRedemption, GrantedScopes, Id, NewAuthorizationGrant, User, keys};
use crate::error::{CoreError, CoreResult};
use crate::mailer::{Email, Mailer};
use crate::policy::Principal;
use crate::services::settings::site_url;
use crate::store::{AccessScope, Store};

/// Subject of the invitation e-mail.
pub const INVITATION_SUBJECT: &str = "JHE Invitation";

/// The `netloc` of a URL as Python's `urlparse` gives it: host plus port when the URL names one
/// (`http://localhost:8000/x` → `localhost:8000`), without user information.
pub fn netloc(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_string()
}

/// The invitation link: `invitation_url` with every `CODE` replaced by
/// `<netloc of site url>~<client_id>~<code>~<code_verifier>` (no URL encoding, as the original).
pub fn render_link(
    site_url: &str,
    client_id: &str,
    code: &str,
    code_verifier: &str,
    invitation_url: &str,
) -> String {
    let invitation_code = format!("{}~{client_id}~{code}~{code_verifier}", netloc(site_url));
    invitation_url.replace("CODE", &invitation_code)
}

async fn client_setting(store: &dyn Store, key: &str, application_id: Id) -> CoreResult<String> {
    store
        .get_setting(key, Some(application_id))
        .await?
        .and_then(|s| s.value.as_str().map(str::to_string))
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| CoreError::BadRequest(format!("Missing JheSetting: {key}")))
}

/// Creates (or replaces) the patient's invitation code for a client and returns the link; with
/// `send_email` also e-mails it to the patient.
///
/// Existing codes of the patient for that client stop working; the new code lives
/// `JHE_INVITATION_CODE_LIFETIME` seconds (14 days), is bound to `<site url>/auth/callback`,
/// the patient-app scope ([`GrantedScopes::patient_app`]: the patient's own compartment only,
/// where the original granted `openid email`, i.e. the account's full power) and the S256
/// challenge of the client's `client.code_verifier`. Only the code's SHA-256 is stored, so the
/// link can be shown once and never re-rendered.
///
/// # Errors
///
/// `BadRequest` without `application_id`, for a patient without an account, or a client whose
/// `client.code_verifier`/`client.invitation_url` settings are missing or invalid; `NotFound` for
/// an unknown patient or client; `Forbidden` when the caller may not invite the patient;
/// `Internal` when the e-mail cannot be rendered or sent.
#[allow(clippy::too_many_arguments)]
pub async fn create_invitation_link(
    store: &dyn Store,
    config: &Config,
    mailer: &dyn Mailer,
    principal: &Principal,
    scope: &AccessScope,
    patient_id: Id,
    application_id: Option<Id>,
    send_email: bool,
) -> CoreResult<String> {
    let Some(application_id) = application_id else {
        return Err(CoreError::BadRequest(
            "Missing required query parameter: application_id".into(),
        ));
    };
    // Only a practitioner who can see the patient (shares an organisation with them, the one
    // rule of the access scope) invites; anyone else gets the answer of an unknown id.
    let patient = match principal.practitioner {
        Some(_) => store.get_patient(scope, patient_id).await?,
        None => None,
    };
    let Some(patient) = patient else {
        return Err(CoreError::NotFound(
            "No Patient matches the given query.".into(),
        ));
    };
    let Some(client) = store.get_client(application_id).await? else {
        return Err(CoreError::NotFound(
            "No Application matches the given query.".into(),
        ));
    };
    let user = match patient.jhe_user_id {
        Some(id) => store.get_user(id).await?,
        None => None,
    };
    let Some(user) = user else {
        return Err(CoreError::BadRequest(
            "The patient has no user account.".into(),
        ));
    };
    let code_verifier = client_setting(store, keys::CLIENT_CODE_VERIFIER, client.id).await?;
    let invitation_url = client_setting(store, keys::CLIENT_INVITATION_URL, client.id).await?;
    if !is_valid_verifier(&code_verifier) {
        return Err(CoreError::BadRequest(format!(
            "JheSetting {} is not a valid PKCE code verifier (43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_', '~')",
            keys::CLIENT_CODE_VERIFIER
        )));
    }
    let site = site_url(store, config).await?;
    let now = Utc::now();
    store.touch_last_login(user.id, now).await?;
    let code =
        jhe_kdf::try_random_token(TOKEN_LENGTH).map_err(|e| CoreError::Internal(e.to_string()))?;
    // The previous codes go and the new one comes in one transaction.
    let uow = store.begin().await?;
    uow.delete_grants(user.id, client.id).await?;
    uow.create_grant(NewAuthorizationGrant {
        code_hash: tokens::hash(&code),
        application_id: client.id,
        user_id: user.id,
        expires: now + Duration::seconds(config.lifetimes.invitation_code),
        redirect_uri: format!("{site}/auth/callback"),
        scope: GrantedScopes::patient_app().to_string(),
        code_challenge: s256_challenge(&code_verifier),
        code_challenge_method: S256.into(),
        nonce: String::new(),
        claims: "{}".into(),
        auth_time: Some(now),
    })
    .await?;
    uow.commit().await?;
    let link = render_link(
        &site,
        &client.client_id,
        &code,
        &code_verifier,
        &invitation_url,
    );
    if send_email {
        let context = serde_json::json!({"given_name": patient.name_given, "link": link});
        let render = |name: &str| {
            crate::http::templates::render_text(name, &context)
                .map_err(|e| CoreError::Internal(format!("cannot render {name}: {e}")))
        };
        let email = Email {
            to: user.email.clone(),
            from: config.from_email.clone(),
            subject: INVITATION_SUBJECT.into(),
            html_body: render("email/invitation.html")?,
            text_body: render("email/invitation.txt")?,
        };
        mailer
            .send(&email)
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?;
    }
    Ok(link)
}

/// The path of the web page where a patient opens an invitation in a browser (to reach the
/// consent screen without a password).
pub const WEB_INVITATION_PATH: &str = "/portal/invitation/";

/// The invitation code (`<netloc>~<client_id>~<code>~<code_verifier>`) inside a pasted text: the
/// code itself, or a whole invitation link that carries it (as the query value the partner app's
/// `invitation_url` put it in). `None` when the text holds no such code.
pub fn invitation_code_in(text: &str) -> Option<String> {
    let separator =
        |c: char| matches!(c, '=' | '/' | '?' | '&' | '#' | '"' | '<' | '>') || c.is_whitespace();
    let code = text.split(separator).find(|part| part.contains('~'))?;
    (code.splitn(4, '~').filter(|p| !p.is_empty()).count() == 4).then(|| code.to_string())
}

/// The web link of an invitation code: [`WEB_INVITATION_PATH`] on the site with the code as the
/// `code` query parameter.
pub fn web_link(site_url: &str, invitation_code: &str) -> String {
    let code: String = url::form_urlencoded::byte_serialize(invitation_code.as_bytes()).collect();
    format!(
        "{}{WEB_INVITATION_PATH}?code={code}",
        site_url.trim_end_matches('/')
    )
}

/// The refusal of every invitation that cannot sign a patient in (one message whatever the
/// reason, so the page tells an attacker nothing).
fn unusable() -> CoreError {
    CoreError::BadRequest(
        "This invitation link is invalid, expired or already used. Ask your study team for a new one."
            .into(),
    )
}

/// Signs a patient in on the web with an invitation (the patient created by staff has no
/// password): the invitation's authorization code is redeemed here instead of at `/o/token/`.
///
/// The code is the grant [`create_invitation_link`] made: only its SHA-256 is stored, it is
/// marked used atomically on this first presentation (so the link works once, on the web or in
/// the app, never both), it expires with the invitation (`JHE_INVITATION_CODE_LIFETIME`), and
/// it must carry the invitation's marks (the patient-app scope, the client's PKCE verifier, the
/// site's `/auth/callback`). Only an active patient account that is nothing else (no
/// practitioner record, not staff or superuser) can sign in this way, so an invitation can
/// never open a staff account. Returns the user to log in.
///
/// # Errors
///
/// `BadRequest` (one message) for anything that is not a usable invitation of a patient.
pub async fn sign_in_with_invitation(
    store: &dyn Store,
    config: &Config,
    text: &str,
) -> CoreResult<User> {
    let code = invitation_code_in(text).ok_or_else(unusable)?;
    let mut parts = code.splitn(4, '~');
    let (Some(_host), Some(client_id), Some(code), Some(verifier)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(unusable());
    };
    if code.len() > 255 || !is_valid_verifier(verifier) {
        return Err(unusable());
    }
    let Some(client) = store.get_client_by_client_id(client_id).await? else {
        return Err(unusable());
    };
    let now = Utc::now();
    let grant = match store
        .take_grant(&tokens::hash(code), &tokens::new_family(), now)
        .await?
    {
        Some(GrantRedemption::Redeemed(grant)) => grant,
        Some(GrantRedemption::Replayed(grant)) => {
            tracing::warn!(
                user_id = grant.user_id,
                "used invitation presented again for a web sign-in; refused"
            );
            return Err(unusable());
        }
        None => return Err(unusable()),
    };
    let site = site_url(store, config).await?;
    let invitation_like = grant.application_id == client.id
        && grant.expires > now
        && grant.scope == GrantedScopes::patient_app().to_string()
        && grant.redirect_uri == format!("{site}/auth/callback")
        && grant.code_challenge_method == S256
        && verify_s256(verifier, &grant.code_challenge);
    if !invitation_like {
        return Err(unusable());
    }
    let user = store
        .get_user(grant.user_id)
        .await?
        .filter(|u| u.is_active && !u.is_staff && !u.is_superuser)
        .ok_or_else(unusable)?;
    let patient = store.get_patient_by_user(user.id).await?;
    let practitioner = store.get_practitioner_by_user(user.id).await?;
    if patient.is_none() || practitioner.is_some() {
        return Err(unusable());
    }
    Ok(user)
}

/// What redeeming an invitation code on the portal's Debug screen gave.
#[derive(Debug, Clone)]
pub struct RedeemedInvitation {
    /// The tokens, exactly as `/o/token/` answers them.
    pub tokens: super::tokens::IssuedTokens,
    /// The client the code was issued for (`client_id`).
    pub client_id: String,
    /// The `redirect_uri` sent with the code.
    pub redirect_uri: String,
}

/// Redeems a pasted invitation code (`host~client_id~code~code_verifier`, alone or inside the
/// invitation link) the way a patient app does, for the portal's Debug screen: the
/// `authorization_code` request an app POSTs to `/o/token/` (`redirect_uri`: the client's
/// registered `<site>/auth/callback`, else its first registered URI), answered by the token
/// endpoint's own [`token_request`](super::token_endpoint::token_request) (audited, the code
/// used up). The caller must be staff; that is checked by the page.
///
/// # Errors
/// `BadRequest` with a message for the user: not an invitation code, a code for another
/// exchange (host), an unknown client, or the token endpoint's refusal (used, expired or
/// replaced code, wrong verifier…).
pub async fn redeem_for_debug(
    state: &crate::server::AppState,
    text: &str,
) -> CoreResult<RedeemedInvitation> {
    let garbled = || {
        CoreError::BadRequest(
            "This is not an invitation code: paste host~client_id~code~code_verifier, or the whole invitation link."
                .into(),
        )
    };
    let code = invitation_code_in(text).ok_or_else(garbled)?;
    let mut parts = code.splitn(4, '~');
    let (Some(host), Some(client_id), Some(code), Some(verifier)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(garbled());
    };
    let site = site_url(state.store.as_ref(), &state.config).await?;
    let here = netloc(&site);
    if !host.eq_ignore_ascii_case(&here) {
        return Err(CoreError::BadRequest(format!(
            "This invitation code is for another exchange ({host}); this one is {here}."
        )));
    }
    let Some(client) = state.store.get_client_by_client_id(client_id).await? else {
        return Err(CoreError::BadRequest(format!(
            "No client application has the client_id \"{client_id}\"."
        )));
    };
    let callback = format!("{site}/auth/callback");
    let registered: Vec<&str> = client.redirect_uris.split_whitespace().collect();
    let redirect_uri = if registered.contains(&callback.as_str()) {
        callback
    } else {
        registered.first().map_or(callback, |u| (*u).to_string())
    };
    let request = super::token_endpoint::TokenRequest::from_pairs(
        vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), code.into()),
            ("redirect_uri".into(), redirect_uri.clone()),
            ("client_id".into(), client_id.into()),
            ("code_verifier".into(), verifier.into()),
        ],
        None,
    );
    match super::token_endpoint::token_request(state, &request).await {
        Ok(tokens) => Ok(RedeemedInvitation {
            tokens,
            client_id: client_id.to_string(),
            redirect_uri,
        }),
        Err(e) if e.code == super::OAuthErrorCode::ServerError => {
            Err(CoreError::Internal(format!("token endpoint failed: {e}")))
        }
        Err(e) => Err(CoreError::BadRequest(format!(
            "The token endpoint refused the code ({e}). An invitation code works once, expires, and is replaced by a newer invitation for the same client."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netloc_keeps_the_port() {
        assert_eq!(netloc("http://localhost:8000"), "localhost:8000");
        assert_eq!(netloc("https://jhe.production.org/"), "jhe.production.org");
        assert_eq!(netloc("http://127.0.0.1:9000/x?y#z"), "127.0.0.1:9000");
        assert_eq!(netloc("http://u:p@h:1"), "h:1");
    }

    #[test]
    fn links_are_tilde_delimited() {
        assert_eq!(
            render_link(
                "http://localhost:8000",
                "chclient123",
                "L0Krv",
                "abcVERIFIER",
                "https://app.example.org/invite?code=CODE"
            ),
            "https://app.example.org/invite?code=localhost:8000~chclient123~L0Krv~abcVERIFIER"
        );
    }

    #[test]
    fn invitation_codes_are_found_in_links_and_alone() {
        let code = "localhost:8000~chclient123~L0Krv~abc.VER~IFIER";
        assert_eq!(invitation_code_in(code).as_deref(), Some(code));
        assert_eq!(
            invitation_code_in(&format!(
                " https://app.example.org/invite?x=1&code={code}&y=2 "
            ))
            .as_deref(),
            Some(code)
        );
        assert_eq!(
            invitation_code_in(&format!("https://app.example.org/i/{code}")).as_deref(),
            Some(code)
        );
        assert_eq!(invitation_code_in("no code here"), None);
        assert_eq!(invitation_code_in("a~b~c"), None);
        assert_eq!(invitation_code_in("a~~c~d"), None);
    }

    #[test]
    fn web_links_carry_the_code_encoded() {
        assert_eq!(
            web_link("http://localhost:8000/", "h:1~c~x~v"),
            "http://localhost:8000/portal/invitation/?code=h%3A1%7Ec%7Ex%7Ev"
        );
    }
}
