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
    /// The effective period (`effective_start`, up to `effective_end` or the start when there is
    /// no end) ends at or after this instant: it overlaps the range from here on.
    pub effective_from: Option<DateTime<Utc>>,
    /// The effective period starts before this instant: it overlaps the range up to here.
    pub effective_before: Option<DateTime<Utc>>,
    /// The effective period starts at or after this instant (it lies inside a range).
    pub effective_within_from: Option<DateTime<Utc>>,
    /// The effective period ends before this instant (it lies inside a range).
    pub effective_within_before: Option<DateTime<Utc>>,
    /// Last updated at or after.
    pub updated_from: Option<DateTime<Utc>>,
    /// Last updated before.
    pub updated_before: Option<DateTime<Utc>>,
    /// Keyset position: only rows after this `(last_updated, id)` in the search order. When
    /// set, the page's offset is ignored (the cost of a page does not grow with its number) and
    /// `total` still counts every match of the other conditions. Only the
    /// [`ObservationOrder::supports_cursor`] orders can be keyset-paged; with another order `after`
    /// is ignored (the services refuse such requests before they reach the store).
    pub after: Option<KeysetCursor>,
    /// The order of the rows.
    pub order: ObservationOrder,
    /// Skip counting the matches: `Page::total` is then `0` (FHIR `_total=none`).
    pub skip_total: bool,
    /// Read one row past the page (up to `size + 1` rows): whether another page follows,
    /// without a count or a second query.
    pub peek_next: bool,
}

/// The order of an observation search; ties are broken by id in the same direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ObservationOrder {
    /// Newest `last_updated` first (the default).
    #[default]
    LastUpdatedDesc,
    /// Oldest `last_updated` first.
    LastUpdatedAsc,
    /// Earliest `effective_start` first; rows without one last.
    EffectiveAsc,
    /// Latest `effective_start` first; rows without one last.
    EffectiveDesc,
}

impl ObservationOrder {
    /// Whether [`ObservationQuery::after`] (a `(last_updated, id)` keyset) can page this order.
    pub fn supports_cursor(self) -> bool {
        matches!(
            self,
            ObservationOrder::LastUpdatedDesc | ObservationOrder::LastUpdatedAsc
        )
    }
}

/// How many observations of one data type match, and when the earliest and the latest took
/// place (an aggregate computed by the database, not by reading the rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservationSummary {
    /// The data type.
    pub codeable_concept_id: Id,
    /// Matching observations of this type.
    pub count: u64,
    /// The smallest `effective_start` among them (`None` when none has one).
    pub earliest: Option<DateTime<Utc>>,
    /// The largest `effective_start` among them (`None` when none has one).
    pub latest: Option<DateTime<Utc>>,
}

/// What an upload (one Observation or a whole Bundle) names, for [`ObservationStore::load_upload_facts`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadFactsRequest {
    /// The subject patients.
    pub patient_ids: Vec<Id>,
    /// The data sources (`Device/…`).
    pub data_source_ids: Vec<Id>,
    /// The `(system, code)` pairs of the codings.
    pub concepts: Vec<(String, String)>,
    /// The identifiers the resources (and `If-None-Exist` criteria) name; the stored ones are
    /// returned in [`UploadFacts::identifiers`].
    pub identifiers: Vec<crate::domain::ObservationIdentifier>,
}

/// The authorisation facts of an upload, loaded in bulk: a bounded number of queries per
/// request whatever the number of entries (no query per entry, per patient or per fact).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UploadFacts {
    /// The ids of the requested patients visible through the scope (absent: not visible or not
    /// there).
    pub patient_ids: Vec<Id>,
    /// `(patient id, scope code id)`: the data types each visible patient consented to in some
    /// study (enrolments visible through the scope).
    pub consented: Vec<(Id, Id)>,
    /// The requested data sources that exist.
    pub data_sources: Vec<crate::domain::DataSource>,
    /// `(data source id, scope code id)`: the supported scopes of the requested data sources.
    pub supported: Vec<(Id, Id)>,
    /// The requested concepts that exist.
    pub concepts: Vec<crate::domain::CodeableConcept>,
    /// The requested identifiers that are stored, with the id of the observation holding each
    /// (as [`ObservationStore::find_observation_identifiers`] returns them).
    pub identifiers: Vec<(crate::domain::ObservationIdentifier, Id)>,
}

/// Observations.
#[async_trait]
pub trait ObservationStore {
    /// The facts an upload needs (its patients visible through `scope`, their consented data
    /// types, data sources and their supported scopes, concepts, stored identifiers), loaded
    /// with a bounded number of queries (the standard store: one), however many entries name
    /// them.
    ///
    /// # Errors
    /// [`StoreError`](super::StoreError) when the database fails.
    async fn load_upload_facts(
        &self,
        scope: &AccessScope,
        request: &UploadFactsRequest,
    ) -> StoreResult<UploadFacts>;
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
    /// `query`, in `query.order` (by default newest `last_updated` first, ties by id
    /// descending), distinct, with their identifiers.
    async fn search_observations(
        &self,
        scope: &AccessScope,
        query: &ObservationQuery,
        page: PageRequest,
    ) -> StoreResult<Page<Observation>>;
    /// Per data type, the count and the effective-time bounds of the observations visible
    /// through `scope` (the same access conditions as [`search_observations`]) that match
    /// `query` (its order, paging and cursor are ignored), ordered by concept id. Computed with
    /// one `GROUP BY` query.
    ///
    /// [`search_observations`]: ObservationStore::search_observations
    async fn summarize_observations(
        &self,
        scope: &AccessScope,
        query: &ObservationQuery,
    ) -> StoreResult<Vec<ObservationSummary>>;
    /// Per patient, how many observations visible through `scope` match `query` (as
    /// [`summarize_observations`](ObservationStore::summarize_observations)), ordered by
    /// patient id; patients without a match are absent.
    async fn count_observations_by_patient(
        &self,
        scope: &AccessScope,
        query: &ObservationQuery,
    ) -> StoreResult<Vec<(Id, u64)>>;
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
