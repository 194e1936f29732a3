//! `/api/v1/users` management: list, read, create, change, delete, the caller's organisations and
//! the exact e-mail lookup of the portal.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::shapes::{OrganizationJson, UserJson, user_json};
use crate::domain::{Id, UserType};
use crate::error::CoreError;
use crate::http::auth::BearerAuth;
use crate::http::rest::paging::{Paginated, envelope, page_request};
use crate::http::rest::response::{ApiResult, NoContent};
use crate::server::AppState;
use crate::services::users::{self, UserChanges};

/// Fields of a user to create or change.
#[derive(Debug, Object)]
#[oai(rename = "UserInput", rename_all = "camelCase")]
pub struct UserIn {
    /// E-mail (required on create).
    pub email: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// `patient`, `practitioner` or null (superusers only).
    pub user_type: MaybeUndefined<String>,
    /// Superuser flag (superusers only).
    pub is_superuser: Option<bool>,
    /// Active flag (superusers only, not on their own account); `false` deactivates the account
    /// and revokes all of its tokens and sessions.
    pub is_active: Option<bool>,
}

/// The answer of `search_by_email` when nobody matches (an empty user, without `id`).
#[derive(Debug, Object)]
#[oai(rename = "UserNotFound", rename_all = "camelCase")]
pub struct EmptyUser {
    /// Always `""`.
    pub email: String,
    /// Always `""`.
    pub first_name: String,
    /// Always `""`.
    pub last_name: String,
    /// Always null.
    pub user_type: Option<String>,
    /// Always false.
    pub is_superuser: bool,
}

/// A user, or the empty user when no account has the address.
#[derive(Debug, poem_openapi::Union)]
pub enum UserSearchResult {
    /// Found.
    Found(Box<UserJson>),
    /// Not found.
    Empty(EmptyUser),
}

#[derive(ApiResponse)]
enum CreatedUser {
    /// Created.
    #[oai(status = 201)]
    Created(Json<UserJson>),
}

fn changes(body: UserIn) -> Result<UserChanges, CoreError> {
    let user_type = match body.user_type {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(t) => Some(Some(UserType::parse(&t).ok_or_else(|| {
            CoreError::field("userType", format!("\"{t}\" is not a valid choice."))
        })?)),
    };
    Ok(UserChanges {
        email: body.email,
        first_name: body.first_name,
        last_name: body.last_name,
        user_type,
        is_superuser: body.is_superuser,
        is_active: body.is_active,
    })
}

/// Account management.
pub struct UsersAdminApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Users")]
impl UsersAdminApi {
    /// Users the caller may see, ordered by last name: superusers all; practitioners the
    /// members of their organisations and themselves; patients only themselves.
    #[oai(path = "/users", method = "get")]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        email: Query<Option<String>>,
        page: Query<Option<String>>,
        #[oai(name = "pageSize")] page_size: Query<Option<String>>,
    ) -> ApiResult<Json<Paginated<UserJson>>> {
        let page = page_request(page.as_deref(), page_size.as_deref(), None)?;
        let found = users::list(&self.state, &auth.0, email.as_deref(), page).await?;
        Ok(Json(envelope(req, &self.state.config, found, |v| {
            user_json(&v)
        })?))
    }

    /// Creates a user (superusers only).
    #[oai(path = "/users", method = "post")]
    async fn create(&self, auth: BearerAuth, body: Json<UserIn>) -> ApiResult<CreatedUser> {
        let view = users::create(&self.state, &auth.0, changes(body.0)?).await?;
        Ok(CreatedUser::Created(Json(user_json(&view))))
    }

    /// The organisations the caller is directly linked to (`[]` for patients).
    #[oai(path = "/users/organizations", method = "get")]
    async fn organizations(&self, auth: BearerAuth) -> ApiResult<Json<Vec<OrganizationJson>>> {
        let orgs = users::my_organizations(&self.state, &auth.0).await?;
        Ok(Json(orgs.iter().map(OrganizationJson::nested).collect()))
    }

    /// The user with exactly this e-mail (practitioners only), or the empty user.
    #[oai(path = "/users/search_by_email", method = "get")]
    async fn search_by_email(
        &self,
        auth: BearerAuth,
        email: Query<Option<String>>,
    ) -> ApiResult<Json<UserSearchResult>> {
        let email = email.0.unwrap_or_default();
        Ok(Json(
            match users::search_by_email(&self.state, &auth.0, &email).await? {
                Some(view) => UserSearchResult::Found(Box::new(user_json(&view))),
                None => UserSearchResult::Empty(EmptyUser {
                    email: String::new(),
                    first_name: String::new(),
                    last_name: String::new(),
                    user_type: None,
                    is_superuser: false,
                }),
            },
        ))
    }

    /// One user: yourself, or anyone for superusers.
    #[oai(path = "/users/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<Json<UserJson>> {
        Ok(Json(user_json(
            &users::get(&self.state, &auth.0, id.0).await?,
        )))
    }

    /// Changes a user: yourself (e-mail, names) or, as superuser, anyone (also `userType` and
    /// `isSuperuser`).
    #[oai(path = "/users/:id", method = "put")]
    async fn put(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<UserIn>,
    ) -> ApiResult<Json<UserJson>> {
        Ok(Json(user_json(
            &users::update(&self.state, &auth.0, id.0, changes(body.0)?).await?,
        )))
    }

    /// Same as PUT.
    #[oai(path = "/users/:id", method = "patch")]
    async fn patch(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Json<UserIn>,
    ) -> ApiResult<Json<UserJson>> {
        Ok(Json(user_json(
            &users::update(&self.state, &auth.0, id.0, changes(body.0)?).await?,
        )))
    }

    /// Deletes a user with profiles, tokens and sessions (superusers only).
    #[oai(path = "/users/:id", method = "delete")]
    async fn delete(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<NoContent> {
        users::delete(&self.state, &auth.0, id.0).await?;
        Ok(NoContent::NoContent)
    }
}
