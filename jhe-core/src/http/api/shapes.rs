//! JSON shapes of the API (camelCase, rest-api.md §0.7), built from domain types.

use chrono::NaiveDate;
use poem_openapi::{Object, Union};

use crate::domain::{Id, Organization, Patient};
use crate::policy::Principal;
use crate::services::users::UserView;

/// An organisation (`OrganizationSerializer`).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename_all = "camelCase")]
pub struct OrganizationJson {
    /// Id.
    pub id: Id,
    /// Name.
    pub name: String,
    /// Type key.
    #[oai(rename = "type")]
    pub org_type: String,
    /// Parent (`0` for top-level organisations, `null` for ROOT).
    pub part_of: Option<Id>,
    /// The caller's role here; always `null` when nested in another object.
    pub current_user_role: Option<String>,
    /// Children (only filled by the tree endpoint).
    pub children: Vec<OrganizationJson>,
}

impl OrganizationJson {
    /// A nested organisation (`currentUserRole` null, no children).
    pub fn nested(org: &Organization) -> Self {
        OrganizationJson {
            id: org.id,
            name: org.name.clone(),
            org_type: org.org_type.clone(),
            part_of: org.part_of,
            current_user_role: None,
            children: Vec::new(),
        }
    }
}

/// One external identifier of a patient (forward compatibility with jupyterhealth-client ≥ 0.3).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename_all = "camelCase")]
pub struct PatientIdentifierJson {
    /// Synthetic id (the patient's).
    pub id: Id,
    /// Identifier system (unknown: `null`).
    pub system: Option<String>,
    /// The identifier.
    pub value: String,
}

/// A patient (`PatientSerializer`).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename_all = "camelCase")]
pub struct PatientJson {
    /// Id.
    pub id: Id,
    /// The patient's account.
    pub jhe_user_id: Option<Id>,
    /// External identifier (`""` when none).
    pub identifier: String,
    /// The external identifier as a list (`[]` when none).
    pub identifiers: Vec<PatientIdentifierJson>,
    /// Family name.
    pub name_family: String,
    /// Given name.
    pub name_given: String,
    /// Date of birth.
    pub birth_date: NaiveDate,
    /// Phone.
    pub telecom_phone: Option<String>,
    /// The account's e-mail.
    pub telecom_email: Option<String>,
    /// The patient's organisations.
    pub organizations: Vec<OrganizationJson>,
}

/// The nested patient of a patient's own profile: no personal health information.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename_all = "camelCase")]
pub struct PatientSummaryJson {
    /// Id.
    pub id: Id,
    /// The patient's account.
    pub jhe_user_id: Option<Id>,
    /// External identifier (`""` when none).
    pub identifier: String,
    /// The patient's organisations.
    pub organizations: Vec<OrganizationJson>,
}

/// A user (`JheUserSerializer`).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename_all = "camelCase")]
pub struct UserJson {
    /// Id.
    pub id: Id,
    /// E-mail (the user name).
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// The user's patient record, if any.
    pub patient: Option<PatientJson>,
    /// `patient`, `practitioner` or `null`.
    pub user_type: Option<String>,
    /// Superuser flag.
    pub is_superuser: bool,
}

/// A patient's own profile, stripped of personal health information.
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename_all = "camelCase")]
pub struct PatientProfileJson {
    /// User id.
    pub id: Id,
    /// The patient record (no names, birth date, phone or e-mail).
    pub patient: Option<PatientSummaryJson>,
    /// Always `patient`.
    pub user_type: Option<String>,
    /// Superuser flag.
    pub is_superuser: bool,
}

/// `GET /users/profile`: a patient's stripped profile, or the full user for everyone else.
#[derive(Debug, Clone, PartialEq, Union)]
pub enum ProfileJson {
    /// Practitioners and other users.
    User(UserJson),
    /// Patients.
    Patient(PatientProfileJson),
}

/// The full patient object, from the patient, its account's e-mail and its organisations.
pub fn patient_json(
    patient: &Patient,
    email: Option<String>,
    organizations: &[Organization],
) -> PatientJson {
    let identifier = patient.identifier.clone().unwrap_or_default();
    PatientJson {
        id: patient.id,
        jhe_user_id: patient.jhe_user_id,
        identifiers: if identifier.is_empty() {
            Vec::new()
        } else {
            vec![PatientIdentifierJson {
                id: patient.id,
                system: None,
                value: identifier.clone(),
            }]
        },
        identifier,
        name_family: patient.name_family.clone(),
        name_given: patient.name_given.clone(),
        birth_date: patient.birth_date,
        telecom_phone: patient.telecom_phone.clone(),
        telecom_email: email,
        organizations: organizations.iter().map(OrganizationJson::nested).collect(),
    }
}

/// The full user object.
pub fn user_json(view: &UserView) -> UserJson {
    let user = &view.user;
    UserJson {
        id: user.id,
        email: user.email.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        patient: view
            .patient
            .as_ref()
            .map(|(p, orgs)| patient_json(p, Some(user.email.clone()), orgs)),
        user_type: user.user_type.map(|t| t.as_str().to_string()),
        is_superuser: user.is_superuser,
    }
}

/// The caller's profile (`GET /users/profile`): patients get the stripped shape.
pub fn profile_json(principal: &Principal, view: &UserView) -> ProfileJson {
    if !principal.is_patient() {
        return ProfileJson::User(user_json(view));
    }
    ProfileJson::Patient(PatientProfileJson {
        id: view.user.id,
        patient: view.patient.as_ref().map(|(p, orgs)| PatientSummaryJson {
            id: p.id,
            jhe_user_id: p.jhe_user_id,
            identifier: p.identifier.clone().unwrap_or_default(),
            organizations: orgs.iter().map(OrganizationJson::nested).collect(),
        }),
        user_type: view.user.user_type.map(|t| t.as_str().to_string()),
        is_superuser: view.user.is_superuser,
    })
}
