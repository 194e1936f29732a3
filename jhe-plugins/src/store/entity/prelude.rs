//! The entity types of every table, under their singular CamelCase names.

pub use super::client_data_source::Entity as ClientDataSource;
pub use super::codeable_concept::Entity as CodeableConcept;
pub use super::data_source::Entity as DataSource;
pub use super::data_source_supported_scope::Entity as DataSourceSupportedScope;
pub use super::jhe_setting::Entity as JheSetting;
pub use super::login_attempt::Entity as LoginAttempt;
pub use super::oauth_access_token::Entity as OauthAccessToken;
pub use super::oauth_application::Entity as OauthApplication;
pub use super::oauth_grant::Entity as OauthGrant;
pub use super::oauth_refresh_token::Entity as OauthRefreshToken;
pub use super::oauth_signing_key::Entity as OauthSigningKey;
pub use super::observation::Entity as Observation;
pub use super::observation_identifier::Entity as ObservationIdentifier;
pub use super::organization::Entity as Organization;
pub use super::patient::Entity as Patient;
pub use super::patient_organization::Entity as PatientOrganization;
pub use super::practitioner::Entity as Practitioner;
pub use super::practitioner_organization::Entity as PractitionerOrganization;
pub use super::session::Entity as Session;
pub use super::study::Entity as Study;
pub use super::study_client::Entity as StudyClient;
pub use super::study_data_source::Entity as StudyDataSource;
pub use super::study_patient::Entity as StudyPatient;
pub use super::study_patient_scope_consent::Entity as StudyPatientScopeConsent;
pub use super::study_scope_request::Entity as StudyScopeRequest;
pub use super::user::Entity as User;
