use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{AccessScope, StoreResult};
use crate::domain::{
    Id, KeysetCursor, NewObservation, Observation, ObservationIdentifier, Page, PageRequest,
};

/// Narrows an observation search. All given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservationQuery {
    /// Only this observation.
    pub id: Option<Id>,
    /// Only this patient.
    pub patient_id: Option<Id>,
    /// Only patients with this external identifier.
    pub patient_identifier: Option<String>,
    /// Only patients of this organisation.
    pub organization_id: Option<Id>,
    /// Only patients enrolled in this study, only codes the study requests, and (under a
    /// practitioner's scope) only codes consented to in this study.
    pub study_id: Option<Id>,
    /// Only these concepts.
    pub codeable_concept_ids: Option<Vec<Id>>,
    /// Effective time at or after.
    pub effective_from: Option<DateTime<Utc>>,
    /// Effective time before.
    pub effective_before: Option<DateTime<Utc>>,
    /// Last updated at or after.
    pub updated_from: Option<DateTime<Utc>>,
    /// Last updated before.
    pub updated_before: Option<DateTime<Utc>>,
    /// Keyset position: only rows after this `(last_updated, id)` in the search order (newest
    /// first). When set, the page's offset is ignored (the cost of a page does not grow with its
    /// number) and `total` still counts every match of the other conditions.
    pub after: Option<KeysetCursor>,
}

/// Observations.
#[async_trait]
pub trait ObservationStore {
    /// Stores observations and their identifiers atomically with multi-row inserts: either all
    /// are stored or none (`Conflict` names a duplicate identifier).
    async fn create_observations(&self, new: Vec<NewObservation>) -> StoreResult<Vec<Observation>>;
    /// An observation by id, if visible through `scope` (patient visibility and consent rule).
    async fn get_observation(
        &self,
        scope: &AccessScope,
        id: Id,
    ) -> StoreResult<Option<Observation>>;
    /// Writes payload, status and indexed columns (by id), setting `last_updated` to now.
    async fn update_observation(&self, observation: &Observation) -> StoreResult<Observation>;
    /// Deletes an observation.
    async fn delete_observation(&self, id: Id) -> StoreResult<bool>;
    /// Observations visible through `scope` (patient visibility and consent rule) and matching
    /// `query`, newest `last_updated` first
    /// (ties by id descending), distinct, with their identifiers.
    async fn search_observations(
        &self,
        scope: &AccessScope,
        query: &ObservationQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Observation>>;
    /// The observation holding an identifier (system `None` matches a missing system).
    async fn find_observation_by_identifier(
        &self,
        identifier: &ObservationIdentifier,
    ) -> StoreResult<Option<Id>>;
    /// Which of `identifiers` are stored (system `None` matches a missing system), each with the
    /// id of its observation: a few round trips for a whole batch instead of one per identifier.
    async fn find_observation_identifiers(
        &self,
        identifiers: &[ObservationIdentifier],
    ) -> StoreResult<Vec<(ObservationIdentifier, Id)>>;
}
