//! Video consultations: the session endpoint and the room's signalling WebSocket.

use super::extract::{ApiPath, Caller};
use crate::video::credential::Claims;
use crate::video::room::{self, After, ClientMsg, Out};
use crate::video::{IcePolicy, IceServer, CREDENTIAL_PREFIX, PROTOCOL};
use crate::{Consultation, VideoSession};
use axum::extract::ws::{
    rejection::WebSocketUpgradeRejection, CloseFrame, Message, WebSocket, WebSocketUpgrade,
};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use careslot_core::error::{ApiError, Problem};
use careslot_core::time::format_instant;
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use utoipa::ToSchema;

/// Largest signalling message accepted (an SDP offer is a few KB).
const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// How long a new connection has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Pings keep proxies from closing idle connections and reveal dead ones.
const PING_EVERY: Duration = Duration::from_secs(20);
/// Close code sent when the node stops: "service restart" (RFC 6455 registry), reconnect.
const CLOSE_SERVICE_RESTART: u16 = 1012;

/// Close code sent to a connection replaced by a newer one of the same side.
const CLOSE_REPLACED: u16 = 4001;

/// What a participant needs to join the video room.
#[derive(Debug, Serialize, ToSchema)]
pub struct VideoSessionBody {
    /// The room's signalling WebSocket.
    pub ws_url: String,
    /// `RTCConfiguration.iceServers`: STUN, and TURN with credentials valid until a while
    /// after the room closes (TURN REST API: `username` = `<expiry>:<opaque id>`).
    pub ice_servers: Vec<IceServer>,
    /// When `credential` stops opening the WebSocket (at the latest, the end of the slot).
    pub expires_at: String,
    /// Offer it as a WebSocket subprotocol `cred.<credential>` next to `protocol`.
    pub credential: String,
    /// The subprotocol to offer (and that the server echoes): `careslot.v1`.
    pub protocol: &'static str,
    /// `all`, or `relay` when the installation hides the participants' addresses from
    /// each other (TURN relays only): pass it as `RTCConfiguration.iceTransportPolicy`.
    pub ice_transport_policy: IcePolicy,
    /// `patient` or `practice`: the caller's side of the room.
    pub side: &'static str,
    pub start: String,
    pub end: String,
}

impl VideoSessionBody {
    pub fn new(s: VideoSession, headers: &HeaderMap) -> Self {
        let base = careslot_scheduling::api::bulk_publish::base_url(headers);
        let ws_base = match base.strip_prefix("https://") {
            Some(rest) => format!("wss://{rest}"),
            None => format!("ws://{}", base.trim_start_matches("http://")),
        };
        Self {
            ws_url: format!(
                "{ws_base}/api/v1/appointments/{}/video-session/ws",
                s.appointment
            ),
            ice_servers: s.ice_servers,
            expires_at: format_instant(s.expires_at, &s.tz),
            credential: s.credential,
            protocol: PROTOCOL,
            ice_transport_policy: s.ice_transport_policy,
            side: room::side_name(s.side),
            start: format_instant(s.start, &s.tz),
            end: format_instant(s.end, &s.tz),
        }
    }
}

/// Join the video room of a teleconsultation: for the appointment's patient and its
/// practitioner (or their assistant), from 15 minutes before the start (by the server's
/// clock) to the end of the slot. Connect to `ws_url` offering the subprotocols `careslot.v1` and
/// `cred.<credential>`; the server answers `careslot.v1`.
#[utoipa::path(post, path = "/api/v1/appointments/{id}/video-session", tag = "teleconsultation",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "appointment id")),
    responses((status = 200, body = VideoSessionBody),
              (status = 401, body = Problem),
              (status = 404, description = "no such appointment, or the caller takes no part in it", body = Problem),
              (status = 409, description = "`not-teleconsultation`, `appointment-not-booked`, `room-not-open` (the room opens 15 minutes before the start: the detail gives the instant and `Retry-After` the seconds until then) or `room-closed`", body = Problem),
              (status = 503, body = Problem)))]
pub async fn session(
    State(app): State<Arc<Consultation>>,
    Caller(me): Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Json<VideoSessionBody>, ApiError> {
    let s = app.video_session(&me, &id).await?;
    Ok(Json(VideoSessionBody::new(s, &headers)))
}

/// The credential offered in `Sec-WebSocket-Protocol` (`cred.<token>`), if any.
fn offered_credential(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find_map(|p| p.strip_prefix(CREDENTIAL_PREFIX))
}

fn refused() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "video-credential-required",
        "offer the video session's credential as the subprotocol cred.<credential>",
    )
}

/// The room's signalling WebSocket. Refused before the upgrade (no 101) without a valid,
/// unexpired credential issued for this appointment.
#[utoipa::path(get, path = "/api/v1/appointments/{id}/video-session/ws", tag = "teleconsultation",
    params(("id" = String, Path, description = "appointment id"),
           ("Sec-WebSocket-Protocol" = String, Header, description = "`careslot.v1, cred.<credential>`")),
    responses((status = 101, description = "WebSocket of the room (JSON messages: hello, admit, signal, hangup; state, signal, hangup, replaced)"),
              (status = 400, description = "not a WebSocket upgrade", body = Problem),
              (status = 401, description = "no valid credential", body = Problem),
              (status = 404, description = "the credential is for another appointment", body = Problem)))]
pub async fn socket(
    State(app): State<Arc<Consultation>>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let token = offered_credential(&headers).ok_or_else(refused)?;
    let claims = app
        .video
        .key
        .verify(token, app.now().as_second())
        .map_err(|_| refused())?;
    if claims.appointment != id {
        return Err(ApiError::not_found("appointment"));
    }
    // The credential outlives nothing: checked against the appointment as it is now.
    app.room_still_open(&claims.appointment).await?;
    let upgrade = upgrade.map_err(|_| {
        ApiError::bad_request(
            "this endpoint only accepts a WebSocket upgrade (GET with Upgrade: websocket)",
        )
    })?;
    Ok(upgrade
        .protocols([PROTOCOL])
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |ws| run(ws, app, claims)))
}

async fn close(
    ws: &mut futures::stream::SplitSink<WebSocket, Message>,
    code: u16,
    reason: &'static str,
) {
    let _ = ws
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// One connection: wait for hello, take the seat, then pump both ways until either ends.
async fn run(ws: WebSocket, app: Arc<Consultation>, claims: Claims) {
    // Counted, so that a stopping node waits (within its bound) for the close frame to go.
    let _open = app.shutdown.track();
    let (mut sink, mut stream) = ws.split();
    let instance = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str::<ClientMsg>(t.as_str()) {
            Ok(ClientMsg::Hello { instance }) if room::valid_instance(&instance) => instance,
            _ => return close(&mut sink, 1008, "say hello first").await,
        },
        _ => return close(&mut sink, 1008, "say hello first").await,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Out>(64);
    let rooms = &app.video.rooms;
    let seat = rooms.join(&claims.appointment, claims.side, instance, tx, app.now());
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    // The node is stopping (SIGTERM): tell the peer to reconnect (to another node, or to
    // this one once restarted) instead of letting the connection drop.
    let stopping = app.shutdown.wait();
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            _ = &mut stopping => {
                close(&mut sink, CLOSE_SERVICE_RESTART, "service restart").await;
                break;
            }
            out = rx.recv() => match out {
                Some(Out::Text(t)) => {
                    if sink.send(Message::Text(t.into())).await.is_err() { break }
                }
                Some(Out::Close) | None => {
                    close(&mut sink, CLOSE_REPLACED, "replaced").await;
                    break;
                }
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => match serde_json::from_str::<ClientMsg>(t.as_str()) {
                    Ok(m) => {
                        if rooms.receive(&seat, m) == After::Close {
                            // Flush what the room queued for us (none expected), then close.
                            close(&mut sink, 1000, "hung up").await;
                            break;
                        }
                    }
                    Err(_) => tracing::debug!("video: unreadable signalling message ignored"),
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() { break }
            }
        }
    }
    rooms.leave(&seat);
}
