//! Studies: list per organisation, create/edit/delete, and a study's data sources, requested
//! scopes, clients and enrolled patients.

use std::sync::Arc;

use poem::web::{Data, Path, Query};
use poem::{Body, Request, Response, Route, get, handler, post};
use serde_json::json;

use super::{Ctx, ctx, id_of, post_ctx, post_ctx_files, text_of, view};
use crate::domain::{Id, Organization, PageRequest};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::guard::allowed;
use crate::services::studies::{self, StudyInput};

pub(super) fn mount(route: Route) -> Route {
    route
        .at("/portal/studies/", get(index).post(create))
        .at("/portal/studies/:id/", get(detail))
        .at("/portal/studies/:id/edit", post(edit))
        .at("/portal/studies/:id/delete", post(delete))
        .at("/portal/studies/:id/icon/remove", post(remove_icon))
        .at("/portal/studies/:id/link", post(link))
        .at("/portal/studies/:id/unlink", post(unlink))
}

/// The organisations the caller works in (for selectors): direct links of practitioners; for a
/// superuser without links, every organisation.
pub(super) async fn my_orgs(state: &AppState, p: &Principal) -> Vec<Organization> {
    let mine = crate::services::users::my_organizations(state, p)
        .await
        .unwrap_or_default();
    if !mine.is_empty() || !p.is_superuser() {
        return mine;
    }
    super::all_pages(|page| crate::services::organizations::list(state, p, None, page))
        .await
        .map(|items| {
            items
                .into_iter()
                .map(|o| o.organization)
                .filter(|o| o.id != crate::domain::ROOT_ORGANIZATION_ID)
                .collect()
        })
        .unwrap_or_default()
}

#[derive(serde::Deserialize)]
struct IndexQuery {
    org: Option<String>,
    page: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
}

#[handler]
async fn index(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Query(q): Query<IndexQuery>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let orgs = my_orgs(&state, &p).await;
    let org = q.org.as_deref().and_then(|o| o.parse::<Id>().ok());
    let request = super::page_request(q.page.as_deref(), q.page_size.as_deref());
    let found = match studies::list(&state, &p, org, request).await {
        Ok(page) => page,
        Err(crate::CoreError::NotFound(_)) => crate::domain::Page {
            items: Vec::new(),
            total: 0,
            request,
        },
        Err(e) => return ctx.failed(e).await,
    };
    let studies = &found.items;
    let params = [("org", org.map(|o| o.to_string()).unwrap_or_default())];
    let mut manageable = Vec::new();
    for o in &orgs {
        if allowed(
            &state,
            &p,
            Action::ManageStudies {
                organization_id: o.id,
            },
        )
        .await
        .unwrap_or(false)
        {
            manageable.push(view::organization(o));
        }
    }
    ctx.render(
        "portal/studies.html",
        json!({
            "active": "studies",
            "orgs": orgs.iter().map(view::organization).collect::<Vec<_>>(),
            "org": org,
            "studies": studies.iter().map(|s| json!({
                "id": s.study.id, "name": s.study.name, "description": s.study.description,
                "icon_url": s.study.icon_url, "organization": view::organization(&s.organization),
            })).collect::<Vec<_>>(),
            "manageable_orgs": manageable,
            "pager": view::pager("/portal/studies/", &params, found.request, found.total),
        }),
    )
    .await
}

fn input_of(form: &std::collections::HashMap<String, String>) -> StudyInput {
    StudyInput {
        name: form.get("name").cloned(),
        description: form.get("description").cloned(),
        organization: id_of(form.get("organization")),
        icon_url: form.get("icon_url").map(|u| text_of(Some(u))),
    }
}

/// The file field of the study forms.
const ICON_FIELD: &str = "icon";

#[handler]
async fn create(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (mut ctx, mut form) = match post_ctx_files(&state, req, body, "/portal/studies/").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    match studies::create(&state, &p, input_of(&form.fields)).await {
        Ok(study) => {
            let here = format!("/portal/studies/{}/", study.id);
            let created = format!("Study \"{}\" created.", study.name);
            match form.files.remove(ICON_FIELD) {
                Some(bytes) => match studies::set_icon(&state, &p, study.id, bytes).await {
                    Ok(_) => ctx.flash_redirect(&here, "success", &created).await,
                    Err(e) => {
                        let text = format!(
                            "{created} The icon was not stored: {}",
                            super::error_text(&e)
                        );
                        ctx.flash_redirect(&here, "error", &text).await
                    }
                },
                None => ctx.flash_redirect(&here, "success", &created).await,
            }
        }
        Err(e) => ctx.outcome(Err::<(), _>(e), "/portal/studies/", "").await,
    }
}

/// Patients the "Enrol a patient" picker lists at once; more are found by searching.
const PATIENT_PICKER_SIZE: u64 = 100;

/// The search of the "Enrol a patient" picker: an e-mail address (contains `@`) or the
/// beginning of a family or given name.
fn picker_query(organization_id: Id, search: &str) -> crate::store::PatientQuery {
    let search = search.trim();
    let mut query = crate::store::PatientQuery {
        organization_id: Some(organization_id),
        ..Default::default()
    };
    if search.contains('@') {
        query.email = Some(search.to_string());
    } else if !search.is_empty() {
        query.name = vec![search.to_string()];
    }
    query
}

async fn detail_page(ctx: &mut Ctx, id: Id, patient_search: &str) -> Response {
    let state = ctx.state.clone();
    let p = ctx.principal.clone();
    let study = match studies::get(&state, &p, id).await {
        Ok(s) => s,
        Err(e) => return ctx.failed(e).await,
    };
    let can_manage = allowed(
        &state,
        &p,
        Action::ManageStudies {
            organization_id: study.study.organization_id,
        },
    )
    .await
    .unwrap_or(false);
    let sources = studies::data_sources(&state, &p, id)
        .await
        .map(|(_, l)| l)
        .unwrap_or_default();
    let scopes = studies::scope_requests(&state, &p, id)
        .await
        .map(|(_, l)| l)
        .unwrap_or_default();
    let clients = studies::clients(&state, &p, id)
        .await
        .map(|(_, l)| l)
        .unwrap_or_default();
    let patients = studies::patients(&state, &p, id).await.unwrap_or_default();
    let (all_sources, all_scopes, all_clients, (org_patients, org_patient_total)) = if can_manage {
        let all_sources =
            super::all_pages(|page| crate::services::data_sources::list(&state, &p, page))
                .await
                .unwrap_or_default();
        let all_scopes = crate::services::data_sources::all_scopes(&state, &p)
            .await
            .unwrap_or_default();
        let all_clients = super::all_pages(|page| crate::services::clients::list(&state, &p, page))
            .await
            .unwrap_or_default();
        let org_patients = crate::services::patients::list(
            &state,
            &p,
            picker_query(study.study.organization_id, patient_search),
            PageRequest::new(1, PATIENT_PICKER_SIZE),
        )
        .await
        .map(|x| (x.items, x.total))
        .unwrap_or_default();
        (all_sources, all_scopes, all_clients, org_patients)
    } else {
        Default::default()
    };
    let enrolled: Vec<Id> = patients.iter().map(|v| v.patient.id).collect();
    let option = |id: Id, label: String| json!({"id": id, "label": label});
    ctx.render(
        "portal/study.html",
        json!({
            "active": "studies",
            "study": {"id": study.study.id, "name": study.study.name, "description": study.study.description, "icon_url": study.study.icon_url},
            "org": view::organization(&study.organization),
            "can_manage": can_manage,
            "sources": sources.iter().map(|(_, d)| option(d.id, d.name.clone().unwrap_or_else(|| format!("#{}", d.id)))).collect::<Vec<_>>(),
            "scopes": scopes.iter().map(|(_, c)| option(c.id, format!("{} ({})", c.text, c.coding_code))).collect::<Vec<_>>(),
            "clients": clients.iter().map(|(_, c)| option(c.id, c.name.clone())).collect::<Vec<_>>(),
            "patients": patients.iter().map(view::patient).collect::<Vec<_>>(),
            "add_sources": all_sources.iter().filter(|d| !sources.iter().any(|(_, s)| s.id == d.data_source.id)).map(|d| option(d.data_source.id, d.data_source.name.clone().unwrap_or_default())).collect::<Vec<_>>(),
            "add_scopes": all_scopes.iter().filter(|c| !scopes.iter().any(|(_, s)| s.id == c.id)).map(|c| option(c.id, format!("{} ({})", c.text, c.coding_code))).collect::<Vec<_>>(),
            "add_clients": all_clients.iter().filter(|c| !clients.iter().any(|(_, s)| s.id == c.client.id)).map(|c| option(c.client.id, c.client.name.clone())).collect::<Vec<_>>(),
            "patient_search": patient_search,
            "patient_total": org_patient_total,
            "patient_shown": org_patients.len(),
            "add_patients": org_patients.iter().filter(|v| !enrolled.contains(&v.patient.id)).map(|v| option(v.patient.id, format!("{}, {} ({})", v.patient.name_family, v.patient.name_given, v.email.clone().unwrap_or_default()))).collect::<Vec<_>>(),
        }),
    )
    .await
}

/// The query of the study page.
#[derive(Debug, Default, serde::Deserialize)]
struct DetailQuery {
    /// Search of the "Enrol a patient" picker.
    patient_q: Option<String>,
}

#[handler]
async fn detail(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<String>,
    query: Option<poem::web::Query<DetailQuery>>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let search = query
        .and_then(|poem::web::Query(q)| q.patient_q)
        .unwrap_or_default();
    match id.parse::<Id>() {
        Ok(id) => detail_page(&mut ctx, id, &search).await,
        Err(_) => ctx.not_found(studies::NO_STUDY).await,
    }
}

#[handler]
async fn edit(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<Id>,
    body: Body,
) -> Response {
    let back = format!("/portal/studies/{id}/");
    let (mut ctx, mut form) = match post_ctx_files(&state, req, body, &back).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let mut input = input_of(&form.fields);
    input.organization = None;
    let mut result = studies::update(&state, &p, id, input, false).await;
    if result.is_ok()
        && let Some(bytes) = form.files.remove(ICON_FIELD)
    {
        result = studies::set_icon(&state, &p, id, bytes).await;
    }
    ctx.outcome(result, &back, "Study saved.").await
}

#[handler]
async fn remove_icon(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<Id>,
    body: Body,
) -> Response {
    let (mut ctx, _) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let result = studies::remove_icon(&state, &p, id).await;
    ctx.outcome(result, &format!("/portal/studies/{id}/"), "Icon removed.")
        .await
}

#[handler]
async fn delete(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<Id>,
    body: Body,
) -> Response {
    let (mut ctx, _) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    match studies::delete(&state, &p, id).await {
        Ok(()) => {
            ctx.flash_redirect("/portal/studies/", "success", "Study deleted.")
                .await
        }
        Err(e) => {
            ctx.outcome(Err::<(), _>(e), &format!("/portal/studies/{id}/"), "")
                .await
        }
    }
}

async fn change(state: &Arc<AppState>, req: &Request, id: Id, body: Body, add: bool) -> Response {
    let (mut ctx, form) = match post_ctx(state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let back = format!("/portal/studies/{id}/");
    let target = id_of(form.get("target"));
    let kind = form.get("kind").map(String::as_str).unwrap_or_default();
    let result = match (kind, add) {
        ("data_source", true) => studies::add_data_source(state, &p, id, target).await,
        ("data_source", false) => studies::remove_data_source(state, &p, id, target).await,
        ("scope", true) => studies::add_scope_request(state, &p, id, target)
            .await
            .map(|_| ()),
        ("scope", false) => studies::remove_scope_request(state, &p, id, target).await,
        ("client", true) => studies::add_client(state, &p, id, target).await,
        ("client", false) => studies::remove_client(state, &p, id, target).await,
        ("patient", true) => studies::enroll(state, &p, id, target.map(|t| vec![t]))
            .await
            .map(|_| ()),
        ("patient", false) => studies::unenroll(state, &p, id, target.map(|t| vec![t]))
            .await
            .map(|_| ()),
        _ => Err(crate::CoreError::BadRequest("Unknown change.".into())),
    };
    let done = if add { "Added." } else { "Removed." };
    ctx.outcome(result, &back, done).await
}

#[handler]
async fn link(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<Id>,
    body: Body,
) -> Response {
    change(&state, req, id, body, true).await
}

#[handler]
async fn unlink(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<Id>,
    body: Body,
) -> Response {
    change(&state, req, id, body, false).await
}
