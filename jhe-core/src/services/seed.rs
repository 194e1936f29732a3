//! The demo data of the default server (the original's `seed` command): the same users,
//! passwords, organisations, studies, patients, scopes, data sources, consents, observations and
//! the `JHE Admin UI` client, with the ids the original fixes. Idempotent: rows that exist are
//! left as they are, so seeding twice leaves the same data.

use chrono::{DateTime, Duration, NaiveDate, SubsecRound, Utc};
use serde_json::json;

use crate::config::Config;
use crate::domain::{
    ADMIN_UI_CLIENT_NAME, Id, NewCodeableConcept, NewDataSource, NewOAuthClient, NewObservation,
    NewOrganization, NewStudy, NewUser, OMH_SYSTEM, ROOT_ORGANIZATION_ID, SettingValue, UserType,
    keys,
};
use crate::error::{CoreError, CoreResult};
use crate::services::accounts::{ProfileDetails, create_user_with_profile};
use crate::store::{AccessScope, Store};

/// The password of every seeded user. It is published (README), so a server reachable from
/// elsewhere refuses to start while a seeded account still has it (see
/// [`accounts_with_published_password`]).
pub const SEED_PASSWORD: &str = "Jhe1234!";

/// The seeded superuser.
pub const DEMO_SUPERUSER_EMAIL: &str = "sam@example.com";

/// Where the first id of each table starts after seeding (as the original restarts sequences).
pub const SEQUENCE_STARTS: &[(&str, i64)] = &[
    ("users", 10001),
    ("organizations", 20001),
    ("studies", 30001),
    ("patients", 40001),
    ("codeable_concepts", 50001),
    ("observations", 60001),
    ("data_sources", 70001),
    ("practitioners", 80001),
];

/// Receives progress of a long-running task (a progress bar, a log line…).
pub trait Progress: Send + Sync {
    /// The task has `total` steps.
    fn start(&self, total: u64);
    /// One step is done.
    fn advance(&self, message: &str);
    /// The task is done.
    fn finish(&self);
}

/// Ignores progress.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total: u64) {}
    fn advance(&self, _message: &str) {}
    fn finish(&self) {}
}

/// What `seed` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Rows created.
    pub created: u64,
    /// Rows that already existed.
    pub existing: u64,
}

struct SeedUser {
    id: Id,
    email: &'static str,
    last_name: &'static str,
    user_type: UserType,
    profile_id: Id,
    phone: &'static str,
    birth_date: Option<(i32, u32, u32)>,
}

const USERS: &[SeedUser] = &[
    SeedUser {
        id: 10002,
        email: "mary@example.com",
        last_name: "Swanson",
        user_type: UserType::Practitioner,
        profile_id: 80002,
        phone: "+1-770-135-4993",
        birth_date: None,
    },
    SeedUser {
        id: 10003,
        email: "megan@example.com",
        last_name: "Ruiz",
        user_type: UserType::Practitioner,
        profile_id: 80003,
        phone: "+1-415-555-0103",
        birth_date: None,
    },
    SeedUser {
        id: 10004,
        email: "victor@example.com",
        last_name: "Edwards",
        user_type: UserType::Practitioner,
        profile_id: 80004,
        phone: "+1-415-555-0104",
        birth_date: None,
    },
    SeedUser {
        id: 10005,
        email: "tom@example.com",
        last_name: "Hughes",
        user_type: UserType::Practitioner,
        profile_id: 80005,
        phone: "+1-415-555-0105",
        birth_date: None,
    },
    SeedUser {
        id: 10006,
        email: "peter@example.com",
        last_name: "Smith",
        user_type: UserType::Patient,
        profile_id: 40001,
        phone: "+1-205-822-1761",
        birth_date: Some((1984, 1, 13)),
    },
    SeedUser {
        id: 10007,
        email: "pamela@example.com",
        last_name: "Duarte",
        user_type: UserType::Patient,
        profile_id: 40002,
        phone: "+1-415-555-0107",
        birth_date: Some((1990, 6, 2)),
    },
    SeedUser {
        id: 10008,
        email: "mark@example.com",
        last_name: "Oliver",
        user_type: UserType::Practitioner,
        profile_id: 80006,
        phone: "+1-415-555-0108",
        birth_date: None,
    },
    SeedUser {
        id: 10009,
        email: "percy@example.com",
        last_name: "Hayes",
        user_type: UserType::Patient,
        profile_id: 40003,
        phone: "+1-415-555-0109",
        birth_date: Some((1987, 9, 21)),
    },
    SeedUser {
        id: 10010,
        email: "paul@example.com",
        last_name: "Bennett",
        user_type: UserType::Patient,
        profile_id: 40004,
        phone: "+1-415-555-0110",
        birth_date: Some((1995, 3, 8)),
    },
    SeedUser {
        id: 10011,
        email: "pat@example.com",
        last_name: "Morgan",
        user_type: UserType::Patient,
        profile_id: 40005,
        phone: "+1-415-555-0111",
        birth_date: Some((1999, 11, 30)),
    },
];

const CONCEPTS: &[(Id, &str, &str)] = &[
    (50001, "omh:blood-glucose:4.0", "Blood glucose"),
    (50002, "omh:blood-pressure:4.0", "Blood pressure"),
    (50003, "omh:body-temperature:4.0", "Body temperature"),
    (50004, "omh:heart-rate:2.0", "Heart Rate"),
    (50005, "omh:oxygen-saturation:2.0", "Oxygen saturation"),
    (50006, "omh:respiratory-rate:2.0", "Respiratory rate"),
    (50007, "omh:rr-interval:1.0", "RR Interval"),
];

const DATA_SOURCES: &[(Id, &str)] = &[(70001, "CareX"), (70002, "Dexcom"), (70003, "iHealth")];

const ORGANIZATIONS: &[(Id, &str, &str, Option<Id>)] = &[
    (ROOT_ORGANIZATION_ID, "ROOT", "root", None),
    (20001, "Example Research Institute", "edu", Some(0)),
    (20002, "Example School of Data Science", "team", Some(20001)),
    (20003, "Example Lab", "laboratory", Some(20002)),
    (20004, "Example University", "edu", Some(0)),
    (20005, "Example Department", "dept", Some(20004)),
    (20006, "Heart Research Division", "dept", Some(20005)),
    (20007, "Example Lab Alpha", "laboratory", Some(20006)),
    (20008, "Example Lab Beta", "laboratory", Some(20006)),
];

/// (practitioner id, organisation id, role), in the original's insertion order.
const PRACTITIONER_ORGS: &[(Id, Id, &str)] = &[
    (80002, 20001, "manager"),
    (80002, 20002, "manager"),
    (80002, 20003, "manager"),
    (80003, 20003, "member"),
    (80004, 20003, "viewer"),
    (80005, 20003, "viewer"),
    (80006, 20004, "manager"),
    (80006, 20005, "manager"),
    (80006, 20006, "manager"),
    (80006, 20007, "manager"),
    (80005, 20007, "member"),
    (80005, 20008, "manager"),
];

const PATIENT_ORGS: &[(Id, Id)] = &[
    (40001, 20003),
    (40002, 20003),
    (40003, 20007),
    (40004, 20008),
    (40005, 20006),
    (40005, 20008),
];

/// (id, name, description, organisation, requested concept ids).
const STUDIES: &[(Id, &str, &str, Id, &[Id])] = &[
    (
        30001,
        "Example Study on BP & HR",
        "Blood Pressure & Heart Rate",
        20003,
        &[50002, 50004],
    ),
    (
        30002,
        "Example Study on BP",
        "Blood Pressure",
        20003,
        &[50002],
    ),
    (
        30003,
        "Example Study on RR",
        "Respiratory rate",
        20006,
        &[50006],
    ),
    (
        30004,
        "Example Study on BT",
        "Body Temperature",
        20007,
        &[50003],
    ),
    (
        30005,
        "Example Study on O2",
        "Oxygen Saturation",
        20008,
        &[50005],
    ),
];

/// Enrolments (study, patient) in the original's order.
const ENROLMENTS: &[(Id, Id)] = &[
    (30001, 40001),
    (30002, 40001),
    (30001, 40002),
    (30002, 40002),
    (30004, 40003),
    (30005, 40004),
    (30003, 40005),
    (30005, 40005),
];

/// Consents (study, patient, concept), all granted; peter's BP in 30002 stays pending.
const CONSENTS: &[(Id, Id, Id)] = &[
    (30001, 40001, 50002),
    (30001, 40001, 50004),
    (30001, 40002, 50002),
    (30001, 40002, 50004),
    (30002, 40002, 50002),
    (30004, 40003, 50003),
    (30005, 40004, 50005),
    (30003, 40005, 50006),
    (30005, 40005, 50005),
];

const GLOBAL_SETTINGS: &[(&str, &str)] = &[
    (keys::SITE_UI_TITLE, "JupyterHealth Exchange"),
    (keys::SITE_TIME_ZONE, "America/Los_Angeles"),
    (keys::AUTH_DEFAULT_ORGS, ""),
    (keys::AUTH_SSO_IDP_METADATA_URL, ""),
    (keys::AUTH_SSO_VALID_DOMAINS, ""),
];

const STEPS: u64 = 12;

/// The seeded payload of an observation: the Open mHealth sample data point of `code` with a
/// fresh `uuid`, `source_creation_date_time` = now and effective time now + 1 h.
pub fn sample_data_point(
    code: &str,
    now: DateTime<Utc>,
    bump: f64,
) -> CoreResult<serde_json::Value> {
    let (name, version) = code
        .strip_prefix("omh:")
        .and_then(|rest| rest.rsplit_once(':'))
        .ok_or_else(|| CoreError::BadRequest(format!("no sample data point for {code}")))?;
    let created = now
        .trunc_subsecs(0)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let effective = (now + Duration::hours(1))
        .trunc_subsecs(0)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    let frame = json!({"date_time": effective});
    let body = match name {
        "blood-glucose" => {
            json!({"blood_glucose": {"unit": "mg/dl", "value": 129}, "effective_time_frame": frame})
        }
        "blood-pressure" => json!({
            "systolic_blood_pressure": {"value": 115, "unit": "mmHg"},
            "diastolic_blood_pressure": {"value": 60, "unit": "mmHg"},
            "effective_time_frame": frame}),
        "body-temperature" => json!({
            "body_temperature": {"value": 97.0 + bump, "unit": "F"},
            "measurement_location": "forehead",
            "effective_time_frame": frame}),
        "heart-rate" => {
            json!({"heart_rate": {"value": 67.5, "unit": "beats/min"}, "effective_time_frame": frame})
        }
        "oxygen-saturation" => {
            json!({"oxygen_saturation": {"value": (95.0 + bump).min(100.0), "unit": "%"}, "effective_time_frame": frame})
        }
        "respiratory-rate" => {
            json!({"respiratory_rate": {"value": 12.0 + bump, "unit": "breaths/min"}, "effective_time_frame": frame})
        }
        "rr-interval" => {
            json!({"rr_interval": {"value": 30, "unit": "ms"}, "effective_time_frame": frame})
        }
        _ => {
            return Err(CoreError::BadRequest(format!(
                "no sample data point for {code}"
            )));
        }
    };
    Ok(json!({
        "header": {
            "uuid": uuid::Uuid::new_v4().to_string(),
            "schema_id": {"name": name, "version": version, "namespace": "omh"},
            "source_creation_date_time": created,
            "modality": "sensed",
            "external_datasheets": [{"datasheet_type": "manufacturer", "datasheet_reference": "iHealth"}]
        },
        "body": body
    }))
}

/// The e-mail addresses of every account [`seed`] creates, the superuser first; all of them get
/// [`SEED_PASSWORD`].
pub fn demo_account_emails() -> Vec<&'static str> {
    std::iter::once(DEMO_SUPERUSER_EMAIL)
        .chain(USERS.iter().map(|u| u.email))
        .collect()
}

/// The demo accounts (by e-mail, [`demo_account_emails`]) that exist and still accept the
/// published [`SEED_PASSWORD`]. Only those few accounts are checked (password hashing is slow on
/// purpose), on a blocking thread so that the async runtime keeps serving.
///
/// # Errors
/// A store error, or [`CoreError::Internal`] when the blocking task fails.
pub async fn accounts_with_published_password(store: &dyn Store) -> CoreResult<Vec<String>> {
    let mut candidates = Vec::new();
    for email in demo_account_emails() {
        if let Some(user) = store.get_user_by_email(email).await? {
            candidates.push((user.email, user.password));
        }
    }
    tokio::task::spawn_blocking(move || {
        candidates
            .into_iter()
            .filter(|(_, hash)| jhe_kdf::verify_password(SEED_PASSWORD, hash).is_valid())
            .map(|(email, _)| email)
            .collect()
    })
    .await
    .map_err(|e| CoreError::Internal(format!("checking the demo passwords failed: {e}")))
}

/// Seeds the demo data. With `flush`, every table is emptied first.
pub async fn seed(
    store: &dyn Store,
    config: &Config,
    flush: bool,
    progress: &dyn Progress,
) -> CoreResult<SeedReport> {
    let mut report = SeedReport::default();
    progress.start(STEPS + u64::from(flush));
    if flush {
        store.flush().await?;
        progress.advance("flushed every table");
    }
    let mut count = |created: bool| {
        if created {
            report.created += 1
        } else {
            report.existing += 1
        }
    };

    // Superuser.
    if store.get_user(10001).await?.is_none() {
        create_user_with_profile(
            store,
            NewUser {
                id: Some(10001),
                email: "sam@example.com".into(),
                password: hash(SEED_PASSWORD)?,
                is_superuser: true,
                is_staff: true,
                user_type: Some(UserType::Practitioner),
                ..Default::default()
            },
            ProfileDetails {
                profile_id: Some(80001),
                ..Default::default()
            },
        )
        .await?;
        // The original's superuser profile has every field empty.
        if let Some(mut p) = store.get_practitioner(80001).await? {
            p.identifier = None;
            p.name_family = None;
            p.name_given = None;
            store.update_practitioner(&p).await?;
        }
        count(true);
    } else {
        count(false);
    }
    progress.advance("superuser");

    // Settings (created when missing, never overwritten).
    let mut settings: Vec<(&str, SettingValue)> = vec![
        (
            keys::SITE_URL,
            SettingValue::String(config.site_url.clone()),
        ),
        (
            keys::REGISTRATION_INVITE_CODE,
            SettingValue::String(config.registration_invite_code.clone()),
        ),
        (keys::AUTH_SSO_SAML2, SettingValue::Int(0)),
    ];
    settings.extend(
        GLOBAL_SETTINGS
            .iter()
            .map(|(k, v)| (*k, SettingValue::String((*v).to_string()))),
    );
    for (key, value) in settings {
        let exists = store.get_setting(key, None).await?.is_some();
        if !exists {
            store.create_setting(key, None, value).await?;
        }
        count(!exists);
    }
    progress.advance("settings");

    for (id, code, text) in CONCEPTS {
        let exists = store.get_concept(*id).await?.is_some();
        if !exists {
            store
                .create_concept(NewCodeableConcept {
                    id: Some(*id),
                    coding_system: OMH_SYSTEM.into(),
                    coding_code: (*code).into(),
                    text: (*text).into(),
                })
                .await?;
        }
        count(!exists);
    }
    progress.advance("codeable concepts");

    for (id, name) in DATA_SOURCES {
        let exists = store.get_data_source(*id).await?.is_some();
        if !exists {
            store
                .create_data_source(NewDataSource {
                    id: Some(*id),
                    name: Some((*name).into()),
                    source_type: "personal_device".into(),
                })
                .await?;
        }
        count(!exists);
    }
    progress.advance("data sources");

    for (id, name, org_type, part_of) in ORGANIZATIONS {
        let exists = store.get_organization(*id).await?.is_some();
        if !exists {
            store
                .create_organization(NewOrganization {
                    id: Some(*id),
                    name: (*name).into(),
                    org_type: (*org_type).into(),
                    part_of: *part_of,
                })
                .await?;
        }
        count(!exists);
    }
    progress.advance("organizations");

    for u in USERS {
        let exists = store.get_user(u.id).await?.is_some();
        if !exists {
            let local = u.email.split('@').next().unwrap_or_default();
            let mut first = local.to_string();
            if let Some(c) = first.get_mut(0..1) {
                c.make_ascii_uppercase();
            }
            let birth_date = u
                .birth_date
                .and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d));
            let mut user = create_user_with_profile(
                store,
                NewUser {
                    id: Some(u.id),
                    email: u.email.into(),
                    password: hash(SEED_PASSWORD)?,
                    first_name: first,
                    last_name: u.last_name.into(),
                    user_type: Some(u.user_type),
                    ..Default::default()
                },
                ProfileDetails {
                    profile_id: Some(u.profile_id),
                    telecom_phone: Some(u.phone.into()),
                    birth_date,
                    ..Default::default()
                },
            )
            .await?;
            let digit = u.id % 10;
            user.identifier = format!("fhir-{digit}{digit}{digit}");
            store.update_user(&user).await?;
        }
        count(!exists);
    }
    progress.advance("users");

    for (practitioner_id, org_id, role) in PRACTITIONER_ORGS {
        let existing = store
            .list_practitioner_organizations(*practitioner_id)
            .await?;
        let exists = existing.iter().any(|l| l.organization_id == *org_id);
        if !exists {
            store
                .upsert_practitioner_organization(*practitioner_id, *org_id, role)
                .await?;
        }
        count(!exists);
    }
    for (patient_id, org_id) in PATIENT_ORGS {
        let exists = store
            .list_patient_organization_ids(*patient_id)
            .await?
            .contains(org_id);
        if !exists {
            store.add_patient_organization(*patient_id, *org_id).await?;
        }
        count(!exists);
    }
    progress.advance("memberships");

    for (id, name, description, org_id, scopes) in STUDIES {
        let exists = store.get_study(*id).await?.is_some();
        if !exists {
            store
                .create_study(NewStudy {
                    id: Some(*id),
                    name: (*name).into(),
                    description: (*description).into(),
                    organization_id: *org_id,
                    icon_url: None,
                })
                .await?;
            for scope in *scopes {
                store.add_scope_request(*id, *scope).await?;
            }
        }
        count(!exists);
    }
    progress.advance("studies");

    let now = Utc::now();
    for (study_id, patient_id) in ENROLMENTS {
        let exists = store
            .list_patient_studies(&AccessScope::system(), *patient_id)
            .await?
            .iter()
            .any(|sp| sp.study_id == *study_id);
        store.enroll_patient(*study_id, *patient_id).await?;
        count(!exists);
    }
    for (study_id, patient_id, concept_id) in CONSENTS {
        let enrolment = store
            .list_patient_studies(&AccessScope::system(), *patient_id)
            .await?
            .into_iter()
            .find(|sp| sp.study_id == *study_id)
            .ok_or_else(|| CoreError::Internal("seed enrolment missing".into()))?;
        let exists = store
            .list_patient_consents(&AccessScope::system(), *patient_id)
            .await?
            .iter()
            .any(|c| c.study_patient_id == enrolment.id && c.scope_code_id == *concept_id);
        if !exists {
            store
                .upsert_consent(enrolment.id, *concept_id, true, now)
                .await?;
        }
        count(!exists);
    }
    progress.advance("enrolments and consents");

    // One observation per consent row, ids 60001–60009.
    let mut new_observations = Vec::new();
    for (index, (_, patient_id, concept_id)) in CONSENTS.iter().enumerate() {
        let id = 60001 + index as Id;
        let exists = store
            .get_observation(&AccessScope::system(), id)
            .await?
            .is_some();
        if !exists {
            let code = CONCEPTS
                .iter()
                .find(|(cid, _, _)| cid == concept_id)
                .map(|(_, code, _)| *code)
                .ok_or_else(|| CoreError::Internal("seed concept missing".into()))?;
            let bump = if matches!(*concept_id, 50003 | 50005 | 50006) {
                f64::from(1 + (index as u32 * 3) % 10)
            } else {
                0.0
            };
            let payload = sample_data_point(code, now, bump)?;
            let effective = now + Duration::hours(1);
            new_observations.push(NewObservation {
                id: Some(id),
                subject_patient_id: *patient_id,
                codeable_concept_id: *concept_id,
                data_source_id: None,
                value_attachment_data: payload.to_string(),
                content_type: "application/json".into(),
                status: "final".into(),
                effective_start: Some(effective.trunc_subsecs(0)),
                effective_end: None,
                identifiers: Vec::new(),
            });
        }
        count(!exists);
    }
    if !new_observations.is_empty() {
        store.create_observations(new_observations).await?;
    }
    progress.advance("observations");

    // The portal's OAuth client; its redirect URI follows SITE_URL.
    let redirect_uri = format!("{}/auth/callback", config.site_url);
    match store.get_client_by_name(ADMIN_UI_CLIENT_NAME).await? {
        Some(mut client) => {
            if client.redirect_uris != redirect_uri {
                client.redirect_uris = redirect_uri;
                store.update_client(&client).await?;
            }
            count(false);
        }
        None => {
            store
                .create_client(NewOAuthClient {
                    id: Some(1),
                    client_id: jhe_kdf::random_token(40),
                    redirect_uris: redirect_uri,
                    client_type: "public".into(),
                    authorization_grant_type: "authorization-code".into(),
                    client_secret: String::new(),
                    name: ADMIN_UI_CLIENT_NAME.into(),
                    user_id: None,
                    skip_authorization: true,
                    algorithm: "RS256".into(),
                })
                .await?;
            count(true);
        }
    }
    progress.advance("JHE Admin UI client");

    store.sync_id_sequences(SEQUENCE_STARTS).await?;
    progress.advance("id sequences");
    progress.finish();
    Ok(report)
}

fn hash(password: &str) -> CoreResult<String> {
    jhe_kdf::hash_password(password)
        .map_err(|e| CoreError::Internal(format!("cannot hash password: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_account_list() {
        let emails = demo_account_emails();
        assert_eq!(emails.len(), USERS.len() + 1);
        assert!(emails.contains(&"mary@example.com"));
        assert!(emails.contains(&DEMO_SUPERUSER_EMAIL));
    }

    #[test]
    fn sample_points_follow_the_spec() {
        let now = Utc::now();
        let hr = sample_data_point("omh:heart-rate:2.0", now, 0.0).unwrap();
        assert_eq!(hr["body"]["heart_rate"]["value"], 67.5);
        assert_eq!(hr["header"]["schema_id"]["name"], "heart-rate");
        assert_eq!(hr["header"]["schema_id"]["version"], "2.0");
        let bt = sample_data_point("omh:body-temperature:4.0", now, 3.0).unwrap();
        assert_eq!(bt["body"]["body_temperature"]["value"], 100.0);
        assert!(sample_data_point("omh:unknown:1.0", now, 0.0).is_err());
        assert!(sample_data_point("nonsense", now, 0.0).is_err());
    }
}
