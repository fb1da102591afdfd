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
use careslot_consultation::video::window::RoomWindow;
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
    /// The room by the server's clock: `open`, `not-open` or `closed`.
    room: &'static str,
    /// Seconds until the room opens (0 once open): the script enables "Join" then, counted
    /// from the page's load so that the browser's own clock does not matter.
    opens_in: i64,
    /// What the status line says when the page loads.
    status: String,
}

impl VideoPage<'_> {
    fn is_practice(&self) -> bool {
        self.side == "practice"
    }
    fn is_open(&self) -> bool {
        self.room == "open"
    }
}

/// The "join" part of an appointment page (patient's or practice's): the button from the
/// room's opening (15 minutes before the start, by the server's clock), before that the
/// opening time and a countdown the script turns into the button without a reload.
pub struct JoinVideo {
    pub href: String,
    pub open: bool,
    /// Seconds until the room opens (0 once open).
    pub opens_in: i64,
    /// "The room opens at 14:45 …", in the place's time.
    pub opens_text: String,
}

/// The join part for a booked teleconsultation whose room has not closed; `None` otherwise.
pub fn join_video(
    ctx: &Ctx,
    row: &careslot_store::ReservationRow,
    tz: &jiff::tz::TimeZone,
    teleconsultation: bool,
    href: String,
) -> Option<JoinVideo> {
    if !teleconsultation || row.status != careslot_store::ReservationStatus::Booked {
        return None;
    }
    let (open, opens) = match ctx.app.consultation.room_window(row.start, row.end) {
        RoomWindow::Closed => return None,
        RoomWindow::Open => (true, ctx.app.now()),
        RoomWindow::NotOpen(opens) => (false, opens),
    };
    Some(JoinVideo {
        href,
        open,
        opens_in: opens.duration_since(ctx.app.now()).as_secs().max(0),
        opens_text: opens_text(ctx, opens, tz),
    })
}

fn opens_text(ctx: &Ctx, opens: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> String {
    let z = opens.to_zoned(tz.clone());
    let today = ctx.app.now().to_zoned(tz.clone()).date();
    let time = if z.date() == today {
        ctx.lang.time(&z)
    } else {
        ctx.lang.date_time(&z)
    };
    ctx.t("video.opens_at").replace("{time}", &time)
}

/// The room's state for the page: its slug, the seconds until it opens, the first status.
fn room_state(
    ctx: &Ctx,
    row: &careslot_store::ReservationRow,
    tz: &jiff::tz::TimeZone,
) -> (&'static str, i64, String) {
    match ctx.app.consultation.room_window(row.start, row.end) {
        RoomWindow::Open => ("open", 0, ctx.t("video.status.ready").to_owned()),
        RoomWindow::Closed => ("closed", 0, ctx.t("video.status.room-closed").to_owned()),
        RoomWindow::NotOpen(opens) => (
            "not-open",
            opens.duration_since(ctx.app.now()).as_secs().max(1),
            opens_text(ctx, opens, tz),
        ),
    }
}

fn messages(ctx: &Ctx) -> Vec<(&'static str, &'static str)> {
    vec![
        ("ready", ctx.t("video.status.ready")),
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
        ("ended-by-practice", ctx.t("video.status.ended-by-practice")),
        ("patient-left", ctx.t("video.status.patient-left")),
        ("replaced", ctx.t("video.status.replaced")),
        ("room-not-open", ctx.t("video.status.room-not-open")),
        ("room-opening", ctx.t("video.status.room-opening")),
        ("room-closed", ctx.t("video.status.room-closed")),
        (
            "appointment-not-booked",
            ctx.t("video.status.appointment-not-booked"),
        ),
        ("error", ctx.t("video.status.error")),
        ("waiting-since", ctx.t("video.waiting_since")),
        ("media-error", ctx.t("video.media_error")),
        ("device-default", ctx.t("video.device_default")),
        ("device-check", ctx.t("video.device_check")),
        ("device-check-stop", ctx.t("video.device_check_stop")),
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
    let (room, opens_in, status) = room_state(&ctx, &p.appointment.row, &view.tz);
    let page = VideoPage {
        tz: view.tz.iana_name().unwrap_or("UTC").to_owned(),
        ctx: &ctx,
        room,
        opens_in,
        status,
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
    let (room, opens_in, status) = room_state(&ctx, &d.appointment.row, &view.tz);
    let page = VideoPage {
        tz: view.tz.iana_name().unwrap_or("UTC").to_owned(),
        ctx: &ctx,
        room,
        opens_in,
        status,
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

/// The practice ends the video consultation from the appointment page (a form, no script
/// needed): both sides' call pages stop their media.
pub async fn end(mut ctx: Ctx, Path(id): Path<String>, _form: Form) -> PageResult {
    let caller = ctx.caller()?.clone();
    ctx.ok(ctx.app.consultation.end_video(&caller, &id).await)?;
    Ok(ctx.redirect_with(&format!("/pro/appointments/{id}"), "flash.video_ended"))
}
