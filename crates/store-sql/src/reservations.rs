//! Holds and appointments. Every function is one transaction (single holds and bookings
//! share theirs through the group-commit writer below); the database's rules (exclusion
//! constraint or triggers, pool counters' conditional updates) have the last word on
//! overlap and capacity, and every change announces its agenda (`Backend::agenda_changed`).

use crate::outbox::{ConfirmationBatch, Outbox};
use crate::{internal, Backend, DbPool, DbRow, GroupReserve, GroupSeries, SqlStore, Tx};
use careslot_domain::{AccountId, AgendaId, MotiveId, ReservationId};
use careslot_store::codec::{self, pool_key};
use careslot_store::*;
use jiff::Timestamp;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

/// The SQL of holds and appointments on backend `B`: functions of the pool or transaction
/// they are given, called by [`SqlStore`]'s `Store` methods and by the group-commit writer.
pub struct Reservations<B>(PhantomData<B>);

/// What the group-commit writer does for one caller, with where to send the answer.
enum Job {
    Reserve(
        Box<ReserveRequest>,
        tokio::sync::oneshot::Sender<StoreResult<ReserveOutcome>>,
    ),
    Series(
        Box<SeriesRequest>,
        tokio::sync::oneshot::Sender<StoreResult<SeriesOutcome>>,
    ),
    BookSeries(
        BookSeriesRequest,
        tokio::sync::oneshot::Sender<StoreResult<Vec<ReservationRow>>>,
    ),
    CareSeries(
        Box<CareSeriesRequest>,
        tokio::sync::oneshot::Sender<StoreResult<CareSeriesOutcome>>,
    ),
    /// Shutdown: commit what was queued before this, then stop (answered once stopped).
    Stop(tokio::sync::oneshot::Sender<()>),
}

/// A job's answer, held until the transaction carrying it has committed.
// One per request, built once and moved once into its oneshot channel: boxing the larger
// variant would add an allocation per booking for nothing.
#[allow(clippy::large_enum_variant)]
enum Answer {
    Reserve(StoreResult<ReserveOutcome>),
    Rows(StoreResult<Vec<ReservationRow>>),
    Series(StoreResult<SeriesOutcome>),
    CareSeries(StoreResult<CareSeriesOutcome>),
}

/// What a series job did, before its answer: doses reserved by this request, or the doses
/// of the series its key named (and whether this request booked them from held).
enum SeriesDone {
    Reserved(Vec<ReservationRow>),
    Replayed(Vec<ReservationRow>, bool),
}

impl SeriesDone {
    fn outcome(self) -> SeriesOutcome {
        match self {
            SeriesDone::Reserved(rows) => SeriesOutcome {
                rows,
                replayed: false,
            },
            SeriesDone::Replayed(rows, _) => SeriesOutcome {
                rows,
                replayed: true,
            },
        }
    }
}

/// Group commit: holds, bookings and dose series queue here and one writer task commits them
/// together — each in its own savepoint, so one refused request (slot taken) does not affect
/// the others, and each caller hears its answer only after the transaction holding it
/// committed. Under load many requests share one commit (one fsync); alone, a request
/// commits at once (nothing waits for a batch to fill).
pub(crate) struct GroupCommit {
    /// One queue per writer; an agenda's requests always go to the same one.
    queues: Vec<tokio::sync::mpsc::Sender<Job>>,
    /// Told the size of every committed group (metrics), once someone asks to be.
    observer: Arc<OnceLock<GroupObserver>>,
}

/// Most requests one transaction carries.
const MAX_GROUP: usize = 128;

fn writer_stopped() -> StoreError {
    StoreError::Unavailable("the booking writer has stopped".into())
}

impl GroupCommit {
    /// Requests waiting in the writers' queues (not counting the groups being committed).
    pub(crate) fn queued(&self) -> usize {
        self.queues
            .iter()
            .map(|q| q.max_capacity() - q.capacity())
            .sum()
    }

    /// Calls `on_group` with the size of every group committed from now on (the first
    /// observer stays; metrics are registered once per process).
    pub(crate) fn observe(&self, on_group: GroupObserver) {
        let _ = self.observer.set(on_group);
    }

    /// Lets every writer commit what was queued before this call, then stops it; later
    /// requests get `Unavailable`. Returns once every writer has stopped.
    pub(crate) async fn stop(&self) {
        let mut acks = Vec::new();
        for q in &self.queues {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if q.send(Job::Stop(tx)).await.is_ok() {
                acks.push(rx);
            }
        }
        for ack in acks {
            let _ = ack.await;
        }
    }

    /// The writer of an agenda (or of a series, by its id).
    fn queue(&self, key: &str) -> &tokio::sync::mpsc::Sender<Job> {
        // FNV-1a: stable and cheap; only the spread matters.
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        &self.queues[(h % self.queues.len() as u64) as usize]
    }

    pub(crate) async fn reserve(&self, req: &ReserveRequest) -> StoreResult<ReserveOutcome> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue(req.agenda_id.as_str())
            .send(Job::Reserve(Box::new(req.clone()), tx))
            .await
            .map_err(|_| writer_stopped())?;
        rx.await.map_err(|_| writer_stopped())?
    }

    pub(crate) async fn series(&self, req: &SeriesRequest) -> StoreResult<SeriesOutcome> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let agenda = req
            .doses
            .first()
            .map_or("", |d| d.reservation.agenda_id.as_str());
        self.queue(agenda)
            .send(Job::Series(Box::new(req.clone()), tx))
            .await
            .map_err(|_| writer_stopped())?;
        rx.await.map_err(|_| writer_stopped())?
    }

    pub(crate) async fn care_series(
        &self,
        req: &CareSeriesRequest,
    ) -> StoreResult<CareSeriesOutcome> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue(req.agenda_id.as_str())
            .send(Job::CareSeries(Box::new(req.clone()), tx))
            .await
            .map_err(|_| writer_stopped())?;
        rx.await.map_err(|_| writer_stopped())?
    }

    pub(crate) async fn book_series(
        &self,
        req: &BookSeriesRequest,
    ) -> StoreResult<Vec<ReservationRow>> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.queue(&req.series_id)
            .send(Job::BookSeries(req.clone(), tx))
            .await
            .map_err(|_| writer_stopped())?;
        rx.await.map_err(|_| writer_stopped())?
    }
}

impl Job {
    fn fail(self, e: StoreError) {
        match self {
            Job::Reserve(_, w) => drop(w.send(Err(e))),
            Job::Series(_, w) => drop(w.send(Err(e))),
            Job::BookSeries(_, w) => drop(w.send(Err(e))),
            Job::CareSeries(_, w) => drop(w.send(Err(e))),
            Job::Stop(ack) => drop(ack.send(())),
        }
    }

    fn answer(self, a: Answer) {
        match (self, a) {
            (Job::Reserve(_, w), Answer::Reserve(r)) => drop(w.send(r)),
            (Job::Series(_, w), Answer::Series(r)) => drop(w.send(r)),
            (Job::BookSeries(_, w), Answer::Rows(r)) => drop(w.send(r)),
            (Job::CareSeries(_, w), Answer::CareSeries(r)) => drop(w.send(r)),
            (job, _) => job.fail(StoreError::Internal("group commit answer mismatch".into())),
        }
    }
}

/// What a group's jobs changed, announced once at the group's commit.
#[derive(Default)]
struct Touched<'a> {
    agendas: Vec<String>,
    /// The outbox writes of the jobs that stand, written together before the commit.
    outbox: Vec<&'a OutboxWrite>,
    /// Messages a job's outcome decided (a booked series' confirmation), written with them.
    decided: OutboxWrite,
}

impl<B: Backend> Reservations<B>
where
    for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
    for<'q> <B::Db as Database>::Arguments<'q>: IntoArguments<'q, B::Db>,
    for<'q> &'q str: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> &'q [u8]: Encode<'q, B::Db> + Type<B::Db>,
    for<'q> Option<&'q str>: Encode<'q, B::Db>,
    for<'q> Option<&'q [u8]>: Encode<'q, B::Db>,
    for<'q> Option<String>: Encode<'q, B::Db>,
    for<'q> Option<i64>: Encode<'q, B::Db>,
    for<'q, 'r> String: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> Vec<u8>: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> i64: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> f64: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'q, 'r> bool: Encode<'q, B::Db> + Decode<'r, B::Db> + Type<B::Db>,
    for<'s> &'s str: ColumnIndex<DbRow<B>>,
{
    /// Starts the writer on a thread of its own with its own small runtime: under a rush
    /// the request tasks saturate the server's runtime, and a writer queued behind them
    /// for each of its statements would make every booking wait (no priorities in tokio).
    /// The pool should be the writer's own (PostgreSQL) or the single writer (SQLite).
    pub(crate) fn start_group_commit(pools: Vec<DbPool<B>>) -> StoreResult<GroupCommit> {
        let mut queues = Vec::with_capacity(pools.len());
        let observer: Arc<OnceLock<GroupObserver>> = Arc::default();
        for (i, pool) in pools.into_iter().enumerate() {
            let observer = observer.clone();
            let (queue, mut rx) = tokio::sync::mpsc::channel::<Job>(4 * MAX_GROUP);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    StoreError::Internal(format!("cannot start the booking writer: {e}"))
                })?;
            std::thread::Builder::new()
                .name(format!("careslot-writer-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        while let Some(first) = rx.recv().await {
                            let (mut group, mut stop) = (Vec::new(), None);
                            match first {
                                Job::Stop(ack) => stop = Some(ack),
                                job => group.push(job),
                            }
                            while stop.is_none() && group.len() < MAX_GROUP {
                                match rx.try_recv() {
                                    Ok(Job::Stop(ack)) => stop = Some(ack),
                                    Ok(next) => group.push(next),
                                    Err(_) => break,
                                }
                            }
                            if !group.is_empty() {
                                Self::commit_group(&pool, group, &observer).await;
                            }
                            if let Some(ack) = stop {
                                // Whatever raced in after the stop is refused, not dropped.
                                rx.close();
                                while let Ok(job) = rx.try_recv() {
                                    job.fail(writer_stopped());
                                }
                                let _ = ack.send(());
                                break;
                            }
                        }
                    })
                })
                .map_err(|e| {
                    StoreError::Internal(format!("cannot start the booking writer: {e}"))
                })?;
            queues.push(queue);
        }
        if queues.is_empty() {
            return Err(StoreError::Internal("no booking writer".into()));
        }
        Ok(GroupCommit { queues, observer })
    }

    /// Runs the job inside the group's transaction.
    async fn run_job<'a>(tx: &mut Tx<B>, job: &'a Job, touched: &mut Touched<'a>) -> Answer {
        let agendas = &mut touched.agendas;
        match job {
            Job::Reserve(req, _) => {
                let out = Self::reserve_in(tx, req).await;
                if let Ok(o) = &out {
                    agendas.push(req.agenda_id.0.clone());
                    // A replay queued its messages the first time; a hold queues none.
                    if !o.replayed && req.hold_until.is_none() && !req.outbox.is_empty() {
                        touched.outbox.push(&req.outbox);
                    }
                }
                Answer::Reserve(out)
            }
            Job::Series(req, _) => {
                let out = Self::series_in(tx, req).await;
                match &out {
                    Ok(SeriesDone::Reserved(_)) => Self::series_reserved(touched, req),
                    // A replay sends nothing again, unless it booked a series left held.
                    Ok(SeriesDone::Replayed(rows, newly_booked)) => {
                        agendas.extend(rows.iter().map(|r| r.agenda_id.0.clone()));
                        if *newly_booked {
                            Self::confirm_series(touched, req.confirm_to.as_ref(), rows, req.now);
                        }
                    }
                    Err(_) => {}
                }
                Answer::Series(out.map(SeriesDone::outcome))
            }
            Job::BookSeries(req, _) => {
                let out = Self::book_series_in(tx, req).await;
                if let Ok((rows, newly_booked)) = &out {
                    agendas.extend(rows.iter().map(|r| r.agenda_id.0.clone()));
                    if *newly_booked {
                        Self::confirm_series(touched, req.confirm_to.as_ref(), rows, req.now);
                    }
                }
                Answer::Rows(out.map(|(rows, _)| rows))
            }
            Job::CareSeries(req, _) => {
                let out = Self::care_series_in(tx, req).await;
                // Only a booked series stands (and sends its one message); one with
                // conflicts is rolled back by its savepoint.
                if let Ok(CareSeriesOutcome::Booked(_)) = &out {
                    agendas.push(req.agenda_id.0.clone());
                    if !req.outbox.is_empty() {
                        touched.outbox.push(&req.outbox);
                    }
                }
                Answer::CareSeries(out)
            }
            Job::Stop(_) => Answer::Rows(Err(StoreError::Internal(
                "a stop is never part of a group".into(),
            ))),
        }
    }

    /// What a reserved series changed: its agendas, and its booked doses' messages (they
    /// ride on the doses' requests, so a refused series sends nothing).
    fn series_reserved<'a>(touched: &mut Touched<'a>, req: &'a SeriesRequest) {
        touched.outbox.extend(
            req.doses
                .iter()
                .filter(|d| d.reservation.hold_until.is_none())
                .map(|d| &d.reservation.outbox)
                .filter(|w| !w.is_empty()),
        );
        touched
            .agendas
            .extend(req.doses.iter().map(|d| d.reservation.agenda_id.0.clone()));
    }

    /// The group's series requests in one call where the backend can
    /// ([`Backend::series_group`]): their answers, by the job's place in the group; the
    /// requests it did not settle (a key seen before) are left to the per-job path.
    async fn series_group_in<'a>(
        tx: &mut Tx<B>,
        group: &'a [Job],
        answers: &mut [Option<Answer>],
        touched: &mut Touched<'a>,
    ) -> StoreResult<()> {
        let series: Vec<(usize, &'a SeriesRequest)> = group
            .iter()
            .enumerate()
            .filter_map(|(i, job)| match job {
                Job::Series(req, _) if !req.doses.is_empty() => Some((i, &**req)),
                _ => None,
            })
            .collect();
        if series.is_empty() {
            return Ok(());
        }
        let reqs: Vec<&SeriesRequest> = series.iter().map(|(_, r)| *r).collect();
        let Some(outcomes) = B::series_group(tx, &reqs).await? else {
            return Ok(());
        };
        if outcomes.len() != series.len() {
            return Err(StoreError::Internal(
                "series group: one outcome per request expected".into(),
            ));
        }
        for ((i, req), outcome) in series.into_iter().zip(outcomes) {
            if let GroupSeries::Done(out) = outcome {
                if out.is_ok() {
                    Self::series_reserved(touched, req);
                }
                answers[i] = Some(Answer::Series(out.map(|rows| SeriesOutcome {
                    rows,
                    replayed: false,
                })));
            }
        }
        Ok(())
    }

    /// The group's held series to book in one call where the backend can (see
    /// [`Backend::book_series_group`]); a backend without the call leaves their answers
    /// empty for the savepoint path.
    async fn book_series_group_in<'a>(
        tx: &mut Tx<B>,
        group: &'a [Job],
        answers: &mut [Option<Answer>],
        touched: &mut Touched<'a>,
    ) -> StoreResult<()> {
        let held: Vec<(usize, &'a BookSeriesRequest)> = group
            .iter()
            .enumerate()
            .filter_map(|(i, job)| match job {
                Job::BookSeries(req, _) => Some((i, req)),
                _ => None,
            })
            .collect();
        if held.is_empty() {
            return Ok(());
        }
        let reqs: Vec<&BookSeriesRequest> = held.iter().map(|(_, r)| *r).collect();
        let Some(outcomes) = B::book_series_group(tx, &reqs).await? else {
            return Ok(());
        };
        if outcomes.len() != held.len() {
            return Err(StoreError::Internal(
                "book series group: one outcome per request expected".into(),
            ));
        }
        for ((i, req), out) in held.into_iter().zip(outcomes) {
            if let Ok((rows, newly_booked)) = &out {
                touched
                    .agendas
                    .extend(rows.iter().map(|r| r.agenda_id.0.clone()));
                if *newly_booked {
                    Self::confirm_series(touched, req.confirm_to.as_ref(), rows, req.now);
                }
            }
            answers[i] = Some(Answer::Rows(out.map(|(rows, _)| rows)));
        }
        Ok(())
    }

    /// The group's single holds and bookings in one call where the backend can (see
    /// [`Backend::reserve_group`]); a replayed key, or a backend without the call, leaves
    /// the request's answer empty for the savepoint path.
    async fn reserve_group_in<'a>(
        tx: &mut Tx<B>,
        group: &'a [Job],
        answers: &mut [Option<Answer>],
        touched: &mut Touched<'a>,
    ) -> StoreResult<()> {
        let singles: Vec<(usize, &'a ReserveRequest)> = group
            .iter()
            .enumerate()
            .filter_map(|(i, job)| match job {
                Job::Reserve(req, _) => Some((i, &**req)),
                _ => None,
            })
            .collect();
        if singles.is_empty() {
            return Ok(());
        }
        let reqs: Vec<&ReserveRequest> = singles.iter().map(|(_, r)| *r).collect();
        let Some(outcomes) = B::reserve_group(tx, &reqs).await? else {
            return Ok(());
        };
        if outcomes.len() != singles.len() {
            return Err(StoreError::Internal(
                "reserve group: one outcome per request expected".into(),
            ));
        }
        for ((i, req), outcome) in singles.into_iter().zip(outcomes) {
            let GroupReserve::Done(out) = outcome else {
                continue;
            };
            if out.is_ok() {
                touched.agendas.push(req.agenda_id.0.clone());
                // A hold queues no message (its booking will).
                if req.hold_until.is_none() && !req.outbox.is_empty() {
                    touched.outbox.push(&req.outbox);
                }
            }
            answers[i] = Some(Answer::Reserve(out.map(|reservation| ReserveOutcome {
                reservation,
                replayed: false,
            })));
        }
        Ok(())
    }

    /// One hold or booking inside the caller's transaction (the group-commit writer runs many
    /// in one transaction, each under its own savepoint).
    async fn reserve_in(tx: &mut Tx<B>, req: &ReserveRequest) -> StoreResult<ReserveOutcome> {
        if let Some(replay) = Self::replay(tx, req.idempotency.as_ref()).await? {
            return Ok(replay);
        }
        let reservation = Self::insert_reservation(tx, req).await?;
        Self::record_idempotency(tx, req.idempotency.as_ref(), &req.id, req.now.as_second())
            .await?;
        // The booking's messages are queued by the group commit, for all the jobs that stand,
        // in one statement before the commit (see `commit_group`).
        Ok(ReserveOutcome {
            reservation,
            replayed: false,
        })
    }

    async fn commit_group(pool: &DbPool<B>, group: Vec<Job>, observer: &OnceLock<GroupObserver>) {
        let mut tx = match B::begin_write(pool).await {
            Ok(tx) => tx,
            Err(e) => {
                let msg = e.to_string();
                for job in group {
                    job.fail(StoreError::Unavailable(msg.clone()));
                }
                return;
            }
        };
        let mut answers: Vec<Option<Answer>> = group.iter().map(|_| None).collect();
        let mut touched = Touched::default();
        // The series, then the single holds and bookings, each kind in one call where the
        // backend can; then every job left, each under its own savepoint.
        let grouped = match Self::series_group_in(&mut tx, &group, &mut answers, &mut touched).await
        {
            Ok(()) => Self::reserve_group_in(&mut tx, &group, &mut answers, &mut touched).await,
            Err(e) => Err(e),
        };
        let grouped = match grouped {
            Ok(()) => Self::book_series_group_in(&mut tx, &group, &mut answers, &mut touched).await,
            Err(e) => Err(e),
        };
        if let Err(e) = grouped {
            let msg = e.to_string();
            for job in group {
                job.fail(StoreError::Unavailable(msg.clone()));
            }
            return;
        }
        for (job, answer) in group.iter().zip(answers.iter_mut()) {
            if answer.is_some() {
                continue;
            }
            match Self::savepoint(&mut tx, job, &mut touched).await {
                Ok(a) => *answer = Some(a),
                Err(e) => {
                    // The transaction itself is broken: nobody's work can be trusted.
                    let msg = e.to_string();
                    for job in group {
                        job.fail(StoreError::Unavailable(msg.clone()));
                    }
                    return;
                }
            }
        }
        // The messages of every job that stands, in one statement; then one announcement per
        // changed agenda for the whole group, and one to the outbox's workers. Bookings only
        // queue new messages: then both go together (one statement on PostgreSQL).
        let Touched {
            mut agendas,
            outbox,
            decided,
        } = touched;
        agendas.sort_unstable();
        agendas.dedup();
        let mut writes: Vec<&OutboxWrite> = outbox;
        if !decided.is_empty() {
            writes.push(&decided);
        }
        let only_new = writes
            .iter()
            .all(|w| w.delete_pending.is_empty() && w.notices.is_empty() && w.webhooks.is_empty());
        let written = if only_new {
            // The group's confirmations go as one batch row; anything else as rows of its own.
            let (confirmations, messages): (Vec<&NewOutboxMessage>, Vec<&NewOutboxMessage>) =
                writes
                    .iter()
                    .flat_map(|w| &w.enqueue)
                    .partition(|m| ConfirmationBatch::takes(m));
            let batch = ConfirmationBatch::of(&confirmations);
            match B::queue_and_announce(&mut tx, &messages, batch.as_ref(), &agendas).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    Self::queue_then_announce(&mut tx, &messages, batch.as_ref(), &agendas).await
                }
                Err(e) => Err(e),
            }
        } else {
            match Outbox::<B>::write_batch(&mut tx, &writes).await {
                Ok(()) => B::announce(&mut tx, &agendas, true).await,
                Err(e) => Err(e),
            }
        };
        if let Err(e) = written {
            let msg = e.to_string();
            for job in group {
                job.fail(StoreError::Unavailable(msg.clone()));
            }
            return;
        }
        // A failed COMMIT may have committed (the connection died after the server did): every
        // waiting request hears `Unavailable`, whose answer tells the client to retry with the
        // same Idempotency-Key, which replays what was committed or books it once.
        if let Err(e) = crate::commit::<B>(tx).await {
            let msg = e.to_string();
            for job in group {
                job.fail(StoreError::Unavailable(msg.clone()));
            }
            return;
        }
        // Counted before anyone hears an answer, so a caller's next scrape includes it.
        if let Some(on_group) = observer.get() {
            on_group(group.len());
        }
        for (job, answer) in group.into_iter().zip(answers) {
            match answer {
                Some(a) => job.answer(a),
                None => job.fail(StoreError::Internal(
                    "group commit: a job left unanswered".into(),
                )),
            }
        }
    }

    /// [`Backend::queue_and_announce`] in separate statements.
    async fn queue_then_announce(
        tx: &mut Tx<B>,
        messages: &[&NewOutboxMessage],
        batch: Option<&ConfirmationBatch>,
        agendas: &[String],
    ) -> StoreResult<()> {
        Outbox::<B>::insert_messages(tx, messages).await?;
        if let Some(batch) = batch {
            Outbox::<B>::insert_batch(tx, batch).await?;
        }
        B::announce(tx, agendas, !messages.is_empty() || batch.is_some()).await
    }

    /// One job of a group under its own savepoint: on failure only its own work is undone.
    async fn savepoint<'a>(
        tx: &mut Tx<B>,
        job: &'a Job,
        touched: &mut Touched<'a>,
    ) -> StoreResult<Answer> {
        sqlx::query("SAVEPOINT careslot_req")
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        let out = Self::run_job(tx, job, touched).await;
        let ok = match &out {
            Answer::Reserve(r) => r.is_ok(),
            Answer::Rows(r) => r.is_ok(),
            Answer::Series(r) => r.is_ok(),
            Answer::CareSeries(r) => matches!(r, Ok(CareSeriesOutcome::Booked(_))),
        };
        let end = if ok {
            "RELEASE SAVEPOINT careslot_req"
        } else {
            "ROLLBACK TO SAVEPOINT careslot_req"
        };
        sqlx::query(end)
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        Ok(out)
    }

    /// Takes one dose of `product` on `day` from its stock row; false when the day has no row
    /// or no dose left (the conditional update is the database's guard against overbooking).
    async fn take_dose(
        tx: &mut Tx<B>,
        agenda: &AgendaId,
        product: careslot_domain::VaccineProduct,
        day: &str,
    ) -> StoreResult<bool> {
        let taken = sqlx::query(
            "UPDATE dose_stock SET used = used + 1
              WHERE agenda_id = $1 AND product = $2 AND day = $3 AND used < doses",
        )
        .bind(agenda.as_str())
        .bind(product.code())
        .bind(day)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(B::rows_affected(taken) > 0)
    }

    /// Books (or holds) every dose of a series inside the caller's transaction, each consuming
    /// its day's stock, statement by statement: the reference path (SQLite runs it; PostgreSQL
    /// runs the same steps in one server-side function, see its migration 0007).
    pub async fn series_statements(
        tx: &mut Tx<B>,
        req: &SeriesRequest,
    ) -> StoreResult<Vec<ReservationRow>> {
        let mut rows = Vec::with_capacity(req.doses.len());
        for (i, dose) in req.doses.iter().enumerate() {
            let r = &dose.reservation;
            rows.push(Self::insert_reservation(tx, r).await?);
            let day = dose.day.to_string();
            if !Self::take_dose(tx, &r.agenda_id, dose.product, &day).await? {
                // A day without its own stock takes the centre's policy (migration 0055):
                // only then, so a day that has its row pays no extra statement.
                sqlx::query(
                    "INSERT INTO dose_stock (agenda_id, product, day, doses, used, explicit)
                     SELECT agenda_id, product, $3, doses, 0, $4 FROM stock_policies
                      WHERE agenda_id = $1 AND product = $2
                     ON CONFLICT (agenda_id, product, day) DO NOTHING",
                )
                .bind(r.agenda_id.as_str())
                .bind(dose.product.code())
                .bind(&day)
                .bind(false)
                .execute(&mut **tx)
                .await
                .map_err(B::map_err)?;
                if !Self::take_dose(tx, &r.agenda_id, dose.product, &day).await? {
                    return Err(StoreError::Conflict(ConflictKind::StockExhausted));
                }
            }
            // The dose's series and the stock it holds, on its own row (migration 0077).
            sqlx::query(
                "UPDATE reservations SET vaccine_series = $2, vaccine_dose = $3, vaccine_protocol = $4,
                                         stock_product = $5, stock_day = $6
                  WHERE id = $1",
            )
            .bind(r.id.as_str())
            .bind(&req.id)
            .bind(i as i64 + 1)
            .bind(i64::from(req.protocol_version))
            .bind(dose.product.code())
            .bind(&day)
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        }
        Ok(rows)
    }

    /// Books or holds the doses of a series request; with a key, records it first, and a
    /// key seen before with the same request answers its series instead (booking it if a
    /// server that held doses first left it held).
    async fn series_in(tx: &mut Tx<B>, req: &SeriesRequest) -> StoreResult<SeriesDone> {
        if let Some(key) = &req.key {
            let now = req.now.as_second();
            if let Some(series) = Self::record_series_key_in(tx, key, &req.id, now).await? {
                let patient_bidx = req
                    .doses
                    .first()
                    .map(|d| d.reservation.patient_bidx)
                    .ok_or(StoreError::NotFound)?;
                let again = BookSeriesRequest {
                    series_id: series,
                    patient_bidx,
                    now: req.now,
                    confirm_to: None,
                    key: None,
                };
                let (rows, newly_booked) = Self::book_series_in(tx, &again).await?;
                return Ok(SeriesDone::Replayed(rows, newly_booked));
            }
        }
        Ok(SeriesDone::Reserved(B::reserve_series(tx, req).await?))
    }

    /// Queues a booked series' confirmation (one intent on its first dose, composed when
    /// delivered from the series as it is then).
    fn confirm_series(
        touched: &mut Touched<'_>,
        to: Option<&AccountId>,
        rows: &[ReservationRow],
        now: Timestamp,
    ) {
        let (Some(to), Some(first)) = (to, rows.iter().min_by_key(|r| r.start)) else {
            return;
        };
        touched.decided.enqueue.push(NewOutboxMessage::intent(
            IntentKind::Confirmation,
            to.clone(),
            first.id.clone(),
            first.start,
            confirmation_key(&first.id),
            now,
            now,
        ));
    }

    /// Books a held series, all its doses or none: its doses, and whether they were held until
    /// now (false when the series was booked already and is only asked for again, which
    /// answers the same appointments and books nothing new).
    async fn book_series_in(
        tx: &mut Tx<B>,
        req: &BookSeriesRequest,
    ) -> StoreResult<(Vec<ReservationRow>, bool)> {
        if let Some(key) = &req.key {
            let now = req.now.as_second();
            let recorded = Self::record_series_key_in(tx, key, &req.series_id, now).await?;
            // The same request names the same hold; anything else is another request.
            if recorded.is_some_and(|s| s != req.series_id) {
                return Err(StoreError::IdempotencyMismatch);
            }
        }
        let rows = sqlx::query(
            "SELECT * FROM reservations WHERE vaccine_series = $1 AND patient_bidx = $2 ORDER BY vaccine_dose",
        )
        .bind(&req.series_id)
        .bind(req.patient_bidx)
        .fetch_all(&mut **tx)
        .await
        .map_err(B::map_err)?;
        let mut doses = Vec::with_capacity(rows.len());
        for row in &rows {
            doses.push(SqlStore::<B>::reservation_from_row(row)?);
        }
        if doses.is_empty() {
            return Err(StoreError::NotFound);
        }
        if doses.iter().all(|d| d.status == ReservationStatus::Booked) {
            return Ok((doses, false));
        }
        let now = req.now.as_second();
        for d in &doses {
            match d.status {
                ReservationStatus::Held if d.expires_at.is_some_and(|e| e.as_second() > now) => {}
                ReservationStatus::Held | ReservationStatus::Expired => {
                    return Err(StoreError::HoldExpired)
                }
                _ => return Err(StoreError::Conflict(ConflictKind::NotLive)),
            }
        }
        let mut booked = Vec::with_capacity(doses.len());
        for d in &doses {
            let row = sqlx::query(
                "UPDATE reservations SET status = 'booked', expires_at = NULL, updated_at = $2
                  WHERE id = $1 AND status = 'held' RETURNING *",
            )
            .bind(d.id.as_str())
            .bind(now)
            .fetch_optional(&mut **tx)
            .await
            .map_err(B::map_err)?
            .ok_or(StoreError::HoldExpired)?;
            booked.push(SqlStore::<B>::reservation_from_row(&row)?);
        }
        Ok((booked, true))
    }

    /// Ties the client's key to the series inside the booking's transaction (no read before,
    /// no commit of its own): None when recorded now. A key seen before must carry the same
    /// request (else `IdempotencyMismatch`): then the series it was recorded for.
    async fn record_series_key_in(
        tx: &mut Tx<B>,
        key: &SeriesKey,
        series_id: &str,
        now: i64,
    ) -> StoreResult<Option<String>> {
        let inserted = sqlx::query(
            "INSERT INTO series_idempotency (key_hash, request_hash, series_id, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(key.key_hash.as_str())
        .bind(key.request_hash.as_str())
        .bind(series_id)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        if B::rows_affected(inserted) > 0 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT request_hash, series_id FROM series_idempotency WHERE key_hash = $1",
        )
        .bind(key.key_hash.as_str())
        .fetch_one(&mut **tx)
        .await
        .map_err(B::map_err)?;
        let request: String = row.try_get("request_hash").map_err(internal)?;
        if request != key.request_hash {
            return Err(StoreError::IdempotencyMismatch);
        }
        Ok(Some(row.try_get("series_id").map_err(internal)?))
    }

    /// Inserts one reservation inside the caller's transaction: expires stale holds in the way,
    /// takes a pool place for a pooled motive, and lets the database refuse an overlap.
    pub(crate) async fn insert_reservation(
        tx: &mut Tx<B>,
        req: &ReserveRequest,
    ) -> StoreResult<ReservationRow> {
        let motive = sqlx::query(
            "SELECT duration_min, capacity FROM motives WHERE id = $1 AND agenda_id = $2",
        )
        .bind(req.motive_id.as_str())
        .bind(req.agenda_id.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(B::map_err)?
        .ok_or(StoreError::NotFound)?;
        let duration: i64 = motive.try_get("duration_min").map_err(internal)?;
        let capacity: i64 = motive.try_get("capacity").map_err(internal)?;
        let start_s = req.start.as_second();
        let end_s = start_s + duration * 60;
        let now = req.now.as_second();
        Self::expire_stale_holds(tx, req.agenda_id.as_str(), start_s, end_s, now).await?;
        if capacity > 1 {
            // The day's lines, when the centre changed them for that day.
            let lines: Option<i64> = match req.day {
                None => None,
                Some(day) => sqlx::query(
                    "SELECT lines FROM line_overrides WHERE agenda_id = $1 AND day = $2",
                )
                .bind(req.agenda_id.as_str())
                .bind(day.to_string())
                .fetch_optional(&mut **tx)
                .await
                .map_err(B::map_err)?
                .map(|r| r.try_get("lines"))
                .transpose()
                .map_err(internal)?,
            };
            Self::take_pool_place(
                tx,
                req.agenda_id.as_str(),
                start_s,
                end_s,
                lines.unwrap_or(capacity),
            )
            .await?;
        }
        let (status, expires_at) = match req.hold_until {
            Some(t) => ("held", Some(t.as_second())),
            None => ("booked", None),
        };
        let row = sqlx::query(
            "INSERT INTO reservations (id, agenda_id, motive_ct, patient_ct, patient_bidx, note_ct, start_s, end_s, pool, status,
                                       expires_at, created_at, updated_at, relative_ct)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13) RETURNING *",
        )
        .bind(req.id.as_str())
        .bind(req.agenda_id.as_str())
        .bind(&req.motive_ct)
        .bind(&req.patient_ct)
        .bind(req.patient_bidx)
        .bind(req.note_ct.as_deref())
        .bind(start_s)
        .bind(end_s)
        .bind(pool_key(capacity, req.id.as_str(), start_s, end_s))
        .bind(status)
        .bind(expires_at)
        .bind(now)
        .bind(req.relative_ct.as_deref())
        .fetch_one(&mut **tx)
        .await
        .map_err(B::map_err)?;
        SqlStore::<B>::reservation_from_row(&row)
    }

    pub(crate) async fn book_hold(
        pool: &DbPool<B>,
        req: &BookHoldRequest,
    ) -> StoreResult<ReserveOutcome> {
        let mut tx = B::begin_write(pool).await?;
        if let Some(replay) = Self::replay(&mut tx, req.idempotency.as_ref()).await? {
            return Ok(replay);
        }
        let row = sqlx::query("SELECT * FROM reservations WHERE id = $1")
            .bind(req.hold_id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?
            .ok_or(StoreError::NotFound)?;
        let hold = SqlStore::<B>::reservation_from_row(&row)?;
        match hold.status {
            ReservationStatus::Held => {}
            ReservationStatus::Expired => return Err(StoreError::HoldExpired),
            _ => return Err(StoreError::Conflict(ConflictKind::NotLive)),
        }
        let now = req.now.as_second();
        if hold.expires_at.is_some_and(|e| e.as_second() <= now) {
            // Too late: the place may have been given to someone else already. Leave the row
            // for the next writer on that range to expire.
            return Err(StoreError::HoldExpired);
        }
        let row = sqlx::query("UPDATE reservations SET status = 'booked', expires_at = NULL, updated_at = $2, note_ct = COALESCE($3, note_ct),
                                      relative_ct = COALESCE($4, relative_ct) WHERE id = $1 RETURNING *",
        )
            .bind(req.hold_id.as_str())
            .bind(now)
            .bind(req.note_ct.as_deref())
            .bind(req.relative_ct.as_deref())
            .fetch_one(&mut *tx)
            .await
            .map_err(B::map_err)?;
        let reservation = SqlStore::<B>::reservation_from_row(&row)?;
        Self::record_idempotency(&mut tx, req.idempotency.as_ref(), &req.hold_id, now).await?;
        // A hold that backed an earlier-slot offer consumes its subscription.
        crate::Alerts::<B>::offer_booked_in(&mut tx, req.hold_id.as_str()).await?;
        Outbox::<B>::apply_in(&mut tx, &req.outbox).await?;
        B::agenda_changed(&mut tx, reservation.agenda_id.as_str()).await?;
        crate::commit::<B>(tx).await?;
        Ok(ReserveOutcome {
            reservation,
            replayed: false,
        })
    }

    pub(crate) async fn cancel(
        pool: &DbPool<B>,
        id: &ReservationId,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Option<ReservationRow>> {
        let mut tx = B::begin_write(pool).await?;
        let Some(r) = Self::cancel_in(&mut tx, id, now, None).await? else {
            return Ok(None);
        };
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        B::agenda_changed(&mut tx, r.agenda_id.as_str()).await?;
        crate::commit::<B>(tx).await?;
        Ok(Some(r))
    }

    /// Cancels a held or booked reservation inside the caller's transaction (of `agenda`
    /// only, when given), giving its pool place and dose back; None when it was not live.
    pub(crate) async fn cancel_in(
        tx: &mut Tx<B>,
        id: &ReservationId,
        now: Timestamp,
        agenda: Option<&AgendaId>,
    ) -> StoreResult<Option<ReservationRow>> {
        let Some(row) = sqlx::query(
            "UPDATE reservations SET status = 'cancelled', updated_at = $2
              WHERE id = $1 AND status IN ('held', 'booked') AND ($3 = '' OR agenda_id = $3)
                AND arrived_at IS NULL AND consulting_at IS NULL AND done_at IS NULL
              RETURNING *",
        )
        .bind(id.as_str())
        .bind(now.as_second())
        .bind(agenda.map(|a| a.as_str()).unwrap_or(""))
        .fetch_optional(&mut **tx)
        .await
        .map_err(B::map_err)?
        else {
            return Ok(None);
        };
        let pool_name: String = row.try_get("pool").map_err(internal)?;
        let r = SqlStore::<B>::reservation_from_row(&row)?;
        if pool_name != r.id.as_str() {
            Self::release_pool_place(
                tx,
                r.agenda_id.as_str(),
                r.start.as_second(),
                r.end.as_second(),
            )
            .await?;
        }
        Self::release_stock(tx, &row).await?;
        // A booked place (not a hold: no expiry) that someone may be waiting for.
        if r.expires_at.is_none() {
            crate::Alerts::<B>::place_freed_in(
                tx,
                r.agenda_id.as_str(),
                r.start.as_second(),
                r.end.as_second(),
            )
            .await?;
        }
        Ok(Some(r))
    }

    pub(crate) async fn move_to(
        pool: &DbPool<B>,
        id: &ReservationId,
        motive: &MotiveId,
        start: Timestamp,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<ReservationRow> {
        let mut tx = B::begin_write(pool).await?;
        let row = sqlx::query(
            "SELECT r.*, m.duration_min, m.capacity FROM reservations r
               JOIN motives m ON m.id = $2 AND m.agenda_id = r.agenda_id
              WHERE r.id = $1",
        )
        .bind(id.as_str())
        .bind(motive.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?
        .ok_or(StoreError::NotFound)?;
        let current = SqlStore::<B>::reservation_from_row(&row)?;
        if current.status != ReservationStatus::Booked {
            return Err(StoreError::Conflict(ConflictKind::NotLive));
        }
        // Its own length once the practice changed it, else its motive's.
        let own: Option<i64> = row.try_get("own_duration_min").map_err(internal)?;
        let duration: i64 = match own {
            Some(d) => d,
            None => row.try_get("duration_min").map_err(internal)?,
        };
        let capacity: i64 = row.try_get("capacity").map_err(internal)?;
        let agenda = current.agenda_id.as_str();
        let (old_start, old_end) = (current.start.as_second(), current.end.as_second());
        let start_s = start.as_second();
        let end_s = start_s + duration * 60;
        if start_s == old_start {
            return Ok(current);
        }
        Self::expire_stale_holds(&mut tx, agenda, start_s, end_s, now.as_second()).await?;
        if capacity > 1 {
            Self::release_pool_place(&mut tx, agenda, old_start, old_end).await?;
            Self::take_pool_place(&mut tx, agenda, start_s, end_s, capacity).await?;
        }
        let row = sqlx::query("UPDATE reservations SET start_s = $2, end_s = $3, pool = $4, updated_at = $5 WHERE id = $1 RETURNING *")
            .bind(id.as_str())
            .bind(start_s)
            .bind(end_s)
            .bind(pool_key(capacity, id.as_str(), start_s, end_s))
            .bind(now.as_second())
            .fetch_one(&mut *tx)
            .await
            .map_err(B::map_err)?;
        let moved = SqlStore::<B>::reservation_from_row(&row)?;
        crate::Alerts::<B>::place_freed_in(&mut tx, agenda, old_start, old_end).await?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        B::agenda_changed(&mut tx, agenda).await?;
        crate::commit::<B>(tx).await?;
        Ok(moved)
    }

    /// A booked appointment's own length: its end moves, its start stays. Pooled places keep
    /// the pool's time (a resize would leave the pool). The overlap rule (trigger /
    /// exclusion constraint on `end_s`) refuses running into another live reservation.
    pub(crate) async fn resize(
        pool: &DbPool<B>,
        id: &ReservationId,
        minutes: u32,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<ReservationRow> {
        let mut tx = B::begin_write(pool).await?;
        let row = sqlx::query("SELECT * FROM reservations WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?
            .ok_or(StoreError::NotFound)?;
        let current = SqlStore::<B>::reservation_from_row(&row)?;
        if current.status != ReservationStatus::Booked {
            return Err(StoreError::Conflict(ConflictKind::NotLive));
        }
        let pool_name: String = row.try_get("pool").map_err(internal)?;
        if pool_name != id.as_str() {
            return Err(StoreError::Conflict(ConflictKind::CapacityExhausted));
        }
        let agenda = current.agenda_id.as_str();
        let (start_s, old_end) = (current.start.as_second(), current.end.as_second());
        let end_s = start_s + i64::from(minutes) * 60;
        if end_s > old_end {
            Self::expire_stale_holds(&mut tx, agenda, old_end, end_s, now.as_second()).await?;
        }
        // Conditional on the status read above: a concurrent change leaves it untouched.
        let row = sqlx::query(
            "UPDATE reservations SET end_s = $2, own_duration_min = $3, updated_at = $4
              WHERE id = $1 AND status = 'booked' AND start_s = $5 RETURNING *",
        )
        .bind(id.as_str())
        .bind(end_s)
        .bind(i64::from(minutes))
        .bind(now.as_second())
        .bind(start_s)
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?
        .ok_or(StoreError::Conflict(ConflictKind::NotLive))?;
        let resized = SqlStore::<B>::reservation_from_row(&row)?;
        if end_s < old_end {
            crate::Alerts::<B>::place_freed_in(&mut tx, agenda, end_s, old_end).await?;
        }
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        B::agenda_changed(&mut tx, agenda).await?;
        crate::commit::<B>(tx).await?;
        Ok(resized)
    }

    /// booked -> no_show gives the place back (a pooled one to its pool); no_show -> booked takes
    /// it again through the same overlap rule (trigger / exclusion constraint) and pool counter
    /// as any booking, so undoing a no-show never double-books.
    pub(crate) async fn set_no_show(
        pool: &DbPool<B>,
        id: &ReservationId,
        no_show: bool,
        by: Option<&AccountId>,
        now: Timestamp,
        outbox: &OutboxWrite,
    ) -> StoreResult<Option<ReservationRow>> {
        let mut tx = B::begin_write(pool).await?;
        let (from, to) = if no_show {
            ("booked", "no_show")
        } else {
            ("no_show", "booked")
        };
        // An arrived patient is no no-show (the arrival must be undone first).
        let Some(row) = sqlx::query(
            "SELECT * FROM reservations WHERE id = $1 AND status = $2
                AND arrived_at IS NULL AND consulting_at IS NULL AND done_at IS NULL",
        )
        .bind(id.as_str())
        .bind(from)
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?
        else {
            return Ok(None);
        };
        let pooled = row.try_get::<String, _>("pool").map_err(internal)? != id.as_str();
        let current = SqlStore::<B>::reservation_from_row(&row)?;
        let agenda = current.agenda_id.as_str();
        let (start_s, end_s) = (current.start.as_second(), current.end.as_second());
        if !no_show {
            Self::expire_stale_holds(&mut tx, agenda, start_s, end_s, now.as_second()).await?;
            if pooled {
                // The pool's counter exists since its first booking and carries its capacity.
                let counter = sqlx::query(
                    "SELECT capacity FROM pool_counters WHERE agenda_id = $1 AND start_s = $2 AND end_s = $3",
                )
                .bind(agenda)
                .bind(start_s)
                .bind(end_s)
                .fetch_optional(&mut *tx)
                .await
                .map_err(B::map_err)?
                .ok_or_else(|| codec::corrupt("pool counter"))?;
                let capacity: i64 = counter.try_get("capacity").map_err(internal)?;
                Self::take_pool_place(&mut tx, agenda, start_s, end_s, capacity).await?;
            }
        }
        // Conditional on the status read above: a concurrent change makes this a no-op and the
        // whole transaction (counter included) rolls back.
        let Some(row) = sqlx::query(
            "UPDATE reservations SET status = $3, updated_at = $4, no_show_at = $5
              WHERE id = $1 AND status = $2
                AND arrived_at IS NULL AND consulting_at IS NULL AND done_at IS NULL
              RETURNING *",
        )
        .bind(id.as_str())
        .bind(from)
        .bind(to)
        .bind(now.as_second())
        .bind(no_show.then_some(now.as_second()))
        .fetch_optional(&mut *tx)
        .await
        .map_err(B::map_err)?
        else {
            return Ok(None);
        };
        if no_show && pooled {
            Self::release_pool_place(&mut tx, agenda, start_s, end_s).await?;
        }
        let updated = SqlStore::<B>::reservation_from_row(&row)?;
        Self::log_visit_status(&mut tx, &updated, to, by, now).await?;
        Outbox::<B>::apply_in(&mut tx, outbox).await?;
        B::agenda_changed(&mut tx, agenda).await?;
        crate::commit::<B>(tx).await?;
        Ok(Some(updated))
    }

    /// Forward: the step's time is set (kept if already set), later steps cleared; back (an
    /// undo): later steps cleared. Only on a booked appointment, conditional on its status in
    /// the same statement (and the table's CHECKs refuse these times on anything not booked).
    pub(crate) async fn set_visit_step(
        pool: &DbPool<B>,
        id: &ReservationId,
        step: VisitStep,
        by: &AccountId,
        now: Timestamp,
    ) -> StoreResult<Option<ReservationRow>> {
        let sql = match step {
            VisitStep::Booked => {
                "UPDATE reservations SET arrived_at = NULL, consulting_at = NULL, done_at = NULL,
                        updated_at = $2 WHERE id = $1 AND status = 'booked' RETURNING *"
            }
            VisitStep::Arrived => {
                "UPDATE reservations SET arrived_at = COALESCE(arrived_at, $2), consulting_at = NULL,
                        done_at = NULL, updated_at = $2 WHERE id = $1 AND status = 'booked' RETURNING *"
            }
            VisitStep::InConsultation => {
                "UPDATE reservations SET consulting_at = COALESCE(consulting_at, $2), done_at = NULL,
                        updated_at = $2 WHERE id = $1 AND status = 'booked' RETURNING *"
            }
            VisitStep::Done => {
                "UPDATE reservations SET done_at = COALESCE(done_at, $2), updated_at = $2
                  WHERE id = $1 AND status = 'booked' RETURNING *"
            }
        };
        let mut tx = B::begin_write(pool).await?;
        let Some(row) = sqlx::query(sql)
            .bind(id.as_str())
            .bind(now.as_second())
            .fetch_optional(&mut *tx)
            .await
            .map_err(B::map_err)?
        else {
            return Ok(None);
        };
        let updated = SqlStore::<B>::reservation_from_row(&row)?;
        Self::log_visit_status(&mut tx, &updated, step.as_str(), Some(by), now).await?;
        B::agenda_changed(&mut tx, updated.agenda_id.as_str()).await?;
        crate::commit::<B>(tx).await?;
        Ok(Some(updated))
    }

    async fn log_visit_status(
        tx: &mut Tx<B>,
        r: &ReservationRow,
        status: &str,
        by: Option<&AccountId>,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO visit_status_log (reservation_id, agenda_id, status, at, by_account)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(r.id.as_str())
        .bind(r.agenda_id.as_str())
        .bind(status)
        .bind(now.as_second())
        .bind(by.map(|a| a.as_str()))
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    /// Gives a dose that just stopped being live (its status changed by the statement that
    /// returned `row`) back to its day's stock, once: the row stops naming the stock.
    async fn release_stock(tx: &mut Tx<B>, row: &DbRow<B>) -> StoreResult<()> {
        let product: Option<String> = row.try_get("stock_product").map_err(internal)?;
        let day: Option<String> = row.try_get("stock_day").map_err(internal)?;
        let (Some(product), Some(day)) = (product, day) else {
            return Ok(());
        };
        let id: String = row.try_get("id").map_err(internal)?;
        let agenda: String = row.try_get("agenda_id").map_err(internal)?;
        sqlx::query("UPDATE reservations SET stock_product = NULL, stock_day = NULL WHERE id = $1")
            .bind(&id)
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        sqlx::query(
            "UPDATE dose_stock SET used = used - 1 WHERE agenda_id = $1 AND product = $2 AND day = $3 AND used > 0",
        )
        .bind(agenda)
        .bind(product)
        .bind(day)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        Ok(())
    }

    /// A request seen before under the same key: the same reservation, or a mismatch.
    async fn replay(
        tx: &mut Tx<B>,
        idem: Option<&Idempotency>,
    ) -> StoreResult<Option<ReserveOutcome>> {
        let Some(idem) = idem else { return Ok(None) };
        let Some(row) = sqlx::query(
            "SELECT k.request_hash, r.* FROM idempotency_keys k JOIN reservations r ON r.id = k.reservation_id WHERE k.key_hash = $1",
        )
        .bind(&idem.key_hash)
        .fetch_optional(&mut **tx)
        .await
        .map_err(B::map_err)?
        else {
            return Ok(None);
        };
        let hash: String = row.try_get("request_hash").map_err(internal)?;
        if hash != idem.request_hash {
            return Err(StoreError::IdempotencyMismatch);
        }
        Ok(Some(ReserveOutcome {
            reservation: SqlStore::<B>::reservation_from_row(&row)?,
            replayed: true,
        }))
    }

    async fn record_idempotency(
        tx: &mut Tx<B>,
        idem: Option<&Idempotency>,
        reservation: &ReservationId,
        now: i64,
    ) -> StoreResult<()> {
        let Some(idem) = idem else { return Ok(()) };
        sqlx::query("INSERT INTO idempotency_keys (key_hash, request_hash, reservation_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&idem.key_hash)
            .bind(&idem.request_hash)
            .bind(reservation.as_str())
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        Ok(())
    }

    /// Every hold past its expiry stops holding anything: its pool place and its dose go back.
    /// Returns the agendas that changed.
    pub(crate) async fn expire_holds(
        pool: &DbPool<B>,
        now: Timestamp,
    ) -> StoreResult<Vec<AgendaId>> {
        let mut tx = B::begin_write(pool).await?;
        let expired = sqlx::query(
            "UPDATE reservations SET status = 'expired', updated_at = $1
              WHERE status = 'held' AND expires_at <= $1
              RETURNING id, agenda_id, pool, start_s, end_s, stock_product, stock_day",
        )
        .bind(now.as_second())
        .fetch_all(&mut *tx)
        .await
        .map_err(B::map_err)?;
        let mut agendas = Vec::new();
        for row in expired {
            let id: String = row.try_get("id").map_err(internal)?;
            let agenda: String = row.try_get("agenda_id").map_err(internal)?;
            let pool: String = row.try_get("pool").map_err(internal)?;
            if pool != id {
                let s: i64 = row.try_get("start_s").map_err(internal)?;
                let e: i64 = row.try_get("end_s").map_err(internal)?;
                Self::release_pool_place(&mut tx, &agenda, s, e).await?;
            }
            Self::release_stock(&mut tx, &row).await?;
            agendas.push(agenda);
        }
        agendas.sort_unstable();
        agendas.dedup();
        for a in &agendas {
            B::agenda_changed(&mut tx, a).await?;
        }
        crate::commit::<B>(tx).await?;
        Ok(agendas.into_iter().map(AgendaId).collect())
    }

    /// Holds past their expiry that overlap `[start, end)` stop occupying it, so a new
    /// reservation there does not trip the overlap trigger.
    pub(crate) async fn expire_stale_holds(
        tx: &mut Tx<B>,
        agenda: &str,
        start_s: i64,
        end_s: i64,
        now: i64,
    ) -> StoreResult<()> {
        let expired = sqlx::query(
            "UPDATE reservations SET status = 'expired', updated_at = $4
              WHERE agenda_id = $1 AND status = 'held' AND expires_at <= $4
                AND start_s > $2 - 86400 AND start_s < $3 AND end_s > $2
              RETURNING id, agenda_id, pool, start_s, end_s, stock_product, stock_day",
        )
        .bind(agenda)
        .bind(start_s)
        .bind(end_s)
        .bind(now)
        .fetch_all(&mut **tx)
        .await
        .map_err(B::map_err)?;
        for row in expired {
            let id: String = row.try_get("id").map_err(internal)?;
            let pool: String = row.try_get("pool").map_err(internal)?;
            if pool != id {
                let s: i64 = row.try_get("start_s").map_err(internal)?;
                let e: i64 = row.try_get("end_s").map_err(internal)?;
                Self::release_pool_place(tx, agenda, s, e).await?;
            }
            // A held vaccine dose gives its dose back to the day's stock.
            Self::release_stock(tx, &row).await?;
        }
        Ok(())
    }

    pub(crate) async fn take_pool_place(
        tx: &mut Tx<B>,
        agenda: &str,
        start_s: i64,
        end_s: i64,
        capacity: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO pool_counters (agenda_id, start_s, end_s, capacity, taken) VALUES ($1, $2, $3, $4, 0)
             ON CONFLICT (agenda_id, start_s, end_s) DO NOTHING",
        )
        .bind(agenda)
        .bind(start_s)
        .bind(end_s)
        .bind(capacity)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        let taken = sqlx::query(
            "UPDATE pool_counters SET taken = taken + 1 WHERE agenda_id = $1 AND start_s = $2 AND end_s = $3 AND taken < capacity",
        )
        .bind(agenda)
        .bind(start_s)
        .bind(end_s)
        .execute(&mut **tx)
        .await
        .map_err(B::map_err)?;
        if B::rows_affected(taken) == 0 {
            return Err(StoreError::Conflict(ConflictKind::CapacityExhausted));
        }
        Ok(())
    }

    pub(crate) async fn release_pool_place(
        tx: &mut Tx<B>,
        agenda: &str,
        start_s: i64,
        end_s: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE pool_counters SET taken = taken - 1 WHERE agenda_id = $1 AND start_s = $2 AND end_s = $3 AND taken > 0")
            .bind(agenda)
            .bind(start_s)
            .bind(end_s)
            .execute(&mut **tx)
            .await
            .map_err(B::map_err)?;
        Ok(())
    }
}
