//! # jhe-core
//!
//! The core of **jhe-rs**, a Rust implementation of JupyterHealth Exchange: domain types, the
//! plug-in traits ([`store::Store`], [`policy::Policy`], [`format::DataFormat`],
//! [`identity::IdentityProvider`], [`mailer::Mailer`]), the use cases in [`services`], the HTTP
//! handlers in [`http`], and the [`JheServer`] builder that assembles them.
//!
//! Standard implementations of the traits live in the `jhe-plugins` crate.
#![deny(missing_docs)]

pub mod audit;
pub mod config;
pub mod domain;
pub mod error;
pub mod fhir;
pub mod format;
pub mod http;
pub mod identity;
pub mod mailer;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod policy;
pub mod server;
pub mod services;
pub mod store;

pub use config::Config;
pub use error::{CoreError, CoreResult};
pub use server::{AppState, JheServer, JheServerBuilder};
