//! Bearer-token authentication of API requests, resolving to a [`Principal`](crate::policy::Principal).
