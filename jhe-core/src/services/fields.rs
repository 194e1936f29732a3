//! Field errors of one request, collected in the Admin API's shape
//! (`{"field": ["message", …]}`, as Django REST framework answers) and checked with the
//! [`TextRule`]s every use case shares, so REST, the portal and MCP refuse the same values with
//! the same words.

use std::collections::BTreeMap;

use crate::domain::TextRule;
use crate::error::{CoreError, CoreResult};

/// The field errors found so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `message` against `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    /// Whether `field` has an error.
    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// Whether no error was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Checks an optional text field against `rule`; a missing value is an error only when
    /// `required`. Returns the trimmed value when it is present and accepted.
    pub fn text(
        &mut self,
        field: &str,
        value: Option<&str>,
        rule: TextRule,
        required: bool,
    ) -> Option<String> {
        match value {
            None => {
                if required {
                    self.add(field, "This field is required.");
                }
                None
            }
            Some(v) => match rule.violation(v) {
                Some(message) => {
                    self.add(field, message);
                    None
                }
                None => Some(v.trim().to_string()),
            },
        }
    }

    /// Merges the errors of a map (e.g. from another check) into these.
    pub fn extend(&mut self, other: BTreeMap<String, Vec<String>>) {
        for (field, messages) in other {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    /// `Ok` when no error was recorded.
    ///
    /// # Errors
    /// [`CoreError::Validation`] with every recorded field error (a 400).
    pub fn into_result(self) -> CoreResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Validation(self.0))
        }
    }

    /// The errors as the map [`CoreError::Validation`] carries.
    pub fn into_map(self) -> BTreeMap<String, Vec<String>> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_field_and_trims_accepted_values() {
        let mut errors = FieldErrors::new();
        assert_eq!(
            errors.text("name", Some(" Lab "), TextRule::NAME, true),
            Some("Lab".into())
        );
        assert_eq!(
            errors.text("description", None, TextRule::DESCRIPTION, true),
            None
        );
        assert_eq!(errors.text("iconUrl", None, TextRule::URL, false), None);
        assert_eq!(errors.text("other", Some(""), TextRule::NAME, false), None);
        assert!(errors.has("description") && errors.has("other") && !errors.has("iconUrl"));
        let Err(CoreError::Validation(map)) = errors.into_result() else {
            panic!("expected field errors");
        };
        assert_eq!(
            map["description"],
            vec!["This field is required.".to_string()]
        );
        assert_eq!(
            map["other"],
            vec!["This field may not be blank.".to_string()]
        );
    }
}
