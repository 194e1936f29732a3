//! System settings (`JheSetting` rows) as the Admin API manages them: superusers only
//! ([`Action::ManageSettings`]), for every method including reads.
//!
//! Differences from the original, all deliberate: `(key, settingId)` is unique with a missing
//! `settingId` counted as a value (the original accepts two global rows with one key and then
//! fails on reads); values that do not fit their type are refused with 400 (the original answers
//! 500); changes are visible to readers at once (no 60-second cache). Reading settings with their
//! fallbacks is [`crate::services::settings`].

use std::collections::BTreeMap;

use crate::domain::{Id, JheSetting, Page, PageRequest, SettingValue, TextRule};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::guard::require;
use crate::store::StoreError;

/// The valid `value_type`s.
pub const VALUE_TYPES: &[&str] = &["string", "int", "bool", "float", "json"];

/// The 404 message of an unknown setting.
pub const NOT_FOUND: &str = "No JheSetting matches the given query.";

/// The error of a missing `value` on create.
pub const VALUE_REQUIRED: &str = "This field is required.";

/// The error of a `valueType` change without a `value`.
pub const VALUE_REQUIRED_WITH_TYPE: &str = "Required when changing value_type.";

/// The error of a second row with the same key and scope.
pub const NOT_UNIQUE: &str = "The fields key, setting_id must make a unique set.";

/// A setting to create or the fields of a setting to change (`None` = not given).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingInput {
    /// Key, e.g. `site.url` (surrounding whitespace is dropped).
    pub key: Option<String>,
    /// Scope id: `Some(None)` = global, `None` = not given.
    pub setting_id: Option<Option<Id>>,
    /// `string`, `int`, `bool`, `float` or `json`.
    pub value_type: Option<String>,
    /// The value (any JSON; converted to `value_type`). JSON `null` counts as missing.
    pub value: Option<serde_json::Value>,
}

/// Fails unless the caller may manage settings.
async fn guard(state: &AppState, principal: &Principal) -> CoreResult<()> {
    require(state, principal, Action::ManageSettings).await
}

/// Fetches a setting or `404`.
async fn get_or_404(state: &AppState, id: Id) -> CoreResult<JheSetting> {
    state
        .store
        .get_setting_by_id(id)
        .await?
        .ok_or_else(|| CoreError::NotFound(NOT_FOUND.into()))
}

/// Settings ordered by id.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    page: PageRequest,
) -> CoreResult<Page<JheSetting>> {
    guard(state, principal).await?;
    Ok(state.store.list_settings(page).await?)
}

/// One setting.
pub async fn get(state: &AppState, principal: &Principal, id: Id) -> CoreResult<JheSetting> {
    guard(state, principal).await?;
    get_or_404(state, id).await
}

fn field(errors: &mut BTreeMap<String, Vec<String>>, key: &str, message: impl Into<String>) {
    errors.insert(key.to_string(), vec![message.into()]);
}

/// Checks key and value type; `required` makes both mandatory.
fn check_key_and_type(
    errors: &mut BTreeMap<String, Vec<String>>,
    input: &SettingInput,
    required: bool,
) {
    match input.key.as_deref() {
        Some(k) => {
            if let Some(message) = TextRule::NAME.violation(k) {
                field(errors, "key", message);
            }
        }
        None if required => field(errors, "key", "This field is required."),
        None => {}
    }
    match input.value_type.as_deref() {
        Some(t) if !VALUE_TYPES.contains(&t) => field(
            errors,
            "valueType",
            format!("\"{t}\" is not a valid choice."),
        ),
        None if required => field(errors, "valueType", "This field is required."),
        _ => {}
    }
}

/// Converts `value` to `value_type`: `{"value": "Invalid int"}` etc. when it does not fit.
fn coerce(value_type: &str, value: &serde_json::Value) -> CoreResult<SettingValue> {
    let coerced =
        SettingValue::coerce(value_type, value).map_err(|e| CoreError::field("value", e))?;
    if coerced.as_str().is_some_and(|s| s.contains('\0')) {
        return Err(CoreError::field(
            "value",
            "Null characters are not allowed.",
        ));
    }
    Ok(coerced)
}

/// Fails with 400 when another row has the same key and scope.
async fn check_unique(
    state: &AppState,
    key: &str,
    setting_id: Option<Id>,
    except: Option<Id>,
) -> CoreResult<()> {
    match state.store.get_setting(key, setting_id).await? {
        Some(other) if Some(other.id) != except => Err(not_unique()),
        _ => Ok(()),
    }
}

fn not_unique() -> CoreError {
    CoreError::field("nonFieldErrors", NOT_UNIQUE)
}

fn conflict_as_not_unique(e: StoreError) -> CoreError {
    match e {
        StoreError::Conflict(_) => not_unique(),
        other => other.into(),
    }
}

/// Creates a setting. `key`, `valueType` and `value` are required; `settingId` defaults to
/// global.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    input: SettingInput,
) -> CoreResult<JheSetting> {
    guard(state, principal).await?;
    let mut errors = BTreeMap::new();
    check_key_and_type(&mut errors, &input, true);
    if !errors.is_empty() {
        return Err(CoreError::Validation(errors));
    }
    let (Some(key), Some(value_type)) = (input.key, input.value_type) else {
        return Err(CoreError::field("key", "This field is required."));
    };
    let value = match input.value.as_ref().filter(|v| !v.is_null()) {
        Some(v) => coerce(&value_type, v)?,
        None => return Err(CoreError::field("value", VALUE_REQUIRED)),
    };
    let key = key.trim().to_string();
    let setting_id = input.setting_id.flatten();
    check_unique(state, &key, setting_id, None).await?;
    state
        .store
        .create_setting(&key, setting_id, value)
        .await
        .map_err(conflict_as_not_unique)
}

/// Changes a setting. `full` (PUT) replaces it: `key` and `valueType` are required and an
/// omitted `settingId` makes it global. A `valueType` without a `value` is refused.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: Id,
    input: SettingInput,
    full: bool,
) -> CoreResult<JheSetting> {
    guard(state, principal).await?;
    let mut setting = get_or_404(state, id).await?;
    let mut errors = BTreeMap::new();
    check_key_and_type(&mut errors, &input, full);
    if !errors.is_empty() {
        return Err(CoreError::Validation(errors));
    }
    let value = input.value.as_ref().filter(|v| !v.is_null());
    let value_type = input
        .value_type
        .clone()
        .unwrap_or_else(|| setting.value.type_name().to_string());
    match value {
        Some(v) => setting.value = coerce(&value_type, v)?,
        None if input.value_type.is_some() => {
            return Err(CoreError::field("value", VALUE_REQUIRED_WITH_TYPE));
        }
        None => {}
    }
    if let Some(key) = input.key {
        setting.key = key.trim().to_string();
    }
    match input.setting_id {
        Some(scope) => setting.setting_id = scope,
        None if full => setting.setting_id = None,
        None => {}
    }
    check_unique(state, &setting.key, setting.setting_id, Some(setting.id)).await?;
    state
        .store
        .update_setting(&setting)
        .await
        .map_err(conflict_as_not_unique)
}

/// Deletes a setting.
pub async fn delete(state: &AppState, principal: &Principal, id: Id) -> CoreResult<()> {
    guard(state, principal).await?;
    if !state.store.delete_setting(id).await? {
        return Err(CoreError::NotFound(NOT_FOUND.into()));
    }
    Ok(())
}
