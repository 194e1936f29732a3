//! Search parameters of `GET Observation` and `GET Patient`, parsed from the query string.
//!
//! Parameter names are accepted in the FHIR spelling and in the snake_case spelling the
//! original server read them in (`patient._has:Group:member:_id` and
//! `patient._has:_group:member:_id`, `_lastUpdated` and `_last_updated`). Unknown parameters are
//! ignored, as FHIR servers commonly do.

use chrono::{DateTime, Utc};

use super::datetime::range_of;
use super::error::{FhirError, FhirResult};
use crate::domain::{
    DEFAULT_PAGE_SIZE, Id, KeysetCursor, MAX_PAGE_SIZE, MAX_SEARCH_VALUE_BYTES,
    has_forbidden_control,
};

/// One `code` token: `system|code`, `code` (any system), `|code` (no system), `system|` (any
/// code of the system). Matching is exact (no wildcards).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeToken {
    /// Required system (`Some("")` = no system); `None` = any.
    pub system: Option<String>,
    /// Required code; `None` = any.
    pub code: Option<String>,
}

impl CodeToken {
    /// Whether a concept `(system, code)` matches.
    pub fn matches(&self, system: &str, code: &str) -> bool {
        self.system.as_deref().is_none_or(|s| s == system)
            && self.code.as_deref().is_none_or(|c| c == code)
    }
}

/// The bounds of `date` / `_lastUpdated` parameters, kept per FHIR prefix so that a period
/// (an observation's effective period) can be matched with FHIR period semantics:
///
/// * `ge` / `gt` (→ [`from`](Self::from)): the period ends at or after the bound (it overlaps the
///   range above the value);
/// * `le` / `lt` (→ [`before`](Self::before)): the period starts before the bound (it overlaps
///   the range below the value);
/// * `eq` (→ [`within_from`](Self::within_from), [`within_before`](Self::within_before)): the
///   period lies inside the value's range.
///
/// For a single instant (`_lastUpdated`, or an observation with an effective instant) all of
/// these reduce to comparing the instant, see [`TimeBounds::instant`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeBounds {
    /// `ge`/`gt`: the target ends at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// `le`/`lt`: the target starts before this instant.
    pub before: Option<DateTime<Utc>>,
    /// `eq`: the target starts at or after this instant.
    pub within_from: Option<DateTime<Utc>>,
    /// `eq`: the target ends before this instant.
    pub within_before: Option<DateTime<Utc>>,
}

fn later(a: Option<DateTime<Utc>>, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(t, |f| f.max(t)))
}

fn earlier(a: Option<DateTime<Utc>>, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(t, |b| b.min(t)))
}

impl TimeBounds {
    /// Adds one `[prefix]value` (`eq` when no prefix): `ge`/`gt`/`le`/`lt`/`eq` against the
    /// range the value denotes (`2025-01-01` is that UTC day).
    pub fn add(&mut self, name: &str, raw: &str) -> FhirResult<()> {
        let raw = raw.trim();
        let (prefix, value) = match (raw.get(..2), raw.get(2..)) {
            (Some(p), Some(rest)) if p.bytes().all(|b| b.is_ascii_lowercase()) => (p, rest),
            _ => ("eq", raw),
        };
        let Some((start, end)) = range_of(value) else {
            return Err(FhirError::bad_request(format!(
                "Invalid {name} parameter '{raw}': expected [ge|gt|le|lt|eq]YYYY[-MM[-DD[Thh:mm[:ss][Z|±hh:mm]]]]."
            )));
        };
        match prefix {
            "eq" => {
                self.within_from = later(self.within_from, start);
                self.within_before = earlier(self.within_before, end);
            }
            "ge" => self.from = later(self.from, start),
            "gt" => self.from = later(self.from, end),
            "le" => self.before = earlier(self.before, end),
            "lt" => self.before = earlier(self.before, start),
            other => {
                return Err(FhirError::bad_request(format!(
                    "Unsupported prefix '{other}' in {name}: use ge, gt, le, lt or eq."
                )));
            }
        }
        Ok(())
    }

    /// The bounds for a single instant: at or after the first, before the second.
    pub fn instant(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let from = match (self.from, self.within_from) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let before = match (self.before, self.within_before) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        (from, before)
    }

    /// Whether no instant can satisfy the bounds.
    pub fn is_empty(&self) -> bool {
        matches!(self.instant(), (Some(f), Some(b)) if f >= b)
    }

    /// Whether no period can satisfy the bounds (a period may overlap `ge` and `lt` ranges that
    /// do not meet; it cannot lie inside an empty `eq` range).
    pub fn is_empty_for_periods(&self) -> bool {
        matches!((self.within_from, self.within_before), (Some(f), Some(b)) if f >= b)
            || matches!((self.within_from, self.before), (Some(f), Some(b)) if f >= b)
            || matches!((self.from, self.within_before), (Some(f), Some(b)) if f >= b)
    }
}

/// One search parameter the server supports, as the CapabilityStatement advertises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchParamDef {
    /// The parameter name as sent in the query string.
    pub name: &'static str,
    /// The FHIR search parameter type (`token`, `reference`, `date`, `string`, `special`).
    pub type_: &'static str,
    /// Canonical URL of the standard SearchParameter it implements, when there is one.
    pub definition: Option<&'static str>,
    /// What it does here.
    pub documentation: &'static str,
}

const fn param(
    name: &'static str,
    type_: &'static str,
    definition: Option<&'static str>,
    documentation: &'static str,
) -> SearchParamDef {
    SearchParamDef {
        name,
        type_,
        definition,
        documentation,
    }
}

/// The search parameters of `GET Observation` (what [`ObservationSearch::parse`] reads; the
/// result parameters `_count`, `_sort`, `_summary`, `_total` are in [`RESULT_PARAMS`]).
pub const OBSERVATION_PARAMS: &[SearchParamDef] = &[
    param(
        "_id",
        "token",
        Some("http://hl7.org/fhir/SearchParameter/Resource-id"),
        "The observation id.",
    ),
    param(
        "_lastUpdated",
        "date",
        Some("http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"),
        "When the observation was stored; prefixes eq, ge, gt, le, lt.",
    ),
    param(
        "code",
        "token",
        Some("http://hl7.org/fhir/SearchParameter/clinical-code"),
        "system|code, code, |code or system|; comma-separated alternatives.",
    ),
    param(
        "date",
        "date",
        Some("http://hl7.org/fhir/SearchParameter/clinical-date"),
        "The effective time or period (Open mHealth effective_time_frame / time_interval) with FHIR period semantics: ge, gt, le, lt match periods that overlap the range above or below the value, eq periods inside the value's range.",
    ),
    param(
        "patient",
        "reference",
        Some("http://hl7.org/fhir/SearchParameter/clinical-patient"),
        "The subject patient: 123 or Patient/123.",
    ),
    param(
        "subject",
        "reference",
        Some("http://hl7.org/fhir/SearchParameter/Observation-subject"),
        "Same as patient.",
    ),
    param(
        "patient.identifier",
        "token",
        None,
        "Chained: the subject patient's external identifier (system|value or value).",
    ),
    param(
        "patient.organization",
        "reference",
        None,
        "Chained: patients of this organisation.",
    ),
    param(
        "patient._has:Group:member:_id",
        "special",
        None,
        "Patients enrolled in this study (Group), only data types the study requests and the patient consented to.",
    ),
];

/// The search parameters of `GET Patient` (what [`PatientSearch::parse`] reads).
pub const PATIENT_PARAMS: &[SearchParamDef] = &[
    param(
        "_id",
        "token",
        Some("http://hl7.org/fhir/SearchParameter/Resource-id"),
        "The patient id.",
    ),
    param(
        "identifier",
        "token",
        Some("http://hl7.org/fhir/SearchParameter/Patient-identifier"),
        "The external identifier (system|value or value; the system is not stored).",
    ),
    param(
        "name",
        "string",
        Some("http://hl7.org/fhir/SearchParameter/Patient-name"),
        "Family or given name starts with the value (case-insensitive).",
    ),
    param(
        "family",
        "string",
        Some("http://hl7.org/fhir/SearchParameter/individual-family"),
        "Family name starts with the value (case-insensitive).",
    ),
    param(
        "given",
        "string",
        Some("http://hl7.org/fhir/SearchParameter/individual-given"),
        "Given name starts with the value (case-insensitive).",
    ),
    param(
        "birthdate",
        "date",
        Some("http://hl7.org/fhir/SearchParameter/individual-birthdate"),
        "Date of birth; prefixes eq, ge, gt, le, lt.",
    ),
    param(
        "email",
        "token",
        Some("http://hl7.org/fhir/SearchParameter/individual-email"),
        "The e-mail address of the patient's account (case-insensitive).",
    ),
    param(
        "organization",
        "reference",
        Some("http://hl7.org/fhir/SearchParameter/Patient-organization"),
        "Patients of this organisation.",
    ),
    param(
        "_has:Group:member:_id",
        "special",
        None,
        "Patients enrolled in this study (Group).",
    ),
];

/// Result parameters every search understands.
pub const RESULT_PARAMS: &[&str] = &["_count", "_sort", "_summary", "_total"];

/// The `_sort` values of `GET Observation`.
pub const OBSERVATION_SORTS: &[&str] = &["_lastUpdated", "-_lastUpdated", "date", "-date"];

/// How `GET Observation` results are ordered (`_sort`); ties are broken by id in the same
/// direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SortOrder {
    /// Newest upload first (`-_lastUpdated`, the default).
    #[default]
    LastUpdatedDesc,
    /// Oldest upload first (`_lastUpdated`).
    LastUpdatedAsc,
    /// Earliest effective start first (`date`); observations without one come last.
    DateAsc,
    /// Latest effective start first (`-date`); observations without one come last.
    DateDesc,
}

impl SortOrder {
    /// Parses a `_sort` value (one key; `_last_updated` is read as `_lastUpdated`).
    pub fn parse(value: &str) -> FhirResult<SortOrder> {
        match value.trim() {
            "-_lastUpdated" | "-_last_updated" => Ok(SortOrder::LastUpdatedDesc),
            "_lastUpdated" | "_last_updated" => Ok(SortOrder::LastUpdatedAsc),
            "date" => Ok(SortOrder::DateAsc),
            "-date" => Ok(SortOrder::DateDesc),
            other => Err(FhirError::bad_request(format!(
                "Unsupported _sort '{other}': use one of {}.",
                OBSERVATION_SORTS.join(", ")
            ))),
        }
    }

    /// Whether the keyset cursor (`_cursor`) can page this order (the `_lastUpdated` orders).
    pub fn supports_cursor(self) -> bool {
        matches!(self, SortOrder::LastUpdatedDesc | SortOrder::LastUpdatedAsc)
    }
}

/// `_total`: whether a searchset carries the number of matches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TotalMode {
    /// `accurate` and `estimate` (the count is always exact), and the default.
    #[default]
    Accurate,
    /// `none`: the count is skipped and `Bundle.total` omitted.
    None,
}

pub use crate::domain::MAX_PAGE_NUMBER;

/// Paging: `_count` (default 20, at most 1000; `0` = count only), `_page` (1-based) and the
/// optional keyset cursor `_cursor` that `next` links carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Rows per page; `0` asks for the total only.
    pub count: u64,
    /// 1-based page number.
    pub page: u64,
    /// Keyset position: continue after this row.
    pub cursor: Option<KeysetCursor>,
    /// `_total`.
    pub total: TotalMode,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            count: DEFAULT_PAGE_SIZE,
            page: 1,
            cursor: None,
            total: TotalMode::Accurate,
        }
    }
}

impl Paging {
    fn set(&mut self, name: &str, value: &str) -> FhirResult<bool> {
        match name {
            "_count" => {
                self.count = match value.trim().parse::<u64>() {
                    Ok(0) => 0,
                    Ok(n) => n.min(MAX_PAGE_SIZE),
                    Err(_) => DEFAULT_PAGE_SIZE,
                };
            }
            "_summary" => match value.trim() {
                "count" => self.count = 0,
                "false" => {}
                // Other summaries are not supported; the full resources are returned.
                _ => {}
            },
            "_total" => {
                self.total = match value.trim() {
                    "none" => TotalMode::None,
                    "estimate" | "accurate" => TotalMode::Accurate,
                    other => {
                        return Err(FhirError::bad_request(format!(
                            "Unsupported _total '{other}': use none, estimate or accurate."
                        )));
                    }
                }
            }
            "_page" => {
                self.page = value
                    .trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|p| (1..=MAX_PAGE_NUMBER).contains(p))
                    .ok_or_else(|| FhirError::not_found("Invalid page."))?;
            }
            "_cursor" => {
                self.cursor = Some(
                    KeysetCursor::parse(value)
                        .ok_or_else(|| FhirError::bad_request("Invalid _cursor parameter."))?,
                )
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// A numeric id from `123`, `Patient/123` (when `prefix` is `Patient`) or an absolute
/// reference ending in `Patient/123`; `None` when the value cannot name a row (matches nothing).
fn parse_id(value: &str, prefix: &str) -> Option<Id> {
    let value = value.trim();
    let needle = format!("{prefix}/");
    let bare = match value.rfind(&needle) {
        Some(pos) => value.get(pos.saturating_add(needle.len())..)?,
        None => value,
    };
    bare.parse::<Id>().ok()
}

fn push_id(value: Option<Id>, into: &mut Vec<Id>, nothing: &mut bool) {
    match value {
        Some(id) => into.push(id),
        None => *nothing = true,
    }
}

/// Splits a parameter value on unescaped `sep`, unescaping `\,`, `\|`, `\$` and `\\`.
fn split_escaped(value: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            match chars.next() {
                Some(next) if next == sep => current.push(next),
                Some(next) => {
                    current.push('\\');
                    current.push(next);
                }
                None => current.push('\\'),
            }
        } else if ch == sep {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(ch);
        }
    }
    parts.push(current);
    parts
}

fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(ch) = chars.next() {
        if ch == '\\' {
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else {
            out.push(ch);
        }
    }
    out
}

fn code_tokens(value: &str) -> Vec<CodeToken> {
    split_escaped(value, ',')
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(|token| {
            let parts = split_escaped(&token, '|');
            match parts.as_slice() {
                [code] => CodeToken {
                    system: None,
                    code: Some(unescape(code)),
                },
                [system, code, ..] => CodeToken {
                    system: Some(unescape(system)),
                    code: (!code.is_empty()).then(|| unescape(code)),
                },
                [] => CodeToken {
                    system: None,
                    code: None,
                },
            }
        })
        .collect()
}

/// The value part of a `system|value` identifier parameter (the system is not stored for
/// patients, so it is ignored, as in the original); a value without `|` is the value.
fn identifier_value(value: &str) -> String {
    let parts = split_escaped(value, '|');
    unescape(parts.last().map(String::as_str).unwrap_or(""))
}

const STUDY_PARAMS: &[&str] = &[
    "patient._has:Group:member:_id",
    "patient._has:_group:member:_id",
    "_has:Group:member:_id",
    "_has:_group:member:_id",
];

/// The study (Group) filter named by any spelling of `_has:Group:member:_id`.
fn is_study_param(name: &str) -> bool {
    STUDY_PARAMS.contains(&name)
}

/// A study id: `123` or `Group/123`; `None` when malformed.
fn study_id(value: &str) -> Option<Id> {
    parse_id(value, "Group")
}

/// Parsed `GET Observation` parameters. Several values of one parameter must all hold (AND);
/// comma-separated `code` values are alternatives (OR).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservationSearch {
    /// `patient` / `subject` values (all must name the same patient).
    pub patient_ids: Vec<Id>,
    /// `patient.identifier` values (the value part).
    pub patient_identifiers: Vec<String>,
    /// Study (Group) filters.
    pub study_ids: Vec<Id>,
    /// `patient.organization` / `organization` values.
    pub organization_ids: Vec<Id>,
    /// `code` parameters: each is a list of alternatives.
    pub codes: Vec<Vec<CodeToken>>,
    /// `date` on the effective time.
    pub date: TimeBounds,
    /// `_lastUpdated`.
    pub last_updated: TimeBounds,
    /// `_id` values.
    pub ids: Vec<Id>,
    /// `_sort`.
    pub sort: SortOrder,
    /// A value that can match no row was given (e.g. `patient=abc`): the result is empty.
    pub matches_nothing: bool,
    /// Paging.
    pub paging: Paging,
}

/// Refuses parameters no database should be asked to compare: a control character (PostgreSQL
/// rejects NUL, SQLite compares it) or a value over [`MAX_SEARCH_VALUE_BYTES`].
///
/// # Errors
/// `400` naming the parameter.
pub fn check_params(params: &[(String, String)]) -> FhirResult<()> {
    for (name, value) in params {
        if has_forbidden_control(name) || has_forbidden_control(value) {
            return Err(FhirError::bad_request(format!(
                "Search parameter '{}' contains a control character.",
                name.escape_default()
            )));
        }
        if value.len() > MAX_SEARCH_VALUE_BYTES {
            return Err(FhirError::bad_request(format!(
                "Search parameter '{name}' is longer than {MAX_SEARCH_VALUE_BYTES} bytes."
            )));
        }
    }
    Ok(())
}

impl ObservationSearch {
    /// Parses decoded `(name, value)` pairs.
    pub fn parse(params: &[(String, String)]) -> FhirResult<Self> {
        check_params(params)?;
        let mut s = ObservationSearch::default();
        for (name, value) in params {
            let name = name.as_str();
            if s.paging.set(name, value)? {
                continue;
            }
            let nothing = &mut s.matches_nothing;
            match name {
                "patient" | "subject" | "patient._id" | "subject:Patient" => {
                    push_id(parse_id(value, "Patient"), &mut s.patient_ids, nothing)
                }
                "patient.identifier" | "subject.identifier" => {
                    s.patient_identifiers.push(identifier_value(value))
                }
                "patient.organization" | "organization" | "subject.organization" => push_id(
                    parse_id(value, "Organization"),
                    &mut s.organization_ids,
                    nothing,
                ),
                "_id" => push_id(value.trim().parse::<Id>().ok(), &mut s.ids, nothing),
                "code" => s.codes.push(code_tokens(value)),
                "date" => s.date.add("date", value)?,
                "_lastUpdated" | "_last_updated" => s.last_updated.add("_lastUpdated", value)?,
                "_sort" => s.sort = SortOrder::parse(value)?,
                n if is_study_param(n) => push_id(study_id(value), &mut s.study_ids, nothing),
                _ => {}
            }
        }
        if s.paging.cursor.is_some() && !s.sort.supports_cursor() {
            return Err(FhirError::bad_request(
                "_cursor pages only the _lastUpdated orders: use _page with _sort=date or -date.",
            ));
        }
        if s.date.is_empty_for_periods() || s.last_updated.is_empty() {
            s.matches_nothing = true;
        }
        Ok(s)
    }
}

/// Parsed `GET Patient` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientSearch {
    /// Study (Group) filters.
    pub study_ids: Vec<Id>,
    /// `identifier` values (the value part).
    pub identifiers: Vec<String>,
    /// `_id` values.
    pub ids: Vec<Id>,
    /// `organization` values.
    pub organization_ids: Vec<Id>,
    /// `name` values (family or given name starts with; all must hold).
    pub names: Vec<String>,
    /// `family` values.
    pub families: Vec<String>,
    /// `given` values.
    pub givens: Vec<String>,
    /// `email` values (the account's address, case-insensitive).
    pub emails: Vec<String>,
    /// `birthdate`.
    pub birthdate: TimeBounds,
    /// A value that can match no row was given.
    pub matches_nothing: bool,
    /// Paging (`_cursor` is ignored for patients).
    pub paging: Paging,
}

impl PatientSearch {
    /// Parses decoded `(name, value)` pairs.
    pub fn parse(params: &[(String, String)]) -> FhirResult<Self> {
        check_params(params)?;
        let mut s = PatientSearch::default();
        for (name, value) in params {
            let name = name.as_str();
            if name != "_cursor" && s.paging.set(name, value)? {
                continue;
            }
            let nothing = &mut s.matches_nothing;
            match name {
                "identifier" => s.identifiers.push(identifier_value(value)),
                "_id" => push_id(parse_id(value, "Patient"), &mut s.ids, nothing),
                "organization" => push_id(
                    parse_id(value, "Organization"),
                    &mut s.organization_ids,
                    nothing,
                ),
                "name" => s.names.push(unescape(value.trim())),
                "family" => s.families.push(unescape(value.trim())),
                "given" => s.givens.push(unescape(value.trim())),
                "email" => s.emails.push(identifier_value(value).trim().to_string()),
                "birthdate" | "birth_date" => s.birthdate.add("birthdate", value)?,
                n if is_study_param(n) => push_id(study_id(value), &mut s.study_ids, nothing),
                _ => {}
            }
        }
        if s.birthdate.is_empty() {
            s.matches_nothing = true;
        }
        Ok(s)
    }
}

/// Several values of one filter that differ: no row can match them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflicting;

/// The value of a filter given zero or more times: `None` when absent, the value when every
/// occurrence agrees, [`Conflicting`] otherwise.
pub fn single<T: PartialEq + Clone>(values: &[T]) -> Result<Option<T>, Conflicting> {
    match values.split_first() {
        None => Ok(None),
        Some((first, rest)) if rest.iter().all(|v| v == first) => Ok(Some(first.clone())),
        Some(_) => Err(Conflicting),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn observation_parameters() {
        let s = ObservationSearch::parse(&params(&[
            ("patient", "40001"),
            ("subject", "Patient/40001"),
            ("patient._has:_group:member:_id", "30001"),
            (
                "code",
                "https://w3id.org/openmhealth|omh:heart-rate:2.0,omh:blood-pressure:4.0",
            ),
            ("date", "ge2025-01-01"),
            ("date", "lt2025-02"),
            ("_lastUpdated", "2026"),
            ("_count", "5000"),
            ("_page", "3"),
            ("unknown", "x"),
        ]))
        .unwrap();
        assert_eq!(s.patient_ids, vec![40001, 40001]);
        assert_eq!(s.study_ids, vec![30001]);
        assert_eq!(
            s.codes,
            vec![vec![
                CodeToken {
                    system: Some("https://w3id.org/openmhealth".into()),
                    code: Some("omh:heart-rate:2.0".into())
                },
                CodeToken {
                    system: None,
                    code: Some("omh:blood-pressure:4.0".into())
                }
            ]]
        );
        assert_eq!(s.paging.count, MAX_PAGE_SIZE);
        assert_eq!(s.paging.page, 3);
        assert!(s.date.from.is_some() && s.date.before.is_some());
        assert_eq!(s.sort, SortOrder::LastUpdatedDesc);
        assert!(!s.matches_nothing);
        assert!(s.codes[0][0].matches("https://w3id.org/openmhealth", "omh:heart-rate:2.0"));
        assert!(!s.codes[0][0].matches("https://w3id.org/openmhealth", "omh:heart-rate:2.%"));
        assert!(s.codes[0][1].matches("other", "omh:blood-pressure:4.0"));
    }

    #[test]
    fn bad_values() {
        assert!(
            ObservationSearch::parse(&params(&[("patient", "abc")]))
                .unwrap()
                .matches_nothing
        );
        assert!(ObservationSearch::parse(&params(&[("date", "yesterday")])).is_err());
        assert!(ObservationSearch::parse(&params(&[("date", "sa2025")])).is_err());
        assert!(ObservationSearch::parse(&params(&[("_page", "0")])).is_err());
        assert!(ObservationSearch::parse(&params(&[("_page", "18446744073709551615")])).is_err());
        assert!(ObservationSearch::parse(&params(&[("_cursor", "x")])).is_err());
        assert_eq!(
            ObservationSearch::parse(&params(&[("_count", "abc")]))
                .unwrap()
                .paging
                .count,
            DEFAULT_PAGE_SIZE
        );
        assert!(
            ObservationSearch::parse(&params(&[
                ("_lastUpdated", "gt2025-01-02"),
                ("_lastUpdated", "lt2025-01-01")
            ]))
            .unwrap()
            .matches_nothing
        );
        // A period from Dec 31 to Jan 3 overlaps both ranges.
        assert!(
            !ObservationSearch::parse(&params(&[
                ("date", "gt2025-01-02"),
                ("date", "lt2025-01-01")
            ]))
            .unwrap()
            .matches_nothing
        );
        assert!(
            ObservationSearch::parse(&params(&[("date", "2025-01-02"), ("date", "lt2025-01-01")]))
                .unwrap()
                .matches_nothing
        );
        assert!(ObservationSearch::parse(&params(&[("_sort", "status")])).is_err());
        assert!(ObservationSearch::parse(&params(&[("_total", "exact")])).is_err());
    }

    #[test]
    fn patient_parameters() {
        let s = PatientSearch::parse(&params(&[
            ("_has:Group:member:_id", "Group/30001"),
            ("identifier", "http://example.org|fhir-666"),
            ("_cursor", "whatever"),
        ]))
        .unwrap();
        assert_eq!(s.study_ids, vec![30001]);
        assert_eq!(s.identifiers, vec!["fhir-666".to_string()]);
        assert_eq!(single(&[1, 1]), Ok(Some(1)));
        assert_eq!(single(&[1, 2]), Err(Conflicting));
        assert_eq!(single::<i64>(&[]), Ok(None));
    }

    fn param() -> impl proptest::strategy::Strategy<Value = (String, String)> {
        use proptest::strategy::Strategy as _;
        let names = proptest::sample::select(vec![
            "date",
            "_lastUpdated",
            "_last_updated",
            "code",
            "identifier",
            "patient",
            "subject",
            "patient.identifier",
            "patient.organization",
            "_id",
            "_count",
            "_page",
            "_cursor",
            "_summary",
            "organization",
            "family",
            "given",
            "birthdate",
            "unknown",
        ]);
        let values = proptest::prop_oneof![
            "\\PC{0,30}",
            "(eq|ge|gt|le|lt|ne|sa)?[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?",
            "[a-z:/.]{0,8}\\|[a-z0-9,\\\\]{0,8}",
            "-?[0-9]{1,22}",
        ];
        (names, values).prop_map(|(n, v)| (n.to_string(), v))
    }

    proptest::proptest! {
        #[test]
        fn search_parsers_never_panic(params in proptest::collection::vec(param(), 0..6)) {
            if let Ok(search) = ObservationSearch::parse(&params) {
                proptest::prop_assert!(search.paging.count <= MAX_PAGE_SIZE);
                proptest::prop_assert!(search.paging.page >= 1 && search.paging.page <= MAX_PAGE_NUMBER);
            }
            if let Ok(search) = PatientSearch::parse(&params) {
                proptest::prop_assert!(search.paging.count <= MAX_PAGE_SIZE);
            }
        }

        #[test]
        fn time_bounds_never_panic(values in proptest::collection::vec("\\PC{0,24}", 0..4)) {
            let mut bounds = TimeBounds::default();
            for v in &values {
                let _ = bounds.add("date", v);
            }
            let _ = bounds.is_empty();
        }

        #[test]
        fn control_characters_in_search_values_are_refused(
            prefix in "[a-z]{0,4}", c in 0u32..0x20, suffix in "[a-z]{0,4}"
        ) {
            let c = char::from_u32(c).unwrap_or('\u{0}');
            let value = [prefix, c.to_string(), suffix].concat();
            let refused = ObservationSearch::parse(&[("code".to_string(), value)]).is_err();
            proptest::prop_assert_eq!(refused, !matches!(c, '\t' | '\n' | '\r'));
        }
    }
}
