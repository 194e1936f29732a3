//! Clients, data sources, practitioners and system settings: lists with the forms the caller's
//! role allows (the services decide; buttons only show what the policy permits).

use std::collections::HashMap;
use std::sync::Arc;

use poem::web::{Data, Path, Query};
use poem::{Body, Request, Response, Route, get, handler, post};
use serde_json::{Value, json};

use super::{ctx, id_of, page_request, post_ctx, text_of, view};
use crate::domain::{DATA_SOURCE_TYPES, Id};
use crate::policy::Action;
use crate::server::AppState;
use crate::services::guard::allowed;
use crate::services::{clients, data_sources, jhe_settings, users};

type Params = HashMap<String, String>;

pub(super) fn mount(route: Route) -> Route {
    route
        .at("/portal/clients/", get(client_list).post(client_create))
        .at("/portal/clients/:id/", get(client_detail))
        .at("/portal/clients/:id/delete", post(client_delete))
        .at("/portal/clients/:id/edit", post(client_edit))
        .at("/portal/clients/:id/data-sources", post(client_sources))
        .at(
            "/portal/data-sources/",
            get(source_list).post(source_create),
        )
        .at("/portal/data-sources/:id/delete", post(source_delete))
        .at("/portal/data-sources/:id/edit", post(source_edit))
        .at("/portal/data-sources/:id/scopes", post(source_scopes))
        .at("/portal/practitioners/", get(practitioner_list))
        .at(
            "/portal/practitioners/:id/delete",
            post(practitioner_delete),
        )
        .at("/portal/settings/", get(setting_list).post(setting_create))
        .at("/portal/settings/:id/delete", post(setting_delete))
        .at("/portal/settings/:id/edit", post(setting_edit))
}

fn concept(c: &crate::domain::CodeableConcept) -> Value {
    json!({"id": c.id, "label": format!("{} ({})", c.text, c.coding_code)})
}

#[handler]
async fn client_list(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Query(q): Query<Params>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let request = page_request(
        q.get("page").map(String::as_str),
        q.get("pageSize").map(String::as_str),
    );
    let (found, pager) = match clients::list(&state, &p, request).await {
        Ok(f) => {
            let pager = view::pager("/portal/clients/", &[], f.request, f.total);
            (f.items, pager)
        }
        Err(e) => return ctx.failed(e).await,
    };
    let can_manage = allowed(&state, &p, Action::ManageClients)
        .await
        .unwrap_or(false);
    ctx.render(
        "portal/clients.html",
        json!({
            "active": "clients",
            "clients": found.iter().map(|c| json!({
                "id": c.client.id, "name": c.client.name, "client_id": c.client.client_id,
                "invitation_url": c.invitation_url,
            })).collect::<Vec<_>>(),
            "can_manage": can_manage,
            "pager": pager,
        }),
    )
    .await
}

#[handler]
async fn client_create(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let new = clients::NewClient {
        name: text_of(form.get("name")),
        client_id: text_of(form.get("client_id")).or_else(|| Some(jhe_kdf::random_token(40))),
        invitation_url: text_of(form.get("invitation_url")),
        code_verifier: text_of(form.get("code_verifier"))
            .or_else(|| Some(jhe_kdf::random_token(43))),
    };
    let result = clients::create(&state, &p, new).await;
    ctx.outcome(result, "/portal/clients/", "Client created.")
        .await
}

#[handler]
async fn client_detail(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<String>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let Ok(id) = id.parse::<Id>() else {
        return ctx.not_found(clients::NOT_FOUND).await;
    };
    let client = match clients::get(&state, &p, id).await {
        Ok(c) => c,
        Err(e) => return ctx.failed(e).await,
    };
    let linked = clients::data_sources(&state, &p, id)
        .await
        .unwrap_or_default();
    let all = super::all_pages(|page| data_sources::list(&state, &p, page))
        .await
        .unwrap_or_default();
    let can_manage = allowed(&state, &p, Action::ManageClients)
        .await
        .unwrap_or(false);
    let label =
        |d: &crate::domain::DataSource| d.name.clone().unwrap_or_else(|| format!("#{}", d.id));
    ctx.render(
        "portal/client.html",
        json!({
            "active": "clients",
            "client": {"id": client.client.id, "name": client.client.name, "client_id": client.client.client_id,
                "invitation_url": client.invitation_url, "code_verifier": client.code_verifier},
            "sources": linked.iter().map(|d| json!({"id": d.data_source.id, "label": label(&d.data_source)})).collect::<Vec<_>>(),
            "choices": all.iter().filter(|d| !linked.iter().any(|l| l.data_source.id == d.data_source.id))
                .map(|d| json!({"id": d.data_source.id, "label": label(&d.data_source)})).collect::<Vec<_>>(),
            "can_manage": can_manage,
        }),
    )
    .await
}

#[handler]
async fn client_delete(
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
    let result = clients::delete(&state, &p, id).await;
    ctx.outcome(result, "/portal/clients/", "Client deleted.")
        .await
}

#[handler]
async fn client_sources(
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
    let target = id_of(form.get("target"));
    let back = format!("/portal/clients/{id}/");
    if form.get("action").map(String::as_str) == Some("remove") {
        let result = clients::remove_data_source(&state, &p, id, target).await;
        ctx.outcome(result, &back, "Removed.").await
    } else {
        let result = clients::add_data_source(&state, &p, id, target).await;
        ctx.outcome(result, &back, "Added.").await
    }
}

#[handler]
async fn source_list(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Query(q): Query<Params>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let request = page_request(
        q.get("page").map(String::as_str),
        q.get("pageSize").map(String::as_str),
    );
    let (found, pager) = match data_sources::list(&state, &p, request).await {
        Ok(f) => {
            let pager = view::pager("/portal/data-sources/", &[], f.request, f.total);
            (f.items, pager)
        }
        Err(e) => return ctx.failed(e).await,
    };
    let all_scopes = data_sources::all_scopes(&state, &p)
        .await
        .unwrap_or_default();
    let can_manage = allowed(&state, &p, Action::ManageDataSources)
        .await
        .unwrap_or(false);
    ctx.render(
        "portal/data_sources.html",
        json!({
            "active": "data_sources",
            "sources": found.iter().map(|d| json!({
                "id": d.data_source.id,
                "name": d.data_source.name,
                "type_key": d.data_source.source_type,
                "type": DATA_SOURCE_TYPES.iter().find(|(k, _)| *k == d.data_source.source_type).map_or(d.data_source.source_type.as_str(), |(_, v)| *v),
                "scopes": d.supported_scopes.iter().map(concept).collect::<Vec<_>>(),
                "choices": all_scopes.iter().filter(|c| !d.supported_scopes.iter().any(|s| s.id == c.id)).map(concept).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "types": DATA_SOURCE_TYPES.iter().map(|(k, v)| json!({"value": k, "label": v})).collect::<Vec<_>>(),
            "can_manage": can_manage,
            "pager": pager,
        }),
    )
    .await
}

#[handler]
async fn source_create(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let result = data_sources::create(
        &state,
        &p,
        data_sources::DataSourceChanges {
            name: form.get("name").cloned(),
            source_type: form.get("type").cloned(),
        },
    )
    .await;
    ctx.outcome(result, "/portal/data-sources/", "Data source created.")
        .await
}

#[handler]
async fn source_delete(
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
    let result = data_sources::delete(&state, &p, id).await;
    ctx.outcome(result, "/portal/data-sources/", "Data source deleted.")
        .await
}

#[handler]
async fn source_scopes(
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
    let target = id_of(form.get("target"));
    if form.get("action").map(String::as_str) == Some("remove") {
        let result = data_sources::remove_supported_scope(&state, &p, id, target).await;
        ctx.outcome(result, "/portal/data-sources/", "Scope removed.")
            .await
    } else {
        let result = data_sources::add_supported_scope(&state, &p, id, target).await;
        ctx.outcome(result, "/portal/data-sources/", "Scope added.")
            .await
    }
}

#[handler]
async fn practitioner_list(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Query(q): Query<Params>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let request = page_request(
        q.get("page").map(String::as_str),
        q.get("pageSize").map(String::as_str),
    );
    let found = match users::list_practitioners(&state, &p, request).await {
        Ok(f) => f,
        Err(e) => return ctx.failed(e).await,
    };
    ctx.render(
        "portal/practitioners.html",
        json!({
            "active": "practitioners",
            "practitioners": found.items.iter().map(|v| json!({
                "id": v.practitioner.id, "user_id": v.practitioner.jhe_user_id,
                "identifier": v.practitioner.identifier, "name_family": v.practitioner.name_family,
                "name_given": v.practitioner.name_given, "email": v.email, "phone": v.practitioner.telecom_phone,
                "organizations": v.organizations.iter().map(view::organization).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "pager": view::pager("/portal/practitioners/", &[], found.request, found.total),
        }),
    )
    .await
}

#[handler]
async fn practitioner_delete(
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
    let result = users::delete_practitioner(&state, &p, id).await;
    ctx.outcome(result, "/portal/practitioners/", "Practitioner deleted.")
        .await
}

#[handler]
async fn setting_list(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Query(q): Query<Params>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let request = page_request(
        q.get("page").map(String::as_str),
        q.get("pageSize").map(String::as_str),
    );
    let found = match jhe_settings::list(&state, &p, request).await {
        Ok(f) => f,
        Err(e) => return ctx.failed(e).await,
    };
    ctx.render(
        "portal/settings.html",
        json!({
            "active": "settings",
            "settings": found.items.iter().map(|s| json!({
                "id": s.id, "key": s.key, "setting_id": s.setting_id,
                "type": s.value.type_name(), "value": s.value.to_json().to_string(),
                "value_text": s.value.as_str().map_or_else(|| s.value.to_json().to_string(), str::to_string),
            })).collect::<Vec<_>>(),
            "pager": view::pager("/portal/settings/", &[], found.request, found.total),
            "types": ["string", "int", "bool", "float", "json"],
        }),
    )
    .await
}

#[handler]
async fn setting_create(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let input = jhe_settings::SettingInput {
        key: form.get("key").cloned(),
        setting_id: Some(id_of(form.get("setting_id"))),
        value_type: form.get("type").cloned(),
        value: form.get("value").map(|v| Value::String(v.clone())),
    };
    let result = jhe_settings::create(&state, &p, input).await;
    ctx.outcome(result, "/portal/settings/", "Setting created.")
        .await
}

#[handler]
async fn setting_delete(
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
    let result = jhe_settings::delete(&state, &p, id).await;
    ctx.outcome(result, "/portal/settings/", "Setting deleted.")
        .await
}

#[handler]
async fn client_edit(
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
    let changes = clients::ClientChanges {
        name: form.get("name").cloned(),
        client_id: None,
        invitation_url: form.get("invitation_url").map(|u| text_of(Some(u))),
        code_verifier: None,
    };
    let result = clients::update(&state, &p, id, changes, false).await;
    ctx.outcome(result, &format!("/portal/clients/{id}/"), "Client saved.")
        .await
}

#[handler]
async fn source_edit(
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
    let changes = data_sources::DataSourceChanges {
        name: form.get("name").cloned(),
        source_type: form.get("type").cloned(),
    };
    let result = data_sources::update(&state, &p, id, changes, false).await;
    ctx.outcome(result, "/portal/data-sources/", "Data source saved.")
        .await
}

#[handler]
async fn setting_edit(
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
    let input = jhe_settings::SettingInput {
        key: None,
        setting_id: None,
        value_type: form.get("type").cloned(),
        value: form.get("value").map(|v| Value::String(v.clone())),
    };
    let result = jhe_settings::update(&state, &p, id, input, false).await;
    ctx.outcome(result, "/portal/settings/", "Setting saved.")
        .await
}

#[handler]
async fn practitioner_edit(
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
    let changes = users::PractitionerChanges {
        identifier: form.get("identifier").cloned(),
        name_family: form.get("name_family").cloned(),
        name_given: form.get("name_given").cloned(),
        telecom_phone: form.get("telecom_phone").cloned(),
    };
    let result = users::update_practitioner(&state, &p, id, changes).await;
    ctx.outcome(result, "/portal/practitioners/", "Practitioner saved.")
        .await
}
