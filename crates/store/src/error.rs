use thiserror::Error;

/// What went wrong in storage, in terms the layers above can act on. Never carries row
/// contents: messages end up in logs.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("conflict: {0:?}")]
    Conflict(ConflictKind),
    #[error("not found")]
    NotFound,
    /// The idempotency key was used before with another request body.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// The hold exists but has expired.
    #[error("hold expired")]
    HoldExpired,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("storage error: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    EmailTaken,
    /// The time is taken (overlap with another live reservation).
    SlotTaken,
    /// A pooled slot has no place left.
    CapacityExhausted,
    /// A uniqueness rule other than the above.
    Duplicate,
    /// The reservation is no longer live (cancelled, expired, already booked from its hold).
    NotLive,
    /// No dose of this vaccine left in the centre's stock for that day.
    StockExhausted,
    /// A stock cannot be set below the doses already booked.
    StockBelowBooked,
    /// What the request was computed from changed meanwhile (read it again and retry).
    Changed,
}
