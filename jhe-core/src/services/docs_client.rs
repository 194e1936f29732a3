//! The API docs' own OAuth client: a public authorization-code client (PKCE S256 is required
//! of every client) whose only redirect URI is `SITE_URL` + [`API_DOCS_REDIRECT_PATH`].
//!
//! It is ensured whenever the docs page is served, so it exists on every database the server
//! runs on and its redirect URI follows the current `SITE_URL` (a database served first on
//! another port or host keeps working).

use crate::domain::{
    API_DOCS_CLIENT_ID, API_DOCS_CLIENT_NAME, API_DOCS_REDIRECT_PATH, NewOAuthClient, OAuthClient,
};
use crate::error::CoreResult;
use crate::server::AppState;

/// The redirect URI the docs client must have under `site_url` (`<SITE_URL>/api/docs/oauth2-redirect.html`).
pub fn redirect_uri(site_url: &str) -> String {
    format!("{}{API_DOCS_REDIRECT_PATH}", site_url.trim_end_matches('/'))
}

/// The docs client, created when missing and its redirect URI set to the current `SITE_URL`.
///
/// # Errors
/// Store failures.
pub async fn ensure(state: &AppState) -> CoreResult<OAuthClient> {
    let wanted = redirect_uri(&state.config.site_url);
    let existing = match state.store.get_client_by_name(API_DOCS_CLIENT_NAME).await? {
        Some(client) => Some(client),
        None => {
            state
                .store
                .get_client_by_client_id(API_DOCS_CLIENT_ID)
                .await?
        }
    };
    if let Some(mut client) = existing {
        if client.redirect_uris != wanted {
            client.redirect_uris = wanted;
            return Ok(state.store.update_client(&client).await?);
        }
        return Ok(client);
    }
    let created = state
        .store
        .create_client(NewOAuthClient {
            id: None,
            client_id: API_DOCS_CLIENT_ID.into(),
            redirect_uris: wanted,
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            client_secret: String::new(),
            name: API_DOCS_CLIENT_NAME.into(),
            user_id: None,
            skip_authorization: true,
            algorithm: "RS256".into(),
        })
        .await;
    match created {
        Ok(client) => Ok(client),
        // Two first visits at once: the other one created it.
        Err(e) => match state
            .store
            .get_client_by_client_id(API_DOCS_CLIENT_ID)
            .await?
        {
            Some(client) => Ok(client),
            None => Err(e.into()),
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redirect_uri_follows_the_site_url() {
        assert_eq!(
            super::redirect_uri("http://localhost:8000/"),
            "http://localhost:8000/api/docs/oauth2-redirect.html"
        );
        assert_eq!(
            super::redirect_uri("https://jhe.example.org"),
            "https://jhe.example.org/api/docs/oauth2-redirect.html"
        );
    }
}
