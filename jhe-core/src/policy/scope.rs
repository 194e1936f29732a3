//! The sealed access scope: which patients' rows a caller may read, and which of their
//! observations.
//!
//! An [`AccessScope`] can only be made by a [`Policy`](super::Policy) (through the
//! [`ScopeIssuer`] that [`access_scope`](super::access_scope) hands it) or, for seeding and
//! maintenance, by jhe-core's own internal tasks. Every store read of patient-linked rows takes
//! one and applies all of it in SQL, so forgetting the caller's access or the consent rule does
//! not compile, and a row the caller may not see is never loaded: not visible and not there look
//! the same (`404`).

use crate::domain::Id;

/// Which patients' rows are visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatientVisibility {
    /// No patient at all.
    Nothing,
    /// Only this patient (a patient reading their own record and data).
    OwnPatient {
        /// The patient.
        patient_id: Id,
    },
    /// Patients who share at least one organisation with this practitioner (direct membership,
    /// any role; the hierarchy grants nothing).
    SharedOrganizations {
        /// The practitioner.
        practitioner_id: Id,
    },
    /// Every patient: only the system scope of internal tasks (seeding, maintenance).
    All,
}

/// Which observations of the visible patients may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObservationConsent {
    /// Every observation of a visible patient (the patient's own data; internal tasks).
    NotRequired,
    /// Only observations whose data type (CodeableConcept) the patient consented to
    /// (`consented = true`, the current decision) in a study that belongs to one of this
    /// practitioner's organisations; with a study filter, in that study.
    ConsentedInPractitionerStudies {
        /// The practitioner.
        practitioner_id: Id,
    },
}

/// What a caller may read of patient data, applied by the store in SQL.
///
/// Only a [`Policy`](super::Policy) issues one (through [`ScopeIssuer`]); the fields are private
/// and there is no public constructor, so a handler cannot widen its own access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessScope {
    patients: PatientVisibility,
    observations: ObservationConsent,
}

impl AccessScope {
    /// Which patients are visible.
    pub fn patients(&self) -> PatientVisibility {
        self.patients
    }

    /// Which observations of visible patients are readable.
    pub fn observations(&self) -> ObservationConsent {
        self.observations
    }

    /// The patient this scope is limited to, when it sees exactly one (a patient's own scope).
    pub fn own_patient(&self) -> Option<Id> {
        match self.patients {
            PatientVisibility::OwnPatient { patient_id } => Some(patient_id),
            _ => None,
        }
    }

    /// Whether the scope sees no patient at all (the store answers without a query).
    pub fn sees_nothing(&self) -> bool {
        self.patients == PatientVisibility::Nothing
    }

    /// The scope of jhe-core's internal tasks (seeding, maintenance, and the matching of a
    /// superuser's study import against what the database already holds): every patient, no
    /// consent rule. Request handlers never get it; they only get scopes from the policy.
    pub(crate) fn system() -> AccessScope {
        AccessScope {
            patients: PatientVisibility::All,
            observations: ObservationConsent::NotRequired,
        }
    }

    /// The system scope, for tests that check what the store holds (feature `test-support`;
    /// never enable it in a server build).
    #[cfg(feature = "test-support")]
    #[doc(hidden)]
    pub fn system_for_tests() -> AccessScope {
        AccessScope::system()
    }
}

/// The capability a [`Policy`](super::Policy) uses to issue an [`AccessScope`]. Only
/// [`access_scope`](super::access_scope) creates one, so only policies issue scopes.
///
/// Each constructor fixes the consent rule that goes with the visibility: a practitioner's scope
/// always carries the consent rule.
#[derive(Debug)]
pub struct ScopeIssuer {
    _sealed: (),
}

impl ScopeIssuer {
    pub(super) fn new() -> ScopeIssuer {
        ScopeIssuer { _sealed: () }
    }

    /// Sees no patient data.
    pub fn nothing(self) -> AccessScope {
        AccessScope {
            patients: PatientVisibility::Nothing,
            observations: ObservationConsent::NotRequired,
        }
    }

    /// A patient's own record and all of their own data.
    pub fn own_patient(self, patient_id: Id) -> AccessScope {
        AccessScope {
            patients: PatientVisibility::OwnPatient { patient_id },
            observations: ObservationConsent::NotRequired,
        }
    }

    /// A practitioner: the records of patients sharing an organisation with them, and of those
    /// patients' observations only the data types consented to in a study of one of the
    /// practitioner's organisations.
    pub fn practitioner(self, practitioner_id: Id) -> AccessScope {
        AccessScope {
            patients: PatientVisibility::SharedOrganizations { practitioner_id },
            observations: ObservationConsent::ConsentedInPractitionerStudies { practitioner_id },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_practitioner_scope_always_carries_the_consent_rule() {
        let scope = ScopeIssuer::new().practitioner(7);
        assert_eq!(
            scope.patients(),
            PatientVisibility::SharedOrganizations { practitioner_id: 7 }
        );
        assert_eq!(
            scope.observations(),
            ObservationConsent::ConsentedInPractitionerStudies { practitioner_id: 7 }
        );
        assert_eq!(scope.own_patient(), None);
    }

    /// The system scope is for internal tasks only: no HTTP handler may name it.
    #[test]
    fn the_http_layer_never_uses_the_system_scope() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, found);
                } else if std::fs::read_to_string(&path)
                    .unwrap()
                    .contains("AccessScope::system")
                {
                    found.push(path.display().to_string());
                }
            }
        }
        let http = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
        let mut found = Vec::new();
        walk(&http, &mut found);
        assert!(found.is_empty(), "system scope used in {found:?}");
    }

    #[test]
    fn own_and_nothing() {
        let own = ScopeIssuer::new().own_patient(3);
        assert_eq!(own.own_patient(), Some(3));
        assert_eq!(own.observations(), ObservationConsent::NotRequired);
        assert!(ScopeIssuer::new().nothing().sees_nothing());
        assert!(!AccessScope::system().sees_nothing());
    }
}
