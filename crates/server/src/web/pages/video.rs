//! The video consultation page, for the patient (`/appointments/{id}/video`) and for the
//! practice (`/pro/appointments/{id}/video`): local preview, device choice, mute, camera
//! off, hang-up, the waiting room and the practice's "Admit". The page's script
//! (`static/video.js`) asks `POST /appointments/{id}/video/session` for the room's
//! credential, then speaks to the room's WebSocket.

use crate::services::{AppError, Side};
use crate::web::context::{Ctx, Form, PageResult};
use askama::Template;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use careslot_consultation::api::video::VideoSessionBody;
use careslot_core::error::ApiError;

/// Browsers refuse the camera and microphone unless the page's policy allows them; every
/// other page keeps them off.
const PERMISSIONS: &str = "camera=(self), microphone=(self), geolocation=(), payment=()";

#[derive(Template)]
#[template(path = "video.html")]
struct VideoPage<'a> {
    ctx: &'a Ctx,
    id: String,
    side: &'static str,
    when: String,
    /// The other participant: the practitioner (patient side), the patient (practice side).
    other: String,
    back: String,
    /// The place's IANA zone: times on the page are the place's.
    tz: String,
    /// Status texts the script shows, by slug (`data-msg-<slug>`).
    messages: Vec<(&'static str, &'static str)>,
}

impl VideoPage<'_> {
    fn is_practice(&self) -> bool {
        self.side == "practice"
    }
}

fn messages(ctx: &Ctx) -> Vec<(&'static str, &'static str)> {
    vec![
        ("starting", ctx.t("video.status.starting")),
        ("joining", ctx.t("video.status.joining")),
        ("waiting", ctx.t("video.status.waiting")),
        (
            "waiting-for-patient",
            ctx.t("video.status.waiting-for-patient"),
        ),
        ("patient-waiting", ctx.t("video.status.patient-waiting")),
        ("connecting", ctx.t("video.status.connecting")),
        ("connected", ctx.t("video.status.connected")),
        ("reconnecting", ctx.t("video.status.reconnecting")),
        ("peer-away", ctx.t("video.status.peer-away")),
        ("ended", ctx.t("video.status.ended")),
        ("ended-by-peer", ctx.t("video.status.ended-by-peer")),
        ("patient-left", ctx.t("video.status.patient-left")),
        ("replaced", ctx.t("video.status.replaced")),
        ("room-not-open", ctx.t("video.status.room-not-open")),
        ("room-closed", ctx.t("video.status.room-closed")),
        (
            "appointment-not-booked",
            ctx.t("video.status.appointment-not-booked"),
        ),
        ("error", ctx.t("video.status.error")),
        ("waiting-since", ctx.t("video.waiting_since")),
        ("media-error", ctx.t("video.media_error")),
        ("device-default", ctx.t("video.device_default")),
    ]
}

fn with_permissions(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(PERMISSIONS),
    );
    resp
}

/// The patient's side of the room.
pub async fn patient(ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let caller = ctx.caller()?;
    let p = ctx.ok(ctx.app.participation(caller, &id).await)?;
    if p.side != Side::Patient || !p.is_teleconsultation() {
        return Err(ctx.fail(AppError::NotFound("appointment")));
    }
    let relatives = ctx.ok(ctx.app.relatives(caller).await)?;
    let s = ctx.ok(ctx.summary(&p.appointment, &relatives).await)?;
    let view = ctx.ok(ctx.app.view(&p.appointment.row.agenda_id).await)?;
    let page = VideoPage {
        tz: view.tz.iana_name().unwrap_or("UTC").to_owned(),
        ctx: &ctx,
        side: "patient",
        when: s.when,
        other: s.practitioner,
        back: format!("/appointments/{id}"),
        messages: messages(&ctx),
        id,
    };
    Ok(with_permissions(ctx.page(&page)))
}

/// The practice's side of the room (the practitioner or an assistant).
pub async fn practice(ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let caller = ctx.caller()?;
    let p = ctx.ok(ctx.app.participation(caller, &id).await)?;
    if p.side != Side::Practice || !p.is_teleconsultation() {
        return Err(ctx.fail(AppError::NotFound("appointment")));
    }
    let d = ctx.ok(ctx.app.desk_appointment(caller, &id).await)?;
    let view = ctx.ok(ctx.app.view(&d.appointment.row.agenda_id).await)?;
    let z = d.appointment.row.start.to_zoned(view.tz.clone());
    let page = VideoPage {
        tz: view.tz.iana_name().unwrap_or("UTC").to_owned(),
        ctx: &ctx,
        side: "practice",
        when: ctx.lang.date_time(&z),
        other: d
            .patient_name
            .unwrap_or_else(|| ctx.t("desk.anonymous").to_owned()),
        back: format!("/pro/appointments/{id}"),
        messages: messages(&ctx),
        id,
    };
    Ok(with_permissions(ctx.page(&page)))
}

/// The room's credential for the signed-in participant (the same JSON as the API's
/// `POST /api/v1/appointments/{id}/video-session`), for the page's script. A form post with
/// the CSRF token, so another site cannot obtain it.
pub async fn session(
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    _form: Form,
) -> Response {
    let Some(user) = &ctx.user else {
        return ApiError::from(AppError::Unauthenticated).into_response();
    };
    match ctx.app.consultation.video_session(&user.caller, &id).await {
        Ok(s) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(VideoSessionBody::new(s, &headers)),
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
