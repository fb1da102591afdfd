//! The campaign operator (health authority), authenticated by the operator's bearer token.

use crate::Accounts;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use careslot_core::error::ApiError;
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
        let Ok(super::ClientIp(client)) = super::ClientIp::from_request_parts(parts, state).await;
        let token = super::bearer_token(parts).unwrap_or("");
        // Throttled per address: a wrong token counts, and while blocked even the right one
        // gets 429. (Not per account: one shared counter would let anyone lock the operator
        // out.)
        app.check_operator_token(token, client).await?;
        Ok(Operator)
    }
}
