//! `/api/v1/patients/…`.

use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use crate::domain::Id;
use crate::error::CoreError;
use crate::http::auth::BearerAuth;
use crate::http::rest::response::ApiResult;
use crate::server::AppState;
use crate::services::oauth::invitation::create_invitation_link;

/// Patients.
pub struct PatientsApi {
    pub(crate) state: Arc<AppState>,
}

/// A patient invitation link.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename_all = "camelCase")]
pub struct InvitationLinkJson {
    /// The client's invitation URL with `CODE` replaced by `<host>~<client_id>~<code>~<verifier>`.
    pub invitation_link: String,
}

fn truthy(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_lowercase().as_str(),
            "true" | "1" | "yes" | "on"
        )
    })
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Patients")]
impl PatientsApi {
    /// Creates the patient's invitation link for a client (auth.md §6): a new single-use
    /// authorization code valid 14 days replaces any previous one. Only practitioners linked to
    /// one of the patient's organisations may do it. `send_email=true` also e-mails the link.
    #[oai(path = "/patients/:id/invitation_link", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn invitation_link(
        &self,
        auth: BearerAuth,
        /// Patient id.
        id: Path<String>,
        /// The client's numeric id (`Application.id`).
        application_id: Query<Option<String>>,
        /// Same as `application_id`.
        #[oai(name = "applicationId")]
        application_id_camel: Query<Option<String>>,
        /// `true` to e-mail the link to the patient.
        send_email: Query<Option<String>>,
        /// Same as `send_email`.
        #[oai(name = "sendEmail")]
        send_email_camel: Query<Option<String>>,
    ) -> ApiResult<Json<InvitationLinkJson>> {
        let Ok(patient_id) = id.0.parse::<Id>() else {
            return Err(CoreError::NotFound("No Patient matches the given query.".into()).into());
        };
        let application_id =
            match application_id.0.or(application_id_camel.0) {
                None => None,
                Some(raw) if raw.trim().is_empty() => None,
                Some(raw) => Some(raw.trim().parse::<Id>().map_err(|_| {
                    CoreError::BadRequest("application_id must be an integer".into())
                })?),
            };
        let send_email = truthy(send_email.0.as_deref().or(send_email_camel.0.as_deref()));
        let link = create_invitation_link(
            self.state.store.as_ref(),
            &self.state.config,
            self.state.mailer.as_ref(),
            &auth.0,
            patient_id,
            application_id,
            send_email,
        )
        .await?;
        Ok(Json(InvitationLinkJson {
            invitation_link: link,
        }))
    }
}
