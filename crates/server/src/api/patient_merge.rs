//! `POST /api/v1/practitioner/patients/{id}/merge`: a merge may end in an erasure, which
//! reaches every feature's data, so its handler is here (as `DELETE /api/v1/me`'s is).

use crate::App;
use axum::extract::State;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_core::extract::{ApiJson, ApiPath};
use careslot_identity::api::Caller;
use careslot_scheduling::api::directory::DirectoryPatientBody;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct MergeBody {
    /// The other directory entry: the same person, recorded twice.
    #[schema(max_length = 100)]
    pub duplicate: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MergedBody {
    /// The entry kept: the patient's own account when either was one, else the path's.
    pub patient: DirectoryPatientBody,
    /// Appointments that moved to it from the other entry (any status).
    pub moved_appointments: usize,
}

/// Merges a duplicate into a patient of the practice's directory: the duplicate's
/// appointments here (with their statuses, documents and pending reminders) move to the kept
/// patient, the practice's notes are joined, and the duplicate leaves the directory. The
/// patient's own account is always the one kept; the other must be a record the practice
/// made (two patients' own accounts: 409 `own-accounts`). The practice-made record is erased
/// when no appointment anywhere still needs it. Needs a second factor; both patients' access
/// logs record the merge.
#[utoipa::path(post, path = "/api/v1/practitioner/patients/{id}/merge", operation_id = "mergePracticePatients", tag = "practice desk", security(("bearer" = [])),
    params(("id" = String, Path, description = "directory entry id")),
    request_body = MergeBody,
    responses((status = 200, body = MergedBody), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "both are patients' own accounts, the record is another practice's, or the entries changed meanwhile (`changed-meanwhile`: try again)", body = Problem),
        (status = 422, body = Problem)))]
pub async fn merge(
    State(app): State<App>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<MergeBody>,
) -> Result<Json<MergedBody>, ApiError> {
    let merged = app.merge_patients(&me, &id, &b.duplicate).await?;
    let file = app.patient_file(&me, &merged.kept).await?;
    Ok(Json(MergedBody {
        patient: (&file.hit).into(),
        moved_appointments: merged.moved,
    }))
}
