//! # jhe-plugins
//!
//! Standard implementations of the jhe-core plug-in traits: [`SeaOrmStore`] (PostgreSQL and
//! SQLite) and, as they arrive, the RBAC/consent policy, data formats, identity providers and
//! mailers.
#![deny(missing_docs)]

pub mod identity;
pub mod mail;
pub mod policy;
pub mod store;

pub use identity::PasswordIdp;
pub use mail::{FileMailer, SmtpMailer, mailer_from_config};
pub use policy::RbacConsentPolicy;
pub use store::SeaOrmStore;
