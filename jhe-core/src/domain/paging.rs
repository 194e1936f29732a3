use serde::{Deserialize, Serialize};

/// Default page size of list endpoints.
pub const DEFAULT_PAGE_SIZE: u64 = 20;
/// Largest page size a client may ask for.
pub const MAX_PAGE_SIZE: u64 = 1000;

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

    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        (self.page - 1).saturating_mul(self.size)
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
