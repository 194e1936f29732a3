//! The portal's settings script (`/portal/client_settings.js`) and OIDC callback page.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem::{Request, Response, Route, get, handler};
use serde_json::json;

use crate::domain::{
    ADMIN_UI_CLIENT_NAME, DATA_SOURCE_TYPES, ORGANIZATION_TYPES, ROLE_PERMISSIONS,
    ROOT_ORGANIZATION_ID,
};
use crate::server::AppState;

/// Mounts the portal routes.
pub fn mount(route: Route) -> Route {
    route
        .at("/portal/client_settings.js", get(client_settings))
        .at("/auth/callback", get(callback_redirect))
        .at("/auth/callback/", get(callback_page))
}

/// A JSON string literal (as Python's `json.dumps` writes it for ASCII text).
fn js(value: &str) -> String {
    serde_json::Value::String(value.to_string()).to_string()
}

/// An ordered map rendered with Python's default separators (`", "`, `": "`).
fn py_object<'a>(pairs: impl Iterator<Item = (&'a str, String)>) -> String {
    let inner: Vec<String> = pairs.map(|(k, v)| format!("{}: {}", js(k), v)).collect();
    format!("{{{}}}", inner.join(", "))
}

fn py_list(items: &[&str]) -> String {
    let inner: Vec<String> = items.iter().map(|i| js(i)).collect();
    format!("[{}]", inner.join(", "))
}

/// The script body: OIDC settings for the browser client and the portal's constants.
pub fn client_settings_script(client_id: Option<&str>) -> String {
    client_settings_script_at(client_id, "")
}

/// [`client_settings_script`] for a server mounted under the path prefix `base` (`""` at the
/// root, else e.g. `/jhe`).
pub fn client_settings_script_at(client_id: Option<&str>, base: &str) -> String {
    let organization_types = py_object(ORGANIZATION_TYPES.iter().map(|(k, v)| (*k, js(v))));
    let data_source_types = py_object(DATA_SOURCE_TYPES.iter().map(|(k, v)| (*k, js(v))));
    let value_types = py_object(
        ["string", "int", "bool", "float", "json"]
            .iter()
            .map(|t| (*t, js(t))),
    );
    let role_permissions = py_object(
        ROLE_PERMISSIONS
            .iter()
            .map(|(role, perms)| (*role, py_list(perms))),
    );
    format!(
        r#"const redirectUri = window.location.origin + {callback};
const authority = window.location.origin + {authority};

window.OIDCSettings = {{
  authority: authority,
  client_id: {client_id},
  // silentRequestTimeoutInSeconds: 600,
  redirect_uri: redirectUri,
  extraQueryParams: {{}},
  response_mode: "query",
}};

const CONSTANTS = {{
  JHE_VERSION: {version},
  ORGANIZATION_TOP_LEVEL_PART_OF_ID: {root},
  ORGANIZATION_TOP_LEVEL_PART_OF_LABEL: "None (Top Level Organization)",
  ORGANIZATION_TYPES: {organization_types},
  DATA_SOURCE_TYPES: {data_source_types},
  JHE_SETTING_VALUE_TYPES: {value_types},
  ROLE_PERMISSIONS: {role_permissions}
}};
"#,
        client_id = js(client_id.unwrap_or("None")),
        version = js(&crate::http::version()),
        root = ROOT_ORGANIZATION_ID,
        callback = js(&format!("{base}/auth/callback")),
        authority = js(&format!("{base}/o/")),
    )
}

#[handler]
async fn client_settings(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    match state.store.get_client_by_name(ADMIN_UI_CLIENT_NAME).await {
        Ok(client) => Response::builder()
            .content_type("text/javascript; charset=utf-8")
            .header("Cache-Control", "no-cache")
            .body(client_settings_script_at(
                client.as_ref().map(|c| c.client_id.as_str()),
                crate::http::prefix::base_path(req),
            )),
        Err(e) => crate::http::error::response_of(crate::CoreError::from(e)),
    }
}

#[handler]
fn callback_redirect(req: &Request) -> Response {
    let location = match req.uri().query() {
        Some(q) => format!("/auth/callback/?{q}"),
        None => "/auth/callback/".to_string(),
    };
    Response::builder()
        .status(StatusCode::MOVED_PERMANENTLY)
        .header("Location", location)
        .finish()
}

#[derive(serde::Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[handler]
fn callback_page(poem::web::Query(q): poem::web::Query<CallbackQuery>) -> Response {
    crate::http::templates::page(
        StatusCode::OK,
        "auth/callback.html",
        &json!({"code": q.code.is_some(), "error": q.error, "error_description": q.error_description}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_script_has_the_original_shape() {
        let script = client_settings_script(Some("abc"));
        assert!(script.contains(r#"client_id: "abc","#));
        assert!(script.contains(r#"response_mode: "query","#));
        assert!(script.contains(&format!("JHE_VERSION: \"{}\"", crate::http::version())));
        assert!(
            script.contains(
                r#"ORGANIZATION_TYPES: {"root": "ROOT", "prov": "Healthcare Provider", "#
            )
        );
        assert!(script.contains(r#""viewer": []"#));
        assert!(client_settings_script(None).contains(r#"client_id: "None","#));
        assert!(script.contains(r#"window.location.origin + "/auth/callback";"#));
        assert!(
            client_settings_script_at(None, "/jhe")
                .contains(r#"window.location.origin + "/jhe/o/";"#)
        );
    }
}
