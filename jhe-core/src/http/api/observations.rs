//! `/api/v1/observations` (rest-api.md §6): the portal's observation list. Practitioners only;
//! observations of patients sharing an organisation with the caller, newest first.
//!
//! Paging scales: the `next` link carries a `cursor` (the `lastUpdated~id` of the page's last
//! row), so following it is a keyset query whose cost does not grow with the page number. A
//! plain `?page=N` (without cursor) still works, by offset.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::input::timestamp;

use crate::domain::{Id, KeysetCursor};
use crate::error::CoreError;
use crate::http::auth::BearerAuth;
use crate::http::rest::paging::{Paginated, envelope, page_link, page_request};
use crate::http::rest::response::ApiResult;
use crate::server::AppState;
use crate::services::observation_list::{self, ObservationFilter, ObservationRow};

/// An observation with its patient's names and its data type. `valueAttachmentData` is the
/// stored Open mHealth JSON, keys untouched (snake_case).
#[derive(Debug, Clone, PartialEq, Object)]
#[oai(rename = "ObservationListItem", rename_all = "camelCase")]
pub struct ObservationOut {
    /// Id.
    pub id: Id,
    /// The patient.
    pub subject_patient_id: Id,
    /// The patient's family name.
    pub patient_name_family: String,
    /// The patient's given name.
    pub patient_name_given: String,
    /// The data type.
    pub codeable_concept_id: Id,
    /// Its coding system.
    pub coding_system: String,
    /// Its code.
    pub coding_code: String,
    /// Its label.
    pub coding_text: String,
    /// When stored or last changed.
    pub last_updated: String,
    /// The payload as stored (JSON; a string if it is not JSON).
    pub value_attachment_data: serde_json::Value,
}

impl From<ObservationRow> for ObservationOut {
    fn from(r: ObservationRow) -> Self {
        let o = r.observation;
        let data = serde_json::from_str(&o.value_attachment_data)
            .unwrap_or(serde_json::Value::String(o.value_attachment_data));
        ObservationOut {
            id: o.id,
            subject_patient_id: o.subject_patient_id,
            patient_name_family: r.patient.name_family,
            patient_name_given: r.patient.name_given,
            codeable_concept_id: r.concept.id,
            coding_system: r.concept.coding_system,
            coding_code: r.concept.coding_code,
            coding_text: r.concept.text,
            last_updated: timestamp(&o.last_updated),
            value_attachment_data: data,
        }
    }
}

/// Name of the keyset query parameter.
const CURSOR: &str = "cursor";

/// `link` with its `cursor` parameter replaced (or removed), parameters sorted by name.
fn with_cursor(link: &str, cursor: Option<&str>) -> String {
    let Ok(mut url) = url::Url::parse(link) else {
        return link.to_string();
    };
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != CURSOR)
        .collect();
    if let Some(c) = cursor {
        params.push((CURSOR.to_string(), c.to_string()));
    }
    params.sort_by(|a, b| a.0.cmp(&b.0));
    if params.is_empty() {
        url.set_query(None);
    } else {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        url.set_query(Some(&query));
    }
    url.to_string()
}

/// Observations (portal view; uploads go through FHIR).
pub struct ObservationsApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Observations")]
impl ObservationsApi {
    /// Observations of patients sharing an organisation with the calling practitioner, newest
    /// first (patients get 404). With `studyId` the caller must be linked to the study's
    /// organisation, and only scopes the patient consented to in that study are returned.
    #[oai(path = "/observations", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        auth: BearerAuth,
        req: &Request,
        /// Only patients of this organisation (which the caller must be linked to).
        #[oai(name = "organizationId")]
        organization_id: Query<Option<Id>>,
        /// Only enrolled patients of this study and the consented scopes it requests.
        #[oai(name = "studyId")]
        study_id: Query<Option<Id>>,
        /// Only this patient.
        #[oai(name = "patientId")]
        patient_id: Query<Option<Id>>,
        /// Only this observation.
        #[oai(name = "observationId")]
        observation_id: Query<Option<Id>>,
        /// 1-based page number.
        page: Query<Option<String>>,
        /// Rows per page (default 20, at most 1000).
        #[oai(name = "pageSize")]
        page_size: Query<Option<String>>,
        /// Keyset position from a `next` link; opaque to clients.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<Paginated<ObservationOut>>> {
        let page = page_request(page.as_deref(), page_size.as_deref(), None)?;
        let after = match cursor.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(raw) => Some(
                KeysetCursor::parse(raw)
                    .ok_or_else(|| CoreError::BadRequest("Invalid cursor.".into()))?,
            ),
        };
        let filter = ObservationFilter {
            organization_id: organization_id.0,
            study_id: study_id.0,
            patient_id: patient_id.0,
            observation_id: observation_id.0,
            after,
        };
        let found = observation_list::list(&self.state, &auth.0, filter, page).await?;
        let last = found.next_cursor.and_then(|c| c.to_token());
        let has_next = found.has_next;
        let config = &self.state.config;
        let mut out = envelope(req, config, found.page, ObservationOut::from)?;
        out.next = None;
        if has_next {
            let next = page_link(req, config, "page", page.page + 1);
            out.next = Some(with_cursor(&next, last.as_deref()));
        }
        out.previous = out.previous.map(|p| with_cursor(&p, None));
        Ok(Json(out))
    }

    /// One observation the calling practitioner may see (else 404).
    #[oai(path = "/observations/:id", method = "get")]
    async fn get(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<Json<ObservationOut>> {
        Ok(Json(
            observation_list::get(&self.state, &auth.0, id.0)
                .await?
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_get_the_new_cursor() {
        assert_eq!(
            with_cursor(
                "http://h/api/v1/observations?page=2&cursor=old&pageSize=2",
                Some("a~1")
            ),
            "http://h/api/v1/observations?cursor=a%7E1&page=2&pageSize=2"
        );
        assert_eq!(
            with_cursor("http://h/api/v1/observations?cursor=old", None),
            "http://h/api/v1/observations"
        );
    }
}
