//! Identity providers.

mod oidc;
mod password;
#[cfg(feature = "saml")]
mod saml;

pub use oidc::{OidcConfigError, OidcIdp};
pub use password::PasswordIdp;
#[cfg(feature = "saml")]
pub use saml::{AttributeMap, SamlConfigError, SamlIdp};

/// E-mail domains as providers keep them: trimmed, without a leading `@`, lower case, no empty
/// entries (`" @Hospital.ORG"` → `"hospital.org"`).
pub(crate) fn normalize_domains<'a>(domains: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    domains
        .into_iter()
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn domains_are_normalized() {
        assert_eq!(
            super::normalize_domains([" @Hospital.ORG", "", "uni.edu"]),
            vec!["hospital.org".to_string(), "uni.edu".to_string()]
        );
    }
}
