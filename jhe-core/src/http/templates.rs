//! The minijinja templates of the server-rendered pages, embedded at compile time from the
//! crate's own `templates/` folder (`jhe-core/templates/`) (HTML is auto-escaped by minijinja).
//!
//! A server can re-brand its pages: with a template directory
//! ([`crate::server::JheServerBuilder::template_dir`], or `JHE_TEMPLATE_DIR` in the `jhe`
//! facade), a file of that directory with a template's name (e.g. `portal/base.html`) replaces
//! the embedded one, and files under its `portal/static/` are served at `/portal/static/<name>`
//! (replacing `portal.css` / `portal.js`, or adding e.g. a logo). Everything not overridden
//! falls back to the embedded version.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, OnceLock};

use minijinja::Environment;
use poem::Response;
use poem::http::StatusCode;
use poem::web::Path as PathParam;

macro_rules! embedded {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),+]
    };
}

/// Every template, by the name pages render it under.
pub const TEMPLATES: &[(&str, &str)] = embedded![
    "base.html",
    "home.html",
    "error.html",
    "auth/callback.html",
    "accounts/login.html",
    "accounts/signup.html",
    "accounts/profile.html",
    "accounts/verify_email.html",
    "accounts/verify_email_done.html",
    "accounts/verify_email_complete.html",
    "accounts/verify_email_invalid.html",
    "accounts/password_reset.html",
    "accounts/password_reset_done.html",
    "accounts/password_reset_confirm.html",
    "accounts/password_reset_complete.html",
    "accounts/password_change.html",
    "accounts/password_change_done.html",
    "accounts/sso_error.html",
    "oauth/authorize.html",
    "oauth/error.html",
    "email/verify_email.html",
    "email/verify_email.txt",
    "email/password_reset.html",
    "email/password_reset.txt",
    "email/invitation.html",
    "email/invitation.txt",
    "portal/base.html",
    "portal/macros.html",
    "portal/message.html",
    "portal/organizations.html",
    "portal/organization.html",
    "portal/studies.html",
    "portal/study.html",
    "portal/patients.html",
    "portal/patient_new.html",
    "portal/patient.html",
    "portal/observations.html",
    "portal/charts.html",
    "portal/overview.html",
    "portal/profile.html",
    "portal/consents.html",
    "portal/invitation.html",
    "portal/access_history.html",
    "portal/token.html",
    "portal/debug.html",
    "portal/clients.html",
    "portal/client.html",
    "portal/data_sources.html",
    "portal/practitioners.html",
    "portal/settings.html",
];

/// The static files of the portal, embedded (served at `/portal/static/<name>`).
pub const STATIC_ASSETS: &[(&str, &str)] = &[
    (
        "portal.js",
        include_str!("../../templates/portal/static/portal.js"),
    ),
    (
        "portal.css",
        include_str!("../../templates/portal/static/portal.css"),
    ),
];

/// The embedded source of a template.
fn embedded_source(name: &str) -> Option<&'static str> {
    TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, source)| *source)
}

/// `relative` below `dir`, refusing anything that could leave it (`..`, absolute paths,
/// drive prefixes).
fn inside(dir: &Path, relative: &str) -> Option<PathBuf> {
    let relative = Path::new(relative);
    relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(relative))
}

/// The templates and static files of one server: the embedded ones, each replaced by a file of
/// the same name in the override directory when there is one.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    dir: Option<PathBuf>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").field("dir", &self.dir).finish()
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new(None)
    }
}

impl Templates {
    /// The embedded templates, overridden by the files of `dir` (when given). Override files are
    /// read when a template is first used (a file that cannot be read or does not compile is
    /// logged, and the page answers 500).
    pub fn new(dir: Option<PathBuf>) -> Self {
        let mut env = Environment::new();
        let loader_dir = dir.clone();
        env.set_loader(move |name| {
            if let Some(path) = loader_dir.as_deref().and_then(|d| inside(d, name))
                && path.is_file()
            {
                return std::fs::read_to_string(&path).map(Some).map_err(|e| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("cannot read the template override {}: {e}", path.display()),
                    )
                });
            }
            Ok(embedded_source(name).map(str::to_string))
        });
        Self {
            env: Arc::new(env),
            dir,
        }
    }

    /// The override directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Renders a template to text; `context` is any serializable value (usually
    /// `serde_json::json!`). `version` is added when absent.
    ///
    /// # Errors
    /// An unknown template, a syntax error or a rendering error.
    pub fn render(
        &self,
        name: &str,
        context: &serde_json::Value,
    ) -> Result<String, minijinja::Error> {
        let mut ctx = context.clone();
        if let Some(map) = ctx.as_object_mut() {
            map.entry("version")
                .or_insert_with(|| crate::http::version().into());
        }
        self.env
            .get_template(name)?
            .render(minijinja::Value::from(minijinja::value::Serde(ctx)))
    }

    /// A static file of the portal (`name` as in `/portal/static/<name>`): the override
    /// directory's `portal/static/<name>`, else the embedded one.
    pub fn asset(&self, name: &str) -> Option<std::borrow::Cow<'static, [u8]>> {
        if name.contains('/') {
            return None;
        }
        if let Some(path) = self
            .dir
            .as_deref()
            .and_then(|d| inside(d, &format!("portal/static/{name}")))
            && path.is_file()
        {
            match std::fs::read(&path) {
                Ok(bytes) => return Some(bytes.into()),
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "cannot read a static file override");
                }
            }
        }
        STATIC_ASSETS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.as_bytes().into())
    }

    /// Runs `future` with these templates as the ones [`render_text`] and [`page`] use.
    pub async fn scope<F: std::future::Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }
}

tokio::task_local! {
    /// The templates of the server handling the current request (set by the server's endpoint).
    static CURRENT: Templates;
}

/// The templates of the current request's server, or the embedded ones outside a request.
pub fn current() -> Templates {
    CURRENT.try_with(Templates::clone).unwrap_or_else(|_| {
        static EMBEDDED: OnceLock<Templates> = OnceLock::new();
        EMBEDDED.get_or_init(Templates::default).clone()
    })
}

/// Renders a template of the current server ([`current`]) to text; `context` is any
/// serializable value (usually `serde_json::json!`).
///
/// # Errors
/// An unknown template, a syntax error or a rendering error.
pub fn render_text(name: &str, context: &serde_json::Value) -> Result<String, minijinja::Error> {
    current().render(name, context)
}

/// `GET /portal/static/<name>`: a static file of the portal ([`Templates::asset`]).
#[poem::handler]
pub fn static_asset(PathParam(name): PathParam<String>) -> Response {
    let Some(body) = current().asset(&name) else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("text/plain; charset=utf-8")
            .body("Not found");
    };
    let content_type = match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("ico") => "image/x-icon",
        Some("webp") => "image/webp",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    Response::builder()
        .content_type(content_type)
        .header("Cache-Control", "public, max-age=3600")
        .body(body.into_owned())
}

/// Renders an HTML page with a status; a template error becomes a plain 500 page (logged).
pub fn page(status: StatusCode, name: &str, context: &serde_json::Value) -> Response {
    match render_text(name, context) {
        Ok(html) => Response::builder()
            .status(status)
            .content_type("text/html; charset=utf-8")
            .header("Cache-Control", "no-store")
            .body(html),
        Err(e) => {
            tracing::error!(template = name, error = %e, "cannot render template");
            Response::builder()
                .status(StatusCode::INTERNAL_SERVER_ERROR)
                .content_type("text/plain; charset=utf-8")
                .body("Internal server error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_renders_with_an_empty_context() {
        for (name, _) in TEMPLATES {
            if name.starts_with("portal/") {
                // Portal pages need their view model (rendered by the portal's tests); here
                // they only have to compile.
                assert!(current().env.get_template(name).is_ok(), "{name}");
                continue;
            }
            let rendered = render_text(name, &serde_json::json!({}));
            assert!(rendered.is_ok(), "{name}: {rendered:?}");
        }
    }

    #[test]
    fn html_is_escaped() {
        let html = render_text(
            "error.html",
            &serde_json::json!({"message": "<script>x</script>"}),
        )
        .unwrap();
        assert!(!html.contains("<script>x</script>"));
    }

    #[tokio::test]
    async fn an_override_directory_replaces_templates_and_assets() {
        let dir = std::env::temp_dir().join(format!("jhe_tpl_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("portal/static")).unwrap();
        std::fs::write(dir.join("error.html"), "Branded: {{ message }}").unwrap();
        std::fs::write(dir.join("portal/static/logo.svg"), "<svg/>").unwrap();
        let templates = Templates::new(Some(dir.clone()));
        let rendered = templates
            .clone()
            .scope(async { render_text("error.html", &serde_json::json!({"message": "x"})) })
            .await
            .unwrap();
        assert_eq!(rendered, "Branded: x");
        // Not overridden: embedded.
        assert!(
            templates
                .render("home.html", &serde_json::json!({}))
                .is_ok()
        );
        assert_eq!(templates.asset("logo.svg").unwrap().as_ref(), b"<svg/>");
        assert!(templates.asset("portal.css").is_some());
        assert!(templates.asset("../error.html").is_none());
        assert!(inside(&dir, "../etc/passwd").is_none());
        // Outside a server's scope: the embedded templates.
        assert_ne!(
            render_text("error.html", &serde_json::json!({"message": "x"})).unwrap(),
            "Branded: x"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
