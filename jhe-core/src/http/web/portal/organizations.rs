//! Organisations: top-level selector, the tree, one organisation with its members and studies,
//! and the forms that change them.

use std::sync::Arc;

use poem::web::{Data, Path, Query};
use poem::{Body, Request, Response, Route, get, handler, post};
use serde_json::json;

use super::{Ctx, ctx, id_of, post_ctx, text_of, view};
use crate::domain::{Id, ROOT_ORGANIZATION_ID, Role};
use crate::policy::Action;
use crate::server::AppState;
use crate::services::guard::allowed;
use crate::services::organizations::{self, MemberKind};

pub(super) fn mount(route: Route) -> Route {
    route
        .at("/portal/organizations/", get(index).post(create))
        .at("/portal/organizations/:id/", get(detail))
        .at("/portal/organizations/:id/edit", post(edit))
        .at("/portal/organizations/:id/delete", post(delete))
        .at("/portal/organizations/:id/members", post(add_member))
        .at(
            "/portal/organizations/:id/members/:user/remove",
            post(remove_member),
        )
}

#[derive(serde::Deserialize)]
struct IndexQuery {
    tlo: Option<String>,
}

/// The top-level ancestor of an organisation (itself when top-level).
async fn top_level_of(state: &AppState, mut id: Id) -> Option<Id> {
    for _ in 0..64 {
        let org = state.store.get_organization(id).await.ok()??;
        match org.part_of {
            None | Some(ROOT_ORGANIZATION_ID) => return Some(org.id),
            Some(parent) => id = parent,
        }
    }
    None
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
    let tops = match super::all_pages(|page| {
        organizations::list(&state, &p, Some(ROOT_ORGANIZATION_ID), page)
    })
    .await
    {
        Ok(found) => found,
        Err(e) => return ctx.failed(e).await,
    };
    let mine = crate::services::users::my_organizations(&state, &p)
        .await
        .unwrap_or_default();
    let mut selected = q.tlo.as_deref().and_then(|t| t.parse::<Id>().ok());
    if selected.is_none()
        && let Some(first) = mine.first()
    {
        selected = top_level_of(&state, first.id).await;
    }
    if selected.is_none() {
        selected = tops.first().map(|t| t.organization.id);
    }
    let tree = match selected {
        Some(id) => match organizations::tree(&state, &p, id).await {
            Ok(t) => Some(view::tree(&t)),
            Err(e) => return ctx.failed(e).await,
        },
        None => None,
    };
    let can_create_top = allowed(&state, &p, Action::CreateTopLevelOrganization)
        .await
        .unwrap_or(false);
    ctx.render(
        "portal/organizations.html",
        json!({
            "active": "organizations",
            "tops": tops.iter().map(|t| view::organization(&t.organization)).collect::<Vec<_>>(),
            "selected": selected,
            "tree": tree,
            "mine": mine.iter().map(view::organization).collect::<Vec<_>>(),
            "can_create_top": can_create_top,
            "types": view::type_choices(),
        }),
    )
    .await
}

#[handler]
async fn create(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let part_of = id_of(form.get("part_of")).filter(|p| *p != ROOT_ORGANIZATION_ID);
    let p = ctx.principal.clone();
    let result = organizations::create(
        &state,
        &p,
        form.get("name").map(String::as_str),
        form.get("type").map(String::as_str),
        part_of.or(Some(ROOT_ORGANIZATION_ID)),
    )
    .await;
    match result {
        Ok(created) => {
            let location = format!("/portal/organizations/{}/", created.organization.id);
            ctx.flash_redirect(
                &location,
                "success",
                &format!("Organization \"{}\" created.", created.organization.name),
            )
            .await
        }
        Err(e) => {
            let back = match part_of {
                Some(parent) => format!("/portal/organizations/{parent}/"),
                None => "/portal/organizations/".into(),
            };
            ctx.outcome(Err::<(), _>(e), &back, "").await
        }
    }
}

async fn detail_page(ctx: &mut Ctx, id: Id) -> Response {
    let state = ctx.state.clone();
    let p = ctx.principal.clone();
    let org = match organizations::get(&state, &p, id).await {
        Ok(o) => o,
        Err(e) => return ctx.failed(e).await,
    };
    let members = match organizations::members(&state, id).await {
        Ok(m) => m,
        Err(e) => return ctx.failed(e).await,
    };
    let studies = crate::services::studies::of_organization(&state, &p, id)
        .await
        .unwrap_or_default();
    let children = super::all_pages(|page| organizations::list(&state, &p, Some(id), page))
        .await
        .unwrap_or_default();
    let parent = match org.organization.part_of {
        Some(parent) if parent != ROOT_ORGANIZATION_ID => {
            state.store.get_organization(parent).await.ok().flatten()
        }
        _ => None,
    };
    let may = |action| {
        let state = state.clone();
        let p = p.clone();
        async move { allowed(&state, &p, action).await.unwrap_or(false) }
    };
    let can_manage = may(Action::ManageOrganization {
        organization_id: id,
    })
    .await;
    let can_create_child = may(Action::CreateOrganization { parent_id: id }).await;
    let can_manage_studies = may(Action::ManageStudies {
        organization_id: id,
    })
    .await;
    let top = top_level_of(&state, id).await;
    ctx.render(
        "portal/organization.html",
        json!({
            "active": "organizations",
            "org": view::organization(&org.organization),
            "role": org.current_user_role,
            "top": top,
            "parent": parent.as_ref().map(view::organization),
            "children": children.iter().map(|c| view::organization(&c.organization)).collect::<Vec<_>>(),
            "members": members.iter().map(|m| json!({
                "user_id": m.user_id, "email": m.email, "first_name": m.first_name,
                "last_name": m.last_name, "role": m.role,
            })).collect::<Vec<_>>(),
            "studies": studies.iter().map(|s| json!({"id": s.id, "name": s.name, "description": s.description})).collect::<Vec<_>>(),
            "can_manage": can_manage,
            "can_create_child": can_create_child,
            "can_manage_studies": can_manage_studies,
            "types": view::type_choices(),
            "roles": [Role::Manager.as_str(), Role::Member.as_str(), Role::Viewer.as_str()],
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
        Ok(id) => detail_page(&mut ctx, id).await,
        Err(_) => {
            ctx.not_found("No Organization matches the given query.")
                .await
        }
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
    let result = organizations::update(
        &state,
        &p,
        id,
        form.get("name").map(String::as_str),
        form.get("type").map(String::as_str),
        None,
        false,
    )
    .await;
    ctx.outcome(
        result,
        &format!("/portal/organizations/{id}/"),
        "Organization saved.",
    )
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
    match organizations::delete(&state, &p, id).await {
        Ok(()) => {
            ctx.flash_redirect("/portal/organizations/", "success", "Organization deleted.")
                .await
        }
        Err(e) => {
            ctx.outcome(Err::<(), _>(e), &format!("/portal/organizations/{id}/"), "")
                .await
        }
    }
}

#[handler]
async fn add_member(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<Id>,
    body: Body,
) -> Response {
    let (mut ctx, form) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let back = format!("/portal/organizations/{id}/");
    let p = ctx.principal.clone();
    let Some(email) = text_of(form.get("email")) else {
        return ctx
            .flash_redirect(&back, "error", "Enter the practitioner's e-mail address.")
            .await;
    };
    let user = match crate::services::users::search_by_email(&state, &p, &email).await {
        Ok(Some(u)) => u.user,
        Ok(None) => {
            return ctx
                .flash_redirect(&back, "error", &format!("No user has the e-mail {email}."))
                .await;
        }
        Err(e) => return ctx.outcome(Err::<(), _>(e), &back, "").await,
    };
    let result = organizations::add_member(
        &state,
        &p,
        id,
        Some(user.id),
        form.get("role").map(String::as_str),
        MemberKind::Practitioner,
    )
    .await;
    let role = form.get("role").cloned().unwrap_or_default();
    ctx.outcome(
        result,
        &back,
        &format!("{email} is now a {role} of this organization."),
    )
    .await
}

#[handler]
async fn remove_member(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path((id, user)): Path<(Id, Id)>,
    body: Body,
) -> Response {
    let (mut ctx, _) = match post_ctx(&state, req, body).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let result =
        organizations::remove_member(&state, &p, id, Some(user), MemberKind::Practitioner).await;
    ctx.outcome(
        result,
        &format!("/portal/organizations/{id}/"),
        "Practitioner removed.",
    )
    .await
}
