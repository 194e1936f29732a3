//! Identity providers.

mod password;

pub use password::PasswordIdp;
