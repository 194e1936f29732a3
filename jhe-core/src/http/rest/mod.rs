//! Conventions of the Admin REST API (`/api/v1`): camelCase JSON with the original's
//! exceptions, the `{count, next, previous, results}` paging envelope, JSON error bodies.

pub mod casing;
pub mod errors;
pub mod paging;
pub mod response;
