//! The minijinja templates of the server-rendered pages, embedded at compile time from the
//! crate's own `templates/` folder (`jhe-core/templates/`) (HTML is auto-escaped by minijinja).

use std::sync::OnceLock;

use minijinja::Environment;
use poem::Response;
use poem::http::StatusCode;

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
    "portal/access_history.html",
    "portal/token.html",
    "portal/clients.html",
    "portal/client.html",
    "portal/data_sources.html",
    "portal/practitioners.html",
    "portal/settings.html",
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "template does not compile");
            }
        }
        env
    })
}

/// Renders a template to text; `context` is any serializable value (usually `serde_json::json!`).
pub fn render_text(name: &str, context: &serde_json::Value) -> Result<String, minijinja::Error> {
    let mut ctx = context.clone();
    if let Some(map) = ctx.as_object_mut() {
        map.entry("version")
            .or_insert_with(|| crate::http::version().into());
    }
    environment()
        .get_template(name)?
        .render(minijinja::Value::from(minijinja::value::Serde(ctx)))
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
                assert!(environment().get_template(name).is_ok(), "{name}");
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
}
