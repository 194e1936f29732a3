//! The authorization endpoint (`/o/authorize/`): validating requests, the consent decision and
//! issuing authorization codes. Only `response_type=code` with PKCE S256 is supported.

use chrono::{DateTime, Duration, Utc};

use super::clients::{GrantType, allows_grant};
use super::pkce::{S256, is_valid_challenge};
use super::{OAuthError, OAuthErrorCode, TOKEN_LENGTH, grant_scope, requested_scope, tokens};
use crate::config::Config;
use crate::domain::{GrantedScopes, NewAuthorizationGrant, OAuthClient, User};
use crate::error::{CoreError, CoreResult};
use crate::store::Store;

/// The parameters of an authorization request, as received (query string or consent form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizationParams {
    /// `response_type` (must be `code`).
    pub response_type: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri` (must match a registered one exactly).
    pub redirect_uri: Option<String>,
    /// `scope` (space-separated).
    pub scope: Option<String>,
    /// `state`, echoed to the client.
    pub state: Option<String>,
    /// PKCE `code_challenge`.
    pub code_challenge: Option<String>,
    /// PKCE `code_challenge_method` (must be `S256`).
    pub code_challenge_method: Option<String>,
    /// OIDC `nonce`.
    pub nonce: Option<String>,
    /// `response_mode` (only `query`).
    pub response_mode: Option<String>,
    /// OIDC `prompt`.
    pub prompt: Option<String>,
    /// Names of parameters that were sent more than once (RFC 6749 §3.1 forbids it).
    pub duplicates: Vec<String>,
}

impl AuthorizationParams {
    /// Collects the known parameters from name/value pairs; other names are ignored.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let mut params = AuthorizationParams::default();
        for (name, value) in pairs {
            let name = name.as_ref();
            let slot = match name {
                "response_type" => &mut params.response_type,
                "client_id" => &mut params.client_id,
                "redirect_uri" => &mut params.redirect_uri,
                "scope" => &mut params.scope,
                "state" => &mut params.state,
                "code_challenge" => &mut params.code_challenge,
                "code_challenge_method" => &mut params.code_challenge_method,
                "nonce" => &mut params.nonce,
                "response_mode" => &mut params.response_mode,
                "prompt" => &mut params.prompt,
                _ => continue,
            };
            if slot.is_some() {
                if !params.duplicates.iter().any(|d| d == name) {
                    params.duplicates.push(name.to_string());
                }
                continue;
            }
            *slot = Some(value.into());
        }
        params
    }

    /// The parameters that are set, as name/value pairs (for the consent form and `next` URLs).
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("nonce", &self.nonce),
            ("response_mode", &self.response_mode),
            ("prompt", &self.prompt),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
        .collect()
    }
}

/// Why an authorization request fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect.
    Fatal(OAuthError),
    /// Report the error to the client at its redirect URI.
    Redirect {
        /// The validated redirect URI.
        redirect_uri: String,
        /// The client's `state`.
        state: Option<String>,
        /// The error.
        error: OAuthError,
    },
}

impl AuthorizeError {
    /// The URL to redirect to (for [`AuthorizeError::Redirect`]).
    pub fn redirect_url(&self) -> Option<String> {
        match self {
            AuthorizeError::Fatal(_) => None,
            AuthorizeError::Redirect {
                redirect_uri,
                state,
                error,
            } => {
                let mut pairs = vec![("error", error.code.as_str().to_string())];
                if let Some(description) = &error.description {
                    pairs.push(("error_description", description.clone()));
                }
                if let Some(state) = state {
                    pairs.push(("state", state.clone()));
                }
                Some(append_query(redirect_uri, &pairs))
            }
        }
    }

    /// The underlying OAuth error.
    pub fn error(&self) -> &OAuthError {
        match self {
            AuthorizeError::Fatal(e) | AuthorizeError::Redirect { error: e, .. } => e,
        }
    }
}

impl From<CoreError> for AuthorizeError {
    fn from(error: CoreError) -> Self {
        AuthorizeError::Fatal(OAuthError::from(error))
    }
}

impl From<crate::store::StoreError> for AuthorizeError {
    fn from(error: crate::store::StoreError) -> Self {
        AuthorizeError::Fatal(OAuthError::from(error))
    }
}

/// A valid authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedAuthorization {
    /// The client.
    pub client: OAuthClient,
    /// The redirect URI (registered).
    pub redirect_uri: String,
    /// The scope to grant (canonical SMART form: the user's full role narrowed to the request).
    pub scope: String,
    /// The client's `state`.
    pub state: Option<String>,
    /// The PKCE S256 challenge.
    pub code_challenge: String,
    /// The OIDC nonce.
    pub nonce: Option<String>,
    /// `prompt=none`: never show a page.
    pub prompt_none: bool,
    /// The request's parameters, to repeat in the consent form.
    pub params: AuthorizationParams,
}

impl ValidatedAuthorization {
    /// Whether the consent page must be shown to this client's users.
    pub fn needs_consent(&self) -> bool {
        !self.client.skip_authorization
    }

    /// An error to send to the client's redirect URI.
    pub fn error(&self, error: OAuthError) -> AuthorizeError {
        AuthorizeError::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            state: self.state.clone(),
            error,
        }
    }
}

/// Appends query parameters to a URI, keeping the URI as registered.
pub fn append_query(uri: &str, pairs: &[(&str, String)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        serializer.append_pair(k, v);
    }
    let query = serializer.finish();
    let (base, fragment) = match uri.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (uri, None),
    };
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with('?') || base.ends_with('&') {
        ""
    } else {
        "&"
    };
    match fragment {
        Some(f) => format!("{base}{separator}{query}#{f}"),
        None => format!("{base}{separator}{query}"),
    }
}

/// Validates an authorization request. Errors about the client or the redirect URI are
/// [`AuthorizeError::Fatal`]; all others are redirected to the client.
pub async fn validate(
    store: &dyn Store,
    params: &AuthorizationParams,
) -> Result<ValidatedAuthorization, AuthorizeError> {
    let fatal = |code, msg: &str| Err(AuthorizeError::Fatal(OAuthError::new(code, msg)));
    for name in ["client_id", "redirect_uri"] {
        if params.duplicates.iter().any(|d| d == name) {
            return fatal(
                OAuthErrorCode::InvalidRequest,
                &format!("Duplicate {name} parameter."),
            );
        }
    }
    let Some(client_id) = params.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return fatal(
            OAuthErrorCode::InvalidRequest,
            "Missing client_id parameter.",
        );
    };
    let client = match client_id.len() {
        1..=255 => store.get_client_by_client_id(client_id).await?,
        _ => None,
    };
    let Some(client) = client else {
        return fatal(
            OAuthErrorCode::InvalidClient,
            "Invalid client_id parameter value.",
        );
    };
    let Some(redirect_uri) = params.redirect_uri.as_deref().filter(|r| !r.is_empty()) else {
        return fatal(OAuthErrorCode::InvalidRequest, "Missing redirect URI.");
    };
    if !client.allows_redirect_uri(redirect_uri) {
        return fatal(OAuthErrorCode::InvalidRequest, "Mismatching redirect URI.");
    }
    let redirect = |error: OAuthError| {
        Err(AuthorizeError::Redirect {
            redirect_uri: redirect_uri.to_string(),
            state: params.state.clone(),
            error,
        })
    };
    if let Some(name) = params.duplicates.first() {
        return redirect(OAuthError::invalid_request(format!(
            "Duplicate {name} parameter."
        )));
    }
    match params.response_type.as_deref() {
        None | Some("") => {
            return redirect(OAuthError::invalid_request(
                "Missing response_type parameter.",
            ));
        }
        Some("code") => {}
        Some(_) => {
            return redirect(OAuthError::new(
                OAuthErrorCode::UnsupportedResponseType,
                "Only response_type=code is supported.",
            ));
        }
    }
    if !matches!(
        params.response_mode.as_deref(),
        None | Some("") | Some("query")
    ) {
        return redirect(OAuthError::invalid_request(
            "Only response_mode=query is supported.",
        ));
    }
    if !allows_grant(&client, GrantType::AuthorizationCode) {
        return redirect(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "The client may not use the authorization code flow.",
        ));
    }
    // A browser login grants the user's full role, narrowed to what the client asked for.
    let scope = match requested_scope(params.scope.as_deref())
        .and_then(|requested| grant_scope(&GrantedScopes::full_role(), requested.as_ref(), false))
    {
        Ok(scope) => scope.to_string(),
        Err(error) => return redirect(error),
    };
    let Some(code_challenge) = params.code_challenge.as_deref().filter(|c| !c.is_empty()) else {
        return redirect(OAuthError::invalid_request("Code challenge required."));
    };
    if params.code_challenge_method.as_deref() != Some(S256) {
        return redirect(OAuthError::invalid_request(
            "Only the S256 code_challenge_method is supported.",
        ));
    }
    if !is_valid_challenge(code_challenge) {
        return redirect(OAuthError::invalid_request("Invalid code_challenge."));
    }
    if params.nonce.as_deref().is_some_and(|n| n.len() > 512) {
        return redirect(OAuthError::invalid_request("The nonce is too long."));
    }
    let prompts: Vec<&str> = params
        .prompt
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return redirect(OAuthError::invalid_request(
            "prompt=none cannot be combined with other values.",
        ));
    }
    Ok(ValidatedAuthorization {
        client,
        redirect_uri: redirect_uri.to_string(),
        scope,
        state: params.state.clone(),
        code_challenge: code_challenge.to_string(),
        nonce: params.nonce.clone().filter(|n| !n.is_empty()),
        prompt_none: prompts.contains(&"none"),
        params: params.clone(),
    })
}

/// Issues an authorization code for `user` and returns the URL that sends it to the client
/// (`<redirect_uri>?code=…&state=…`). The code is stored hashed, single-use, bound to the client,
/// redirect URI, PKCE challenge, nonce, scope and authentication time.
pub async fn issue_code(
    store: &dyn Store,
    config: &Config,
    request: &ValidatedAuthorization,
    user: &User,
    auth_time: Option<DateTime<Utc>>,
) -> CoreResult<String> {
    let code =
        jhe_kdf::try_random_token(TOKEN_LENGTH).map_err(|e| CoreError::Internal(e.to_string()))?;
    store
        .create_grant(NewAuthorizationGrant {
            code_hash: tokens::hash(&code),
            application_id: request.client.id,
            user_id: user.id,
            expires: Utc::now() + Duration::seconds(config.lifetimes.authorization_code),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            code_challenge: request.code_challenge.clone(),
            code_challenge_method: S256.into(),
            nonce: request.nonce.clone().unwrap_or_default(),
            claims: "{}".into(),
            auth_time: auth_time.or(user.last_login),
        })
        .await?;
    let mut pairs = vec![("code", code)];
    if let Some(state) = &request.state {
        pairs.push(("state", state.clone()));
    }
    Ok(append_query(&request.redirect_uri, &pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_is_appended_to_the_registered_uri() {
        assert_eq!(
            append_query(
                "http://x/cb",
                &[("code", "a b".into()), ("state", "s".into())]
            ),
            "http://x/cb?code=a+b&state=s"
        );
        assert_eq!(
            append_query("myapp://cb?x=1", &[("code", "c".into())]),
            "myapp://cb?x=1&code=c"
        );
    }

    #[test]
    fn duplicates_are_recorded() {
        let p = AuthorizationParams::from_pairs([
            ("client_id", "a"),
            ("client_id", "b"),
            ("other", "x"),
        ]);
        assert_eq!(p.client_id.as_deref(), Some("a"));
        assert_eq!(p.duplicates, vec!["client_id".to_string()]);
    }

    #[test]
    fn error_redirects_carry_state() {
        let e = AuthorizeError::Redirect {
            redirect_uri: "http://x/cb".into(),
            state: Some("st".into()),
            error: OAuthError::invalid_request("Code challenge required."),
        };
        assert_eq!(
            e.redirect_url().unwrap(),
            "http://x/cb?error=invalid_request&error_description=Code+challenge+required.&state=st"
        );
    }
}
