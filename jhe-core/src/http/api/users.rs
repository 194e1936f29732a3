//! `/api/v1/users/…`.

use std::sync::Arc;

use poem_openapi::OpenApi;
use poem_openapi::payload::Json;

use super::ApiTags;
use super::shapes::{ProfileJson, profile_json};
use crate::http::auth::BearerAuth;
use crate::http::rest::response::ApiResult;
use crate::server::AppState;

/// Accounts.
pub struct UsersApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Users")]
impl UsersApi {
    /// The caller's profile: patients get a stripped shape (no names, birth date, phone or
    /// e-mail); everyone else the full user object.
    #[oai(path = "/users/profile", method = "get")]
    async fn profile(&self, auth: BearerAuth) -> ApiResult<Json<ProfileJson>> {
        let view = crate::services::users::profile(&self.state, &auth.0).await?;
        Ok(Json(profile_json(&auth.0, &view)))
    }
}
