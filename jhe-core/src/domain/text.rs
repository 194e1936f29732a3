//! Rules for text that clients send: FHIR strings may not contain control characters (only tab,
//! line feed and carriage return), and identifiers have a length cap both databases can index.

use serde_json::Value;

/// Longest identifier `system` or `value` accepted, in bytes (PostgreSQL's btree rows hold
/// about 2.7 kB; both backends get the same cap).
pub const MAX_IDENTIFIER_BYTES: usize = 1024;

/// Most identifiers one resource may carry.
pub const MAX_IDENTIFIERS_PER_RESOURCE: usize = 100;

/// Longest search parameter value accepted, in bytes.
pub const MAX_SEARCH_VALUE_BYTES: usize = 4096;

/// Longest name of an organisation, study, data source or client accepted, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Longest given or family name of a person accepted, in characters (Django's `first_name`).
pub const MAX_PERSON_NAME_CHARS: usize = 150;

/// Longest e-mail address accepted, in characters (RFC 5321 path limit, Django's `EmailField`).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Longest free text (a study's description) accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// Longest URL (an icon, an invitation link template, one redirect URI) accepted, in characters.
pub const MAX_URL_CHARS: usize = 2048;

/// Longest telephone number accepted, in characters.
pub const MAX_PHONE_CHARS: usize = 64;

/// How a text field of a request is checked: its longest length in characters, and whether an
/// empty (or all-blank) value is accepted. A value holding NUL is always refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    /// Longest accepted length, in characters (after trimming).
    pub max_chars: usize,
    /// Whether `""` (after trimming) is accepted.
    pub blank: bool,
}

impl TextRule {
    /// A name that may not be blank, up to [`MAX_NAME_CHARS`].
    pub const NAME: TextRule = TextRule {
        max_chars: MAX_NAME_CHARS,
        blank: false,
    };
    /// A person's given or family name that may not be blank, up to [`MAX_PERSON_NAME_CHARS`].
    pub const PERSON_NAME: TextRule = TextRule {
        max_chars: MAX_PERSON_NAME_CHARS,
        blank: false,
    };
    /// An e-mail address that may not be blank, up to [`MAX_EMAIL_CHARS`] (its syntax is
    /// checked apart).
    pub const EMAIL: TextRule = TextRule {
        max_chars: MAX_EMAIL_CHARS,
        blank: false,
    };
    /// Free text that may be empty, up to [`MAX_DESCRIPTION_CHARS`].
    pub const DESCRIPTION: TextRule = TextRule {
        max_chars: MAX_DESCRIPTION_CHARS,
        blank: true,
    };
    /// A URL that may be empty, up to [`MAX_URL_CHARS`].
    pub const URL: TextRule = TextRule {
        max_chars: MAX_URL_CHARS,
        blank: true,
    };
    /// A free-text external identifier that may be empty, up to [`MAX_IDENTIFIER_BYTES`]
    /// characters.
    pub const IDENTIFIER: TextRule = TextRule {
        max_chars: MAX_IDENTIFIER_BYTES,
        blank: true,
    };
    /// A telephone number that may be empty, up to [`MAX_PHONE_CHARS`].
    pub const PHONE: TextRule = TextRule {
        max_chars: MAX_PHONE_CHARS,
        blank: true,
    };

    /// Why `value` breaks the rule (a message in the Admin API's field-error wording), or
    /// `None` when it is accepted. `value` is judged trimmed.
    pub fn violation(&self, value: &str) -> Option<String> {
        if value.contains('\0') {
            return Some("Null characters are not allowed.".into());
        }
        let value = value.trim();
        if value.is_empty() && !self.blank {
            return Some("This field may not be blank.".into());
        }
        if value.chars().count() > self.max_chars {
            return Some(format!(
                "Ensure this field has no more than {} characters.",
                self.max_chars
            ));
        }
        None
    }
}

/// Whether `c` is a control character that FHIR strings (and this server) refuse: every C0/C1
/// control and DEL except tab, line feed and carriage return.
pub fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// Whether `text` holds a forbidden control character ([`is_forbidden_control`]).
pub fn has_forbidden_control(text: &str) -> bool {
    text.chars().any(is_forbidden_control)
}

/// The path (`identifier[0].value`) of the first key or string of `value` that holds a
/// forbidden control character, if any.
pub fn control_character_path(value: &Value) -> Option<String> {
    control_character_path_except(value, &[])
}

/// Like [`control_character_path`], but the values of object keys in `skip` are not looked
/// into (their handlers check them with their own messages).
pub fn control_character_path_except(value: &Value, skip: &[&str]) -> Option<String> {
    fn walk(value: &Value, path: &mut String, skip: &[&str]) -> bool {
        match value {
            Value::String(s) => has_forbidden_control(s),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(item, path, skip);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            Value::Object(map) => map.iter().any(|(key, item)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
                let found = has_forbidden_control(key)
                    || (!skip.contains(&key.as_str()) && walk(item, path, skip));
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path, skip).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_rules_name_what_is_wrong() {
        assert_eq!(TextRule::NAME.violation(" Study "), None);
        assert_eq!(
            TextRule::NAME.violation("  ").as_deref(),
            Some("This field may not be blank.")
        );
        assert_eq!(TextRule::DESCRIPTION.violation(""), None);
        assert_eq!(
            TextRule::DESCRIPTION.violation("a\0b").as_deref(),
            Some("Null characters are not allowed.")
        );
        let long = "\u{e9}".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            TextRule::NAME.violation(&long).as_deref(),
            Some("Ensure this field has no more than 255 characters.")
        );
        assert_eq!(
            TextRule::NAME.violation(&"\u{e9}".repeat(MAX_NAME_CHARS)),
            None
        );
    }

    #[test]
    fn control_characters_are_found_with_their_path() {
        assert_eq!(control_character_path(&json!({"a": "ok\ttab\r\n"})), None);
        assert_eq!(
            control_character_path(&json!({"identifier": [{"value": "x"}, {"value": "\u{0}"}]})),
            Some("identifier[1].value".into())
        );
        assert_eq!(
            control_character_path(&json!({"a": {"b\u{1b}": 1}})),
            Some("a.b\u{1b}".into())
        );
        assert_eq!(
            control_character_path(&json!(["\u{7f}"])),
            Some("[0]".into())
        );
        assert!(has_forbidden_control("\u{85}"));
        assert!(!has_forbidden_control("caf\u{e9} \u{1F600}"));
    }

    proptest::proptest! {
        #[test]
        fn a_string_without_controls_is_clean(text in "[^\\p{Cc}]{0,64}") {
            let clean = control_character_path(&json!({"k": [text]})).is_none();
            proptest::prop_assert!(clean);
        }

        #[test]
        fn any_forbidden_control_is_found(prefix in "\\PC{0,8}", c in 0u32..0x20, suffix in "\\PC{0,8}") {
            let c = char::from_u32(c).unwrap_or('\u{0}');
            let text = [prefix, c.to_string(), suffix].concat();
            let found = control_character_path(&json!({"k": text})).is_some();
            proptest::prop_assert_eq!(found, !matches!(c, '\t' | '\n' | '\r'));
        }
    }
}
