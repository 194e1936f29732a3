use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{ClientDataSource, Id, NewOAuthClient, OAuthClient, Page, PageRequest};

/// OAuth client applications and their data sources.
#[async_trait]
pub trait ClientStore {
    /// Creates a client; `Conflict` if the `client_id` exists.
    async fn create_client(&self, new: NewOAuthClient) -> StoreResult<OAuthClient>;
    /// A client by numeric id.
    async fn get_client(&self, id: Id) -> StoreResult<Option<OAuthClient>>;
    /// A client by OAuth `client_id`.
    async fn get_client_by_client_id(&self, client_id: &str) -> StoreResult<Option<OAuthClient>>;
    /// The first client (lowest id) with this exact name.
    async fn get_client_by_name(&self, name: &str) -> StoreResult<Option<OAuthClient>>;
    /// Writes every field (by id), setting `updated` to now.
    async fn update_client(&self, client: &OAuthClient) -> StoreResult<OAuthClient>;
    /// Deletes a client with its grants, tokens and links.
    async fn delete_client(&self, id: Id) -> StoreResult<bool>;
    /// Clients ordered by creation time, newest first; `exclude_name` skips one name.
    async fn list_clients(
        &self,
        exclude_name: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<OAuthClient>>;

    /// Links a data source to a client (idempotent).
    async fn add_client_data_source(
        &self,
        client_id: Id,
        data_source_id: Id,
    ) -> StoreResult<ClientDataSource>;
    /// Unlinks; `false` if absent.
    async fn remove_client_data_source(
        &self,
        client_id: Id,
        data_source_id: Id,
    ) -> StoreResult<bool>;
    /// Data source links of a client, ordered by id.
    async fn list_client_data_sources(&self, client_id: Id) -> StoreResult<Vec<ClientDataSource>>;
}
