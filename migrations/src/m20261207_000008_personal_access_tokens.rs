//! Personal access tokens: `personal_access_tokens`, the name and owner of an access token a
//! user created for a notebook on the portal's "Get a token" page. The token itself is a row of
//! `oauth_access_tokens` (hashed, with its scope and expiry); deleting it (revocation, expiry
//! clean-up, account deletion) deletes this row too. `down` drops the table.

use sea_orm_migration::prelude::*;

/// Creates `personal_access_tokens`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PersonalAccessTokens {
    Table,
    Id,
    UserId,
    AccessTokenId,
    Name,
    Created,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum OauthAccessTokens {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PersonalAccessTokens::Table)
                    .col(
                        ColumnDef::new(PersonalAccessTokens::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PersonalAccessTokens::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PersonalAccessTokens::AccessTokenId)
                            .big_integer()
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(PersonalAccessTokens::Name)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PersonalAccessTokens::Created)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_personal_access_tokens_user_id")
                            .from(PersonalAccessTokens::Table, PersonalAccessTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_personal_access_tokens_access_token_id")
                            .from(
                                PersonalAccessTokens::Table,
                                PersonalAccessTokens::AccessTokenId,
                            )
                            .to(OauthAccessTokens::Table, OauthAccessTokens::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_personal_access_tokens_user_id")
                    .table(PersonalAccessTokens::Table)
                    .col(PersonalAccessTokens::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PersonalAccessTokens::Table).to_owned())
            .await
    }
}
