//! Observations: the paged table by organisation, study or patient, a patient's time-series
//! charts per data type (server-side SVG), and a study's overview (observations per patient per
//! day). All reads go through [`crate::services::observation_list::list`], so consent and
//! visibility are those of the REST API.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use poem::web::{Data, Path, Query};
use poem::{Request, Response, Route, get, handler};
use serde_json::{Value, json};

use super::charts::{
    BucketedSeries, describe_width, observed_at, render_svg, unit_values, value_summary,
};
use super::{ctx, id_of, page_request, view};
use crate::domain::{Id, PageRequest};
use crate::server::AppState;
use crate::services::observation_list::{self, ObservationFilter, ObservationRow};

type Params = std::collections::HashMap<String, String>;

/// How many observations one page of the stream behind a chart or overview reads (every page is
/// read; only the aggregates are kept, see [`ChartData`]).
pub const STREAM_PAGE: u64 = 1000;

pub(super) fn mount(route: Route) -> Route {
    route
        .at("/portal/observations/", get(index))
        .at("/portal/patients/:id/charts", get(patient_charts))
        .at("/portal/studies/:id/overview", get(study_overview))
}

/// A table row.
pub fn row(r: &ObservationRow) -> Value {
    json!({
        "id": r.observation.id,
        "patient_id": r.patient.id,
        "patient": format!("{}, {}", r.patient.name_family, r.patient.name_given),
        "scope": r.concept.text,
        "code": r.concept.coding_code,
        "time": observed_at(&r.observation).format("%Y-%m-%d %H:%M UTC").to_string(),
        "updated": r.observation.last_updated.format("%Y-%m-%d %H:%M UTC").to_string(),
        "summary": value_summary(&r.observation.value_attachment_data),
    })
}

#[handler]
async fn index(state: Data<&Arc<AppState>>, req: &Request, Query(q): Query<Params>) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let orgs = super::studies::my_orgs(&state, &p).await;
    let patient = id_of(q.get("patient"));
    let org = id_of(q.get("org")).or_else(|| {
        patient
            .is_none()
            .then(|| orgs.first().map(|o| o.id))
            .flatten()
    });
    let study = id_of(q.get("study"));
    let request = page_request(
        q.get("page").map(String::as_str),
        q.get("pageSize").map(String::as_str),
    );
    let studies = match org {
        Some(o) => crate::services::studies::of_organization(&state, &p, o)
            .await
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let filter = ObservationFilter {
        organization_id: org,
        study_id: study,
        patient_id: patient,
        ..Default::default()
    };
    let found = if p.practitioner.is_some() {
        match observation_list::list(&state, &p, filter, request).await {
            Ok(f) => Some(f),
            Err(e) => return ctx.failed(e).await,
        }
    } else {
        None
    };
    let params = [
        ("org", org.map(|o| o.to_string()).unwrap_or_default()),
        ("study", study.map(|s| s.to_string()).unwrap_or_default()),
        (
            "patient",
            patient.map(|s| s.to_string()).unwrap_or_default(),
        ),
    ];
    let (rows, pager) = match &found {
        Some(f) => (
            f.page.items.iter().map(row).collect::<Vec<_>>(),
            view::pager(
                "/portal/observations/",
                &params,
                f.page.request,
                f.page.total,
            ),
        ),
        None => (Vec::new(), Value::Null),
    };
    ctx.render(
        "portal/observations.html",
        json!({
            "active": "observations",
            "orgs": orgs.iter().map(view::organization).collect::<Vec<_>>(),
            "org": org,
            "study": study,
            "patient": patient,
            "studies": studies.iter().map(|s| json!({"id": s.id, "name": s.name})).collect::<Vec<_>>(),
            "rows": rows,
            "pager": pager,
        }),
    )
    .await
}

/// A `YYYY-MM-DD` day as the start of that day (UTC).
fn day_start(text: Option<&String>) -> Option<DateTime<Utc>> {
    let day = NaiveDate::parse_from_str(text?.trim(), "%Y-%m-%d").ok()?;
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// The charts of one patient, built while the observations stream by: per data type, per
/// quantity a [`BucketedSeries`] of the values in `[from, to)` (memory bounded whatever the
/// number of observations).
#[derive(Debug, Clone, Default)]
pub struct ChartData {
    scope: Option<Id>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// Every data type seen (for the data type selector): id → text.
    pub scopes: BTreeMap<Id, String>,
    charts: BTreeMap<Id, (String, String, BTreeMap<String, BucketedSeries>)>,
}

impl ChartData {
    /// Empty charts of one data type (`scope`, or all) in a range.
    pub fn new(
        scope: Option<Id>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> ChartData {
        ChartData {
            scope,
            from,
            to,
            ..Default::default()
        }
    }

    /// Takes one observation into account.
    pub fn add(&mut self, row: &ObservationRow) {
        self.scopes
            .entry(row.concept.id)
            .or_insert_with(|| row.concept.text.clone());
        if self.scope.is_some_and(|s| s != row.concept.id) {
            return;
        }
        let (_, _, series) = self.charts.entry(row.concept.id).or_insert_with(|| {
            (
                row.concept.text.clone(),
                row.concept.coding_code.clone(),
                BTreeMap::new(),
            )
        });
        let at = observed_at(&row.observation);
        if self.from.is_some_and(|f| at < f) || self.to.is_some_and(|t| at >= t) {
            return;
        }
        for (label, value, unit) in unit_values(&row.observation.value_attachment_data) {
            series
                .entry(label.clone())
                .or_insert_with(|| BucketedSeries::new(&label, &unit))
                .add(at, value);
        }
    }

    /// The charts for the page: per data type its text, value count, series, whether (and how
    /// wide) values are bucketed, and the SVG.
    pub fn charts(&self) -> Vec<Value> {
        self.charts
            .iter()
            .map(|(id, (text, code, series))| {
                let points: u64 = series.values().map(BucketedSeries::count).sum();
                let bucketed = series
                    .values()
                    .filter(|s| s.is_bucketed())
                    .map(BucketedSeries::width_seconds)
                    .max()
                    .map(describe_width);
                let lines: Vec<_> = series.values().flat_map(BucketedSeries::chart_series).collect();
                json!({
                    "id": id,
                    "text": text,
                    "code": code,
                    "points": points,
                    "bucketed": bucketed,
                    "series": series.values().map(|s| json!({"label": s.label.replace('_', " "), "unit": s.unit, "count": s.count()})).collect::<Vec<_>>(),
                    "svg": render_svg(&lines, 720, 320),
                })
            })
            .collect()
    }
}

/// The charts of one patient: per data type the series of its unit values in the range (all rows
/// at once; the page streams them into [`ChartData`]).
#[cfg(test)]
pub fn charts_of(
    rows: &[ObservationRow],
    scope: Option<Id>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Vec<Value> {
    let mut data = ChartData::new(scope, from, to);
    for row in rows {
        data.add(row);
    }
    data.charts()
}

/// Streams every observation matching `filter` that the caller may read, a keyset page of
/// [`STREAM_PAGE`] at a time through the same search as the table (consent and access scope
/// included), handing each row to `each`; only one page is held at a time.
async fn stream_rows(
    state: &AppState,
    principal: &crate::policy::Principal,
    mut filter: ObservationFilter,
    mut each: impl FnMut(&ObservationRow),
) -> crate::error::CoreResult<()> {
    loop {
        let found =
            observation_list::list(state, principal, filter, PageRequest::new(1, STREAM_PAGE))
                .await?;
        found.page.items.iter().for_each(&mut each);
        match (found.has_next, found.next_cursor) {
            (true, Some(cursor)) => filter.after = Some(cursor),
            _ => return Ok(()),
        }
    }
}

#[handler]
async fn patient_charts(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<String>,
    Query(q): Query<Params>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let Ok(id) = id.parse::<Id>() else {
        return ctx.not_found(crate::services::patients::NO_PATIENT).await;
    };
    let patient = match crate::services::patients::get(&state, &p, id).await {
        Ok(v) => v,
        Err(e) => return ctx.failed(e).await,
    };
    let filter = ObservationFilter {
        patient_id: Some(id),
        ..Default::default()
    };
    let scope = id_of(q.get("scope"));
    let from = day_start(q.get("from"));
    let to = day_start(q.get("to")).map(|t| t + chrono::Duration::days(1));
    let mut data = ChartData::new(scope, from, to);
    if let Err(e) = stream_rows(&state, &p, filter, |row| data.add(row)).await {
        return ctx.failed(e).await;
    }
    let scopes = &data.scopes;
    let charts = data.charts();
    ctx.render(
        "portal/charts.html",
        json!({
            "active": "observations",
            "patient": view::patient(&patient),
            "scopes": scopes.iter().map(|(id, text)| json!({"id": id, "text": text})).collect::<Vec<_>>(),
            "scope": scope,
            "from": q.get("from").cloned().unwrap_or_default(),
            "to": q.get("to").cloned().unwrap_or_default(),
            "charts": charts,
        }),
    )
    .await
}

/// The overview table: one row per patient, one column per day (newest last), with counts (all
/// rows at once; the page streams them).
#[cfg(test)]
pub fn overview_table(rows: &[ObservationRow], days: usize) -> Value {
    let mut names = BTreeMap::new();
    for r in rows {
        names.entry(r.patient.id).or_insert_with(|| patient_name(r));
    }
    let counts = super::charts::daily_counts(
        rows.iter()
            .map(|r| (r.patient.id, observed_at(&r.observation))),
    );
    overview_of(&names, &counts, days)
}

fn patient_name(r: &ObservationRow) -> String {
    format!("{}, {}", r.patient.name_family, r.patient.name_given)
}

/// The overview table from patient names and counts per patient per day.
fn overview_of(
    names: &BTreeMap<Id, String>,
    counts: &BTreeMap<Id, BTreeMap<NaiveDate, u64>>,
    days: usize,
) -> Value {
    let all_days: BTreeSet<NaiveDate> = counts.values().flat_map(|d| d.keys().copied()).collect();
    let shown: Vec<NaiveDate> = all_days.iter().rev().take(days).rev().copied().collect();
    json!({
        "days": shown.iter().map(|d| d.format("%Y-%m-%d").to_string()).collect::<Vec<_>>(),
        "patients": counts.iter().map(|(pid, per_day)| json!({
            "id": pid,
            "name": names.get(pid),
            "total": per_day.values().sum::<u64>(),
            "counts": shown.iter().map(|d| per_day.get(d).copied().unwrap_or(0)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

#[handler]
async fn study_overview(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path(id): Path<String>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let p = ctx.principal.clone();
    let Ok(id) = id.parse::<Id>() else {
        return ctx.not_found(crate::services::studies::NO_STUDY).await;
    };
    let study = match crate::services::studies::get(&state, &p, id).await {
        Ok(s) => s,
        Err(e) => return ctx.failed(e).await,
    };
    let filter = ObservationFilter {
        study_id: Some(id),
        ..Default::default()
    };
    let mut names: BTreeMap<Id, String> = BTreeMap::new();
    let mut counts: BTreeMap<Id, BTreeMap<NaiveDate, u64>> = BTreeMap::new();
    let streamed = stream_rows(&state, &p, filter, |r| {
        names.entry(r.patient.id).or_insert_with(|| patient_name(r));
        *counts
            .entry(r.patient.id)
            .or_default()
            .entry(observed_at(&r.observation).date_naive())
            .or_default() += 1;
    })
    .await;
    if let Err(e) = streamed {
        return ctx.failed(e).await;
    }
    ctx.render(
        "portal/overview.html",
        json!({
            "active": "studies",
            "study": {"id": study.study.id, "name": study.study.name},
            "table": overview_of(&names, &counts, 14),
        }),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CodeableConcept, Observation, Patient};
    use chrono::TimeZone;

    fn row_of(patient: Id, concept: Id, day: u32, data: &str) -> ObservationRow {
        let at = Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap();
        ObservationRow {
            observation: Observation {
                id: i64::from(day) * 100 + patient,
                subject_patient_id: patient,
                codeable_concept_id: concept,
                data_source_id: None,
                value_attachment_data: data.into(),
                content_type: "application/json".into(),
                status: "final".into(),
                effective_start: Some(at),
                effective_end: None,
                last_updated: at,
                ow_key: None,
                identifiers: vec![],
            },
            patient: Patient {
                id: patient,
                jhe_user_id: None,
                identifier: None,
                name_family: format!("F{patient}"),
                name_given: "G".into(),
                birth_date: NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(),
                telecom_phone: None,
                last_updated: at,
            },
            concept: CodeableConcept {
                id: concept,
                coding_system: "https://w3id.org/openmhealth".into(),
                coding_code: format!("omh:c{concept}:1.0"),
                text: format!("Concept {concept}"),
            },
        }
    }

    const HR: &str = r#"{"body":{"heart_rate":{"value":70,"unit":"beats/min"}}}"#;

    #[test]
    fn rows_summarise_values() {
        let r = row(&row_of(1, 5, 2, HR));
        assert_eq!(r["patient"], "F1, G");
        assert_eq!(r["summary"], "heart rate 70 beats/min");
        assert_eq!(r["time"], "2026-03-02 09:00 UTC");
    }

    #[test]
    fn overview_counts_per_patient_per_day() {
        let rows = vec![
            row_of(1, 5, 2, HR),
            row_of(1, 6, 2, HR),
            row_of(1, 5, 3, HR),
            row_of(2, 5, 3, HR),
        ];
        let t = overview_table(&rows, 14);
        assert_eq!(t["days"], json!(["2026-03-02", "2026-03-03"]));
        assert_eq!(t["patients"][0]["counts"], json!([2, 1]));
        assert_eq!(t["patients"][0]["total"], 3);
        assert_eq!(t["patients"][1]["counts"], json!([0, 1]));
        let last = overview_table(&rows, 1);
        assert_eq!(last["days"], json!(["2026-03-03"]));
    }

    #[test]
    fn charts_are_per_data_type_and_filtered() {
        let rows = vec![
            row_of(1, 5, 2, HR),
            row_of(1, 5, 3, HR),
            row_of(1, 6, 3, HR),
        ];
        let all = charts_of(&rows, None, None, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["points"], 2);
        assert!(all[0]["svg"].as_str().unwrap().contains("<svg"));
        let one = charts_of(&rows, Some(6), None, None);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0]["text"], "Concept 6");
        let from = Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap();
        let ranged = charts_of(&rows, Some(5), Some(from), None);
        assert_eq!(ranged[0]["points"], 1);
    }
}
