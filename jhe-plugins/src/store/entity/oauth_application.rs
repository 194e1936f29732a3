//! Entity for the `oauth_applications` table: oAuth 2 clients ("Clients" in the portal).

use sea_orm::entity::prelude::*;

/// A row of `oauth_applications`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_applications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "String(StringLen::N(100))", unique)]
    pub client_id: String,
    /// Space-separated list.
    #[sea_orm(column_type = "Text")]
    pub redirect_uris: String,
    #[sea_orm(column_type = "Text")]
    pub post_logout_redirect_uris: String,
    /// `public` or `confidential`.
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub client_type: String,
    #[sea_orm(column_type = "String(StringLen::N(44))")]
    pub authorization_grant_type: String,
    /// Password-style hash of the secret, never the secret itself.
    #[sea_orm(column_type = "Text")]
    pub client_secret: String,
    pub hash_client_secret: bool,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// Owner.
    pub user_id: Option<i64>,
    pub skip_authorization: bool,
    /// `""`, `RS256` or `HS256`.
    #[sea_orm(column_type = "String(StringLen::N(5))")]
    pub algorithm: String,
    #[sea_orm(column_type = "Text")]
    pub allowed_origins: String,
    pub created: DateTimeUtc,
    pub updated: DateTimeUtc,
}

/// Relations of `oauth_applications`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// `user_id` → `users.id` (ON DELETE CASCADE).
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
    #[sea_orm(has_many = "super::study_client::Entity")]
    StudyClient,
    #[sea_orm(has_many = "super::client_data_source::Entity")]
    ClientDataSource,
    #[sea_orm(has_many = "super::oauth_grant::Entity")]
    OauthGrant,
    #[sea_orm(has_many = "super::oauth_access_token::Entity")]
    OauthAccessToken,
    #[sea_orm(has_many = "super::oauth_refresh_token::Entity")]
    OauthRefreshToken,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl Related<super::study_client::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StudyClient.def()
    }
}

impl Related<super::client_data_source::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ClientDataSource.def()
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

/// Through `study_clients`.
impl Related<super::study::Entity> for Entity {
    fn to() -> RelationDef {
        super::study_client::Relation::Study.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::study_client::Relation::OauthApplication.def().rev())
    }
}

/// Through `client_data_sources`.
impl Related<super::data_source::Entity> for Entity {
    fn to() -> RelationDef {
        super::client_data_source::Relation::DataSource.def()
    }
    fn via() -> Option<RelationDef> {
        Some(
            super::client_data_source::Relation::OauthApplication
                .def()
                .rev(),
        )
    }
}

impl ActiveModelBehavior for ActiveModel {}
