//! Decoding `valueAttachment.data`.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet, padding required, non-zero trailing bits tolerated (as Python's
/// `b64decode`).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Whether a content type is JSON (`application/json`, `application/<x>+json`, parameters
/// ignored). A missing content type counts as JSON (the Open mHealth default).
pub fn is_json_content_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.is_empty() || essence == "application/json" || essence.ends_with("+json")
}

/// Whether a content type is a well-formed `type/subtype` (parameters allowed).
pub fn is_media_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!(essence.split_once('/'), Some((t, s)) if token(t) && token(s))
}

/// Standard base64 with ASCII whitespace (line breaks) ignored and padding required.
pub fn decode_base64(data: &str) -> Option<Vec<u8>> {
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT.decode(compact.as_bytes()).ok()
}

/// The bytes of a JSON attachment (fhir-api.md §1.2 step 11): the text itself when it is
/// already JSON (the original accepted that), else its base64 decoding, which must be UTF-8
/// JSON. `None` when neither works.
pub fn decode_json_data(data: &str) -> Option<Vec<u8>> {
    if serde_json::from_str::<serde::de::IgnoredAny>(data).is_ok() {
        return Some(data.as_bytes().to_vec());
    }
    let bytes = decode_base64(data)?;
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).ok()?;
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(is_json_content_type("application/json"));
        assert!(is_json_content_type("Application/JSON; charset=utf-8"));
        assert!(is_json_content_type("application/fhir+json"));
        assert!(is_json_content_type(""));
        assert!(!is_json_content_type("text/csv"));
        assert!(is_media_type("text/csv; charset=utf-8"));
        assert!(!is_media_type("csv"));
        assert!(!is_media_type("text/"));
    }

    #[test]
    #[allow(clippy::string_slice)]
    fn json_data_decodes() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(br#"{"a": 1}"#);
        assert_eq!(decode_json_data(&b64).unwrap(), br#"{"a": 1}"#);
        let wrapped = format!("{}\n{}", &b64[..4], &b64[4..]);
        assert_eq!(decode_json_data(&wrapped).unwrap(), br#"{"a": 1}"#);
        assert_eq!(decode_json_data(r#"{"b":2}"#).unwrap(), br#"{"b":2}"#);
        assert!(decode_json_data("not base64!").is_none());
        assert!(decode_json_data("bm90IGpzb24=").is_none()); // "not json"
        assert!(decode_json_data(&b64[..b64.len() - 1]).is_none()); // padding required
        assert!(decode_json_data("").is_none());
    }
}
