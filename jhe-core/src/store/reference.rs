use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{
    CodeableConcept, DataSource, DataSourceSupportedScope, Id, NewCodeableConcept, NewDataSource,
    Page, PageRequest,
};

/// Reference data: codeable concepts (scopes) and data sources.
#[async_trait]
pub trait ReferenceStore {
    /// Creates a concept; `Conflict` if (system, code) exists.
    async fn create_concept(&self, new: NewCodeableConcept) -> StoreResult<CodeableConcept>;
    /// A concept by id.
    async fn get_concept(&self, id: Id) -> StoreResult<Option<CodeableConcept>>;
    /// Several concepts by id, ordered by id (one query; missing ids are absent).
    async fn get_concepts(&self, ids: &[Id]) -> StoreResult<Vec<CodeableConcept>>;
    /// A concept by exact system and code.
    async fn find_concept(&self, system: &str, code: &str) -> StoreResult<Option<CodeableConcept>>;
    /// Writes every field (by id).
    async fn update_concept(&self, concept: &CodeableConcept) -> StoreResult<CodeableConcept>;
    /// Deletes a concept (cascades to requests, consents and observations of it).
    async fn delete_concept(&self, id: Id) -> StoreResult<bool>;
    /// All concepts ordered by text then id.
    async fn list_concepts(&self) -> StoreResult<Vec<CodeableConcept>>;

    /// Creates a data source.
    async fn create_data_source(&self, new: NewDataSource) -> StoreResult<DataSource>;
    /// A data source by id.
    async fn get_data_source(&self, id: Id) -> StoreResult<Option<DataSource>>;
    /// Writes every field (by id).
    async fn update_data_source(&self, data_source: &DataSource) -> StoreResult<DataSource>;
    /// Deletes a data source (observations keep their data, losing the link).
    async fn delete_data_source(&self, id: Id) -> StoreResult<bool>;
    /// Data sources ordered by name then id.
    async fn list_data_sources(&self, page: PageRequest) -> StoreResult<Page<DataSource>>;

    /// Adds a supported scope (idempotent).
    async fn add_supported_scope(
        &self,
        data_source_id: Id,
        scope_code_id: Id,
    ) -> StoreResult<DataSourceSupportedScope>;
    /// Removes a supported scope; `false` if absent.
    async fn remove_supported_scope(
        &self,
        data_source_id: Id,
        scope_code_id: Id,
    ) -> StoreResult<bool>;
    /// The supported scopes of several data sources in one query, ordered by id (for list
    /// pages: no query per row).
    async fn list_supported_scopes_of(
        &self,
        data_source_ids: &[Id],
    ) -> StoreResult<Vec<DataSourceSupportedScope>>;
    /// Supported scopes of a data source, ordered by id.
    async fn list_supported_scopes(
        &self,
        data_source_id: Id,
    ) -> StoreResult<Vec<DataSourceSupportedScope>>;
}
