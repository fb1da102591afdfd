//! The campaign operator (health authority), authenticated by the operator's bearer token.

use crate::Accounts;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use careslot_core::error::ApiError;
use careslot_core::AppError;
use std::sync::Arc;

/// Proof that the caller holds the operator token.
pub struct Operator;

impl<S> FromRequestParts<S> for Operator
where
    S: Send + Sync,
    Arc<Accounts>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let app = Arc::<Accounts>::from_ref(state);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        match &app.config.operator_token {
            Some(expected) if !token.is_empty() && expected.matches(token.as_bytes()) => {
                Ok(Operator)
            }
            _ => Err(AppError::Unauthenticated.into()),
        }
    }
}
