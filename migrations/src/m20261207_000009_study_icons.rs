//! Study icons: `study_icons`, the image a study's staff uploaded as its icon (one per study),
//! served by the exchange itself at `/api/v1/studies/{id}/icon`. The bytes are kept with their
//! content type and a SHA-256 of them (the `ETag` and the `?v=` of the study's `icon_url`).
//! Deleting the study deletes its icon. `down` drops the table.

use sea_orm_migration::prelude::*;

/// Creates `study_icons`.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum StudyIcons {
    Table,
    StudyId,
    ContentType,
    Data,
    ContentHash,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Studies {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(StudyIcons::Table)
                    .col(
                        ColumnDef::new(StudyIcons::StudyId)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(StudyIcons::ContentType)
                            .string_len(100)
                            .not_null(),
                    )
                    .col(ColumnDef::new(StudyIcons::Data).blob().not_null())
                    .col(
                        ColumnDef::new(StudyIcons::ContentHash)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(StudyIcons::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_study_icons_study_id")
                            .from(StudyIcons::Table, StudyIcons::StudyId)
                            .to(Studies::Table, Studies::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(StudyIcons::Table).to_owned())
            .await
    }
}
