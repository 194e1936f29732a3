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
pub use server::{AppState, BuildError, JheServer, JheServerBuilder};

// The crates an integrator needs to implement the plug-in traits and to add endpoints, at the
// versions this crate is built with (so an embedding application does not have to match them
// by hand).
pub use async_trait;
pub use chrono;
pub use poem;
pub use poem_openapi;
pub use serde;
pub use serde_json;
pub use tokio;
pub use uuid;
