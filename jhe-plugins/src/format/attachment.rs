//! [`AttachmentFormat`]: opaque text attachments for concepts outside Open mHealth.

use jhe_core::domain::{CodeableConcept, IEEE_SYSTEM, OMH_SYSTEM};
use jhe_core::fhir::attachment::is_media_type;
use jhe_core::format::{DataFormat, FormatError, PayloadFacts};

/// Stores the decoded `valueAttachment` of an observation as it is, without looking inside.
///
/// The rule:
/// * it handles concepts whose coding system is **not** Open mHealth / IEEE 1752 (those
///   always go through [`OmhFormat`](crate::OmhFormat)), with any well-formed
///   `type/subtype` content type, or only the ones given to
///   [`with_content_types`](Self::with_content_types);
/// * the payload must be UTF-8 text (observations keep their payload in a text column), and a
///   JSON content type must carry JSON (checked when the attachment is decoded);
/// * the observation's data source must list the concept among its **supported scopes**
///   ([`DataFormat::requires_declared_scope`]): only devices configured for a data type can
///   store opaque data of it;
/// * the effective time comes from the Observation's `effective[x]`, not from the payload.
#[derive(Debug, Clone)]
pub struct AttachmentFormat {
    content_types: Option<Vec<String>>,
    excluded_systems: Vec<String>,
}

impl Default for AttachmentFormat {
    fn default() -> Self {
        Self {
            content_types: None,
            excluded_systems: vec![OMH_SYSTEM.to_string(), IEEE_SYSTEM.to_string()],
        }
    }
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

impl AttachmentFormat {
    /// Only these content types (`text/csv`, …; parameters and case ignored).
    pub fn with_content_types(types: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self {
            content_types: Some(types.into_iter().map(|t| essence(&t.into())).collect()),
            ..Self::default()
        }
    }
}

impl DataFormat for AttachmentFormat {
    fn name(&self) -> &'static str {
        "attachment"
    }

    fn accepts(&self, content_type: &str, concept: &CodeableConcept) -> bool {
        !self.excluded_systems.contains(&concept.coding_system)
            && is_media_type(content_type)
            && self
                .content_types
                .as_ref()
                .is_none_or(|list| list.contains(&essence(content_type)))
    }

    fn validate(
        &self,
        _concept: &CodeableConcept,
        payload: &[u8],
    ) -> Result<PayloadFacts, FormatError> {
        std::str::from_utf8(payload).map_err(|_| {
            FormatError::Invalid(
                "The attachment is not UTF-8 text; only text attachments can be stored.".into(),
            )
        })?;
        Ok(PayloadFacts::default())
    }

    fn requires_declared_scope(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concept(system: &str) -> CodeableConcept {
        CodeableConcept {
            id: 1,
            coding_system: system.into(),
            coding_code: "x".into(),
            text: String::new(),
        }
    }

    #[test]
    fn the_rule() {
        let any = AttachmentFormat::default();
        let loinc = concept("http://loinc.org");
        assert!(any.accepts("text/csv", &loinc));
        assert!(any.accepts("application/json", &loinc));
        assert!(!any.accepts("csv", &loinc));
        assert!(!any.accepts("text/csv", &concept(OMH_SYSTEM)));
        assert!(!any.accepts("text/csv", &concept(IEEE_SYSTEM)));
        let csv = AttachmentFormat::with_content_types(["Text/CSV"]);
        assert!(csv.accepts("text/csv; charset=utf-8", &loinc));
        assert!(!csv.accepts("text/plain", &loinc));
        assert!(any.validate(&loinc, b"a,b\n1,2\n").is_ok());
        assert!(any.validate(&loinc, &[0xff, 0xfe]).is_err());
        assert!(any.requires_declared_scope());
        assert_eq!(any.name(), "attachment");
    }
}
