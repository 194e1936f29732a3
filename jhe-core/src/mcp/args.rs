//! Reading tool arguments: the argument names, defaults and error messages of the MCP spec
//! (mcp.md §4). Every failure is a [`ToolError`] whose text the caller (an AI agent) reads.

use chrono::NaiveDate;
use serde_json::{Map, Value};

use crate::domain::Id;
use crate::error::CoreError;
use crate::fhir::FhirError;

/// A tool call that failed in a way the caller should read (an MCP tool error, `isError: true`):
/// a bad argument, something not visible, a scope the token lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolError(pub String);

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<CoreError> for ToolError {
    fn from(error: CoreError) -> Self {
        match error {
            CoreError::Validation(fields) => ToolError(
                fields
                    .iter()
                    .map(|(field, messages)| format!("{field}: {}", messages.join(" ")))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            // Never show a database message to the caller; the log has it.
            CoreError::Internal(message) => {
                tracing::error!(error = %message, "MCP tool failed");
                ToolError("Internal server error.".into())
            }
            other => ToolError(other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for ToolError {
    fn from(error: crate::store::StoreError) -> Self {
        ToolError::from(CoreError::from(error))
    }
}

impl From<FhirError> for ToolError {
    fn from(error: FhirError) -> Self {
        match error {
            FhirError::Core(core) => ToolError::from(core),
            FhirError::Outcome(outcome) => ToolError(outcome.diagnostics),
        }
    }
}

/// The result of a tool body.
pub type ToolResult<T> = Result<T, ToolError>;

/// The arguments of one call (`arguments` of `tools/call`; absent = empty).
pub type Args = Map<String, Value>;

/// An optional string argument: absent or `null` → `None`; numbers are taken as their text (ids
/// sent as numbers); anything else is an error.
pub fn opt_str(args: &Args, name: &str) -> ToolResult<Option<String>> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(ToolError(format!("{name} must be a string; got {other}"))),
    }
}

/// A required id argument (`"40001"` or `40001`).
pub fn req_id(args: &Args, name: &str) -> ToolResult<Id> {
    let Some(raw) = opt_str(args, name)? else {
        return Err(ToolError(format!("{name} is required")));
    };
    raw.trim()
        .parse::<Id>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ToolError(format!("{name} must be a numeric id; got '{raw}'")))
}

/// An optional integer argument (a JSON integer or its text), `default` when absent.
pub fn opt_int(args: &Args, name: &str, default: i64) -> ToolResult<i64> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| ToolError(format!("{name} must be an integer; got {n}"))),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| ToolError(format!("{name} must be an integer; got '{s}'"))),
        Some(other) => Err(ToolError(format!("{name} must be an integer; got {other}"))),
    }
}

/// An optional boolean argument (`true`/`false`, or their text), `default` when absent.
pub fn opt_bool(args: &Args, name: &str, default: bool) -> ToolResult<bool> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(other) => Err(ToolError(format!(
            "{name} must be true or false; got {other}"
        ))),
    }
}

/// A `YYYY-MM-DD` date argument (exactly that shape, and a real day), else
/// `<name> must be an ISO date (YYYY-MM-DD); got '<v>'`.
pub fn opt_date(args: &Args, name: &str) -> ToolResult<Option<NaiveDate>> {
    let Some(raw) = opt_str(args, name)? else {
        return Ok(None);
    };
    parse_iso_date(&raw).map(Some).ok_or_else(|| {
        ToolError(format!(
            "{name} must be an ISO date (YYYY-MM-DD); got '{raw}'"
        ))
    })
}

/// `YYYY-MM-DD` exactly (ten characters, digits and two dashes), and a valid day.
pub fn parse_iso_date(raw: &str) -> Option<NaiveDate> {
    let shaped = raw.len() == 10
        && raw.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

/// Paging arguments: `limit` (default 50) clamped to 1..=1000, `page` (default 1) at least 1.
pub fn paging(args: &Args) -> ToolResult<(u64, u64)> {
    let limit = opt_int(args, "limit", 50)?.clamp(1, 1000);
    let page = opt_int(args, "page", 1)?.max(1);
    Ok((
        u64::try_from(limit).unwrap_or(50),
        u64::try_from(page).unwrap_or(1),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Value) -> Args {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn dates_must_be_exact_and_real() {
        assert!(parse_iso_date("2024-02-29").is_some());
        for bad in [
            "2023-02-29",
            "2024-2-01",
            "2024-02-01T00:00",
            "20240201",
            " 2024-02-01",
        ] {
            assert!(parse_iso_date(bad).is_none(), "{bad}");
        }
        assert_eq!(
            opt_date(&args(json!({"start": "yesterday"})), "start"),
            Err(ToolError(
                "start must be an ISO date (YYYY-MM-DD); got 'yesterday'".into()
            ))
        );
    }

    #[test]
    fn ids_and_paging() {
        assert_eq!(
            req_id(&args(json!({"patient_id": "40001"})), "patient_id"),
            Ok(40001)
        );
        assert_eq!(
            req_id(&args(json!({"patient_id": 40001})), "patient_id"),
            Ok(40001)
        );
        assert_eq!(
            req_id(&args(json!({})), "patient_id"),
            Err(ToolError("patient_id is required".into()))
        );
        assert_eq!(
            req_id(&args(json!({"study_id": "abc"})), "study_id"),
            Err(ToolError("study_id must be a numeric id; got 'abc'".into()))
        );
        assert_eq!(
            paging(&args(json!({"limit": 5000, "page": 0}))),
            Ok((1000, 1))
        );
        assert_eq!(paging(&args(json!({"limit": 0}))), Ok((1, 1)));
        assert_eq!(paging(&args(json!({}))), Ok((50, 1)));
    }
}
