//! The authenticated caller of an API request.

use crate::Accounts;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use careslot_core::error::ApiError;
use careslot_core::{AppError, Caller as CallerId};
use std::sync::Arc;

/// The authenticated account behind `Authorization: Bearer <token>`.
pub struct Caller(pub CallerId);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    Arc<Accounts>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or(ApiError::from(AppError::Unauthenticated))?;
        let accounts = Arc::<Accounts>::from_ref(state);
        Ok(Caller(accounts.authenticate(token).await?))
    }
}
