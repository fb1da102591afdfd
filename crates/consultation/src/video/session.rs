//! Video sessions: who may enter an appointment's video room, when, and with what.

use crate::video::credential::Claims;
use crate::video::window::{self, RoomWindow};
use crate::video::{IcePolicy, IceServer, MAX_CREDENTIAL_LIFE};
use crate::{AppError, AppResult, Caller, Consultation, Side};
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
        if window::at(row.start, row.end, Timestamp::now()) == RoomWindow::Closed {
            return Err(AppError::Conflict(
                "room-closed",
                "the video room closed at the end of the appointment".into(),
            ));
        }
        Ok(())
    }

    /// A session for the caller in the room of appointment `id`: 404 unless they take part
    /// in it; 409 unless it is a booked teleconsultation whose room is open now.
    pub async fn video_session(&self, caller: &Caller, id: &str) -> AppResult<VideoSession> {
        let now = Timestamp::now();
        let p = self.participation(caller, id).await?;
        if !p.is_teleconsultation() {
            return Err(AppError::Conflict(
                "not-teleconsultation",
                "this appointment is not a video consultation".into(),
            ));
        }
        let row = &p.appointment.row;
        if row.status != ReservationStatus::Booked {
            return Err(AppError::Conflict(
                "appointment-not-booked",
                "this appointment is cancelled or was missed".into(),
            ));
        }
        match window::at(row.start, row.end, now) {
            RoomWindow::NotOpen(opens) => {
                return Err(AppError::Conflict(
                    "room-not-open",
                    format!("the video room opens 15 minutes before the appointment, at {opens}"),
                ))
            }
            RoomWindow::Closed => {
                return Err(AppError::Conflict(
                    "room-closed",
                    "the video room closed at the end of the appointment".into(),
                ))
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
