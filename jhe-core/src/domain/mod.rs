//! Domain types of JupyterHealth Exchange.
//!
//! These types know nothing about HTTP or SQL: stores map them to rows, handlers map them to JSON.

mod concept;
mod data_source;
mod oauth;
mod observation;
mod organization;
mod paging;
mod patient;
mod practitioner;
mod setting;
mod smart_scope;
mod study;
mod user;

pub use concept::*;
pub use data_source::*;
pub use oauth::*;
pub use observation::*;
pub use organization::*;
pub use paging::*;
pub use patient::*;
pub use practitioner::*;
pub use setting::*;
pub use smart_scope::*;
pub use study::*;
pub use user::*;

/// Database identifier of every entity (64-bit, as in the original).
pub type Id = i64;
