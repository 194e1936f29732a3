//! `/api/v1/practitioners` (superusers only, every method).
//!
//! `POST` creates the practitioner (and its account when the e-mail is new) and links it to the
//! organisation as `member` — the original's intended behaviour; its own endpoint fails with 500
//! on valid input.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::input::{IdInput, PathId, id_of, reject_nul};
use super::shapes::OrganizationJson;
use crate::domain::Id;
use crate::http::auth::BearerAuth;
use crate::http::rest::paging::{Paginated, envelope, page_request};
use crate::http::rest::response::{ApiResult, NoContent};
use crate::server::AppState;
use crate::services::users::{self, PractitionerChanges, PractitionerView};

/// Page size of the practitioner list (fixed, as the original; `pageSize` is ignored).
pub const PRACTITIONERS_PAGE_SIZE: u64 = 1000;

/// A practitioner.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "Practitioner", rename_all = "camelCase")]
pub struct PractitionerJson {
    /// Id.
    pub id: Id,
    /// The practitioner's account.
    pub jhe_user_id: Id,
    /// External identifier (`""` when none).
    pub identifier: String,
    /// Family name.
    pub name_family: Option<String>,
    /// Given name.
    pub name_given: Option<String>,
    /// Phone.
    pub telecom_phone: Option<String>,
    /// The account's e-mail.
    pub telecom_email: String,
    /// Organisations the practitioner is directly linked to (`currentUserRole` null).
    pub organizations: Vec<OrganizationJson>,
}

impl From<PractitionerView> for PractitionerJson {
    fn from(v: PractitionerView) -> Self {
        let p = v.practitioner;
        PractitionerJson {
            id: p.id,
            jhe_user_id: p.jhe_user_id,
            identifier: p.identifier.unwrap_or_default(),
            name_family: p.name_family,
            name_given: p.name_given,
            telecom_phone: p.telecom_phone,
            telecom_email: v.email,
            organizations: v
                .organizations
                .iter()
                .map(OrganizationJson::nested)
                .collect(),
        }
    }
}

/// Fields of a practitioner. Unknown fields (e.g. `birthDate`) are ignored.
#[derive(Debug, Object)]
#[oai(rename = "PractitionerInput", rename_all = "camelCase")]
pub struct PractitionerIn {
    /// Organisation to link a new practitioner to, as `member` (create only).
    pub organization_id: Option<IdInput>,
    /// E-mail of the practitioner's account (create only; an existing account is reused).
    pub telecom_email: Option<String>,
    /// External identifier.
    pub identifier: Option<String>,
    /// Family name (required on create).
    pub name_family: Option<String>,
    /// Given name (required on create).
    pub name_given: Option<String>,
    /// Phone.
    pub telecom_phone: Option<String>,
}

impl PractitionerIn {
    fn checked(&self) -> Result<(), crate::error::CoreError> {
        reject_nul([
            ("telecomEmail", self.telecom_email.as_deref()),
            ("identifier", self.identifier.as_deref()),
            ("nameFamily", self.name_family.as_deref()),
            ("nameGiven", self.name_given.as_deref()),
            ("telecomPhone", self.telecom_phone.as_deref()),
        ])
    }

    fn changes(self) -> PractitionerChanges {
        PractitionerChanges {
            identifier: self.identifier,
            name_family: self.name_family,
            name_given: self.name_given,
            telecom_phone: self.telecom_phone,
        }
    }
}

/// Practitioners.
pub struct PractitionersApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Practitioners")]
impl PractitionersApi {
    /// Practitioners ordered by id, 1000 per page (superusers only).
    #[oai(path = "/practitioners", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        /// 1-based page number.
        page: Query<Option<String>>,
    ) -> ApiResult<Json<Paginated<PractitionerJson>>> {
        let page = page_request(page.as_deref(), None, Some(PRACTITIONERS_PAGE_SIZE))?;
        let found = users::list_practitioners(&self.state, &auth.0, page).await?;
        Ok(Json(envelope(
            req,
            &self.state.config,
            found,
            PractitionerJson::from,
        )?))
    }

    /// Creates a practitioner (and its account, when the e-mail is new) linked to
    /// `organizationId` as `member` (superusers only). Answers 200.
    #[oai(path = "/practitioners", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        body: Json<PractitionerIn>,
    ) -> ApiResult<Json<PractitionerJson>> {
        body.checked()?;
        let body = body.0;
        let organization_id = id_of(body.organization_id);
        let email = body.telecom_email.clone();
        let view = users::create_practitioner(
            &self.state,
            &auth.0,
            organization_id,
            email.as_deref(),
            body.changes(),
        )
        .await?;
        Ok(Json(view.into()))
    }

    /// One practitioner (superusers only).
    #[oai(path = "/practitioners/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<PathId>) -> ApiResult<Json<PractitionerJson>> {
        Ok(Json(
            users::get_practitioner(&self.state, &auth.0, id.0.get()?)
                .await?
                .into(),
        ))
    }

    /// Changes identifier, names and phone (superusers only). The portal's `?organizationId=`
    /// is ignored.
    #[oai(path = "/practitioners/:id", method = "put")]
    async fn put(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<PractitionerIn>,
    ) -> ApiResult<Json<PractitionerJson>> {
        self.update(auth, id.0.get()?, body.0).await
    }

    /// Changes identifier, names and phone (superusers only); as PUT.
    #[oai(path = "/practitioners/:id", method = "patch")]
    async fn patch(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<PractitionerIn>,
    ) -> ApiResult<Json<PractitionerJson>> {
        self.update(auth, id.0.get()?, body.0).await
    }

    /// Deletes the practitioner profile and its organisation links; the account stays
    /// (superusers only).
    #[oai(path = "/practitioners/:id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, id: Path<PathId>) -> ApiResult<NoContent> {
        users::delete_practitioner(&self.state, &auth.0, id.0.get()?).await?;
        Ok(NoContent::NoContent)
    }
}

impl PractitionersApi {
    async fn update(
        &self,
        auth: BearerAuth,
        id: Id,
        body: PractitionerIn,
    ) -> ApiResult<Json<PractitionerJson>> {
        body.checked()?;
        let view = users::update_practitioner(&self.state, &auth.0, id, body.changes()).await?;
        Ok(Json(view.into()))
    }
}
