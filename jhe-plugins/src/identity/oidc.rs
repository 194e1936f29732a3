//! `OidcIdp`: log in with an external OpenID Connect provider (this server as relying party).
//!
//! OpenID Connect Core 1.0 authorization code flow with PKCE (RFC 7636, S256) and a nonce:
//! discovery (OpenID Connect Discovery 1.0, issuer checked), the ID token verified by the
//! `openidconnect` crate (signature against the provider's JWKS, `iss`, `aud`, `exp`, `nonce`,
//! and `at_hash` when present), then the userinfo endpoint (whose `sub` must match). The
//! redirect URI is `<SITE_URL>/sso/{id}/callback/`. Several providers can be configured at once
//! (each with its own id).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use jhe_core::identity::{
    ExternalIdentity, ExternalLogin, IdentityProvider, IdpError, LoginCallback, LoginStart,
    LoginStep,
};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    HttpRequest, HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, TokenResponse,
};

/// How long a discovery document (with the provider's keys) is used before it is fetched again.
const DISCOVERY_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// Why an [`OidcIdp`] could not be configured.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OidcConfigError(String);

/// An HTTP failure talking to the provider.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

type HttpFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>>;

/// openidconnect's async HTTP client over reqwest 0.13 (redirects are not followed, to avoid
/// SSRF through the provider's endpoints; 10 s timeout).
fn http_client(client: reqwest::Client) -> impl Fn(HttpRequest) -> HttpFuture {
    move |request: HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut builder = client.request(parts.method, parts.uri.to_string());
            for (name, value) in parts.headers.iter() {
                builder = builder.header(name, value);
            }
            let response = builder
                .body(body)
                .send()
                .await
                .map_err(|e| HttpError(e.to_string()))?;
            let mut out = openidconnect::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                out = out.header(name, value);
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| HttpError(e.to_string()))?;
            out.body(bytes.to_vec())
                .map_err(|e| HttpError(e.to_string()))
        })
    }
}

/// An external OpenID Connect provider (see the module documentation).
#[derive(Clone)]
pub struct OidcIdp {
    id: String,
    display_name: String,
    issuer: IssuerUrl,
    client_id: String,
    client_secret: Option<String>,
    scopes: Vec<String>,
    domains: Vec<String>,
    trust_email: bool,
    link_superusers: bool,
    http: reqwest::Client,
    discovered: Arc<tokio::sync::RwLock<Option<(std::time::Instant, CoreProviderMetadata)>>>,
}

impl std::fmt::Debug for OidcIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client secret is never printed.
        f.debug_struct("OidcIdp")
            .field("id", &self.id)
            .field("display_name", &self.display_name)
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("scopes", &self.scopes)
            .field("domains", &self.domains)
            .field("trust_email", &self.trust_email)
            .field("link_superusers", &self.link_superusers)
            .finish_non_exhaustive()
    }
}

impl OidcIdp {
    /// A provider with id `oidc-<name>` for the issuer (e.g. `https://login.example.org`) and a
    /// client registered there (public when `client_secret` is `None`).
    ///
    /// # Errors
    /// The issuer is not a URL, or the name is not made of `a-z`, `0-9` and `-`.
    pub fn new(
        name: &str,
        issuer: &str,
        client_id: &str,
        client_secret: Option<&str>,
    ) -> Result<Self, OidcConfigError> {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(OidcConfigError(format!(
                "OpenID Connect provider name {name:?} must be made of a-z, 0-9 and -"
            )));
        }
        let issuer = IssuerUrl::new(issuer.trim_end_matches('/').to_string())
            .map_err(|e| OidcConfigError(format!("issuer {issuer:?} is not a URL: {e}")))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| OidcConfigError(format!("HTTP client: {e}")))?;
        Ok(Self {
            id: format!("oidc-{name}"),
            display_name: name.to_string(),
            issuer,
            client_id: client_id.to_string(),
            client_secret: client_secret.map(str::to_string),
            scopes: vec!["email".into(), "profile".into()],
            domains: Vec::new(),
            trust_email: false,
            link_superusers: false,
            http,
            discovered: Arc::new(tokio::sync::RwLock::new(None)),
        })
    }

    /// Every provider named in `JHE_OIDC_PROVIDERS` (comma-separated names), each configured by
    /// `JHE_OIDC_<NAME>_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET` (optional), `_DISPLAY_NAME`,
    /// `_SCOPES` (space-separated, besides `openid`; default `email profile`), `_DOMAINS`,
    /// `_TRUST_EMAIL` and `_LINK_SUPERUSERS` (`true`/`false`, default `false`). `<NAME>` is the
    /// name upper-cased with `-` as `_`.
    ///
    /// # Errors
    /// A provider without issuer or client id, or an invalid value.
    pub fn all_from_env() -> Result<Vec<Self>, OidcConfigError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let Some(names) = var("JHE_OIDC_PROVIDERS") else {
            return Ok(Vec::new());
        };
        let mut providers = Vec::new();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let prefix = format!("JHE_OIDC_{}_", name.to_ascii_uppercase().replace('-', "_"));
            let get = |key: &str| var(&format!("{prefix}{key}"));
            let required = |key: &str| {
                get(key).ok_or_else(|| OidcConfigError(format!("{prefix}{key} must be set")))
            };
            let flag = |key: &str| -> Result<bool, OidcConfigError> {
                match get(key).map(|v| v.to_ascii_lowercase()) {
                    None => Ok(false),
                    Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
                    Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
                    Some(v) => Err(OidcConfigError(format!(
                        "{prefix}{key} must be true or false, not {v}"
                    ))),
                }
            };
            let mut provider = Self::new(
                &name.to_ascii_lowercase(),
                &required("ISSUER")?,
                &required("CLIENT_ID")?,
                get("CLIENT_SECRET").as_deref(),
            )?
            .trust_email(flag("TRUST_EMAIL")?)
            .link_superusers(flag("LINK_SUPERUSERS")?);
            if let Some(display) = get("DISPLAY_NAME") {
                provider = provider.display_name(&display);
            }
            if let Some(scopes) = get("SCOPES") {
                provider = provider.scopes(scopes.split_whitespace());
            }
            if let Some(domains) = get("DOMAINS") {
                provider = provider.domains(domains.split([',', ' ', ';']));
            }
            providers.push(provider);
        }
        Ok(providers)
    }

    /// The login button's label (default: the name).
    pub fn display_name(mut self, name: &str) -> Self {
        self.display_name = name.to_string();
        self
    }

    /// Scopes asked besides `openid` (default `email profile`).
    pub fn scopes<'a>(mut self, scopes: impl IntoIterator<Item = &'a str>) -> Self {
        self.scopes = scopes
            .into_iter()
            .filter(|s| *s != "openid")
            .map(str::to_string)
            .collect();
        self
    }

    /// E-mail domains routed to this provider (and the only ones it may log in).
    pub fn domains<'a>(mut self, domains: impl IntoIterator<Item = &'a str>) -> Self {
        self.domains = super::normalize_domains(domains);
        self
    }

    /// Treat every address this provider asserts as verified, even without `email_verified`
    /// (an organisation's own directory). Default `false`: only `email_verified: true` counts.
    pub fn trust_email(mut self, trust: bool) -> Self {
        self.trust_email = trust;
        self
    }

    /// Whether existing superuser accounts may be linked (default `false`).
    pub fn link_superusers(mut self, allowed: bool) -> Self {
        self.link_superusers = allowed;
        self
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, IdpError> {
        // Kept for a while, then fetched again: the provider's keys (JWKS) rotate.
        if let Some((at, metadata)) = self.discovered.read().await.as_ref()
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(metadata.clone());
        }
        let http = http_client(self.http.clone());
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &http)
            .await
            .map_err(|e| {
                use openidconnect::DiscoveryError as D;
                IdpError::Unavailable(match e {
                    D::Request(e) => format!("its discovery document could not be fetched: {e}"),
                    D::Response(status, _, _) => {
                        format!("its discovery document answered HTTP {}", status.as_u16())
                    }
                    D::Validation(m) => format!("its discovery document is invalid: {m}"),
                    other => format!("its discovery document is invalid: {other}"),
                })
            })?;
        *self.discovered.write().await = Some((std::time::Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    fn redirect_uri(&self, site_url: &str) -> Result<RedirectUrl, IdpError> {
        RedirectUrl::new(format!("{site_url}/sso/{}/callback/", self.id))
            .map_err(|e| IdpError::Unavailable(format!("bad redirect URI: {e}")))
    }
}

#[async_trait]
impl IdentityProvider for OidcIdp {
    fn id(&self) -> &str {
        &self.id
    }

    fn display_name(&self) -> &str {
        &self.display_name
    }

    fn is_external(&self) -> bool {
        true
    }

    fn domains(&self) -> &[String] {
        &self.domains
    }

    fn may_link_superusers(&self) -> bool {
        self.link_superusers
    }

    async fn start_login(&self, start: &LoginStart<'_>) -> Result<LoginStep, IdpError> {
        let metadata = self.metadata().await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            self.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect_uri(start.site_url)?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = start.state.to_string();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                move || CsrfToken::new(state),
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        if let Some(hint) = start.login_hint {
            request = request.add_extra_param("login_hint", hint.to_string());
        }
        let (url, _, nonce) = request.url();
        Ok(LoginStep::Redirect {
            url: url.to_string(),
            request_id: nonce.secret().clone(),
            data: serde_json::json!({"pkce_verifier": verifier.secret()}),
        })
    }

    async fn complete_login(
        &self,
        callback: &LoginCallback<'_>,
    ) -> Result<ExternalLogin, IdpError> {
        let Some(code) = callback.params.get("code") else {
            return Err(IdpError::Rejected(
                "the answer holds no authorization code".into(),
            ));
        };
        let Some(verifier) = callback.data.get("pkce_verifier").and_then(|v| v.as_str()) else {
            return Err(IdpError::Rejected("the login request is incomplete".into()));
        };
        let metadata = self.metadata().await?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.client_id.clone()),
            self.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect_uri(callback.site_url)?);
        let http = http_client(self.http.clone());
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .map_err(|e| IdpError::Unavailable(format!("no token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(&http)
            .await
            .map_err(|e| {
                use openidconnect::RequestTokenError as R;
                match e {
                    R::ServerResponse(r) => {
                        IdpError::Rejected(format!("the code was refused ({})", r.error()))
                    }
                    R::Request(e) => IdpError::Unavailable(format!(
                        "its token endpoint could not be reached: {e}"
                    )),
                    other => IdpError::Unavailable(format!(
                        "its token endpoint answered nonsense: {other}"
                    )),
                }
            })?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| IdpError::Rejected("the answer holds no ID token".into()))?;
        let nonce = Nonce::new(callback.request_id.to_string());
        let fresh;
        let mut id_verifier = client.id_token_verifier();
        let mut verified = id_token.claims(&id_verifier, &nonce).cloned();
        // A key the cached JWKS does not know: the provider rotated its keys. Fetch them again
        // (once) before refusing.
        if matches!(
            verified,
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey
            ))
        ) {
            *self.discovered.write().await = None;
            fresh = CoreClient::from_provider_metadata(
                self.metadata().await?,
                ClientId::new(self.client_id.clone()),
                self.client_secret.clone().map(ClientSecret::new),
            );
            id_verifier = fresh.id_token_verifier();
            verified = id_token.claims(&id_verifier, &nonce).cloned();
        }
        let claims =
            verified.map_err(|e| IdpError::Rejected(format!("the ID token is not valid: {e}")))?;
        if let Some(expected) = claims.access_token_hash() {
            let algorithm = id_token
                .signing_alg()
                .map_err(|e| IdpError::Rejected(format!("the ID token is not valid: {e}")))?;
            let key = id_token
                .signing_key(&id_verifier)
                .map_err(|e| IdpError::Rejected(format!("the ID token is not valid: {e}")))?;
            let actual = AccessTokenHash::from_token(tokens.access_token(), algorithm, key)
                .map_err(|e| IdpError::Rejected(format!("the ID token is not valid: {e}")))?;
            if &actual != expected {
                return Err(IdpError::Rejected(
                    "the ID token does not belong to the access token (at_hash)".into(),
                ));
            }
        }
        let subject = claims.subject().clone();
        let mut email = claims.email().map(|e| e.as_str().to_string());
        let mut email_verified = claims.email_verified();
        let given = |c: Option<&openidconnect::LocalizedClaim<openidconnect::EndUserGivenName>>| {
            c.and_then(|c| c.get(None)).map(|n| n.as_str().to_string())
        };
        let family = |c: Option<
            &openidconnect::LocalizedClaim<openidconnect::EndUserFamilyName>,
        >| { c.and_then(|c| c.get(None)).map(|n| n.as_str().to_string()) };
        let mut first_name = given(claims.given_name());
        let mut last_name = family(claims.family_name());
        if let Ok(request) = client.user_info(tokens.access_token().clone(), Some(subject.clone()))
        {
            let info: CoreUserInfoClaims = request
                .request_async(&http)
                .await
                .map_err(|e| IdpError::Unavailable(format!("its userinfo endpoint failed: {e}")))?;
            if let Some(e) = info.email() {
                email = Some(e.as_str().to_string());
                email_verified = info.email_verified().or(email_verified);
            }
            first_name = given(info.given_name()).or(first_name);
            last_name = family(info.family_name()).or(last_name);
        }
        Ok(ExternalLogin {
            identity: ExternalIdentity {
                subject: subject.as_str().to_string(),
                email: email.unwrap_or_default(),
                email_verified: self.trust_email || email_verified.unwrap_or(false),
                first_name,
                last_name,
                identifier: None,
            },
            once: None,
        })
    }
}
