//! Organisations: the hierarchy, members and their roles.

use crate::domain::{
    Id, NewOrganization, Organization, Page, PageRequest, ROOT_ORGANIZATION_ID, Role, TextRule,
    is_organization_type,
};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::fields::FieldErrors;
use crate::services::guard::require;

/// An organisation as the API shows it, with the caller's role and (for trees) children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrganizationView {
    /// The organisation.
    pub organization: Organization,
    /// `super_user`, the caller's role directly on it, or `None`.
    pub current_user_role: Option<String>,
    /// Children (only filled by [`tree`]).
    pub children: Vec<OrganizationView>,
}

/// A practitioner member of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// User id.
    pub user_id: Id,
    /// E-mail.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Role string.
    pub role: String,
}

/// The caller's role on an organisation for display: `super_user` for superusers, else the role
/// of a direct membership.
pub async fn role_of(
    state: &AppState,
    principal: &Principal,
    organization_id: Id,
) -> CoreResult<Option<String>> {
    if principal.is_superuser() {
        return Ok(Some("super_user".into()));
    }
    let Some(practitioner) = &principal.practitioner else {
        return Ok(None);
    };
    Ok(state
        .store
        .list_practitioner_organizations(practitioner.id)
        .await?
        .into_iter()
        .find(|l| l.organization_id == organization_id)
        .map(|l| l.role))
}

async fn view(
    state: &AppState,
    principal: &Principal,
    organization: Organization,
) -> CoreResult<OrganizationView> {
    Ok(OrganizationView {
        current_user_role: role_of(state, principal, organization.id).await?,
        organization,
        children: Vec::new(),
    })
}

/// Fetches an organisation or `404`.
pub async fn get_or_404(state: &AppState, id: Id) -> CoreResult<Organization> {
    state
        .store
        .get_organization(id)
        .await?
        .ok_or_else(|| CoreError::NotFound("No Organization matches the given query.".into()))
}

/// Every organisation (visible to every authenticated caller), optionally the children of one.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    part_of: Option<Id>,
    page: PageRequest,
) -> CoreResult<Page<OrganizationView>> {
    let found = state.store.list_organizations(part_of, page).await?;
    // The caller's roles in one query (no query per row).
    let roles: std::collections::HashMap<Id, String> = match &principal.practitioner {
        Some(practitioner) if !principal.is_superuser() => state
            .store
            .list_practitioner_organizations(practitioner.id)
            .await?
            .into_iter()
            .map(|l| (l.organization_id, l.role))
            .collect(),
        _ => std::collections::HashMap::new(),
    };
    let items = found
        .items
        .into_iter()
        .map(|organization| OrganizationView {
            current_user_role: if principal.is_superuser() {
                Some("super_user".into())
            } else {
                roles.get(&organization.id).cloned()
            },
            organization,
            children: Vec::new(),
        })
        .collect();
    Ok(Page {
        items,
        total: found.total,
        request: found.request,
    })
}

/// One organisation.
pub async fn get(state: &AppState, principal: &Principal, id: Id) -> CoreResult<OrganizationView> {
    let org = get_or_404(state, id).await?;
    view(state, principal, org).await
}

fn check_fields(name: Option<&str>, org_type: Option<&str>, required: bool) -> CoreResult<()> {
    let mut errors = FieldErrors::new();
    errors.text("name", name, TextRule::NAME, required);
    match org_type {
        Some(t) if !is_organization_type(t) || t == "root" => {
            errors.add("type", format!("\"{t}\" is not a valid choice."));
        }
        None if required => errors.add("type", "This field is required."),
        _ => {}
    }
    errors.into_result()
}

/// Creates an organisation. Top-level ones (no parent, or ROOT) need a superuser; children need
/// `organization.manage_for_practitioners` on the parent. The creator of a child becomes its
/// manager.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    name: Option<&str>,
    org_type: Option<&str>,
    part_of: Option<Id>,
) -> CoreResult<OrganizationView> {
    // Permission first (as the original): an unknown parent is a refusal, not a validation error.
    match part_of {
        None | Some(ROOT_ORGANIZATION_ID) => {
            require(state, principal, Action::CreateTopLevelOrganization).await?
        }
        Some(parent) => {
            if state.store.get_organization(parent).await?.is_none() {
                return Err(CoreError::Forbidden(
                    "You do not have permission to perform this action.".into(),
                ));
            }
            require(
                state,
                principal,
                Action::CreateOrganization { parent_id: parent },
            )
            .await?;
        }
    }
    check_fields(name, org_type, true)?;
    let org = state
        .store
        .create_organization(NewOrganization {
            id: None,
            name: name.unwrap_or_default().trim().to_string(),
            org_type: org_type.unwrap_or_default().to_string(),
            part_of,
        })
        .await?;
    if let (Some(practitioner), Some(parent)) = (&principal.practitioner, part_of)
        && parent != ROOT_ORGANIZATION_ID
    {
        state
            .store
            .upsert_practitioner_organization(practitioner.id, org.id, Role::Manager.as_str())
            .await?;
    }
    view(state, principal, org).await
}

/// Changes name, type and (optionally) parent.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: Id,
    name: Option<&str>,
    org_type: Option<&str>,
    part_of: Option<Option<Id>>,
    full: bool,
) -> CoreResult<OrganizationView> {
    let mut org = get_or_404(state, id).await?;
    require(
        state,
        principal,
        Action::ManageOrganization {
            organization_id: id,
        },
    )
    .await?;
    check_fields(name, org_type, full)?;
    if let Some(name) = name {
        org.name = name.trim().to_string();
    }
    if let Some(t) = org_type {
        org.org_type = t.to_string();
    }
    if let Some(parent) = part_of {
        if parent == Some(org.id) {
            return Err(CoreError::field(
                "partOf",
                "An organization cannot be its own parent.",
            ));
        }
        if let Some(p) = parent {
            // Walk up from the new parent: meeting this organisation would make a cycle.
            let mut ancestor = Some(p);
            let mut steps = 0;
            while let Some(current) = ancestor {
                let Some(found) = state.store.get_organization(current).await? else {
                    return Err(CoreError::field(
                        "partOf",
                        format!("Invalid pk \"{current}\" - object does not exist."),
                    ));
                };
                if found.id == org.id {
                    return Err(CoreError::field(
                        "partOf",
                        "An organization cannot be placed under one of its descendants.",
                    ));
                }
                steps += 1;
                ancestor = if steps > 256 { None } else { found.part_of };
            }
        }
        org.part_of = parent;
    }
    let org = state.store.update_organization(&org).await?;
    view(state, principal, org).await
}

/// Deletes an organisation with its studies and memberships; refused while it has children.
pub async fn delete(state: &AppState, principal: &Principal, id: Id) -> CoreResult<()> {
    get_or_404(state, id).await?;
    require(
        state,
        principal,
        Action::ManageOrganization {
            organization_id: id,
        },
    )
    .await?;
    match state.store.delete_organization(id).await {
        Ok(_) => Ok(()),
        Err(crate::store::StoreError::Constraint(_)) => Err(CoreError::Conflict(
            "This organization has child organizations; delete or move them first.".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The organisation with its descendants, each level ordered by name.
pub async fn tree(state: &AppState, principal: &Principal, id: Id) -> CoreResult<OrganizationView> {
    let root = get_or_404(state, id).await?;
    let mut node = view(state, principal, root).await?;
    fill_children(state, principal, &mut node, 0).await?;
    Ok(node)
}

fn fill_children<'a>(
    state: &'a AppState,
    principal: &'a Principal,
    node: &'a mut OrganizationView,
    depth: usize,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = CoreResult<()>> + Send + 'a>> {
    Box::pin(async move {
        if depth > 64 {
            return Ok(());
        }
        let children = state
            .store
            .list_organizations(Some(node.organization.id), PageRequest::all())
            .await?;
        for child in children.items {
            if child.id == node.organization.id {
                continue;
            }
            let mut child_view = view(state, principal, child).await?;
            fill_children(state, principal, &mut child_view, depth + 1).await?;
            node.children.push(child_view);
        }
        Ok(())
    })
}

/// Practitioners linked to an organisation, ordered by last name.
pub async fn members(state: &AppState, id: Id) -> CoreResult<Vec<Member>> {
    get_or_404(state, id).await?;
    let mut out = Vec::new();
    for link in state.store.list_organization_practitioners(id).await? {
        let Some(practitioner) = state.store.get_practitioner(link.practitioner_id).await? else {
            continue;
        };
        let Some(user) = state.store.get_user(practitioner.jhe_user_id).await? else {
            continue;
        };
        out.push(Member {
            user_id: user.id,
            email: user.email,
            first_name: user.first_name,
            last_name: user.last_name,
            role: link.role,
        });
    }
    out.sort_by(|a, b| {
        a.last_name
            .cmp(&b.last_name)
            .then(a.user_id.cmp(&b.user_id))
    });
    Ok(out)
}

/// Who is being added to or removed from an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberKind {
    /// A practitioner (with a role).
    Practitioner,
    /// A patient (the user's patient record).
    Patient,
}

/// Adds a practitioner (with a role; an existing membership gets the new role) or a patient.
pub async fn add_member(
    state: &AppState,
    principal: &Principal,
    id: Id,
    user_id: Option<Id>,
    role: Option<&str>,
    kind: MemberKind,
) -> CoreResult<crate::domain::PractitionerOrganization> {
    get_or_404(state, id).await?;
    require(
        state,
        principal,
        Action::ManageOrganization {
            organization_id: id,
        },
    )
    .await?;
    let user_id =
        user_id.ok_or_else(|| CoreError::field("jheUserId", "This field is required."))?;
    let user = state
        .store
        .get_user(user_id)
        .await?
        .ok_or_else(|| CoreError::NotFound("No JheUser matches the given query.".into()))?;
    match kind {
        MemberKind::Practitioner => {
            let role = role.map(str::trim).unwrap_or("member");
            if Role::parse(role).is_none() {
                return Err(CoreError::field(
                    "organizationPartitionerRole",
                    format!("\"{role}\" is not a valid choice."),
                ));
            }
            let practitioner = state
                .store
                .get_practitioner_by_user(user.id)
                .await?
                .ok_or_else(|| CoreError::NotFound("Practitioner not found".into()))?;
            Ok(state
                .store
                .upsert_practitioner_organization(practitioner.id, id, role)
                .await?)
        }
        MemberKind::Patient => {
            // Only a patient the caller can already see (through another organisation); pulling
            // anyone else in goes through global_lookup/global_add_organization.
            let patient = match state.store.get_patient_by_user(user.id).await? {
                Some(p) => crate::services::patients::read(state, principal, p.id).await?,
                None => None,
            }
            .ok_or_else(|| CoreError::NotFound("Patient not found".into()))?;
            state.store.add_patient_organization(patient.id, id).await?;
            Ok(crate::domain::PractitionerOrganization {
                id: 0,
                practitioner_id: 0,
                organization_id: id,
                role: String::new(),
            })
        }
    }
}

/// Removes a practitioner or patient from an organisation.
pub async fn remove_member(
    state: &AppState,
    principal: &Principal,
    id: Id,
    user_id: Option<Id>,
    kind: MemberKind,
) -> CoreResult<()> {
    get_or_404(state, id).await?;
    require(
        state,
        principal,
        Action::ManageOrganization {
            organization_id: id,
        },
    )
    .await?;
    let user_id =
        user_id.ok_or_else(|| CoreError::field("jheUserId", "This field is required."))?;
    match kind {
        MemberKind::Practitioner => {
            if let Some(p) = state.store.get_practitioner_by_user(user_id).await? {
                state
                    .store
                    .delete_practitioner_organization(p.id, id)
                    .await?;
            }
        }
        MemberKind::Patient => {
            if let Some(p) = state.store.get_patient_by_user(user_id).await? {
                state.store.remove_patient_organization(p.id, id).await?;
            }
        }
    }
    Ok(())
}
