//! Entity for the `oauth_signing_keys` table: signing keys of the OpenID provider (JWKS).

use sea_orm::entity::prelude::*;

/// A row of `oauth_signing_keys`.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_signing_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(128))", unique)]
    pub kid: String,
    #[sea_orm(column_type = "String(StringLen::N(10))")]
    pub algorithm: String,
    #[sea_orm(column_type = "Text")]
    pub private_key_pem: String,
    /// JSON text.
    #[sea_orm(column_type = "Text")]
    pub public_jwk: String,
    pub active: bool,
    pub created: DateTimeUtc,
    pub retired: Option<DateTimeUtc>,
}

/// Like the derived `Debug`, but hides `private_key_pem`.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.id)
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("private_key_pem", &"<redacted>")
            .field("public_jwk", &self.public_jwk)
            .field("active", &self.active)
            .field("created", &self.created)
            .field("retired", &self.retired)
            .finish()
    }
}

/// Relations of `oauth_signing_keys`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
