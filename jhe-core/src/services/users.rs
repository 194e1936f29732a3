//! Users (accounts) and practitioners, as the Admin API manages them. Closes the original's
//! gaps: users change only themselves (names), never their own superuser flag or type; only
//! superusers create, delete or promote users; patients see only themselves.

use std::collections::HashMap;

use crate::domain::{
    Id, NewPractitioner, NewUser, Organization, Page, PageRequest, Patient, Practitioner, TextRule,
    User, UserType,
};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::accounts::{ProfileDetails, create_user_with_profile};
use crate::services::fields::FieldErrors;
use crate::services::guard::require;

/// A user with their patient record, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct UserView {
    /// The account.
    pub user: User,
    /// The patient record and its organisations.
    pub patient: Option<(Patient, Vec<Organization>)>,
}

/// Loads the patient record (with organisations) of a user, when the caller's access scope
/// shows it (an account's own record always does); otherwise the view carries no patient.
pub async fn with_patient(
    state: &AppState,
    principal: &Principal,
    user: User,
) -> CoreResult<UserView> {
    let record = match state.store.get_patient_by_user(user.id).await? {
        Some(p) => crate::services::patients::read(state, principal, p.id).await?,
        None => None,
    };
    let patient = match record {
        Some(p) => {
            let org_ids = state.store.list_patient_organization_ids(p.id).await?;
            Some((p, state.store.get_organizations(&org_ids).await?))
        }
        None => None,
    };
    Ok(UserView { user, patient })
}

/// [`with_patient`] for a page of users: four queries whatever the page size (the users'
/// patient records, those the caller's scope shows, their organisation links, the
/// organisations), no query per row.
pub async fn with_patients(
    state: &AppState,
    principal: &Principal,
    users: Vec<User>,
) -> CoreResult<Vec<UserView>> {
    let user_ids: Vec<Id> = users.iter().map(|u| u.id).collect();
    let records = state.store.get_patients_by_users(&user_ids).await?;
    let record_ids: Vec<Id> = records.iter().map(|p| p.id).collect();
    let access = crate::services::guard::scope(state, principal).await;
    let visible: Vec<Patient> = state.store.get_patients(&access, &record_ids).await?;
    let visible_ids: Vec<Id> = visible.iter().map(|p| p.id).collect();
    // In the order `get_organizations` gives (as `with_patient` shows them).
    let mut orgs_of =
        crate::services::patients::organizations_of_patients(state, &visible_ids).await?;
    let mut by_user: HashMap<Id, Patient> = visible
        .into_iter()
        .filter_map(|p| p.jhe_user_id.map(|u| (u, p)))
        .collect();
    Ok(users
        .into_iter()
        .map(|user| {
            let patient = by_user.remove(&user.id).map(|p| {
                let orgs = orgs_of.remove(&p.id).unwrap_or_default();
                (p, orgs)
            });
            UserView { user, patient }
        })
        .collect())
}

/// The caller's own profile.
pub async fn profile(state: &AppState, principal: &Principal) -> CoreResult<UserView> {
    with_patient(state, principal, principal.user.clone()).await
}

/// Organisations the caller (as practitioner) is directly linked to.
pub async fn my_organizations(
    state: &AppState,
    principal: &Principal,
) -> CoreResult<Vec<Organization>> {
    let Some(practitioner) = &principal.practitioner else {
        return Ok(Vec::new());
    };
    let ids: Vec<Id> = state
        .store
        .list_practitioner_organizations(practitioner.id)
        .await?
        .into_iter()
        .map(|l| l.organization_id)
        .collect();
    Ok(state.store.get_organizations(&ids).await?)
}

/// Users the caller may list: a superuser all; a practitioner the members (practitioners and
/// patients) of their organisations, plus themselves; a patient only themselves.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    email: Option<&str>,
    page: PageRequest,
) -> CoreResult<Page<UserView>> {
    let found = if principal.is_superuser() {
        state.store.list_users(email, page).await?
    } else {
        let mut visible = visible_user_ids(state, principal).await?;
        visible.sort_unstable();
        visible.dedup();
        // Filtered, counted and paged in SQL among the visible ids.
        state.store.list_users_among(&visible, email, page).await?
    };
    Ok(Page {
        items: with_patients(state, principal, found.items).await?,
        total: found.total,
        request: found.request,
    })
}

/// Three queries whatever the number of organisations and members (the caller's links, the
/// practitioners of those organisations, their patients visible through the caller's scope).
async fn visible_user_ids(state: &AppState, principal: &Principal) -> CoreResult<Vec<Id>> {
    let mut ids = vec![principal.user.id];
    if let Some(practitioner) = &principal.practitioner {
        let access = crate::services::guard::scope(state, principal).await;
        let org_ids: Vec<Id> = state
            .store
            .list_practitioner_organizations(practitioner.id)
            .await?
            .into_iter()
            .map(|link| link.organization_id)
            .collect();
        ids.extend(
            state
                .store
                .list_practitioner_user_ids_in_organizations(&org_ids)
                .await?,
        );
        ids.extend(
            state
                .store
                .list_patient_user_ids_in_organizations(&access, &org_ids)
                .await?,
        );
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// One user: yourself, or (superuser) anyone.
pub async fn get(state: &AppState, principal: &Principal, id: Id) -> CoreResult<UserView> {
    if id != principal.user.id && !principal.is_superuser() {
        return Err(CoreError::Forbidden(
            "You do not have permission to perform this action.".into(),
        ));
    }
    let user = state
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| CoreError::NotFound("No JheUser matches the given query.".into()))?;
    with_patient(state, principal, user).await
}

/// The exact e-mail lookup the portal uses to add a member: practitioners and superusers only.
pub async fn search_by_email(
    state: &AppState,
    principal: &Principal,
    email: &str,
) -> CoreResult<Option<UserView>> {
    if !principal.is_practitioner() && !principal.is_superuser() {
        return Err(CoreError::Forbidden(
            "You do not have permission to perform this action.".into(),
        ));
    }
    match state.store.get_user_by_email(email.trim()).await? {
        Some(u) => Ok(Some(with_patient(state, principal, u).await?)),
        None => Ok(None),
    }
}

/// Changes to a user.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// E-mail.
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Patient or practitioner (superusers only).
    pub user_type: Option<Option<UserType>>,
    /// Superuser flag (superusers only).
    pub is_superuser: Option<bool>,
    /// Active flag (superusers only, not on their own account). Deactivating revokes every
    /// token, code and session of the account.
    pub is_active: Option<bool>,
}

/// Checks the names of `changes` (may be blank, at most [`MAX_PERSON_NAME_CHARS`] characters).
///
/// [`MAX_PERSON_NAME_CHARS`]: crate::domain::MAX_PERSON_NAME_CHARS
fn check_names(changes: &UserChanges) -> CoreResult<()> {
    let rule = TextRule {
        blank: true,
        ..TextRule::PERSON_NAME
    };
    let mut errors = FieldErrors::new();
    errors.text("firstName", changes.first_name.as_deref(), rule, false);
    errors.text("lastName", changes.last_name.as_deref(), rule, false);
    errors.into_result()
}

/// Creates a user (superusers only), with the profile its type implies.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    changes: UserChanges,
) -> CoreResult<UserView> {
    if !principal.is_superuser() {
        return Err(CoreError::Forbidden(
            "Only superusers can create users.".into(),
        ));
    }
    check_names(&changes)?;
    let email = changes.email.unwrap_or_default().trim().to_string();
    if !crate::services::signup::looks_like_email(&email) {
        return Err(CoreError::field("email", "Enter a valid email address."));
    }
    if state.store.get_user_by_email(&email).await?.is_some() {
        return Err(CoreError::field(
            "email",
            "jhe user with this email already exists.",
        ));
    }
    let user = create_user_with_profile(
        state.store.as_ref(),
        NewUser {
            email,
            password: jhe_kdf::unusable_password(),
            first_name: changes.first_name.unwrap_or_default(),
            last_name: changes.last_name.unwrap_or_default(),
            is_superuser: changes.is_superuser.unwrap_or(false),
            is_staff: changes.is_superuser.unwrap_or(false),
            user_type: changes.user_type.flatten(),
            ..Default::default()
        },
        ProfileDetails::default(),
    )
    .await?;
    with_patient(state, principal, user).await
}

/// Updates a user: yourself (e-mail and names only) or, as superuser, anyone (every field;
/// `is_active: false` deactivates the account and revokes its tokens and sessions).
pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: Id,
    changes: UserChanges,
) -> CoreResult<UserView> {
    let own = id == principal.user.id;
    if !own && !principal.is_superuser() {
        return Err(CoreError::Forbidden(
            "You can only change your own account.".into(),
        ));
    }
    if !principal.is_superuser()
        && (changes.is_superuser.is_some()
            || changes.user_type.is_some()
            || changes.is_active.is_some())
    {
        return Err(CoreError::Forbidden(
            "Only superusers can change isSuperuser, isActive or userType.".into(),
        ));
    }
    if own && changes.is_active == Some(false) {
        return Err(CoreError::Forbidden(
            "You cannot deactivate your own account.".into(),
        ));
    }
    check_names(&changes)?;
    let mut user = state
        .store
        .get_user(id)
        .await?
        .ok_or_else(|| CoreError::NotFound("No JheUser matches the given query.".into()))?;
    if let Some(email) = changes.email {
        let email = email.trim().to_string();
        if !crate::services::signup::looks_like_email(&email) {
            return Err(CoreError::field("email", "Enter a valid email address."));
        }
        // Another account with this address in any case; changing only the case is allowed.
        let other = state.store.get_user_by_email(&email).await?;
        if other.is_some_and(|other| other.id != user.id) {
            return Err(CoreError::field(
                "email",
                "jhe user with this email already exists.",
            ));
        }
        user.email = email;
    }
    if let Some(v) = changes.first_name {
        user.first_name = v;
    }
    if let Some(v) = changes.last_name {
        user.last_name = v;
    }
    if let Some(v) = changes.user_type {
        user.user_type = v;
    }
    if let Some(v) = changes.is_superuser {
        if own && !v {
            return Err(CoreError::Forbidden(
                "You cannot remove your own superuser flag.".into(),
            ));
        }
        user.is_superuser = v;
        user.is_staff = v || user.is_staff;
    }
    if let Some(active) = changes.is_active
        && active != user.is_active
    {
        // The flag and (on deactivation) the revocation of every token and session, in one
        // transaction.
        state.store.set_user_active(id, active).await?;
        user.is_active = active;
    }
    let user = state.store.update_user(&user).await?;
    // Flags and activity are part of every cached principal.
    state.tokens.clear();
    with_patient(state, principal, user).await
}

/// Deletes a user with profiles, tokens and sessions (superusers only; not yourself).
pub async fn delete(state: &AppState, principal: &Principal, id: Id) -> CoreResult<()> {
    if !principal.is_superuser() {
        return Err(CoreError::Forbidden(
            "Only superusers can delete users.".into(),
        ));
    }
    if id == principal.user.id {
        return Err(CoreError::BadRequest(
            "You cannot delete your own account.".into(),
        ));
    }
    let deleted = state.store.delete_user(id).await?;
    state.tokens.clear();
    if !deleted {
        return Err(CoreError::NotFound(
            "No JheUser matches the given query.".into(),
        ));
    }
    Ok(())
}

/// A practitioner with account e-mail and organisations.
#[derive(Debug, Clone, PartialEq)]
pub struct PractitionerView {
    /// The profile.
    pub practitioner: Practitioner,
    /// The account's e-mail.
    pub email: String,
    /// Organisations (direct memberships).
    pub organizations: Vec<Organization>,
}

async fn practitioner_view(
    state: &AppState,
    practitioner: Practitioner,
) -> CoreResult<PractitionerView> {
    let email = state
        .store
        .get_user(practitioner.jhe_user_id)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    let ids: Vec<Id> = state
        .store
        .list_practitioner_organizations(practitioner.id)
        .await?
        .into_iter()
        .map(|l| l.organization_id)
        .collect();
    Ok(PractitionerView {
        organizations: state.store.get_organizations(&ids).await?,
        email,
        practitioner,
    })
}

/// Practitioners (superusers only).
pub async fn list_practitioners(
    state: &AppState,
    principal: &Principal,
    page: PageRequest,
) -> CoreResult<Page<PractitionerView>> {
    require(state, principal, Action::ManagePractitioners).await?;
    let found = state.store.list_practitioners(page).await?;
    // Three queries whatever the page size: e-mails, organisation links, organisations.
    let user_ids: Vec<Id> = found.items.iter().map(|p| p.jhe_user_id).collect();
    let emails: HashMap<Id, String> = state
        .store
        .get_users(&user_ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.email))
        .collect();
    let practitioner_ids: Vec<Id> = found.items.iter().map(|p| p.id).collect();
    let links = state
        .store
        .list_organization_links_of_practitioners(&practitioner_ids)
        .await?;
    let mut org_ids: Vec<Id> = links.iter().map(|l| l.organization_id).collect();
    org_ids.sort_unstable();
    org_ids.dedup();
    let organizations = state.store.get_organizations(&org_ids).await?;
    let mut links_of: HashMap<Id, Vec<Id>> = HashMap::new();
    for link in links {
        links_of
            .entry(link.practitioner_id)
            .or_default()
            .push(link.organization_id);
    }
    let items = found
        .items
        .into_iter()
        .map(|practitioner| {
            let ids = links_of.remove(&practitioner.id).unwrap_or_default();
            PractitionerView {
                organizations: organizations
                    .iter()
                    .filter(|o| ids.contains(&o.id))
                    .cloned()
                    .collect(),
                email: emails
                    .get(&practitioner.jhe_user_id)
                    .cloned()
                    .unwrap_or_default(),
                practitioner,
            }
        })
        .collect();
    Ok(Page {
        items,
        total: found.total,
        request: found.request,
    })
}

/// One practitioner (superusers only).
pub async fn get_practitioner(
    state: &AppState,
    principal: &Principal,
    id: Id,
) -> CoreResult<PractitionerView> {
    require(state, principal, Action::ManagePractitioners).await?;
    let p =
        state.store.get_practitioner(id).await?.ok_or_else(|| {
            CoreError::NotFound("No Practitioner matches the given query.".into())
        })?;
    practitioner_view(state, p).await
}

/// Fields of a practitioner.
#[derive(Debug, Clone, Default)]
pub struct PractitionerChanges {
    /// External identifier.
    pub identifier: Option<String>,
    /// Family name.
    pub name_family: Option<String>,
    /// Given name.
    pub name_given: Option<String>,
    /// Phone.
    pub telecom_phone: Option<String>,
}

/// Checks the text of a practitioner's fields (names may be blank here; creation requires
/// them apart).
fn check_practitioner(c: &PractitionerChanges, errors: &mut FieldErrors) {
    let names = TextRule {
        blank: true,
        ..TextRule::PERSON_NAME
    };
    errors.text(
        "identifier",
        c.identifier.as_deref(),
        TextRule::IDENTIFIER,
        false,
    );
    errors.text("nameFamily", c.name_family.as_deref(), names, false);
    errors.text("nameGiven", c.name_given.as_deref(), names, false);
    errors.text(
        "telecomPhone",
        c.telecom_phone.as_deref(),
        TextRule::PHONE,
        false,
    );
}

/// Updates a practitioner (superusers only).
pub async fn update_practitioner(
    state: &AppState,
    principal: &Principal,
    id: Id,
    c: PractitionerChanges,
) -> CoreResult<PractitionerView> {
    require(state, principal, Action::ManagePractitioners).await?;
    let mut p =
        state.store.get_practitioner(id).await?.ok_or_else(|| {
            CoreError::NotFound("No Practitioner matches the given query.".into())
        })?;
    let mut errors = FieldErrors::new();
    check_practitioner(&c, &mut errors);
    errors.into_result()?;
    if c.identifier.is_some() {
        p.identifier = c.identifier;
    }
    if c.name_family.is_some() {
        p.name_family = c.name_family;
    }
    if c.name_given.is_some() {
        p.name_given = c.name_given;
    }
    if c.telecom_phone.is_some() {
        p.telecom_phone = c.telecom_phone;
    }
    let p = state.store.update_practitioner(&p).await?;
    practitioner_view(state, p).await
}

/// Deletes a practitioner profile and its memberships (the account stays; superusers only).
pub async fn delete_practitioner(
    state: &AppState,
    principal: &Principal,
    id: Id,
) -> CoreResult<()> {
    require(state, principal, Action::ManagePractitioners).await?;
    let deleted = state.store.delete_practitioner(id).await?;
    state.tokens.clear();
    if !deleted {
        return Err(CoreError::NotFound(
            "No Practitioner matches the given query.".into(),
        ));
    }
    Ok(())
}

/// `409` detail when a practitioner would be created on a patient's or superuser's account.
pub const ACCOUNT_NOT_PRACTITIONER: &str =
    "An account with this e-mail address exists and is not a practitioner account.";

/// Creates (or reuses by e-mail a practitioner-only account) a practitioner and links it to an
/// organisation as `member` (superusers only) — the original's intended behaviour (its endpoint
/// fails). A patient's or a superuser's account is never reused (`409`).
pub async fn create_practitioner(
    state: &AppState,
    principal: &Principal,
    organization_id: Option<Id>,
    email: Option<&str>,
    c: PractitionerChanges,
) -> CoreResult<PractitionerView> {
    require(state, principal, Action::ManagePractitioners).await?;
    let mut errors = FieldErrors::new();
    for (field, value) in [("nameFamily", &c.name_family), ("nameGiven", &c.name_given)] {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            errors.add(field, "This field is required.");
        }
    }
    check_practitioner(&c, &mut errors);
    let email = email.map(str::trim).unwrap_or_default().to_string();
    if !crate::services::signup::looks_like_email(&email) {
        errors.add("telecomEmail", "Enter a valid email address.");
    }
    errors.into_result()?;
    if let Some(org) = organization_id {
        crate::services::organizations::get_or_404(state, org).await?;
    }
    let user = match state.store.get_user_by_email(&email).await? {
        // Never turn a patient's account (or a superuser's) into a practitioner by e-mail.
        Some(u)
            if u.is_superuser
                || u.user_type == Some(UserType::Patient)
                || state.store.get_patient_by_user(u.id).await?.is_some() =>
        {
            return Err(CoreError::Conflict(ACCOUNT_NOT_PRACTITIONER.into()));
        }
        Some(u) => u,
        None => {
            state
                .store
                .create_user(NewUser {
                    email: email.clone(),
                    password: jhe_kdf::unusable_password(),
                    first_name: c.name_given.clone().unwrap_or_default(),
                    last_name: c.name_family.clone().unwrap_or_default(),
                    user_type: Some(UserType::Practitioner),
                    ..Default::default()
                })
                .await?
        }
    };
    let practitioner = match state.store.get_practitioner_by_user(user.id).await? {
        Some(p) => p,
        None => {
            state
                .store
                .create_practitioner(NewPractitioner {
                    id: None,
                    jhe_user_id: user.id,
                    identifier: c.identifier.clone(),
                    name_family: c.name_family.clone(),
                    name_given: c.name_given.clone(),
                    telecom_phone: c.telecom_phone.clone(),
                })
                .await?
        }
    };
    // An existing account may have gained a practitioner profile.
    state.tokens.clear();
    if let Some(org) = organization_id {
        state
            .store
            .upsert_practitioner_organization(practitioner.id, org, "member")
            .await?;
    }
    practitioner_view(state, practitioner).await
}
