//! `/api/v1/clients`: OAuth client applications ("Clients" in the portal).
//!
//! Practitioners and superusers may list and read clients; only callers with `client.manage`
//! (superusers) create, change or delete them, change their data sources, or see their code
//! verifiers (`codeVerifier` is null for everyone else). No client secret is ever returned.
//! The portal's own client (`JHE Admin UI`) is not listed and answers 404.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::data_sources::{DataSourceJson, EmptyJson};
use super::input::{IdInput, PathId, id_of};
use crate::domain::{ClientDataSource, Id};
use crate::http::auth::BearerAuth;
use crate::http::rest::paging::{Paginated, envelope, page_request};
use crate::http::rest::response::{ApiResult, NoContent};
use crate::server::AppState;
use crate::services::clients::{self, ClientChanges, ClientView, NewClient};

/// Page size of the client list (fixed, as the original; `pageSize` is ignored).
pub const CLIENTS_PAGE_SIZE: u64 = 1000;

/// An OAuth client application.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "Client", rename_all = "camelCase")]
pub struct ClientJson {
    /// Numeric id (used by study clients, invitation links and client settings).
    pub id: Id,
    /// Display name.
    pub name: String,
    /// The OAuth `client_id`.
    #[oai(rename = "clientId")]
    pub client_id: String,
    /// The fixed PKCE verifier of the client's invitation links; null when unset, and always
    /// null for callers who may not manage clients.
    pub code_verifier: Option<String>,
    /// The invitation URL template (`CODE` is replaced by the invitation code).
    pub invitation_url: Option<String>,
    /// Always null here (filled only in a patient's consolidated clients).
    pub invitation_link: Option<String>,
}

impl From<ClientView> for ClientJson {
    fn from(v: ClientView) -> Self {
        ClientJson {
            id: v.client.id,
            name: v.client.name,
            client_id: v.client.client_id,
            code_verifier: v.code_verifier,
            invitation_url: v.invitation_url,
            invitation_link: None,
        }
    }
}

/// A client as the portal's form sends it. `clientId` and `codeVerifier` keep their spelling
/// (compatible with JupyterHealth Exchange clients); their snake_case forms are accepted too.
#[derive(Debug, Object)]
#[oai(rename = "ClientInput", rename_all = "camelCase")]
pub struct ClientIn {
    /// Display name (required on create and PUT).
    pub name: Option<String>,
    /// The OAuth `client_id` (required on create).
    #[oai(rename = "clientId")]
    pub client_id: Option<String>,
    /// Same as `clientId`.
    #[oai(rename = "client_id")]
    pub client_id_snake: Option<String>,
    // The `MaybeUndefined` fields carry no `#[oai(default)]`: it would read an explicit null as
    // an absent key, and null means "remove the setting".
    /// Invitation URL template, `CODE` is replaced (required on create; on change `""` or null
    /// removes it). `invitation_url` is accepted too.
    pub invitation_url: MaybeUndefined<String>,
    /// The fixed PKCE verifier of invitation links, 43–128 unreserved characters (required on
    /// create; on change `""` or null removes it).
    #[oai(rename = "codeVerifier")]
    pub code_verifier: MaybeUndefined<String>,
    /// Same as `codeVerifier`.
    #[oai(rename = "code_verifier")]
    pub code_verifier_snake: MaybeUndefined<String>,
}

/// A setting change: absent → `None` (leave it), null → `Some(None)` (remove it), a value →
/// `Some(Some(value))` (an empty string removes it too, see [`ClientChanges`]).
fn setting_change(value: MaybeUndefined<String>) -> Option<Option<String>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// The first given of two spellings of one field.
fn either(a: MaybeUndefined<String>, b: MaybeUndefined<String>) -> MaybeUndefined<String> {
    if a.is_undefined() { b } else { a }
}

impl ClientIn {
    fn into_new(self) -> NewClient {
        NewClient {
            name: self.name,
            client_id: self.client_id.or(self.client_id_snake),
            invitation_url: self.invitation_url.take(),
            code_verifier: either(self.code_verifier, self.code_verifier_snake).take(),
        }
    }

    fn into_changes(self) -> ClientChanges {
        ClientChanges {
            name: self.name,
            client_id: self.client_id.or(self.client_id_snake),
            invitation_url: setting_change(self.invitation_url),
            code_verifier: setting_change(either(self.code_verifier, self.code_verifier_snake)),
        }
    }
}

/// Which data source to link or unlink.
#[derive(Debug, Object)]
#[oai(rename = "ClientDataSourceInput", rename_all = "camelCase")]
pub struct ClientDataSourceIn {
    /// The data source's id (required).
    pub data_source_id: Option<IdInput>,
}

/// A client–data source link: `client_id` is the client's numeric id
/// as a string, under its snake_case key.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "ClientDataSource", rename_all = "camelCase")]
pub struct ClientDataSourceJson {
    /// Link id.
    pub id: Id,
    /// The client's numeric id, as a string.
    #[oai(rename = "client_id")]
    pub client_id: String,
    /// The data source's id.
    pub data_source_id: Id,
}

impl From<ClientDataSource> for ClientDataSourceJson {
    fn from(l: ClientDataSource) -> Self {
        ClientDataSourceJson {
            id: l.id,
            client_id: l.client_id.to_string(),
            data_source_id: l.data_source_id,
        }
    }
}

#[derive(ApiResponse)]
enum CreatedClient {
    /// Created.
    #[oai(status = 201)]
    Created(Json<ClientJson>),
}

/// OAuth client applications.
pub struct ClientsApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Clients")]
impl ClientsApi {
    /// Clients, newest first, 1000 per page (practitioners and superusers; patients 403).
    #[oai(path = "/clients", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        /// 1-based page number.
        page: Query<Option<String>>,
    ) -> ApiResult<Json<Paginated<ClientJson>>> {
        let page = page_request(page.as_deref(), None, Some(CLIENTS_PAGE_SIZE))?;
        let found = clients::list(&self.state, &auth.0, page).await?;
        Ok(Json(envelope(
            req,
            &self.state.config,
            found,
            ClientJson::from,
        )?))
    }

    /// Creates a public authorization-code client with its code verifier and invitation URL
    /// (`client.manage`). `name`, `clientId`, `invitationUrl` and `codeVerifier` are required;
    /// missing ones are reported together (under the keys `name`, `clientId`,
    /// `invitation_url`, `code_verifier`).
    #[oai(path = "/clients", method = "post")]
    async fn create(&self, auth: BearerAuth, body: Json<ClientIn>) -> ApiResult<CreatedClient> {
        let view = clients::create(&self.state, &auth.0, body.0.into_new()).await?;
        Ok(CreatedClient::Created(Json(view.into())))
    }

    /// One client (practitioners and superusers).
    #[oai(path = "/clients/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<PathId>) -> ApiResult<Json<ClientJson>> {
        Ok(Json(
            clients::get(&self.state, &auth.0, id.0.get()?)
                .await?
                .into(),
        ))
    }

    /// Replaces the client's fields (`client.manage`; `name` required).
    #[oai(path = "/clients/:id", method = "put")]
    async fn put(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<ClientIn>,
    ) -> ApiResult<Json<ClientJson>> {
        let view = clients::update(
            &self.state,
            &auth.0,
            id.0.get()?,
            body.0.into_changes(),
            true,
        )
        .await?;
        Ok(Json(view.into()))
    }

    /// Changes some fields (`client.manage`): `""` or null removes a setting, an absent key
    /// leaves it.
    #[oai(path = "/clients/:id", method = "patch")]
    async fn patch(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<ClientIn>,
    ) -> ApiResult<Json<ClientJson>> {
        let view = clients::update(
            &self.state,
            &auth.0,
            id.0.get()?,
            body.0.into_changes(),
            false,
        )
        .await?;
        Ok(Json(view.into()))
    }

    /// Deletes a client with its grants, tokens, links and settings (`client.manage`).
    #[oai(path = "/clients/:id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, id: Path<PathId>) -> ApiResult<NoContent> {
        clients::delete(&self.state, &auth.0, id.0.get()?).await?;
        Ok(NoContent::NoContent)
    }

    /// The client's data sources (practitioners and superusers).
    #[oai(path = "/clients/:id/data_sources", method = "get")]
    async fn data_sources(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
    ) -> ApiResult<Json<Vec<DataSourceJson>>> {
        let list = clients::data_sources(&self.state, &auth.0, id.0.get()?).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// Links a data source to the client (`client.manage`; idempotent).
    #[oai(path = "/clients/:id/data_sources", method = "post")]
    async fn add_data_source(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<ClientDataSourceIn>,
    ) -> ApiResult<Json<ClientDataSourceJson>> {
        let link = clients::add_data_source(
            &self.state,
            &auth.0,
            id.0.get()?,
            id_of(body.0.data_source_id),
        )
        .await?;
        Ok(Json(link.into()))
    }

    /// Unlinks a data source from the client (`client.manage`); answers `{}`.
    #[oai(path = "/clients/:id/data_sources", method = "delete")]
    async fn remove_data_source(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<ClientDataSourceIn>,
    ) -> ApiResult<Json<EmptyJson>> {
        clients::remove_data_source(
            &self.state,
            &auth.0,
            id.0.get()?,
            id_of(body.0.data_source_id),
        )
        .await?;
        Ok(Json(EmptyJson {}))
    }
}
