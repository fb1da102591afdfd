//! The front door: a bounded pool for password hashing, throttling of sign-in, sign-up and
//! operator authentication (counters in the database, shared by every node), the client's
//! address behind trusted proxies, and the password policy.
//!
//! Throttling policy (documented in the README): every failure of a key (an account, as a
//! keyed hash of its normalized email, or a client address, also keyed-hashed) is counted;
//! the first `free` failures cost nothing, then each further failure blocks the key for
//! `base`, 2·`base`, 4·`base`… up to `cap`. While a key is blocked every attempt is refused
//! with 429 before any password is checked, the right password included. A successful
//! sign-in forgets the account's failures (not the address's); a counter whose last failure
//! is older than `forget_after` starts again from zero.

use crate::{Accounts, AppError, AppResult};
use axum::http::HeaderMap;
use careslot_domain::DomainError;
use careslot_store::{Role, StoreError};
use jiff::{SignedDuration, Timestamp};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::{Semaphore, TryAcquireError};

/// Minimum length of a patient's password (the API contract's 10 characters).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Minimum length of a practice account's password (practitioners, assistants).
pub const MIN_PRACTICE_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The strength estimate only looks at this many characters (it grows fast with length, and
/// a longer password is not weaker than its start).
const STRENGTH_PREFIX_CHARS: usize = 64;
/// Lowest accepted zxcvbn score (0–4): 3 = "safely unguessable", about 10^10 guesses.
const MIN_STRENGTH_SCORE: u8 = 3;

/// Exponential backoff of one kind of counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures that cost nothing.
    pub free: u32,
    /// The block after the first failure beyond `free`; it doubles with each further one.
    pub base: SignedDuration,
    /// The longest block.
    pub cap: SignedDuration,
}

impl Backoff {
    /// How long a key is refused after its `failures`-th failure (None: not at all).
    pub fn delay_after(&self, failures: u32) -> Option<SignedDuration> {
        if failures <= self.free {
            return None;
        }
        let doublings = (failures - self.free - 1).min(40);
        let base = self.base.as_secs().max(1);
        let secs = base.saturating_mul(1i64 << doublings.min(62));
        Some(SignedDuration::from_secs(
            secs.min(self.cap.as_secs().max(base)),
        ))
    }
}

/// Requests that may wait per hashing slot by default. A waiting request costs a few KiB
/// (the hashes' memory is bounded by the slots, not the queue); the wait is at most about
/// this many hashes' time (32 × 20–50 ms), and a burst of legitimate sign-ins fits.
pub const QUEUE_PER_SLOT: usize = 32;

/// What the front door allows before it says "later".
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failed sign-ins (and refused sign-ups) of one account.
    pub account: Backoff,
    /// Failed sign-ins, refused sign-ups and wrong operator tokens from one address.
    pub address: Backoff,
    /// A counter without failure for this long is forgotten.
    pub forget_after: SignedDuration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        let cap = SignedDuration::from_mins(15);
        let base = SignedDuration::from_secs(1);
        Self {
            account: Backoff { free: 5, base, cap },
            address: Backoff {
                free: 20,
                base,
                cap,
            },
            forget_after: SignedDuration::from_hours(24),
        }
    }
}

/// A proxy whose `X-Forwarded-For` is believed: one address or a CIDR block.
pub type TrustedProxy = ipnet::IpNet;

/// Parses `10.0.0.1`, `10.0.0.0/8`, `::1` or `fd00::/8`.
pub fn parse_trusted_proxy(raw: &str) -> Result<TrustedProxy, String> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("not an IP address or CIDR block: {raw}"))
}

/// Settings of the identity feature's front door.
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Argon2 computations running at once (each holds about 19 MiB while it runs).
    pub hashing_concurrency: usize,
    /// Requests waiting for a hashing slot; beyond, 503 with `Retry-After` (default
    /// [`QUEUE_PER_SLOT`] per slot).
    pub hashing_queue: usize,
    pub throttle: ThrottleConfig,
    /// Peers whose `X-Forwarded-For` names the client (else the socket's address counts).
    pub trusted_proxies: Vec<TrustedProxy>,
    /// Sessions of practitioners, assistants and operators end after this long without use.
    pub practice_idle_timeout: SignedDuration,
    /// Keep authenticated sessions in memory (where the store announces every session
    /// change to every node: PostgreSQL). Off: every request reads its session.
    pub session_cache: bool,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            hashing_concurrency: cores,
            hashing_queue: QUEUE_PER_SLOT * cores,
            throttle: ThrottleConfig::default(),
            trusted_proxies: Vec::new(),
            practice_idle_timeout: SignedDuration::from_mins(30),
            session_cache: true,
        }
    }
}

/// A password-hashing job, run on one of the pool's own threads.
type Job = Box<dyn FnOnce() + Send>;

/// At most `concurrency` password hashes at once, at most `queue` requests waiting for one.
///
/// The hashes run on `concurrency` threads of their own rather than on tokio's blocking
/// pool: Argon2 allocates about 19 MiB per hash, and the allocator keeps that memory in a
/// per-thread arena, so the number of threads that ever hashed bounds the resident memory.
/// On the blocking pool (hundreds of threads come and go) a flood left hundreds of MiB
/// behind; here it is `concurrency` × 19 MiB at most.
pub struct HashingPool {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    /// `None` when no thread could be started (then the blocking pool is used).
    jobs: Option<std::sync::Mutex<std::sync::mpsc::Sender<Job>>>,
}

/// Leaves the queue when dropped (also when the waiting request is cancelled).
struct InQueue<'a>(&'a AtomicUsize);

impl Drop for InQueue<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

const BUSY: AppError = AppError::Busy { retry_after_s: 1 };

fn hashing_failed() -> AppError {
    AppError::Store(StoreError::Internal("hashing task failed".into()))
}

/// Password hashing runs below the requests' priority: when a login flood keeps every
/// hashing thread busy, bookings and health checks still get the cores first (measured with
/// `careslot bench login-flood`: booking p99 during a flood, see BENCHMARKS.md). Sign-ins
/// wait a little longer when the machine is saturated, which the queue bounds anyway.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // On Linux the nice value is per thread, and `who = 0` is the calling thread.
        // SAFETY: setpriority only reads its integer arguments.
        let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 10) };
        if done != 0 {
            tracing::warn!("cannot lower the password-hashing threads' priority");
        }
    }
}

impl HashingPool {
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let mut started = 0;
        for i in 0..concurrency {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("careslot-hash-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let next = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = next else { return };
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start a password-hashing thread"),
            }
        }
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: AtomicUsize::new(0),
            queue,
            jobs: (started > 0).then(|| std::sync::Mutex::new(tx)),
        }
    }

    /// Runs `work` on a hashing thread once a slot is free; `Busy` when the queue is full.
    /// The slot is held by the computation itself, so a client that goes away does not free
    /// it before the hash is done: the bound holds for the work actually running.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return Err(BUSY),
            Err(TryAcquireError::NoPermits) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(BUSY);
                }
                let _in_queue = InQueue(&self.waiting);
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| BUSY)?
            }
        };
        let Some(jobs) = &self.jobs else {
            return tokio::task::spawn_blocking(move || {
                let _permit = permit;
                work()
            })
            .await
            .map_err(|_| hashing_failed());
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = tx.send(work());
        });
        jobs.lock()
            .map_err(|_| hashing_failed())?
            .send(job)
            .map_err(|_| hashing_failed())?;
        rx.await.map_err(|_| hashing_failed())
    }
}

/// The doors that count failures (or requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    SignIn,
    SignUp,
    Operator,
    /// SMS verification codes sent for an account (each send counts).
    PhoneCode,
    /// Second-factor codes and re-authentication.
    SecondFactor,
    /// Instant sign-up codes entered, and sent again.
    SignUpCode,
    /// Password-reset requests.
    PasswordReset,
    /// Verification links asked for again from the sign-in page.
    VerificationLink,
    /// Prescription verification by pharmacists.
    PrescriptionCheck,
}

impl Door {
    fn scope(self) -> &'static str {
        match self {
            Door::SignIn => "signin",
            Door::SignUp => "signup",
            Door::Operator => "operator",
            Door::PhoneCode => "phonecode",
            Door::SecondFactor => "mfa",
            Door::SignUpCode => "signupcode",
            Door::PasswordReset => "reset",
            Door::VerificationLink => "verifylink",
            Door::PrescriptionCheck => "rxcheck",
        }
    }
}

/// Addresses of one IPv6 /64 belong to one client (a host gets a whole /64).
fn client_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0).to_string() + "/64"
            }
        },
    }
}

impl Accounts {
    /// The client's address: the socket's peer, or — when the peer is a trusted proxy — the
    /// nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_ip(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
        let peer = peer.map(|p| p.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let trusted = |ip: &IpAddr| self.identity.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = ip;
                    if !trusted(&ip) {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        client
    }

    fn account_key(&self, door: Door, email: &str) -> String {
        let normalized = email.trim().to_lowercase();
        let h = self
            .protect
            .keyed_hash("throttle.account", normalized.as_bytes());
        format!("{}:account:{h}", door.scope())
    }

    fn address_key(&self, door: Door, client: IpAddr) -> String {
        let h = self
            .protect
            .keyed_hash("throttle.address", client_bucket(client).as_bytes());
        format!("{}:address:{h}", door.scope())
    }

    /// The keys a door counts for this attempt: the account (when an email is given) and
    /// the client's address.
    pub(crate) fn throttle_keys(
        &self,
        door: Door,
        email: Option<&str>,
        client: IpAddr,
    ) -> (Option<String>, String) {
        (
            email.map(|e| self.account_key(door, e)),
            self.address_key(door, client),
        )
    }

    /// A cheap check before any password work: 429 while a key is blocked.
    pub(crate) async fn check_throttle(
        &self,
        account: Option<&str>,
        address: &str,
    ) -> AppResult<()> {
        let now = Timestamp::now();
        let keys: Vec<&str> = account.into_iter().chain([address]).collect();
        if let Some(until) = self.store.throttle_blocked_until(&keys, now).await? {
            let secs = until.as_second().saturating_sub(now.as_second()).max(1);
            return Err(AppError::TooManyAttempts {
                retry_after_s: u64::try_from(secs).unwrap_or(1),
            });
        }
        Ok(())
    }

    /// Counts a failure of `key` and blocks it when it has had its free failures.
    pub(crate) async fn count_failure(&self, key: &str, backoff: Backoff) -> AppResult<()> {
        let now = Timestamp::now();
        let forget_before = now
            .checked_sub(self.identity.throttle.forget_after)
            .unwrap_or(now);
        let failures = self.store.throttle_failure(key, now, forget_before).await?;
        if let Some(delay) = backoff.delay_after(failures) {
            let until = now.checked_add(delay).unwrap_or(now);
            self.store.throttle_block(key, until).await?;
        }
        Ok(())
    }

    /// Counts one failure on the account's and the address's counters.
    pub(crate) async fn count_failures(
        &self,
        account: Option<&str>,
        address: &str,
    ) -> AppResult<()> {
        let t = &self.identity.throttle;
        if let Some(a) = account {
            self.count_failure(a, t.account).await?;
        }
        self.count_failure(address, t.address).await
    }

    /// A door counted per client address only (pharmacists' prescription checks): 429 while
    /// the address is blocked; returns the counter's key for [`Accounts::door_failed`].
    pub async fn door_open(&self, door: Door, client: IpAddr) -> AppResult<String> {
        let (_, address) = self.throttle_keys(door, None, client);
        self.check_throttle(None, &address).await?;
        Ok(address)
    }

    /// Counts a failure behind a door opened with [`Accounts::door_open`].
    pub async fn door_failed(&self, key: &str) -> AppResult<()> {
        self.count_failure(key, self.identity.throttle.address)
            .await
    }

    /// Password-reset requests from `client`: each request counts on the address's and the
    /// email's counters (a mail is sent each time, so requests cannot be sent in a loop),
    /// checked before anything else; the answer is otherwise the same for any address.
    pub async fn request_password_reset_from(&self, email: &str, client: IpAddr) -> AppResult<()> {
        let (account, address) = self.throttle_keys(Door::PasswordReset, Some(email), client);
        self.check_throttle(account.as_deref(), &address).await?;
        self.count_failures(account.as_deref(), &address).await?;
        self.request_password_reset(email).await
    }

    /// Forgets old counters (run now and then; rows that block nothing any more).
    pub async fn purge_throttle(&self) -> AppResult<u64> {
        let now = Timestamp::now();
        let before = now
            .checked_sub(self.identity.throttle.forget_after)
            .unwrap_or(now);
        Ok(self.store.throttle_purge(before).await?)
    }
}

/// The password policy: length by kind of account, then a strength estimate (zxcvbn) that
/// also knows the account's own email and name. Messages name the field, never the value.
pub fn check_password(
    password: &str,
    role: Role,
    email: &str,
    name: &str,
) -> Result<(), DomainError> {
    let min = match role {
        Role::Patient => MIN_PASSWORD_CHARS,
        Role::Practitioner | Role::Assistant | Role::Operator => MIN_PRACTICE_PASSWORD_CHARS,
    };
    if password.chars().count() < min {
        return Err(DomainError::new(
            "password",
            format!("must be at least {min} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(DomainError::new("password", "must be at most 1024 bytes"));
    }
    let prefix: String = password.chars().take(STRENGTH_PREFIX_CHARS).collect();
    let local = email.split('@').next().unwrap_or("");
    let mut inputs: Vec<&str> = vec![email, local];
    inputs.extend(name.split_whitespace());
    let score = u8::from(zxcvbn::zxcvbn(&prefix, &inputs).score());
    if score < MIN_STRENGTH_SCORE {
        return Err(DomainError::new(
            "password",
            "is too easy to guess: avoid common words, names, dates, keyboard patterns and repetitions; a few unrelated words make a strong password",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_free_failures_up_to_the_cap() {
        let b = ThrottleConfig::default().account;
        let delays: Vec<Option<i64>> = (1..=17)
            .map(|n| b.delay_after(n).map(|d| d.as_secs()))
            .collect();
        assert_eq!(&delays[..5], &[None; 5]);
        assert_eq!(
            &delays[5..],
            &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900].map(Some)
        );
        assert_eq!(b.delay_after(u32::MAX).map(|d| d.as_secs()), Some(900));
    }

    #[test]
    fn weak_passwords_are_refused() {
        for weak in ["aaaaaaaaaa", "password12", "azertyuiop", "0123456789"] {
            let e = check_password(weak, Role::Patient, "jean@example.org", "Jean Dupont")
                .expect_err(weak);
            assert_eq!(e.field, "password");
            assert!(!e.message.contains(weak));
        }
        assert!(check_password(
            "violet-tram-harbour-42",
            Role::Patient,
            "jean@example.org",
            "Jean"
        )
        .is_ok());
        // Practice accounts need 12 characters.
        let e = check_password("Tq8#vL2!pZ", Role::Practitioner, "dr@example.org", "Dr X")
            .expect_err("short");
        assert_eq!(e.message, "must be at least 12 characters");
        assert!(check_password("Tq8#vL2!pZ", Role::Patient, "p@example.org", "P").is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_hashing_queue_answers_busy_at_once() {
        let pool = Arc::new(HashingPool::new(1, 1));
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let running = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(move || wait.recv().is_ok()).await })
        };
        while pool.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let queued = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 2).await })
        };
        while pool.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        // One running, one waiting: the next one is refused without waiting.
        assert!(matches!(
            pool.run(|| 3).await,
            Err(AppError::Busy { retry_after_s: 1 })
        ));
        release.send(()).expect("release");
        assert!(running.await.expect("task").expect("ran"));
        assert_eq!(queued.await.expect("task").expect("ran"), 2);
        assert_eq!(pool.run(|| 4).await.expect("free again"), 4);
    }

    #[test]
    fn addresses_behind_trusted_proxies() {
        assert_eq!(client_bucket("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(
            client_bucket("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
        assert!(parse_trusted_proxy("10.0.0.0/8").is_ok());
        assert!(parse_trusted_proxy("::1").is_ok());
        assert!(parse_trusted_proxy("proxy").is_err());
    }
}
