//! [`SettingStore`]: the typed key/value settings.

use async_trait::async_trait;
use chrono::Utc;
use jhe_core::domain::{Id, JheSetting, Page, PageRequest, SettingValue};
use jhe_core::store::{SettingStore, StoreError, StoreResult};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use super::entity::jhe_setting as s;
use super::{DbResultExt, SeaOrmStore, limit_of};

fn setting_from(m: s::Model) -> StoreResult<JheSetting> {
    let value = match m.value_type.as_str() {
        "string" => SettingValue::String(m.value_string.unwrap_or_default()),
        "int" => SettingValue::Int(m.value_int.unwrap_or_default()),
        "bool" => SettingValue::Bool(m.value_bool.unwrap_or_default()),
        "float" => SettingValue::Float(m.value_float.unwrap_or_default()),
        "json" => SettingValue::Json(match m.value_json {
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                StoreError::Backend(format!("setting {} holds invalid JSON: {e}", m.id))
            })?,
            None => serde_json::Value::Null,
        }),
        other => {
            return Err(StoreError::Backend(format!(
                "setting {} has unknown value_type {other:?}",
                m.id
            )));
        }
    };
    Ok(JheSetting {
        id: m.id,
        key: m.key,
        setting_id: m.setting_id,
        value,
        last_updated: m.last_updated,
    })
}

fn key_condition(key: &str, setting_id: Option<Id>) -> Condition {
    let scope = match setting_id {
        Some(id) => s::Column::SettingId.eq(id),
        None => s::Column::SettingId.is_null(),
    };
    Condition::all().add(s::Column::Key.eq(key)).add(scope)
}

fn columns(model: &mut s::ActiveModel, value: &SettingValue) {
    model.value_type = Set(value.type_name().to_string());
    model.value_string = Set(None);
    model.value_int = Set(None);
    model.value_bool = Set(None);
    model.value_float = Set(None);
    model.value_json = Set(None);
    match value {
        SettingValue::String(v) => model.value_string = Set(Some(v.clone())),
        SettingValue::Int(v) => model.value_int = Set(Some(*v)),
        SettingValue::Bool(v) => model.value_bool = Set(Some(*v)),
        SettingValue::Float(v) => model.value_float = Set(Some(*v)),
        SettingValue::Json(v) => model.value_json = Set(Some(v.to_string())),
    }
}

#[async_trait]
impl SettingStore for SeaOrmStore {
    async fn upsert_setting(
        &self,
        key: &str,
        setting_id: Option<Id>,
        value: SettingValue,
    ) -> StoreResult<JheSetting> {
        match self.get_setting(key, setting_id).await? {
            Some(mut existing) => {
                existing.value = value;
                self.update_setting(&existing).await
            }
            None => self.create_setting(key, setting_id, value).await,
        }
    }

    async fn create_setting(
        &self,
        key: &str,
        setting_id: Option<Id>,
        value: SettingValue,
    ) -> StoreResult<JheSetting> {
        let mut model = s::ActiveModel {
            id: NotSet,
            key: Set(key.to_string()),
            setting_id: Set(setting_id),
            last_updated: Set(Utc::now()),
            ..Default::default()
        };
        columns(&mut model, &value);
        setting_from(model.insert(&self.db).await.db()?)
    }

    async fn get_setting(
        &self,
        key: &str,
        setting_id: Option<Id>,
    ) -> StoreResult<Option<JheSetting>> {
        s::Entity::find()
            .filter(key_condition(key, setting_id))
            .one(&self.db)
            .await
            .db()?
            .map(setting_from)
            .transpose()
    }

    async fn get_setting_by_id(&self, id: Id) -> StoreResult<Option<JheSetting>> {
        s::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .db()?
            .map(setting_from)
            .transpose()
    }

    async fn update_setting(&self, setting: &JheSetting) -> StoreResult<JheSetting> {
        let mut model = s::ActiveModel {
            id: Set(setting.id),
            key: Set(setting.key.clone()),
            setting_id: Set(setting.setting_id),
            last_updated: Set(Utc::now()),
            ..Default::default()
        };
        columns(&mut model, &setting.value);
        setting_from(model.update(&self.db).await.db()?)
    }

    async fn delete_setting(&self, id: Id) -> StoreResult<bool> {
        Ok(s::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn delete_setting_by_key(&self, key: &str, setting_id: Option<Id>) -> StoreResult<bool> {
        Ok(s::Entity::delete_many()
            .filter(key_condition(key, setting_id))
            .exec(&self.db)
            .await
            .db()?
            .rows_affected
            > 0)
    }

    async fn list_settings(&self, page: PageRequest) -> StoreResult<Page<JheSetting>> {
        let query = s::Entity::find();
        let total = query.clone().count(&self.db).await.db()?;
        let rows = query
            .order_by_asc(s::Column::Id)
            .offset(page.offset())
            .limit(limit_of(&page))
            .all(&self.db)
            .await
            .db()?;
        Ok(Page {
            items: rows
                .into_iter()
                .map(setting_from)
                .collect::<StoreResult<Vec<_>>>()?,
            total,
            request: page,
        })
    }
}
