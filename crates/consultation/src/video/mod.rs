//! Video consultations (issue #7): one WebRTC room per teleconsultation appointment.
//!
//! - `POST /api/v1/appointments/{id}/video-session` gives a participant the WebSocket URL,
//!   the ICE servers (STUN, and TURN with time-limited credentials, see [`turn`]) and a
//!   signed room credential ([`credential`]).
//! - The WebSocket (`crate::api::video`) refuses the upgrade without a valid credential for
//!   that appointment; behind it, [`room`] keeps the room in this node's memory: the waiting
//!   room, the practice's admission, and the relay of SDP and ICE candidates.
//! - A room opens [`OPENS_BEFORE`] before the appointment and closes at the end of its slot
//!   ([`window`]); calls already running are not cut at the close.

pub mod credential;
pub mod room;
mod session;
pub mod turn;

pub use session::{SessionError, VideoSession};

use careslot_vault::SecretToken;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use utoipa::ToSchema;

/// The subprotocol the pages and clients speak (echoed back by the server).
pub const PROTOCOL: &str = "careslot.v1";
/// Prefix of the subprotocol entry that carries the credential.
pub const CREDENTIAL_PREFIX: &str = "cred.";
/// How long before the start a room opens.
pub const OPENS_BEFORE: SignedDuration = SignedDuration::from_mins(15);
/// Longest life of a room credential, whatever the slot's length.
pub const MAX_CREDENTIAL_LIFE: SignedDuration = SignedDuration::from_hours(4);

/// Which ICE candidates the browsers may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IcePolicy {
    /// Direct, reflexive and relayed candidates (best quality).
    #[default]
    All,
    /// Only TURN relays: neither side learns the other's IP address.
    Relay,
}

impl std::str::FromStr for IcePolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "relay" => Ok(Self::Relay),
            _ => Err("expected `all` or `relay`".into()),
        }
    }
}

/// `careslot serve --stun-url/--turn-url/--turn-secret-file/...`.
#[derive(Clone, Default)]
pub struct VideoConfig {
    /// `stun:host:port` URLs given to the browsers.
    pub stun_urls: Vec<String>,
    /// `turn:`/`turns:` URLs of TURN servers sharing `turn_secret`.
    pub turn_urls: Vec<String>,
    /// The TURN REST API shared secret (coturn's `static-auth-secret`).
    pub turn_secret: Option<Arc<SecretToken>>,
    /// How long TURN credentials outlive the room's close, so that a call that runs over
    /// its slot keeps its relay (TURN refreshes its allocations with the same credential).
    pub turn_grace: SignedDuration,
    pub ice_transport_policy: IcePolicy,
    /// Key that signs room credentials; `None`: random per process.
    pub secret: Option<Arc<SecretToken>>,
}

impl fmt::Debug for VideoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VideoConfig")
            .field("stun_urls", &self.stun_urls)
            .field("turn_urls", &self.turn_urls)
            .field(
                "turn_secret",
                &self.turn_secret.as_ref().map(|_| "**redacted**"),
            )
            .field("turn_grace", &self.turn_grace)
            .field("ice_transport_policy", &self.ice_transport_policy)
            .field("secret", &self.secret.as_ref().map(|_| "**redacted**"))
            .finish()
    }
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl VideoConfig {
    /// The ICE servers for `user` (an opaque id), TURN credentials valid until `until`.
    pub fn ice_servers(&self, user: &str, until: Timestamp) -> Vec<IceServer> {
        let mut out = Vec::new();
        if !self.stun_urls.is_empty() {
            out.push(IceServer {
                urls: self.stun_urls.clone(),
                username: None,
                credential: None,
            });
        }
        if let (false, Some(secret)) = (self.turn_urls.is_empty(), &self.turn_secret) {
            let expiry = until.saturating_add(self.turn_grace).unwrap_or(until);
            let Some(c) = turn::derive(secret.expose().as_bytes(), expiry.as_second(), user) else {
                return out;
            };
            out.push(IceServer {
                urls: self.turn_urls.clone(),
                username: Some(c.username),
                credential: Some(c.credential),
            });
        }
        out
    }
}

/// Where a room stands at an instant.
pub mod window {
    use super::OPENS_BEFORE;
    use jiff::Timestamp;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RoomWindow {
        /// Opens at this instant.
        NotOpen(Timestamp),
        Open,
        Closed,
    }

    /// The room of an appointment `[start, end)` at `now`: open from 15 minutes before the
    /// start until the end of the slot.
    pub fn at(start: Timestamp, end: Timestamp, now: Timestamp) -> RoomWindow {
        let opens = start.saturating_sub(OPENS_BEFORE).unwrap_or(start);
        if now < opens {
            RoomWindow::NotOpen(opens)
        } else if now >= end {
            RoomWindow::Closed
        } else {
            RoomWindow::Open
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use jiff::SignedDuration;

        #[test]
        fn opens_fifteen_minutes_before_and_closes_at_the_end() {
            let start: Timestamp = "2026-03-29T08:00:00Z".parse().unwrap_or_default();
            let end = start + SignedDuration::from_mins(20);
            let m = |n: i64| start + SignedDuration::from_secs(n * 60);
            let opens = m(-15);
            assert_eq!(at(start, end, m(-16)), RoomWindow::NotOpen(opens));
            assert_eq!(
                at(start, end, opens - SignedDuration::from_secs(1)),
                RoomWindow::NotOpen(opens)
            );
            assert_eq!(at(start, end, opens), RoomWindow::Open);
            assert_eq!(at(start, end, m(0)), RoomWindow::Open);
            assert_eq!(
                at(start, end, end - SignedDuration::from_secs(1)),
                RoomWindow::Open
            );
            assert_eq!(at(start, end, end), RoomWindow::Closed);
            assert_eq!(at(start, end, m(600)), RoomWindow::Closed);
        }
    }
}

/// The node's video rooms and the key of their credentials.
pub struct Video {
    pub key: credential::CredentialKey,
    pub rooms: Arc<room::Rooms>,
}

impl Video {
    /// With a signal bus (several nodes on PostgreSQL), the rooms relay their events to the
    /// other nodes, so the two sides of a call may connect to different nodes.
    pub fn new(config: &VideoConfig, bus: Option<Arc<dyn careslot_store::SignalBus>>) -> Self {
        let rooms = Arc::new(room::Rooms::default());
        if let Some(bus) = bus {
            rooms.relay(bus);
        }
        Self {
            key: match &config.secret {
                Some(s) => credential::CredentialKey::new(s.expose().as_bytes()),
                None => credential::CredentialKey::random(),
            },
            rooms,
        }
    }
}
