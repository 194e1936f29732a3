//! Sign-up with the registration invite code, e-mail verification and passwords.

use chrono::Utc;
use serde_json::json;

use crate::domain::{NewUser, User, UserType, keys};
use crate::error::{CoreError, CoreResult};
use crate::mailer::Email;
use crate::server::AppState;
use crate::services::accounts::{ProfileDetails, create_user_with_profile};
use crate::services::links::{self, Purpose};
use crate::services::settings;

/// The sign-up form (field names as the original's: `joincode`, `email`, `password`, `password2`).
#[derive(Clone, Default)]
pub struct SignupForm {
    /// Invite code.
    pub joincode: String,
    /// E-mail address.
    pub email: String,
    /// Password.
    pub password: String,
    /// Password again (checked when sent).
    pub password2: Option<String>,
}

crate::domain::debug_redacted!(SignupForm { email } redact { joincode, password, password2 });

/// Minimum password length for new passwords.
pub const MIN_PASSWORD_LENGTH: usize = 8;

/// Problems with a new password (empty when acceptable).
pub fn password_problems(password: &str, again: Option<&str>, user_email: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if again.is_some_and(|again| again != password) {
        problems.push("The two password fields didn't match.".to_string());
    }
    if password.chars().count() < MIN_PASSWORD_LENGTH {
        problems.push(format!(
            "This password is too short. It must contain at least {MIN_PASSWORD_LENGTH} characters."
        ));
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        problems.push("This password is entirely numeric.".to_string());
    }
    let local = user_email
        .split('@')
        .next()
        .unwrap_or_default()
        .to_lowercase();
    if local.len() >= 3 && password.to_lowercase().contains(&local) {
        problems.push("The password is too similar to the email address.".to_string());
    }
    const COMMON: &[&str] = &[
        "password",
        "12345678",
        "qwertyui",
        "iloveyou",
        "password1",
        "letmein1",
    ];
    if COMMON.contains(&password.to_lowercase().as_str()) {
        problems.push("This password is too common.".to_string());
    }
    problems
}

/// Whether an e-mail address looks deliverable (`local@domain.tld`, no spaces).
pub fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>' || c == ',')
}

/// Creates a practitioner account from the sign-up form. Errors are the messages for the form,
/// in the original's order (existing e-mail, password, invite code).
pub async fn signup(state: &AppState, form: &SignupForm) -> CoreResult<Result<User, Vec<String>>> {
    let email = form.email.trim();
    let mut errors = Vec::new();
    if !looks_like_email(email) {
        errors.push("Enter a valid email address.".to_string());
    } else if state.store.get_user_by_email(email).await?.is_some() {
        // Stores compare e-mail addresses regardless of case.
        errors.push("This Email already exists".to_string());
    }
    errors.extend(password_problems(
        &form.password,
        form.password2.as_deref(),
        email,
    ));
    let expected =
        settings::string_setting(state.store.as_ref(), keys::REGISTRATION_INVITE_CODE).await?;
    let code_ok = match expected {
        Some(code) if !code.is_empty() => {
            subtle::ConstantTimeEq::ct_eq(code.as_bytes(), form.joincode.trim().as_bytes()).into()
        }
        _ => false,
    };
    if !code_ok {
        errors.push("Your Invite Code is invalid.".to_string());
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let hash = crate::services::kdf::hash_password(&form.password)
        .await
        .map_err(CoreError::Internal)?;
    let user = match create_user_with_profile(
        state.store.as_ref(),
        NewUser {
            email: email.to_string(),
            password: hash,
            user_type: Some(UserType::Practitioner),
            ..Default::default()
        },
        ProfileDetails::default(),
    )
    .await
    {
        Ok(u) => u,
        Err(CoreError::Store(crate::store::StoreError::Conflict(_))) => {
            return Ok(Err(vec!["This Email already exists".to_string()]));
        }
        Err(e) => return Err(e),
    };
    Ok(Ok(user))
}

async fn send(
    state: &AppState,
    to: &str,
    subject: &str,
    template: &str,
    context: serde_json::Value,
) -> CoreResult<()> {
    let html = crate::http::templates::render_text(&format!("email/{template}.html"), &context)
        .map_err(|e| CoreError::Internal(format!("e-mail template: {e}")))?;
    let text = crate::http::templates::render_text(&format!("email/{template}.txt"), &context)
        .map_err(|e| CoreError::Internal(format!("e-mail template: {e}")))?;
    state
        .mailer
        .send(&Email {
            to: to.to_string(),
            from: state.config.from_email.clone(),
            subject: subject.to_string(),
            html_body: html,
            text_body: text,
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))
}

/// Sends the "JHE E-mail Verification" message with a signed link.
pub async fn send_verification_email(state: &AppState, user: &User) -> CoreResult<()> {
    let secret = links::secret(state.store.as_ref(), &state.config).await?;
    let token = links::make_token(&secret, Purpose::VerifyEmail, user, Utc::now().timestamp());
    let site = settings::site_url(state.store.as_ref(), &state.config).await?;
    let link = format!(
        "{site}/accounts/verify_email_confirm/{}/{token}/",
        links::uidb64(user.id)
    );
    send(
        state,
        &user.email,
        "JHE E-mail Verification",
        "verify_email",
        json!({"email": user.email, "link": link}),
    )
    .await
}

/// Checks a verification link and marks the address verified. `false` for an invalid link.
pub async fn confirm_email(state: &AppState, uidb64: &str, token: &str) -> CoreResult<bool> {
    let Some(id) = links::parse_uidb64(uidb64) else {
        return Ok(false);
    };
    let Some(mut user) = state.store.get_user(id).await? else {
        return Ok(false);
    };
    let secret = links::secret(state.store.as_ref(), &state.config).await?;
    if !links::check_token(
        &secret,
        Purpose::VerifyEmail,
        &user,
        token,
        Utc::now().timestamp(),
    ) {
        return Ok(false);
    }
    user.email_is_verified = true;
    state.store.update_user(&user).await?;
    Ok(true)
}

/// Sends a password-reset link if an active account has this e-mail (silently does nothing
/// otherwise, so the form does not reveal which addresses have accounts).
pub async fn request_password_reset(state: &AppState, email: &str) -> CoreResult<()> {
    let Some(user) = state.store.get_user_by_email(email.trim()).await? else {
        return Ok(());
    };
    if !user.is_active || user.password.starts_with('!') {
        return Ok(());
    }
    let secret = links::secret(state.store.as_ref(), &state.config).await?;
    let token = links::make_token(
        &secret,
        Purpose::ResetPassword,
        &user,
        Utc::now().timestamp(),
    );
    let site = settings::site_url(state.store.as_ref(), &state.config).await?;
    let link = format!("{site}/accounts/reset/{}/{token}/", links::uidb64(user.id));
    send(
        state,
        &user.email,
        "JHE Password Reset",
        "password_reset",
        json!({"email": user.email, "link": link}),
    )
    .await
}

/// The user a password-reset link is valid for.
pub async fn reset_link_user(
    state: &AppState,
    uidb64: &str,
    token: &str,
) -> CoreResult<Option<User>> {
    let Some(id) = links::parse_uidb64(uidb64) else {
        return Ok(None);
    };
    let Some(user) = state.store.get_user(id).await? else {
        return Ok(None);
    };
    let secret = links::secret(state.store.as_ref(), &state.config).await?;
    Ok(links::check_token(
        &secret,
        Purpose::ResetPassword,
        &user,
        token,
        Utc::now().timestamp(),
    )
    .then_some(user))
}

/// Sets a new password (change or reset) and, in the same transaction, revokes every access
/// token, refresh token, authorization code and browser session of the user. Errors in the inner
/// result are messages for the form.
///
/// # Errors
///
/// `Internal` when hashing fails, `NotFound` when the account is gone, storage errors.
pub async fn set_password(
    state: &AppState,
    mut user: User,
    password: &str,
    again: &str,
) -> CoreResult<Result<User, Vec<String>>> {
    let problems = password_problems(password, Some(again), &user.email);
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    user.password = crate::services::kdf::hash_password(password)
        .await
        .map_err(CoreError::Internal)?;
    let changed = state.store.set_password(user.id, &user.password).await?;
    // The new password ended every token of the account.
    state.tokens.clear();
    if !changed {
        return Err(CoreError::NotFound(
            "No JheUser matches the given query.".into(),
        ));
    }
    Ok(Ok(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(password_problems("Str0ng#pass", Some("Str0ng#pass"), "a@example.org").is_empty());
        assert_eq!(password_problems("short", None, "a@example.org").len(), 1);
        assert!(!password_problems("Str0ng#pass", Some("other"), "a@example.org").is_empty());
        assert!(!password_problems("123456789", None, "a@example.org").is_empty());
        assert!(!password_problems("maryjane123", None, "maryjane@example.org").is_empty());
    }

    #[test]
    fn forms_and_credentials_do_not_print_passwords() {
        let form = SignupForm {
            joincode: "invite-secret".into(),
            email: "a@example.org".into(),
            password: "pw-secret".into(),
            password2: Some("pw-secret".into()),
        };
        let credentials = crate::identity::Credentials::Password {
            email: "a@example.org".into(),
            password: "pw-secret".into(),
        };
        for printed in [format!("{form:?}"), format!("{credentials:?}")] {
            assert!(!printed.contains("secret"), "{printed}");
            assert!(printed.contains("a@example.org"));
        }
    }

    #[test]
    fn email_shapes() {
        assert!(looks_like_email("a@example.org"));
        assert!(!looks_like_email("a@example"));
        assert!(!looks_like_email("a b@example.org"));
        assert!(!looks_like_email("@example.org"));
    }
}
