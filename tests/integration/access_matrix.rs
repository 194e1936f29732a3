//! The access rule on every read path of patient data, REST and FHIR, for every kind of caller:
//! superuser, manager/member/viewer of Example Lab, a manager of another branch, a patient of
//! Example Lab, another patient, and anonymous.
//!
//! What each caller should see is computed by an oracle written independently of the server
//! (plain loops over every row of the seeded database): a practitioner sees patients sharing an
//! organisation, and of their observations only data types consented (`consented = true`) in a
//! study of one of the practitioner's organisations; a patient sees their own record and data;
//! superusers see only what their own memberships show (none in the seed). Every path must
//! answer exactly that, and withdrawing a consent must hide the data on every path at once.

use std::collections::{BTreeMap, BTreeSet};

use jhe_core::domain::PageRequest;
use jhe_core::store::{
    AccessScope, ObservationQuery, ObservationStore, PatientQuery, PatientStore, ReferenceStore,
    StudyStore, UserStore,
};
use reqwest::Method;
use serde_json::Value;

use crate::both_backends;
use crate::support::{
    Backend, TestApp, api_request, bearer_for, bearer_with_scope, seeded, spawn_seeded,
};

/// The scopes of an invitation-link (patient app) token.
const PATIENT_APP: &str =
    "openid email patient/Patient.rs patient/Observation.crs patient/Consent.cru";

/// Pamela: patient 40002 in Example Lab, another patient than peter.
const OTHER_PATIENT: i64 = 10007;

/// Who calls: a seeded user id, or nobody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    User(i64),
    /// A token of the user limited to these SMART scopes (e.g. a patient app's).
    Scoped(i64, &'static str),
    Anonymous,
}

impl Who {
    fn user_id(self) -> Option<i64> {
        match self {
            Who::User(uid) | Who::Scoped(uid, _) => Some(uid),
            Who::Anonymous => None,
        }
    }
}

/// What the database says each kind of caller may see.
struct Oracle {
    patients: BTreeSet<i64>,
    observations: BTreeMap<i64, i64>,
    /// patient → organisations.
    patient_orgs: BTreeMap<i64, BTreeSet<i64>>,
    /// study → organisation.
    study_org: BTreeMap<i64, i64>,
    /// (patient, concept) → studies with `consented = true`.
    consented_in: BTreeMap<(i64, i64), BTreeSet<i64>>,
    /// observation → concept.
    concept_of: BTreeMap<i64, i64>,
    studies: Vec<i64>,
}

impl Oracle {
    async fn load(app: &TestApp) -> Oracle {
        let s = &app.db.store;
        let all = AccessScope::system_for_tests();
        let patients: BTreeSet<i64> = s
            .list_patients(&all, &PatientQuery::default(), PageRequest::all())
            .await
            .unwrap()
            .items
            .iter()
            .map(|p| p.id)
            .collect();
        let mut patient_orgs = BTreeMap::new();
        for p in &patients {
            let orgs = s.list_patient_organization_ids(*p).await.unwrap();
            patient_orgs.insert(*p, orgs.into_iter().collect());
        }
        let studies = s
            .list_studies(None, PageRequest::all())
            .await
            .unwrap()
            .items;
        let study_org = studies
            .iter()
            .map(|st| (st.id, st.organization_id))
            .collect();
        let mut consented_in: BTreeMap<(i64, i64), BTreeSet<i64>> = BTreeMap::new();
        for p in &patients {
            let enrolments = s.list_patient_studies(&all, *p).await.unwrap();
            for c in s.list_patient_consents(&all, *p).await.unwrap() {
                if !c.consented {
                    continue;
                }
                let study = enrolments
                    .iter()
                    .find(|e| e.id == c.study_patient_id)
                    .unwrap()
                    .study_id;
                consented_in
                    .entry((*p, c.scope_code_id))
                    .or_default()
                    .insert(study);
            }
        }
        let rows = s
            .search_observations(&all, &ObservationQuery::default(), PageRequest::all())
            .await
            .unwrap()
            .items;
        Oracle {
            patients,
            observations: rows.iter().map(|o| (o.id, o.subject_patient_id)).collect(),
            concept_of: rows.iter().map(|o| (o.id, o.codeable_concept_id)).collect(),
            patient_orgs,
            study_org,
            consented_in,
            studies: studies.iter().map(|st| st.id).collect(),
        }
    }

    /// (visible patients, visible observations) of a user.
    async fn visible(&self, app: &TestApp, user_id: i64) -> (BTreeSet<i64>, BTreeSet<i64>) {
        let s = &app.db.store;
        if let Some(p) = s.get_patient_by_user(user_id).await.unwrap()
            && s.get_practitioner_by_user(user_id).await.unwrap().is_none()
        {
            let obs = self
                .observations
                .iter()
                .filter(|(_, pid)| **pid == p.id)
                .map(|(o, _)| *o)
                .collect();
            return (BTreeSet::from([p.id]), obs);
        }
        let Some(practitioner) = s.get_practitioner_by_user(user_id).await.unwrap() else {
            return (BTreeSet::new(), BTreeSet::new());
        };
        let mine: BTreeSet<i64> = s
            .list_practitioner_organizations(practitioner.id)
            .await
            .unwrap()
            .iter()
            .map(|l| l.organization_id)
            .collect();
        let patients: BTreeSet<i64> = self
            .patients
            .iter()
            .copied()
            .filter(|p| !self.patient_orgs[p].is_disjoint(&mine))
            .collect();
        let observations = self
            .observations
            .iter()
            .filter(|(o, pid)| {
                patients.contains(pid)
                    && self
                        .consented_in
                        .get(&(**pid, self.concept_of[o]))
                        .is_some_and(|studies| {
                            studies.iter().any(|st| mine.contains(&self.study_org[st]))
                        })
            })
            .map(|(o, _)| *o)
            .collect();
        (patients, observations)
    }
}

fn ids(values: impl IntoIterator<Item = Value>) -> BTreeSet<i64> {
    values
        .into_iter()
        .map(|v| match v {
            Value::Number(n) => n.as_i64().unwrap(),
            Value::String(s) => s.parse().unwrap(),
            other => panic!("not an id: {other}"),
        })
        .collect()
}

fn result_ids(body: &Value) -> BTreeSet<i64> {
    ids(body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].clone()))
}

fn entry_ids(body: &Value) -> BTreeSet<i64> {
    ids(body["entry"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| x["resource"]["id"].clone())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default())
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    api_request(app, Method::GET, path, token, None).await
}

/// Checks every read path for one caller against the oracle.
async fn check_caller(app: &TestApp, oracle: &Oracle, who: Who, label: &str) {
    let token = match who {
        Who::User(uid) => Some(bearer_for(app, uid).await),
        Who::Scoped(uid, scope) => Some(bearer_with_scope(app, uid, scope).await),
        Who::Anonymous => None,
    };
    let token = token.as_deref();
    let (patients, observations) = match who {
        Who::User(uid) => oracle.visible(app, uid).await,
        // A patient-compartment token sees at most its own patient's record and data.
        Who::Scoped(uid, _) => match app.db.store.get_patient_by_user(uid).await.unwrap() {
            Some(p) => (
                BTreeSet::from([p.id]),
                oracle
                    .observations
                    .iter()
                    .filter(|(_, pid)| **pid == p.id)
                    .map(|(o, _)| *o)
                    .collect(),
            ),
            None => (BTreeSet::new(), BTreeSet::new()),
        },
        Who::Anonymous => (BTreeSet::new(), BTreeSet::new()),
    };
    let is_practitioner = match who {
        Who::User(uid) => app
            .db
            .store
            .get_practitioner_by_user(uid)
            .await
            .unwrap()
            .is_some(),
        Who::Scoped(..) | Who::Anonymous => false,
    };
    let anonymous = who == Who::Anonymous;
    // A scope-limited token may also be refused a route outright (403): never a leak.
    let scoped = matches!(who, Who::Scoped(..));
    let ok_or = |visible: bool| {
        if anonymous {
            401
        } else if visible {
            200
        } else {
            404
        }
    };
    let status_ok = |status: u16, expected: u16| status == expected || (scoped && status == 403);

    // Admin API patient list (patients list nobody there, as in the original).
    let (status, body) = get(app, "/api/v1/patients?pageSize=1000", token).await;
    if anonymous {
        assert_eq!(status, 401, "{label}");
    } else {
        assert!(status_ok(status, 200), "{label}: {status} {body}");
        if status == 200 {
            let expected = if is_practitioner {
                patients.clone()
            } else {
                BTreeSet::new()
            };
            assert_eq!(result_ids(&body), expected, "{label}: /api/v1/patients");
        }
    }

    // Every patient by id on every patient route, plus an unknown id.
    let mut every_patient: Vec<i64> = oracle.patients.iter().copied().collect();
    every_patient.push(49_999);
    for pid in &every_patient {
        let visible = patients.contains(pid);
        for path in [
            format!("/api/v1/patients/{pid}"),
            format!("/api/v1/patients/{pid}/consents"),
            format!("/api/v1/patients/{pid}/consolidated_clients"),
            format!("/fhir/r5/Patient/{pid}"),
        ] {
            let (status, body) = get(app, &path, token).await;
            assert!(
                status_ok(status, ok_or(visible)),
                "{label}: {path}: {status} {body}"
            );
        }
        // FHIR observations of one patient: exactly the visible ones.
        let path = format!("/fhir/r5/Observation?patient={pid}&_count=1000");
        let (status, body) = get(app, &path, token).await;
        if !anonymous && status != 403 {
            assert_eq!(status, 200, "{label}: {path}: {body}");
            let expected: BTreeSet<i64> = observations
                .iter()
                .copied()
                .filter(|o| oracle.observations[o] == *pid)
                .collect();
            assert_eq!(entry_ids(&body), expected, "{label}: {path}");
        }
    }

    // Observation lists.
    let (status, body) = get(app, "/api/v1/observations?pageSize=1000", token).await;
    match (anonymous, is_practitioner) {
        (true, _) => assert_eq!(status, 401),
        (false, false) => assert!(
            status_ok(status, 404)
                || (scoped && status == 200 && result_ids(&body) == observations),
            "{label}: patients use FHIR: {status} {body}"
        ),
        (false, true) => {
            assert_eq!(status, 200, "{label}: {body}");
            assert_eq!(
                result_ids(&body),
                observations,
                "{label}: /api/v1/observations"
            );
            assert_eq!(body["count"], observations.len(), "{label}");
        }
    }
    let (status, body) = get(app, "/fhir/r5/Observation?_count=1000", token).await;
    let refused_scope = scoped && status == 403;
    if !anonymous && !refused_scope {
        assert_eq!(status, 200, "{label}: {body}");
        assert_eq!(entry_ids(&body), observations, "{label}: FHIR search");
        assert_eq!(body["total"], observations.len(), "{label}: FHIR total");
    }
    let (status, body) = get(app, "/fhir/r5/Patient?_count=1000", token).await;
    let refused_scope = scoped && status == 403;
    if !anonymous && !refused_scope {
        assert_eq!(status, 200, "{label}: {body}");
        assert_eq!(entry_ids(&body), patients, "{label}: FHIR Patient search");
    }

    // Every observation by id, plus an unknown id.
    let mut every_observation: Vec<i64> = oracle.observations.keys().copied().collect();
    every_observation.push(69_999);
    for oid in every_observation {
        let visible = observations.contains(&oid);
        let path = format!("/fhir/r5/Observation/{oid}");
        let (status, _) = get(app, &path, token).await;
        assert!(
            status_ok(status, ok_or(visible)),
            "{label}: {path}: {status}"
        );
        let path = format!("/api/v1/observations/{oid}");
        let (status, _) = get(app, &path, token).await;
        assert!(
            status_ok(status, ok_or(visible && is_practitioner)),
            "{label}: {path}: {status}"
        );
    }

    // Study-scoped reads never show a patient or observation outside the caller's view.
    for study in &oracle.studies {
        let path = format!("/api/v1/studies/{study}/patients");
        let (status, body) = get(app, &path, token).await;
        if status == 200 {
            let shown = ids(body.as_array().unwrap().iter().map(|p| p["id"].clone()));
            assert!(shown.is_subset(&patients), "{label}: {path}: {shown:?}");
        }
        let path = format!("/api/v1/observations?studyId={study}&pageSize=1000");
        let (status, body) = get(app, &path, token).await;
        if status == 200 {
            assert!(
                result_ids(&body).is_subset(&observations),
                "{label}: {path}"
            );
        }
        let path =
            format!("/fhir/r5/Observation?patient._has:Group:member:_id={study}&_count=1000");
        let (status, body) = get(app, &path, token).await;
        if status == 200 {
            assert!(entry_ids(&body).is_subset(&observations), "{label}: {path}");
        }
    }

    // The users list embeds no patient record outside the caller's view (superusers administer
    // every account, but see patient records only through their organisations); other
    // callers see no patient's account at all outside it.
    if let Some(uid) = who.user_id() {
        let superuser = uid == seeded::SUPERUSER && !scoped;
        let (status, body) = get(app, "/api/v1/users?pageSize=1000", token).await;
        if status == 200 {
            for user in body["results"].as_array().unwrap() {
                let user_id = user["id"].as_i64().unwrap();
                if let Some(p) = app.db.store.get_patient_by_user(user_id).await.unwrap() {
                    let visible = user_id == uid || patients.contains(&p.id);
                    assert!(
                        visible || superuser,
                        "{label}: the users list shows patient {}",
                        p.id
                    );
                    assert_eq!(
                        !user["patient"].is_null(),
                        visible,
                        "{label}: patient record of user {user_id}"
                    );
                }
            }
        }
    }
}

async fn every_read_path_follows_the_access_rule(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let oracle = Oracle::load(&app).await;
    let callers = [
        (Who::User(seeded::SUPERUSER), "superuser"),
        (Who::User(seeded::MANAGER), "manager of Example Lab"),
        (Who::User(seeded::MEMBER), "member of Example Lab"),
        (Who::User(seeded::VIEWER), "viewer of Example Lab"),
        (Who::User(seeded::OTHER_ORG), "manager of another branch"),
        (Who::User(seeded::PATIENT), "patient of Example Lab"),
        (Who::User(OTHER_PATIENT), "another patient"),
        (
            Who::Scoped(seeded::PATIENT, PATIENT_APP),
            "patient app of Example Lab's patient",
        ),
        (
            Who::Scoped(seeded::MANAGER, PATIENT_APP),
            "a manager's token narrowed to patient scopes",
        ),
        (Who::Anonymous, "anonymous"),
    ];
    // The seed gives every kind of caller something to see and something to miss.
    let (mary_patients, mary_obs) = oracle.visible(&app, seeded::MANAGER).await;
    assert!(!mary_patients.is_empty() && !mary_obs.is_empty());
    assert!(mary_obs.len() < oracle.observations.len());
    for (who, label) in callers {
        check_caller(&app, &oracle, who, label).await;
    }
}

/// Whether `oid` shows to `token` on every observation read path (`visible`) or on none.
async fn shown_everywhere(app: &TestApp, token: &str, oid: i64, visible: bool) {
    let expected = if visible { 200 } else { 404 };
    for path in [
        format!("/api/v1/observations/{oid}"),
        format!("/fhir/r5/Observation/{oid}"),
    ] {
        assert_eq!(get(app, &path, Some(token)).await.0, expected, "{path}");
    }
    for path in [
        "/api/v1/observations?pageSize=1000",
        "/fhir/r5/Observation?_count=1000",
        "/fhir/r5/Observation?patient=40001&_count=1000",
    ] {
        let (_, body) = get(app, path, Some(token)).await;
        let shown = if path.starts_with("/api") {
            result_ids(&body)
        } else {
            entry_ids(&body)
        };
        assert_eq!(shown.contains(&oid), visible, "{path}");
    }
}

/// Withdrawing a consent hides the data on every read path at once; consenting again shows it.
async fn withdrawal_hides_data_everywhere_at_once(backend: Backend) {
    let app = spawn_seeded(backend).await;
    let oracle = Oracle::load(&app).await;
    let (_, before) = oracle.visible(&app, seeded::MANAGER).await;
    // One of peter's observations mary sees, and the consent that shows it.
    let (&oid, _) = oracle
        .observations
        .iter()
        .find(|(o, pid)| before.contains(o) && **pid == 40001)
        .expect("mary sees one of peter's observations");
    let concept = oracle.concept_of[&oid];
    let peter = bearer_for(&app, seeded::PATIENT).await;
    let s = &app.db.store;
    let all = AccessScope::system_for_tests();
    let enrolments = s.list_patient_studies(&all, 40001).await.unwrap();
    let mut withdraw = Vec::new();
    for c in s.list_patient_consents(&all, 40001).await.unwrap() {
        if c.consented && c.scope_code_id == concept {
            let study = enrolments
                .iter()
                .find(|e| e.id == c.study_patient_id)
                .unwrap()
                .study_id;
            withdraw.push(study);
        }
    }
    let code = s.get_concept(concept).await.unwrap().unwrap();
    let change = |consented: bool| {
        serde_json::json!({"studyScopeConsents": withdraw.iter().map(|st| serde_json::json!({
            "studyId": st, "scopeConsents": [{"codingSystem": code.coding_system,
            "codingCode": code.coding_code, "consented": consented}]})).collect::<Vec<_>>()})
    };
    // The patient withdraws in their app.
    let (status, body) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/40001/consents",
        Some(&peter),
        Some(change(false)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mary = bearer_for(&app, seeded::MANAGER).await;
    shown_everywhere(&app, &mary, oid, false).await;
    // The patient still sees their own data.
    assert_eq!(
        get(&app, &format!("/fhir/r5/Observation/{oid}"), Some(&peter))
            .await
            .0,
        200
    );
    let (status, _) = api_request(
        &app,
        Method::PATCH,
        "/api/v1/patients/40001/consents",
        Some(&peter),
        Some(change(true)),
    )
    .await;
    assert_eq!(status, 200);
    shown_everywhere(&app, &mary, oid, true).await;
}

both_backends! {
    access_matrix_every_read_path => every_read_path_follows_the_access_rule;
    access_matrix_withdrawal => withdrawal_hides_data_everywhere_at_once;
}
