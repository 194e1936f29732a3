//! # jhe-plugins
//!
//! Standard implementations of the jhe-core plug-in traits: [`SeaOrmStore`] (PostgreSQL and
//! SQLite) and, as they arrive, the RBAC/consent policy, data formats, identity providers and
//! mailers.
#![deny(missing_docs)]

pub mod store;

pub use store::SeaOrmStore;
