//! The FHIR R5 API, served at `/fhir/r5/` and `/FHIR/R5/` with identical behaviour.
//!
//! | route | what |
//! | --- | --- |
//! | `POST [base]/Observation` | create one Observation (`If-None-Exist` for a conditional create) |
//! | `POST [base]/` and `POST [base]` | a `batch` or `transaction` Bundle of Observation creates |
//! | `GET [base]/Observation`, `POST [base]/Observation/_search` | search (searchset Bundle) |
//! | `GET [base]/Observation/{id}` | read |
//! | `GET [base]/Patient`, `POST [base]/Patient/_search` | patient search |
//! | `GET [base]/Patient/{id}` | patient read |
//!
//! Every route needs `Authorization: Bearer <token>`. Errors are OperationOutcome resources
//! (`application/fhir+json`); request bodies may be `application/json` or
//! `application/fhir+json`. The handlers are thin: they parse, authenticate, call one function
//! of [`crate::services::observations`] and shape the answer.

mod respond;

use std::sync::Arc;

use poem::http::{Method, StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, Route, handler};
use serde_json::Value;

use crate::fhir::model::{
    CreatedRefOut, Empty, EntryResponseOut, ObservationCreatedOut, ObservationOut,
    OperationOutcomeOut, PatientOut, ResponseBundleOut, ResponseEntryOut, SearchBundle,
    SearchEntry,
};
use crate::fhir::search::{ObservationSearch, PatientSearch};
use crate::fhir::{FhirError, FhirResult, FhirStatus};
use crate::policy::Principal;
use crate::server::AppState;
use crate::services::observations::{self as service, BundleKind, SearchPage, Stored};

pub use respond::{Links, quote_plus};

/// The two base paths (the original's and later upstream's).
pub const PREFIXES: [&str; 2] = ["/fhir/r5", "/FHIR/R5"];

/// Largest accepted JSON body (a create or a Bundle; a Bundle of 10 000 small observations is
/// ~10–20 MB). Larger bodies are `413` before any parsing.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Largest accepted form body of `POST [type]/_search`.
pub const MAX_SEARCH_BODY_BYTES: usize = 64 * 1024;

/// Mounts the FHIR routes under both prefixes.
pub fn mount(route: Route) -> Route {
    let mut route = route;
    for prefix in PREFIXES {
        route = route
            .at(prefix, super::catch_fhir_panics(fhir_endpoint))
            .at(
                format!("{prefix}/"),
                super::catch_fhir_panics(fhir_endpoint),
            )
            .at(
                format!("{prefix}/*rest"),
                super::catch_fhir_panics(fhir_endpoint),
            );
    }
    route
}

/// The OperationOutcome response of an error (status from the error).
pub fn error_response(error: FhirError) -> Response {
    respond::error(error)
}

#[handler]
async fn fhir_endpoint(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let state: &AppState = state.0;
    match dispatch(state, req, body).await {
        Ok(response) => response,
        Err(e) => respond::error(e),
    }
}

/// The path below the prefix, split into segments.
fn segments(req: &Request) -> Vec<String> {
    let path = req.original_uri().path();
    let rest = PREFIXES
        .iter()
        .find_map(|p| path.strip_prefix(p))
        .unwrap_or(path);
    rest.split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect()
}

fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The base URL the client used (origin and prefix), for `Location` headers.
fn base_url(state: &AppState, req: &Request) -> String {
    let path = req.original_uri().path();
    let prefix = PREFIXES
        .iter()
        .find(|p| path.starts_with(**p))
        .copied()
        .unwrap_or(PREFIXES[0]);
    format!("{}{prefix}", respond::origin(req, &state.config))
}

fn not_allowed(method: &Method, what: &str) -> FhirError {
    FhirError::new(
        FhirStatus::MethodNotAllowed,
        format!("Method \"{method}\" not allowed on {what}."),
    )
}

async fn dispatch(state: &AppState, req: &Request, body: Body) -> FhirResult<Response> {
    let principal = crate::http::auth::principal(state, req).await?;
    let segments = segments(req);
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method();
    match (parts.as_slice(), method) {
        ([], &Method::POST) => {
            let bundle = read_json(req, body).await?;
            bundle_response(state, req, &principal, bundle).await
        }
        ([], m) => Err(not_allowed(m, "the base URL")),
        (["Observation"], &Method::GET) => {
            observation_search(state, req, &principal, query_params(req)).await
        }
        (["Observation"], &Method::POST) => {
            let resource = read_json(req, body).await?;
            create_response(state, req, &principal, resource).await
        }
        (["Observation", "_search"], &Method::POST) => {
            let params = form_params(req, body).await?;
            observation_search(state, req, &principal, params).await
        }
        (["Observation", id], &Method::GET) => {
            let (observation, concept) = service::read_observation(state, &principal, id).await?;
            Ok(respond::json(
                StatusCode::OK,
                respond::content_type_for(req),
                &ObservationOut::new(&observation, &concept),
            ))
        }
        (["Observation", ..], m) => Err(not_allowed(m, "Observation")),
        (["Patient"], &Method::GET) => {
            patient_search(state, req, &principal, query_params(req)).await
        }
        (["Patient", "_search"], &Method::POST) => {
            let params = form_params(req, body).await?;
            patient_search(state, req, &principal, params).await
        }
        (["Patient", id], &Method::GET) => {
            let (patient, email) = service::read_patient(state, &principal, id).await?;
            Ok(respond::json(
                StatusCode::OK,
                respond::content_type_for(req),
                &PatientOut::new(&patient, email.as_deref()),
            ))
        }
        (["Patient", ..], m) => Err(not_allowed(m, "Patient")),
        ([resource_type, ..], _) => Err(FhirError::not_found(format!(
            "Unsupported FHIR resource type: {resource_type}."
        ))),
    }
}

/// Decoded query parameters, in order.
fn query_params(req: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.original_uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// Query parameters plus a form-encoded body (`POST [type]/_search`).
async fn form_params(req: &Request, body: Body) -> FhirResult<Vec<(String, String)>> {
    let mut params = query_params(req);
    let bytes = body
        .into_bytes_limit(MAX_SEARCH_BODY_BYTES)
        .await
        .map_err(|_| {
            FhirError::new(
                FhirStatus::PayloadTooLarge,
                "The request body is too large.",
            )
        })?;
    params.extend(url::form_urlencoded::parse(&bytes).into_owned());
    Ok(params)
}

/// The JSON body of a create or Bundle: `application/json` or `application/fhir+json` (or no
/// content type), at most [`MAX_BODY_BYTES`].
async fn read_json(req: &Request, body: Body) -> FhirResult<Value> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !(essence.is_empty() || essence == "application/json" || essence == crate::fhir::FHIR_JSON) {
        return Err(FhirError::new(
            FhirStatus::UnsupportedMediaType,
            format!(
                "Unsupported media type \"{content_type}\" in request: use application/fhir+json or application/json."
            ),
        ));
    }
    let bytes = body.into_bytes_limit(MAX_BODY_BYTES).await.map_err(|e| {
        FhirError::new(
            FhirStatus::PayloadTooLarge,
            format!("The request body could not be read: {e}"),
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(FhirError::bad_request(
            "The request body is empty: a FHIR JSON resource is expected.",
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| FhirError::bad_request(format!("The request body is not valid JSON: {e}")))
}

fn is_practitioner(principal: &Principal) -> bool {
    principal.practitioner.is_some()
}

async fn create_response(
    state: &AppState,
    req: &Request,
    principal: &Principal,
    resource: Value,
) -> FhirResult<Response> {
    let if_none_exist = req
        .headers()
        .get("if-none-exist")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let stored =
        service::create_observation(state, principal, resource, if_none_exist.as_deref()).await?;
    let status = if stored.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let content_type = respond::content_type_for(req);
    let Stored {
        observation,
        concept,
        ..
    } = &stored;
    let response = if is_practitioner(principal) {
        respond::json(
            status,
            content_type,
            &ObservationOut::new(observation, concept),
        )
    } else {
        respond::json(
            status,
            content_type,
            &ObservationCreatedOut::new(observation, concept),
        )
    };
    Ok(respond::with_location(
        response,
        &format!("{}/Observation/{}", base_url(state, req), observation.id),
    ))
}

async fn bundle_response(
    state: &AppState,
    req: &Request,
    principal: &Principal,
    bundle: Value,
) -> FhirResult<Response> {
    let outcome = service::process_bundle(state, principal, bundle).await?;
    let entry = outcome
        .entries
        .into_iter()
        .map(|result| match result {
            Ok(stored) => ResponseEntryOut {
                resource: Some(CreatedRefOut {
                    resource_type: "Resource",
                    id: stored.observation.id.to_string(),
                }),
                response: EntryResponseOut {
                    status: if stored.created {
                        "201 Created"
                    } else {
                        "200 OK"
                    },
                    outcome: None,
                },
            },
            Err(o) => ResponseEntryOut {
                resource: None,
                response: EntryResponseOut {
                    status: o.status.status_line(),
                    outcome: Some(OperationOutcomeOut::error(
                        o.code,
                        o.diagnostics,
                        o.expression,
                    )),
                },
            },
        })
        .collect();
    let type_ = match outcome.kind {
        BundleKind::Batch => "batch-response",
        BundleKind::Transaction => "transaction-response",
    };
    Ok(respond::json(
        StatusCode::OK,
        respond::content_type_for(req),
        &ResponseBundleOut {
            resource_type: "Bundle",
            type_,
            entry,
        },
    ))
}

fn search_bundle<T, R>(
    state: &AppState,
    req: &Request,
    params: &[(String, String)],
    page: SearchPage<T>,
    to_resource: impl Fn(T) -> R,
) -> SearchBundle<R> {
    let origin = respond::origin(req, &state.config);
    let links = Links::new(&origin, req.original_uri(), params);
    SearchBundle {
        resource_type: "Bundle",
        type_: "searchset",
        total: page.total,
        link: links.build(page.page, page.has_next, page.next_cursor.as_deref()),
        entry: page
            .items
            .into_iter()
            .map(|item| SearchEntry {
                resource: to_resource(item),
            })
            .collect(),
        meta: Empty {},
    }
}

async fn observation_search(
    state: &AppState,
    req: &Request,
    principal: &Principal,
    params: Vec<(String, String)>,
) -> FhirResult<Response> {
    let search = ObservationSearch::parse(&params)?;
    let page = service::search_observations(state, principal, &search).await?;
    let bundle = search_bundle(state, req, &params, page, |(o, c)| {
        ObservationOut::new(&o, &c)
    });
    Ok(respond::json(
        StatusCode::OK,
        respond::content_type_for(req),
        &bundle,
    ))
}

async fn patient_search(
    state: &AppState,
    req: &Request,
    principal: &Principal,
    params: Vec<(String, String)>,
) -> FhirResult<Response> {
    let search = PatientSearch::parse(&params)?;
    let page = service::search_patients(state, principal, &search).await?;
    let bundle = search_bundle(state, req, &params, page, |(p, email)| {
        PatientOut::new(&p, email.as_deref())
    });
    Ok(respond::json(
        StatusCode::OK,
        respond::content_type_for(req),
        &bundle,
    ))
}
