//! Data sources (devices and apps that produce data) and the scopes each can produce.
//!
//! Reading is open to every authenticated caller; every change, including the supported scopes of
//! a data source, needs [`Action::ManageDataSources`] (superusers under the standard policy).
//! The original leaves supported-scope changes open to anyone authenticated; that gap is closed.
//!
//! Unlike the original, whose list and detail always answer `supportedScopes: []`, a
//! [`DataSourceView`] carries the data source's supported scopes.

use crate::domain::{
    CodeableConcept, DataSource, Id, NewDataSource, Page, PageRequest, TextRule,
    is_data_source_type,
};
use crate::error::{CoreError, CoreResult};
use crate::policy::{Action, Principal};
use crate::server::AppState;
use crate::services::fields::FieldErrors;
use crate::services::guard::require;

/// The type of a data source created without one.
pub const DEFAULT_DATA_SOURCE_TYPE: &str = "personal_device";

/// The 404 message of an unknown data source.
pub const NOT_FOUND: &str = "No DataSource matches the given query.";

/// A data source with the scopes it supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSourceView {
    /// The data source.
    pub data_source: DataSource,
    /// Its supported scopes, in the order they were added.
    pub supported_scopes: Vec<CodeableConcept>,
}

/// One supported-scope link with both ends loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedScopeView {
    /// Link id.
    pub id: Id,
    /// The data source.
    pub data_source: DataSource,
    /// The scope.
    pub scope_code: CodeableConcept,
}

/// Fields of a data source to create or change (`None` = not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataSourceChanges {
    /// Name.
    pub name: Option<String>,
    /// Type key (`personal_device`, `medical_device`).
    pub source_type: Option<String>,
}

/// Fetches a data source or `404`.
pub async fn get_or_404(state: &AppState, id: Id) -> CoreResult<DataSource> {
    state
        .store
        .get_data_source(id)
        .await?
        .ok_or_else(|| CoreError::NotFound(NOT_FOUND.into()))
}

/// The supported scopes of a data source, ordered as added (links whose concept vanished are
/// skipped).
async fn scopes_of(state: &AppState, data_source_id: Id) -> CoreResult<Vec<CodeableConcept>> {
    let mut views = views_of(state, vec![data_source_id]).await?;
    Ok(views.remove(&data_source_id).unwrap_or_default())
}

/// The supported scopes of several data sources, each in the order they were added: two
/// queries whatever their number.
async fn views_of(
    state: &AppState,
    data_source_ids: Vec<Id>,
) -> CoreResult<std::collections::HashMap<Id, Vec<CodeableConcept>>> {
    let links = state
        .store
        .list_supported_scopes_of(&data_source_ids)
        .await?;
    let mut concept_ids: Vec<Id> = links.iter().map(|l| l.scope_code_id).collect();
    concept_ids.sort_unstable();
    concept_ids.dedup();
    let concepts: std::collections::HashMap<Id, CodeableConcept> = state
        .store
        .get_concepts(&concept_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let mut out: std::collections::HashMap<Id, Vec<CodeableConcept>> =
        std::collections::HashMap::new();
    for link in links {
        if let Some(concept) = concepts.get(&link.scope_code_id) {
            out.entry(link.data_source_id)
                .or_default()
                .push(concept.clone());
        }
    }
    Ok(out)
}

/// A data source with its supported scopes.
pub async fn view(state: &AppState, data_source: DataSource) -> CoreResult<DataSourceView> {
    Ok(DataSourceView {
        supported_scopes: scopes_of(state, data_source.id).await?,
        data_source,
    })
}

/// Every data source, ordered by name (any authenticated caller).
pub async fn list(
    state: &AppState,
    _principal: &Principal,
    page: PageRequest,
) -> CoreResult<Page<DataSourceView>> {
    let found = state.store.list_data_sources(page).await?;
    let mut scopes = views_of(state, found.items.iter().map(|d| d.id).collect()).await?;
    let items = found
        .items
        .into_iter()
        .map(|data_source| DataSourceView {
            supported_scopes: scopes.remove(&data_source.id).unwrap_or_default(),
            data_source,
        })
        .collect();
    Ok(Page {
        items,
        total: found.total,
        request: found.request,
    })
}

/// One data source (any authenticated caller).
pub async fn get(state: &AppState, _principal: &Principal, id: Id) -> CoreResult<DataSourceView> {
    let ds = get_or_404(state, id).await?;
    view(state, ds).await
}

fn check_fields(changes: &DataSourceChanges, required: bool) -> CoreResult<()> {
    let mut errors = FieldErrors::new();
    errors.text("name", changes.name.as_deref(), TextRule::NAME, required);
    if let Some(t) = changes.source_type.as_deref()
        && !is_data_source_type(t)
    {
        errors.add("type", format!("\"{t}\" is not a valid choice."));
    }
    errors.into_result()
}

/// Creates a data source (`data_source.manage`). The name is required (the original accepts a
/// body without one); the type defaults to [`DEFAULT_DATA_SOURCE_TYPE`].
pub async fn create(
    state: &AppState,
    principal: &Principal,
    changes: DataSourceChanges,
) -> CoreResult<DataSourceView> {
    require(state, principal, Action::ManageDataSources).await?;
    check_fields(&changes, true)?;
    let ds = state
        .store
        .create_data_source(NewDataSource {
            id: None,
            name: changes.name.map(|n| n.trim().to_string()),
            source_type: changes
                .source_type
                .unwrap_or_else(|| DEFAULT_DATA_SOURCE_TYPE.to_string()),
        })
        .await?;
    view(state, ds).await
}

/// Changes name and/or type (`data_source.manage`); `full` (PUT) requires the name.
pub async fn update(
    state: &AppState,
    principal: &Principal,
    id: Id,
    changes: DataSourceChanges,
    full: bool,
) -> CoreResult<DataSourceView> {
    require(state, principal, Action::ManageDataSources).await?;
    let mut ds = get_or_404(state, id).await?;
    check_fields(&changes, full)?;
    if let Some(name) = changes.name {
        ds.name = Some(name.trim().to_string());
    }
    if let Some(t) = changes.source_type {
        ds.source_type = t;
    }
    let ds = state.store.update_data_source(&ds).await?;
    view(state, ds).await
}

/// Deletes a data source (`data_source.manage`). Observations keep their data and lose the link;
/// supported scopes and client/study links go with it.
pub async fn delete(state: &AppState, principal: &Principal, id: Id) -> CoreResult<()> {
    require(state, principal, Action::ManageDataSources).await?;
    if !state.store.delete_data_source(id).await? {
        return Err(CoreError::NotFound(NOT_FOUND.into()));
    }
    Ok(())
}

/// Every codeable concept ("scope"), ordered by text (any authenticated caller).
pub async fn all_scopes(
    state: &AppState,
    _principal: &Principal,
) -> CoreResult<Vec<CodeableConcept>> {
    Ok(state.store.list_concepts().await?)
}

/// The supported-scope links of a data source, ordered by id (any authenticated caller).
pub async fn supported_scopes(
    state: &AppState,
    _principal: &Principal,
    id: Id,
) -> CoreResult<Vec<SupportedScopeView>> {
    let ds = get_or_404(state, id).await?;
    let mut out = Vec::new();
    for link in state.store.list_supported_scopes(id).await? {
        if let Some(concept) = state.store.get_concept(link.scope_code_id).await? {
            out.push(SupportedScopeView {
                id: link.id,
                data_source: ds.clone(),
                scope_code: concept,
            });
        }
    }
    Ok(out)
}

/// The concept named by a `scopeCodeId` body field: required, and must exist (400 otherwise).
async fn scope_code(state: &AppState, scope_code_id: Option<Id>) -> CoreResult<CodeableConcept> {
    let id =
        scope_code_id.ok_or_else(|| CoreError::field("scopeCodeId", "This field is required."))?;
    state.store.get_concept(id).await?.ok_or_else(|| {
        CoreError::field(
            "scopeCodeId",
            format!("Invalid pk \"{id}\" - object does not exist."),
        )
    })
}

/// Adds a supported scope (idempotent; `data_source.manage`).
pub async fn add_supported_scope(
    state: &AppState,
    principal: &Principal,
    id: Id,
    scope_code_id: Option<Id>,
) -> CoreResult<SupportedScopeView> {
    require(state, principal, Action::ManageDataSources).await?;
    let ds = get_or_404(state, id).await?;
    let concept = scope_code(state, scope_code_id).await?;
    let link = state.store.add_supported_scope(ds.id, concept.id).await?;
    Ok(SupportedScopeView {
        id: link.id,
        data_source: ds,
        scope_code: concept,
    })
}

/// Removes a supported scope (`data_source.manage`); removing one that is not there succeeds.
pub async fn remove_supported_scope(
    state: &AppState,
    principal: &Principal,
    id: Id,
    scope_code_id: Option<Id>,
) -> CoreResult<()> {
    require(state, principal, Action::ManageDataSources).await?;
    get_or_404(state, id).await?;
    let id_code =
        scope_code_id.ok_or_else(|| CoreError::field("scopeCodeId", "This field is required."))?;
    state.store.remove_supported_scope(id, id_code).await?;
    Ok(())
}
