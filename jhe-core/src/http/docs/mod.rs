//! The interactive API documentation at `/api/docs` (Swagger UI, assets embedded, no CDN).
//!
//! * **Authorize → OAuth2**: the real authorization-code flow with PKCE S256 against the docs'
//!   own public client ([`crate::services::docs_client`]); its redirect page,
//!   `/api/docs/oauth2-redirect.html`, is served here and its redirect URI follows `SITE_URL`.
//! * **Authorize → BearerToken**: paste an access token (e.g. one made on the portal's token
//!   page, `/portal/token/`).
//!
//! The page loads the document from `/api/schema/openapi.json`.

pub mod document;

use std::sync::Arc;

use poem::web::{Data, Html};
use poem::{EndpointExt, Response, Route, get, handler};
use poem_openapi::{OpenApi, OpenApiService};

use crate::domain::API_DOCS_REDIRECT_PATH;
use crate::server::AppState;

/// Swagger UI's OAuth redirect page: hands the code back to the page that opened the window.
const REDIRECT_PAGE: &str = include_str!("oauth2-redirect.html");

/// The page's own part (after Swagger UI's head with its embedded script and style).
const BODY: &str = r##"<div id="ui"></div>
<script>
  window.ui = SwaggerUIBundle({
    dom_id: "#ui",
    url: {document},
    oauth2RedirectUrl: {redirect},
    deepLinking: true,
    persistAuthorization: true,
    filter: true,
  });
  window.ui.initOAuth({
    clientId: {client_id},
    usePkceWithAuthorizationCodeGrant: true,
    scopes: "openid email",
    appName: "JupyterHealth Exchange API docs",
  });
</script>
</body>
</html>
"##;

/// A JavaScript string literal.
fn js(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// The docs page: Swagger UI's head (its bundle and style, embedded) and our set-up; `base` is
/// the path prefix the server is mounted under (`""` at the root).
fn page(head: &str, client_id: &str, redirect: &str, base: &str) -> String {
    let body = BODY
        .replace(
            "{document}",
            &js(&format!("{base}/api/schema/openapi.json")),
        )
        .replace("{redirect}", &js(redirect))
        .replace("{client_id}", &js(client_id));
    format!("{head}{body}")
}

/// Swagger UI's head (its embedded bundle and style), shared by the docs page handlers.
#[derive(Clone)]
struct Head(Arc<String>);

/// Mounts `/api/docs` (and `/api/docs/`) and its OAuth redirect page. `api` gives Swagger UI's
/// embedded assets.
pub fn mount<T: OpenApi>(route: Route, api: &OpenApiService<T, ()>) -> Route {
    let html = api.swagger_ui_html();
    // Swagger UI's head: everything before its mount point.
    let head = html
        .split_once("<div id=\"ui\"></div>")
        .map(|(head, _)| {
            head.replace(
                "<title>Swagger UI</title>",
                "<title>JupyterHealth Exchange API docs</title>\n    <link rel=\"icon\" href=\"data:,\">",
            )
        })
        .unwrap_or_default();
    let head = Head(Arc::new(head));
    route
        .at("/api/docs", get(docs_page).data(head.clone()))
        .at("/api/docs/", get(docs_page).data(head))
        .at(API_DOCS_REDIRECT_PATH, get(redirect_page))
}

#[handler]
fn redirect_page() -> Html<&'static str> {
    Html(REDIRECT_PAGE)
}

#[handler]
async fn docs_page(
    state: Data<&Arc<AppState>>,
    head: Data<&Head>,
    req: &poem::Request,
) -> Response {
    match crate::services::docs_client::ensure(&state).await {
        Ok(client) => Response::builder()
            .content_type("text/html; charset=utf-8")
            .header("Cache-Control", "no-cache")
            .body(page(
                &head.0.0,
                &client.client_id,
                &client.redirect_uris,
                crate::http::prefix::base_path(req),
            )),
        Err(e) => crate::http::error::response_of(e),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn page_sets_up_pkce_with_the_docs_client() {
        let html = super::page(
            "<head>",
            "jhe-api-docs",
            "http://h/api/docs/oauth2-redirect.html",
            "/jhe",
        );
        assert!(html.contains(r#"url: "/jhe/api/schema/openapi.json","#));
        assert!(html.starts_with("<head>"));
        assert!(html.contains(r#"clientId: "jhe-api-docs","#));
        assert!(html.contains("usePkceWithAuthorizationCodeGrant: true"));
        assert!(html.contains(r#"oauth2RedirectUrl: "http://h/api/docs/oauth2-redirect.html","#));
    }
}
