//! Offset pagination, as the account API's list endpoints use it.

/// A validated page request: `limit` items starting at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items at most.
    pub limit: u32,
    /// How many items to skip.
    pub offset: u64,
}

/// One page of items and the total count they were taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// How many items exist in all.
    pub total: u64,
}

impl<T> Page<T> {
    /// Whether items exist past this page.
    pub fn has_more(&self, request: PageRequest) -> bool {
        request.offset + (self.items.len() as u64) < self.total
    }
}
