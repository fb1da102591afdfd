//! The operator (health authority, platform staff): the operator's bearer token
//! (automation, every role) or an operator account's session with a second factor and the
//! role the route needs.

use crate::operators::{OperatorAuth, OperatorId};
use crate::Accounts;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use careslot_core::error::ApiError;
pub use careslot_store::Permission;
use std::sync::Arc;

/// An authenticated operator: who (the token or an account) and what it may do. Handlers
/// call [`Operator::require`] with the permission their route needs (403 `forbidden`
/// otherwise).
pub struct Operator(pub OperatorAuth);

impl Operator {
    /// 403 `forbidden` unless the operator has `p` (the token has every permission).
    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        Ok(self.0.require(p)?)
    }

    /// 403 `forbidden` unless this is the operator token (managing operator accounts).
    pub fn require_token(&self) -> Result<(), ApiError> {
        Ok(self.0.require_token()?)
    }

    /// `operator:token` or `operator:<account id>`, for the action log and the verification
    /// history.
    pub fn actor(&self) -> String {
        self.0.actor()
    }

    pub fn who(&self) -> &OperatorId {
        &self.0.who
    }
}

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
        Ok(Operator(app.authenticate_operator(token, client).await?))
    }
}
