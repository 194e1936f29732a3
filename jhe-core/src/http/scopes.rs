//! Which SMART scope each Admin API and FHIR route needs: one table, enforced in one place.
//!
//! [`crate::http::auth::principal`] resolves every bearer token of `/api/v1/*`, `/fhir/r5/*` and
//! `/FHIR/R5/*` and then calls [`enforce`]: a token whose scopes do not cover the route's [`Need`]
//! gets 403 (`{"detail": …}` on the Admin API, an OperationOutcome on FHIR) naming the scopes that
//! would, with `WWW-Authenticate: Bearer error="insufficient_scope"` (RFC 6750 §3.1). Whose rows
//! a permitted request then reaches is the policy's business.
//!
//! Resources are FHIR resource types where FHIR has one (`Patient`, `Practitioner`,
//! `Organization`, `Observation`, `Consent`) and the Admin API's own names elsewhere (`User`,
//! `Study`, `Client`, `DataSource`, `JheSetting`). Interactions follow SMART v2: listing is `s`,
//! reading one `r`, `POST` `c`, `PUT`/`PATCH` `u`, `DELETE` `d`; adding or removing a study's,
//! client's or data source's links changes the parent (`u`). Routes of the patient compartment
//! accept `patient/`, `user/` or `system/` scopes; every other route needs `user/` (or
//! `system/`). A route missing from the table needs `user/*` with its method's interaction.

use poem::http::Method;

use crate::domain::{GrantedScopes, Interaction, ScopeContext};
use crate::error::{CoreError, CoreResult};

/// What a route needs from the token's scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// `openid` (the caller's own identity).
    OpenId,
    /// A `patient/`, `user/` or `system/` scope permitting the interaction on the resource
    /// (a route of the patient compartment).
    Compartment(&'static str, Interaction),
    /// A `user/` or `system/` scope permitting the interaction on the resource.
    User(&'static str, Interaction),
}

impl Need {
    /// Whether `scopes` cover this need.
    pub fn is_met_by(self, scopes: &GrantedScopes) -> bool {
        match self {
            Need::OpenId => scopes.has_openid(),
            Need::Compartment(resource, interaction) => scopes.permits(resource, interaction),
            Need::User(resource, interaction) => {
                scopes.permits_as(ScopeContext::User, resource, interaction)
                    || scopes.permits_as(ScopeContext::System, resource, interaction)
            }
        }
    }

    /// The narrowest scopes that meet this need, space-separated (alternatives).
    pub fn scopes(self) -> String {
        match self {
            Need::OpenId => "openid".into(),
            Need::Compartment(resource, interaction) => format!(
                "patient/{resource}.{l} user/{resource}.{l}",
                l = interaction.letter()
            ),
            Need::User(resource, interaction) => {
                format!("user/{resource}.{}", interaction.letter())
            }
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteScope {
    /// HTTP method (`HEAD` is checked as `GET`).
    pub method: &'static str,
    /// Path pattern from the origin; `{id}` matches one segment. FHIR routes are written with
    /// `/fhir/r5` and apply to `/FHIR/R5` too.
    pub path: &'static str,
    /// A query flag (`?reset=true`) that selects this row over the same route without it.
    pub flag: Option<&'static str>,
    /// What the route needs.
    pub need: Need,
}

const fn row(method: &'static str, path: &'static str, need: Need) -> RouteScope {
    RouteScope {
        method,
        path,
        flag: None,
        need,
    }
}

use Interaction::{Create as C, Delete as D, Read as R, Search as S, Update as U};
use Need::{Compartment as P, OpenId, User as Usr};

/// Every Admin API and FHIR route and the scope it needs.
pub const ROUTES: &[RouteScope] = &[
    // Accounts.
    row("GET", "/api/v1/users/profile", OpenId),
    row("GET", "/api/v1/users/organizations", Usr("Organization", S)),
    row("GET", "/api/v1/users/search_by_email", Usr("User", S)),
    row("GET", "/api/v1/users", Usr("User", S)),
    row("POST", "/api/v1/users", Usr("User", C)),
    row("GET", "/api/v1/users/{id}", Usr("User", R)),
    row("PUT", "/api/v1/users/{id}", Usr("User", U)),
    row("PATCH", "/api/v1/users/{id}", Usr("User", U)),
    row("DELETE", "/api/v1/users/{id}", Usr("User", D)),
    // Practitioners.
    row("GET", "/api/v1/practitioners", Usr("Practitioner", S)),
    row("POST", "/api/v1/practitioners", Usr("Practitioner", C)),
    row("GET", "/api/v1/practitioners/{id}", Usr("Practitioner", R)),
    row("PUT", "/api/v1/practitioners/{id}", Usr("Practitioner", U)),
    row(
        "PATCH",
        "/api/v1/practitioners/{id}",
        Usr("Practitioner", U),
    ),
    row(
        "DELETE",
        "/api/v1/practitioners/{id}",
        Usr("Practitioner", D),
    ),
    // Organisations.
    row("GET", "/api/v1/organizations", Usr("Organization", S)),
    row("POST", "/api/v1/organizations", Usr("Organization", C)),
    row("GET", "/api/v1/organizations/types", Usr("Organization", S)),
    row("GET", "/api/v1/organizations/{id}", Usr("Organization", R)),
    row("PUT", "/api/v1/organizations/{id}", Usr("Organization", U)),
    row(
        "PATCH",
        "/api/v1/organizations/{id}",
        Usr("Organization", U),
    ),
    row(
        "DELETE",
        "/api/v1/organizations/{id}",
        Usr("Organization", D),
    ),
    row(
        "GET",
        "/api/v1/organizations/{id}/tree",
        Usr("Organization", R),
    ),
    row(
        "GET",
        "/api/v1/organizations/{id}/users",
        Usr("Organization", R),
    ),
    row(
        "POST",
        "/api/v1/organizations/{id}/user",
        Usr("Organization", U),
    ),
    row(
        "DELETE",
        "/api/v1/organizations/{id}/remove_user",
        Usr("Organization", U),
    ),
    row("GET", "/api/v1/organizations/{id}/studies", Usr("Study", S)),
    // Patients: the record and its consents are the patient compartment.
    row("GET", "/api/v1/patients", P("Patient", S)),
    row("POST", "/api/v1/patients", Usr("Patient", C)),
    row("GET", "/api/v1/patients/global_lookup", Usr("Patient", S)),
    row("GET", "/api/v1/patients/{id}", P("Patient", R)),
    row("PUT", "/api/v1/patients/{id}", P("Patient", U)),
    row("PATCH", "/api/v1/patients/{id}", P("Patient", U)),
    row("DELETE", "/api/v1/patients/{id}", Usr("Patient", D)),
    row(
        "PATCH",
        "/api/v1/patients/{id}/global_add_organization",
        Usr("Patient", U),
    ),
    row(
        "GET",
        "/api/v1/patients/{id}/invitation_link",
        Usr("Patient", U),
    ),
    row(
        "GET",
        "/api/v1/patients/{id}/consolidated_clients",
        Usr("Client", S),
    ),
    row("GET", "/api/v1/patients/{id}/consents", P("Consent", R)),
    RouteScope {
        method: "GET",
        path: "/api/v1/patients/{id}/consents",
        flag: Some("reset"),
        need: P("Consent", D),
    },
    row("POST", "/api/v1/patients/{id}/consents", P("Consent", C)),
    row("PATCH", "/api/v1/patients/{id}/consents", P("Consent", U)),
    row("DELETE", "/api/v1/patients/{id}/consents", P("Consent", D)),
    // Observations.
    row("GET", "/api/v1/observations", P("Observation", S)),
    row("GET", "/api/v1/observations/{id}", P("Observation", R)),
    // Studies and their links.
    row("GET", "/api/v1/studies", Usr("Study", S)),
    row("POST", "/api/v1/studies", Usr("Study", C)),
    row("GET", "/api/v1/studies/{id}", Usr("Study", R)),
    row("PUT", "/api/v1/studies/{id}", Usr("Study", U)),
    row("PATCH", "/api/v1/studies/{id}", Usr("Study", U)),
    row("DELETE", "/api/v1/studies/{id}", Usr("Study", D)),
    row("GET", "/api/v1/studies/{id}/patients", Usr("Study", R)),
    // The icon changes the study. Reading it is public: its handler reads no token, so the
    // GET row (there for completeness) is never checked.
    row("GET", "/api/v1/studies/{id}/icon", Usr("Study", R)),
    row("PUT", "/api/v1/studies/{id}/icon", Usr("Study", U)),
    row("DELETE", "/api/v1/studies/{id}/icon", Usr("Study", U)),
    // Study transfer reads (export) or writes (import) the study's observations.
    row("POST", "/api/v1/studies/{id}/export", Usr("Observation", S)),
    row("POST", "/api/v1/studies/import", Usr("Observation", C)),
    row("POST", "/api/v1/studies/{id}/patients", Usr("Study", U)),
    row("DELETE", "/api/v1/studies/{id}/patients", Usr("Study", U)),
    row("GET", "/api/v1/studies/{id}/clients", Usr("Study", R)),
    row("POST", "/api/v1/studies/{id}/clients", Usr("Study", U)),
    row("DELETE", "/api/v1/studies/{id}/clients", Usr("Study", U)),
    row("GET", "/api/v1/studies/{id}/data_sources", Usr("Study", R)),
    row("POST", "/api/v1/studies/{id}/data_sources", Usr("Study", U)),
    row(
        "DELETE",
        "/api/v1/studies/{id}/data_sources",
        Usr("Study", U),
    ),
    row(
        "GET",
        "/api/v1/studies/{id}/scope_requests",
        Usr("Study", R),
    ),
    row(
        "POST",
        "/api/v1/studies/{id}/scope_requests",
        Usr("Study", U),
    ),
    row(
        "DELETE",
        "/api/v1/studies/{id}/scope_requests",
        Usr("Study", U),
    ),
    // Data sources.
    row("GET", "/api/v1/data_sources", Usr("DataSource", S)),
    row("POST", "/api/v1/data_sources", Usr("DataSource", C)),
    row(
        "GET",
        "/api/v1/data_sources/all_scopes",
        Usr("DataSource", S),
    ),
    row("GET", "/api/v1/data_sources/{id}", Usr("DataSource", R)),
    row("PUT", "/api/v1/data_sources/{id}", Usr("DataSource", U)),
    row("PATCH", "/api/v1/data_sources/{id}", Usr("DataSource", U)),
    row("DELETE", "/api/v1/data_sources/{id}", Usr("DataSource", D)),
    row(
        "GET",
        "/api/v1/data_sources/{id}/supported_scopes",
        Usr("DataSource", R),
    ),
    row(
        "POST",
        "/api/v1/data_sources/{id}/supported_scopes",
        Usr("DataSource", U),
    ),
    row(
        "DELETE",
        "/api/v1/data_sources/{id}/supported_scopes",
        Usr("DataSource", U),
    ),
    // OAuth clients.
    row("GET", "/api/v1/clients", Usr("Client", S)),
    row("POST", "/api/v1/clients", Usr("Client", C)),
    row("GET", "/api/v1/clients/{id}", Usr("Client", R)),
    row("PUT", "/api/v1/clients/{id}", Usr("Client", U)),
    row("PATCH", "/api/v1/clients/{id}", Usr("Client", U)),
    row("DELETE", "/api/v1/clients/{id}", Usr("Client", D)),
    row("GET", "/api/v1/clients/{id}/data_sources", Usr("Client", R)),
    row(
        "POST",
        "/api/v1/clients/{id}/data_sources",
        Usr("Client", U),
    ),
    row(
        "DELETE",
        "/api/v1/clients/{id}/data_sources",
        Usr("Client", U),
    ),
    // Settings.
    row("GET", "/api/v1/jhe_settings", Usr("JheSetting", S)),
    row("POST", "/api/v1/jhe_settings", Usr("JheSetting", C)),
    row("GET", "/api/v1/jhe_settings/{id}", Usr("JheSetting", R)),
    row("PUT", "/api/v1/jhe_settings/{id}", Usr("JheSetting", U)),
    row("PATCH", "/api/v1/jhe_settings/{id}", Usr("JheSetting", U)),
    row("DELETE", "/api/v1/jhe_settings/{id}", Usr("JheSetting", D)),
    // FHIR (also under /FHIR/R5). A Bundle holds Observation creates only.
    row("POST", "/fhir/r5", P("Observation", C)),
    row("POST", "/fhir/r5/Observation", P("Observation", C)),
    row("GET", "/fhir/r5/Observation", P("Observation", S)),
    row("POST", "/fhir/r5/Observation/_search", P("Observation", S)),
    row("GET", "/fhir/r5/Observation/{id}", P("Observation", R)),
    row("GET", "/fhir/r5/Patient", P("Patient", S)),
    row("POST", "/fhir/r5/Patient/_search", P("Patient", S)),
    row("GET", "/fhir/r5/Patient/{id}", P("Patient", R)),
    row("GET", "/fhir/r5/Consent", P("Consent", S)),
    row("POST", "/fhir/r5/Consent/_search", P("Consent", S)),
    row("GET", "/fhir/r5/Consent/{id}", P("Consent", R)),
    row("GET", "/fhir/r5/AuditEvent", P("AuditEvent", S)),
    row("GET", "/fhir/r5/Patient/$export", P("Patient", S)),
    row("GET", "/fhir/r5/Group/{id}/$export", P("Patient", S)),
    row("GET", "/fhir/r5/$export-status/{id}", P("Patient", S)),
    row("DELETE", "/fhir/r5/$export-status/{id}", P("Patient", S)),
    row("GET", "/fhir/r5/$export-file/{id}/{id}", P("Patient", S)),
];

/// The path's segments, percent-decoded, empty ones dropped, `/FHIR/R5` read as `/fhir/r5`.
fn segments(path: &str) -> Vec<String> {
    let mut segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    if let [first, second, ..] = segments.as_mut_slice()
        && first == "FHIR"
        && second == "R5"
    {
        *first = "fhir".into();
        *second = "r5".into();
    }
    segments
}

/// Whether `flag` is set to a true value (`true`, `1`, `yes`, `on`) anywhere in the query.
fn flag_set(query: Option<&str>, flag: &str) -> bool {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).any(|(name, value)| {
        name == flag
            && matches!(
                value.trim().to_lowercase().as_str(),
                "true" | "1" | "yes" | "on"
            )
    })
}

/// The table row of a request, if any: among the rows whose method, pattern and flag match, the
/// one with the most literal segments (`/patients/global_lookup` before `/patients/{id}`), a
/// flagged row before the plain one.
pub fn route_scope(
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Option<&'static RouteScope> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let segments = segments(path);
    ROUTES
        .iter()
        .filter(|row| row.method == method)
        .filter(|row| row.flag.is_none_or(|flag| flag_set(query, flag)))
        .filter_map(|row| {
            let pattern: Vec<&str> = row.path.split('/').filter(|s| !s.is_empty()).collect();
            let matches = pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| *p == "{id}" || p == s);
            matches.then(|| {
                let literals = pattern.iter().filter(|p| **p != "{id}").count();
                (literals * 2 + usize::from(row.flag.is_some()), row)
            })
        })
        .max_by_key(|(rank, _)| *rank)
        .map(|(_, row)| row)
}

/// What a request needs: its table row's need, or `user/*` with the method's interaction.
pub fn need_for(method: &Method, path: &str, query: Option<&str>) -> Need {
    route_scope(method, path, query).map_or_else(
        || {
            let interaction = match *method {
                Method::POST => Interaction::Create,
                Method::PUT | Method::PATCH => Interaction::Update,
                Method::DELETE => Interaction::Delete,
                _ => Interaction::Read,
            };
            Need::User("*", interaction)
        },
        |row| row.need,
    )
}

/// Refuses a request the token's scopes do not cover.
///
/// # Errors
///
/// [`CoreError::InsufficientScope`] naming the scopes that would cover it (RFC 6750 §3.1; SMART
/// App Launch v2 §"Scopes and launch context").
pub fn enforce(
    scopes: &GrantedScopes,
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> CoreResult<()> {
    let need = need_for(method, path, query);
    if need.is_met_by(scopes) {
        Ok(())
    } else {
        Err(CoreError::InsufficientScope(need.scopes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(method: Method, path: &str, query: Option<&str>) -> Need {
        need_for(&method, path, query)
    }

    #[test]
    fn literal_segments_win_over_ids() {
        assert_eq!(
            need(Method::GET, "/api/v1/patients/global_lookup", None),
            Need::User("Patient", Interaction::Search)
        );
        assert_eq!(
            need(Method::GET, "/api/v1/patients/%67lobal_lookup", None),
            Need::User("Patient", Interaction::Search),
            "percent-encoded segments are decoded as the router does"
        );
        assert_eq!(
            need(Method::GET, "/api/v1/patients/40001", None),
            Need::Compartment("Patient", Interaction::Read)
        );
        assert_eq!(
            need(Method::GET, "/api/v1/data_sources/all_scopes", None),
            Need::User("DataSource", Interaction::Search)
        );
    }

    #[test]
    fn consent_reset_is_a_delete() {
        let path = "/api/v1/patients/40001/consents";
        assert_eq!(
            need(Method::GET, path, None),
            Need::Compartment("Consent", Interaction::Read)
        );
        assert_eq!(
            need(Method::GET, path, Some("reset=false")),
            Need::Compartment("Consent", Interaction::Read)
        );
        for query in [
            "reset=true",
            "reset=1",
            "x=1&reset=On",
            "reset=no&reset=yes",
        ] {
            assert_eq!(
                need(Method::GET, path, Some(query)),
                Need::Compartment("Consent", Interaction::Delete),
                "{query}"
            );
        }
    }

    #[test]
    fn fhir_routes_under_both_prefixes() {
        for base in ["/fhir/r5", "/FHIR/R5", "/fhir/r5/", "/FHIR/R5/"] {
            assert_eq!(
                need(Method::POST, base, None),
                Need::Compartment("Observation", Interaction::Create),
                "{base}"
            );
        }
        assert_eq!(
            need(Method::POST, "/FHIR/R5/Observation/_search", None),
            Need::Compartment("Observation", Interaction::Search)
        );
        assert_eq!(
            need(Method::HEAD, "/fhir/r5/Patient/7", None),
            Need::Compartment("Patient", Interaction::Read)
        );
        assert_eq!(
            need(Method::DELETE, "/fhir/r5/Observation/7", None),
            Need::User("*", Interaction::Delete),
            "unknown routes need user/*"
        );
    }

    #[test]
    fn what_each_kind_of_token_may_do() {
        let app = GrantedScopes::patient_app();
        let full = GrantedScopes::full_role();
        let openid = GrantedScopes::parse("openid").unwrap();
        let allowed = |scopes: &GrantedScopes, method: Method, path: &str, query: Option<&str>| {
            enforce(scopes, &method, path, query).is_ok()
        };
        for (method, path, query, app_ok) in [
            (Method::GET, "/api/v1/users/profile", None, true),
            (Method::GET, "/api/v1/clients", None, false),
            (Method::PATCH, "/api/v1/users/10006", None, false),
            (Method::GET, "/api/v1/patients/40001/consents", None, true),
            (
                Method::GET,
                "/api/v1/patients/40001/consents",
                Some("reset=true"),
                false,
            ),
            (Method::POST, "/api/v1/patients/40001/consents", None, true),
            (Method::PATCH, "/api/v1/patients/40001/consents", None, true),
            (
                Method::DELETE,
                "/api/v1/patients/40001/consents",
                None,
                false,
            ),
            (Method::GET, "/api/v1/patients/40001", None, true),
            (
                Method::GET,
                "/api/v1/patients/40001/invitation_link",
                None,
                false,
            ),
            (Method::POST, "/fhir/r5/Observation", None, true),
            (Method::POST, "/FHIR/R5/", None, true),
            (Method::GET, "/fhir/r5/Observation", None, true),
            (Method::GET, "/api/v1/observations", None, true),
            (Method::GET, "/api/v1/studies", None, false),
            (Method::GET, "/api/v1/jhe_settings", None, false),
        ] {
            assert_eq!(
                allowed(&app, method.clone(), path, query),
                app_ok,
                "{method} {path}"
            );
            assert!(
                allowed(&full, method.clone(), path, query),
                "{method} {path}"
            );
            assert_eq!(
                allowed(&openid, method.clone(), path, query),
                path == "/api/v1/users/profile",
                "{method} {path}"
            );
        }
        let err = enforce(&app, &Method::GET, "/api/v1/clients", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "This token's scope does not allow this request; it needs one of these scopes: user/Client.s."
        );
        let observations_only = GrantedScopes::parse("user/Observation.rs").unwrap();
        assert!(allowed(
            &observations_only,
            Method::GET,
            "/fhir/r5/Observation",
            None
        ));
        assert!(!allowed(
            &observations_only,
            Method::POST,
            "/fhir/r5/Observation",
            None
        ));
        assert!(!allowed(
            &observations_only,
            Method::GET,
            "/api/v1/users/profile",
            None
        ));
        let system = GrantedScopes::parse("system/Client.s").unwrap();
        assert!(allowed(&system, Method::GET, "/api/v1/clients", None));
    }

    #[test]
    fn every_row_is_reachable_and_unique() {
        for row in ROUTES {
            let path = row.path.replace("{id}", "1");
            let query = row.flag.map(|f| format!("{f}=true"));
            let method = Method::from_bytes(row.method.as_bytes()).unwrap();
            assert_eq!(
                route_scope(&method, &path, query.as_deref()),
                Some(row),
                "{} {}",
                row.method,
                row.path
            );
        }
    }
}
