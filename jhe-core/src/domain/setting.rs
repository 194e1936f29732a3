use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Id;

/// A typed setting value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum SettingValue {
    /// Text.
    String(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Floating point.
    Float(f64),
    /// Any JSON.
    Json(serde_json::Value),
}

impl SettingValue {
    /// The `value_type` spelling: `string`, `int`, `bool`, `float` or `json`.
    pub fn type_name(&self) -> &'static str {
        match self {
            SettingValue::String(_) => "string",
            SettingValue::Int(_) => "int",
            SettingValue::Bool(_) => "bool",
            SettingValue::Float(_) => "float",
            SettingValue::Json(_) => "json",
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            SettingValue::String(s) => serde_json::Value::String(s.clone()),
            SettingValue::Int(i) => (*i).into(),
            SettingValue::Bool(b) => (*b).into(),
            SettingValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            SettingValue::Json(v) => v.clone(),
        }
    }

    /// The value as text, if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            SettingValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// Whether the value counts as "on" (non-zero, `true`, non-empty).
    pub fn is_truthy(&self) -> bool {
        match self {
            SettingValue::String(s) => !s.is_empty(),
            SettingValue::Int(i) => *i != 0,
            SettingValue::Bool(b) => *b,
            SettingValue::Float(f) => *f != 0.0,
            SettingValue::Json(v) => !(v.is_null() || v == &serde_json::Value::Bool(false)),
        }
    }

    /// Converts an input `value` to the type named `value_type` with the rules of the original
    /// (`"yes"` is a true bool, `"12"` an int, …). Errors say what was wrong (`Invalid int`).
    pub fn coerce(value_type: &str, value: &serde_json::Value) -> Result<SettingValue, String> {
        use serde_json::Value;
        match value_type {
            "string" => Ok(SettingValue::String(match value {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })),
            "int" => match value {
                Value::Number(n) if n.is_i64() => n
                    .as_i64()
                    .map(SettingValue::Int)
                    .ok_or_else(|| "Invalid int".into()),
                Value::Number(n) => match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                        Ok(SettingValue::Int(f as i64))
                    }
                    _ => Err("Invalid int".into()),
                },
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(SettingValue::Int)
                    .map_err(|_| "Invalid int".into()),
                Value::Bool(b) => Ok(SettingValue::Int(i64::from(*b))),
                _ => Err("Invalid int".into()),
            },
            "bool" => match value {
                Value::Bool(b) => Ok(SettingValue::Bool(*b)),
                Value::Number(n) if n.as_i64() == Some(0) => Ok(SettingValue::Bool(false)),
                Value::Number(n) if n.as_i64() == Some(1) => Ok(SettingValue::Bool(true)),
                Value::String(s) => match s.trim().to_lowercase().as_str() {
                    "true" | "1" | "yes" | "y" | "on" => Ok(SettingValue::Bool(true)),
                    "false" | "0" | "no" | "n" | "off" => Ok(SettingValue::Bool(false)),
                    _ => Err("Invalid bool".into()),
                },
                _ => Err("Invalid bool".into()),
            },
            "float" => match value {
                Value::Number(n) => n
                    .as_f64()
                    .map(SettingValue::Float)
                    .ok_or_else(|| "Invalid float".into()),
                Value::String(s) => match s.trim().parse::<f64>() {
                    Ok(f) if f.is_finite() => Ok(SettingValue::Float(f)),
                    _ => Err("Invalid float".into()),
                },
                _ => Err("Invalid float".into()),
            },
            "json" => Ok(SettingValue::Json(value.clone())),
            _ => Err("Unknown value_type".into()),
        }
    }
}

/// A row of the typed key/value settings store. `setting_id` scopes a key (e.g. to a client).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JheSetting {
    /// Primary key.
    pub id: Id,
    /// Key, e.g. `site.url`.
    pub key: String,
    /// Scope id (`None` = global).
    pub setting_id: Option<Id>,
    /// Typed value.
    pub value: SettingValue,
    /// Last change.
    pub last_updated: DateTime<Utc>,
}

/// Known setting keys.
pub mod keys {
    /// Public base URL.
    pub const SITE_URL: &str = "site.url";
    /// Page title prefix.
    pub const SITE_UI_TITLE: &str = "site.ui.title";
    /// Time zone (informational).
    pub const SITE_TIME_ZONE: &str = "site.time_zone";
    /// Invite code required to sign up.
    pub const REGISTRATION_INVITE_CODE: &str = "site.registration_invite_code";
    /// Default organisations of new practitioners (`<org>:<role>;…`).
    pub const AUTH_DEFAULT_ORGS: &str = "auth.default_orgs";
    /// Show the SAML login button.
    pub const AUTH_SSO_SAML2: &str = "auth.sso.saml2";
    /// SAML IdP metadata URL.
    pub const AUTH_SSO_IDP_METADATA_URL: &str = "auth.sso.idp_metadata_url";
    /// Allowed SSO e-mail domains.
    pub const AUTH_SSO_VALID_DOMAINS: &str = "auth.sso.valid_domains";
    /// Trusted IdP for token exchange.
    pub const TRUSTED_TOKEN_IDP: &str = "trusted_token_idp";
    /// Per-client fixed PKCE code verifier of invitation links.
    pub const CLIENT_CODE_VERIFIER: &str = "client.code_verifier";
    /// Per-client invitation URL template (`CODE` is replaced).
    pub const CLIENT_INVITATION_URL: &str = "client.invitation_url";
}
