//! Initial schema of jhe-rs: accounts, organisations, studies, consents,
//! observations, settings, the OAuth 2 / OIDC store, browser sessions and
//! login throttling.
//!
//! Everything is built with the portable schema builder, except the two
//! expression indexes (`COALESCE(...)`), which are plain SQL understood by
//! both PostgreSQL and SQLite.

use sea_orm_migration::prelude::*;

/// The initial migration; creates every table of the jhe-rs schema.
#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables in creation order; `down` drops them in reverse.
///
/// Kept as plain names so that the drop order can never drift from the
/// creation order.
const TABLES: &[&str] = &[
    "users",
    "organizations",
    "practitioners",
    "practitioner_organizations",
    "patients",
    "patient_organizations",
    "studies",
    "study_patients",
    "codeable_concepts",
    "study_scope_requests",
    "study_patient_scope_consents",
    "data_sources",
    "data_source_supported_scopes",
    "oauth_applications",
    "study_data_sources",
    "study_clients",
    "client_data_sources",
    "observations",
    "observation_identifiers",
    "jhe_settings",
    "oauth_grants",
    "oauth_access_tokens",
    "oauth_refresh_tokens",
    "oauth_signing_keys",
    "sessions",
    "login_attempts",
];

/// Unique expression index on `observation_identifiers`: a NULL `system`
/// collides with another NULL `system` for the same `value`.
const UX_OBSERVATION_IDENTIFIERS: &str = r#"CREATE UNIQUE INDEX "ux_observation_identifiers_system_value" ON "observation_identifiers" ((COALESCE("system", '')), "value")"#;

/// Unique expression index on `jhe_settings`: a NULL `setting_id` (a global
/// setting) collides with another global setting of the same key.
const UX_JHE_SETTINGS: &str = r#"CREATE UNIQUE INDEX "ux_jhe_settings_key_setting_id" ON "jhe_settings" ("key", (COALESCE("setting_id", -1)))"#;

// ---------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Password,
    LastLogin,
    IsSuperuser,
    FirstName,
    LastName,
    IsStaff,
    IsActive,
    DateJoined,
    Email,
    EmailIsVerified,
    Identifier,
    UserType,
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    Type,
    PartOfId,
}

#[derive(DeriveIden)]
enum Practitioners {
    Table,
    Id,
    JheUserId,
    Identifier,
    NameFamily,
    NameGiven,
    TelecomPhone,
    LastUpdated,
}

#[derive(DeriveIden)]
enum PractitionerOrganizations {
    Table,
    Id,
    PractitionerId,
    OrganizationId,
    Role,
}

#[derive(DeriveIden)]
enum Patients {
    Table,
    Id,
    JheUserId,
    Identifier,
    NameFamily,
    NameGiven,
    BirthDate,
    TelecomPhone,
    LastUpdated,
}

#[derive(DeriveIden)]
enum PatientOrganizations {
    Table,
    Id,
    PatientId,
    OrganizationId,
}

#[derive(DeriveIden)]
enum Studies {
    Table,
    Id,
    Name,
    Description,
    OrganizationId,
    IconUrl,
}

#[derive(DeriveIden)]
enum StudyPatients {
    Table,
    Id,
    StudyId,
    PatientId,
}

#[derive(DeriveIden)]
enum CodeableConcepts {
    Table,
    Id,
    CodingSystem,
    CodingCode,
    Text,
}

#[derive(DeriveIden)]
enum StudyScopeRequests {
    Table,
    Id,
    StudyId,
    ScopeCodeId,
    ScopeActions,
}

#[derive(DeriveIden)]
enum StudyPatientScopeConsents {
    Table,
    Id,
    StudyPatientId,
    ScopeCodeId,
    ScopeActions,
    Consented,
    ConsentedTime,
}

#[derive(DeriveIden)]
enum DataSources {
    Table,
    Id,
    Name,
    Type,
}

#[derive(DeriveIden)]
enum DataSourceSupportedScopes {
    Table,
    Id,
    DataSourceId,
    ScopeCodeId,
}

#[derive(DeriveIden)]
enum OauthApplications {
    Table,
    Id,
    ClientId,
    RedirectUris,
    PostLogoutRedirectUris,
    ClientType,
    AuthorizationGrantType,
    ClientSecret,
    HashClientSecret,
    Name,
    UserId,
    SkipAuthorization,
    Algorithm,
    AllowedOrigins,
    Created,
    Updated,
}

#[derive(DeriveIden)]
enum StudyDataSources {
    Table,
    Id,
    StudyId,
    DataSourceId,
}

#[derive(DeriveIden)]
enum StudyClients {
    Table,
    Id,
    StudyId,
    ClientId,
}

#[derive(DeriveIden)]
enum ClientDataSources {
    Table,
    Id,
    ClientId,
    DataSourceId,
}

#[derive(DeriveIden)]
enum Observations {
    Table,
    Id,
    SubjectPatientId,
    CodeableConceptId,
    DataSourceId,
    ValueAttachmentData,
    ContentType,
    Status,
    EffectiveStart,
    EffectiveEnd,
    LastUpdated,
    OwKey,
}

#[derive(DeriveIden)]
enum ObservationIdentifiers {
    Table,
    Id,
    ObservationId,
    System,
    Value,
}

#[derive(DeriveIden)]
enum JheSettings {
    Table,
    Id,
    Key,
    SettingId,
    ValueType,
    ValueString,
    ValueInt,
    ValueBool,
    ValueFloat,
    ValueJson,
    LastUpdated,
}

#[derive(DeriveIden)]
enum OauthGrants {
    Table,
    Id,
    CodeHash,
    InvitationCode,
    ApplicationId,
    UserId,
    Expires,
    RedirectUri,
    Scope,
    CodeChallenge,
    CodeChallengeMethod,
    Nonce,
    Claims,
    AuthTime,
    Created,
}

#[derive(DeriveIden)]
enum OauthAccessTokens {
    Table,
    Id,
    TokenHash,
    UserId,
    ApplicationId,
    Expires,
    Scope,
    SourceRefreshTokenId,
    IdTokenJti,
    Created,
    Updated,
}

#[derive(DeriveIden)]
enum OauthRefreshTokens {
    Table,
    Id,
    TokenHash,
    AccessTokenId,
    ApplicationId,
    UserId,
    Revoked,
    TokenFamily,
    Created,
    Updated,
}

#[derive(DeriveIden)]
enum OauthSigningKeys {
    Table,
    Id,
    Kid,
    Algorithm,
    PrivateKeyPem,
    PublicJwk,
    Active,
    Created,
    Retired,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    Data,
    Expires,
    Created,
    Updated,
}

#[derive(DeriveIden)]
enum LoginAttempts {
    Table,
    Id,
    Key,
    AttemptedAt,
    Succeeded,
}

// ---------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------

/// 64-bit auto-increment primary key.
///
/// PostgreSQL: `bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY`;
/// SQLite: `integer PRIMARY KEY AUTOINCREMENT` (explicit ids are accepted and
/// later generated ids continue after the largest one).
fn pk<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

/// `bigint NOT NULL`, for foreign keys.
fn id_ref<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

/// `bigint NULL`, for optional foreign keys.
fn id_ref_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().to_owned()
}

/// `text NOT NULL`.
fn text<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().not_null().to_owned()
}

/// `text NULL`.
fn text_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).text().null().to_owned()
}

/// `text NOT NULL DEFAULT <default>`.
fn text_default<T: IntoIden>(name: T, default: &str) -> ColumnDef {
    ColumnDef::new(name)
        .text()
        .not_null()
        .default(default)
        .to_owned()
}

/// `varchar(len) NOT NULL`.
fn varchar<T: IntoIden>(name: T, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).not_null().to_owned()
}

/// `varchar(len) NOT NULL DEFAULT <default>`.
fn varchar_default<T: IntoIden>(name: T, len: u32, default: &str) -> ColumnDef {
    ColumnDef::new(name)
        .string_len(len)
        .not_null()
        .default(default)
        .to_owned()
}

/// `boolean NOT NULL`.
fn boolean<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name).boolean().not_null().to_owned()
}

/// `boolean NOT NULL DEFAULT <default>`.
fn boolean_default<T: IntoIden>(name: T, default: bool) -> ColumnDef {
    ColumnDef::new(name)
        .boolean()
        .not_null()
        .default(default)
        .to_owned()
}

/// `timestamp with time zone NOT NULL`.
fn tz<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

/// `timestamp with time zone NULL`.
fn tz_null<T: IntoIden>(name: T) -> ColumnDef {
    ColumnDef::new(name)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

/// A named foreign key with the given `ON DELETE` action.
fn fk<FT, FC, TT, TC>(
    name: &str,
    from_table: FT,
    from_col: FC,
    to_table: TT,
    to_col: TC,
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement
where
    FT: IntoIden,
    FC: IntoIden,
    TT: IntoIden,
    TC: IntoIden,
{
    ForeignKey::create()
        .name(name)
        .from(from_table, from_col)
        .to(to_table, to_col)
        .on_delete(on_delete)
        .to_owned()
}

/// A named (optionally unique) index over plain columns.
fn index<T, C, I>(name: &str, table: T, cols: I, unique: bool) -> IndexCreateStatement
where
    T: IntoIden,
    C: IntoIden,
    I: IntoIterator<Item = C>,
{
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(col);
    }
    if unique {
        stmt.unique();
    }
    stmt
}

const CASCADE: ForeignKeyAction = ForeignKeyAction::Cascade;

// ---------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------

/// Every `CREATE TABLE` statement, in creation order (matches [`TABLES`]).
fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table(Users::Table)
            .col(pk(Users::Id))
            .col(text(Users::Password))
            .col(tz_null(Users::LastLogin))
            .col(boolean_default(Users::IsSuperuser, false))
            .col(varchar_default(Users::FirstName, 150, ""))
            .col(varchar_default(Users::LastName, 150, ""))
            .col(boolean_default(Users::IsStaff, false))
            .col(boolean_default(Users::IsActive, true))
            .col(tz(Users::DateJoined))
            .col(varchar(Users::Email, 254).unique_key())
            .col(boolean_default(Users::EmailIsVerified, false))
            .col(text_default(Users::Identifier, ""))
            .col(ColumnDef::new(Users::UserType).string_len(12).null())
            .to_owned(),
        Table::create()
            .table(Organizations::Table)
            .col(pk(Organizations::Id))
            .col(text(Organizations::Name))
            .col(varchar(Organizations::Type, 64))
            .col(id_ref_null(Organizations::PartOfId))
            .foreign_key(&mut fk(
                "fk_organizations_part_of_id",
                Organizations::Table,
                Organizations::PartOfId,
                Organizations::Table,
                Organizations::Id,
                ForeignKeyAction::Restrict,
            ))
            .to_owned(),
        Table::create()
            .table(Practitioners::Table)
            .col(pk(Practitioners::Id))
            .col(id_ref(Practitioners::JheUserId).unique_key())
            .col(text_null(Practitioners::Identifier))
            .col(text_null(Practitioners::NameFamily))
            .col(text_null(Practitioners::NameGiven))
            .col(text_null(Practitioners::TelecomPhone))
            .col(tz(Practitioners::LastUpdated))
            .foreign_key(&mut fk(
                "fk_practitioners_jhe_user_id",
                Practitioners::Table,
                Practitioners::JheUserId,
                Users::Table,
                Users::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(PractitionerOrganizations::Table)
            .col(pk(PractitionerOrganizations::Id))
            .col(id_ref(PractitionerOrganizations::PractitionerId))
            .col(id_ref(PractitionerOrganizations::OrganizationId))
            .col(varchar_default(
                PractitionerOrganizations::Role,
                10,
                "member",
            ))
            .foreign_key(&mut fk(
                "fk_practitioner_organizations_practitioner_id",
                PractitionerOrganizations::Table,
                PractitionerOrganizations::PractitionerId,
                Practitioners::Table,
                Practitioners::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_practitioner_organizations_organization_id",
                PractitionerOrganizations::Table,
                PractitionerOrganizations::OrganizationId,
                Organizations::Table,
                Organizations::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(Patients::Table)
            .col(pk(Patients::Id))
            .col(id_ref_null(Patients::JheUserId).unique_key())
            .col(text_null(Patients::Identifier))
            .col(text(Patients::NameFamily))
            .col(text(Patients::NameGiven))
            .col(ColumnDef::new(Patients::BirthDate).date().not_null())
            .col(text_null(Patients::TelecomPhone))
            .col(tz(Patients::LastUpdated))
            .foreign_key(&mut fk(
                "fk_patients_jhe_user_id",
                Patients::Table,
                Patients::JheUserId,
                Users::Table,
                Users::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(PatientOrganizations::Table)
            .col(pk(PatientOrganizations::Id))
            .col(id_ref(PatientOrganizations::PatientId))
            .col(id_ref(PatientOrganizations::OrganizationId))
            .foreign_key(&mut fk(
                "fk_patient_organizations_patient_id",
                PatientOrganizations::Table,
                PatientOrganizations::PatientId,
                Patients::Table,
                Patients::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_patient_organizations_organization_id",
                PatientOrganizations::Table,
                PatientOrganizations::OrganizationId,
                Organizations::Table,
                Organizations::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(Studies::Table)
            .col(pk(Studies::Id))
            .col(text(Studies::Name))
            .col(text(Studies::Description))
            .col(id_ref(Studies::OrganizationId))
            .col(text_null(Studies::IconUrl))
            .foreign_key(&mut fk(
                "fk_studies_organization_id",
                Studies::Table,
                Studies::OrganizationId,
                Organizations::Table,
                Organizations::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(StudyPatients::Table)
            .col(pk(StudyPatients::Id))
            .col(id_ref(StudyPatients::StudyId))
            .col(id_ref(StudyPatients::PatientId))
            .foreign_key(&mut fk(
                "fk_study_patients_study_id",
                StudyPatients::Table,
                StudyPatients::StudyId,
                Studies::Table,
                Studies::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_study_patients_patient_id",
                StudyPatients::Table,
                StudyPatients::PatientId,
                Patients::Table,
                Patients::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(CodeableConcepts::Table)
            .col(pk(CodeableConcepts::Id))
            .col(text(CodeableConcepts::CodingSystem))
            .col(text(CodeableConcepts::CodingCode))
            .col(text(CodeableConcepts::Text))
            .to_owned(),
        Table::create()
            .table(StudyScopeRequests::Table)
            .col(pk(StudyScopeRequests::Id))
            .col(id_ref(StudyScopeRequests::StudyId))
            .col(id_ref(StudyScopeRequests::ScopeCodeId))
            .col(text_null(StudyScopeRequests::ScopeActions).default("rs"))
            .foreign_key(&mut fk(
                "fk_study_scope_requests_study_id",
                StudyScopeRequests::Table,
                StudyScopeRequests::StudyId,
                Studies::Table,
                Studies::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_study_scope_requests_scope_code_id",
                StudyScopeRequests::Table,
                StudyScopeRequests::ScopeCodeId,
                CodeableConcepts::Table,
                CodeableConcepts::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(StudyPatientScopeConsents::Table)
            .col(pk(StudyPatientScopeConsents::Id))
            .col(id_ref(StudyPatientScopeConsents::StudyPatientId))
            .col(id_ref(StudyPatientScopeConsents::ScopeCodeId))
            .col(text_null(StudyPatientScopeConsents::ScopeActions).default("rs"))
            .col(boolean(StudyPatientScopeConsents::Consented))
            .col(tz(StudyPatientScopeConsents::ConsentedTime))
            .foreign_key(&mut fk(
                "fk_study_patient_scope_consents_study_patient_id",
                StudyPatientScopeConsents::Table,
                StudyPatientScopeConsents::StudyPatientId,
                StudyPatients::Table,
                StudyPatients::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_study_patient_scope_consents_scope_code_id",
                StudyPatientScopeConsents::Table,
                StudyPatientScopeConsents::ScopeCodeId,
                CodeableConcepts::Table,
                CodeableConcepts::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(DataSources::Table)
            .col(pk(DataSources::Id))
            .col(text_null(DataSources::Name))
            .col(varchar_default(DataSources::Type, 32, "personal_device"))
            .to_owned(),
        Table::create()
            .table(DataSourceSupportedScopes::Table)
            .col(pk(DataSourceSupportedScopes::Id))
            .col(id_ref(DataSourceSupportedScopes::DataSourceId))
            .col(id_ref(DataSourceSupportedScopes::ScopeCodeId))
            .foreign_key(&mut fk(
                "fk_data_source_supported_scopes_data_source_id",
                DataSourceSupportedScopes::Table,
                DataSourceSupportedScopes::DataSourceId,
                DataSources::Table,
                DataSources::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_data_source_supported_scopes_scope_code_id",
                DataSourceSupportedScopes::Table,
                DataSourceSupportedScopes::ScopeCodeId,
                CodeableConcepts::Table,
                CodeableConcepts::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(OauthApplications::Table)
            .col(pk(OauthApplications::Id))
            .col(varchar(OauthApplications::ClientId, 100).unique_key())
            .col(text_default(OauthApplications::RedirectUris, ""))
            .col(text_default(OauthApplications::PostLogoutRedirectUris, ""))
            .col(varchar(OauthApplications::ClientType, 32))
            .col(varchar(OauthApplications::AuthorizationGrantType, 44))
            .col(text_default(OauthApplications::ClientSecret, ""))
            .col(boolean_default(OauthApplications::HashClientSecret, true))
            .col(text(OauthApplications::Name))
            .col(id_ref_null(OauthApplications::UserId))
            .col(boolean_default(OauthApplications::SkipAuthorization, false))
            .col(varchar_default(OauthApplications::Algorithm, 5, ""))
            .col(text_default(OauthApplications::AllowedOrigins, ""))
            .col(tz(OauthApplications::Created))
            .col(tz(OauthApplications::Updated))
            .foreign_key(&mut fk(
                "fk_oauth_applications_user_id",
                OauthApplications::Table,
                OauthApplications::UserId,
                Users::Table,
                Users::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(StudyDataSources::Table)
            .col(pk(StudyDataSources::Id))
            .col(id_ref(StudyDataSources::StudyId))
            .col(id_ref(StudyDataSources::DataSourceId))
            .foreign_key(&mut fk(
                "fk_study_data_sources_study_id",
                StudyDataSources::Table,
                StudyDataSources::StudyId,
                Studies::Table,
                Studies::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_study_data_sources_data_source_id",
                StudyDataSources::Table,
                StudyDataSources::DataSourceId,
                DataSources::Table,
                DataSources::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(StudyClients::Table)
            .col(pk(StudyClients::Id))
            .col(id_ref(StudyClients::StudyId))
            .col(id_ref(StudyClients::ClientId))
            .foreign_key(&mut fk(
                "fk_study_clients_study_id",
                StudyClients::Table,
                StudyClients::StudyId,
                Studies::Table,
                Studies::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_study_clients_client_id",
                StudyClients::Table,
                StudyClients::ClientId,
                OauthApplications::Table,
                OauthApplications::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(ClientDataSources::Table)
            .col(pk(ClientDataSources::Id))
            .col(id_ref(ClientDataSources::ClientId))
            .col(id_ref(ClientDataSources::DataSourceId))
            .foreign_key(&mut fk(
                "fk_client_data_sources_client_id",
                ClientDataSources::Table,
                ClientDataSources::ClientId,
                OauthApplications::Table,
                OauthApplications::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_client_data_sources_data_source_id",
                ClientDataSources::Table,
                ClientDataSources::DataSourceId,
                DataSources::Table,
                DataSources::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(Observations::Table)
            .col(pk(Observations::Id))
            .col(id_ref(Observations::SubjectPatientId))
            .col(id_ref(Observations::CodeableConceptId))
            .col(id_ref_null(Observations::DataSourceId))
            .col(text(Observations::ValueAttachmentData))
            .col(varchar_default(
                Observations::ContentType,
                255,
                "application/json",
            ))
            .col(varchar_default(Observations::Status, 32, "final"))
            .col(tz_null(Observations::EffectiveStart))
            .col(tz_null(Observations::EffectiveEnd))
            .col(tz(Observations::LastUpdated))
            .col(ColumnDef::new(Observations::OwKey).string_len(512).null())
            .foreign_key(&mut fk(
                "fk_observations_subject_patient_id",
                Observations::Table,
                Observations::SubjectPatientId,
                Patients::Table,
                Patients::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_observations_codeable_concept_id",
                Observations::Table,
                Observations::CodeableConceptId,
                CodeableConcepts::Table,
                CodeableConcepts::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_observations_data_source_id",
                Observations::Table,
                Observations::DataSourceId,
                DataSources::Table,
                DataSources::Id,
                ForeignKeyAction::SetNull,
            ))
            .to_owned(),
        Table::create()
            .table(ObservationIdentifiers::Table)
            .col(pk(ObservationIdentifiers::Id))
            .col(id_ref(ObservationIdentifiers::ObservationId))
            .col(text_null(ObservationIdentifiers::System))
            .col(text(ObservationIdentifiers::Value))
            .foreign_key(&mut fk(
                "fk_observation_identifiers_observation_id",
                ObservationIdentifiers::Table,
                ObservationIdentifiers::ObservationId,
                Observations::Table,
                Observations::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(JheSettings::Table)
            .col(pk(JheSettings::Id))
            .col(text(JheSettings::Key))
            .col(id_ref_null(JheSettings::SettingId))
            .col(varchar(JheSettings::ValueType, 10))
            .col(text_null(JheSettings::ValueString))
            .col(id_ref_null(JheSettings::ValueInt))
            .col(ColumnDef::new(JheSettings::ValueBool).boolean().null())
            .col(ColumnDef::new(JheSettings::ValueFloat).double().null())
            .col(text_null(JheSettings::ValueJson))
            .col(tz(JheSettings::LastUpdated))
            .to_owned(),
        Table::create()
            .table(OauthGrants::Table)
            .col(pk(OauthGrants::Id))
            .col(varchar(OauthGrants::CodeHash, 64).unique_key())
            .col(text_null(OauthGrants::InvitationCode))
            .col(id_ref(OauthGrants::ApplicationId))
            .col(id_ref(OauthGrants::UserId))
            .col(tz(OauthGrants::Expires))
            .col(text(OauthGrants::RedirectUri))
            .col(text(OauthGrants::Scope))
            .col(varchar_default(OauthGrants::CodeChallenge, 128, ""))
            .col(varchar_default(OauthGrants::CodeChallengeMethod, 10, ""))
            .col(text_default(OauthGrants::Nonce, ""))
            .col(text_default(OauthGrants::Claims, "{}"))
            .col(tz_null(OauthGrants::AuthTime))
            .col(tz(OauthGrants::Created))
            .foreign_key(&mut fk(
                "fk_oauth_grants_application_id",
                OauthGrants::Table,
                OauthGrants::ApplicationId,
                OauthApplications::Table,
                OauthApplications::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_oauth_grants_user_id",
                OauthGrants::Table,
                OauthGrants::UserId,
                Users::Table,
                Users::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(OauthAccessTokens::Table)
            .col(pk(OauthAccessTokens::Id))
            .col(varchar(OauthAccessTokens::TokenHash, 64).unique_key())
            .col(id_ref_null(OauthAccessTokens::UserId))
            .col(id_ref_null(OauthAccessTokens::ApplicationId))
            .col(tz(OauthAccessTokens::Expires))
            .col(text(OauthAccessTokens::Scope))
            .col(id_ref_null(OauthAccessTokens::SourceRefreshTokenId))
            .col(text_null(OauthAccessTokens::IdTokenJti))
            .col(tz(OauthAccessTokens::Created))
            .col(tz(OauthAccessTokens::Updated))
            .foreign_key(&mut fk(
                "fk_oauth_access_tokens_user_id",
                OauthAccessTokens::Table,
                OauthAccessTokens::UserId,
                Users::Table,
                Users::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_oauth_access_tokens_application_id",
                OauthAccessTokens::Table,
                OauthAccessTokens::ApplicationId,
                OauthApplications::Table,
                OauthApplications::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(OauthRefreshTokens::Table)
            .col(pk(OauthRefreshTokens::Id))
            .col(varchar(OauthRefreshTokens::TokenHash, 64).unique_key())
            .col(id_ref_null(OauthRefreshTokens::AccessTokenId))
            .col(id_ref(OauthRefreshTokens::ApplicationId))
            .col(id_ref(OauthRefreshTokens::UserId))
            .col(tz_null(OauthRefreshTokens::Revoked))
            .col(varchar(OauthRefreshTokens::TokenFamily, 36))
            .col(tz(OauthRefreshTokens::Created))
            .col(tz(OauthRefreshTokens::Updated))
            .foreign_key(&mut fk(
                "fk_oauth_refresh_tokens_access_token_id",
                OauthRefreshTokens::Table,
                OauthRefreshTokens::AccessTokenId,
                OauthAccessTokens::Table,
                OauthAccessTokens::Id,
                ForeignKeyAction::SetNull,
            ))
            .foreign_key(&mut fk(
                "fk_oauth_refresh_tokens_application_id",
                OauthRefreshTokens::Table,
                OauthRefreshTokens::ApplicationId,
                OauthApplications::Table,
                OauthApplications::Id,
                CASCADE,
            ))
            .foreign_key(&mut fk(
                "fk_oauth_refresh_tokens_user_id",
                OauthRefreshTokens::Table,
                OauthRefreshTokens::UserId,
                Users::Table,
                Users::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(OauthSigningKeys::Table)
            .col(pk(OauthSigningKeys::Id))
            .col(varchar(OauthSigningKeys::Kid, 128).unique_key())
            .col(varchar(OauthSigningKeys::Algorithm, 10))
            .col(text(OauthSigningKeys::PrivateKeyPem))
            .col(text(OauthSigningKeys::PublicJwk))
            .col(boolean(OauthSigningKeys::Active))
            .col(tz(OauthSigningKeys::Created))
            .col(tz_null(OauthSigningKeys::Retired))
            .to_owned(),
        Table::create()
            .table(Sessions::Table)
            .col(
                ColumnDef::new(Sessions::Id)
                    .string_len(64)
                    .not_null()
                    .primary_key(),
            )
            .col(id_ref_null(Sessions::UserId))
            .col(text_default(Sessions::Data, "{}"))
            .col(tz(Sessions::Expires))
            .col(tz(Sessions::Created))
            .col(tz(Sessions::Updated))
            .foreign_key(&mut fk(
                "fk_sessions_user_id",
                Sessions::Table,
                Sessions::UserId,
                Users::Table,
                Users::Id,
                CASCADE,
            ))
            .to_owned(),
        Table::create()
            .table(LoginAttempts::Table)
            .col(pk(LoginAttempts::Id))
            .col(varchar(LoginAttempts::Key, 300))
            .col(tz(LoginAttempts::AttemptedAt))
            .col(boolean(LoginAttempts::Succeeded))
            .to_owned(),
    ]
}

// ---------------------------------------------------------------------------
// Indexes
// ---------------------------------------------------------------------------

/// Every index and unique constraint expressible with the schema builder.
fn indexes() -> Vec<IndexCreateStatement> {
    use Observations as O;
    vec![
        index(
            "ix_organizations_part_of_id",
            Organizations::Table,
            [Organizations::PartOfId],
            false,
        ),
        index(
            "ix_organizations_name",
            Organizations::Table,
            [Organizations::Name],
            false,
        ),
        index(
            "ux_practitioner_organizations_practitioner_organization",
            PractitionerOrganizations::Table,
            [
                PractitionerOrganizations::PractitionerId,
                PractitionerOrganizations::OrganizationId,
            ],
            true,
        ),
        index(
            "ix_practitioner_organizations_organization_id",
            PractitionerOrganizations::Table,
            [PractitionerOrganizations::OrganizationId],
            false,
        ),
        index(
            "ix_patients_identifier",
            Patients::Table,
            [Patients::Identifier],
            false,
        ),
        index(
            "ux_patient_organizations_patient_organization",
            PatientOrganizations::Table,
            [
                PatientOrganizations::PatientId,
                PatientOrganizations::OrganizationId,
            ],
            true,
        ),
        index(
            "ix_patient_organizations_organization_patient",
            PatientOrganizations::Table,
            [
                PatientOrganizations::OrganizationId,
                PatientOrganizations::PatientId,
            ],
            false,
        ),
        index(
            "ix_studies_organization_name",
            Studies::Table,
            [Studies::OrganizationId, Studies::Name],
            false,
        ),
        index(
            "ux_study_patients_study_patient",
            StudyPatients::Table,
            [StudyPatients::StudyId, StudyPatients::PatientId],
            true,
        ),
        index(
            "ix_study_patients_patient_id",
            StudyPatients::Table,
            [StudyPatients::PatientId],
            false,
        ),
        index(
            "ux_codeable_concepts_system_code",
            CodeableConcepts::Table,
            [CodeableConcepts::CodingSystem, CodeableConcepts::CodingCode],
            true,
        ),
        index(
            "ux_study_scope_requests_study_scope",
            StudyScopeRequests::Table,
            [StudyScopeRequests::StudyId, StudyScopeRequests::ScopeCodeId],
            true,
        ),
        index(
            "ux_study_patient_scope_consents_study_patient_scope",
            StudyPatientScopeConsents::Table,
            [
                StudyPatientScopeConsents::StudyPatientId,
                StudyPatientScopeConsents::ScopeCodeId,
            ],
            true,
        ),
        index(
            "ix_study_patient_scope_consents_scope_code_id",
            StudyPatientScopeConsents::Table,
            [StudyPatientScopeConsents::ScopeCodeId],
            false,
        ),
        index(
            "ix_data_sources_name",
            DataSources::Table,
            [DataSources::Name],
            false,
        ),
        index(
            "ux_data_source_supported_scopes_source_scope",
            DataSourceSupportedScopes::Table,
            [
                DataSourceSupportedScopes::DataSourceId,
                DataSourceSupportedScopes::ScopeCodeId,
            ],
            true,
        ),
        index(
            "ix_oauth_applications_name",
            OauthApplications::Table,
            [OauthApplications::Name],
            false,
        ),
        index(
            "ix_oauth_applications_user_id",
            OauthApplications::Table,
            [OauthApplications::UserId],
            false,
        ),
        index(
            "ux_study_data_sources_study_data_source",
            StudyDataSources::Table,
            [StudyDataSources::StudyId, StudyDataSources::DataSourceId],
            true,
        ),
        index(
            "ux_study_clients_study_client",
            StudyClients::Table,
            [StudyClients::StudyId, StudyClients::ClientId],
            true,
        ),
        index(
            "ux_client_data_sources_client_data_source",
            ClientDataSources::Table,
            [ClientDataSources::ClientId, ClientDataSources::DataSourceId],
            true,
        ),
        index(
            "ix_observations_patient_concept_start",
            O::Table,
            [O::SubjectPatientId, O::CodeableConceptId, O::EffectiveStart],
            false,
        ),
        index(
            "ix_observations_patient_updated_id",
            O::Table,
            [O::SubjectPatientId, O::LastUpdated, O::Id],
            false,
        ),
        index(
            "ix_observations_codeable_concept_id",
            O::Table,
            [O::CodeableConceptId],
            false,
        ),
        index(
            "ix_observations_updated_id",
            O::Table,
            [O::LastUpdated, O::Id],
            false,
        ),
        index(
            "ix_observations_data_source_id",
            O::Table,
            [O::DataSourceId],
            false,
        ),
        index("ix_observations_ow_key", O::Table, [O::OwKey], false),
        index(
            "ix_observation_identifiers_observation_id",
            ObservationIdentifiers::Table,
            [ObservationIdentifiers::ObservationId],
            false,
        ),
        index(
            "ix_oauth_grants_user_application",
            OauthGrants::Table,
            [OauthGrants::UserId, OauthGrants::ApplicationId],
            false,
        ),
        index(
            "ix_oauth_access_tokens_user_id",
            OauthAccessTokens::Table,
            [OauthAccessTokens::UserId],
            false,
        ),
        index(
            "ix_oauth_access_tokens_expires",
            OauthAccessTokens::Table,
            [OauthAccessTokens::Expires],
            false,
        ),
        index(
            "ix_oauth_refresh_tokens_token_family",
            OauthRefreshTokens::Table,
            [OauthRefreshTokens::TokenFamily],
            false,
        ),
        index(
            "ix_oauth_refresh_tokens_access_token_id",
            OauthRefreshTokens::Table,
            [OauthRefreshTokens::AccessTokenId],
            false,
        ),
        index(
            "ix_oauth_refresh_tokens_user_id",
            OauthRefreshTokens::Table,
            [OauthRefreshTokens::UserId],
            false,
        ),
        index(
            "ix_sessions_expires",
            Sessions::Table,
            [Sessions::Expires],
            false,
        ),
        index(
            "ix_sessions_user_id",
            Sessions::Table,
            [Sessions::UserId],
            false,
        ),
        index(
            "ix_login_attempts_key_attempted_at",
            LoginAttempts::Table,
            [LoginAttempts::Key, LoginAttempts::AttemptedAt],
            false,
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// Always transactional: SQLite DDL is transactional too, so a failed
    /// migration never leaves a half-built schema on either backend.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        let conn = manager.get_connection();
        conn.execute_unprepared(UX_OBSERVATION_IDENTIFIERS).await?;
        conn.execute_unprepared(UX_JHE_SETTINGS).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Indexes and foreign keys go away with their tables; children are
        // dropped before their parents so that no foreign key is violated.
        for name in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(Alias::new(*name)).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_order_matches_creation_order() {
        let created: Vec<String> = tables()
            .iter()
            .map(|t| t.to_string(SqliteQueryBuilder))
            .collect();
        assert_eq!(created.len(), TABLES.len());
        for (sql, name) in created.iter().zip(TABLES) {
            assert!(
                sql.starts_with(&format!(r#"CREATE TABLE "{name}" ("#)),
                "{name}: {sql}"
            );
        }
    }

    #[test]
    fn primary_keys_per_backend() {
        let users = &tables()[0];
        let pg = users.to_string(PostgresQueryBuilder);
        let sqlite = users.to_string(SqliteQueryBuilder);
        eprintln!("{pg}\n{sqlite}");
        assert!(
            pg.contains(r#""id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL PRIMARY KEY"#)
        );
        assert!(sqlite.contains(r#""id" integer NOT NULL PRIMARY KEY AUTOINCREMENT"#));
    }
}
