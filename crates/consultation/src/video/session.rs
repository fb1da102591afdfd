//! Video sessions: who may enter an appointment's video room, when, and with what.

use crate::video::credential::Claims;
use crate::video::window::{self, RoomWindow};
use crate::video::{IcePolicy, IceServer, MAX_CREDENTIAL_LIFE};
use crate::{AppError, AppResult, Caller, Consultation, Side};
use careslot_core::error::ApiError;
use careslot_core::time::format_instant;
use careslot_store::ReservationStatus;
use jiff::Timestamp;

/// What a participant needs to join the room (the WebSocket URL is added by the HTTP layer).
#[derive(Debug, Clone)]
pub struct VideoSession {
    pub appointment: String,
    pub side: Side,
    /// Opens the room's WebSocket (the `cred.` subprotocol) until `expires_at`.
    pub credential: String,
    pub expires_at: Timestamp,
    pub ice_servers: Vec<IceServer>,
    pub ice_transport_policy: IcePolicy,
    pub start: Timestamp,
    pub end: Timestamp,
    /// The place's zone, for instants in responses.
    pub tz: jiff::tz::TimeZone,
}

impl Consultation {
    /// At the WebSocket's connect: the credential's appointment must still be a booked
    /// appointment whose room has not closed. A credential handed out before a cancellation
    /// (or a no-show mark) opens nothing.
    pub async fn room_still_open(&self, id: &str) -> AppResult<()> {
        let row = self
            .store
            .reservation(&careslot_domain::ReservationId(id.to_owned()))
            .await?
            .ok_or(AppError::NotFound("appointment"))?;
        if row.status != ReservationStatus::Booked {
            return Err(AppError::Conflict(
                "appointment-not-booked",
                "this appointment is cancelled or was missed".into(),
            ));
        }
        if window::at(row.start, row.end, self.now()) == RoomWindow::Closed {
            return Err(AppError::Conflict(
                "room-closed",
                "the video room closed at the end of the appointment".into(),
            ));
        }
        Ok(())
    }

    /// Where the room of a booked appointment `[start, end)` stands now, by the server's
    /// clock: what the pages show (the join button, the opening time) and what
    /// [`Self::video_session`] enforces.
    pub fn room_window(&self, start: Timestamp, end: Timestamp) -> RoomWindow {
        window::at(start, end, self.now())
    }

    /// The practice (practitioner or assistant) ends the video consultation from outside the
    /// call page: both sides' pages stop their call. 404 for anyone else.
    pub async fn end_video(&self, caller: &Caller, id: &str) -> AppResult<()> {
        let p = self.participation(caller, id).await?;
        if p.side != Side::Practice {
            return Err(AppError::NotFound("appointment"));
        }
        if !p.is_teleconsultation() {
            return Err(AppError::Conflict(
                "not-teleconsultation",
                "this appointment is not a video consultation".into(),
            ));
        }
        self.video.rooms.end(id);
        Ok(())
    }

    /// A session for the caller in the room of appointment `id`: 404 unless they take part
    /// in it; 409 unless it is a booked teleconsultation whose room is open now (before it
    /// opens: [`SessionError::NotOpen`], which says when).
    pub async fn video_session(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<VideoSession, SessionError> {
        let now = self.now();
        let p = self.participation(caller, id).await?;
        if !p.is_teleconsultation() {
            return Err(AppError::Conflict(
                "not-teleconsultation",
                "this appointment is not a video consultation".into(),
            )
            .into());
        }
        let row = &p.appointment.row;
        if row.status != ReservationStatus::Booked {
            return Err(AppError::Conflict(
                "appointment-not-booked",
                "this appointment is cancelled or was missed".into(),
            )
            .into());
        }
        match window::at(row.start, row.end, now) {
            RoomWindow::NotOpen(opens) => {
                let tz = self.view(&row.agenda_id).await?.tz.clone();
                return Err(SessionError::NotOpen { opens, now, tz });
            }
            RoomWindow::Closed => {
                return Err(AppError::Conflict(
                    "room-closed",
                    "the video room closed at the end of the appointment".into(),
                )
                .into())
            }
            RoomWindow::Open => {}
        }
        if let Some(patient) = &p.appointment.patient {
            self.audit(caller, &[(patient.clone(), "video.session")])
                .await?;
        }
        let cap = now.checked_add(MAX_CREDENTIAL_LIFE).unwrap_or(row.end);
        let expires_at = row.end.min(cap);
        let credential = self.video.key.sign(&Claims {
            appointment: id.to_owned(),
            account: caller.id.clone(),
            side: p.side,
            expires_unix: expires_at.as_second(),
        });
        let user = self.video.key.pseudonym(&caller.id.0);
        let tz = self.view(&row.agenda_id).await?.tz.clone();
        Ok(VideoSession {
            appointment: id.to_owned(),
            side: p.side,
            credential,
            expires_at,
            ice_servers: self.video_config.ice_servers(&user, row.end),
            ice_transport_policy: self.video_config.ice_transport_policy,
            start: row.start,
            end: row.end,
            tz,
        })
    }
}

/// Why no session was handed out.
#[derive(Debug)]
pub enum SessionError {
    /// The room is not open yet: it opens at `opens` (`now` by the server's clock).
    NotOpen {
        opens: Timestamp,
        now: Timestamp,
        tz: jiff::tz::TimeZone,
    },
    App(AppError),
}

impl From<AppError> for SessionError {
    fn from(e: AppError) -> Self {
        Self::App(e)
    }
}

impl From<SessionError> for ApiError {
    /// `room-not-open` is a 409 whose detail gives the opening instant (in the place's
    /// offset) and whose `Retry-After` is the seconds until then, so a client knows when to
    /// ask again without guessing.
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::NotOpen { opens, now, tz } => {
                let wait = opens.duration_since(now).as_secs().max(1);
                ApiError::new(
                    axum::http::StatusCode::CONFLICT,
                    "room-not-open",
                    format!(
                        "the video room opens 15 minutes before the appointment, at {}",
                        format_instant(opens, &tz)
                    ),
                )
                .retry_after(u64::try_from(wait).unwrap_or(1))
            }
            SessionError::App(e) => e.into(),
        }
    }
}
