//! Use cases. REST, FHIR, MCP and the portal call these functions; none of them talks to the
//! store or the policy directly.

pub mod accounts;
pub mod guard;
pub mod keys;
pub mod links;
pub mod login;
pub mod oauth;
pub mod organizations;
pub mod seed;
pub mod settings;
pub mod signup;
pub mod users;
