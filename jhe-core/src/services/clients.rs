//! OAuth client applications as the Admin API manages them ("Clients" in the portal), with their
//! per-client settings (`client.code_verifier`, `client.invitation_url`) and data sources.
//! (Authenticating clients at the token endpoint is [`crate::services::oauth::clients`].)
//!
//! Closes the original's gaps: creating, changing and deleting clients and their data sources
//! needs [`Action::ManageClients`] (superusers under the standard policy); practitioners may
//! still list and read clients (to attach them to studies) but never see code verifiers;
//! patients may not list clients at all. Nobody ever sees a client secret. The portal's own
//! client (`JHE Admin UI`) is invisible here, so it can be neither changed nor deleted.

use std::collections::BTreeMap;

use crate::domain::{
    ADMIN_UI_CLIENT_NAME, API_DOCS_CLIENT_NAME, ClientDataSource, Id, NewOAuthClient, OAuthClient,
    Page, PageRequest, SettingValue, TextRule, keys,
};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::data_sources::{self, DataSourceView};
use crate::services::guard::{allowed, require};
use crate::store::StoreError;

/// The 404 message of an unknown (or hidden) client.
pub const NOT_FOUND: &str = "No Application matches the given query.";

/// Longest OAuth `client_id` (the column's size).
pub const MAX_CLIENT_ID_LEN: usize = 100;

/// Path of the redirect URI registered for clients created here (after the site URL).
pub const CALLBACK_PATH: &str = "/auth/callback";

/// A client as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// The application (its secret hash is never shown).
    pub client: OAuthClient,
    /// The fixed PKCE verifier of its invitation links; `None` when unset **or** hidden from
    /// the caller (only callers who may manage clients see it).
    pub code_verifier: Option<String>,
    /// The invitation URL template (`CODE` is replaced), if set.
    pub invitation_url: Option<String>,
}

/// A new client, as the portal's form sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewClient {
    /// Display name.
    pub name: Option<String>,
    /// OAuth `client_id`.
    pub client_id: Option<String>,
    /// Invitation URL template.
    pub invitation_url: Option<String>,
    /// Fixed PKCE code verifier of invitation links.
    pub code_verifier: Option<String>,
}

/// Changes to a client. For the two settings, `Some(None)` (or an empty string) deletes the
/// setting and `None` leaves it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientChanges {
    /// Display name.
    pub name: Option<String>,
    /// OAuth `client_id`.
    pub client_id: Option<String>,
    /// Invitation URL template.
    pub invitation_url: Option<Option<String>>,
    /// PKCE code verifier.
    pub code_verifier: Option<Option<String>>,
}

/// Only practitioners and superusers see clients.
fn require_reader(principal: &Principal) -> CoreResult<()> {
    if principal.is_superuser() || principal.is_practitioner() {
        Ok(())
    } else {
        Err(CoreError::Forbidden(
            "You do not have permission to perform this action.".into(),
        ))
    }
}

/// A visible client (not the portal's own) or `404`.
pub async fn get_or_404(state: &AppState, id: Id) -> CoreResult<OAuthClient> {
    match state.store.get_client(id).await? {
        Some(c) if c.name != ADMIN_UI_CLIENT_NAME => Ok(c),
        _ => Err(CoreError::NotFound(NOT_FOUND.into())),
    }
}

async fn setting_text(state: &AppState, key: &str, client_id: Id) -> CoreResult<Option<String>> {
    Ok(state
        .store
        .get_setting(key, Some(client_id))
        .await?
        .map(|s| match s.value {
            SettingValue::String(v) => v,
            other => match other.to_json() {
                serde_json::Value::String(v) => v,
                v => v.to_string(),
            },
        }))
}

async fn view(
    state: &AppState,
    client: OAuthClient,
    show_verifier: bool,
) -> CoreResult<ClientView> {
    let code_verifier = if show_verifier {
        setting_text(state, keys::CLIENT_CODE_VERIFIER, client.id).await?
    } else {
        None
    };
    Ok(ClientView {
        invitation_url: setting_text(state, keys::CLIENT_INVITATION_URL, client.id).await?,
        code_verifier,
        client,
    })
}

/// Clients, newest first, without the portal's own (practitioners and superusers).
pub async fn list(
    state: &AppState,
    principal: &Principal,
    page: PageRequest,
) -> CoreResult<Page<ClientView>> {
    require_reader(principal)?;
    let show = allowed(state, principal, Action::ManageClients).await?;
    let found = state
        .store
        .list_clients(Some(ADMIN_UI_CLIENT_NAME), page)
        .await?;
    let mut items = Vec::with_capacity(found.items.len());
    for c in found.items {
        items.push(view(state, c, show).await?);
    }
    Ok(Page {
        items,
        total: found.total,
        request: found.request,
    })
}

/// One client (practitioners and superusers).
pub async fn get(state: &AppState, principal: &Principal, id: Id) -> CoreResult<ClientView> {
    require_reader(principal)?;
    let client = get_or_404(state, id).await?;
    let show = allowed(state, principal, Action::ManageClients).await?;
    view(state, client, show).await
}

/// A field these forms require: missing or blank is "required" (the original's wording for
/// clients); a present value must satisfy `rule`.
fn required(
    errors: &mut BTreeMap<String, Vec<String>>,
    key: &str,
    value: Option<&str>,
    rule: TextRule,
) {
    match value {
        Some(v) if !v.trim().is_empty() => {
            if let Some(message) = rule.violation(v) {
                errors.insert(key.to_string(), vec![message]);
            }
        }
        _ => {
            errors.insert(key.to_string(), vec!["This field is required.".to_string()]);
        }
    }
}

fn check_client_id(errors: &mut BTreeMap<String, Vec<String>>, client_id: &str) {
    if client_id.chars().count() > MAX_CLIENT_ID_LEN {
        errors.insert(
            "clientId".to_string(),
            vec![format!(
                "Ensure this field has no more than {MAX_CLIENT_ID_LEN} characters."
            )],
        );
    } else if client_id
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '~')
    {
        errors.insert(
            "clientId".to_string(),
            vec!["Client ids may not contain spaces or \"~\".".to_string()],
        );
    }
}

fn check_verifier(errors: &mut BTreeMap<String, Vec<String>>, key: &str, verifier: &str) {
    if !crate::services::oauth::pkce::is_valid_verifier(verifier) {
        errors.insert(
            key.to_string(),
            vec![
                "Must be 43 to 128 characters of A-Z, a-z, 0-9, \"-\", \".\", \"_\" or \"~\" \
                 (an RFC 7636 code verifier)."
                    .to_string(),
            ],
        );
    }
}

async fn check_unique_client_id(
    state: &AppState,
    errors: &mut BTreeMap<String, Vec<String>>,
    client_id: &str,
    except: Option<Id>,
) -> CoreResult<()> {
    if errors.contains_key("clientId") {
        return Ok(());
    }
    if let Some(existing) = state.store.get_client_by_client_id(client_id).await?
        && Some(existing.id) != except
    {
        errors.insert(
            "clientId".to_string(),
            vec!["Application with this client id already exists.".to_string()],
        );
    }
    Ok(())
}

fn duplicate_client_id() -> CoreError {
    CoreError::field(
        "clientId",
        "Application with this client id already exists.",
    )
}

async fn put_setting(state: &AppState, key: &str, client_id: Id, value: &str) -> CoreResult<()> {
    state
        .store
        .upsert_setting(
            key,
            Some(client_id),
            SettingValue::String(value.to_string()),
        )
        .await?;
    Ok(())
}

/// Creates a public authorization-code client that skips the consent screen, with redirect URI
/// `<site url>/auth/callback`, RS256 ID tokens and no usable secret, and stores its code verifier
/// and invitation URL (`client.manage`). All four fields are required; missing ones are reported
/// together under the original's keys (`name`, `clientId`, `invitation_url`, `code_verifier`).
pub async fn create(
    state: &AppState,
    principal: &Principal,
    new: NewClient,
) -> CoreResult<ClientView> {
    require(state, principal, Action::ManageClients).await?;
    let mut errors = BTreeMap::new();
    required(&mut errors, "name", new.name.as_deref(), TextRule::NAME);
    required(
        &mut errors,
        "clientId",
        new.client_id.as_deref(),
        TextRule::NAME,
    );
    required(
        &mut errors,
        "invitation_url",
        new.invitation_url.as_deref(),
        TextRule::URL,
    );
    required(
        &mut errors,
        "code_verifier",
        new.code_verifier.as_deref(),
        TextRule::NAME,
    );
    let name = new.name.unwrap_or_default().trim().to_string();
    let client_id = new.client_id.unwrap_or_default().trim().to_string();
    let invitation_url = new.invitation_url.unwrap_or_default().trim().to_string();
    let code_verifier = new.code_verifier.unwrap_or_default().trim().to_string();
    if !client_id.is_empty() {
        check_client_id(&mut errors, &client_id);
    }
    if !code_verifier.is_empty() {
        check_verifier(&mut errors, "code_verifier", &code_verifier);
    }
    if name == ADMIN_UI_CLIENT_NAME || name == API_DOCS_CLIENT_NAME {
        errors.insert("name".to_string(), vec![format!("\"{name}\" is reserved.")]);
    }
    if !client_id.is_empty() {
        check_unique_client_id(state, &mut errors, &client_id, None).await?;
    }
    if !errors.is_empty() {
        return Err(CoreError::Validation(errors));
    }
    let site_url = crate::services::settings::site_url(state.store.as_ref(), &state.config).await?;
    let client = state
        .store
        .create_client(NewOAuthClient {
            id: None,
            client_id,
            redirect_uris: format!("{site_url}{CALLBACK_PATH}"),
            client_type: "public".into(),
            authorization_grant_type: "authorization-code".into(),
            client_secret: String::new(),
            name,
            user_id: None,
            skip_authorization: true,
            algorithm: "RS256".into(),
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => duplicate_client_id(),
            other => other.into(),
        })?;
    let stored = async {
        put_setting(state, keys::CLIENT_CODE_VERIFIER, client.id, &code_verifier).await?;
        put_setting(
            state,
            keys::CLIENT_INVITATION_URL,
            client.id,
            &invitation_url,
        )
        .await
    }
    .await;
    if let Err(e) = stored {
        // No half-made clients: undo the application when its settings could not be stored.
        let _ = state.store.delete_client(client.id).await;
        return Err(e);
    }
    view(state, client, true).await
}

/// Changes name, `client_id` and the two settings (`client.manage`). `full` (PUT) requires the
/// name.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: Id,
    changes: ClientChanges,
    full: bool,
) -> CoreResult<ClientView> {
    require(state, principal, Action::ManageClients).await?;
    let mut client = get_or_404(state, id).await?;
    let mut errors = BTreeMap::new();
    if full || changes.name.is_some() {
        required(&mut errors, "name", changes.name.as_deref(), TextRule::NAME);
    }
    if let Some(name) = changes
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| [ADMIN_UI_CLIENT_NAME, API_DOCS_CLIENT_NAME].contains(n))
    {
        errors.insert("name".to_string(), vec![format!("\"{name}\" is reserved.")]);
    }
    if let Some(client_id) = changes.client_id.as_deref().map(str::trim) {
        required(&mut errors, "clientId", Some(client_id), TextRule::NAME);
        if !client_id.is_empty() {
            check_client_id(&mut errors, client_id);
            check_unique_client_id(state, &mut errors, client_id, Some(client.id)).await?;
        }
    }
    if let Some(Some(url)) = changes.invitation_url.as_ref()
        && let Some(message) = TextRule::URL.violation(url)
    {
        errors.insert("invitation_url".to_string(), vec![message]);
    }
    if let Some(Some(verifier)) = changes.code_verifier.as_ref()
        && !verifier.trim().is_empty()
    {
        check_verifier(&mut errors, "code_verifier", verifier.trim());
    }
    if !errors.is_empty() {
        return Err(CoreError::Validation(errors));
    }
    if let Some(name) = changes.name {
        client.name = name.trim().to_string();
    }
    if let Some(client_id) = changes.client_id {
        client.client_id = client_id.trim().to_string();
    }
    let client = state
        .store
        .update_client(&client)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => duplicate_client_id(),
            other => other.into(),
        })?;
    for (key, change) in [
        (keys::CLIENT_CODE_VERIFIER, changes.code_verifier),
        (keys::CLIENT_INVITATION_URL, changes.invitation_url),
    ] {
        match change.map(|v| v.map(|s| s.trim().to_string())) {
            None => {}
            Some(Some(value)) if !value.is_empty() => {
                put_setting(state, key, client.id, &value).await?;
            }
            Some(_) => {
                state
                    .store
                    .delete_setting_by_key(key, Some(client.id))
                    .await?;
            }
        }
    }
    view(state, client, true).await
}

/// Deletes a client with its grants, tokens, study and data source links, and its settings
/// (`client.manage`; the original leaves the settings behind).
pub async fn delete(state: &AppState, principal: &Principal, id: Id) -> CoreResult<()> {
    require(state, principal, Action::ManageClients).await?;
    let client = get_or_404(state, id).await?;
    let deleted = state.store.delete_client(client.id).await?;
    // The client's tokens are gone: cached ones too.
    state.tokens.clear();
    if !deleted {
        return Err(CoreError::NotFound(NOT_FOUND.into()));
    }
    for key in [keys::CLIENT_CODE_VERIFIER, keys::CLIENT_INVITATION_URL] {
        state
            .store
            .delete_setting_by_key(key, Some(client.id))
            .await?;
    }
    Ok(())
}

/// The data sources of a client, in the order they were linked (practitioners and superusers).
pub async fn data_sources(
    state: &AppState,
    principal: &Principal,
    id: Id,
) -> CoreResult<Vec<DataSourceView>> {
    require_reader(principal)?;
    get_or_404(state, id).await?;
    let mut out = Vec::new();
    for link in state.store.list_client_data_sources(id).await? {
        if let Some(ds) = state.store.get_data_source(link.data_source_id).await? {
            out.push(data_sources::view(state, ds).await?);
        }
    }
    Ok(out)
}

/// The data source named by a `dataSourceId` body field: required, and must exist (400).
async fn data_source_id(state: &AppState, data_source_id: Option<Id>) -> CoreResult<Id> {
    let id = data_source_id
        .ok_or_else(|| CoreError::field("dataSourceId", "This field is required."))?;
    if state.store.get_data_source(id).await?.is_none() {
        return Err(CoreError::field(
            "dataSourceId",
            format!("Invalid pk \"{id}\" - object does not exist."),
        ));
    }
    Ok(id)
}

/// Links a data source to a client (idempotent; `client.manage`).
pub async fn add_data_source(
    state: &AppState,
    principal: &Principal,
    id: Id,
    data_source: Option<Id>,
) -> CoreResult<ClientDataSource> {
    require(state, principal, Action::ManageClients).await?;
    get_or_404(state, id).await?;
    let ds = data_source_id(state, data_source).await?;
    Ok(state.store.add_client_data_source(id, ds).await?)
}

/// Unlinks a data source from a client (`client.manage`); unlinking one that is not linked
/// succeeds.
pub async fn remove_data_source(
    state: &AppState,
    principal: &Principal,
    id: Id,
    data_source: Option<Id>,
) -> CoreResult<()> {
    require(state, principal, Action::ManageClients).await?;
    get_or_404(state, id).await?;
    let ds =
        data_source.ok_or_else(|| CoreError::field("dataSourceId", "This field is required."))?;
    state.store.remove_client_data_source(id, ds).await?;
    Ok(())
}
