//! Authorisation policies.

mod rbac;

pub use rbac::RbacConsentPolicy;
