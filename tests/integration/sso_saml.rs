//! SAML 2.0 single sign-on against a test identity provider built with samael (its response
//! builder, signed with xmlsec: not our SP code path). The IdP is driven by hand: the test
//! follows the SP's redirect, reads the signed AuthnRequest, and posts the answer to the ACS
//! the way a browser would.

use std::io::Read as _;
use std::str::FromStr;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use jhe_core::store::UserStore;
use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
use samael::idp::response_builder::{ResponseAttribute, build_response_template};
use samael::idp::sp_extractor::RequiredAttribute;
use samael::idp::{CertificateParams, IdentityProvider as SamaelIdp, KeyType, Rsa};
use samael::schema::AuthnRequest;
use samael::signature::{DigestAlgorithm, Signature};
use samael::traits::ToXml;

use crate::both_backends;
use crate::support::*;

const IDP_ENTITY: &str = "https://idp.hospital.example/saml";
const IDP_SSO: &str = "https://idp.hospital.example/sso";

/// A key pair and a self-signed certificate (DER key, DER certificate).
fn key_and_cert(name: &str) -> (Vec<u8>, CertificateDer) {
    let idp = SamaelIdp::generate_new(KeyType::Rsa(Rsa::Rsa2048)).unwrap();
    let cert = idp
        .create_certificate(&CertificateParams {
            common_name: name,
            issuer_name: name,
            days_until_expiration: 30,
        })
        .unwrap();
    (idp.export_private_key_der().unwrap(), cert)
}

fn pem_of(key_der: &[u8], cert: &CertificateDer) -> (String, String) {
    let key = openssl::rsa::Rsa::private_key_from_der(key_der).unwrap();
    let key = String::from_utf8(key.private_key_to_pem().unwrap()).unwrap();
    let cert = openssl::x509::X509::from_der(cert.der_data()).unwrap();
    let cert = String::from_utf8(cert.to_pem().unwrap()).unwrap();
    (key, cert)
}

/// The test IdP: its key, certificate and metadata.
struct TestIdp {
    key_der: Vec<u8>,
    cert: CertificateDer,
}

/// How to sign an answer.
#[derive(Clone, Copy, PartialEq)]
enum Sign {
    Response,
    /// The response, with samael's default SHA-1 digest (refused: only SHA-2 is accepted).
    ResponseSha1,
    Assertion,
    Nothing,
}

/// One answer of the IdP (defaults: a good one).
#[derive(Clone)]
struct Answer {
    email: String,
    request_id: String,
    audience: String,
    acs: String,
    issuer: String,
    not_before: Option<DateTime<Utc>>,
    not_on_or_after: DateTime<Utc>,
    sign: Sign,
}

impl TestIdp {
    fn new() -> Self {
        let (key_der, cert) = key_and_cert("Test IdP");
        Self { key_der, cert }
    }

    fn metadata(&self) -> String {
        let cert = base64::engine::general_purpose::STANDARD.encode(self.cert.der_data());
        format!(
            r#"<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{IDP_ENTITY}"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="{IDP_SSO}"/></md:IDPSSODescriptor></md:EntityDescriptor>"#
        )
    }

    /// The response XML (signed as asked). samael's own `sign_authn_response` leaves out
    /// `SubjectConfirmationData/@NotOnOrAfter`, so the template is completed by hand.
    fn response_xml(&self, a: &Answer) -> String {
        let attribute = |name: &str, value: &'static str| ResponseAttribute {
            required_attribute: RequiredAttribute {
                name: name.into(),
                format: Some("urn:oasis:names:tc:SAML:2.0:attrname-format:basic".into()),
            },
            value,
        };
        let email: &'static str = Box::leak(a.email.clone().into_boxed_str());
        let attributes = [
            attribute("email", email),
            attribute("firstName", "Grace"),
            attribute("lastName", "Hopper"),
            attribute("id", "emp-1906"),
        ];
        let mut response = build_response_template(
            &self.cert,
            &format!("nameid-{}", a.email),
            &a.audience,
            &a.issuer,
            &a.acs,
            &a.request_id,
            &attributes,
        );
        let assertion = response.assertion.as_mut().unwrap();
        let conditions = assertion.conditions.as_mut().unwrap();
        conditions.not_before = a.not_before;
        conditions.not_on_or_after = Some(a.not_on_or_after);
        for confirmation in assertion
            .subject
            .as_mut()
            .unwrap()
            .subject_confirmations
            .as_mut()
            .unwrap()
        {
            let data = confirmation.subject_confirmation_data.as_mut().unwrap();
            data.not_on_or_after = Some(a.not_on_or_after);
            data.not_before = a.not_before;
        }
        let sha256 = |id: &str| {
            let mut signature = Signature::template(id, &self.cert);
            for reference in &mut signature.signed_info.reference {
                reference.digest_method.algorithm = DigestAlgorithm::Sha256;
            }
            signature
        };
        match a.sign {
            Sign::ResponseSha1 => {}
            Sign::Response => response.signature = Some(sha256(&response.id)),
            Sign::Assertion => {
                response.signature = None;
                let id = assertion.id.clone();
                assertion.signature = Some(sha256(&id));
            }
            Sign::Nothing => response.signature = None,
        }
        let xml = response.to_string().unwrap();
        if a.sign == Sign::Nothing {
            xml
        } else {
            Crypto::sign_xml(xml.as_str(), &self.key_der).unwrap()
        }
    }
}

fn b64(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}

/// The SP's AuthnRequest, read from its redirect like an IdP would.
struct Started {
    request_id: String,
    relay_state: String,
}

struct Sso {
    app: TestApp,
    idp: TestIdp,
    sp_cert_pem: String,
    /// The SAML provider the app was given (for replicas).
    provider: Arc<dyn jhe_core::identity::IdentityProvider>,
    /// The SP's URLs (paths) the IdP sees.
    paths: SpPaths,
}

/// Where the SP starts logins, takes answers, and which entity id it has (paths).
#[derive(Clone, Copy)]
struct SpPaths {
    login: &'static str,
    acs: &'static str,
    entity: &'static str,
}

/// This server's own SAML URLs.
const OWN_PATHS: SpPaths = SpPaths {
    login: "/sso/saml/login/",
    acs: "/sso/saml/acs/",
    entity: "/sso/saml/metadata/",
};

/// The original JHE's (with `SamlIdp::original_urls`).
const ORIGINAL_PATHS: SpPaths = SpPaths {
    login: "/saml/login/",
    acs: "/sso/acs/",
    entity: "/sso/acs/",
};

async fn spawn(backend: Backend) -> Sso {
    spawn_for_domains(backend, &["hospital.example"]).await
}

async fn spawn_for_domains(backend: Backend, domains: &[&str]) -> Sso {
    spawn_with(backend, OWN_PATHS, |idp, key, cert| {
        jhe_plugins::SamlIdp::from_metadata_xml(&idp.metadata(), key, cert)
            .unwrap()
            .display_name("Hospital SSO")
            .domains(domains.iter().copied())
    })
    .await
}

/// A seeded app with the SAML provider `make(test IdP, SP key PEM, SP certificate PEM)`.
async fn spawn_with(
    backend: Backend,
    paths: SpPaths,
    make: impl FnOnce(&TestIdp, &str, &str) -> jhe_plugins::SamlIdp,
) -> Sso {
    let idp = TestIdp::new();
    let (sp_key, sp_cert) = key_and_cert("jhe SP");
    let (sp_key_pem, sp_cert_pem) = pem_of(&sp_key, &sp_cert);
    let saml = make(&idp, &sp_key_pem, &sp_cert_pem);
    let provider: Arc<dyn jhe_core::identity::IdentityProvider> = Arc::new(saml);
    let app = spawn_app_with_providers(backend, |_| {}, vec![provider.clone()]).await;
    jhe_core::services::seed::seed(
        &app.db.store,
        &app.config,
        false,
        &jhe_core::services::seed::NoProgress,
    )
    .await
    .unwrap();
    Sso {
        app,
        idp,
        sp_cert_pem,
        provider,
        paths,
    }
}

impl Sso {
    fn acs(&self) -> String {
        self.app.url(self.paths.acs)
    }

    fn entity(&self) -> String {
        self.app.url(self.paths.entity)
    }

    fn answer(&self, started: &Started, email: &str) -> Answer {
        Answer {
            email: email.into(),
            request_id: started.request_id.clone(),
            audience: self.entity(),
            acs: self.acs(),
            issuer: IDP_ENTITY.into(),
            not_before: Some(Utc::now() - Duration::seconds(5)),
            not_on_or_after: Utc::now() + Duration::minutes(5),
            sign: Sign::Response,
        }
    }

    /// `GET /sso/saml/login/?next=…` with the app's browser; checks the signed redirect.
    async fn start(&self, next: &str) -> Started {
        let response = self
            .app
            .client
            .get(self.app.url(self.paths.login))
            .query(&[("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        assert!(location.starts_with(IDP_SSO), "{location}");
        let url = url::Url::parse(&location).unwrap();
        let verifier = samael::crypto::UrlVerifier::from_x509_cert_pem(&self.sp_cert_pem).unwrap();
        assert!(
            verifier.verify_signed_request_url(&url).unwrap(),
            "the AuthnRequest redirect is signed with the SP key"
        );
        let query: std::collections::HashMap<String, String> =
            url.query_pairs().into_owned().collect();
        assert_eq!(
            query["SigAlg"],
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        );
        let deflated = base64::engine::general_purpose::STANDARD
            .decode(&query["SAMLRequest"])
            .unwrap();
        let mut xml = String::new();
        flate2::read::DeflateDecoder::new(deflated.as_slice())
            .read_to_string(&mut xml)
            .unwrap();
        let request = AuthnRequest::from_str(&xml).unwrap();
        assert_eq!(
            request.assertion_consumer_service_url.as_deref(),
            Some(self.acs().as_str())
        );
        assert_eq!(
            request.issuer.as_ref().and_then(|i| i.value.clone()),
            Some(self.entity())
        );
        assert_eq!(request.destination.as_deref(), Some(IDP_SSO));
        Started {
            request_id: request.id,
            relay_state: query["RelayState"].clone(),
        }
    }

    /// A whole good login of `email` (started for `/portal/`): the ACS's answer.
    async fn log_in(&self, email: &str) -> reqwest::Response {
        let started = self.start("/portal/").await;
        let answer = self.answer(&started, email);
        self.post(
            &b64(&self.idp.response_xml(&answer)),
            Some(&started.relay_state),
        )
        .await
    }

    /// Posts an answer to the ACS as the browser (with its cookies).
    async fn post(&self, response_b64: &str, relay_state: Option<&str>) -> reqwest::Response {
        self.post_to(&self.acs(), response_b64, relay_state).await
    }

    /// Posts an answer to `acs_url` (e.g. the same path on a replica) as the browser.
    async fn post_to(
        &self,
        acs_url: &str,
        response_b64: &str,
        relay_state: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![("SAMLResponse", response_b64.to_string())];
        if let Some(relay) = relay_state {
            form.push(("RelayState", relay.to_string()));
        }
        self.app
            .client
            .post(acs_url)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    async fn user_count(&self, email: &str) -> usize {
        usize::from(
            self.app
                .db
                .store
                .get_user_by_email(email)
                .await
                .unwrap()
                .is_some(),
        )
    }

    /// Posts a bad answer and checks the refusal page; nothing may be created.
    async fn refused(&self, answer: &Answer, started: &Started, expected: &str) {
        let xml = self.idp.response_xml(answer);
        self.refused_raw(&b64(&xml), started, expected).await;
    }

    async fn refused_raw(&self, response_b64: &str, started: &Started, expected: &str) {
        let response = self.post(response_b64, Some(&started.relay_state)).await;
        let status = response.status();
        assert!(
            response
                .headers()
                .get("set-cookie")
                .is_none_or(|c| !c.to_str().unwrap().starts_with("sessionid="))
        );
        let html = response.text().await.unwrap();
        assert_eq!(status, 403, "{html}");
        assert!(html.contains("Single sign-on failed"), "{html}");
        assert!(html.contains(expected), "expected {expected:?} in {html}");
        assert_eq!(self.user_count("grace@hospital.example").await, 0);
        assert_eq!(self.user_count("evil@hospital.example").await, 0);
    }
}

async fn good_login_gets_tokens(backend: Backend) {
    let sso = spawn(backend).await;
    let app = &sso.app;
    // The portal's authorization request, as `next` of the login.
    let client_id = admin_ui_client_id(app).await;
    let (verifier, challenge) = pkce_pair();
    let redirect_uri = callback_uri(app);
    let authorize_path = format!(
        "/o/authorize/?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", "openid email")
            .append_pair("state", "st")
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish()
    );
    let started = sso.start(&authorize_path).await;
    let answer = sso.answer(&started, "grace@hospital.example");
    let response = sso
        .post(
            &b64(&sso.idp.response_xml(&answer)),
            Some(&started.relay_state),
        )
        .await;
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    assert_eq!(response.headers()["location"], authorize_path.as_str());
    // Created just in time: a practitioner without organisation, with the mapped attributes.
    let user = app
        .db
        .store
        .get_user_by_email("grace@hospital.example")
        .await
        .unwrap()
        .expect("the user was created");
    assert_eq!(user.first_name, "Grace");
    assert_eq!(user.last_name, "Hopper");
    assert_eq!(user.identifier, "emp-1906");
    assert_eq!(
        user.user_type,
        Some(jhe_core::domain::UserType::Practitioner)
    );
    assert!(!user.is_superuser);
    assert!(user.password.starts_with('!'), "no usable password");
    // The session the browser now holds gets tokens from the ordinary OAuth flow.
    let cookie = session_cookie_of(app);
    let authorized = plain_client()
        .get(app.url(&authorize_path))
        .header("Cookie", format!("sessionid={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(authorized.status(), 302);
    let code = location_query(&authorized).remove("code").expect("a code");
    let (status, _, tokens) = token_request(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect_uri),
            ("client_id", &client_id),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let profile: serde_json::Value = bearer_get(
        app,
        "/api/v1/users/profile",
        tokens["access_token"].as_str().unwrap(),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(profile["email"], "grace@hospital.example");
    assert_eq!(profile["id"], user.id);
    let organizations: serde_json::Value = bearer_get(
        app,
        "/api/v1/users/organizations",
        tokens["access_token"].as_str().unwrap(),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(organizations, serde_json::json!([]), "no organisation");

    // A second login (signed assertion only, this time) finds the same user: created once.
    let again = sso.start("/portal/").await;
    let mut answer = sso.answer(&again, "grace@hospital.example");
    answer.sign = Sign::Assertion;
    let response = sso
        .post(
            &b64(&sso.idp.response_xml(&answer)),
            Some(&again.relay_state),
        )
        .await;
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    assert_eq!(response.headers()["location"], "/portal/");
    let same = app
        .db
        .store
        .get_user_by_email("grace@hospital.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.id, user.id);
}

async fn bad_answers_are_refused(backend: Backend) {
    let sso = spawn(backend).await;
    let now = Utc::now();
    let email = "grace@hospital.example";

    let started = sso.start("/portal/").await;
    let mut a = sso.answer(&started, email);
    a.sign = Sign::Nothing;
    sso.refused(&a, &started, "not signed by the identity provider")
        .await;

    let started = sso.start("/portal/").await;
    let mut a = sso.answer(&started, email);
    a.sign = Sign::ResponseSha1;
    sso.refused(&a, &started, "not signed by the identity provider")
        .await;

    let started = sso.start("/portal/").await;
    let mut a = sso.answer(&started, email);
    a.audience = "https://other-sp.example/".into();
    sso.refused(&a, &started, "not addressed to this service")
        .await;

    let started = sso.start("/portal/").await;
    let mut a = sso.answer(&started, email);
    a.acs = "https://other-sp.example/acs".into();
    sso.refused(&a, &started, "addressed to another service")
        .await;

    let started = sso.start("/portal/").await;
    let mut a = sso.answer(&started, email);
    a.not_before = Some(now - Duration::minutes(20));
    a.not_on_or_after = now - Duration::minutes(10);
    sso.refused(&a, &started, "has expired").await;

    let started = sso.start("/portal/").await;
    let mut a = sso.answer(&started, email);
    a.not_before = Some(now + Duration::minutes(10));
    a.not_on_or_after = now + Duration::minutes(20);
    sso.refused(&a, &started, "not valid yet").await;

    let started = sso.start("/portal/").await;
    let mut a = sso.answer(&started, email);
    a.request_id = "_another-request".into();
    sso.refused(&a, &started, "answers another login request")
        .await;

    let started = sso.start("/portal/").await;
    let mut a = sso.answer(&started, email);
    a.issuer = "https://evil-idp.example/".into();
    sso.refused(&a, &started, "refused").await;

    // Signature wrapping: the IdP's signed response for grace is moved inside a forged
    // response whose own (unsigned) assertion names someone else.
    let started = sso.start("/portal/").await;
    let signed = sso.idp.response_xml(&sso.answer(&started, email));
    let signed = signed
        .trim_start()
        .strip_prefix("<?xml version=\"1.0\"?>")
        .unwrap_or(&signed)
        .trim();
    let evil = sso.answer(&started, "evil@hospital.example");
    let mut evil_xml = {
        let mut e = evil.clone();
        e.sign = Sign::Nothing;
        sso.idp.response_xml(&e)
    };
    let close = evil_xml.rfind("</").unwrap();
    evil_xml.insert_str(close, &format!("<samlp:Extensions xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\">{signed}</samlp:Extensions>"));
    sso.refused_raw(&b64(&evil_xml), &started, "malformed")
        .await;

    // Tampering: the signed answer with another address.
    let started = sso.start("/portal/").await;
    let signed = sso.idp.response_xml(&sso.answer(&started, email));
    let tampered = signed.replace(email, "evil@hospital.example");
    sso.refused_raw(
        &b64(&tampered),
        &started,
        "not signed by the identity provider",
    )
    .await;

    // Unsolicited (IdP-initiated, no RelayState): refused before anything is checked.
    let started = sso.start("/portal/").await;
    let response = sso
        .post(
            &b64(&sso.idp.response_xml(&sso.answer(&started, email))),
            None,
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("unsolicited"));

    // Replay: the same good answer twice. The first logs in, the second is refused.
    let started = sso.start("/portal/").await;
    let good = b64(&sso.idp.response_xml(&sso.answer(&started, email)));
    assert_eq!(
        sso.post(&good, Some(&started.relay_state)).await.status(),
        302
    );
    let replay = sso.post(&good, Some(&started.relay_state)).await;
    assert_eq!(replay.status(), 400);
    assert!(replay.text().await.unwrap().contains("already completed"));
    // The same assertion under a fresh login request is refused too (InResponseTo).
    let fresh = sso.start("/portal/").await;
    let replay = sso.post(&good, Some(&fresh.relay_state)).await;
    assert_eq!(replay.status(), 403);
    assert_eq!(sso.user_count(email).await, 1);
}

async fn assertion_ids_are_accepted_once_across_replicas(backend: Backend) {
    use jhe_core::store::SsoStore;
    let sso = spawn(backend).await;
    let other = sso.app.db.second_store().await;
    let until = Utc::now() + Duration::minutes(5);
    let now = Utc::now();
    assert!(
        sso.app
            .db
            .store
            .claim_once("saml:k1", until, now)
            .await
            .unwrap()
    );
    assert!(!other.claim_once("saml:k1", until, now).await.unwrap());
    assert!(
        !sso.app
            .db
            .store
            .claim_once("saml:k1", until, now)
            .await
            .unwrap()
    );
    // Expired keys are forgotten.
    let past = now - Duration::minutes(1);
    assert!(
        other
            .claim_once("saml:k2", past, past - Duration::minutes(1))
            .await
            .unwrap()
    );
    assert!(
        sso.app
            .db
            .store
            .claim_once("saml:k2", until, now)
            .await
            .unwrap()
    );
}

async fn a_login_started_in_another_browser_is_refused(backend: Backend) {
    let sso = spawn(backend).await;
    let started = sso.start("/portal/").await;
    let xml = sso
        .idp
        .response_xml(&sso.answer(&started, "grace@hospital.example"));
    let response = plain_client()
        .post(sso.acs())
        .form(&[
            ("SAMLResponse", b64(&xml)),
            ("RelayState", started.relay_state),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("another browser"));
    assert_eq!(sso.user_count("grace@hospital.example").await, 0);
}

async fn metadata_login_page_and_domain_routing(backend: Backend) {
    let sso = spawn(backend).await;
    let app = &sso.app;
    let metadata = app.get("/sso/saml/metadata/").await;
    assert_eq!(metadata.status(), 200);
    assert_eq!(
        metadata.headers()["content-type"],
        "application/samlmetadata+xml"
    );
    let xml = metadata.text().await.unwrap();
    let descriptor = samael::metadata::EntityDescriptor::from_str(&xml).unwrap();
    assert_eq!(descriptor.entity_id.as_deref(), Some(sso.entity().as_str()));
    let sp = &descriptor.sp_sso_descriptors.as_ref().unwrap()[0];
    assert_eq!(sp.authn_requests_signed, Some(true));
    assert_eq!(sp.want_assertions_signed, Some(true));
    assert_eq!(sp.assertion_consumer_services[0].location, sso.acs());
    assert_eq!(
        sp.assertion_consumer_services[0].binding,
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    );
    assert!(sp.single_logout_services.is_none(), "no single logout");

    // The login page lists the provider.
    let page = app
        .get("/accounts/login/?next=/portal/")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Continue with Hospital SSO"), "{page}");
    assert!(
        page.contains("&#x2f;sso&#x2f;saml&#x2f;login&#x2f;?next=%2Fportal%2F"),
        "{page}"
    );

    // An address of the provider's domain goes straight to it.
    let csrf = {
        let html = page;
        let start = html.find("name=\"csrfmiddlewaretoken\" value=\"").unwrap() + 34;
        html[start..start + html[start..].find('"').unwrap()].to_string()
    };
    let routed = app
        .client
        .post(app.url("/accounts/login/"))
        .form(&[
            ("csrfmiddlewaretoken", csrf.as_str()),
            ("username", "Grace@Hospital.Example"),
            ("password", ""),
            ("next", "/portal/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(routed.status(), 302);
    assert_eq!(
        routed.headers()["location"],
        "/sso/saml/login/?next=%2Fportal%2F&login_hint=Grace%40Hospital.Example"
    );
    // Another domain logs in with its password as before.
    let local = app
        .client
        .post(app.url("/accounts/login/"))
        .form(&[
            ("csrfmiddlewaretoken", csrf.as_str()),
            ("username", "mary@example.com"),
            ("password", "Jhe1234!"),
            ("next", "/portal/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(local.status(), 302);
    assert_eq!(local.headers()["location"], "/portal/");

    // A signed answer for an address outside the provider's domains is refused.
    let started = sso.start("/portal/").await;
    let a = sso.answer(&started, "someone@elsewhere.example");
    let response = sso
        .post(&b64(&sso.idp.response_xml(&a)), Some(&started.relay_state))
        .await;
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Addresses at elsewhere.example cannot log in through Hospital SSO")
    );
    assert_eq!(sso.user_count("someone@elsewhere.example").await, 0);

    // An unknown provider is a clear 404 page.
    let unknown = app.get("/sso/nope/login/").await;
    assert_eq!(unknown.status(), 404);
}

async fn existing_accounts_link_only_by_verified_email_and_never_superusers(backend: Backend) {
    // The seeded superuser sam@example.com, reached through an IdP without domains.
    let sso = spawn_for_domains(backend, &[]).await;
    let started = sso.start("/portal/").await;
    let a = sso.answer(&started, "sam@example.com");
    let response = sso
        .post(&b64(&sso.idp.response_xml(&a)), Some(&started.relay_state))
        .await;
    assert_eq!(response.status(), 403);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("administrator account")
    );
    // A practitioner with the same (verified) address is linked, not duplicated.
    let mary = sso
        .app
        .db
        .store
        .get_user_by_email("mary@example.com")
        .await
        .unwrap()
        .unwrap();
    let started = sso.start("/portal/").await;
    let a = sso.answer(&started, "MARY@example.com");
    let response = sso
        .post(&b64(&sso.idp.response_xml(&a)), Some(&started.relay_state))
        .await;
    assert_eq!(response.status(), 302);
    let cookie = session_cookie_of(&sso.app);
    let state = state_of(&sso.app);
    let session = jhe_core::store::SessionStore::get_session(
        state.store.as_ref(),
        &jhe_kdf::sha256_hex(&cookie),
        Utc::now(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(session.user_id, Some(mary.id));
}

async fn a_login_started_on_one_replica_completes_on_another_once(backend: Backend) {
    let sso = spawn(backend).await;
    let replica = spawn_replica_with_providers(&sso.app, vec![sso.provider.clone()]).await;
    let started = sso.start("/portal/").await;
    let good = b64(&sso
        .idp
        .response_xml(&sso.answer(&started, "grace@hospital.example")));
    // The load balancer sends the IdP's POST to the other replica (same SITE_URL).
    let response = sso
        .post_to(
            &format!("{replica}/sso/saml/acs/"),
            &good,
            Some(&started.relay_state),
        )
        .await;
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    // Replayed at the first replica: refused.
    let replay = sso.post(&good, Some(&started.relay_state)).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(sso.user_count("grace@hospital.example").await, 1);
}

async fn idp_metadata_unreachable_gives_a_clear_page(backend: Backend) {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let (sp_key, sp_cert) = key_and_cert("jhe SP");
    let (sp_key_pem, sp_cert_pem) = pem_of(&sp_key, &sp_cert);
    let saml = jhe_plugins::SamlIdp::from_metadata_url(
        &format!("http://127.0.0.1:{port}/metadata.xml"),
        &sp_key_pem,
        &sp_cert_pem,
    )
    .unwrap();
    let app = spawn_app_with_providers(backend, |_| {}, vec![Arc::new(saml)]).await;
    let response = app.get("/sso/saml/login/").await;
    assert_eq!(response.status(), 502);
    let html = response.text().await.unwrap();
    assert!(html.contains("SAML2 cannot be reached right now"), "{html}");
    assert!(html.contains("metadata could not be fetched"), "{html}");
    // An answer posted meanwhile is refused cleanly too (no login was started).
    let response = app
        .client
        .post(app.url("/sso/saml/acs/"))
        .form(&[("SAMLResponse", "PHg+"), ("RelayState", "unknown")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("expired or was already completed")
    );
}

async fn valid_domains_setting_routes_to_saml(backend: Backend) {
    use jhe_core::store::SettingStore;
    let sso = spawn_for_domains(backend, &[]).await;
    let app = &sso.app;
    app.db
        .store
        .upsert_setting(
            jhe_core::domain::keys::AUTH_SSO_VALID_DOMAINS,
            None,
            jhe_core::domain::SettingValue::String("hospital.example, @Clinic.Example".into()),
        )
        .await
        .unwrap();
    let page = app.get("/accounts/login/").await.text().await.unwrap();
    assert!(page.contains("leave the password empty"), "{page}");
    let start = page.find("name=\"csrfmiddlewaretoken\" value=\"").unwrap() + 34;
    let csrf = page[start..start + page[start..].find('"').unwrap()].to_string();
    let routed = app
        .client
        .post(app.url("/accounts/login/"))
        .form(&[
            ("csrfmiddlewaretoken", csrf.as_str()),
            ("username", "nurse@clinic.example"),
            ("password", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(routed.status(), 302);
    assert_eq!(
        routed.headers()["location"],
        "/sso/saml/login/?login_hint=nurse%40clinic.example"
    );
}

/// Serves `xml` at `http://127.0.0.1:<port>/metadata.xml` (the IdP's metadata URL).
async fn serve_metadata(xml: String) -> String {
    use poem::{EndpointExt as _, Route, get, handler, web::Data};
    #[handler]
    fn document(Data(xml): Data<&String>) -> poem::Response {
        poem::Response::builder()
            .content_type("application/samlmetadata+xml")
            .body(xml.clone())
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let app = Route::new().at("/metadata.xml", get(document)).data(xml);
    tokio::spawn(
        poem::Server::new(poem::listener::TcpListener::bind(format!(
            "127.0.0.1:{port}"
        )))
        .run(app),
    );
    let url = format!("http://127.0.0.1:{port}/metadata.xml");
    for _ in 0..50 {
        if reqwest::get(&url).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    url
}

async fn set_setting(app: &TestApp, key: &str, value: jhe_core::domain::SettingValue) {
    use jhe_core::store::SettingStore;
    app.db.store.upsert_setting(key, None, value).await.unwrap();
}

/// SAML configured the original's way, in the settings store: `auth.sso.saml2` turns it on
/// and off and `auth.sso.idp_metadata_url` names the IdP, both read at each login.
async fn settings_store_turns_saml_on_and_off(backend: Backend) {
    use jhe_core::domain::{SettingValue, keys};
    let sso = spawn_with(backend, OWN_PATHS, |_, key, cert| {
        jhe_plugins::SamlIdp::from_settings_store(key, cert).unwrap()
    })
    .await;
    let app = &sso.app;
    // Seeded as the original seeds it: off, no URL. No button, the routes say it is off.
    let page = app.get("/accounts/login/").await.text().await.unwrap();
    assert!(!page.contains("data-provider=\"saml\""), "{page}");
    let off = app.get("/sso/saml/login/").await;
    assert_eq!(off.status(), 404);
    assert!(off.text().await.unwrap().contains("sign-in is turned off"));
    // The SP metadata is published anyway, so the IdP can be set up first.
    let metadata = app.get("/sso/saml/metadata/").await;
    assert_eq!(metadata.status(), 200);
    assert!(
        metadata
            .text()
            .await
            .unwrap()
            .contains(&app.url("/sso/saml/acs/"))
    );

    // On with the switch alone is still off (no IdP to send anyone to).
    set_setting(app, keys::AUTH_SSO_SAML2, SettingValue::Int(1)).await;
    assert_eq!(app.get("/sso/saml/login/").await.status(), 404);

    // Switch and URL: the button shows, the login goes through.
    let url = serve_metadata(sso.idp.metadata()).await;
    set_setting(
        app,
        keys::AUTH_SSO_IDP_METADATA_URL,
        SettingValue::String(url),
    )
    .await;
    let page = app.get("/accounts/login/").await.text().await.unwrap();
    assert!(page.contains("data-provider=\"saml\""), "{page}");
    let response = sso.log_in("grace@hospital.example").await;
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    assert_eq!(response.headers()["location"], "/portal/");
    assert_eq!(sso.user_count("grace@hospital.example").await, 1);

    // A login started while on is refused once an administrator turns SAML off.
    let started = sso.start("/portal/").await;
    set_setting(app, keys::AUTH_SSO_SAML2, SettingValue::Int(0)).await;
    let answer = sso.answer(&started, "ada@hospital.example");
    let response = sso
        .post(
            &b64(&sso.idp.response_xml(&answer)),
            Some(&started.relay_state),
        )
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(sso.user_count("ada@hospital.example").await, 0);
    let page = app.get("/accounts/login/").await.text().await.unwrap();
    assert!(!page.contains("data-provider=\"saml\""), "{page}");
}

/// An IdP registered for the original JHE (ACS and entity id `<SITE_URL>/sso/acs/`, login at
/// `/saml/login/`) keeps working with `original_urls`.
async fn original_urls_keep_an_idp_registered_for_the_original(backend: Backend) {
    let sso = spawn_with(backend, ORIGINAL_PATHS, |idp, key, cert| {
        jhe_plugins::SamlIdp::from_metadata_xml(&idp.metadata(), key, cert)
            .unwrap()
            .original_urls(true)
    })
    .await;
    let app = &sso.app;
    // `start` checks the AuthnRequest names `/sso/acs/` as ACS and issuer.
    let response = sso.log_in("nurse@hospital.example").await;
    assert_eq!(response.status(), 302, "{}", response.text().await.unwrap());
    assert_eq!(response.headers()["location"], "/portal/");
    assert_eq!(sso.user_count("nurse@hospital.example").await, 1);
    // The metadata says the same.
    let metadata = app.get("/sso/saml/metadata/").await.text().await.unwrap();
    assert!(
        metadata.contains(&format!("entityID=\"{}\"", app.url("/sso/acs/"))),
        "{metadata}"
    );
    assert!(
        metadata.contains(&format!("Location=\"{}\"", app.url("/sso/acs/"))),
        "{metadata}"
    );
    // An answer addressed to the other ACS is refused (Destination / Recipient).
    let again = sso.start("/portal/").await;
    let mut answer = sso.answer(&again, "grace@hospital.example");
    answer.acs = app.url("/sso/saml/acs/");
    sso.refused(&answer, &again, "addressed to another service")
        .await;
}

both_backends! {
    saml_settings_store_on_off => settings_store_turns_saml_on_and_off;
    saml_original_urls => original_urls_keep_an_idp_registered_for_the_original;
    saml_valid_domains_setting => valid_domains_setting_routes_to_saml;
    saml_idp_unreachable => idp_metadata_unreachable_gives_a_clear_page;
    saml_across_replicas => a_login_started_on_one_replica_completes_on_another_once;
    saml_good_login_gets_tokens => good_login_gets_tokens;
    saml_bad_answers_are_refused => bad_answers_are_refused;
    saml_assertion_ids_once_across_replicas => assertion_ids_are_accepted_once_across_replicas;
    saml_other_browser_refused => a_login_started_in_another_browser_is_refused;
    saml_metadata_login_page_domain_routing => metadata_login_page_and_domain_routing;
    saml_linking_rules => existing_accounts_link_only_by_verified_email_and_never_superusers;
}
