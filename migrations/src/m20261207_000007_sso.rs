//! Single sign-on state shared by every replica: `sso_login_requests` (a login started at an
//! external identity provider and not yet answered: the SAML `AuthnRequest` id or the OIDC
//! nonce and PKCE verifier, bound to the browser that started it), `sso_used_ids` (SAML assertion
//! ids already accepted, so each is accepted once across replicas) and `external_identities`
//! (which provider subject is which local user). `down` drops the three tables.

use sea_orm_migration::prelude::*;

/// Creates the single sign-on tables.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SsoLoginRequests {
    Table,
    Id,
    Provider,
    BindingHash,
    RequestId,
    Data,
    Created,
    Expires,
}

#[derive(DeriveIden)]
enum SsoUsedIds {
    Table,
    Key,
    Expires,
}

#[derive(DeriveIden)]
enum ExternalIdentities {
    Table,
    Id,
    Provider,
    Subject,
    UserId,
    Created,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SsoLoginRequests::Table)
                    .col(
                        ColumnDef::new(SsoLoginRequests::Id)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SsoLoginRequests::Provider)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SsoLoginRequests::BindingHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SsoLoginRequests::RequestId)
                            .string_len(300)
                            .not_null(),
                    )
                    .col(ColumnDef::new(SsoLoginRequests::Data).text().not_null())
                    .col(
                        ColumnDef::new(SsoLoginRequests::Created)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SsoLoginRequests::Expires)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sso_login_requests_expires")
                    .table(SsoLoginRequests::Table)
                    .col(SsoLoginRequests::Expires)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SsoUsedIds::Table)
                    .col(
                        ColumnDef::new(SsoUsedIds::Key)
                            .string_len(400)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SsoUsedIds::Expires)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ExternalIdentities::Table)
                    .col(
                        ColumnDef::new(ExternalIdentities::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ExternalIdentities::Provider)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExternalIdentities::Subject)
                            .string_len(300)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExternalIdentities::UserId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(ExternalIdentities::Created)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_external_identities_user")
                            .from(ExternalIdentities::Table, ExternalIdentities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_external_identities_provider_subject")
                    .table(ExternalIdentities::Table)
                    .col(ExternalIdentities::Provider)
                    .col(ExternalIdentities::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_external_identities_user")
                    .table(ExternalIdentities::Table)
                    .col(ExternalIdentities::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExternalIdentities::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SsoUsedIds::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(SsoLoginRequests::Table).to_owned())
            .await?;
        Ok(())
    }
}
