use serde::{Deserialize, Serialize};

use crate::domain::Id;

/// Which patient data a caller may see, as decided by the [`Policy`](crate::policy::Policy).
///
/// The store turns it into SQL (joins/`EXISTS` on organisation membership, consent and
/// enrolment), so rows the caller may not see are never loaded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessFilter {
    /// Everything (internal tasks: seeding, migrations, background jobs).
    Unrestricted,
    /// Patients who share at least one organisation with this practitioner (direct membership,
    /// any role).
    PractitionerOrganizations {
        /// The practitioner's id.
        practitioner_id: Id,
    },
    /// Only this patient's own rows.
    OwnPatient {
        /// The patient's id.
        patient_id: Id,
    },
    /// Nothing.
    Nothing,
}

/// Extra restriction on observation reads: only scopes the patient consented to in a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum ConsentRule {
    /// No consent check (the caller's own data, internal tasks).
    #[default]
    None,
    /// An observation is visible only if its code was consented (`consented = true`) by its
    /// patient in a study (the given one, or any study of a shared organisation).
    ConsentedScopesOnly,
}
