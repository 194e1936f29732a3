//! Token scopes and token lifecycle.
//!
//! * `oauth_refresh_tokens.scope`: the scope granted to a refresh-token chain, which the family
//!   string used to encode (`s<mask>-<uuid>`);
//! * `oauth_grants.consumed` and `oauth_grants.token_family`: a used authorization code is kept
//!   (until it expires) with the family of the tokens its exchange issued, so that a second
//!   presentation revokes them (RFC 6749 §4.1.2);
//! * `oauth_grants.invitation_code` is dropped: invitation codes are stored only as the SHA-256
//!   `code_hash`, like every other code.
//!
//! Scopes written before this migration (`openid`, `email`, `openid email`: nothing about
//! resources) are rewritten in the SMART form that jhe-rs now enforces. Tokens and codes of the
//! `JHE Admin UI` client, and tokens without a client (token exchange), keep their identity
//! scopes plus `user/*.cruds` (the user's full role, what they could do before); those of any
//! other client — patient apps that redeemed an invitation link — get the patient-app scope.
//! The values are frozen here on purpose: they are what jhe-core named `full_role` and
//! `patient_app` when this migration was written.
//!
//! `down` restores the columns (used codes are deleted first, since the old schema deletes codes
//! on use and would otherwise accept them again; the plain invitation codes are gone for good)
//! and leaves the rewritten scope strings, which the old code reads as `openid`/`email`.

use sea_orm_migration::prelude::*;

/// Adds token scopes and code-replay tracking; drops plain invitation codes.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OauthGrants {
    Table,
    InvitationCode,
    Consumed,
    TokenFamily,
}

#[derive(DeriveIden)]
enum OauthRefreshTokens {
    Table,
    Scope,
}

/// The patient-app scope (`GrantedScopes::patient_app`).
const PATIENT_APP: &str =
    "openid email patient/Consent.cru patient/Observation.crs patient/Patient.rs";

/// Whether a row's `application_id` is the portal's client, or none.
const FIRST_PARTY: &str = r#"("application_id" IS NULL OR "application_id" IN (SELECT "id" FROM "oauth_applications" WHERE "name" = 'JHE Admin UI'))"#;

/// The SMART form of a pre-migration scope expression `legacy` (identity scopes only).
fn upgraded(legacy: &str) -> String {
    format!(
        "CASE WHEN {FIRST_PARTY} THEN \
             (CASE WHEN TRIM({legacy}) = '' THEN 'user/*.cruds' ELSE TRIM({legacy}) || ' user/*.cruds' END) \
         ELSE '{PATIENT_APP}' END"
    )
}

/// The scope a pre-migration refresh-token family string encodes (`s<mask>-…`, bit 0 `openid`,
/// bit 1 `email`); `openid` for any other format, as the old code read it.
const FAMILY_SCOPE: &str = r#"(CASE WHEN "token_family" LIKE 's3-%' THEN 'openid email' WHEN "token_family" LIKE 's2-%' THEN 'email' WHEN "token_family" LIKE 's0-%' THEN '' ELSE 'openid' END)"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(OauthRefreshTokens::Table)
                    .add_column(
                        ColumnDef::new(OauthRefreshTokens::Scope)
                            .text()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthGrants::Table)
                    .add_column(
                        ColumnDef::new(OauthGrants::Consumed)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthGrants::Table)
                    .add_column(
                        ColumnDef::new(OauthGrants::TokenFamily)
                            .string_len(36)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthGrants::Table)
                    .drop_column(OauthGrants::InvitationCode)
                    .to_owned(),
            )
            .await?;

        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            r#"UPDATE "oauth_refresh_tokens" SET "scope" = {}"#,
            upgraded(FAMILY_SCOPE)
        ))
        .await?;
        for table in ["oauth_access_tokens", "oauth_grants"] {
            db.execute_unprepared(&format!(
                r#"UPDATE "{table}" SET "scope" = {} WHERE "scope" NOT LIKE '%/%'"#,
                upgraded(r#""scope""#)
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(r#"DELETE FROM "oauth_grants" WHERE "consumed" IS NOT NULL"#)
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthGrants::Table)
                    .add_column(ColumnDef::new(OauthGrants::InvitationCode).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthGrants::Table)
                    .drop_column(OauthGrants::TokenFamily)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthGrants::Table)
                    .drop_column(OauthGrants::Consumed)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(OauthRefreshTokens::Table)
                    .drop_column(OauthRefreshTokens::Scope)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
