//! Rooms in this node's memory: who is connected on each side, whether the patient has
//! been admitted, and the relay of signalling messages (SDP offers and answers, ICE
//! candidates) between the two sides. The transport (the WebSocket) is elsewhere: a
//! connection joins with a channel, hands over what it receives, and forwards what the
//! channel yields.
//!
//! A room lives on one node: run one node, or route the video WebSocket and the
//! video-session request by appointment id to the same node (the id is in both paths).
//!
//! Protocol (JSON text messages), client to server:
//! - `{"type":"hello","instance":"<page id>"}` first, once: the page instance (a reloaded
//!   page is a new instance, so the other side starts a fresh peer connection);
//! - `{"type":"admit"}` (practice side): let the waiting patient in;
//! - `{"type":"signal","data":{...}}`: relayed as is to the other side while in a call;
//! - `{"type":"hangup"}`: ends the call (the patient then waits again if they come back).
//!
//! Server to client: `{"type":"state", admitted, peer_present, in_call, peer_instance,
//! waiting:[{since}]}` after every change, `{"type":"signal","data":...}`,
//! `{"type":"hangup"}` (the other side hung up), `{"type":"replaced"}` (a newer connection
//! of the same side took over, e.g. after a network drop) before the server closes.

use crate::Side;
use jiff::Timestamp;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// What a connection is asked to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Text(String),
    /// Send a close frame and stop.
    Close,
}

/// Messages from a client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ClientMsg {
    Hello { instance: String },
    Admit,
    Signal { data: serde_json::Value },
    Hangup,
}

#[derive(Debug, Serialize)]
struct Waiting {
    since: Timestamp,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum ServerMsg<'a> {
    State {
        side: &'static str,
        admitted: bool,
        peer_present: bool,
        in_call: bool,
        peer_instance: Option<&'a str>,
        /// Practice side: the patient waiting to be admitted (at most one per room).
        #[serde(skip_serializing_if = "Option::is_none")]
        waiting: Option<Vec<Waiting>>,
    },
    Signal {
        data: &'a serde_json::Value,
    },
    Hangup,
    Replaced,
}

fn text(m: &ServerMsg<'_>) -> Out {
    Out::Text(serde_json::to_string(m).unwrap_or_default())
}

/// Whether a page instance id is acceptable: 1–64 characters of `[A-Za-z0-9_-]`.
pub fn valid_instance(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

struct Member {
    conn: u64,
    instance: String,
    tx: mpsc::Sender<Out>,
    joined: Timestamp,
}

#[derive(Default)]
struct Room {
    patient: Option<Member>,
    practice: Option<Member>,
    admitted: bool,
}

impl Room {
    fn member(&self, side: Side) -> &Option<Member> {
        match side {
            Side::Patient => &self.patient,
            Side::Practice => &self.practice,
        }
    }
    fn member_mut(&mut self, side: Side) -> &mut Option<Member> {
        match side {
            Side::Patient => &mut self.patient,
            Side::Practice => &mut self.practice,
        }
    }
    fn in_call(&self) -> bool {
        self.admitted && self.patient.is_some() && self.practice.is_some()
    }

    /// Tells both sides where the room stands.
    fn broadcast(&self) {
        for side in [Side::Patient, Side::Practice] {
            let Some(me) = self.member(side) else {
                continue;
            };
            let peer = self.member(other(side)).as_ref();
            let waiting = (side == Side::Practice).then(|| match &self.patient {
                Some(p) if !self.admitted => vec![Waiting { since: p.joined }],
                _ => Vec::new(),
            });
            send(
                me,
                text(&ServerMsg::State {
                    side: side_name(side),
                    admitted: self.admitted,
                    peer_present: peer.is_some(),
                    in_call: self.in_call(),
                    peer_instance: peer.map(|p| p.instance.as_str()),
                    waiting,
                }),
            );
        }
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Patient => Side::Practice,
        Side::Practice => Side::Patient,
    }
}

pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::Patient => "patient",
        Side::Practice => "practice",
    }
}

/// A slow or gone reader loses messages rather than growing a queue; the page reconnects
/// and renegotiates if it missed something that mattered.
fn send(m: &Member, out: Out) {
    if m.tx.try_send(out).is_err() {
        tracing::debug!("video: a connection's queue is full or closed; message dropped");
    }
}

/// A joined connection: what [`Rooms::leave`] and [`Rooms::receive`] need.
#[derive(Debug, Clone)]
pub struct Seat {
    pub appointment: String,
    pub side: Side,
    pub conn: u64,
}

/// What the connection should do after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    Continue,
    /// Hung up: close the connection.
    Close,
}

/// All rooms of this node.
#[derive(Default)]
pub struct Rooms {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<String, Room>,
    next_conn: u64,
}

impl Rooms {
    /// Seats a connection on its side of the room; a previous connection of the same side
    /// (a dropped network, a second tab) is told it was replaced and closed.
    pub fn join(
        &self,
        appointment: &str,
        side: Side,
        instance: String,
        tx: mpsc::Sender<Out>,
        now: Timestamp,
    ) -> Seat {
        let mut inner = self.inner.lock();
        inner.next_conn += 1;
        let conn = inner.next_conn;
        let room = inner.rooms.entry(appointment.to_owned()).or_default();
        let slot = room.member_mut(side);
        // A patient who reconnects keeps their place in the queue.
        let joined = slot.as_ref().map_or(now, |m| m.joined);
        if let Some(old) = slot.take() {
            send(&old, text(&ServerMsg::Replaced));
            send(&old, Out::Close);
        }
        *slot = Some(Member {
            conn,
            instance,
            tx,
            joined,
        });
        room.broadcast();
        Seat {
            appointment: appointment.to_owned(),
            side,
            conn,
        }
    }

    /// The connection is gone (closed, dropped, replaced). The admission survives a drop so
    /// that a reconnecting patient goes straight back into the call.
    pub fn leave(&self, seat: &Seat) {
        let mut inner = self.inner.lock();
        let Some(room) = inner.rooms.get_mut(&seat.appointment) else {
            return;
        };
        let slot = room.member_mut(seat.side);
        if slot.as_ref().is_some_and(|m| m.conn == seat.conn) {
            *slot = None;
            room.broadcast();
        }
        if room.patient.is_none() && room.practice.is_none() {
            inner.rooms.remove(&seat.appointment);
        }
    }

    /// A message from a seated connection.
    pub fn receive(&self, seat: &Seat, msg: ClientMsg) -> After {
        let mut inner = self.inner.lock();
        let Some(room) = inner.rooms.get_mut(&seat.appointment) else {
            return After::Close;
        };
        let seated = room
            .member(seat.side)
            .as_ref()
            .is_some_and(|m| m.conn == seat.conn);
        if !seated {
            // Replaced meanwhile.
            return After::Close;
        }
        match msg {
            ClientMsg::Hello { .. } => After::Continue,
            ClientMsg::Admit => {
                if seat.side == Side::Practice && room.patient.is_some() && !room.admitted {
                    room.admitted = true;
                    room.broadcast();
                }
                After::Continue
            }
            ClientMsg::Signal { data } => {
                if room.in_call() {
                    if let Some(peer) = room.member(other(seat.side)) {
                        send(peer, text(&ServerMsg::Signal { data: &data }));
                    }
                }
                After::Continue
            }
            ClientMsg::Hangup => {
                room.admitted = false;
                if let Some(peer) = room.member(other(seat.side)) {
                    send(peer, text(&ServerMsg::Hangup));
                }
                *room.member_mut(seat.side) = None;
                room.broadcast();
                if room.patient.is_none() && room.practice.is_none() {
                    inner.rooms.remove(&seat.appointment);
                }
                After::Close
            }
        }
    }

    /// Rooms with someone in them on this node (for metrics and tests).
    pub fn open_rooms(&self) -> usize {
        self.inner.lock().rooms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn chan() -> (mpsc::Sender<Out>, mpsc::Receiver<Out>) {
        mpsc::channel(32)
    }

    fn drain(rx: &mut mpsc::Receiver<Out>) -> Vec<Value> {
        let mut v = Vec::new();
        while let Ok(m) = rx.try_recv() {
            v.push(match m {
                Out::Text(t) => serde_json::from_str(&t).unwrap_or(Value::Null),
                Out::Close => json!({"type": "close"}),
            });
        }
        v
    }

    fn last_state(msgs: &[Value]) -> Value {
        msgs.iter()
            .rev()
            .find(|m| m["type"] == "state")
            .cloned()
            .unwrap_or(Value::Null)
    }

    #[test]
    fn waiting_admission_relay_hangup() {
        let rooms = Rooms::default();
        let now = Timestamp::UNIX_EPOCH;
        let (ptx, mut prx) = chan();
        let (dtx, mut drx) = chan();
        let pat = rooms.join("a1", Side::Patient, "p1".into(), ptx, now);
        let s = last_state(&drain(&mut prx));
        assert_eq!(
            (s["admitted"].clone(), s["peer_present"].clone()),
            (json!(false), json!(false))
        );

        let doc = rooms.join("a1", Side::Practice, "d1".into(), dtx, now);
        let s = last_state(&drain(&mut drx));
        assert_eq!(s["waiting"].as_array().map(Vec::len), Some(1));
        assert_eq!(s["in_call"], false);
        assert_eq!(s["peer_instance"], "p1");

        // Nothing is relayed before admission; a patient cannot admit themselves.
        drain(&mut prx);
        rooms.receive(&pat, ClientMsg::Admit);
        rooms.receive(
            &doc,
            ClientMsg::Signal {
                data: json!({"x": 1}),
            },
        );
        assert!(drain(&mut prx).is_empty());

        rooms.receive(&doc, ClientMsg::Admit);
        assert_eq!(last_state(&drain(&mut prx))["in_call"], true);
        let s = last_state(&drain(&mut drx));
        assert_eq!(
            (s["in_call"].clone(), s["waiting"].clone()),
            (json!(true), json!([]))
        );

        rooms.receive(
            &doc,
            ClientMsg::Signal {
                data: json!({"sdp": "o"}),
            },
        );
        assert_eq!(
            drain(&mut prx),
            vec![json!({"type": "signal", "data": {"sdp": "o"}})]
        );
        rooms.receive(
            &pat,
            ClientMsg::Signal {
                data: json!({"sdp": "a"}),
            },
        );
        assert_eq!(
            drain(&mut drx),
            vec![json!({"type": "signal", "data": {"sdp": "a"}})]
        );

        // A network drop: the patient comes back on a new connection, still admitted.
        let (ptx2, mut prx2) = chan();
        let pat2 = rooms.join("a1", Side::Patient, "p1".into(), ptx2, now);
        let old = drain(&mut prx);
        assert_eq!(
            old,
            vec![json!({"type": "replaced"}), json!({"type": "close"})]
        );
        rooms.leave(&pat); // the old connection's end changes nothing
        assert_eq!(last_state(&drain(&mut prx2))["in_call"], true);
        assert_eq!(
            rooms.receive(&pat, ClientMsg::Signal { data: json!(1) }),
            After::Close
        );

        // The practice hangs up: the patient is told and is no longer admitted.
        drain(&mut drx);
        assert_eq!(rooms.receive(&doc, ClientMsg::Hangup), After::Close);
        let msgs = drain(&mut prx2);
        assert_eq!(msgs[0], json!({"type": "hangup"}));
        let s = last_state(&msgs);
        assert_eq!(
            (s["admitted"].clone(), s["peer_present"].clone()),
            (json!(false), json!(false))
        );
        rooms.leave(&pat2);
        assert_eq!(rooms.open_rooms(), 0);
    }

    #[test]
    fn rooms_are_apart() {
        let rooms = Rooms::default();
        let now = Timestamp::UNIX_EPOCH;
        let (ptx, mut prx) = chan();
        let (dtx, _drx) = chan();
        rooms.join("a1", Side::Patient, "p".into(), ptx, now);
        let doc = rooms.join("a2", Side::Practice, "d".into(), dtx, now);
        drain(&mut prx);
        rooms.receive(&doc, ClientMsg::Admit);
        assert!(drain(&mut prx).is_empty());
        assert_eq!(rooms.open_rooms(), 2);
    }

    #[test]
    fn instance_ids() {
        assert!(valid_instance("abc-DEF_09"));
        assert!(!valid_instance(""));
        assert!(!valid_instance("a b"));
        assert!(!valid_instance(&"a".repeat(65)));
    }
}
