use async_trait::async_trait;

use super::StoreResult;
use crate::domain::{Id, JheSetting, Page, PageRequest, SettingValue};

/// The typed key/value settings store. `(key, setting_id)` is unique, `None` included.
#[async_trait]
pub trait SettingStore {
    /// Inserts or replaces the value of `(key, setting_id)`.
    async fn upsert_setting(
        &self,
        key: &str,
        setting_id: Option<Id>,
        value: SettingValue,
    ) -> StoreResult<JheSetting>;
    /// Creates a new row; `Conflict` if `(key, setting_id)` exists.
    async fn create_setting(
        &self,
        key: &str,
        setting_id: Option<Id>,
        value: SettingValue,
    ) -> StoreResult<JheSetting>;
    /// The row of `(key, setting_id)`.
    async fn get_setting(
        &self,
        key: &str,
        setting_id: Option<Id>,
    ) -> StoreResult<Option<JheSetting>>;
    /// A row by id.
    async fn get_setting_by_id(&self, id: Id) -> StoreResult<Option<JheSetting>>;
    /// Writes key, scope and value (by id); `Conflict` if that collides with another row.
    async fn update_setting(&self, setting: &JheSetting) -> StoreResult<JheSetting>;
    /// Deletes a row by id.
    async fn delete_setting(&self, id: Id) -> StoreResult<bool>;
    /// Deletes the row of `(key, setting_id)`.
    async fn delete_setting_by_key(&self, key: &str, setting_id: Option<Id>) -> StoreResult<bool>;
    /// Rows ordered by id.
    async fn list_settings(&self, page: PageRequest) -> StoreResult<Page<JheSetting>>;
}
