//! [`ExportStore`]: the `bulk_export_jobs` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use jhe_core::store::{ExportJob, ExportStatus, ExportStore, StoreResult};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::entity::bulk_export_job as job;
use super::{DbResultExt, SeaOrmStore};

fn from_model(m: job::Model) -> ExportJob {
    ExportJob {
        id: m.id,
        user_id: m.user_id,
        request: m.request,
        status: ExportStatus::parse(&m.status),
        progress: m.progress,
        output: m.output,
        error: m.error,
        transaction_time: m.transaction_time,
        created: m.created,
        expires: m.expires,
    }
}

#[async_trait]
impl ExportStore for SeaOrmStore {
    async fn create_export_job(&self, j: &ExportJob) -> StoreResult<()> {
        job::Entity::insert(job::ActiveModel {
            id: Set(j.id.clone()),
            user_id: Set(j.user_id),
            request: Set(j.request.clone()),
            status: Set(j.status.as_str().to_string()),
            progress: Set(j.progress.clone()),
            output: Set(j.output.clone()),
            error: Set(j.error.clone()),
            transaction_time: Set(j.transaction_time),
            created: Set(j.created),
            expires: Set(j.expires),
        })
        .exec_without_returning(&self.db)
        .await
        .db()?;
        Ok(())
    }

    async fn get_export_job(&self, id: &str) -> StoreResult<Option<ExportJob>> {
        Ok(job::Entity::find_by_id(id.to_string())
            .one(&self.db)
            .await
            .db()?
            .map(from_model))
    }

    async fn update_export_progress(&self, id: &str, progress: &str) -> StoreResult<bool> {
        let result = job::Entity::update_many()
            .col_expr(job::Column::Progress, Expr::value(progress.to_string()))
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::Status.eq(ExportStatus::InProgress.as_str()))
            .exec(&self.db)
            .await
            .db()?;
        Ok(result.rows_affected > 0)
    }

    async fn finish_export_job(
        &self,
        id: &str,
        status: ExportStatus,
        output: &str,
        error: Option<&str>,
    ) -> StoreResult<bool> {
        let result = job::Entity::update_many()
            .col_expr(job::Column::Status, Expr::value(status.as_str()))
            .col_expr(job::Column::Output, Expr::value(output.to_string()))
            .col_expr(job::Column::Error, Expr::value(error.map(str::to_string)))
            .filter(job::Column::Id.eq(id))
            .filter(job::Column::Status.eq(ExportStatus::InProgress.as_str()))
            .exec(&self.db)
            .await
            .db()?;
        Ok(result.rows_affected > 0)
    }

    async fn delete_export_job(&self, id: &str) -> StoreResult<bool> {
        let result = job::Entity::delete_by_id(id.to_string())
            .exec(&self.db)
            .await
            .db()?;
        Ok(result.rows_affected > 0)
    }

    async fn expired_export_jobs(&self, now: DateTime<Utc>) -> StoreResult<Vec<String>> {
        job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .filter(job::Column::Expires.lt(now))
            .into_tuple::<String>()
            .all(&self.db)
            .await
            .db()
    }
}
