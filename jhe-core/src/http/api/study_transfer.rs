//! `POST /api/v1/studies/{id}/export` and `POST /api/v1/studies/import`: a study with its
//! patients, consents and observations, moved between instances
//! ([`services::study_transfer`](crate::services::study_transfer)).

use std::collections::BTreeMap;
use std::sync::Arc;

use poem::Body;
use poem_openapi::param::Path;
use poem_openapi::payload::{Binary, Json};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::domain::Id;
use crate::error::CoreError;
use crate::http::auth::BearerAuth;
use crate::http::rest::response::ApiResult;
use crate::server::AppState;
use crate::services::study_transfer::{self, ImportReport};

/// The export of a study: NDJSON, the manifest line first.
#[derive(ApiResponse)]
pub enum StudyExport {
    /// One JSON object per line, each tagged with `kind` (`manifest`, `study`, `dataSource`,
    /// `scopeRequest`, `client`, `patient`, `consent`, `observation`).
    #[oai(status = 200, content_type = "application/x-ndjson")]
    Ok(Binary<Body>, #[oai(header = "Content-Disposition")] String),
}

/// What an import created and found already there.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "StudyImportReport", rename_all = "camelCase")]
pub struct ImportReportOut {
    /// The study's id in this instance.
    pub study_id: Id,
    /// Its organisation's id in this instance.
    pub organization_id: Id,
    /// Rows created (consents: changed) per kind.
    pub created: BTreeMap<String, u64>,
    /// Rows that were already there, per kind.
    pub existing: BTreeMap<String, u64>,
    /// Sum of `created` (`0` for a repeated import).
    pub created_total: u64,
}

impl From<ImportReport> for ImportReportOut {
    fn from(r: ImportReport) -> Self {
        ImportReportOut {
            study_id: r.study_id,
            organization_id: r.organization_id,
            created_total: r.created_total(),
            created: r.created,
            existing: r.existing,
        }
    }
}

/// Study export and import.
pub struct StudyTransferApi {
    pub(crate) state: Arc<AppState>,
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Studies")]
impl StudyTransferApi {
    /// Exports a study (its organisation, data sources, requested scopes, clients, enrolled
    /// patients, consents and observations) as NDJSON, read through the caller's access scope
    /// like a search: the caller must be able to read the study (`403` otherwise, `404` for an
    /// unknown study). Import it into another instance with `POST /api/v1/studies/import`.
    #[oai(path = "/studies/:id/export", method = "post")]
    async fn export(&self, auth: BearerAuth, id: Path<Id>) -> ApiResult<StudyExport> {
        let dir = &self.state.config.export.dir;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| CoreError::Internal(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(format!("study-{}.ndjson", uuid::Uuid::new_v4().simple()));
        let result = study_transfer::export_study_archive(&self.state, &auth.0, id.0, &path).await;
        let opened = match result {
            Ok(_) => tokio::fs::File::open(&path)
                .await
                .map_err(|e| CoreError::Internal(format!("cannot read the study export: {e}"))),
            Err(e) => Err(e),
        };
        // The open file stays readable after its name is removed: nothing is left behind.
        if let Err(e) = tokio::fs::remove_file(&path).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, path = %path.display(), "cannot remove a study export");
        }
        let file = opened?;
        Ok(StudyExport::Ok(
            Binary(Body::from_async_read(file)),
            format!("attachment; filename=\"study-{}.ndjson\"", id.0),
        ))
    }

    /// Imports a study export (the body of `POST /api/v1/studies/{id}/export`, sent as
    /// `application/octet-stream`); superusers only. Rows are matched by natural keys, so a
    /// repeated import creates nothing (`createdTotal` 0). `400` for another format or version
    /// or an incomplete export (what was imported before stays; importing again continues).
    #[oai(path = "/studies/import", method = "post")]
    async fn import(
        &self,
        auth: BearerAuth,
        body: Binary<Body>,
    ) -> ApiResult<Json<ImportReportOut>> {
        if !auth.0.user.is_superuser {
            return Err(CoreError::Forbidden("Only a superuser may import a study.".into()).into());
        }
        let mut reader = tokio::io::BufReader::new(body.0.into_async_read());
        let report =
            study_transfer::import_study_stream(&self.state, &auth.0, &mut reader, None).await?;
        Ok(Json(report.into()))
    }
}
