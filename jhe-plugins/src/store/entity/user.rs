//! Entity for the `users` table: login accounts; the e-mail address is the user name.

use sea_orm::entity::prelude::*;

/// A row of `users`.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Password hash; a value starting with `!` is an unusable password.
    #[sea_orm(column_type = "Text")]
    pub password: String,
    pub last_login: Option<DateTimeUtc>,
    pub is_superuser: bool,
    #[sea_orm(column_type = "String(StringLen::N(150))")]
    pub first_name: String,
    #[sea_orm(column_type = "String(StringLen::N(150))")]
    pub last_name: String,
    pub is_staff: bool,
    pub is_active: bool,
    pub date_joined: DateTimeUtc,
    /// Stored normalised (trimmed, lower case); unique regardless of case
    /// (`ux_users_email_lower` on `LOWER(email)`).
    #[sea_orm(column_type = "String(StringLen::N(254))", unique)]
    pub email: String,
    pub email_is_verified: bool,
    /// Free-text external id; `""` when not given. Not unique.
    #[sea_orm(column_type = "Text")]
    pub identifier: String,
    /// `patient`, `practitioner` or NULL.
    #[sea_orm(column_type = "String(StringLen::N(12))")]
    pub user_type: Option<String>,
}

/// Like the derived `Debug`, but hides `password`.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.id)
            .field("password", &"<redacted>")
            .field("last_login", &self.last_login)
            .field("is_superuser", &self.is_superuser)
            .field("first_name", &self.first_name)
            .field("last_name", &self.last_name)
            .field("is_staff", &self.is_staff)
            .field("is_active", &self.is_active)
            .field("date_joined", &self.date_joined)
            .field("email", &self.email)
            .field("email_is_verified", &self.email_is_verified)
            .field("identifier", &self.identifier)
            .field("user_type", &self.user_type)
            .finish()
    }
}

/// Relations of `users`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_one = "super::practitioner::Entity")]
    Practitioner,
    #[sea_orm(has_one = "super::patient::Entity")]
    Patient,
    #[sea_orm(has_many = "super::oauth_application::Entity")]
    OauthApplication,
    #[sea_orm(has_many = "super::oauth_grant::Entity")]
    OauthGrant,
    #[sea_orm(has_many = "super::oauth_access_token::Entity")]
    OauthAccessToken,
    #[sea_orm(has_many = "super::oauth_refresh_token::Entity")]
    OauthRefreshToken,
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
}

impl Related<super::practitioner::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Practitioner.def()
    }
}

impl Related<super::patient::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Patient.def()
    }
}

impl Related<super::oauth_application::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthApplication.def()
    }
}

impl Related<super::oauth_grant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthGrant.def()
    }
}

impl Related<super::oauth_access_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthAccessToken.def()
    }
}

impl Related<super::oauth_refresh_token::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OauthRefreshToken.def()
    }
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
