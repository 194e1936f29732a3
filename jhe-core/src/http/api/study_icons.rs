//! `/api/v1/studies/{id}/icon`: the image uploaded as a study's icon. Reading is public (an
//! `<img>` in a patient app sends no token; study icons are not patient data); uploading and
//! removing need the permission to edit the study.

use std::sync::Arc;

use poem::Body;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::{Binary, Json, Response};
use poem_openapi::{ApiResponse, OpenApi};

use super::ApiTags;
use super::studies::StudyWriteOut;
use crate::domain::Id;
use crate::error::CoreError;
use crate::http::auth::BearerAuth;
use crate::http::rest::response::ApiResult;
use crate::server::AppState;
use crate::services::studies::{self, MAX_ICON_BYTES};

/// How long a client may use a stored icon without asking again (the study's `iconUrl`
/// carries the version, so a new image has a new address).
const ICON_CACHE_CONTROL: &str = "public, max-age=86400";

/// A study's icon, or "not modified".
#[derive(ApiResponse)]
pub enum StudyIconResponse {
    /// The image, with the content type it was recognised as (`image/png`, `image/jpeg` or
    /// `image/webp`).
    #[oai(status = 200, content_type = "image/*")]
    Ok(
        Binary<Vec<u8>>,
        /// SHA-256 of the image (quoted).
        #[oai(header = "ETag")]
        String,
        /// Caching rules.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// The `If-None-Match` value names the current image.
    #[oai(status = 304)]
    NotModified(
        /// SHA-256 of the image (quoted).
        #[oai(header = "ETag")]
        String,
        /// Caching rules.
        #[oai(header = "Cache-Control")]
        String,
    ),
}

/// Whether an `If-None-Match` value names the entity tag `etag` (weak comparison, `*`).
fn matches_etag(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// Study icons.
pub struct StudyIconsApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Studies")]
impl StudyIconsApi {
    /// The study's uploaded icon (public: no token needed; study icons are not patient data).
    /// Answers with the stored content type, an `ETag` (`304` for a matching `If-None-Match`),
    /// `Cache-Control`, `X-Content-Type-Options: nosniff` and
    /// `Content-Security-Policy: default-src 'none'`; `404` when the study has none.
    #[oai(path = "/studies/:id/icon", method = "get")]
    async fn get_icon(
        &self,
        id: Path<Id>,
        /// Entity tags the client already holds (RFC 9110, section 13.1.2; visible ASCII, as HTTP
        /// header values are).
        #[oai(name = "If-None-Match", validator(pattern = r"^[\x20-\x7E]*$"))]
        if_none_match: Header<Option<String>>,
    ) -> ApiResult<Response<StudyIconResponse>> {
        let icon = studies::icon(&self.state, id.0).await?;
        let etag = format!("\"{}\"", icon.content_hash);
        let answer = if if_none_match
            .0
            .as_deref()
            .is_some_and(|v| matches_etag(v, &etag))
        {
            Response::new(StudyIconResponse::NotModified(
                etag,
                ICON_CACHE_CONTROL.into(),
            ))
        } else {
            Response::new(StudyIconResponse::Ok(
                Binary(icon.data),
                etag,
                ICON_CACHE_CONTROL.into(),
            ))
            .header("Content-Type", icon.content_type.as_str())
        };
        Ok(answer
            .header("X-Content-Type-Options", "nosniff")
            .header("Content-Security-Policy", "default-src 'none'"))
    }

    /// Uploads the study's icon: the raw image as the body (PNG, JPEG or WebP, recognised by
    /// its first bytes; at most 256 KiB; SVG is refused). Needs the permission to edit the
    /// study. The study's `iconUrl` becomes the address of the served image with its version.
    #[oai(path = "/studies/:id/icon", method = "put")]
    async fn put_icon(
        &self,
        auth: BearerAuth,
        id: Path<Id>,
        body: Binary<Body>,
    ) -> ApiResult<Json<StudyWriteOut>> {
        let bytes = body
            .0
            .into_bytes_limit(MAX_ICON_BYTES + 1)
            .await
            .map(|b| b.to_vec())
            .map_err(|_| {
                CoreError::BadRequest(format!(
                    "The icon is too large (at most {MAX_ICON_BYTES} bytes, 256 KiB): upload a PNG, JPEG or WebP image of at most 256 KiB."
                ))
            })?;
        let study = studies::set_icon(&self.state, &auth.0, id.0, bytes).await?;
        Ok(Json(study.into()))
    }

    /// Removes the study's icon (the uploaded image and its `iconUrl`). Needs the permission
    /// to edit the study.
    #[oai(path = "/studies/:id/icon", method = "delete")]
    async fn delete_icon(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<Json<StudyWriteOut>> {
        let study = studies::remove_icon(&self.state, &auth.0, id.0).await?;
        Ok(Json(study.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::matches_etag;

    #[test]
    fn if_none_match_compares_weakly() {
        assert!(matches_etag("\"abc\"", "\"abc\""));
        assert!(matches_etag("W/\"abc\"", "\"abc\""));
        assert!(matches_etag("\"x\", \"abc\"", "\"abc\""));
        assert!(matches_etag("*", "\"abc\""));
        assert!(!matches_etag("\"abd\"", "\"abc\""));
    }
}
