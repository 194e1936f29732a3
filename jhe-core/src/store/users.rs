use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{
    Id, NewPractitioner, NewUser, Page, PageRequest, Practitioner, PractitionerOrganization, User,
};

/// Accounts and practitioner profiles.
#[async_trait]
pub trait UserStore {
    /// Creates a user, storing the e-mail normalised ([`normalize_email`]); `Conflict` if the
    /// address exists in any case.
    ///
    /// [`normalize_email`]: crate::domain::normalize_email
    async fn create_user(&self, new: NewUser) -> StoreResult<User>;
    /// A user by id.
    async fn get_user(&self, id: Id) -> StoreResult<Option<User>>;
    /// Several users by id in one query (unknown ids are skipped), ordered by id.
    async fn get_users(&self, ids: &[Id]) -> StoreResult<Vec<User>>;
    /// A user by e-mail, regardless of case.
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Users whose external identifier equals `identifier`.
    async fn find_users_by_identifier(&self, identifier: &str) -> StoreResult<Vec<User>>;
    /// Writes every field of `user` (by id); the e-mail is stored normalised. Prefer the
    /// targeted writes below for the password, the active flag and the last login, which must
    /// not race with each other.
    async fn update_user(&self, user: &User) -> StoreResult<User>;
    /// Sets the password hash and, in the same transaction, ends everything the old password
    /// vouched for: deletes the user's access tokens, authorization codes (invitation codes
    /// included) and browser sessions and revokes their refresh tokens. `false` if the user does
    /// not exist.
    ///
    /// # Errors
    ///
    /// `Backend` when the database fails (nothing is written then).
    async fn set_password(&self, user_id: Id, password_hash: &str) -> StoreResult<bool>;
    /// Replaces the password hash by `new_hash` only if it is still `current_hash` (a rehash of
    /// the same password at login, which keeps tokens and sessions); `true` if it did.
    ///
    /// # Errors
    ///
    /// `Backend` when the database fails (nothing is written then).
    async fn upgrade_password_hash(
        &self,
        user_id: Id,
        current_hash: &str,
        new_hash: &str,
    ) -> StoreResult<bool>;
    /// Sets the active flag; deactivating also deletes, in the same transaction, the user's
    /// access tokens, authorization codes and sessions and revokes their refresh tokens (which
    /// stay dead if the account is reactivated). `false` if the user does not exist.
    ///
    /// # Errors
    ///
    /// `Backend` when the database fails (nothing is written then).
    async fn set_user_active(&self, user_id: Id, active: bool) -> StoreResult<bool>;
    /// Records a successful login at `at` (writes `last_login` only).
    ///
    /// # Errors
    ///
    /// `Backend` when the database fails (nothing is written then).
    async fn touch_last_login(&self, user_id: Id, at: DateTime<Utc>) -> StoreResult<()>;
    /// Deletes a user and (by cascade) their profiles, tokens, grants and sessions.
    async fn delete_user(&self, id: Id) -> StoreResult<bool>;
    /// Users ordered by last name then id, optionally only the one with `email` (any case).
    async fn list_users(&self, email: Option<&str>, page: PageRequest) -> StoreResult<Page<User>>;
    /// [`list_users`](Self::list_users) among the users with these ids: filtered, counted and
    /// paged in SQL.
    async fn list_users_among(
        &self,
        ids: &[Id],
        email: Option<&str>,
        page: PageRequest,
    ) -> StoreResult<Page<User>>;

    /// Creates a practitioner profile.
    async fn create_practitioner(&self, new: NewPractitioner) -> StoreResult<Practitioner>;
    /// A practitioner by id.
    async fn get_practitioner(&self, id: Id) -> StoreResult<Option<Practitioner>>;
    /// The practitioner profile of a user.
    async fn get_practitioner_by_user(&self, user_id: Id) -> StoreResult<Option<Practitioner>>;
    /// Writes every field of `practitioner` (by id).
    async fn update_practitioner(&self, practitioner: &Practitioner) -> StoreResult<Practitioner>;
    /// Deletes a practitioner profile and its organisation links.
    async fn delete_practitioner(&self, id: Id) -> StoreResult<bool>;
    /// Practitioners ordered by id.
    async fn list_practitioners(&self, page: PageRequest) -> StoreResult<Page<Practitioner>>;

    /// Links a practitioner to an organisation with `role`, or changes the role of the link.
    async fn upsert_practitioner_organization(
        &self,
        practitioner_id: Id,
        organization_id: Id,
        role: &str,
    ) -> StoreResult<PractitionerOrganization>;
    /// Removes a link; `false` if there was none.
    async fn delete_practitioner_organization(
        &self,
        practitioner_id: Id,
        organization_id: Id,
    ) -> StoreResult<bool>;
    /// The organisation links of a practitioner, ordered by id.
    async fn list_practitioner_organizations(
        &self,
        practitioner_id: Id,
    ) -> StoreResult<Vec<PractitionerOrganization>>;
    /// The practitioner links of an organisation, ordered by id.
    async fn list_organization_practitioners(
        &self,
        organization_id: Id,
    ) -> StoreResult<Vec<PractitionerOrganization>>;
    /// The organisation links of several practitioners in one query, ordered by practitioner
    /// then link id (for list pages: no query per row).
    async fn list_organization_links_of_practitioners(
        &self,
        practitioner_ids: &[Id],
    ) -> StoreResult<Vec<PractitionerOrganization>>;
    /// The user ids of the practitioners linked to any of `organization_ids` (one query),
    /// ascending, distinct.
    async fn list_practitioner_user_ids_in_organizations(
        &self,
        organization_ids: &[Id],
    ) -> StoreResult<Vec<Id>>;
}
