//! What the FHIR API says about itself: the `CapabilityStatement` of `GET [base]/metadata` and
//! the SMART App Launch 2 configuration of `GET /.well-known/smart-configuration`.
//!
//! Both are generated from what is registered, not written by hand: the resources and their
//! interactions from the FHIR rows of the scope table ([`crate::http::scopes::ROUTES`], which
//! every FHIR request is checked against), the search parameters from the tables the search
//! parser reads ([`crate::fhir::search::OBSERVATION_PARAMS`],
//! [`crate::fhir::search::PATIENT_PARAMS`]), the scopes from the same table and the identity
//! scopes of [`crate::domain::GrantedScopes`], the OAuth endpoints from the OpenID discovery
//! document. Both answer without authentication (clients read them before they have a token).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::config::Config;
use crate::domain::{IdentityScope, Interaction};
use crate::fhir::search::{
    OBSERVATION_PARAMS, OBSERVATION_SORTS, PATIENT_PARAMS, RESULT_PARAMS, SearchParamDef,
};
use crate::http::scopes::{Need, ROUTES};
use crate::services::oauth::{issuer, pkce};

/// The FHIR version served.
pub const FHIR_VERSION: &str = "5.0.0";

/// The FHIR base path the scope table writes routes with.
const TABLE_BASE: &str = "/fhir/r5";

/// What the scope table registers for one resource type.
#[derive(Debug, Default)]
struct ResourceRoutes {
    read: bool,
    search: bool,
    create: bool,
}

/// The FHIR routes of the scope table: per resource type, and whether the base accepts Bundles.
fn registered() -> (BTreeMap<&'static str, ResourceRoutes>, bool) {
    let mut resources: BTreeMap<&'static str, ResourceRoutes> = BTreeMap::new();
    let mut bundles = false;
    for row in ROUTES {
        let Some(rest) = row.path.strip_prefix(TABLE_BASE) else {
            continue;
        };
        let parts: Vec<&'static str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        // Operations (`$export`, `$export-status`, …) are not resource types.
        if parts.first().is_some_and(|p| p.starts_with('$')) {
            continue;
        }
        match (parts.as_slice(), row.method) {
            ([], "POST") => bundles = true,
            ([resource], "GET") | ([resource, "_search"], "POST") => {
                resources.entry(resource).or_default().search = true;
            }
            ([resource], "POST") => resources.entry(resource).or_default().create = true,
            ([resource, "{id}"], "GET") => resources.entry(resource).or_default().read = true,
            _ => {}
        }
    }
    (resources, bundles)
}

/// Sets `key` on a JSON object (the objects here are built by `json!` and always are).
fn set(object: Option<&mut serde_json::Map<String, Value>>, key: &str, value: Value) {
    if let Some(object) = object {
        object.insert(key.to_string(), value);
    }
}

/// The search parameter of the read-only Consent and AuditEvent views.
const PATIENT_REFERENCE_PARAMS: &[SearchParamDef] = &[SearchParamDef {
    name: "patient",
    type_: "reference",
    documentation: "The patient the resource is about (`123` or `Patient/123`).",
    definition: None,
}];

fn search_params(resource: &str) -> &'static [SearchParamDef] {
    match resource {
        "Observation" => OBSERVATION_PARAMS,
        "Patient" => PATIENT_PARAMS,
        "Consent" | "AuditEvent" => PATIENT_REFERENCE_PARAMS,
        _ => &[],
    }
}

/// Whether the scope table registers a route of an operation (`$export`, …).
fn has_operation(path_suffix: &str) -> bool {
    ROUTES
        .iter()
        .any(|row| row.path.starts_with(TABLE_BASE) && row.path.ends_with(path_suffix))
}

fn search_param_json(p: &SearchParamDef) -> Value {
    let mut v = json!({
        "name": p.name,
        "type": p.type_,
        "documentation": p.documentation,
    });
    if let Some(definition) = p.definition {
        set(v.as_object_mut(), "definition", json!(definition));
    }
    v
}

/// The `CapabilityStatement` (FHIR R5) of the server at `base` (`<origin>/fhir/r5`).
pub fn capability_statement(config: &Config, base: &str) -> Value {
    let (resources, bundles) = registered();
    let oauth = issuer(config);
    let resources: Vec<Value> = resources
        .iter()
        .map(|(resource, routes)| {
            let mut interaction = Vec::new();
            if routes.read {
                interaction.push(json!({"code": "read"}));
            }
            if routes.create {
                interaction.push(json!({"code": "create"}));
            }
            if routes.search {
                interaction.push(json!({"code": "search-type"}));
            }
            let mut r = json!({
                "type": resource,
                "interaction": interaction,
                "versioning": "no-version",
                "readHistory": false,
                "updateCreate": false,
            });
            if *resource == "Observation" && routes.create {
                set(r.as_object_mut(), "conditionalCreate", json!(true));
            }
            let params: Vec<Value> = search_params(resource)
                .iter()
                .map(search_param_json)
                .collect();
            if routes.search && !params.is_empty() {
                set(r.as_object_mut(), "searchParam", json!(params));
                let mut doc = format!(
                    "Result parameters: {}; _summary=count, _total=none|estimate|accurate.",
                    RESULT_PARAMS.join(", ")
                );
                if *resource == "Observation" {
                    doc.push_str(&format!(" _sort: {}.", OBSERVATION_SORTS.join(", ")));
                }
                if *resource == "AuditEvent" {
                    doc.push_str(" _sort: date (oldest first, the default), -date.");
                }
                set(r.as_object_mut(), "documentation", json!(doc));
            }
            r
        })
        .collect();
    let mut rest = json!({
        "mode": "server",
        "documentation": "JupyterHealth Exchange FHIR R5 API: Open mHealth data points as Observations of consenting patients.",
        "security": {
            "cors": false,
            "service": [{
                "coding": [{
                    "system": "http://hl7.org/fhir/restful-security-service",
                    "code": "SMART-on-FHIR",
                    "display": "SMART-on-FHIR"
                }],
                "text": "OAuth 2.0 bearer tokens (SMART App Launch 2 scopes)"
            }],
            "extension": [{
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [
                    {"url": "authorize", "valueUri": format!("{oauth}/authorize/")},
                    {"url": "token", "valueUri": format!("{oauth}/token/")},
                    {"url": "revoke", "valueUri": format!("{oauth}/revoke_token/")},
                    {"url": "introspect", "valueUri": format!("{oauth}/introspect/")}
                ]
            }],
            "description": "Every request except metadata needs Authorization: Bearer <access token>; see /.well-known/smart-configuration."
        },
        "resource": resources,
    });
    if bundles {
        set(
            rest.as_object_mut(),
            "interaction",
            json!([{"code": "batch"}, {"code": "transaction"}]),
        );
    }
    // FHIR Bulk Data Access kick-offs.
    let mut operations = Vec::new();
    if has_operation("Patient/$export") {
        operations.push(json!({"name": "export",
            "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"}));
    }
    if has_operation("Group/{id}/$export") {
        operations.push(json!({"name": "export",
            "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"}));
    }
    if !operations.is_empty() {
        set(rest.as_object_mut(), "operation", json!(operations));
    }
    json!({
        "resourceType": "CapabilityStatement",
        "url": format!("{base}/metadata"),
        "name": "JupyterHealthExchange",
        "title": "JupyterHealth Exchange FHIR API",
        "status": "active",
        "experimental": false,
        "date": crate::fhir::datetime::format_instant(chrono::Utc::now()),
        "publisher": "JupyterHealth",
        "kind": "instance",
        "software": {"name": "jhe-rs", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "JupyterHealth Exchange (jhe-rs)", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": ["json", "application/fhir+json", "application/json"],
        "rest": [rest],
    })
}

/// Every scope a token may be granted: the identity scopes, then for each resource of the scope
/// table (FHIR and Admin API routes) the scopes naming exactly its interactions — `patient/` and
/// `user/` for routes of the patient compartment, `user/` for the others (SMART v2 letters) —
/// and last `user/*.cruds` (the full role of a portal or notebook login).
pub fn supported_scopes() -> Vec<String> {
    let mut scopes: Vec<String> = IdentityScope::ALL
        .into_iter()
        .filter(|s| *s != IdentityScope::OnlineAccess)
        .map(|s| s.as_str().to_string())
        .collect();
    let mut letters: BTreeMap<(&'static str, &'static str), Vec<Interaction>> = BTreeMap::new();
    let mut add = |context: &'static str, resource: &'static str, interaction: Interaction| {
        let entry = letters.entry((context, resource)).or_default();
        if !entry.contains(&interaction) {
            entry.push(interaction);
        }
    };
    for row in ROUTES {
        match row.need {
            Need::Compartment(resource, interaction) => {
                add("patient", resource, interaction);
                add("user", resource, interaction);
            }
            Need::User(resource, interaction) => add("user", resource, interaction),
            Need::OpenId => {}
        }
    }
    for ((context, resource), interactions) in &letters {
        let text: String = Interaction::ALL
            .into_iter()
            .filter(|i| interactions.contains(i))
            .map(Interaction::letter)
            .collect();
        scopes.push(format!("{context}/{resource}.{text}"));
    }
    scopes.push("user/*.cruds".into());
    scopes
}

/// The SMART App Launch 2 configuration (`/.well-known/smart-configuration`).
pub fn smart_configuration(config: &Config) -> Value {
    let oauth = issuer(config);
    json!({
        "issuer": oauth,
        "jwks_uri": format!("{oauth}/.well-known/jwks.json"),
        "authorization_endpoint": format!("{oauth}/authorize/"),
        "token_endpoint": format!("{oauth}/token/"),
        "userinfo_endpoint": format!("{oauth}/userinfo/"),
        "revocation_endpoint": format!("{oauth}/revoke_token/"),
        "introspection_endpoint": format!("{oauth}/introspect/"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": supported_scopes(),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": [pkce::S256],
        "capabilities": [
            "client-public",
            "client-confidential-symmetric",
            "sso-openid-connect",
            "permission-offline",
            "permission-patient",
            "permission-user",
            "permission-v1",
            "permission-v2"
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_from_the_scope_table() {
        let (resources, bundles) = registered();
        assert!(bundles);
        let observation = &resources["Observation"];
        assert!(observation.read && observation.search && observation.create);
        let patient = &resources["Patient"];
        assert!(patient.read && patient.search && !patient.create);
        let scopes = supported_scopes();
        assert!(scopes.contains(&"openid".to_string()));
        assert!(scopes.contains(&"user/*.cruds".to_string()));
        let all = crate::domain::GrantedScopes::parse(&scopes.join(" ")).unwrap();
        assert!(all.covers(&crate::domain::GrantedScopes::patient_app()));
        let doc = smart_configuration(&Config::default());
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    }
}
