//! # jhe-plugins
//!
//! Standard implementations of the jhe-core plug-in traits: [`SeaOrmStore`] (PostgreSQL and
//! SQLite), the RBAC/consent policy, the data formats [`OmhFormat`] and [`AttachmentFormat`],
//! identity providers and mailers.
#![deny(missing_docs)]

pub mod audit;
pub mod format;
pub mod identity;
pub mod mail;
pub mod policy;
pub mod store;

pub use audit::{DatabaseAuditSink, NdjsonAuditSink, audit_sink_from_config};
pub use format::{AttachmentFormat, OmhFormat};
pub use identity::{OidcIdp, PasswordIdp};
#[cfg(feature = "saml")]
pub use identity::{SamlConfigError, SamlIdp};
pub use mail::{FileMailer, MailConfig, SmtpConfig, SmtpMailer, mailer_from_config};
pub use policy::RbacConsentPolicy;
pub use store::SeaOrmStore;
