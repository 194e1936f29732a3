//! `/api/v1/data_sources`: devices and apps that produce data, and the scopes they support.
//!
//! Reads are open to every authenticated caller; writes (including supported scopes, which the
//! original leaves open) need `data_source.manage`. `supportedScopes` of a data source is
//! filled in (the original always answers `[]` there) — a compatible improvement.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::input::{IdInput, PathId, id_of};
use crate::domain::{CodeableConcept, DataSource, Id};
use crate::http::auth::BearerAuth;
use crate::http::rest::paging::{Paginated, envelope, page_request};
use crate::http::rest::response::{ApiResult, NoContent};
use crate::server::AppState;
use crate::services::data_sources::{self, DataSourceChanges, DataSourceView, SupportedScopeView};

/// A data type ("scope"), e.g. Open mHealth heart rate.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "CodeableConcept", rename_all = "camelCase")]
pub struct CodeableConceptJson {
    /// Id.
    pub id: Id,
    /// Coding system, e.g. `https://w3id.org/openmhealth`.
    pub coding_system: String,
    /// Code, e.g. `omh:heart-rate:2.0`.
    pub coding_code: String,
    /// Label.
    pub text: String,
}

impl From<CodeableConcept> for CodeableConceptJson {
    fn from(c: CodeableConcept) -> Self {
        CodeableConceptJson {
            id: c.id,
            coding_system: c.coding_system,
            coding_code: c.coding_code,
            text: c.text,
        }
    }
}

/// A data source with the scopes it supports.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "DataSource", rename_all = "camelCase")]
pub struct DataSourceJson {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: Option<String>,
    /// `personal_device` or `medical_device`.
    #[oai(rename = "type")]
    pub source_type: String,
    /// The scopes the data source supports, in the order they were added.
    pub supported_scopes: Vec<CodeableConceptJson>,
}

impl From<DataSourceView> for DataSourceJson {
    fn from(v: DataSourceView) -> Self {
        DataSourceJson {
            id: v.data_source.id,
            name: v.data_source.name,
            source_type: v.data_source.source_type,
            supported_scopes: v.supported_scopes.into_iter().map(Into::into).collect(),
        }
    }
}

/// A data source nested in a link (no scopes).
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "DataSourceSummary", rename_all = "camelCase")]
pub struct DataSourceSummaryJson {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: Option<String>,
    /// Type key.
    #[oai(rename = "type")]
    pub source_type: String,
}

impl From<DataSource> for DataSourceSummaryJson {
    fn from(d: DataSource) -> Self {
        DataSourceSummaryJson {
            id: d.id,
            name: d.name,
            source_type: d.source_type,
        }
    }
}

/// A supported-scope link.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "DataSourceSupportedScope", rename_all = "camelCase")]
pub struct SupportedScopeJson {
    /// Link id.
    pub id: Id,
    /// The data source.
    pub data_source: DataSourceSummaryJson,
    /// The scope.
    pub scope_code: CodeableConceptJson,
}

impl From<SupportedScopeView> for SupportedScopeJson {
    fn from(v: SupportedScopeView) -> Self {
        SupportedScopeJson {
            id: v.id,
            data_source: v.data_source.into(),
            scope_code: v.scope_code.into(),
        }
    }
}

/// Fields of a data source to create or change.
#[derive(Debug, Object)]
#[oai(rename = "DataSourceInput", rename_all = "camelCase")]
pub struct DataSourceIn {
    /// Name (required on create and PUT; may not be blank).
    pub name: Option<String>,
    /// `personal_device` (default) or `medical_device`.
    #[oai(rename = "type")]
    pub source_type: Option<String>,
}

impl From<DataSourceIn> for DataSourceChanges {
    fn from(b: DataSourceIn) -> Self {
        DataSourceChanges {
            name: b.name,
            source_type: b.source_type,
        }
    }
}

/// Which scope to add or remove.
#[derive(Debug, Object)]
#[oai(rename = "SupportedScopeInput", rename_all = "camelCase")]
pub struct SupportedScopeIn {
    /// The codeable concept's id (required).
    pub scope_code_id: Option<IdInput>,
}

/// An empty JSON object (`{}`), the answer of link removals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Object)]
#[oai(rename = "Empty")]
pub struct EmptyJson {}

#[derive(ApiResponse)]
enum CreatedDataSource {
    /// Created.
    #[oai(status = 201)]
    Created(Json<DataSourceJson>),
}

/// Data sources.
pub struct DataSourcesApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::DataSources")]
impl DataSourcesApi {
    /// All data sources, ordered by name (any authenticated caller).
    #[oai(path = "/data_sources", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        /// 1-based page number.
        page: Query<Option<String>>,
        /// Rows per page (default 20, at most 1000).
        #[oai(name = "pageSize")]
        page_size: Query<Option<String>>,
    ) -> ApiResult<Json<Paginated<DataSourceJson>>> {
        let page = page_request(page.as_deref(), page_size.as_deref(), None)?;
        let found = data_sources::list(&self.state, &auth.0, page).await?;
        Ok(Json(envelope(
            req,
            &self.state.config,
            found,
            DataSourceJson::from,
        )?))
    }

    /// Creates a data source (`data_source.manage`): `name` required, `type` defaults to
    /// `personal_device`.
    #[oai(path = "/data_sources", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        body: Json<DataSourceIn>,
    ) -> ApiResult<CreatedDataSource> {
        let view = data_sources::create(&self.state, &auth.0, body.0.into()).await?;
        Ok(CreatedDataSource::Created(Json(view.into())))
    }

    /// Every codeable concept ("scope"), ordered by text (any authenticated caller).
    #[oai(path = "/data_sources/all_scopes", method = "get")]
    async fn all_scopes(&self, auth: BearerAuth) -> ApiResult<Json<Vec<CodeableConceptJson>>> {
        let all = data_sources::all_scopes(&self.state, &auth.0).await?;
        Ok(Json(all.into_iter().map(Into::into).collect()))
    }

    /// One data source (any authenticated caller).
    #[oai(path = "/data_sources/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<PathId>) -> ApiResult<Json<DataSourceJson>> {
        Ok(Json(
            data_sources::get(&self.state, &auth.0, id.0.get()?)
                .await?
                .into(),
        ))
    }

    /// Replaces name and type (`data_source.manage`; `name` required).
    #[oai(path = "/data_sources/:id", method = "put")]
    async fn put(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<DataSourceIn>,
    ) -> ApiResult<Json<DataSourceJson>> {
        let view =
            data_sources::update(&self.state, &auth.0, id.0.get()?, body.0.into(), true).await?;
        Ok(Json(view.into()))
    }

    /// Changes name and/or type (`data_source.manage`).
    #[oai(path = "/data_sources/:id", method = "patch")]
    async fn patch(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<DataSourceIn>,
    ) -> ApiResult<Json<DataSourceJson>> {
        let view =
            data_sources::update(&self.state, &auth.0, id.0.get()?, body.0.into(), false).await?;
        Ok(Json(view.into()))
    }

    /// Deletes a data source (`data_source.manage`); observations keep their data.
    #[oai(path = "/data_sources/:id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, id: Path<PathId>) -> ApiResult<NoContent> {
        data_sources::delete(&self.state, &auth.0, id.0.get()?).await?;
        Ok(NoContent::NoContent)
    }

    /// The supported-scope links of a data source, ordered by id (any authenticated caller).
    #[oai(path = "/data_sources/:id/supported_scopes", method = "get")]
    async fn supported_scopes(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
    ) -> ApiResult<Json<Vec<SupportedScopeJson>>> {
        let links = data_sources::supported_scopes(&self.state, &auth.0, id.0.get()?).await?;
        Ok(Json(links.into_iter().map(Into::into).collect()))
    }

    /// Adds a supported scope (`data_source.manage`; idempotent).
    #[oai(path = "/data_sources/:id/supported_scopes", method = "post")]
    async fn add_supported_scope(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<SupportedScopeIn>,
    ) -> ApiResult<Json<SupportedScopeJson>> {
        let link = data_sources::add_supported_scope(
            &self.state,
            &auth.0,
            id.0.get()?,
            id_of(body.0.scope_code_id),
        )
        .await?;
        Ok(Json(link.into()))
    }

    /// Removes a supported scope (`data_source.manage`); answers `{}`.
    #[oai(path = "/data_sources/:id/supported_scopes", method = "delete")]
    async fn remove_supported_scope(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<SupportedScopeIn>,
    ) -> ApiResult<Json<EmptyJson>> {
        data_sources::remove_supported_scope(
            &self.state,
            &auth.0,
            id.0.get()?,
            id_of(body.0.scope_code_id),
        )
        .await?;
        Ok(Json(EmptyJson {}))
    }
}
