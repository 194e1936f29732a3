//! Creating accounts with the side effects of the original: a profile row for the user type and
//! the default organisations of new practitioners.

use chrono::Utc;

use crate::domain::{Id, NewPatient, NewPractitioner, NewUser, Role, User, UserType, keys};
use crate::error::{CoreError, CoreResult};
use crate::store::Store;

/// Profile details used when a user with a `user_type` is created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileDetails {
    /// Fixed profile id (seed data).
    pub profile_id: Option<Id>,
    /// Phone number.
    pub telecom_phone: Option<String>,
    /// Patient date of birth (default: today, as the original).
    pub birth_date: Option<chrono::NaiveDate>,
    /// Leave a new practitioner without organisations, whatever `auth.default_orgs` says
    /// (accounts created at a single sign-on: an administrator assigns them).
    pub without_default_orgs: bool,
}

/// Creates a user; for `practitioner` also a Practitioner row and the default organisations
/// (setting `auth.default_orgs`), for `patient` a Patient row — all in one unit of work, so a
/// failure at any step leaves no account behind.
///
/// # Errors
/// `BadRequest` when `auth.default_orgs` is invalid or names a missing organisation; a store
/// error (`Conflict` for an e-mail that exists in any case) otherwise. Nothing is written then.
pub async fn create_user_with_profile(
    store: &dyn Store,
    new: NewUser,
    details: ProfileDetails,
) -> CoreResult<User> {
    // Reads and checks first, then one short unit of work.
    let default_orgs = if new.user_type == Some(UserType::Practitioner)
        && !details.without_default_orgs
    {
        let raw = crate::services::settings::string_setting(store, keys::AUTH_DEFAULT_ORGS).await?;
        parse_default_orgs(raw.as_deref().unwrap_or(""))?
    } else {
        Vec::new()
    };
    for (org_id, _) in &default_orgs {
        if store.get_organization(*org_id).await?.is_none() {
            return Err(CoreError::BadRequest(format!(
                "auth.default_orgs names organization {org_id}, which does not exist"
            )));
        }
    }
    let uow = store.begin().await?;
    let user = uow.create_user(new).await?;
    match user.user_type {
        Some(UserType::Practitioner) => {
            let practitioner = uow
                .create_practitioner(NewPractitioner {
                    id: details.profile_id,
                    jhe_user_id: user.id,
                    identifier: Some(user.identifier.clone()),
                    name_family: Some(user.last_name.clone()),
                    name_given: Some(user.first_name.clone()),
                    telecom_phone: details.telecom_phone,
                })
                .await?;
            for (org_id, role) in default_orgs {
                uow.upsert_practitioner_organization(practitioner.id, org_id, role.as_str())
                    .await?;
            }
        }
        Some(UserType::Patient) => {
            uow.create_patient(NewPatient {
                id: details.profile_id,
                jhe_user_id: Some(user.id),
                identifier: Some(user.identifier.clone()),
                name_family: user.last_name.clone(),
                name_given: user.first_name.clone(),
                birth_date: details
                    .birth_date
                    .unwrap_or_else(|| Utc::now().date_naive()),
                telecom_phone: details.telecom_phone,
            })
            .await?;
        }
        None => {}
    }
    uow.commit().await?;
    Ok(user)
}

/// Parses `auth.default_orgs` (`"<org_id>:<role>;…"`). Full role names are accepted, and the
/// one-letter forms `m` (manager) and `v` (viewer) of the original for compatibility.
pub fn parse_default_orgs(raw: &str) -> CoreResult<Vec<(Id, Role)>> {
    let mut out = Vec::new();
    for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((org, role)) = entry.split_once(':') else {
            return Err(CoreError::BadRequest(format!(
                "invalid auth.default_orgs entry {entry:?}"
            )));
        };
        let org_id: Id = org.trim().parse().map_err(|_| {
            CoreError::BadRequest(format!(
                "invalid organization id {org:?} in auth.default_orgs"
            ))
        })?;
        let role = match role.trim() {
            "m" => Role::Manager,
            "v" => Role::Viewer,
            other => Role::parse(other).ok_or_else(|| {
                CoreError::BadRequest(format!(
                    "invalid role {other:?} in auth.default_orgs. Valid roles: manager, member, viewer"
                ))
            })?,
        };
        out.push((org_id, role));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_orgs_parse_full_and_short_roles() {
        assert_eq!(
            parse_default_orgs("20001:manager; 20002:v").unwrap(),
            vec![(20001, Role::Manager), (20002, Role::Viewer)]
        );
        assert!(parse_default_orgs("").unwrap().is_empty());
        assert!(parse_default_orgs("x:manager").is_err());
        assert!(parse_default_orgs("20001:boss").is_err());
        assert!(parse_default_orgs("20001").is_err());
    }
}
