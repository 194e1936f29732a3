//! Errors of the FHIR use cases: an OperationOutcome issue with its HTTP status, or a
//! [`CoreError`] (authentication, storage) that the HTTP layer maps once.

use crate::error::CoreError;
use crate::store::StoreError;

use super::structure::StructureIssue;

/// The HTTP statuses FHIR errors use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FhirStatus {
    /// 400: the request is invalid.
    BadRequest,
    /// 403: the caller may not do this.
    Forbidden,
    /// 404: no such resource (or not visible to the caller).
    NotFound,
    /// 405: the interaction is not supported.
    MethodNotAllowed,
    /// 409: collides with stored data (duplicate identifier).
    Conflict,
    /// 412: a conditional request matched more than one resource.
    PreconditionFailed,
    /// 413: the body is too large.
    PayloadTooLarge,
    /// 415: the body is neither `application/json` nor `application/fhir+json`.
    UnsupportedMediaType,
    /// 422: valid FHIR, but the payload is not acceptable (schema validation).
    Unprocessable,
}

impl FhirStatus {
    /// The numeric status.
    pub fn code(self) -> u16 {
        match self {
            FhirStatus::BadRequest => 400,
            FhirStatus::Forbidden => 403,
            FhirStatus::NotFound => 404,
            FhirStatus::MethodNotAllowed => 405,
            FhirStatus::Conflict => 409,
            FhirStatus::PreconditionFailed => 412,
            FhirStatus::PayloadTooLarge => 413,
            FhirStatus::UnsupportedMediaType => 415,
            FhirStatus::Unprocessable => 422,
        }
    }

    /// `"<code> <reason phrase>"`, as used in `Bundle.entry.response.status`.
    pub fn status_line(self) -> &'static str {
        match self {
            FhirStatus::BadRequest => "400 Bad Request",
            FhirStatus::Forbidden => "403 Forbidden",
            FhirStatus::NotFound => "404 Not Found",
            FhirStatus::MethodNotAllowed => "405 Method Not Allowed",
            FhirStatus::Conflict => "409 Conflict",
            FhirStatus::PreconditionFailed => "412 Precondition Failed",
            FhirStatus::PayloadTooLarge => "413 Payload Too Large",
            FhirStatus::UnsupportedMediaType => "415 Unsupported Media Type",
            FhirStatus::Unprocessable => "422 Unprocessable Entity",
        }
    }

    /// The OperationOutcome issue type (`http://hl7.org/fhir/issue-type`) that goes with it.
    pub fn issue_code(self) -> &'static str {
        match self {
            FhirStatus::BadRequest => "invalid",
            FhirStatus::Forbidden => "forbidden",
            FhirStatus::NotFound => "not-found",
            FhirStatus::MethodNotAllowed => "not-supported",
            FhirStatus::Conflict => "duplicate",
            FhirStatus::PreconditionFailed => "multiple-matches",
            FhirStatus::PayloadTooLarge => "too-costly",
            FhirStatus::UnsupportedMediaType => "not-supported",
            FhirStatus::Unprocessable => "processing",
        }
    }
}

/// An OperationOutcome issue with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// HTTP status.
    pub status: FhirStatus,
    /// Issue type; defaults to [`FhirStatus::issue_code`].
    pub code: &'static str,
    /// Human-readable message (`diagnostics`).
    pub diagnostics: String,
    /// FHIRPath locations of the problem (`expression`).
    pub expression: Vec<String>,
}

/// Why a FHIR use case failed.
#[derive(Debug)]
pub enum FhirError {
    /// A FHIR-level refusal, reported as an OperationOutcome.
    Outcome(Outcome),
    /// Authentication or storage failure, mapped like every [`CoreError`].
    Core(CoreError),
}

impl FhirError {
    /// An outcome with the default issue type of `status`.
    pub fn new(status: FhirStatus, diagnostics: impl Into<String>) -> Self {
        FhirError::Outcome(Outcome {
            status,
            code: status.issue_code(),
            diagnostics: diagnostics.into(),
            expression: Vec::new(),
        })
    }

    /// 400 Bad Request.
    pub fn bad_request(diagnostics: impl Into<String>) -> Self {
        Self::new(FhirStatus::BadRequest, diagnostics)
    }

    /// 403 Forbidden.
    pub fn forbidden(diagnostics: impl Into<String>) -> Self {
        Self::new(FhirStatus::Forbidden, diagnostics)
    }

    /// 404 Not Found.
    pub fn not_found(diagnostics: impl Into<String>) -> Self {
        Self::new(FhirStatus::NotFound, diagnostics)
    }

    /// 409 Conflict.
    pub fn conflict(diagnostics: impl Into<String>) -> Self {
        Self::new(FhirStatus::Conflict, diagnostics)
    }

    /// 422 Unprocessable Entity.
    pub fn unprocessable(diagnostics: impl Into<String>) -> Self {
        Self::new(FhirStatus::Unprocessable, diagnostics)
    }

    /// 400 from structural problems: one issue whose diagnostics list every problem (one per
    /// line, like the original's pydantic text) and whose `expression` lists the paths.
    pub fn structure(resource: &str, issues: &[StructureIssue]) -> Self {
        let count = issues.len();
        let mut diagnostics = format!(
            "{count} validation error{} for {resource}",
            if count == 1 { "" } else { "s" }
        );
        for issue in issues {
            diagnostics.push('\n');
            diagnostics.push_str(&issue.to_string());
        }
        FhirError::Outcome(Outcome {
            status: FhirStatus::BadRequest,
            code: "structure",
            diagnostics,
            expression: issues.iter().map(|i| i.path.clone()).collect(),
        })
    }

    /// The outcome, if this is one.
    pub fn outcome(&self) -> Option<&Outcome> {
        match self {
            FhirError::Outcome(o) => Some(o),
            FhirError::Core(_) => None,
        }
    }
}

impl std::fmt::Display for FhirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FhirError::Outcome(o) => write!(f, "{} {}", o.status.code(), o.diagnostics),
            FhirError::Core(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FhirError {}

impl From<CoreError> for FhirError {
    fn from(e: CoreError) -> Self {
        FhirError::Core(e)
    }
}

impl From<StoreError> for FhirError {
    fn from(e: StoreError) -> Self {
        FhirError::Core(CoreError::Store(e))
    }
}

/// Result of a FHIR use case.
pub type FhirResult<T> = Result<T, FhirError>;
