//! The authenticated caller of an API request.

use crate::Accounts;
use axum::extract::{FromRef, FromRequestParts};
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
        let token = super::bearer_token(parts).ok_or(ApiError::from(AppError::Unauthenticated))?;
        let accounts = Arc::<Accounts>::from_ref(state);
        Ok(Caller(accounts.authenticate(token).await?))
    }
}

/// An authenticated caller together with the bearer token it presented (to sign it out).
pub struct Bearer {
    pub caller: CallerId,
    pub token: String,
}

impl<S> FromRequestParts<S> for Bearer
where
    S: Send + Sync,
    Arc<Accounts>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = super::bearer_token(parts)
            .ok_or(ApiError::from(AppError::Unauthenticated))?
            .to_owned();
        let accounts = Arc::<Accounts>::from_ref(state);
        let caller = accounts.authenticate(&token).await?;
        Ok(Bearer { caller, token })
    }
}
