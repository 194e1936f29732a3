//! Patients: paged list per organisation and study with multi-select enrolment, creation with a
//! look-up by e-mail first, editing, removal from an organisation, and a patient's page with
//! consents per study and invitation links (with a QR code).

use std::collections::HashMap;
use std::sync::Arc;

use poem::web::{Data, Path, Query};
use poem::{Body, Request, Response, Route, get, handler, post};
use serde_json::{Value, json};

use super::{Ctx, ctx, id_of, internal, page_request, post_ctx, text_of, view};
use crate::domain::Id;
use crate::policy::Action;
use crate::server::AppState;
use crate::services::guard::allowed;
use crate::services::patients::{self, PatientInput};
use crate::store::PatientQuery;

pub(super) fn mount(route: Route) -> Route {
    route
        .at("/portal/patients/", get(index).post(create))
        .at("/portal/patients/new", get(new_patient))
        .at("/portal/patients/study", post(study_change))
        .at("/portal/patients/:id/", get(detail))
        .at("/portal/patients/:id/edit", post(edit))
        .at("/portal/patients/:id/remove", post(remove))
        .at(
            "/portal/patients/:id/add-organization",
            post(add_organization),
        )
        .at("/portal/patients/:id/invitation", post(invite))
}

type Params = HashMap<String, String>;

/// The organisation a list is about: the requested one, else the caller's first.
async fn chosen_org(ctx: &Ctx, q: &Params) -> (Vec<crate::domain::Organization>, Option<Id>) {
    let orgs = super::studies::my_orgs(&ctx.state, &ctx.principal).await;
    let org = id_of(q.get("org")).or_else(|| orgs.first().map(|o| o.id));
    (orgs, org)
}

async fn may_manage(ctx: &Ctx, org: Option<Id>) -> bool {
    match org {
        Some(organization_id) => allowed(
            &ctx.state,
            &ctx.principal,
            Action::ManagePatients { organization_id },
        )
        .await
        .unwrap_or(false),
        None => false,
    }
}

#[handler]
async fn index(state: Data<&Arc<AppState>>, req: &Request, Query(q): Query<Params>) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let (orgs, org) = chosen_org(&ctx, &q).await;
    let study = id_of(q.get("study"));
    let request = page_request(
        q.get("page").map(String::as_str),
        q.get("pageSize").map(String::as_str),
    );
    let studies = match org {
        Some(o) => crate::services::studies::of_organization(&state, &p, o)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let found = match org {
        Some(_) => {
            patients::list(
                &state,
                &p,
                PatientQuery {
                    organization_id: org,
                    study_id: study,
                    ..Default::default()
                },
                request,
            )
            .await
        }
        None => Ok(crate::domain::Page {
            items: Vec::new(),
            total: 0,
            request,
        }),
    };
    let found = match found {
        Ok(f) => f,
        Err(e) => return ctx.failed(e).await,
    };
    let can_manage = may_manage(&ctx, org).await;
    let can_enrol = match org {
        Some(organization_id) => allowed(&state, &p, Action::ManageStudies { organization_id })
            .await
            .unwrap_or(false),
        None => false,
    };
    let params = [
        ("org", org.map(|o| o.to_string()).unwrap_or_default()),
        ("study", study.map(|s| s.to_string()).unwrap_or_default()),
    ];
    ctx.render(
        "portal/patients.html",
        json!({
            "active": "patients",
            "orgs": orgs.iter().map(view::organization).collect::<Vec<_>>(),
            "org": org,
            "study": study,
            "studies": studies.iter().map(|s| json!({"id": s.id, "name": s.name})).collect::<Vec<_>>(),
            "patients": found.items.iter().map(view::patient).collect::<Vec<_>>(),
            "pager": view::pager("/portal/patients/", &params, found.request, found.total),
            "can_manage": can_manage,
            "can_enrol": can_enrol,
        }),
    )
    .await
}

#[handler]
async fn new_patient(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Query(q): Query<Params>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let (orgs, org) = chosen_org(&ctx, &q).await;
    let Some(org_id) = org else {
        return ctx
            .flash_redirect(
                "/portal/patients/",
                "error",
                "This user does not belong to any Organization.",
            )
            .await;
    };
    let org_name = orgs
        .iter()
        .find(|o| o.id == org_id)
        .map(|o| o.name.clone())
        .unwrap_or_default();
    let email = text_of(q.get("email"));
    let mut lookup = Value::Null;
    if let Some(email) = &email {
        match patients::global_lookup(&state, &p, Some(email)).await {
            Ok(found) => {
                lookup = match found.first() {
                    None => json!({"state": "new"}),
                    Some(l) if l.organizations.iter().any(|o| o.id == org_id) => {
                        json!({"state": "member", "id": l.id})
                    }
                    Some(l) => json!({"state": "elsewhere", "id": l.id}),
                }
            }
            Err(e) => {
                let text = super::error_text(&e);
                return ctx
                    .flash_redirect(&format!("/portal/patients/?org={org_id}"), "error", &text)
                    .await;
            }
        }
    }
    ctx.render(
        "portal/patient_new.html",
        json!({
            "active": "patients",
            "org": {"id": org_id, "name": org_name},
            "email": email,
            "lookup": lookup,
        }),
    )
    .await
}

fn input_of(form: &Params) -> PatientInput {
    PatientInput {
        identifier: form.get("identifier").cloned(),
        name_family: form.get("name_family").cloned(),
        name_given: form.get("name_given").cloned(),
        birth_date: form.get("birth_date").cloned(),
        telecom_phone: form.get("telecom_phone").cloned(),
        telecom_email: text_of(form.get("telecom_email")),
    }
}

#[handler]
async fn create(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let org = id_of(form.get("org"));
    match patients::create(&state, &p, org, input_of(&form)).await {
        Ok(created) => {
            ctx.flash_redirect(
                &format!("/portal/patients/{}/", created.patient.id),
                "success",
                "Patient created.",
            )
            .await
        }
        Err(e) => {
            let back = format!(
                "/portal/patients/new{}",
                view::query_string(&[
                    ("org", org.map(|o| o.to_string()).unwrap_or_default()),
                    (
                        "email",
                        form.get("telecom_email").cloned().unwrap_or_default()
                    ),
                ])
            );
            ctx.outcome(Err::<(), _>(e), &back, "").await
        }
    }
}

#[handler]
async fn study_change(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let back = format!(
        "/portal/patients/{}",
        view::query_string(&[
            ("org", form.get("org").cloned().unwrap_or_default()),
            (
                "study",
                form.get("current_study").cloned().unwrap_or_default()
            ),
        ])
    );
    let ids: Vec<Id> = form
        .iter()
        .filter(|(_, v)| v.as_str() == "on")
        .filter_map(|(k, _)| k.strip_prefix("patient_")?.parse().ok())
        .collect();
    let Some(study) = id_of(form.get("study")) else {
        return ctx.flash_redirect(&back, "error", "Choose a study.").await;
    };
    if ids.is_empty() {
        return ctx
            .flash_redirect(&back, "error", "Select at least one patient.")
            .await;
    }
    let count = ids.len();
    if form.get("action").map(String::as_str) == Some("remove") {
        let result = crate::services::studies::unenroll(&state, &p, study, Some(ids)).await;
        ctx.outcome(
            result,
            &back,
            &format!("{count} patient(s) removed from the study."),
        )
        .await
    } else {
        let result = crate::services::studies::enroll(&state, &p, study, Some(ids)).await;
        ctx.outcome(
            result,
            &back,
            &format!("{count} patient(s) added to the study."),
        )
        .await
    }
}

/// The consent overview as template data: one entry per study with its scopes and decisions.
pub(super) fn consents_view(overview: &crate::services::consents::ConsentOverview) -> Value {
    let study = |s: &crate::services::consents::ConsentStudy| {
        json!({
            "id": s.study.id,
            "name": s.study.name,
            "organization": s.organization.name,
            "scopes": s.scopes.iter().map(|d| json!({
                "id": d.code.id,
                "text": d.code.text,
                "code": d.code.coding_code,
                "system": d.code.coding_system,
                "state": match d.consented { None => "pending", Some(true) => "consented", Some(false) => "declined" },
            })).collect::<Vec<_>>(),
        })
    };
    let mut studies: Vec<Value> = overview.studies.iter().map(study).collect();
    studies.extend(overview.studies_pending_consent.iter().map(study));
    Value::Array(studies)
}

async fn detail_page(ctx: &mut Ctx, id: Id, invitation: Value) -> Response {
    let state = ctx.state.clone();
    let p = ctx.principal.clone();
    let patient = match patients::get(&state, &p, id).await {
        Ok(v) => v,
        Err(e) => return ctx.failed(e).await,
    };
    let consents = crate::services::consents::overview(&state, &p, id)
        .await
        .map(|o| consents_view(&o))
        .unwrap_or(Value::Array(Vec::new()));
    let clients = patients::consolidated_clients(&state, &p, id)
        .await
        .unwrap_or_default();
    let mut managed = Vec::new();
    for o in &patient.organizations {
        if allowed(
            &state,
            &p,
            Action::ManagePatients {
                organization_id: o.id,
            },
        )
        .await
        .unwrap_or(false)
        {
            managed.push(view::organization(o));
        }
    }
    ctx.render(
        "portal/patient.html",
        json!({
            "active": "patients",
            "patient": view::patient(&patient),
            "consents": consents,
            "clients": clients.iter().map(|c| json!({"id": c.client.id, "name": c.client.name})).collect::<Vec<_>>(),
            "managed_orgs": managed,
            "can_manage": !managed.is_empty(),
            "can_invite": p.practitioner.is_some(),
            "invitation": invitation,
        }),
    )
    .await
}

#[handler]
async fn detail(state: Data<&Arc<AppState>>, req: &Request, Path(id): Path<String>) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match id.parse::<Id>() {
        Ok(id) => detail_page(&mut ctx, id, Value::Null).await,
        Err(_) => ctx.not_found(patients::NO_PATIENT).await,
    }
}

#[handler]
async fn edit(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<Id>,
    body: Body,
) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let mut input = input_of(&form);
    input.telecom_email = None;
    let result = patients::update(&state, &p, id, id_of(form.get("org")), input, false).await;
    ctx.outcome(result, &format!("/portal/patients/{id}/"), "Patient saved.")
        .await
}

#[handler]
async fn remove(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<Id>,
    body: Body,
) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let org = id_of(form.get("org"));
    match patients::remove_from_organization(&state, &p, id, org).await {
        Ok(()) => {
            let back = format!(
                "/portal/patients/{}",
                view::query_string(&[("org", org.map(|o| o.to_string()).unwrap_or_default())])
            );
            ctx.flash_redirect(&back, "success", "Patient removed from the organization.")
                .await
        }
        Err(e) => {
            ctx.outcome(Err::<(), _>(e), &format!("/portal/patients/{id}/"), "")
                .await
        }
    }
}

#[handler]
async fn add_organization(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<Id>,
    body: Body,
) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let org = id_of(form.get("org"));
    let email = text_of(form.get("email"));
    match patients::add_organization(&state, &p, id, org, email.as_deref()).await {
        Ok(_) => {
            ctx.flash_redirect(
                &format!("/portal/patients/{id}/"),
                "success",
                "Patient added to the organization.",
            )
            .await
        }
        Err(e) => {
            let back = format!(
                "/portal/patients/new{}",
                view::query_string(&[
                    ("org", org.map(|o| o.to_string()).unwrap_or_default()),
                    ("email", email.unwrap_or_default()),
                ])
            );
            ctx.outcome(Err::<(), _>(e), &back, "").await
        }
    }
}

#[handler]
async fn invite(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<Id>,
    body: Body,
) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let client = id_of(form.get("client"));
    let send_email = form.get("send_email").is_some_and(|v| v == "on");
    let link = crate::services::oauth::invitation::create_invitation_link(
        state.store.as_ref(),
        &state.config,
        state.mailer.as_ref(),
        &p,
        &crate::services::guard::scope(&state, &p).await,
        id,
        client,
        send_email,
    )
    .await;
    let event = crate::audit::AuditEvent::by(&p, crate::audit::AuditKind::InvitationLink)
        .patient(id)
        .entity(format!("Patient/{id}"))
        .detail(match client {
            Some(app) => format!("client {app}; e-mail sent: {send_email}"),
            None => format!("e-mail sent: {send_email}"),
        });
    crate::services::audit::record(
        &state,
        match &link {
            Ok(_) => event,
            Err(e) => event.failed(e.to_string()),
        },
    );
    match link {
        Ok(link) => {
            let qr = super::qr::svg_of(&link, 220);
            // The same invitation opened in a browser: the patient's way to the consent screen.
            let web_link = match crate::services::settings::site_url(
                state.store.as_ref(),
                &state.config,
            )
            .await
            {
                Ok(site) => crate::services::oauth::invitation::invitation_code_in(&link)
                    .map(|code| crate::services::oauth::invitation::web_link(&site, &code)),
                Err(e) => return internal(e),
            };
            detail_page(
                &mut ctx,
                id,
                json!({"client": client, "link": link, "qr": qr, "emailed": send_email, "web_link": web_link}),
            )
            .await
        }
        Err(e) => {
            ctx.outcome(Err::<(), _>(e), &format!("/portal/patients/{id}/"), "")
                .await
        }
    }
}
