//! Use cases. REST, FHIR, MCP and the portal call these functions; none of them talks to the
//! store or the policy directly.

pub mod accounts;
pub mod keys;
pub mod links;
pub mod login;
pub mod seed;
pub mod settings;
pub mod signup;
