//! Rooms in this node's memory: who is connected on each side, whether the patient has
//! been admitted, and the relay of signalling messages (SDP offers and answers, ICE
//! candidates) between the two sides. The transport (the WebSocket) is elsewhere: a
//! connection joins with a channel, hands over what it receives, and forwards what the
//! channel yields.
//!
//! With several nodes on one PostgreSQL database, the two sides of a call may land on
//! different nodes: each node keeps its own connections and mirrors the other nodes' ones
//! from the room events they publish on the database's signal bus (joined, present, left,
//! admitted, signal, hung up); a signal for a peer on another node is relayed that way.
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
//! `{"type":"hangup"}` (the other side hung up), `{"type":"ended"}` (the practice ended the
//! consultation from the desk: both sides stop), `{"type":"replaced"}` (a newer connection
//! of the same side took over, e.g. after a network drop) before the server closes.

use crate::Side;
use careslot_store::SignalBus;
use jiff::Timestamp;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
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
    /// The practice ended the consultation from the desk.
    Ended,
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

/// A side connected to another node (known from its announcements).
#[derive(Clone)]
struct Remote {
    node: String,
    instance: String,
    joined: Timestamp,
}

#[derive(Default)]
struct Room {
    patient: Option<Member>,
    practice: Option<Member>,
    /// The sides connected to other nodes (never the same side as a local member).
    remote_patient: Option<Remote>,
    remote_practice: Option<Remote>,
    admitted: bool,
}

/// A room event between nodes (JSON on the signal bus).
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    node: String,
    room: String,
    #[serde(flatten)]
    event: Event,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
enum Event {
    /// A new connection of `side` (any other connection of that side is replaced).
    Joined {
        side: String,
        instance: String,
        joined: Timestamp,
        admitted: bool,
    },
    /// The answer to `Joined` of a node holding the other side.
    Present {
        side: String,
        instance: String,
        joined: Timestamp,
        admitted: bool,
    },
    Left {
        side: String,
    },
    Admitted,
    Signal {
        to: String,
        data: serde_json::Value,
    },
    Hangup {
        side: String,
    },
    /// The practice ended the consultation from the desk.
    Ended,
}

fn side_of(name: &str) -> Option<Side> {
    match name {
        "patient" => Some(Side::Patient),
        "practice" => Some(Side::Practice),
        _ => None,
    }
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
    fn remote(&self, side: Side) -> &Option<Remote> {
        match side {
            Side::Patient => &self.remote_patient,
            Side::Practice => &self.remote_practice,
        }
    }
    fn remote_mut(&mut self, side: Side) -> &mut Option<Remote> {
        match side {
            Side::Patient => &mut self.remote_patient,
            Side::Practice => &mut self.remote_practice,
        }
    }
    /// Whether `side` is connected, here or on another node.
    fn present(&self, side: Side) -> bool {
        self.member(side).is_some() || self.remote(side).is_some()
    }
    /// The instance and arrival of `side`'s connection, wherever it is.
    fn presence(&self, side: Side) -> Option<(&str, Timestamp)> {
        match (self.member(side), self.remote(side)) {
            (Some(m), _) => Some((m.instance.as_str(), m.joined)),
            (None, Some(r)) => Some((r.instance.as_str(), r.joined)),
            (None, None) => None,
        }
    }
    fn in_call(&self) -> bool {
        self.admitted && self.present(Side::Patient) && self.present(Side::Practice)
    }
    fn has_local(&self) -> bool {
        self.patient.is_some() || self.practice.is_some()
    }

    /// The consultation is over: both sides here are told, and the patient is no longer
    /// admitted (coming back means waiting again).
    fn end(&mut self) {
        self.admitted = false;
        for side in [Side::Patient, Side::Practice] {
            if let Some(m) = self.member(side) {
                send(m, text(&ServerMsg::Ended));
            }
        }
        self.broadcast();
    }

    /// Tells both sides where the room stands.
    fn broadcast(&self) {
        for side in [Side::Patient, Side::Practice] {
            let Some(me) = self.member(side) else {
                continue;
            };
            let peer = self.presence(other(side));
            let waiting = (side == Side::Practice).then(|| match self.presence(Side::Patient) {
                Some((_, since)) if !self.admitted => vec![Waiting { since }],
                _ => Vec::new(),
            });
            send(
                me,
                text(&ServerMsg::State {
                    side: side_name(side),
                    admitted: self.admitted,
                    peer_present: peer.is_some(),
                    in_call: self.in_call(),
                    peer_instance: peer.map(|(instance, _)| instance),
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
    /// With several nodes: this node's name on the bus and the queue of envelopes to
    /// publish (in order, by one task).
    relay: OnceLock<(String, mpsc::UnboundedSender<String>)>,
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
        // A patient who reconnects (here or through another node) keeps their place.
        let joined = room.presence(side).map_or(now, |(_, at)| at);
        *room.remote_mut(side) = None;
        let slot = room.member_mut(side);
        if let Some(old) = slot.take() {
            send(&old, text(&ServerMsg::Replaced));
            send(&old, Out::Close);
        }
        *slot = Some(Member {
            conn,
            instance: instance.clone(),
            tx,
            joined,
        });
        room.broadcast();
        let admitted = room.admitted;
        self.publish(
            appointment,
            Event::Joined {
                side: side_name(side).to_owned(),
                instance,
                joined,
                admitted,
            },
        );
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
            self.publish(
                &seat.appointment,
                Event::Left {
                    side: side_name(seat.side).to_owned(),
                },
            );
        }
        if !room.has_local() {
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
                if seat.side == Side::Practice && room.present(Side::Patient) && !room.admitted {
                    room.admitted = true;
                    room.broadcast();
                    self.publish(&seat.appointment, Event::Admitted);
                }
                After::Continue
            }
            ClientMsg::Signal { data } => {
                if room.in_call() {
                    let to = other(seat.side);
                    if let Some(peer) = room.member(to) {
                        send(peer, text(&ServerMsg::Signal { data: &data }));
                    } else if room.remote(to).is_some() {
                        self.publish(
                            &seat.appointment,
                            Event::Signal {
                                to: side_name(to).to_owned(),
                                data,
                            },
                        );
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
                self.publish(
                    &seat.appointment,
                    Event::Hangup {
                        side: side_name(seat.side).to_owned(),
                    },
                );
                if !room.has_local() {
                    inner.rooms.remove(&seat.appointment);
                }
                After::Close
            }
        }
    }

    /// The practice ends the consultation (from the desk, outside the call page): both
    /// sides' pages, on this node and the others, stop their call.
    pub fn end(&self, appointment: &str) {
        let mut inner = self.inner.lock();
        if let Some(room) = inner.rooms.get_mut(appointment) {
            room.end();
        }
        drop(inner);
        self.publish(appointment, Event::Ended);
    }

    /// Rooms with someone in them on this node (for metrics and tests).
    pub fn open_rooms(&self) -> usize {
        self.inner.lock().rooms.len()
    }

    /// Joins the other nodes of the database through `bus`: this node's room events are
    /// published there, and theirs are applied here.
    pub fn relay(self: &Arc<Self>, bus: Arc<dyn SignalBus>) {
        let node = uuid::Uuid::new_v4().simple().to_string();
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        if self.relay.set((node, tx)).is_err() {
            return;
        }
        let rooms = Arc::downgrade(self);
        bus.subscribe(Arc::new(move |raw: String| {
            if let Some(rooms) = rooms.upgrade() {
                rooms.apply(&raw);
            }
        }));
        // One task publishes in order; a failed publication is lost like a dropped
        // message (the pages renegotiate).
        tokio::spawn(async move {
            while let Some(envelope) = rx.recv().await {
                if let Err(e) = bus.publish(&envelope).await {
                    tracing::warn!(error = %e, "video: room event not relayed");
                }
            }
        });
    }

    /// Queues a room event for the other nodes (nothing with one node).
    fn publish(&self, room: &str, event: Event) {
        let Some((node, tx)) = self.relay.get() else {
            return;
        };
        let envelope = Envelope {
            node: node.clone(),
            room: room.to_owned(),
            event,
        };
        if let Ok(json) = serde_json::to_string(&envelope) {
            let _ = tx.send(json);
        }
    }

    /// Applies another node's room event to this node's connections of that room.
    fn apply(&self, raw: &str) {
        let Ok(env) = serde_json::from_str::<Envelope>(raw) else {
            tracing::debug!("video: unreadable room event ignored");
            return;
        };
        if self.relay.get().is_some_and(|(own, _)| *own == env.node) {
            return;
        }
        let mut inner = self.inner.lock();
        // Only rooms with a connection here care.
        let Some(room) = inner.rooms.get_mut(&env.room) else {
            return;
        };
        let mut answer = None;
        match env.event {
            Event::Joined {
                side,
                instance,
                joined,
                admitted,
            } => {
                let Some(side) = side_of(&side) else { return };
                if let Some(old) = room.member_mut(side).take() {
                    send(&old, text(&ServerMsg::Replaced));
                    send(&old, Out::Close);
                }
                *room.remote_mut(side) = Some(Remote {
                    node: env.node.clone(),
                    instance,
                    joined,
                });
                room.admitted |= admitted;
                // Tell the newcomer's node who is here.
                if let Some(m) = room.member(other(side)) {
                    answer = Some(Event::Present {
                        side: side_name(other(side)).to_owned(),
                        instance: m.instance.clone(),
                        joined: m.joined,
                        admitted: room.admitted,
                    });
                }
                room.broadcast();
            }
            Event::Present {
                side,
                instance,
                joined,
                admitted,
            } => {
                let Some(side) = side_of(&side) else { return };
                if room.member(side).is_none() {
                    *room.remote_mut(side) = Some(Remote {
                        node: env.node.clone(),
                        instance,
                        joined,
                    });
                }
                room.admitted |= admitted;
                room.broadcast();
            }
            Event::Left { side } => {
                let Some(side) = side_of(&side) else { return };
                if room
                    .remote(side)
                    .as_ref()
                    .is_some_and(|r| r.node == env.node)
                {
                    *room.remote_mut(side) = None;
                    room.broadcast();
                }
            }
            Event::Admitted => {
                if room.present(Side::Patient) && !room.admitted {
                    room.admitted = true;
                    room.broadcast();
                }
            }
            Event::Signal { to, data } => {
                let Some(to) = side_of(&to) else { return };
                if room.in_call() {
                    if let Some(peer) = room.member(to) {
                        send(peer, text(&ServerMsg::Signal { data: &data }));
                    }
                }
            }
            Event::Hangup { side } => {
                let Some(side) = side_of(&side) else { return };
                room.admitted = false;
                if room
                    .remote(side)
                    .as_ref()
                    .is_some_and(|r| r.node == env.node)
                {
                    *room.remote_mut(side) = None;
                }
                if let Some(peer) = room.member(other(side)) {
                    send(peer, text(&ServerMsg::Hangup));
                }
                room.broadcast();
            }
            Event::Ended => room.end(),
        }
        drop(inner);
        if let Some(event) = answer {
            self.publish(&env.room, event);
        }
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
    fn the_practice_ends_the_consultation_for_both_sides() {
        let rooms = Rooms::default();
        let now = Timestamp::UNIX_EPOCH;
        let (ptx, mut prx) = chan();
        let (dtx, mut drx) = chan();
        rooms.join("a1", Side::Patient, "p".into(), ptx, now);
        let doc = rooms.join("a1", Side::Practice, "d".into(), dtx, now);
        rooms.receive(&doc, ClientMsg::Admit);
        drain(&mut prx);
        drain(&mut drx);
        rooms.end("a1");
        for rx in [&mut prx, &mut drx] {
            let msgs = drain(rx);
            assert_eq!(msgs[0], json!({"type": "ended"}));
            let s = last_state(&msgs);
            assert_eq!(
                (s["admitted"].clone(), s["in_call"].clone()),
                (json!(false), json!(false))
            );
        }
        // A room nobody is in: nothing to do.
        rooms.end("a2");
        assert_eq!(rooms.open_rooms(), 1);
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
