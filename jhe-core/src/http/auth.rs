//! Bearer-token authentication of API requests, resolving to a [`Principal`].
//!
//! Only `Authorization: Bearer <access token>` authenticates `/api/v1` and `/fhir/r5` calls
//! (session cookies do not). Failures follow rest-api.md §0.2: a missing token is
//! [`CoreError::Unauthenticated`] (401 `{"detail": "Authentication credentials were not
//! provided."}`, `WWW-Authenticate: Bearer realm="api"`), an unknown or revoked one
//! [`CoreError::InvalidToken`] (`The access token is invalid.`) and an expired one
//! [`CoreError::ExpiredToken`] (`The access token has expired.`), both with RFC 6750
//! `error="invalid_token"`. A valid token whose granted scopes do not cover the route gets
//! 403 [`CoreError::InsufficientScope`] (see [`crate::http::scopes`]).
//!
//! [`BearerAuth`] is the poem-openapi extractor of API operations: it declares the OAuth 2.0
//! authorization-code security scheme in the OpenAPI document and resolves the principal.

use std::sync::Arc;

use poem::Request;
use poem::http::header;
use poem_openapi::registry::{MetaOAuthFlow, MetaOAuthFlows, MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, OAuthScopes};

use crate::domain::GrantedScopes;
use crate::error::{CoreError, CoreResult};
use crate::http::scopes;
use crate::policy::{AuthMethod, Principal};
use crate::server::AppState;
use crate::services::oauth::tokens::{access_token_expired, hash, validate_access_token};

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive); `None` when
/// the header is absent or uses another scheme. An empty token is returned as `Some("")`.
pub fn bearer_token(req: &Request) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The principal of a bearer token, with the token's granted scopes (see the module
/// documentation for the errors). Does not check the scopes against a route: [`principal`] does.
///
/// # Errors
///
/// [`CoreError::ExpiredToken`] for an expired token, [`CoreError::InvalidToken`] for an unknown
/// or revoked token or an inactive account; storage errors.
pub async fn principal_for_token(state: &AppState, token: &str) -> CoreResult<Principal> {
    // A token verified a moment ago (see `services::token_cache`): no database round trip.
    let key = state.tokens.enabled().then(|| hash(token));
    if let Some(principal) = key.as_deref().and_then(|k| state.tokens.get(k)) {
        return Ok(principal);
    }
    let generation = state.tokens.generation();
    let Some((access, user)) = validate_access_token(state.store.as_ref(), token).await? else {
        return Err(
            if access_token_expired(state.store.as_ref(), token).await? {
                CoreError::ExpiredToken
            } else {
                CoreError::InvalidToken
            },
        );
    };
    let scopes = GrantedScopes::parse(&access.scope).unwrap_or_else(|e| {
        tracing::warn!(error = %e, token_id = access.id, "unreadable token scope; granting nothing");
        GrantedScopes::default()
    });
    let practitioner = state.store.get_practitioner_by_user(user.id).await?;
    let patient = state.store.get_patient_by_user(user.id).await?;
    let principal = Principal {
        user,
        practitioner,
        patient,
        via: AuthMethod::Bearer {
            application_id: access.application_id,
        },
        scopes,
    };
    if let Some(key) = key {
        state
            .tokens
            .insert(key, principal.clone(), access.expires, generation);
    }
    Ok(principal)
}

/// The authenticated caller of an API request (`/api/v1`, `/fhir/r5`, `/FHIR/R5`), once the
/// token's scopes are known to cover the route ([`crate::http::scopes`]).
///
/// # Errors
///
/// [`CoreError::Unauthenticated`] without a bearer token, [`CoreError::InvalidToken`] for a bad
/// one, [`CoreError::InsufficientScope`] (403) when its scopes do not cover the request (RFC 6750
/// §3.1), storage errors.
pub async fn principal(state: &AppState, req: &Request) -> CoreResult<Principal> {
    let principal = match bearer_token(req) {
        None => return Err(CoreError::Unauthenticated),
        Some(token) => principal_for_token(state, &token).await?,
    };
    let uri = req.original_uri();
    scopes::enforce(&principal.scopes, req.method(), uri.path(), uri.query())?;
    Ok(principal)
}

/// The scopes of the OAuth 2.0 security scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, OAuthScopes)]
pub enum JheScope {
    /// OpenID Connect scope
    #[oai(rename = "openid")]
    OpenId,
    /// Email address
    #[oai(rename = "email")]
    Email,
}

/// Name of the security scheme in the OpenAPI document.
pub const SECURITY_SCHEME: &str = "OAuth2";

/// The authenticated caller of an API operation: declares the OAuth 2.0 authorization-code flow
/// (`/o/authorize/`, `/o/token/`, PKCE) as the operation's security requirement and resolves the
/// bearer token to a [`Principal`] (401 otherwise, see the module documentation).
///
/// A hand-written extractor rather than `#[derive(SecurityScheme)]`, whose generated code answers
/// a missing header itself (plain-text 401) before any checker runs.
#[derive(Debug, Clone)]
pub struct BearerAuth(pub Principal);

impl<'a> ApiExtractor<'a> for BearerAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SECURITY_SCHEME,
            MetaSecurityScheme {
                ty: "oauth2",
                description: Some(
                    "Bearer access tokens from the OAuth 2.0 / OpenID Connect provider under /o/ \
                     (authorization code with PKCE S256, or token exchange).",
                ),
                name: None,
                key_in: None,
                scheme: None,
                bearer_format: None,
                flows: Some(MetaOAuthFlows {
                    implicit: None,
                    password: None,
                    client_credentials: None,
                    authorization_code: Some(MetaOAuthFlow {
                        authorization_url: Some("/o/authorize/"),
                        token_url: Some("/o/token/"),
                        refresh_url: Some("/o/token/"),
                        scopes: <JheScope as OAuthScopes>::meta(),
                    }),
                }),
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SECURITY_SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut poem::RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let state = req
            .data::<Arc<AppState>>()
            .ok_or_else(|| CoreError::Internal("the application state is not installed".into()))?;
        Ok(BearerAuth(principal(state, req).await?))
    }
}
