//! Patients as the Admin API manages them (rest-api.md §4): listing and reading through the
//! caller's sealed [`AccessScope`](crate::policy::AccessScope), creating, changing, removing from
//! an organisation, the global e-mail lookup, adding to another organisation and the clients of a
//! patient's studies.
//!
//! Closes the original's gaps: a patient is visible only to the patient and to practitioners who
//! share an organisation with them (superusers included); anything else answers `404`, exactly
//! like an unknown id. Adding a patient to an organisation and the e-mail lookup need
//! `patient.manage_for_organization`; the lookup shows no personal data; a patient record is
//! never linked to an account of a practitioner or superuser; changing or removing a patient
//! through an organisation needs the patient to belong to it.

use crate::audit::{AuditEvent, AuditKind};
use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;

use crate::domain::{
    Id, NewPatient, NewUser, OAuthClient, Organization, Page, PageRequest, Patient, TextRule,
    UserType, keys,
};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::fields::FieldErrors;
use crate::services::guard::{allowed, require, scope};
use crate::store::PatientQuery;

/// `404` detail of a missing patient.
pub const NO_PATIENT: &str = "No Patient matches the given query.";
/// Generic `403` detail.
pub const NOT_ALLOWED: &str = "You do not have permission to perform this action.";

/// A patient with the e-mail of its account and its organisations (the `Patient` object).
#[derive(Debug, Clone, PartialEq)]
pub struct PatientView {
    /// The record.
    pub patient: Patient,
    /// The account's e-mail, if the patient has an account.
    pub email: Option<String>,
    /// The patient's organisations, ordered by name.
    pub organizations: Vec<Organization>,
}

/// Fields of a patient to create or change. Absent fields are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientInput {
    /// External identifier.
    pub identifier: Option<String>,
    /// Family name.
    pub name_family: Option<String>,
    /// Given name.
    pub name_given: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// Phone number.
    pub telecom_phone: Option<String>,
    /// E-mail of the account (create only; ignored on update).
    pub telecom_email: Option<String>,
}

/// A client of one of the patient's studies, with the patient's current invitation link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientClient {
    /// The OAuth client.
    pub client: OAuthClient,
    /// Setting `client.code_verifier` of the client; only shown to callers who may manage
    /// clients (as in the client list).
    pub code_verifier: Option<String>,
    /// Setting `client.invitation_url` of the client.
    pub invitation_url: Option<String>,
    /// The link of the patient's current (unexpired) invitation code for this client.
    pub invitation_link: Option<String>,
}

/// The organisations of each of `patient_ids` (ordered by name, as [`view`] lists them), in
/// two queries whatever the number of patients (organisation links, organisations). A patient
/// in no organisation has no entry.
///
/// # Errors
/// Store failures.
pub async fn organizations_of_patients(
    state: &AppState,
    patient_ids: &[Id],
) -> CoreResult<HashMap<Id, Vec<Organization>>> {
    let links = state
        .store
        .list_organization_links_of_patients(patient_ids)
        .await?;
    let mut org_ids: Vec<Id> = links.iter().map(|(_, org)| *org).collect();
    org_ids.sort_unstable();
    org_ids.dedup();
    // `get_organizations` orders by name.
    let organizations = state.store.get_organizations(&org_ids).await?;
    let mut of_patient: HashMap<Id, Vec<Id>> = HashMap::new();
    for (patient, org) in links {
        of_patient.entry(patient).or_default().push(org);
    }
    Ok(of_patient
        .into_iter()
        .map(|(patient, ids)| {
            let orgs = organizations
                .iter()
                .filter(|o| ids.contains(&o.id))
                .cloned()
                .collect();
            (patient, orgs)
        })
        .collect())
}

/// Loads the e-mails and organisations of a page of patients in three queries, whatever the
/// page size (users, organisation links, organisations); same result as [`view`] per patient.
///
/// # Errors
/// Store failures.
pub async fn views(state: &AppState, patients: Vec<Patient>) -> CoreResult<Vec<PatientView>> {
    let user_ids: Vec<Id> = patients.iter().filter_map(|p| p.jhe_user_id).collect();
    let emails: HashMap<Id, String> = state
        .store
        .get_users(&user_ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let patient_ids: Vec<Id> = patients.iter().map(|p| p.id).collect();
    let mut of_patient = organizations_of_patients(state, &patient_ids).await?;
    Ok(patients
        .into_iter()
        .map(|patient| PatientView {
            email: patient.jhe_user_id.and_then(|id| emails.get(&id).cloned()),
            organizations: of_patient.remove(&patient.id).unwrap_or_default(),
            patient,
        })
        .collect())
}

/// Loads the e-mail and organisations of a patient.
pub async fn view(state: &AppState, patient: Patient) -> CoreResult<PatientView> {
    let email = match patient.jhe_user_id {
        Some(uid) => state.store.get_user(uid).await?.map(|u| u.email),
        None => None,
    };
    let org_ids = state
        .store
        .list_patient_organization_ids(patient.id)
        .await?;
    let organizations = state.store.get_organizations(&org_ids).await?;
    Ok(PatientView {
        patient,
        email,
        organizations,
    })
}

/// Reading one patient record, for every surface (Admin API, FHIR, portal, MCP): the patient if
/// the caller's access scope shows it; `None` for both "not visible" and "not there".
///
/// # Errors
/// Store failures.
pub async fn read(state: &AppState, principal: &Principal, id: Id) -> CoreResult<Option<Patient>> {
    Ok(state
        .store
        .get_patient(&scope(state, principal).await, id)
        .await?)
}

/// [`read`], or `404` (the same answer as for an id that does not exist, so ids cannot be
/// probed).
///
/// # Errors
/// `404`, and store failures.
pub async fn visible_or_404(
    state: &AppState,
    principal: &Principal,
    id: Id,
) -> CoreResult<Patient> {
    read(state, principal, id)
        .await?
        .ok_or_else(|| CoreError::NotFound(NO_PATIENT.into()))
}

/// The ids of the organisations the caller (as practitioner) is directly linked to.
pub async fn linked_organization_ids(
    state: &AppState,
    principal: &Principal,
) -> CoreResult<Vec<Id>> {
    let Some(practitioner) = &principal.practitioner else {
        return Ok(Vec::new());
    };
    Ok(state
        .store
        .list_practitioner_organizations(practitioner.id)
        .await?
        .into_iter()
        .map(|l| l.organization_id)
        .collect())
}

fn empty<T>(page: PageRequest) -> Page<T> {
    Page {
        items: Vec::new(),
        total: 0,
        request: page,
    }
}

/// Patients sharing an organisation with the caller (filtered in SQL), ordered by id.
/// Patients, and practitioners without organisations, get an empty page; so does a filter on an
/// organisation the caller is not linked to, or on a study the caller may not read.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    query: PatientQuery,
    page: PageRequest,
) -> CoreResult<Page<PatientView>> {
    if principal.practitioner.is_none()
        || query
            .identifier
            .as_deref()
            .is_some_and(|i| i.contains('\0'))
    {
        return Ok(empty(page));
    }
    if let Some(org) = query.organization_id
        && !linked_organization_ids(state, principal)
            .await?
            .contains(&org)
    {
        return Ok(empty(page));
    }
    if let Some(study_id) = query.study_id {
        let readable = match state.store.get_study(study_id).await? {
            Some(study) => {
                allowed(
                    state,
                    principal,
                    Action::ReadStudy {
                        organization_id: study.organization_id,
                    },
                )
                .await?
            }
            None => false,
        };
        if !readable {
            return Ok(empty(page));
        }
    }
    let found = state
        .store
        .list_patients(&scope(state, principal).await, &query, page)
        .await?;
    crate::services::audit::record_access(
        state,
        principal,
        AuditKind::Search,
        "Patient",
        None,
        found.items.iter().map(|p| p.id),
    );
    Ok(Page {
        items: views(state, found.items).await?,
        total: found.total,
        request: found.request,
    })
}

/// One patient: the patient themself or a practitioner sharing an organisation with them
/// (superusers too only through their organisations); `404` otherwise.
pub async fn get(state: &AppState, principal: &Principal, id: Id) -> CoreResult<PatientView> {
    let found = visible_or_404(state, principal, id).await;
    let event = AuditEvent::by(principal, AuditKind::Read).entity(format!("Patient/{id}"));
    crate::services::audit::record(
        state,
        match &found {
            Ok(p) => event.patient(p.id),
            Err(e) => event.failed(e.to_string()),
        },
    );
    view(state, found?).await
}

fn trimmed(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

fn parse_date(raw: &str) -> Option<NaiveDate> {
    use chrono::Datelike;
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .ok()
        .filter(|d| (1..=9999).contains(&d.year()))
}

/// Validated patient fields; `required` makes names and birth date mandatory.
struct CheckedFields {
    name_family: Option<String>,
    name_given: Option<String>,
    birth_date: Option<NaiveDate>,
}

fn check_fields(input: &PatientInput, required: bool, errors: &mut FieldErrors) -> CheckedFields {
    errors.text(
        "identifier",
        input.identifier.as_deref(),
        TextRule::IDENTIFIER,
        false,
    );
    errors.text(
        "telecomPhone",
        input.telecom_phone.as_deref(),
        TextRule::PHONE,
        false,
    );
    let name_family = errors.text(
        "nameFamily",
        input.name_family.as_deref(),
        TextRule::PERSON_NAME,
        required,
    );
    let name_given = errors.text(
        "nameGiven",
        input.name_given.as_deref(),
        TextRule::PERSON_NAME,
        required,
    );
    let birth_date = match &input.birth_date {
        Some(raw) => match parse_date(raw) {
            Some(d) => Some(d),
            None => {
                errors.add(
                    "birthDate",
                    "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
                );
                None
            }
        },
        None => {
            if required {
                errors.add("birthDate", "This field is required.");
            }
            None
        }
    };
    CheckedFields {
        name_family,
        name_given,
        birth_date,
    }
}

/// Creates a patient in `organization_id` (needs `patient.manage_for_organization` there).
/// The account is found by `telecomEmail` or created (type `patient`, unusable password). A user
/// that already has a patient record is a `409`. Nothing is left behind when a step fails.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    organization_id: Option<Id>,
    input: PatientInput,
) -> CoreResult<PatientView> {
    let Some(organization_id) = organization_id else {
        return Err(CoreError::field(
            "organizationId",
            "This field is required.",
        ));
    };
    require(state, principal, Action::ManagePatients { organization_id }).await?;
    if state
        .store
        .get_organization(organization_id)
        .await?
        .is_none()
    {
        return Err(CoreError::field(
            "organizationId",
            format!("Invalid pk \"{organization_id}\" - object does not exist."),
        ));
    }
    let mut errors = FieldErrors::new();
    let email = match errors.text(
        "telecomEmail",
        trimmed(&input.telecom_email).as_deref(),
        TextRule::EMAIL,
        true,
    ) {
        Some(e) if !is_valid_email(&e) => {
            errors.add("telecomEmail", "Enter a valid email address.");
            None
        }
        other => other,
    };
    let fields = check_fields(&input, true, &mut errors);
    errors.into_result()?;
    let (Some(email), Some(name_family), Some(name_given), Some(birth_date)) = (
        email,
        fields.name_family,
        fields.name_given,
        fields.birth_date,
    ) else {
        return Err(CoreError::BadRequest("Invalid input.".into()));
    };

    // Every check before the first write.
    let existing = state.store.get_user_by_email(&email).await?;
    if let Some(user) = &existing {
        if state.store.get_patient_by_user(user.id).await?.is_some() {
            return Err(CoreError::Conflict(
                "A patient with this e-mail address already exists; add it to the organization with global_add_organization.".into(),
            ));
        }
        // Linking a patient record to an account makes whoever may invite the patient able to
        // mint tokens for that account: only a patient-only account may be linked.
        if !is_patient_only_account(state, user).await? {
            return Err(CoreError::Conflict(ACCOUNT_NOT_PATIENT.into()));
        }
    }
    // The account (when new), the record and the membership: all or nothing.
    let uow = state.store.begin().await?;
    let user = match existing {
        Some(user) => user,
        None => {
            uow.create_user(NewUser {
                email: email.clone(),
                password: jhe_kdf::unusable_password(),
                user_type: Some(UserType::Patient),
                ..Default::default()
            })
            .await?
        }
    };
    let patient = uow
        .create_patient(NewPatient {
            id: None,
            jhe_user_id: Some(user.id),
            identifier: trimmed(&input.identifier),
            name_family,
            name_given,
            birth_date,
            telecom_phone: trimmed(&input.telecom_phone),
        })
        .await?;
    uow.add_patient_organization(patient.id, organization_id)
        .await?;
    uow.commit().await?;
    view(state, patient).await
}

/// `409` detail when a patient would be linked to an account that is not a patient's.
pub const ACCOUNT_NOT_PATIENT: &str = "An account with this e-mail address exists and is not a patient account; a patient record cannot be linked to it.";

/// Whether `user` is an account of a patient only: not a superuser, not a practitioner (by type
/// or profile).
pub async fn is_patient_only_account(
    state: &AppState,
    user: &crate::domain::User,
) -> CoreResult<bool> {
    Ok(!user.is_superuser
        && user.user_type != Some(UserType::Practitioner)
        && state
            .store
            .get_practitioner_by_user(user.id)
            .await?
            .is_none())
}

/// Checks the organisation given to change or remove a patient: the caller needs
/// `patient.manage_for_organization` there and the patient must belong to it (`404` otherwise,
/// as for any patient the caller cannot see).
async fn require_manage_through(
    state: &AppState,
    principal: &Principal,
    patient_id: Id,
    organization_id: Id,
) -> CoreResult<()> {
    require(state, principal, Action::ManagePatients { organization_id }).await?;
    if !state
        .store
        .list_patient_organization_ids(patient_id)
        .await?
        .contains(&organization_id)
    {
        return Err(CoreError::NotFound(NO_PATIENT.into()));
    }
    Ok(())
}

/// Changes a patient. The caller needs `patient.manage_for_organization` on `organization_id`,
/// an organisation of the patient (superusers may omit it). `full` (PUT) requires names and
/// birth date.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: Id,
    organization_id: Option<Id>,
    input: PatientInput,
    full: bool,
) -> CoreResult<PatientView> {
    let mut patient = visible_or_404(state, principal, id).await?;
    match organization_id {
        Some(org) => require_manage_through(state, principal, id, org).await?,
        None if principal.is_superuser() => {}
        None => return Err(CoreError::Forbidden(NOT_ALLOWED.into())),
    }
    let mut errors = FieldErrors::new();
    let fields = check_fields(&input, full, &mut errors);
    errors.into_result()?;
    if let Some(v) = fields.name_family {
        patient.name_family = v;
    }
    if let Some(v) = fields.name_given {
        patient.name_given = v;
    }
    if let Some(v) = fields.birth_date {
        patient.birth_date = v;
    }
    if input.identifier.is_some() || full {
        patient.identifier = trimmed(&input.identifier);
    }
    if input.telecom_phone.is_some() || full {
        patient.telecom_phone = trimmed(&input.telecom_phone);
    }
    let patient = state.store.update_patient(&patient).await?;
    view(state, patient).await
}

/// Removes a patient from an organisation (rest-api.md §4.5): the membership, the consents and
/// enrolments of that organisation's studies; a patient left without organisations is deleted
/// with its observations, and so is its account unless it is a practitioner's.
pub async fn remove_from_organization(
    state: &AppState,
    principal: &Principal,
    id: Id,
    organization_id: Option<Id>,
) -> CoreResult<()> {
    let patient = visible_or_404(state, principal, id).await?;
    let organization_id = match organization_id {
        Some(org) => org,
        None if principal.is_superuser() => {
            return Err(CoreError::BadRequest("organizationId required".into()));
        }
        None => return Err(CoreError::Forbidden(NOT_ALLOWED.into())),
    };
    require_manage_through(state, principal, id, organization_id).await?;
    // Whether the account may go with the patient record is decided before the unit of work.
    let deletable_user = match patient.jhe_user_id {
        Some(uid) => match state.store.get_user(uid).await? {
            Some(user) => {
                let is_practitioner = user.user_type == Some(UserType::Practitioner)
                    || user.is_superuser
                    || state.store.get_practitioner_by_user(uid).await?.is_some();
                (!is_practitioner).then_some(uid)
            }
            None => None,
        },
        None => None,
    };
    // Membership, the enrolments in the organisation's studies (with their consents) and, for
    // the last organisation, the patient and their patient-only account: all or nothing.
    let uow = state.store.begin().await?;
    uow.remove_patient_organization(id, organization_id).await?;
    uow.unenroll_patient_from_organization_studies(id, organization_id)
        .await?;
    if uow.list_patient_organization_ids(id).await?.is_empty() {
        uow.delete_patient(id).await?;
        if let Some(uid) = deletable_user {
            uow.delete_user(uid).await?;
        }
    }
    uow.commit().await?;
    state.tokens.clear();
    Ok(())
}

/// What the e-mail lookup tells about a patient: that the account exists, and which of the
/// caller's own organisations the patient already belongs to. Nothing else (no names, no birth
/// date, no other organisations).
#[derive(Debug, Clone, PartialEq)]
pub struct PatientLookup {
    /// The patient record's id (what `global_add_organization` takes).
    pub id: Id,
    /// The looked-up address, as stored.
    pub email: String,
    /// The patient's organisations among those the caller belongs to, ordered by name.
    pub organizations: Vec<Organization>,
}

/// Whether the caller may manage patients of at least one organisation (superusers: always).
async fn manages_some_patients(state: &AppState, principal: &Principal) -> CoreResult<bool> {
    if principal.is_superuser() {
        return Ok(true);
    }
    for organization_id in linked_organization_ids(state, principal).await? {
        if allowed(state, principal, Action::ManagePatients { organization_id }).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The patient whose account has exactly this e-mail (0 or 1), for practitioners who may manage
/// patients of some organisation and want to add an existing patient to it (`403` for anyone
/// else). Answers only whether the patient exists and which of the caller's organisations they
/// are already in.
pub async fn global_lookup(
    state: &AppState,
    principal: &Principal,
    email: Option<&str>,
) -> CoreResult<Vec<PatientLookup>> {
    if !manages_some_patients(state, principal).await? {
        return Err(CoreError::Forbidden(NOT_ALLOWED.into()));
    }
    let Some(email) = email.map(str::trim).filter(|e| !e.is_empty()) else {
        return Err(CoreError::BadRequest("email parameter required".into()));
    };
    if email.contains('\0') {
        return Ok(Vec::new());
    }
    let Some(user) = state.store.get_user_by_email(email).await? else {
        return Ok(Vec::new());
    };
    let Some(patient) = state.store.get_patient_by_user(user.id).await? else {
        return Ok(Vec::new());
    };
    let mine = linked_organization_ids(state, principal).await?;
    let shared: Vec<Id> = state
        .store
        .list_patient_organization_ids(patient.id)
        .await?
        .into_iter()
        .filter(|o| mine.contains(o))
        .collect();
    Ok(vec![PatientLookup {
        id: patient.id,
        email: user.email,
        organizations: state.store.get_organizations(&shared).await?,
    }])
}

/// `403` detail when a caller adds a patient to an organisation they are not a member of.
pub const NOT_A_MEMBER: &str = "Only members of the organization may add patients to it.";

/// Adds an existing patient to an organisation (idempotent). Needs
/// `patient.manage_for_organization` on that organisation and membership in it. A patient the caller cannot see yet
/// is only added when `email` names the patient's account (the address the lookup was made
/// with): knowing a sequential id is not enough to pull someone into an organisation. Unknown
/// patients and a wrong address both answer `404`.
pub async fn add_organization(
    state: &AppState,
    principal: &Principal,
    id: Id,
    organization_id: Option<Id>,
    email: Option<&str>,
) -> CoreResult<PatientView> {
    let Some(organization_id) = organization_id else {
        return Err(CoreError::BadRequest(
            "organizationId parameter required".into(),
        ));
    };
    crate::services::organizations::get_or_404(state, organization_id).await?;
    require(state, principal, Action::ManagePatients { organization_id }).await?;
    // Superusers too: adding a patient makes them visible to the organisation's members, and
    // the caller must be one of them to see what they added.
    if !linked_organization_ids(state, principal)
        .await?
        .contains(&organization_id)
    {
        return Err(CoreError::Forbidden(NOT_A_MEMBER.into()));
    }
    let visible = state
        .store
        .get_patient(&scope(state, principal).await, id)
        .await?
        .is_some();
    if !visible {
        let email = email
            .map(str::trim)
            .filter(|e| !e.is_empty() && !e.contains('\0'))
            .ok_or_else(|| CoreError::NotFound(NO_PATIENT.into()))?;
        let named = match state.store.get_user_by_email(email).await? {
            Some(user) => state.store.get_patient_by_user(user.id).await?,
            None => None,
        };
        if named.map(|p| p.id) != Some(id) {
            return Err(CoreError::NotFound(NO_PATIENT.into()));
        }
    }
    state
        .store
        .add_patient_organization(id, organization_id)
        .await?;
    let patient = visible_or_404(state, principal, id).await?;
    view(state, patient).await
}

async fn client_setting(state: &AppState, key: &str, client_id: Id) -> CoreResult<Option<String>> {
    Ok(state
        .store
        .get_setting(key, Some(client_id))
        .await?
        .and_then(|s| s.value.as_str().map(str::to_string)))
}

/// The clients of every study the patient is enrolled in (distinct, by id). `invitation_link` is
/// always `None`: invitation codes are stored hashed, so only `invitation_link` (which mints a
/// new code) can show one. The code verifier is only shown to callers who may manage clients.
pub async fn consolidated_clients(
    state: &AppState,
    principal: &Principal,
    id: Id,
) -> CoreResult<Vec<PatientClient>> {
    visible_or_404(state, principal, id).await?;
    let mut client_ids = BTreeSet::new();
    for enrolment in state
        .store
        .list_patient_studies(&scope(state, principal).await, id)
        .await?
    {
        for link in state.store.list_study_clients(enrolment.study_id).await? {
            client_ids.insert(link.client_id);
        }
    }
    let show_verifier = allowed(state, principal, Action::ManageClients).await?;
    let mut out = Vec::with_capacity(client_ids.len());
    for client_id in client_ids {
        let Some(client) = state.store.get_client(client_id).await? else {
            continue;
        };
        let code_verifier = client_setting(state, keys::CLIENT_CODE_VERIFIER, client.id).await?;
        let invitation_url = client_setting(state, keys::CLIENT_INVITATION_URL, client.id).await?;
        // Invitation codes are stored hashed only, so a link cannot be shown again: mint a new
        // one with `invitation_link` (the original re-rendered the stored plain code).
        let invitation_link = None;
        out.push(PatientClient {
            client,
            code_verifier: code_verifier.filter(|_| show_verifier),
            invitation_url,
            invitation_link,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_and_dates() {
        assert!(is_valid_email("jane@example.com"));
        assert!(!is_valid_email("jane"));
        assert!(!is_valid_email("jane@example"));
        assert!(!is_valid_email("ja ne@example.com"));
        assert!(!is_valid_email("@example.com"));
        assert_eq!(
            parse_date("1990-02-03"),
            NaiveDate::from_ymd_opt(1990, 2, 3)
        );
        assert_eq!(parse_date("03/02/1990"), None);
        assert_eq!(parse_date("0000-01-01"), None);
    }

    #[test]
    fn missing_fields_are_reported_together() {
        let mut errors = FieldErrors::new();
        check_fields(&PatientInput::default(), true, &mut errors);
        let errors = errors.into_map();
        assert_eq!(
            errors.keys().cloned().collect::<Vec<_>>(),
            vec!["birthDate", "nameFamily", "nameGiven"]
        );
        let mut errors = FieldErrors::new();
        check_fields(&PatientInput::default(), false, &mut errors);
        assert!(errors.is_empty());
    }
}
