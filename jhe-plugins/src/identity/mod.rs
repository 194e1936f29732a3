//! Identity providers.

mod password;
#[cfg(feature = "saml")]
mod saml;

pub use password::PasswordIdp;
#[cfg(feature = "saml")]
pub use saml::{AttributeMap, SamlConfigError, SamlIdp};
