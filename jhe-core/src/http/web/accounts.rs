//! `/accounts/*`: login, logout, sign-up, e-mail verification, password reset and change,
//! profile. Form field names are the original's, so scripted logins keep working.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{Body, Request, Response, Route, RouteMethod, get, handler};
use serde::Deserialize;
use serde_json::json;

use super::{csrf, form_fields, page, redirect, safe_next, user_context, with_cookie};
use crate::http::session;
use crate::identity::Credentials;
use crate::server::AppState;
use crate::services::login::{self, LoginError};
use crate::services::signup::{self, SignupForm};

/// Where a login lands without `next`.
const AFTER_LOGIN: &str = "/portal/";

/// A page path and the constructor of its methods.
type Page = (&'static str, fn() -> RouteMethod);

pub(super) fn mount(route: Route) -> Route {
    let mut route = route;
    let pages: [Page; 12] = [
        ("/accounts/login", || get(login_page).post(login_submit)),
        ("/accounts/logout", || get(logout).post(logout)),
        ("/accounts/profile", || get(profile)),
        ("/accounts/signup", || get(signup_page).post(signup_submit)),
        ("/accounts/verify_email", || {
            get(verify_email_page).post(verify_email_submit)
        }),
        ("/accounts/verify_email_done", || get(verify_email_done)),
        ("/accounts/verify_email_complete", || {
            get(verify_email_complete)
        }),
        ("/accounts/password_reset", || {
            get(password_reset_page).post(password_reset_submit)
        }),
        ("/accounts/password_reset/done", || get(password_reset_done)),
        ("/accounts/reset/done", || get(password_reset_complete)),
        ("/accounts/password_change", || {
            get(password_change_page).post(password_change_submit)
        }),
        ("/accounts/password_change/done", || {
            get(password_change_done)
        }),
    ];
    for (path, endpoint) in pages {
        route = route
            .at(format!("{path}/"), endpoint())
            .at(path, endpoint());
    }
    route
        .at(
            "/accounts/verify_email_confirm/:uid/:token/",
            get(verify_email_confirm),
        )
        .at(
            "/accounts/verify_email_confirm/:uid/:token",
            get(verify_email_confirm),
        )
        .at(
            "/accounts/reset/:uid/:token/",
            get(reset_page).post(reset_submit),
        )
        .at(
            "/accounts/reset/:uid/:token",
            get(reset_page).post(reset_submit),
        )
}

#[derive(Deserialize, Default)]
struct NextQuery {
    next: Option<String>,
}

/// The real client's address (through trusted proxies only), the key of login throttling.
fn address(state: &AppState, req: &Request) -> String {
    crate::http::forwarded::request_origin(req, &state.config).client_key()
}

fn internal(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "account page failed");
    crate::http::templates::page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "error.html",
        &json!({"status": 500, "message": "Something went wrong. Please try again."}),
    )
}

fn csrf_failure() -> Response {
    crate::http::templates::page(
        StatusCode::FORBIDDEN,
        "error.html",
        &json!({"status": 403, "message": "CSRF verification failed. Reload the form and submit it again."}),
    )
}

async fn read_form(body: Body) -> std::collections::HashMap<String, String> {
    match body.into_bytes_limit(64 * 1024).await {
        Ok(bytes) => form_fields(&bytes),
        Err(_) => Default::default(),
    }
}

/// Logs `user_id` in: a fresh session (the old one is dropped), with a new CSRF secret.
async fn start_session(
    state: &AppState,
    req: &Request,
    user_id: i64,
) -> Result<String, crate::CoreError> {
    session::start_login(state, req, user_id).await
}

async fn login_form(
    state: &AppState,
    req: &Request,
    status: StatusCode,
    next: &str,
    username: &str,
    errors: Vec<String>,
) -> Response {
    let (session, cookie) = match csrf::ensure(state, req).await {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let enabled: Vec<String> = crate::services::login::enabled_external_providers(state)
        .await
        .iter()
        .map(|(p, _)| p.id().to_string())
        .collect();
    let providers: Vec<_> = state
        .identity_providers
        .iter()
        .filter(|p| !p.is_external() || enabled.iter().any(|id| id == p.id()))
        .filter_map(|p| {
            p.login_url(next)
                .map(|url| json!({"id": p.id(), "name": p.display_name(), "url": url}))
        })
        .collect();
    let response = page(
        state,
        status,
        "accounts/login.html",
        json!({
            "csrf_token": csrf::token_of(&session),
            "next": next,
            "errors": errors,
            "form": {"username": username},
            "identity_providers": providers,
            "sso_routing": super::sso::routes_by_domain(state).await,
        }),
    )
    .await;
    with_cookie(response, cookie)
}

#[handler]
async fn login_page(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Query(q): Query<NextQuery>,
) -> Response {
    login_form(
        &state,
        req,
        StatusCode::OK,
        q.next.as_deref().unwrap_or(""),
        "",
        Vec::new(),
    )
    .await
}

#[handler]
async fn login_submit(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Query(q): Query<NextQuery>,
    body: Body,
) -> Response {
    let form = read_form(body).await;
    let next = form
        .get("next")
        .cloned()
        .filter(|n| !n.is_empty())
        .or(q.next)
        .unwrap_or_default();
    let username = form.get("username").cloned().unwrap_or_default();
    if !csrf::valid_form(&state, req, &form).await {
        return csrf_failure();
    }
    // E-mail-domain routing: an address of a single sign-on domain goes to its provider.
    if let Some(url) = super::sso::route_by_domain(&state, &username, &next).await {
        return redirect(&url);
    }
    let credentials = Credentials::Password {
        email: username.clone(),
        password: form.get("password").cloned().unwrap_or_default(),
    };
    match login::login(&state, &credentials, &address(&state, req)).await {
        Ok(user) => match start_session(&state, req, user.id).await {
            Ok(cookie) => with_cookie(
                redirect(&safe_next(&state, Some(&next), AFTER_LOGIN)),
                Some(cookie),
            ),
            Err(e) => internal(e),
        },
        Err(LoginError::Rejected(message)) => {
            login_form(&state, req, StatusCode::OK, &next, &username, vec![message]).await
        }
        Err(LoginError::RateLimited(message)) => {
            login_form(
                &state,
                req,
                StatusCode::TOO_MANY_REQUESTS,
                &next,
                &username,
                vec![message],
            )
            .await
        }
        Err(LoginError::Core(e)) => internal(e),
    }
}

#[handler]
async fn logout(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    if let Err(e) = session::destroy(&state, req).await {
        return internal(e);
    }
    with_cookie(redirect("/"), Some(session::clear_cookie()))
}

/// The logged-in user, or a redirect to the login page that comes back here.
async fn require_user(
    state: &AppState,
    req: &Request,
) -> Result<(crate::domain::User, crate::domain::Session), Response> {
    match session::current_user(state, req).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => {
            let here = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Err(redirect(&format!("/accounts/login/?next={next}")))
        }
        Err(e) => Err(internal(e)),
    }
}

#[handler]
async fn profile(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    match require_user(&state, req).await {
        Ok((user, _)) => {
            let ctx = user_context(&user);
            page(
                &state,
                StatusCode::OK,
                "accounts/profile.html",
                json!({"user": ctx}),
            )
            .await
        }
        Err(r) => r,
    }
}

async fn signup_form(
    state: &AppState,
    req: &Request,
    status: StatusCode,
    form: &SignupForm,
    errors: Vec<String>,
) -> Response {
    let (session, cookie) = match csrf::ensure(state, req).await {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let action = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/accounts/signup/".into());
    let next = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "next")
            .map(|(_, v)| v.into_owned())
    });
    let response = page(
        state,
        status,
        "accounts/signup.html",
        json!({
            "csrf_token": csrf::token_of(&session),
            "action": action,
            "next": next,
            "errors": errors,
            "form": {"email": form.email, "joincode": form.joincode},
        }),
    )
    .await;
    with_cookie(response, cookie)
}

#[handler]
async fn signup_page(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    signup_form(
        &state,
        req,
        StatusCode::OK,
        &SignupForm::default(),
        Vec::new(),
    )
    .await
}

#[handler]
async fn signup_submit(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Query(q): Query<NextQuery>,
    body: Body,
) -> Response {
    let fields = read_form(body).await;
    if !csrf::valid_form(&state, req, &fields).await {
        return csrf_failure();
    }
    let form = SignupForm {
        joincode: fields.get("joincode").cloned().unwrap_or_default(),
        email: fields.get("email").cloned().unwrap_or_default(),
        password: fields.get("password").cloned().unwrap_or_default(),
        password2: fields.get("password2").cloned(),
    };
    match signup::signup(&state, &form).await {
        Ok(Ok(user)) => {
            if let Err(e) = signup::send_verification_email(&state, &user).await {
                tracing::warn!(error = %e, user_id = user.id, "verification e-mail not sent");
            }
            match start_session(&state, req, user.id).await {
                Ok(cookie) => with_cookie(
                    redirect(&safe_next(&state, q.next.as_deref(), AFTER_LOGIN)),
                    Some(cookie),
                ),
                Err(e) => internal(e),
            }
        }
        Ok(Err(errors)) => signup_form(&state, req, StatusCode::OK, &form, errors).await,
        Err(e) => internal(e),
    }
}

#[handler]
async fn verify_email_confirm(
    state: Data<&Arc<AppState>>,
    Path((uid, token)): Path<(String, String)>,
) -> Response {
    match signup::confirm_email(&state, &uid, &token).await {
        Ok(true) => redirect("/accounts/verify_email_complete/"),
        Ok(false) => {
            page(
                &state,
                StatusCode::BAD_REQUEST,
                "accounts/verify_email_invalid.html",
                json!({}),
            )
            .await
        }
        Err(e) => internal(e),
    }
}

#[handler]
async fn verify_email_page(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let (user, session) = match require_user(&state, req).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    page(
        &state,
        StatusCode::OK,
        "accounts/verify_email.html",
        json!({"csrf_token": csrf::token_of(&session), "user": user_context(&user)}),
    )
    .await
}

#[handler]
async fn verify_email_submit(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let (user, session) = match require_user(&state, req).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let fields = read_form(body).await;
    if !csrf::valid(
        Some(&session),
        fields.get("csrfmiddlewaretoken").map(String::as_str),
    ) {
        return csrf_failure();
    }
    if user.email_is_verified {
        return redirect("/accounts/verify_email_complete/");
    }
    match signup::send_verification_email(&state, &user).await {
        Ok(()) => redirect("/accounts/verify_email_done/"),
        Err(e) => internal(e),
    }
}

#[handler]
async fn verify_email_done(state: Data<&Arc<AppState>>) -> Response {
    page(
        &state,
        StatusCode::OK,
        "accounts/verify_email_done.html",
        json!({}),
    )
    .await
}

#[handler]
async fn verify_email_complete(state: Data<&Arc<AppState>>) -> Response {
    page(
        &state,
        StatusCode::OK,
        "accounts/verify_email_complete.html",
        json!({"messages": [{"level": "success", "text": "Your email has been verified."}]}),
    )
    .await
}

#[handler]
async fn password_reset_page(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let (session, cookie) = match csrf::ensure(&state, req).await {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let response = page(
        &state,
        StatusCode::OK,
        "accounts/password_reset.html",
        json!({"csrf_token": csrf::token_of(&session)}),
    )
    .await;
    with_cookie(response, cookie)
}

#[handler]
async fn password_reset_submit(state: Data<&Arc<AppState>>, req: &Request, body: Body) -> Response {
    let fields = read_form(body).await;
    if !csrf::valid_form(&state, req, &fields).await {
        return csrf_failure();
    }
    let email = fields.get("email").cloned().unwrap_or_default();
    match signup::request_password_reset(&state, &email).await {
        Ok(()) => redirect("/accounts/password_reset/done/"),
        Err(e) => internal(e),
    }
}

#[handler]
async fn password_reset_done(state: Data<&Arc<AppState>>) -> Response {
    page(
        &state,
        StatusCode::OK,
        "accounts/password_reset_done.html",
        json!({}),
    )
    .await
}

#[handler]
async fn password_reset_complete(state: Data<&Arc<AppState>>) -> Response {
    page(
        &state,
        StatusCode::OK,
        "accounts/password_reset_complete.html",
        json!({}),
    )
    .await
}

async fn reset_form(state: &AppState, req: &Request, valid: bool, errors: Vec<String>) -> Response {
    let (session, cookie) = match csrf::ensure(state, req).await {
        Ok(x) => x,
        Err(e) => return internal(e),
    };
    let status = if valid {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    let response = page(
        state,
        status,
        "accounts/password_reset_confirm.html",
        json!({"valid_link": valid, "csrf_token": csrf::token_of(&session), "errors": errors}),
    )
    .await;
    with_cookie(response, cookie)
}

#[handler]
async fn reset_page(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path((uid, token)): Path<(String, String)>,
) -> Response {
    match signup::reset_link_user(&state, &uid, &token).await {
        Ok(user) => reset_form(&state, req, user.is_some(), Vec::new()).await,
        Err(e) => internal(e),
    }
}

#[handler]
async fn reset_submit(
    state: Data<&Arc<AppState>>,
    req: &Request,
    Path((uid, token)): Path<(String, String)>,
    body: Body,
) -> Response {
    let fields = read_form(body).await;
    if !csrf::valid_form(&state, req, &fields).await {
        return csrf_failure();
    }
    let user = match signup::reset_link_user(&state, &uid, &token).await {
        Ok(Some(u)) => u,
        Ok(None) => return reset_form(&state, req, false, Vec::new()).await,
        Err(e) => return internal(e),
    };
    let p1 = fields.get("new_password1").cloned().unwrap_or_default();
    let p2 = fields.get("new_password2").cloned().unwrap_or_default();
    match signup::set_password(&state, user, &p1, &p2).await {
        Ok(Ok(_)) => with_cookie(
            redirect("/accounts/reset/done/"),
            Some(session::clear_cookie()),
        ),
        Ok(Err(errors)) => reset_form(&state, req, true, errors).await,
        Err(e) => internal(e),
    }
}

#[handler]
async fn password_change_page(state: Data<&Arc<AppState>>, req: &Request) -> Response {
    let (_, session) = match require_user(&state, req).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    page(
        &state,
        StatusCode::OK,
        "accounts/password_change.html",
        json!({"csrf_token": csrf::token_of(&session)}),
    )
    .await
}

#[handler]
async fn password_change_submit(
    state: Data<&Arc<AppState>>,
    req: &Request,
    body: Body,
) -> Response {
    let (user, session) = match require_user(&state, req).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let fields = read_form(body).await;
    if !csrf::valid(
        Some(&session),
        fields.get("csrfmiddlewaretoken").map(String::as_str),
    ) {
        return csrf_failure();
    }
    let old = fields.get("old_password").cloned().unwrap_or_default();
    let errors = |errors: Vec<String>| {
        let token = csrf::token_of(&session).map(str::to_string);
        let state = state.clone();
        async move {
            page(
                &state,
                StatusCode::OK,
                "accounts/password_change.html",
                json!({"csrf_token": token, "errors": errors}),
            )
            .await
        }
    };
    if !crate::services::kdf::verify_password(&old, &user.password)
        .await
        .is_valid()
    {
        return errors(vec![
            "Your old password was entered incorrectly. Please enter it again.".into(),
        ])
        .await;
    }
    let p1 = fields.get("new_password1").cloned().unwrap_or_default();
    let p2 = fields.get("new_password2").cloned().unwrap_or_default();
    match signup::set_password(&state, user, &p1, &p2).await {
        // Other sessions end; this browser stays logged in with a fresh session.
        Ok(Ok(user)) => match start_session(&state, req, user.id).await {
            Ok(cookie) => with_cookie(redirect("/accounts/password_change/done/"), Some(cookie)),
            Err(e) => internal(e),
        },
        Ok(Err(problems)) => errors(problems).await,
        Err(e) => internal(e),
    }
}

#[handler]
async fn password_change_done(state: Data<&Arc<AppState>>) -> Response {
    page(
        &state,
        StatusCode::OK,
        "accounts/password_change_done.html",
        json!({}),
    )
    .await
}
