//! Entity for the `oauth_grants` table: oAuth 2 authorization codes.

use sea_orm::entity::prelude::*;

/// A row of `oauth_grants`.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_grants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// SHA-256 hex of the code.
    #[sea_orm(column_type = "String(StringLen::N(64))", unique)]
    pub code_hash: String,
    /// Plain code, kept only for patient-invitation grants.
    #[sea_orm(column_type = "Text")]
    pub invitation_code: Option<String>,
    pub application_id: i64,
    pub user_id: i64,
    pub expires: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub redirect_uri: String,
    #[sea_orm(column_type = "Text")]
    pub scope: String,
    #[sea_orm(column_type = "String(StringLen::N(128))")]
    pub code_challenge: String,
    /// `""`, `plain` or `S256`.
    #[sea_orm(column_type = "String(StringLen::N(10))")]
    pub code_challenge_method: String,
    #[sea_orm(column_type = "Text")]
    pub nonce: String,
    /// JSON text; default `{}`.
    #[sea_orm(column_type = "Text")]
    pub claims: String,
    pub auth_time: Option<DateTimeUtc>,
    pub created: DateTimeUtc,
}

/// Like the derived `Debug`, but hides `invitation_code`.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.id)
            .field("code_hash", &self.code_hash)
            .field(
                "invitation_code",
                &self.invitation_code.as_ref().map(|_| "<redacted>"),
            )
            .field("application_id", &self.application_id)
            .field("user_id", &self.user_id)
            .field("expires", &self.expires)
            .field("redirect_uri", &self.redirect_uri)
            .field("scope", &self.scope)
            .field("code_challenge", &self.code_challenge)
            .field("code_challenge_method", &self.code_challenge_method)
            .field("nonce", &self.nonce)
            .field("claims", &self.claims)
            .field("auth_time", &self.auth_time)
            .field("created", &self.created)
            .finish()
    }
}

/// Relations of `oauth_grants`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `application_id` → `oauth_applications.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::oauth_application::Entity",
        from = "Column::ApplicationId",
        to = "super::oauth_application::Column::Id",
        on_delete = "Cascade"
    )]
    OauthApplication,
    /// `user_id` → `users.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::oauth_application::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthApplication.def()
    }
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
