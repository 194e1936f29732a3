//! Identity providers.

mod oidc;
mod password;
#[cfg(feature = "saml")]
mod saml;

pub use oidc::{OidcConfigError, OidcIdp};
pub use password::PasswordIdp;
#[cfg(feature = "saml")]
pub use saml::{AttributeMap, SamlConfigError, SamlIdp};
