//! How an integrator adds an identity provider of their own: a **header-based provider for
//! deployments behind an authenticating reverse proxy** (oauth2-proxy, an Apache/nginx SSO
//! module, a zero-trust gateway…), registered through the builder next to the password login.
//!
//! ```text
//! JHE_PROXY_SHARED_SECRET=… cargo run --example custom_identity_provider
//! ```
//!
//! **Only for deployments where the proxy is the sole way in.** The provider believes the
//! `X-Forwarded-Email` header, so anyone who can reach the server directly could claim any
//! address. As a second line of defence it also requires the header `X-Proxy-Secret` to carry
//! a secret that only the proxy knows (`JHE_PROXY_SHARED_SECRET`); configure the proxy to
//! strip both headers from incoming requests and to set them itself.
//!
//! The person clicks "Continue with Hospital proxy" on the login page (or types an address of
//! one of the provider's domains): `/sso/proxy/login/` reads the headers and ends like every
//! other login, with the same rules (an account is created just in time as a practitioner
//! without organisation, or an existing one is linked when the address is verified) and a
//! fresh session.

use async_trait::async_trait;
use jhe_core::identity::{ExternalIdentity, IdentityProvider, IdpError, LoginStart, LoginStep};
use jhe_core::store::MaintenanceStore;
use jhe_core::{Config, JheServer};
use jhe_plugins::SeaOrmStore;

/// Trusts the e-mail address an authenticating proxy puts in a header.
struct ProxyHeaderIdp {
    shared_secret: String,
    domains: Vec<String>,
}

impl ProxyHeaderIdp {
    fn header<'a>(start: &'a LoginStart<'_>, name: &str) -> Option<&'a str> {
        start
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }
}

#[async_trait]
impl IdentityProvider for ProxyHeaderIdp {
    fn id(&self) -> &str {
        "proxy"
    }

    fn display_name(&self) -> &str {
        "Hospital proxy"
    }

    fn is_external(&self) -> bool {
        true
    }

    fn domains(&self) -> &[String] {
        &self.domains
    }

    async fn start_login(&self, start: &LoginStart<'_>) -> Result<LoginStep, IdpError> {
        // Constant-time comparison of the proxy's secret.
        let presented = Self::header(start, "x-proxy-secret").unwrap_or("");
        let matches = presented.len() == self.shared_secret.len()
            && presented
                .bytes()
                .zip(self.shared_secret.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if self.shared_secret.is_empty() || !matches {
            return Err(IdpError::Rejected(
                "this request did not come through the organisation's proxy".into(),
            ));
        }
        let Some(email) = Self::header(start, "x-forwarded-email") else {
            return Err(IdpError::Rejected(
                "the proxy did not say who you are".into(),
            ));
        };
        Ok(LoginStep::Identified(ExternalIdentity {
            subject: Self::header(start, "x-forwarded-user")
                .unwrap_or(email)
                .to_string(),
            email: email.to_string(),
            // The proxy authenticated the person against the organisation's directory.
            email_verified: true,
            first_name: None,
            last_name: None,
            identifier: None,
        }))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().init();
    let config = Config::from_env()?;
    // The database and listen address are the embedding server's own settings.
    let database_url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "sqlite://jhe.db?mode=rwc".into());
    let store = SeaOrmStore::connect(&database_url).await?;
    store.migrate().await?;
    let proxy = ProxyHeaderIdp {
        shared_secret: std::env::var("JHE_PROXY_SHARED_SECRET").unwrap_or_default(),
        domains: vec!["hospital.example.org".into()],
    };
    let bind = std::env::var("JHE_BIND").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let server = JheServer::builder()
        .config(config)
        .store(store)
        .policy(jhe_plugins::RbacConsentPolicy)
        .data_format(jhe_plugins::OmhFormat::bundled())
        .data_format(jhe_plugins::AttachmentFormat::default())
        .identity_provider(jhe_plugins::PasswordIdp)
        .identity_provider(proxy)
        .build()?;
    server.prepare().await?;
    tracing::info!(%bind, "serving with the proxy header login at /sso/proxy/login/");
    poem::Server::new(poem::listener::TcpListener::bind(bind))
        .run(server.into_endpoint())
        .await?;
    Ok(())
}
