use serde::{Deserialize, Serialize};

/// Default page size of list endpoints.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Largest page size a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 1000;
/// The largest page number accepted (`page`, `_page`): keeps offsets far inside the databases'
/// integer range. Larger numbers answer like any other page that does not exist.
pub const MAX_PAGE_NUMBER: u64 = 1_000_000_000;

/// Which page of a list to return (1-based page number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// 1-based page number.
    pub page: u64,
    /// Rows per page (1..=[`MAX_PAGE_SIZE`] for clients; stores accept any positive size).
    pub size: u64,
}

impl PageRequest {
    /// Page `page` (clamped to ≥ 1) of `size` rows (clamped to ≥ 1).
    pub fn new(page: u64, size: u64) -> Self {
        Self {
            page: page.max(1),
            size: size.max(1),
        }
    }

    /// Rows to skip; never more than `i64::MAX`, so it can always be bound as a SQL integer.
    pub fn offset(&self) -> u64 {
        self.page
            .saturating_sub(1)
            .saturating_mul(self.size)
            .min(i64::MAX.unsigned_abs())
    }

    /// Everything in one page (internal use).
    pub fn all() -> Self {
        Self {
            page: 1,
            size: u64::MAX / 2,
        }
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self::new(1, DEFAULT_PAGE_SIZE)
    }
}

/// One page of results and the total number of matching rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// How many rows match in all.
    pub total: u64,
    /// The request that produced this page.
    pub request: PageRequest,
}

impl<T> Page<T> {
    /// Whether a later page exists.
    pub fn has_next(&self) -> bool {
        self.request
            .offset()
            .saturating_add(self.items.len() as u64)
            < self.total
    }

    /// Whether an earlier page exists.
    pub fn has_previous(&self) -> bool {
        self.request.page > 1
    }

    /// Maps the rows, keeping the counts.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            request: self.request,
        }
    }
}

/// A keyset position in a list ordered by `(last_updated, id)` descending: the last row of a
/// page. Its text form `<last_updated as Unix nanoseconds>_<id>[_<total>]` is opaque to clients
/// and the same on every API (`cursor` on the Admin API, `_cursor` on FHIR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysetCursor {
    /// `last_updated` of the last row of the previous page.
    pub last_updated: chrono::DateTime<chrono::Utc>,
    /// Its id.
    pub id: super::Id,
    /// The total counted for the first page of the walk, carried by `next` links so that later
    /// pages need not count again (a count reads every match; a keyset page reads one page).
    pub total: Option<u64>,
}

impl KeysetCursor {
    /// The text form; `None` for instants outside the nanosecond range (years 1677–2262).
    pub fn to_token(&self) -> Option<String> {
        self.last_updated
            .timestamp_nanos_opt()
            .map(|nanos| match self.total {
                Some(total) => format!("{nanos}_{}_{total}", self.id),
                None => format!("{nanos}_{}", self.id),
            })
    }

    /// Parses the text form; `None` when it is not one.
    pub fn parse(token: &str) -> Option<KeysetCursor> {
        let (nanos, rest) = token.trim().split_once('_')?;
        let (id, total) = match rest.split_once('_') {
            Some((id, total)) => (id, Some(total.parse().ok()?)),
            None => (rest, None),
        };
        Some(KeysetCursor {
            last_updated: chrono::DateTime::from_timestamp_nanos(nanos.parse().ok()?),
            id: id.parse().ok()?,
            total,
        })
    }
}

#[cfg(test)]
mod cursor_tests {
    use super::KeysetCursor;

    #[test]
    fn cursors_round_trip_at_full_precision() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-28T15:05:53.298020123Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok();
        let cursor = at.map(|last_updated| KeysetCursor {
            last_updated,
            id: 60011,
            total: None,
        });
        let token = cursor.and_then(|c| c.to_token());
        assert_eq!(token.as_deref().and_then(KeysetCursor::parse), cursor);
        for bad in [
            "", "x", "1_", "_1", "a_b", "1~2", "1_2_", "1_2_x", "1_2_-3", "1_2_3_4",
        ] {
            assert_eq!(KeysetCursor::parse(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_not_without_panicking(text in "\\PC{0,60}") {
            let _ = KeysetCursor::parse(&text);
        }

        #[test]
        fn cursors_round_trip(
            nanos in proptest::num::i64::ANY,
            id in proptest::num::i64::ANY,
            total in proptest::option::of(proptest::num::u64::ANY),
        ) {
            let cursor = KeysetCursor {
                last_updated: chrono::DateTime::from_timestamp_nanos(nanos),
                id,
                total,
            };
            let token = cursor.to_token();
            proptest::prop_assert!(token.is_some());
            proptest::prop_assert_eq!(token.as_deref().and_then(KeysetCursor::parse), Some(cursor));
        }
    }

    #[test]
    fn offsets_never_exceed_a_signed_integer() {
        for (page, size) in [(u64::MAX, u64::MAX), (461_168_601_842_738_792, 20), (1, 1)] {
            let offset = super::PageRequest::new(page, size).offset();
            assert!(i64::try_from(offset).is_ok(), "{page} {size}");
        }
    }
}
