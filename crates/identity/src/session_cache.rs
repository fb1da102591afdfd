//! Sessions this node has authenticated, kept in memory so that a request does not read
//! its session from the database (issue #20, point 2).
//!
//! A cached session is only ever used to say yes, and only while the store's announcements
//! are known to arrive. The store announces every session change (this process's writes as
//! they end; every node's through PostgreSQL's trigger and NOTIFY, migration 0072), and
//! each announcement drops what it names, so a sign-out, a revocation, a password change or
//! an erasure ends the session here as soon as it is heard. The cache is off where other
//! processes cannot be heard (SQLite: `Store::watch_sessions` says so).
//!
//! A read from the database races with announcements: a session read just before its
//! revocation was announced must not be cached after the announcement dropped it. Every
//! dropping announcement moves an epoch; a read is cached only if the epoch it started
//! under is still current.

use careslot_domain::AccountId;
use careslot_store::{Role, SessionSignal};
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a session read from the database is used before it is read again: bounds how
/// old its last use may be here while other nodes use it too (far below the idle timeout).
pub const ENTRY_LIFE: Duration = Duration::from_secs(30);

/// How long the cache is trusted after the last announcement it heard (the store sends a
/// heartbeat every 5 s): a listener that went silent without an error stops it here.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(15);

/// Beyond this many sessions, the cache starts over (memory stays bounded under a flood).
const MAX_ENTRIES: usize = 200_000;

/// What a cached session proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedSession {
    pub account: AccountId,
    pub role: Role,
    pub second_factor: bool,
    pub expires_at: Timestamp,
    /// Its last use as this node knows it (read, or written by this node since).
    pub last_used_at: Timestamp,
}

/// The epoch a database read started under (see the module's documentation).
#[derive(Clone, Copy, Debug)]
pub struct Ticket(u64);

struct Entry {
    session: CachedSession,
    read_at: Instant,
}

struct Inner {
    /// Announcements are heard (between `Resumed` and `Lost`).
    listening: bool,
    last_heard: Instant,
    epoch: u64,
    entries: HashMap<String, Entry>,
    by_account: HashMap<AccountId, Vec<String>>,
}

/// See the module's documentation.
pub struct SessionCache {
    inner: Mutex<Inner>,
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::new(Instant::now())
    }
}

impl SessionCache {
    /// An empty cache that trusts nothing until its first `Resumed`.
    pub fn new(now: Instant) -> Self {
        Self {
            inner: Mutex::new(Inner {
                listening: false,
                last_heard: now,
                epoch: 0,
                entries: HashMap::new(),
                by_account: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Nothing here panics while holding the lock; a poisoned lock still holds a
        // consistent map.
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Applies one of the store's announcements, heard at `now`.
    pub fn signal(&self, signal: SessionSignal, now: Instant) {
        let mut g = self.lock();
        match signal {
            SessionSignal::Alive => {
                g.last_heard = now;
                return;
            }
            SessionSignal::Account(account) => {
                for token in g.by_account.remove(&account).unwrap_or_default() {
                    g.entries.remove(&token);
                }
            }
            SessionSignal::Token(token) => g.remove(&token),
            SessionSignal::Everything => g.clear(),
            SessionSignal::Resumed => {
                g.clear();
                g.listening = true;
                g.last_heard = now;
            }
            SessionSignal::Lost => {
                g.clear();
                g.listening = false;
            }
        }
        g.epoch += 1;
    }

    /// The session of `token_hash` if it is cached, fresh, and announcements are heard.
    pub fn get(&self, token_hash: &str, now: Instant) -> Option<CachedSession> {
        let g = self.lock();
        if !g.trusted(now) {
            return None;
        }
        let e = g.entries.get(token_hash)?;
        (now.saturating_duration_since(e.read_at) < ENTRY_LIFE).then(|| e.session.clone())
    }

    /// Taken before reading a session from the database, to cache what is read.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().epoch)
    }

    /// Caches a session read from the database under `ticket`, unless an announcement came
    /// since the read began (it may have been about this session) or nothing is heard.
    pub fn insert(&self, ticket: Ticket, token_hash: &str, session: CachedSession, now: Instant) {
        let mut g = self.lock();
        if g.epoch != ticket.0 || !g.trusted(now) {
            return;
        }
        if g.entries.len() >= MAX_ENTRIES {
            g.clear();
        }
        let account = session.account.clone();
        let entry = Entry {
            session,
            read_at: now,
        };
        if g.entries.insert(token_hash.to_owned(), entry).is_none() {
            g.by_account
                .entry(account)
                .or_default()
                .push(token_hash.to_owned());
        }
    }

    /// Records a use this node wrote to the database.
    pub fn touched(&self, token_hash: &str, at: Timestamp) {
        if let Some(e) = self.lock().entries.get_mut(token_hash) {
            e.session.last_used_at = at;
        }
    }

    /// Sessions cached (for tests and metrics).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    fn trusted(&self, now: Instant) -> bool {
        self.listening && now.saturating_duration_since(self.last_heard) < SILENCE_LIMIT
    }

    fn remove(&mut self, token: &str) {
        let Some(e) = self.entries.remove(token) else {
            return;
        };
        if let Some(tokens) = self.by_account.get_mut(&e.session.account) {
            tokens.retain(|t| t != token);
            if tokens.is_empty() {
                self.by_account.remove(&e.session.account);
            }
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.by_account.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(account: &str) -> CachedSession {
        CachedSession {
            account: AccountId(account.to_owned()),
            role: Role::Patient,
            second_factor: false,
            expires_at: Timestamp::from_second(2_000_000_000).unwrap(),
            last_used_at: Timestamp::from_second(1_800_000_000).unwrap(),
        }
    }

    fn listening(t0: Instant) -> SessionCache {
        let c = SessionCache::new(t0);
        c.signal(SessionSignal::Resumed, t0);
        c
    }

    #[test]
    fn nothing_is_trusted_before_announcements_are_heard() {
        let t0 = Instant::now();
        let c = SessionCache::new(t0);
        c.insert(c.ticket(), "h1", session("a"), t0);
        assert_eq!(c.get("h1", t0), None);
        assert!(c.is_empty());
        c.signal(SessionSignal::Resumed, t0);
        c.insert(c.ticket(), "h1", session("a"), t0);
        assert_eq!(c.get("h1", t0), Some(session("a")));
    }

    #[test]
    fn announcements_drop_what_they_name() {
        let t0 = Instant::now();
        let c = listening(t0);
        for (token, account) in [("h1", "a"), ("h2", "a"), ("h3", "b"), ("h4", "c")] {
            c.insert(c.ticket(), token, session(account), t0);
        }
        c.signal(SessionSignal::Account(AccountId("a".into())), t0);
        assert_eq!(c.get("h1", t0), None);
        assert_eq!(c.get("h2", t0), None);
        assert_eq!(c.get("h3", t0), Some(session("b")));
        c.signal(SessionSignal::Token("h3".into()), t0);
        assert_eq!(c.get("h3", t0), None);
        assert_eq!(c.get("h4", t0), Some(session("c")));
        // A token dropped alone leaves no trace under its account.
        c.insert(c.ticket(), "h3", session("b"), t0);
        c.signal(SessionSignal::Account(AccountId("b".into())), t0);
        assert_eq!(c.get("h3", t0), None);
        c.signal(SessionSignal::Everything, t0);
        assert!(c.is_empty());
    }

    #[test]
    fn a_read_older_than_an_announcement_is_not_cached() {
        let t0 = Instant::now();
        let c = listening(t0);
        // A read begins; the session is revoked and announced before the read returns.
        let ticket = c.ticket();
        c.signal(SessionSignal::Account(AccountId("a".into())), t0);
        c.insert(ticket, "h1", session("a"), t0);
        assert_eq!(c.get("h1", t0), None);
        // Even an announcement about someone else: the cache cannot tell, so it declines.
        let ticket = c.ticket();
        c.signal(SessionSignal::Token("other".into()), t0);
        c.insert(ticket, "h1", session("a"), t0);
        assert!(c.is_empty());
        // A heartbeat is not a change.
        let ticket = c.ticket();
        c.signal(SessionSignal::Alive, t0);
        c.insert(ticket, "h1", session("a"), t0);
        assert_eq!(c.get("h1", t0), Some(session("a")));
    }

    #[test]
    fn silence_and_lost_connections_stop_the_cache() {
        let t0 = Instant::now();
        let c = listening(t0);
        c.insert(c.ticket(), "h1", session("a"), t0);
        let later = t0 + SILENCE_LIMIT;
        assert_eq!(c.get("h1", later), None, "nothing heard for too long");
        c.signal(SessionSignal::Alive, later);
        assert_eq!(c.get("h1", later), Some(session("a")), "heard again");
        // Read while the connection was up, cached after it was lost: refused.
        let ticket = c.ticket();
        c.signal(SessionSignal::Lost, later);
        assert_eq!(c.get("h1", later), None);
        c.insert(ticket, "h1", session("a"), later);
        c.insert(c.ticket(), "h1", session("a"), later);
        assert!(c.is_empty());
        // A heartbeat does not restore trust after a loss: only listening again does, and
        // it starts empty.
        c.signal(SessionSignal::Alive, later);
        c.insert(c.ticket(), "h1", session("a"), later);
        assert!(c.is_empty());
        c.signal(SessionSignal::Resumed, later);
        c.insert(c.ticket(), "h1", session("a"), later);
        assert_eq!(c.get("h1", later), Some(session("a")));
    }

    #[test]
    fn entries_are_read_again_after_their_life() {
        let t0 = Instant::now();
        let c = listening(t0);
        c.insert(c.ticket(), "h1", session("a"), t0);
        let mid = t0 + ENTRY_LIFE / 2;
        c.signal(SessionSignal::Alive, mid);
        let used = Timestamp::from_second(1_900_000_000).unwrap();
        c.touched("h1", used);
        assert_eq!(c.get("h1", mid).map(|s| s.last_used_at), Some(used));
        let end = t0 + ENTRY_LIFE;
        c.signal(SessionSignal::Alive, end);
        assert_eq!(c.get("h1", end), None);
    }
}
