//! `/api/v1/jhe_settings`: the typed key/value system settings (superusers only).
//!
//! Deliberate differences from the original: a `json` value is returned verbatim (the original
//! camelises the keys of nested objects, so `{"a_b": 1}` came back as `{"aB": 1}`); values that
//! do not fit their type are 400 (`{"value": "Invalid int"}`) instead of 500; a second row with
//! the same key and `settingId` (null included) is refused with 400.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::input::{IdInput, PathId, timestamp};
use crate::domain::{Id, JheSetting};
use crate::error::CoreError;
use crate::http::auth::BearerAuth;
use crate::http::rest::paging::{Paginated, envelope, page_request};
use crate::http::rest::response::{ApiError, ApiResult, NoContent};
use crate::server::AppState;
use crate::services::jhe_settings::{self, SettingInput};

/// Page size of the settings list (fixed, as the original; `pageSize` is ignored).
pub const SETTINGS_PAGE_SIZE: u64 = 1000;

/// A setting.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "JheSetting", rename_all = "camelCase")]
pub struct JheSettingJson {
    /// Id.
    pub id: Id,
    /// Key, e.g. `site.url`.
    pub key: String,
    /// Scope id (null = global; for `client.*` keys the client's numeric id).
    pub setting_id: Option<Id>,
    /// `string`, `int`, `bool`, `float` or `json`.
    pub value_type: String,
    /// The value, typed by `valueType` (a `json` value exactly as stored).
    pub resolved_value: serde_json::Value,
    /// Last change, ISO-8601 UTC with microseconds (`2026-11-28T15:04:58.726142Z`).
    pub last_updated: String,
}

impl From<JheSetting> for JheSettingJson {
    fn from(s: JheSetting) -> Self {
        JheSettingJson {
            id: s.id,
            key: s.key,
            setting_id: s.setting_id,
            value_type: s.value.type_name().to_string(),
            resolved_value: s.value.to_json(),
            last_updated: timestamp(&s.last_updated),
        }
    }
}

/// A setting to create, or the fields to change.
#[derive(Debug, Object)]
#[oai(rename = "JheSettingInput", rename_all = "camelCase")]
pub struct JheSettingIn {
    /// Key (required on create and PUT).
    pub key: Option<String>,
    // No `#[oai(default)]` on the `MaybeUndefined` fields: it would read null as absent.
    /// Scope id; null or absent = global (on PATCH, absent leaves it).
    pub setting_id: MaybeUndefined<IdInput>,
    /// `string`, `int`, `bool`, `float` or `json` (required on create and PUT; changing it
    /// requires `value`).
    pub value_type: Option<String>,
    /// The value, any JSON, converted to `valueType` (`"12"` is a fine int, `"yes"` a true bool).
    pub value: MaybeUndefined<serde_json::Value>,
}

impl From<JheSettingIn> for SettingInput {
    fn from(b: JheSettingIn) -> Self {
        SettingInput {
            key: b.key,
            setting_id: match b.setting_id {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(v) => Some(Some(v.0)),
            },
            value_type: b.value_type,
            value: b.value.take(),
        }
    }
}

/// The original reports errors of `value` as a bare string (`{"value": "Invalid int"}`), other
/// fields as lists.
fn settings_error(error: CoreError) -> ApiError {
    match error {
        CoreError::Validation(fields) if fields.contains_key("value") => {
            let body: serde_json::Map<String, serde_json::Value> = fields
                .into_iter()
                .map(|(k, mut messages)| {
                    let v = if k == "value" && messages.len() == 1 {
                        serde_json::Value::String(messages.remove(0))
                    } else {
                        serde_json::Value::from(messages)
                    };
                    (k, v)
                })
                .collect();
            ApiError::BadRequest(Json(serde_json::Value::Object(body)))
        }
        other => other.into(),
    }
}

#[derive(ApiResponse)]
enum CreatedSetting {
    /// Created.
    #[oai(status = 201)]
    Created(Json<JheSettingJson>),
}

/// System settings.
pub struct JheSettingsApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::JheSettings")]
impl JheSettingsApi {
    /// Settings ordered by id, 1000 per page (superusers only).
    #[oai(path = "/jhe_settings", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        /// 1-based page number.
        page: Query<Option<String>>,
    ) -> ApiResult<Json<Paginated<JheSettingJson>>> {
        let page = page_request(page.as_deref(), None, Some(SETTINGS_PAGE_SIZE))?;
        let found = jhe_settings::list(&self.state, &auth.0, page).await?;
        Ok(Json(envelope(
            req,
            &self.state.config,
            found,
            JheSettingJson::from,
        )?))
    }

    /// Creates a setting (superusers only): `key`, `valueType` and `value` required.
    #[oai(path = "/jhe_settings", method = "post")]
    async fn create(
        &self,
        auth: BearerAuth,
        body: Json<JheSettingIn>,
    ) -> ApiResult<CreatedSetting> {
        let setting = jhe_settings::create(&self.state, &auth.0, body.0.into())
            .await
            .map_err(settings_error)?;
        Ok(CreatedSetting::Created(Json(setting.into())))
    }

    /// One setting (superusers only).
    #[oai(path = "/jhe_settings/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<PathId>) -> ApiResult<Json<JheSettingJson>> {
        Ok(Json(
            jhe_settings::get(&self.state, &auth.0, id.0.get()?)
                .await?
                .into(),
        ))
    }

    /// Replaces a setting (superusers only): `key`, `valueType` and `value` required; an omitted
    /// `settingId` makes it global.
    #[oai(path = "/jhe_settings/:id", method = "put")]
    async fn put(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<JheSettingIn>,
    ) -> ApiResult<Json<JheSettingJson>> {
        let setting = jhe_settings::update(&self.state, &auth.0, id.0.get()?, body.0.into(), true)
            .await
            .map_err(settings_error)?;
        Ok(Json(setting.into()))
    }

    /// Changes some fields (superusers only); a new `valueType` needs a `value`.
    #[oai(path = "/jhe_settings/:id", method = "patch")]
    async fn patch(
        &self,
        auth: BearerAuth,
        id: Path<PathId>,
        body: Json<JheSettingIn>,
    ) -> ApiResult<Json<JheSettingJson>> {
        let setting = jhe_settings::update(&self.state, &auth.0, id.0.get()?, body.0.into(), false)
            .await
            .map_err(settings_error)?;
        Ok(Json(setting.into()))
    }

    /// Deletes a setting (superusers only).
    #[oai(path = "/jhe_settings/:id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, id: Path<PathId>) -> ApiResult<NoContent> {
        jhe_settings::delete(&self.state, &auth.0, id.0.get()?).await?;
        Ok(NoContent::NoContent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_errors_are_bare_strings() {
        let ApiError::BadRequest(Json(body)) =
            settings_error(CoreError::field("value", "Invalid int"))
        else {
            unreachable!("a 400")
        };
        assert_eq!(body, serde_json::json!({"value": "Invalid int"}));
        let ApiError::BadRequest(Json(body)) = settings_error(CoreError::field(
            "valueType",
            "\"x\" is not a valid choice.",
        )) else {
            unreachable!("a 400")
        };
        assert_eq!(
            body,
            serde_json::json!({"valueType": ["\"x\" is not a valid choice."]})
        );
    }
}
