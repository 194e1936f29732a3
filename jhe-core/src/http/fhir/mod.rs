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
//! | `GET [base]/metadata` | the CapabilityStatement ([`conformance`]), no authentication |
//! | `GET [base]/.well-known/smart-configuration`, `GET /.well-known/smart-configuration` | SMART App Launch 2 configuration, no authentication |
//! | `GET [base]/Consent?patient=`, `POST [base]/Consent/_search` | consent decisions (read-only) |
//! | `GET [base]/Consent/{id}` | consent read |
//! | `GET [base]/AuditEvent` | the audit trail: a patient's own events, or all for a superuser |
//! | `GET [base]/Patient/$export`, `GET [base]/Group/{study}/$export` | Bulk Data kick-off (`202`, `Content-Location`) |
//! | `GET`/`DELETE [base]/$export-status/{job}` | status (`202` + `X-Progress`, `200` manifest) / cancel |
//! | `GET [base]/$export-file/{job}/{file}` | an NDJSON file of a finished export (requester only) |
//!
//! Every other route needs `Authorization: Bearer <token>`. Errors are OperationOutcome resources
//! (`application/fhir+json`); request bodies may be `application/json` or
//! `application/fhir+json`. The handlers are thin: they parse, authenticate, call one function
//! of [`crate::services::observations`] and shape the answer.

pub mod conformance;
mod respond;

use std::sync::Arc;

use poem::http::{Method, StatusCode, header};
use poem::web::Data;
use poem::{Body, Request, Response, Route, handler};
use serde_json::Value;

use crate::fhir::consent::ConsentOut;
use crate::fhir::datetime::format_instant;
use crate::fhir::model::{
    Empty, EntryResponseOut, ObservationCreatedOut, ObservationOut, OperationOutcomeOut,
    PatientOut, ResponseBundleOut, ResponseEntryOut, SearchBundle, SearchEntry, SearchModeOut,
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
    route.at("/.well-known/smart-configuration", smart_configuration)
}

/// `GET /.well-known/smart-configuration` (also under the FHIR bases).
#[handler]
async fn smart_configuration(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return respond::error(not_allowed(req.method(), "the SMART configuration"));
    }
    respond::json(
        StatusCode::OK,
        "application/json",
        &conformance::smart_configuration(&state.config),
    )
}

/// The OperationOutcome response of an error (status from the error).
pub fn error_response(error: FhirError) -> Response {
    respond::error(error)
}

#[handler]
async fn fhir_endpoint(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let shared: &Arc<AppState> = state.0;
    let state: &AppState = shared;
    if let Some(response) = bulk_dispatch(shared, req).await {
        return response.unwrap_or_else(respond::error);
    }
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
    let segments = segments(req);
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method();
    // Read before a client has a token: no authentication.
    match (parts.as_slice(), method) {
        (["metadata"], &Method::GET | &Method::HEAD) => {
            return Ok(respond::json(
                StatusCode::OK,
                respond::content_type_for(req),
                &conformance::capability_statement(&state.config, &base_url(state, req)),
            ));
        }
        (["metadata"], m) => return Err(not_allowed(m, "metadata")),
        ([".well-known", "smart-configuration"], &Method::GET | &Method::HEAD) => {
            return Ok(respond::json(
                StatusCode::OK,
                "application/json",
                &conformance::smart_configuration(&state.config),
            ));
        }
        _ => {}
    }
    let principal = crate::http::auth::principal(state, req).await?;
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
            let (patient, email) =
                crate::services::fhir_patients::read_patient(state, &principal, id).await?;
            Ok(respond::json(
                StatusCode::OK,
                respond::content_type_for(req),
                &PatientOut::new(&patient, email.as_deref()),
            ))
        }
        (["Patient", ..], m) => Err(not_allowed(m, "Patient")),
        (["Consent"], &Method::GET) => {
            consent_search(state, req, &principal, query_params(req)).await
        }
        (["Consent", "_search"], &Method::POST) => {
            let params = form_params(req, body).await?;
            consent_search(state, req, &principal, params).await
        }
        (["Consent", id], &Method::GET) => {
            let view = crate::services::fhir_consents::read(state, &principal, id).await?;
            Ok(respond::json(
                StatusCode::OK,
                respond::content_type_for(req),
                &ConsentOut::new(&view),
            ))
        }
        (["Consent", ..], m) => Err(not_allowed(m, "Consent")),
        (["AuditEvent"], &Method::GET) => {
            audit_search(state, req, &principal, query_params(req)).await
        }
        (["AuditEvent", ..], m) => Err(not_allowed(m, "AuditEvent")),
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
    let base = base_url(state, req);
    let entry = outcome
        .entries
        .into_iter()
        .map(|result| match result {
            Ok(stored) => {
                let o = &stored.observation;
                let location = format!("Observation/{}", o.id);
                ResponseEntryOut {
                    full_url: Some(format!("{base}/{location}")),
                    resource: Some(ObservationCreatedOut::new(o, &stored.concept)),
                    response: EntryResponseOut {
                        status: if stored.created {
                            "201 Created"
                        } else {
                            "200 OK"
                        },
                        location: Some(location),
                        etag: o
                            .last_updated
                            .timestamp_nanos_opt()
                            .map(|nanos| format!("W/\"{nanos}\"")),
                        last_modified: Some(format_instant(o.last_updated)),
                        outcome: None,
                    },
                }
            }
            Err(o) => ResponseEntryOut {
                full_url: None,
                resource: None,
                response: EntryResponseOut {
                    status: o.status.status_line(),
                    location: None,
                    etag: None,
                    last_modified: None,
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

/// A searchset Bundle of one page; `to_resource` gives each row's `<type>/<id>` and resource.
///
/// Answered as FHIR JSON (`Accept: application/fhir+json` or `_format`), entries carry
/// `fullUrl` and `search.mode` and an empty page has no `entry`. Answered as plain JSON (what
/// the original served and jupyterhealth-client reads), entries are `{"resource": …}` only —
/// the client unwraps an entry only when it has exactly one key — and an empty page keeps
/// `"entry": []`, which the client indexes; a count-only request (`_count=0`,
/// `_summary=count`) never has `entry`.
fn search_bundle<T, R>(
    state: &AppState,
    req: &Request,
    params: &[(String, String)],
    page: SearchPage<T>,
    count_only: bool,
    to_resource: impl Fn(T) -> (String, R),
) -> SearchBundle<R> {
    let origin = respond::origin(req, &state.config);
    let base = base_url(state, req);
    let fhir_json = respond::content_type_for(req) == crate::fhir::FHIR_JSON;
    let links = Links::new(&origin, req.original_uri(), params);
    let entry: Vec<SearchEntry<R>> = page
        .items
        .into_iter()
        .map(|item| {
            let (path, resource) = to_resource(item);
            SearchEntry {
                full_url: fhir_json.then(|| format!("{base}/{path}")),
                resource,
                search: fhir_json.then_some(SearchModeOut { mode: "match" }),
            }
        })
        .collect();
    let keep_empty = !fhir_json && !count_only;
    SearchBundle {
        resource_type: "Bundle",
        type_: "searchset",
        total: page.total,
        link: links.build(page.page, page.has_next, page.next_cursor.as_deref()),
        entry: (keep_empty || !entry.is_empty()).then_some(entry),
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
    let count_only = search.paging.count == 0;
    let bundle = search_bundle(state, req, &params, page, count_only, |(o, c)| {
        (format!("Observation/{}", o.id), ObservationOut::new(&o, &c))
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
    let page = crate::services::fhir_patients::search_patients(state, principal, &search).await?;
    let count_only = search.paging.count == 0;
    let bundle = search_bundle(state, req, &params, page, count_only, |(p, email)| {
        (
            format!("Patient/{}", p.id),
            PatientOut::new(&p, email.as_deref()),
        )
    });
    Ok(respond::json(
        StatusCode::OK,
        respond::content_type_for(req),
        &bundle,
    ))
}

async fn consent_search(
    state: &AppState,
    req: &Request,
    principal: &Principal,
    params: Vec<(String, String)>,
) -> FhirResult<Response> {
    let views = crate::services::fhir_consents::search(state, principal, &params).await?;
    let page = SearchPage {
        total: Some(views.len() as u64),
        items: views,
        page: 1,
        has_next: false,
        next_cursor: None,
    };
    let bundle = search_bundle(state, req, &params, page, false, |v| {
        let resource = ConsentOut::new(&v);
        (format!("Consent/{}", resource.id), resource)
    });
    Ok(respond::json(
        StatusCode::OK,
        respond::content_type_for(req),
        &bundle,
    ))
}

async fn audit_search(
    state: &AppState,
    req: &Request,
    principal: &Principal,
    params: Vec<(String, String)>,
) -> FhirResult<Response> {
    let found = crate::services::audit::search(state, principal, &params).await?;
    let next_cursor = found
        .items
        .last()
        .filter(|_| found.has_next)
        .map(|e| e.id.to_string());
    let page = SearchPage {
        total: Some(found.total),
        items: found.items,
        page: 1,
        has_next: found.has_next,
        next_cursor,
    };
    let bundle = search_bundle(state, req, &params, page, false, |e| {
        (format!("AuditEvent/{}", e.id), e.resource)
    });
    Ok(respond::json(
        StatusCode::OK,
        respond::content_type_for(req),
        &bundle,
    ))
}

/// The Bulk Data routes (`$export`, status, files), which need the shared state to start a
/// background job; `None` for any other route.
async fn bulk_dispatch(state: &Arc<AppState>, req: &Request) -> Option<FhirResult<Response>> {
    use crate::services::bulk_export::{self as bulk, ExportLevel, ExportParams};
    let segments = segments(req);
    let parts: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = req.method().clone();
    let level = match (parts.as_slice(), &method) {
        (["Patient", "$export"], &Method::GET) => Some(Ok(ExportLevel::Patients)),
        (["Group", id, "$export"], &Method::GET) => Some(
            id.parse::<crate::domain::Id>()
                .map(ExportLevel::Study)
                .map_err(|_| FhirError::not_found(format!("Group/{id} is not known."))),
        ),
        (["Patient", "$export"] | ["Group", _, "$export"], m) => {
            return Some(Err(not_allowed(m, "$export")));
        }
        (["$export-status", _] | ["$export-file", _, _], _) => None,
        _ => return None,
    };
    let result = async {
        let principal = crate::http::auth::principal(state, req).await?;
        let base = base_url(state, req);
        if let Some(level) = level {
            let level = level?;
            if let Some(prefer) = req.headers().get("prefer").and_then(|v| v.to_str().ok())
                && !prefer.contains("respond-async")
            {
                return Err(FhirError::bad_request(
                    "$export is asynchronous: send Prefer: respond-async.",
                ));
            }
            let params = ExportParams::parse(&query_params(req))?;
            let request = format!(
                "{}{}",
                respond::origin(req, &state.config),
                req.original_uri()
            );
            let id = bulk::kick_off(state, &principal, level, params, &request).await?;
            return Ok(Response::builder()
                .status(StatusCode::ACCEPTED)
                .header("Content-Location", format!("{base}/$export-status/{id}"))
                .content_type(crate::fhir::FHIR_JSON)
                .body(
                    serde_json::json!({"resourceType": "OperationOutcome", "issue": [{
                        "severity": "information", "code": "informational",
                        "diagnostics": format!("Export {id} started.")}]})
                    .to_string(),
                ));
        }
        match (parts.as_slice(), &method) {
            (["$export-status", id], &Method::GET) => {
                match bulk::status(state, &principal, id).await? {
                    bulk::ExportState::InProgress(progress) => Ok(Response::builder()
                        .status(StatusCode::ACCEPTED)
                        .header("X-Progress", progress)
                        .header("Retry-After", "2")
                        .finish()),
                    bulk::ExportState::Completed { job, output } => {
                        let output: Vec<serde_json::Value> = output
                            .iter()
                            .map(|o| {
                                serde_json::json!({"type": o.type_,
                                    "url": format!("{base}/$export-file/{}/{}", job.id, o.file),
                                    "count": o.count})
                            })
                            .collect();
                        let manifest = serde_json::json!({
                            "transactionTime": crate::fhir::datetime::format_instant(job.transaction_time),
                            "request": job.request,
                            "requiresAccessToken": true,
                            "output": output,
                            "error": [],
                        });
                        Ok(Response::builder()
                            .status(StatusCode::OK)
                            .header(header::EXPIRES, job.expires.to_rfc2822())
                            .content_type("application/json")
                            .body(manifest.to_string()))
                    }
                    bulk::ExportState::Failed(why) => Err(FhirError::Core(
                        crate::CoreError::Internal(why),
                    )),
                }
            }
            (["$export-status", id], &Method::DELETE) => {
                bulk::cancel(state, &principal, id).await?;
                Ok(Response::builder().status(StatusCode::ACCEPTED).finish())
            }
            (["$export-file", id, name], &Method::GET) => {
                let path = bulk::file(state, &principal, id, name).await?;
                let file = tokio::fs::File::open(&path).await.map_err(|_| {
                    FhirError::not_found(format!("Export file {name} is not known."))
                })?;
                Ok(Response::builder()
                    .status(StatusCode::OK)
                    .content_type("application/fhir+ndjson")
                    .body(Body::from_async_read(file)))
            }
            (_, m) => Err(not_allowed(m, "an export job")),
        }
    }
    .await;
    Some(result)
}
