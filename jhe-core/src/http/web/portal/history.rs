//! `/portal/access-history/`: a patient's own access history from the audit trail, newest
//! first (`order=oldest` for oldest first), paged with a cursor (`after`, the last event id of
//! the previous page) and `pageSize`.

use std::sync::Arc;

use poem::web::{Data, Query};
use poem::{Request, Response, Route, get, handler};
use serde::Deserialize;
use serde_json::json;

use super::{PAGE_SIZES, ctx};
use crate::server::AppState;
use crate::services::access_history;

pub(super) fn mount(route: Route) -> Route {
    route.at("/portal/access-history/", get(history_page))
}

/// The query of the page.
#[derive(Debug, Deserialize)]
struct HistoryQuery {
    after: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
    /// `oldest` for oldest first; anything else (or nothing): newest first.
    order: Option<String>,
}

#[handler]
async fn history_page(
    state: Data<&Arc<AppState>>,
    req: &Request,
    query: Option<Query<HistoryQuery>>,
) -> Response {
    let mut ctx = match ctx(&state, req).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (after, size) = match &query {
        Some(Query(q)) => (
            q.after.as_deref().and_then(|a| a.trim().parse().ok()),
            q.page_size
                .as_deref()
                .and_then(|s| s.parse::<u64>().ok())
                .filter(|s| PAGE_SIZES.contains(s))
                .unwrap_or(20),
        ),
        None => (None, 20),
    };
    let oldest_first = query
        .as_ref()
        .is_some_and(|Query(q)| q.order.as_deref() == Some("oldest"));
    let order = if oldest_first { "oldest" } else { "newest" };
    let p = ctx.principal.clone();
    let history = match access_history::own_history(&state, &p, after, size, !oldest_first).await {
        Ok(h) => h,
        Err(e) => return ctx.failed(e).await,
    };
    let entries: Vec<serde_json::Value> = history
        .entries
        .iter()
        .map(|e| {
            json!({
                "when": e.when.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default(),
                "who": e.who,
                "through_app": e.through_app,
                "action": e.action,
                "what": e.what,
                "success": e.success,
                "failure": e.failure,
            })
        })
        .collect();
    ctx.render(
        "portal/access_history.html",
        json!({
            "active": "access-history",
            "entries": entries,
            "total": history.total,
            "size": size,
            "sizes": PAGE_SIZES,
            "order": order,
            "first_page": after.is_some().then(|| format!("/portal/access-history/?order={order}&pageSize={size}")),
            "next": history.next_after.map(|n| format!("/portal/access-history/?order={order}&after={n}&pageSize={size}")),
            "other_order": format!(
                "/portal/access-history/?order={}&pageSize={size}",
                if oldest_first { "newest" } else { "oldest" }
            ),
        }),
    )
    .await
}
