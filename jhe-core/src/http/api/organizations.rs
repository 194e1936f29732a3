//! `/api/v1/organizations`.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::domain::{Id, ORGANIZATION_TYPES};
use crate::http::auth::BearerAuth;
use crate::http::rest::paging::{Paginated, envelope, page_request};
use crate::http::rest::response::{ApiResult, NoContent};
use crate::server::AppState;
use crate::services::organizations::{self, MemberKind, OrganizationView};

use super::ApiTags;
use super::shapes::OrganizationJson;

fn organization_json(v: OrganizationView) -> OrganizationJson {
    OrganizationJson {
        id: v.organization.id,
        name: v.organization.name,
        org_type: v.organization.org_type,
        part_of: v.organization.part_of,
        current_user_role: v.current_user_role,
        children: v.children.into_iter().map(organization_json).collect(),
    }
}

/// Fields of an organisation to create or change.
#[derive(Debug, Object)]
#[oai(rename = "OrganizationInput", rename_all = "camelCase")]
pub struct OrganizationIn {
    /// Name (required on create and PUT).
    pub name: Option<String>,
    /// Type key (required on create and PUT).
    #[oai(rename = "type")]
    pub org_type: Option<String>,
    /// Parent id; `0` makes a top-level organisation.
    pub part_of: MaybeUndefined<Id>,
}

/// A practitioner member.
#[derive(Debug, Object)]
#[oai(rename = "OrganizationMember", rename_all = "camelCase")]
pub struct MemberOut {
    /// User id.
    pub id: Id,
    /// E-mail.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// Role.
    pub role: String,
}

/// Who to add to or remove from an organisation.
#[derive(Debug, Object)]
#[oai(rename = "OrganizationUserInput", rename_all = "camelCase")]
pub struct MemberIn {
    /// The user's id.
    pub jhe_user_id: Option<Id>,
    /// `manager`, `member` (default) or `viewer` (practitioners only).
    pub organization_partitioner_role: Option<String>,
    /// `practitioner` (default) or `patient`.
    pub user_type: Option<String>,
}

/// The membership created.
#[derive(Debug, Object)]
#[oai(rename = "OrganizationMembership", rename_all = "camelCase")]
pub struct MembershipOut {
    /// Link id (0 for patients).
    pub id: Id,
    /// The organisation.
    pub organization: OrganizationJson,
    /// The user.
    pub jhe_user_id: Id,
    /// Role (empty for patients).
    pub role: String,
}

#[derive(ApiResponse)]
enum CreatedOrganization {
    /// Created.
    #[oai(status = 201)]
    Created(Json<OrganizationJson>),
}

fn kind(user_type: Option<&str>) -> MemberKind {
    match user_type {
        Some("patient") => MemberKind::Patient,
        _ => MemberKind::Practitioner,
    }
}

/// Organisations, their hierarchy and members.
pub struct OrganizationsApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Organizations")]
impl OrganizationsApi {
    /// All organisations (every authenticated caller sees all), ordered by name; `partOf=0`
    /// lists the top-level ones.
    #[oai(path = "/organizations", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        #[oai(name = "partOf")] part_of: Query<Option<Id>>,
        page: Query<Option<String>>,
        #[oai(name = "pageSize")] page_size: Query<Option<String>>,
    ) -> ApiResult<Json<Paginated<OrganizationJson>>> {
        let page = page_request(page.as_deref(), page_size.as_deref(), None)?;
        let found = organizations::list(&self.state, &auth.0, part_of.0, page).await?;
        Ok(Json(envelope(
            req,
            &self.state.config,
            found,
            organization_json,
        )?))
    }

    /// Creates an organisation: top-level ones (no `partOf`, or `0`) need a superuser; children
    /// need `organization.manage_for_practitioners` on the parent. The creator becomes manager
    /// of a child organisation.
    #[oai(path = "/organizations", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        body: Json<OrganizationIn>,
    ) -> ApiResult<CreatedOrganization> {
        let part_of = match &body.part_of {
            MaybeUndefined::Value(v) => Some(*v),
            _ => None,
        };
        let view = organizations::create(
            &self.state,
            &auth.0,
            body.name.as_deref(),
            body.org_type.as_deref(),
            part_of,
        )
        .await?;
        Ok(CreatedOrganization::Created(Json(organization_json(view))))
    }

    /// The organisation types (key → label), in their declared order.
    #[oai(path = "/organizations/types", method = "get")]
    async fn types(&self, _auth: BearerAuth) -> ApiResult<Json<serde_json::Value>> {
        let map: serde_json::Map<String, serde_json::Value> = ORGANIZATION_TYPES
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).into()))
            .collect();
        Ok(Json(serde_json::Value::Object(map)))
    }

    /// One organisation.
    #[oai(path = "/organizations/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<Json<OrganizationJson>> {
        Ok(Json(organization_json(
            organizations::get(&self.state, &auth.0, id.0).await?,
        )))
    }

    /// Replaces name and type (and parent when given). Needs
    /// `organization.manage_for_practitioners` on the parent (or on the organisation itself when
    /// it is top-level).
    #[oai(path = "/organizations/:id", method = "put")]
    async fn put(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<OrganizationIn>,
    ) -> ApiResult<Json<OrganizationJson>> {
        self.update(auth, id.0, body.0, true).await
    }

    /// Changes some fields (as PUT).
    #[oai(path = "/organizations/:id", method = "patch")]
    async fn patch(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<OrganizationIn>,
    ) -> ApiResult<Json<OrganizationJson>> {
        self.update(auth, id.0, body.0, false).await
    }

    /// Deletes an organisation with its studies and memberships (refused, 409, while it has
    /// child organisations).
    #[oai(path = "/organizations/:id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<NoContent> {
        organizations::delete(&self.state, &auth.0, id.0).await?;
        Ok(NoContent::NoContent)
    }

    /// The organisation with its descendants.
    #[oai(path = "/organizations/:id/tree", method = "get")]
    async fn tree(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<Json<OrganizationJson>> {
        Ok(Json(organization_json(
            organizations::tree(&self.state, &auth.0, id.0).await?,
        )))
    }

    /// Practitioners of the organisation with their roles, ordered by last name.
    #[oai(path = "/organizations/:id/users", method = "get")]
    async fn users(&self, _auth: BearerAuth, id: Path<Id>) -> ApiResult<Json<Vec<MemberOut>>> {
        let members = organizations::members(&self.state, id.0).await?;
        Ok(Json(
            members
                .into_iter()
                .map(|m| MemberOut {
                    id: m.user_id,
                    email: m.email,
                    first_name: m.first_name,
                    last_name: m.last_name,
                    role: m.role,
                })
                .collect(),
        ))
    }

    /// Adds a practitioner with a role (an existing member gets the new role) or a patient.
    #[oai(path = "/organizations/:id/user", method = "post")]
    async fn add_user(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<MemberIn>,
    ) -> ApiResult<Json<MembershipOut>> {
        let kind = kind(body.user_type.as_deref());
        let user_id = body.jhe_user_id;
        let link = organizations::add_member(
            &self.state,
            &auth.0,
            id.0,
            user_id,
            body.organization_partitioner_role.as_deref(),
            kind,
        )
        .await?;
        let organization =
            OrganizationJson::nested(&organizations::get_or_404(&self.state, id.0).await?);
        Ok(Json(MembershipOut {
            id: link.id,
            organization,
            jhe_user_id: user_id.unwrap_or_default(),
            role: link.role,
        }))
    }

    /// Removes a practitioner or patient from the organisation.
    #[oai(path = "/organizations/:id/remove_user", method = "delete")]
    async fn remove_user(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<MemberIn>,
    ) -> ApiResult<NoContent> {
        organizations::remove_member(
            &self.state,
            &auth.0,
            id.0,
            body.jhe_user_id,
            kind(body.user_type.as_deref()),
        )
        .await?;
        Ok(NoContent::NoContent)
    }
}

impl OrganizationsApi {
    async fn update(
        &self,
        auth: BearerAuth,
        id: Id,
        body: OrganizationIn,
        full: bool,
    ) -> ApiResult<Json<OrganizationJson>> {
        let part_of = match body.part_of {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(v) => Some(Some(v)),
        };
        let view = organizations::update(
            &self.state,
            &auth.0,
            id,
            body.name.as_deref(),
            body.org_type.as_deref(),
            part_of,
            full,
        )
        .await?;
        Ok(Json(organization_json(view)))
    }
}
