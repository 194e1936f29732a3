//! Lenient request values shared by the Admin API handlers.
//!
//! Browsers often send ids read from form controls as strings (`"50004"`); the original (Django
//! REST framework) accepts those, so [`IdInput`] does too while documenting an integer.

use std::borrow::Cow;
use std::collections::BTreeMap;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use serde_json::Value;

use crate::domain::Id;
use crate::error::CoreError;

/// An id in a request body: a JSON integer, or a string holding one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdInput(pub Id);

impl Type for IdInput {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "integer_int64".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("integer", "int64")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for IdInput {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::Number(n) => n
                .as_i64()
                .map(IdInput)
                .ok_or_else(|| ParseError::custom("A valid integer is required.")),
            Value::String(s) => s
                .trim()
                .parse::<Id>()
                .map(IdInput)
                .map_err(|_| ParseError::custom("A valid integer is required.")),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for IdInput {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

/// A numeric id in a URL path (`/clients/{id}`), documented as an integer. Anything else is
/// answered with 400 `{"detail": "\"abc\" is not a valid id."}` by [`PathId::get`] (poem-openapi's
/// own parse error would name an internal parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathId(Result<Id, String>);

impl PathId {
    /// The id, or 400 when the path segment is not an integer.
    pub fn get(&self) -> Result<Id, CoreError> {
        self.0
            .clone()
            .map_err(|raw| CoreError::BadRequest(format!("\"{raw}\" is not a valid id.")))
    }
}

impl Type for PathId {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "integer_int64".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("integer", "int64")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromParameter for PathId {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Ok(PathId(value.parse::<Id>().map_err(|_| value.to_string())))
    }
}

/// The id inside an optional [`IdInput`].
pub fn id_of(input: Option<IdInput>) -> Option<Id> {
    input.map(|i| i.0)
}

/// Refuses text fields holding NUL characters (PostgreSQL cannot store them), as Django REST
/// framework does: `{"<field>": ["Null characters are not allowed."]}`.
pub fn reject_nul<'a>(
    fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<(), CoreError> {
    let errors: BTreeMap<String, Vec<String>> = fields
        .into_iter()
        .filter(|(_, v)| v.is_some_and(|v| v.contains('\0')))
        .map(|(k, _)| {
            (
                k.to_string(),
                vec!["Null characters are not allowed.".to_string()],
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CoreError::Validation(errors))
    }
}

/// A timestamp as JupyterHealth Exchange serialises it: ISO-8601 UTC with microseconds and `Z`.
pub fn timestamp(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_from_numbers_and_strings() {
        assert_eq!(
            IdInput::parse_from_json(Some(serde_json::json!(7))).ok(),
            Some(IdInput(7))
        );
        assert_eq!(
            IdInput::parse_from_json(Some(serde_json::json!(" 70001 "))).ok(),
            Some(IdInput(70001))
        );
        assert!(IdInput::parse_from_json(Some(serde_json::json!("x"))).is_err());
        assert!(IdInput::parse_from_json(Some(serde_json::json!(1.5))).is_err());
        assert!(IdInput::parse_from_json(Some(serde_json::json!([1]))).is_err());
    }

    #[test]
    fn path_ids_report_malformed_values() {
        assert_eq!(
            PathId::parse_from_parameter("42")
                .ok()
                .map(|p| p.get().ok()),
            Some(Some(42))
        );
        let bad = PathId::parse_from_parameter("4x").ok();
        assert!(matches!(
            bad.map(|p| p.get()),
            Some(Err(CoreError::BadRequest(m))) if m == "\"4x\" is not a valid id."
        ));
    }

    #[test]
    fn timestamps_have_microseconds_and_z() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-28T15:04:02.361773123Z")
            .map(|d| d.with_timezone(&chrono::Utc))
            .ok();
        assert_eq!(
            at.map(|a| timestamp(&a)).as_deref(),
            Some("2026-11-28T15:04:02.361773Z")
        );
    }

    #[test]
    fn nul_characters_are_refused() {
        assert!(reject_nul([("name", Some("ok")), ("x", None)]).is_ok());
        assert!(matches!(
            reject_nul([("name", Some("a\0b"))]),
            Err(CoreError::Validation(m)) if m.contains_key("name")
        ));
    }
}
