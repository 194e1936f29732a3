use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{Id, NewOrganization, Organization, Page, PageRequest};

/// The organisation hierarchy.
#[async_trait]
pub trait OrganizationStore {
    /// Creates an organisation.
    async fn create_organization(&self, new: NewOrganization) -> StoreResult<Organization>;
    /// An organisation by id.
    async fn get_organization(&self, id: Id) -> StoreResult<Option<Organization>>;
    /// Writes name, type and parent (by id).
    async fn update_organization(&self, organization: &Organization) -> StoreResult<Organization>;
    /// Deletes an organisation with its studies and membership links. `Constraint` if it still
    /// has child organisations.
    async fn delete_organization(&self, id: Id) -> StoreResult<bool>;
    /// Organisations ordered by name then id; with `part_of`, only children of that one.
    async fn list_organizations(
        &self,
        part_of: Option<Id>,
        page: PageRequest,
    ) -> StoreResult<Page<Organization>>;
    /// Several organisations by id, ordered by name.
    async fn get_organizations(&self, ids: &[Id]) -> StoreResult<Vec<Organization>>;
}
