//! `SamlIdp`: SAML 2.0 single sign-on as a service provider (samael with xmlsec).
//!
//! * SP metadata at `/sso/{id}/metadata/` (SAML 2.0 Metadata, `SPSSODescriptor` with the ACS
//!   `/sso/{id}/acs/`, HTTP-POST binding, `AuthnRequestsSigned="true"`,
//!   `WantAssertionsSigned="true"`, the SP certificate).
//! * SP-initiated login: a signed `AuthnRequest` (RSA-SHA256) over the HTTP-Redirect binding
//!   (SAML Bindings §3.4), `RelayState` = the server's single-use handle.
//! * ACS over HTTP-POST (Bindings §3.5): the XML signature on the response or on the assertion
//!   is verified against the IdP metadata's signing certificates with xmlsec, and only the
//!   signed content is read (samael's `ValidateAndMarkNoAncestors`, which defeats signature
//!   wrapping); SHA-1 signatures are refused. Then issuer, audience (the SP entity id, which
//!   must be present), `Destination` and `Recipient` (the ACS URL), `InResponseTo` (the stored
//!   request id), `NotBefore`/`NotOnOrAfter` with a small clock skew (SAML Core §2.5.1,
//!   Profiles §4.1.4.3). The assertion id is returned for the one-time check across replicas.
//! * Single logout (SLO) is not implemented: logging out ends the local session only.
//!
//! samael's errors are not `Send`: every samael call happens in a plain function that turns
//! them into text before anything is awaited.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use jhe_core::domain::keys;
use jhe_core::identity::{
    ExternalIdentity, ExternalLogin, IdentityProvider, IdpError, LoginCallback, LoginStart,
    LoginStep, ProviderDocument, ProviderSettings,
};
use samael::crypto::{AllowedSignatureAlgorithm, CertificateDer};
use samael::metadata::{EntityDescriptor, HTTP_REDIRECT_BINDING};
use samael::schema::Assertion;
use samael::service_provider::{ServiceProvider, ServiceProviderBuilder};
use samael::traits::ToXml;
use thiserror::Error;

/// Why a [`SamlIdp`] could not be configured.
#[derive(Debug, Error)]
pub enum SamlConfigError {
    /// A file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What failed.
        message: String,
    },
    /// A value is not what it must be.
    #[error("{0}")]
    Invalid(String),
}

/// Which assertion attributes hold what (SAML attribute `Name` or `FriendlyName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeMap {
    /// E-mail address (default `email`, as the original).
    pub email: String,
    /// Given name (default `firstName`).
    pub first_name: String,
    /// Family name (default `lastName`).
    pub last_name: String,
    /// External id stored as the user's `identifier` (default `id`).
    pub identifier: String,
    /// The stable subject; `None` (default) uses the `NameID`.
    pub subject: Option<String>,
}

impl Default for AttributeMap {
    fn default() -> Self {
        Self {
            email: "email".into(),
            first_name: "firstName".into(),
            last_name: "lastName".into(),
            identifier: "id".into(),
            subject: None,
        }
    }
}

/// Where the IdP metadata comes from.
#[derive(Debug, Clone)]
enum MetadataSource {
    /// Parsed at start-up from a file.
    Loaded(Box<EntityDescriptor>),
    /// Fetched at the first login (and again after a failure), then kept.
    Url(String),
    /// The settings store: `auth.sso.idp_metadata_url` names the metadata URL (fetched like
    /// [`MetadataSource::Url`], again when the setting changes) and `auth.sso.saml2` turns the
    /// provider on and off, as the original keeps them.
    Settings,
}

/// SAML 2.0 single sign-on (see the module documentation).
///
/// Configure it with [`SamlIdp::from_env`], or [`SamlIdp::from_metadata_xml`] /
/// [`SamlIdp::from_metadata_url`] plus the setters.
#[derive(Clone)]
pub struct SamlIdp {
    id: String,
    display_name: String,
    metadata: MetadataSource,
    /// Fetched metadata with the URL it came from.
    cached: Arc<tokio::sync::RwLock<Option<(String, EntityDescriptor)>>>,
    sp_entity_id: Option<String>,
    original_urls: bool,
    key_der: Arc<Vec<u8>>,
    certificate: CertificateDer,
    attributes: AttributeMap,
    domains: Vec<String>,
    email_verified: bool,
    link_superusers: bool,
    clock_skew: Duration,
    name_id_format: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for SamlIdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The SP private key is never printed.
        f.debug_struct("SamlIdp")
            .field("id", &self.id)
            .field("display_name", &self.display_name)
            .field("sp_entity_id", &self.sp_entity_id)
            .field("original_urls", &self.original_urls)
            .field("attributes", &self.attributes)
            .field("domains", &self.domains)
            .field("email_verified", &self.email_verified)
            .field("link_superusers", &self.link_superusers)
            .field("key_der", &"[redacted]")
            .finish_non_exhaustive()
    }
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn read(path: &str) -> Result<String, SamlConfigError> {
    std::fs::read_to_string(path).map_err(|e| SamlConfigError::Read {
        path: path.to_string(),
        message: e.to_string(),
    })
}

fn parse_metadata(xml: &str) -> Result<EntityDescriptor, String> {
    let descriptor = EntityDescriptor::from_str(xml)
        .map_err(|e| format!("the IdP metadata is not a SAML EntityDescriptor: {e}"))?;
    if descriptor.entity_id.as_deref().unwrap_or("").is_empty() {
        return Err("the IdP metadata has no entityID".into());
    }
    let sp = ServiceProvider {
        idp_metadata: descriptor.clone(),
        ..ServiceProvider::default()
    };
    match sp.idp_signing_certs() {
        Ok(Some(certs)) if !certs.is_empty() => {}
        Ok(_) => {
            return Err(
                "the IdP metadata has no signing certificate, so its answers could not be verified"
                    .into(),
            );
        }
        Err(e) => return Err(format!("a certificate in the IdP metadata is invalid: {e}")),
    }
    if sp.sso_binding_location(HTTP_REDIRECT_BINDING).is_none() {
        return Err(
            "the IdP metadata has no SingleSignOnService with the HTTP-Redirect binding".into(),
        );
    }
    Ok(descriptor)
}

impl SamlIdp {
    fn new(
        metadata: MetadataSource,
        key_pem: &str,
        certificate_pem: &str,
    ) -> Result<Self, SamlConfigError> {
        let key = openssl::pkey::PKey::private_key_from_pem(key_pem.as_bytes())
            .map_err(|e| SamlConfigError::Invalid(format!("the SP private key is not PEM: {e}")))?;
        let key_der = key.private_key_to_der().map_err(|e| {
            SamlConfigError::Invalid(format!("the SP private key cannot be used: {e}"))
        })?;
        let certificate = openssl::x509::X509::from_pem(certificate_pem.as_bytes())
            .and_then(|c| c.to_der())
            .map_err(|e| {
                SamlConfigError::Invalid(format!(
                    "the SP certificate is not a PEM X.509 certificate: {e}"
                ))
            })?;
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| SamlConfigError::Invalid(format!("HTTP client: {e}")))?;
        Ok(Self {
            id: "saml".into(),
            display_name: "SAML2".into(),
            metadata,
            cached: Arc::new(tokio::sync::RwLock::new(None)),
            sp_entity_id: None,
            original_urls: false,
            key_der: Arc::new(key_der),
            certificate: CertificateDer::from(certificate),
            attributes: AttributeMap::default(),
            domains: Vec::new(),
            email_verified: true,
            link_superusers: false,
            clock_skew: Duration::seconds(60),
            name_id_format: None,
            http,
        })
    }

    /// A provider for the IdP described by `metadata_xml` (SAML 2.0 Metadata), signing its
    /// requests with the SP key and certificate (PEM).
    ///
    /// # Errors
    /// [`SamlConfigError::Invalid`] when the metadata has no entity id, no signing certificate
    /// or no HTTP-Redirect single sign-on service, or the key or certificate is not PEM.
    pub fn from_metadata_xml(
        metadata_xml: &str,
        key_pem: &str,
        certificate_pem: &str,
    ) -> Result<Self, SamlConfigError> {
        let descriptor = parse_metadata(metadata_xml).map_err(SamlConfigError::Invalid)?;
        Self::new(
            MetadataSource::Loaded(Box::new(descriptor)),
            key_pem,
            certificate_pem,
        )
    }

    /// A provider whose IdP metadata is fetched from `url` at the first login (a failure shows
    /// a "cannot be reached" page and is retried at the next login).
    ///
    /// # Errors
    /// [`SamlConfigError::Invalid`] when the key or certificate is not PEM.
    pub fn from_metadata_url(
        url: &str,
        key_pem: &str,
        certificate_pem: &str,
    ) -> Result<Self, SamlConfigError> {
        Self::new(
            MetadataSource::Url(url.to_string()),
            key_pem,
            certificate_pem,
        )
    }

    /// A provider configured in the settings store, as the original keeps it: it is offered
    /// while the setting `auth.sso.saml2` is on and `auth.sso.idp_metadata_url` names the IdP
    /// metadata URL (both read at each login, so an administrator turns SAML on, off or to
    /// another IdP without a restart); the metadata is fetched at the first login and again
    /// when the URL changes. The SP key and certificate (PEM) stay out of the settings store.
    ///
    /// # Errors
    /// [`SamlConfigError::Invalid`] when the key or certificate is not PEM.
    pub fn from_settings_store(
        key_pem: &str,
        certificate_pem: &str,
    ) -> Result<Self, SamlConfigError> {
        Self::new(MetadataSource::Settings, key_pem, certificate_pem)
    }

    /// The provider configured by environment variables, or `None` when neither an IdP
    /// metadata source (`JHE_SAML_IDP_METADATA_FILE`, `JHE_SAML_IDP_METADATA_URL` or the
    /// original's `IDENTITY_PROVIDER_METADATA_URL`) nor an SP key and certificate are set.
    /// With only the SP key and certificate, the IdP comes from the settings store
    /// ([`SamlIdp::from_settings_store`]). See the README ("Single sign-on") for every
    /// variable.
    ///
    /// # Errors
    /// A missing SP key or certificate, an unreadable file or invalid metadata.
    pub fn from_env() -> Result<Option<Self>, SamlConfigError> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let file = var("JHE_SAML_IDP_METADATA_FILE");
        let url =
            var("JHE_SAML_IDP_METADATA_URL").or_else(|| var("IDENTITY_PROVIDER_METADATA_URL"));
        let sp_configured =
            var("JHE_SAML_SP_KEY_FILE").is_some() || var("JHE_SAML_SP_CERT_FILE").is_some();
        if file.is_none() && url.is_none() && !sp_configured {
            return Ok(None);
        }
        let key = var("JHE_SAML_SP_KEY_FILE").ok_or_else(|| {
            SamlConfigError::Invalid(
                "JHE_SAML_SP_KEY_FILE must name the SP's PEM private key".into(),
            )
        })?;
        let cert = var("JHE_SAML_SP_CERT_FILE").ok_or_else(|| {
            SamlConfigError::Invalid(
                "JHE_SAML_SP_CERT_FILE must name the SP's PEM certificate".into(),
            )
        })?;
        let (key, cert) = (read(&key)?, read(&cert)?);
        let mut idp = match (file, url) {
            (Some(file), _) => Self::from_metadata_xml(&read(&file)?, &key, &cert)?,
            (None, Some(url)) => Self::from_metadata_url(&url, &key, &cert)?,
            (None, None) => Self::from_settings_store(&key, &cert)?,
        };
        if let Some(entity_id) = var("JHE_SAML_SP_ENTITY_ID") {
            idp = idp.sp_entity_id(&entity_id);
        }
        if let Some(name) = var("JHE_SAML_DISPLAY_NAME") {
            idp = idp.display_name(&name);
        }
        if let Some(domains) = var("JHE_SAML_DOMAINS").or_else(|| var("SSO_VALID_DOMAINS")) {
            idp = idp.domains(domains.split([',', ' ', ';']));
        }
        let mut attributes = AttributeMap::default();
        if let Some(v) = var("JHE_SAML_ATTR_EMAIL") {
            attributes.email = v;
        }
        if let Some(v) = var("JHE_SAML_ATTR_FIRST_NAME") {
            attributes.first_name = v;
        }
        if let Some(v) = var("JHE_SAML_ATTR_LAST_NAME") {
            attributes.last_name = v;
        }
        if let Some(v) = var("JHE_SAML_ATTR_IDENTIFIER") {
            attributes.identifier = v;
        }
        attributes.subject = var("JHE_SAML_ATTR_SUBJECT");
        idp = idp.attribute_map(attributes);
        let flag = |name: &str, default: bool| -> Result<bool, SamlConfigError> {
            match var(name).map(|v| v.to_ascii_lowercase()) {
                None => Ok(default),
                Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
                Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
                Some(v) => Err(SamlConfigError::Invalid(format!(
                    "{name} must be true or false, not {v}"
                ))),
            }
        };
        idp = idp
            .email_verified(flag("JHE_SAML_EMAIL_VERIFIED", true)?)
            .link_superusers(flag("JHE_SAML_LINK_SUPERUSERS", false)?)
            .original_urls(flag("JHE_SAML_ORIGINAL_URLS", false)?);
        if let Some(skew) = var("JHE_SAML_CLOCK_SKEW_SECONDS") {
            let seconds: i64 = skew.parse().map_err(|_| {
                SamlConfigError::Invalid(format!(
                    "JHE_SAML_CLOCK_SKEW_SECONDS must be a number of seconds, not {skew}"
                ))
            })?;
            idp = idp.clock_skew(Duration::seconds(seconds.clamp(0, 600)));
        }
        if let Some(format) = var("JHE_SAML_NAME_ID_FORMAT") {
            idp.name_id_format = Some(format);
        }
        Ok(Some(idp))
    }

    /// The provider id (default `saml`; its routes are `/sso/{id}/…`).
    pub fn id(mut self, id: &str) -> Self {
        self.id = id.to_string();
        self
    }

    /// The login button's label (default `SAML2`).
    pub fn display_name(mut self, name: &str) -> Self {
        self.display_name = name.to_string();
        self
    }

    /// The SP entity id (default `<SITE_URL>/sso/{id}/metadata/`).
    pub fn sp_entity_id(mut self, entity_id: &str) -> Self {
        self.sp_entity_id = Some(entity_id.to_string());
        self
    }

    /// Use the original JHE's URLs (django-saml2-auth) so that an IdP registered for it keeps
    /// working unchanged: assertion consumer service `<SITE_URL>/sso/acs/` (the AuthnRequest's
    /// `AssertionConsumerServiceURL`, the checked `Destination`/`Recipient` and the metadata)
    /// and, unless [`sp_entity_id`](Self::sp_entity_id) says otherwise, the entity id
    /// `<SITE_URL>/sso/acs/`. Default `false` (`/sso/{id}/acs/`, entity id = the metadata
    /// URL). `/saml/login/` and `/sso/acs/` are routed to the provider `saml` either way.
    pub fn original_urls(mut self, original: bool) -> Self {
        self.original_urls = original;
        self
    }

    /// Which attributes hold the e-mail, names, identifier and subject.
    pub fn attribute_map(mut self, map: AttributeMap) -> Self {
        self.attributes = map;
        self
    }

    /// E-mail domains routed to this IdP (and the only ones it may log in).
    pub fn domains<'a>(mut self, domains: impl IntoIterator<Item = &'a str>) -> Self {
        self.domains = super::normalize_domains(domains);
        self
    }

    /// Whether the IdP is authoritative for the addresses it asserts (default `true`), so
    /// that an existing account with the same address is linked.
    pub fn email_verified(mut self, verified: bool) -> Self {
        self.email_verified = verified;
        self
    }

    /// Whether existing superuser accounts may be linked (default `false`).
    pub fn link_superusers(mut self, allowed: bool) -> Self {
        self.link_superusers = allowed;
        self
    }

    /// The clock skew tolerated on `NotBefore` / `NotOnOrAfter` (default 60 s).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    fn entity_id(&self, site_url: &str) -> String {
        self.sp_entity_id.clone().unwrap_or_else(|| {
            if self.original_urls {
                self.acs_url(site_url)
            } else {
                format!("{site_url}/sso/{}/metadata/", self.id)
            }
        })
    }

    fn acs_url(&self, site_url: &str) -> String {
        if self.original_urls {
            format!("{site_url}/sso/acs/")
        } else {
            format!("{site_url}/sso/{}/acs/", self.id)
        }
    }

    async fn idp_metadata(
        &self,
        settings: &ProviderSettings,
    ) -> Result<EntityDescriptor, IdpError> {
        let url =
            match &self.metadata {
                MetadataSource::Loaded(descriptor) => return Ok(descriptor.as_ref().clone()),
                MetadataSource::Url(url) => url.as_str(),
                MetadataSource::Settings => settings
                    .text(keys::AUTH_SSO_IDP_METADATA_URL)
                    .ok_or_else(|| {
                        IdpError::Unavailable(format!(
                            "no IdP metadata URL is configured (setting {})",
                            keys::AUTH_SSO_IDP_METADATA_URL
                        ))
                    })?,
            };
        if let Some((cached_url, descriptor)) = self.cached.read().await.as_ref()
            && cached_url == url
        {
            return Ok(descriptor.clone());
        }
        let unavailable = |m: String| IdpError::Unavailable(m);
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(format!("its metadata could not be fetched: {e}")))?;
        if !response.status().is_success() {
            return Err(unavailable(format!(
                "its metadata answered HTTP {}",
                response.status().as_u16()
            )));
        }
        let xml = response
            .text()
            .await
            .map_err(|e| unavailable(format!("its metadata could not be read: {e}")))?;
        let descriptor = parse_metadata(&xml).map_err(unavailable)?;
        *self.cached.write().await = Some((url.to_string(), descriptor.clone()));
        Ok(descriptor)
    }

    fn service_provider(
        &self,
        site_url: &str,
        idp_metadata: EntityDescriptor,
    ) -> Result<ServiceProvider, String> {
        let key = openssl::pkey::PKey::private_key_from_der(&self.key_der).map_err(text)?;
        ServiceProviderBuilder::default()
            .entity_id(self.entity_id(site_url))
            .key(key)
            .certificate(self.certificate.clone())
            .metadata_url(format!("{site_url}/sso/{}/metadata/", self.id))
            .acs_url(self.acs_url(site_url))
            .slo_url(format!("{site_url}/sso/{}/slo/", self.id))
            .idp_metadata(idp_metadata)
            .authn_name_id_format(self.name_id_format.clone())
            .allow_idp_initiated(false)
            .max_clock_skew(self.clock_skew)
            .max_issue_delay(Duration::seconds(90) + self.clock_skew)
            .allowed_signature_algorithms(Some(vec![
                AllowedSignatureAlgorithm::RsaSha256,
                AllowedSignatureAlgorithm::RsaSha384,
                AllowedSignatureAlgorithm::RsaSha512,
                AllowedSignatureAlgorithm::EcdsaSha256,
                AllowedSignatureAlgorithm::EcdsaSha384,
                AllowedSignatureAlgorithm::EcdsaSha512,
            ]))
            .build()
            .map_err(text)
    }

    /// Builds the signed HTTP-Redirect URL and the request id (no await inside: samael errors
    /// are not `Send`).
    fn authn_request(
        &self,
        site_url: &str,
        relay_state: &str,
        idp_metadata: EntityDescriptor,
    ) -> Result<(String, String), String> {
        let sp = self.service_provider(site_url, idp_metadata)?;
        let destination = sp
            .sso_binding_location(HTTP_REDIRECT_BINDING)
            .ok_or("the IdP has no HTTP-Redirect single sign-on service")?;
        let mut request = sp.make_authentication_request(&destination).map_err(text)?;
        // samael's ids carry 32 random bits; ours carry 256 (an NCName: starts with `_`).
        request.id = format!("_{}", jhe_kdf::random_token(43));
        let key = sp.key.as_ref().ok_or("no SP key")?;
        let url = request
            .signed_redirect(relay_state, key)
            .map_err(text)?
            .ok_or("the AuthnRequest has no destination")?;
        Ok((url.to_string(), request.id))
    }

    fn metadata_xml(&self, site_url: &str) -> Result<String, String> {
        let sp = self.service_provider(site_url, EntityDescriptor::default())?;
        let mut descriptor = sp.metadata().map_err(text)?;
        for sp_descriptor in descriptor.sp_sso_descriptors.iter_mut().flatten() {
            sp_descriptor.authn_requests_signed = Some(true);
            sp_descriptor.want_assertions_signed = Some(true);
            // Single logout is not implemented: advertise none.
            sp_descriptor.single_logout_services = None;
        }
        descriptor.to_string().map_err(text)
    }

    /// Verifies the POSTed response (no await inside).
    fn verify(
        &self,
        site_url: &str,
        encoded: &str,
        request_id: &str,
        idp_metadata: EntityDescriptor,
    ) -> Result<Assertion, String> {
        use base64::Engine as _;
        let sp = self.service_provider(site_url, idp_metadata)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| "the SAMLResponse is not base64".to_string())?;
        let xml =
            String::from_utf8(bytes).map_err(|_| "the SAMLResponse is not UTF-8".to_string())?;
        // Signature wrapping needs a second Response or Assertion element somewhere (the signed
        // one moved, an evil one added): a Web SSO response carries exactly one of each.
        let (responses, assertions) = count_saml_elements(&xml);
        if responses > 1 || assertions != 1 {
            return Err(format!(
                "the response is malformed ({responses} Response and {assertions} Assertion elements; exactly one of each is accepted)"
            ));
        }
        let assertion = sp
            .parse_xml_response(&xml, Some(&[request_id]))
            .map_err(|e| describe(&e))?;
        // Checks samael leaves to the caller when only the assertion is signed: the outer
        // response (unsigned then) must still not name another destination or request.
        if let Ok(response) = samael::schema::Response::from_str(&xml) {
            let acs = self.acs_url(site_url);
            if response.destination.as_deref().is_some_and(|d| d != acs) {
                return Err(format!(
                    "the response is addressed to another service (Destination {}, expected {acs})",
                    response.destination.unwrap_or_default()
                ));
            }
            if response
                .in_response_to
                .as_deref()
                .is_some_and(|r| r != request_id)
            {
                return Err("the response answers another login request (InResponseTo)".into());
            }
        }
        let audience = self.entity_id(site_url);
        let has_audience = assertion
            .conditions
            .as_ref()
            .and_then(|c| c.audience_restrictions.as_ref())
            .is_some_and(|r| r.iter().any(|r| r.audience.iter().any(|a| a == &audience)));
        if !has_audience {
            return Err(format!(
                "the assertion is not addressed to this service (no Audience {audience})"
            ));
        }
        Ok(assertion)
    }

    fn identity(&self, assertion: &Assertion) -> ExternalIdentity {
        let attribute = |wanted: &str| -> Option<String> {
            assertion
                .attribute_statements
                .iter()
                .flatten()
                .flat_map(|s| s.attributes.iter())
                .find(|a| {
                    a.name.as_deref() == Some(wanted) || a.friendly_name.as_deref() == Some(wanted)
                })
                .and_then(|a| a.values.iter().find_map(|v| v.value.clone()))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let name_id = assertion
            .subject
            .as_ref()
            .and_then(|s| s.name_id.as_ref())
            .map(|n| n.value.trim().to_string());
        let subject = match &self.attributes.subject {
            Some(name) => attribute(name),
            None => name_id.clone(),
        };
        let email = attribute(&self.attributes.email)
            .or_else(|| name_id.filter(|n| n.contains('@')))
            .unwrap_or_default();
        ExternalIdentity {
            subject: subject.unwrap_or_default(),
            email,
            email_verified: self.email_verified,
            first_name: attribute(&self.attributes.first_name),
            last_name: attribute(&self.attributes.last_name),
            identifier: attribute(&self.attributes.identifier),
        }
    }
}

/// Counts the elements whose local name is `Response` and `Assertion` (any namespace prefix),
/// without trusting anything in the document. Comments and processing instructions are
/// skipped; text that merely looks like a tag inside them is ignored.
fn count_saml_elements(xml: &str) -> (usize, usize) {
    let mut responses = 0;
    let mut assertions = 0;
    let mut rest = xml;
    while let Some(position) = rest.find('<') {
        rest = rest.get(position + 1..).unwrap_or("");
        if let Some(comment) = rest.strip_prefix("!--") {
            rest = comment
                .find("-->")
                .and_then(|end| comment.get(end + 3..))
                .unwrap_or("");
            continue;
        }
        if rest.starts_with('!') || rest.starts_with('?') || rest.starts_with('/') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '>' && *c != '/')
            .collect();
        let local = name.rsplit(':').next().unwrap_or("");
        match local {
            "Response" => responses += 1,
            "Assertion" => assertions += 1,
            _ => {}
        }
    }
    (responses, assertions)
}

/// A person-readable reason for samael's refusal.
fn describe(error: &samael::service_provider::Error) -> String {
    use samael::service_provider::Error as E;
    match error {
        E::FailedToValidateSignature => {
            "the response or its assertion is not signed by the identity provider's key".into()
        }
        E::AssertionConditionAudienceRestrictionFailed { requirement } => {
            format!(
                "the assertion is not addressed to this service (Audience must be {requirement})"
            )
        }
        E::DestinationValidationError { .. } | E::AssertionRecipientMismatch { .. } => {
            "the response is addressed to another service (Destination/Recipient)".into()
        }
        E::AssertionInResponseToInvalid { .. } | E::ResponseInResponseToInvalid { .. } => {
            "the response answers another login request (InResponseTo)".into()
        }
        E::AssertionExpired { .. }
        | E::ResponseExpired { .. }
        | E::AssertionConditionExpired { .. }
        | E::AssertionSubjectConfirmationExpired { .. } => "the assertion has expired".into(),
        E::AssertionConditionExpiredBefore { .. }
        | E::AssertionSubjectConfirmationExpiredBefore { .. } => {
            "the assertion is not valid yet".into()
        }
        E::AssertionIssuerMismatch { .. } | E::ResponseIssuerMismatch { .. } => {
            "the assertion was issued by another identity provider".into()
        }
        E::ResponseBadStatusCode { code } => {
            format!("the identity provider did not log you in ({code})")
        }
        other => format!("the response is not valid ({other})"),
    }
}

#[async_trait]
impl IdentityProvider for SamlIdp {
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

    fn setting_keys(&self) -> &[&str] {
        match self.metadata {
            MetadataSource::Settings => &[keys::AUTH_SSO_SAML2, keys::AUTH_SSO_IDP_METADATA_URL],
            _ => &[],
        }
    }

    fn is_enabled(&self, settings: &ProviderSettings) -> bool {
        match self.metadata {
            MetadataSource::Settings => {
                settings.is_on(keys::AUTH_SSO_SAML2)
                    && settings.text(keys::AUTH_SSO_IDP_METADATA_URL).is_some()
            }
            _ => true,
        }
    }

    async fn start_login(&self, start: &LoginStart<'_>) -> Result<LoginStep, IdpError> {
        let metadata = self.idp_metadata(start.settings).await?;
        let (url, request_id) = self
            .authn_request(start.site_url, start.state, metadata)
            .map_err(IdpError::Unavailable)?;
        Ok(LoginStep::Redirect {
            url,
            request_id,
            data: serde_json::Value::Null,
        })
    }

    async fn complete_login(
        &self,
        callback: &LoginCallback<'_>,
    ) -> Result<ExternalLogin, IdpError> {
        let Some(encoded) = callback.params.get("SAMLResponse") else {
            return Err(IdpError::Rejected(
                "the answer holds no SAMLResponse".into(),
            ));
        };
        let metadata = self.idp_metadata(callback.settings).await?;
        let assertion = self
            .verify(callback.site_url, encoded, callback.request_id, metadata)
            .map_err(IdpError::Rejected)?;
        let until = assertion
            .subject
            .iter()
            .flat_map(|s| s.subject_confirmations.iter().flatten())
            .filter_map(|c| c.subject_confirmation_data.as_ref()?.not_on_or_after)
            .chain(
                assertion
                    .conditions
                    .iter()
                    .filter_map(|c| c.not_on_or_after),
            )
            .max()
            .unwrap_or_else(Utc::now)
            + self.clock_skew;
        let once = jhe_kdf::sha256_hex(&format!(
            "{}\n{}",
            assertion.issuer.value.as_deref().unwrap_or(""),
            assertion.id
        ));
        Ok(ExternalLogin {
            identity: self.identity(&assertion),
            once: Some((once, until)),
        })
    }

    fn metadata(&self, site_url: &str) -> Result<Option<ProviderDocument>, IdpError> {
        let body = self.metadata_xml(site_url).map_err(IdpError::Unavailable)?;
        Ok(Some(ProviderDocument {
            content_type: "application/samlmetadata+xml".into(),
            body,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::count_saml_elements;

    #[test]
    fn counts_response_and_assertion_elements_of_any_prefix() {
        assert_eq!(
            count_saml_elements(
                r#"<?xml version="1.0"?><samlp:Response ID="a"><saml:Issuer>x</saml:Issuer><saml:Assertion ID="b"><saml:Subject/></saml:Assertion></samlp:Response>"#
            ),
            (1, 1)
        );
        assert_eq!(
            count_saml_elements(
                r#"<Response><Assertion/><Extensions><Response><Assertion></Assertion></Response></Extensions></Response>"#
            ),
            (2, 2)
        );
        assert_eq!(
            count_saml_elements(
                r#"<p:Response><!-- <Assertion> --><a:EncryptedAssertion/><a:Assertion/></p:Response>"#
            ),
            (1, 1)
        );
        assert_eq!(count_saml_elements("<Response"), (1, 0));
        assert_eq!(count_saml_elements(""), (0, 0));
    }
}
