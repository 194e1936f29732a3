//! Data formats: [`OmhFormat`] (Open mHealth / IEEE 1752 JSON, validated against the bundled
//! schemas) and [`AttachmentFormat`] (opaque text attachments of other data types).

mod attachment;
pub mod omh;

pub use attachment::AttachmentFormat;
pub use omh::OmhFormat;

#[cfg(test)]
mod fhir_schema_tests;
