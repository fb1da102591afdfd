//! Teleconsultation fees and their payment: authorised at booking, captured after the
//! consultation, released when the appointment is cancelled.
//!
//! Order of operations at booking, so that neither money nor bookings are lost:
//! 1. hold the slot (a direct booking takes a hold first);
//! 2. record the payment as `pending` (a crash after this leaves a trace);
//! 3. authorise with an idempotency key derived from the hold (= appointment) id;
//! 4. book from the hold (same transaction as the client's Idempotency-Key row);
//! 5. if booking fails, cancel the authorisation.
//!
//! Whatever a crash or an unreachable provider leaves behind is settled later: the sweep
//! ([`Scheduling::settle_payments`]) captures authorised payments whose appointment has ended and
//! releases those whose appointment is no longer live (cancelled, expired hold, no-show);
//! webhooks reconcile the rest (an authorisation we never heard back from is released if
//! its appointment was not booked).

use super::{AppError, AppResult, Appointment, BookingInput, Caller, Holder, Scheduling};
use crate::consultation::Side;
use crate::payments::{
    idempotency_key, Authorisation, EventKind, IntentStatus, Operation, PaymentError, WebhookError,
};
use careslot_domain::*;
use careslot_store::*;
use jiff::Timestamp;
use std::collections::HashMap;
use std::sync::Arc;

/// Currencies a fee may be set in (the practices are in France, Germany and Italy).
pub const FEE_CURRENCIES: &[&str] = &["EUR"];
/// Stripe's minimum charge in euros, and a ceiling that catches typing mistakes.
pub const MIN_FEE_CENTS: i64 = 50;
pub const MAX_FEE_CENTS: i64 = 100_000;

/// Parses a fee given by a practitioner.
pub fn parse_fee(amount_cents: i64, currency: Option<&str>) -> Result<Fee, DomainError> {
    let currency = currency.unwrap_or("EUR").trim().to_ascii_uppercase();
    if !FEE_CURRENCIES.contains(&currency.as_str()) {
        return Err(DomainError::new("fee.currency", "must be EUR"));
    }
    if !(MIN_FEE_CENTS..=MAX_FEE_CENTS).contains(&amount_cents) {
        return Err(DomainError::new(
            "fee.amount_cents",
            "must be between 50 (0.50) and 100000 (1000.00)",
        ));
    }
    Ok(Fee {
        amount_cents,
        currency,
    })
}

/// What a booking has to pay, decided before anything is reserved.
#[derive(Debug, Clone)]
pub enum Charge {
    /// No fee (or not a teleconsultation).
    Free,
    /// The card is authorised now (the provider takes online payment).
    Online { agenda: AgendaId, fee: Fee },
    /// The fee is paid at the practice: recorded with the appointment.
    AtPractice { agenda: AgendaId, fee: Fee },
}

/// What one run of the sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SettleReport {
    pub captured: usize,
    pub released: usize,
    pub failed: usize,
    /// Left for the next run (provider unreachable).
    pub retry: usize,
}

impl Scheduling {
    // --- fees -------------------------------------------------------------------------------

    /// The fees of an agenda's motives.
    pub async fn motive_fees(&self, agenda: &AgendaId) -> AppResult<HashMap<MotiveId, Fee>> {
        Ok(self
            .store
            .motive_fees(agenda)
            .await?
            .into_iter()
            .map(|f| (f.motive_id, f.fee))
            .collect())
    }

    /// Sets or removes a motive's online fee. Only teleconsultation motives may carry one:
    /// a consultation in person is paid at the practice as it always was.
    pub async fn set_motive_fee(
        &self,
        caller: &Caller,
        agenda: &AgendaId,
        motive: &str,
        fee: Option<Fee>,
    ) -> AppResult<()> {
        let (_, agenda) = self.own_agenda(caller, agenda).await?;
        let view = self.view(&agenda.id).await?;
        let motive = view
            .motive(&MotiveId(motive.to_owned()))
            .ok_or(AppError::NotFound("motive"))?;
        if fee.is_some() && !motive.policy.teleconsultation {
            return Err(DomainError::new(
                "fee",
                "only teleconsultation motives take an online fee",
            )
            .into());
        }
        match self
            .store
            .set_motive_fee(&agenda.id, &motive.id, fee.as_ref())
            .await
        {
            // The motive stopped being a teleconsultation meanwhile.
            Err(StoreError::NotFound) => Err(DomainError::new(
                "fee",
                "only teleconsultation motives take an online fee",
            )
            .into()),
            other => Ok(other?),
        }
    }

    /// What booking `input` will cost the caller (reads the fee only for teleconsultations).
    pub async fn charge_for(&self, caller: &Caller, input: &BookingInput) -> AppResult<Charge> {
        let (agenda, motive) = match input {
            BookingInput::Direct {
                agenda_id,
                motive_id,
                ..
            } => (AgendaId(agenda_id.clone()), MotiveId(motive_id.clone())),
            BookingInput::FromHold { hold_id } => {
                let Some(row) = self
                    .store
                    .reservation(&ReservationId(hold_id.clone()))
                    .await?
                else {
                    return Ok(Charge::Free);
                };
                // Most agendas have no teleconsultation: skip opening the hold then.
                let view = self.view(&row.agenda_id).await?;
                if !view.motives.iter().any(|m| m.policy.teleconsultation) {
                    return Ok(Charge::Free);
                }
                match self.own_reservation(caller, hold_id).await {
                    Ok(hold) => (hold.row.agenda_id, hold.motive_id),
                    // The booking itself reports what is wrong with the hold.
                    Err(_) => return Ok(Charge::Free),
                }
            }
        };
        let Some(view) = self.agendas.get(&agenda).await? else {
            return Ok(Charge::Free);
        };
        if !view
            .motive(&motive)
            .is_some_and(|m| m.policy.teleconsultation)
        {
            return Ok(Charge::Free);
        }
        let Some(fee) = self.motive_fees(&agenda).await?.remove(&motive) else {
            return Ok(Charge::Free);
        };
        Ok(if self.payments.provider().online() {
            Charge::Online { agenda, fee }
        } else {
            Charge::AtPractice { agenda, fee }
        })
    }

    // --- booking ----------------------------------------------------------------------------

    /// Steps 1–3 of a paid booking: the hold to book from, with the card authorised.
    /// Returns the hold id and whether the hold was taken here (to give it back on failure).
    pub async fn authorise_for_booking(
        &self,
        caller: &Caller,
        input: BookingInput,
        agenda: &AgendaId,
        fee: &Fee,
        payment_method: Option<&str>,
    ) -> AppResult<(String, bool)> {
        let pm = payment_method
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .ok_or_else(|| {
                DomainError::new(
                    "payment_method",
                    "required: this teleconsultation is paid online (a Stripe PaymentMethod id)",
                )
            })?;
        if pm.len() > 255 || !pm.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(DomainError::new(
                "payment_method",
                "must be a PaymentMethod id such as pm_…",
            )
            .into());
        }
        let (hold_id, taken_here) = match input {
            BookingInput::Direct {
                agenda_id,
                motive_id,
                start,
            } => {
                let hold = self
                    .hold(Holder::Patient(caller), &agenda_id, &motive_id, &start)
                    .await?;
                (hold.row.id.to_string(), true)
            }
            BookingInput::FromHold { hold_id } => {
                let hold = self
                    .own_reservation(caller, &hold_id)
                    .await
                    .map_err(|e| match e {
                        AppError::NotFound(_) => AppError::NotFound("hold"),
                        e => e,
                    })?;
                if hold.row.status != ReservationStatus::Held {
                    return Err(StoreError::Conflict(ConflictKind::NotLive).into());
                }
                if hold.row.expires_at.is_none_or(|t| t <= Timestamp::now()) {
                    return Err(StoreError::HoldExpired.into());
                }
                (hold_id, false)
            }
        };
        match self.authorise_hold(&hold_id, agenda, fee, pm).await {
            Ok(()) => Ok((hold_id, taken_here)),
            Err(e) => {
                if taken_here {
                    self.give_back_hold(&hold_id).await;
                }
                Err(e)
            }
        }
    }

    async fn authorise_hold(
        &self,
        hold_id: &str,
        agenda: &AgendaId,
        fee: &Fee,
        pm: &str,
    ) -> AppResult<()> {
        let provider = self.payments.provider();
        let id = ReservationId(hold_id.to_owned());
        let now = Timestamp::now();
        let pending = PaymentRow {
            reservation_id: id.clone(),
            agenda_id: agenda.clone(),
            provider: provider.name().to_owned(),
            intent_id: None,
            amount_cents: fee.amount_cents,
            currency: fee.currency.clone(),
            status: PaymentStatus::Pending,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_payment(&pending).await {
            Ok(()) => {}
            // A retry on the same hold: authorise again (same key: same answer) unless done.
            Err(StoreError::Conflict(ConflictKind::Duplicate)) => {
                match self.store.payment(&id).await?.map(|p| p.status) {
                    Some(PaymentStatus::Authorised) => return Ok(()),
                    Some(PaymentStatus::Pending | PaymentStatus::Failed) => {}
                    _ => return Err(StoreError::Conflict(ConflictKind::NotLive).into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
        let key = idempotency_key(Operation::Authorise, hold_id, Some(pm));
        let result = provider
            .authorise(&Authorisation {
                appointment_id: hold_id,
                amount_cents: fee.amount_cents,
                currency: &fee.currency,
                payment_method: pm,
                idempotency_key: &key,
            })
            .await;
        let intent = match result {
            Ok(i) => i,
            Err(e) => {
                tracing::info!(error = %e, "payment authorisation refused or failed");
                self.mark_failed(&id, None).await;
                return Err(e.into());
            }
        };
        if intent.status != IntentStatus::RequiresCapture {
            // Not a usable authorisation (still processing, say): give it back.
            let _ = provider
                .release(
                    &intent.id,
                    &idempotency_key(Operation::Release, hold_id, None),
                )
                .await;
            self.mark_failed(&id, Some(&intent.id)).await;
            return Err(PaymentError::Declined("not authorised".into()).into());
        }
        let moved = self
            .store
            .transition_payment(&PaymentTransition {
                reservation_id: &ReservationId(hold_id.to_owned()),
                from: &[PaymentStatus::Pending, PaymentStatus::Failed],
                to: PaymentStatus::Authorised,
                intent_id: Some(&intent.id),
                now: Timestamp::now(),
            })
            .await?;
        if moved.is_none() {
            // A webhook recorded it first: fine if it says authorised.
            let now_status = self
                .store
                .payment(&ReservationId(hold_id.to_owned()))
                .await?
                .map(|p| p.status);
            if now_status != Some(PaymentStatus::Authorised) {
                return Err(StoreError::Conflict(ConflictKind::NotLive).into());
            }
        }
        Ok(())
    }

    async fn mark_failed(&self, id: &ReservationId, intent: Option<&str>) {
        let _ = self
            .store
            .transition_payment(&PaymentTransition {
                reservation_id: id,
                from: &[PaymentStatus::Pending, PaymentStatus::Failed],
                to: PaymentStatus::Failed,
                intent_id: intent,
                now: Timestamp::now(),
            })
            .await;
    }

    /// Step 5: the booking failed after the card was authorised; cancel the authorisation
    /// (and the hold taken for it). What fails here is settled by the sweep.
    pub async fn undo_authorisation(&self, hold_id: &str, taken_here: bool) {
        if taken_here {
            self.give_back_hold(hold_id).await;
        }
        if let Err(e) = self
            .release_payment(&ReservationId(hold_id.to_owned()))
            .await
        {
            tracing::warn!(error = %e, "releasing an authorisation failed; the sweep will retry");
        }
    }

    /// Ends a hold taken for a paid booking that failed: it expires now (as an abandoned
    /// hold does), so the place is free at once and the patient's list shows nothing.
    async fn give_back_hold(&self, hold_id: &str) {
        let id = ReservationId(hold_id.to_owned());
        let now = Timestamp::now();
        match self.store.expire_hold_now(&id, now).await {
            Ok(true) => match self.store.expire_holds(now).await {
                Ok(agendas) => {
                    for a in &agendas {
                        self.agendas.invalidate(a);
                    }
                }
                Err(e) => tracing::warn!(error = %e, "expiring a hold failed; the sweeper will"),
            },
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "ending a hold failed; it expires by itself"),
        }
    }

    /// Records that a booked appointment's fee is paid at the practice.
    pub async fn record_at_practice(&self, a: &Appointment, agenda: AgendaId, fee: Fee) {
        let now = Timestamp::now();
        let row = PaymentRow {
            reservation_id: a.row.id.clone(),
            agenda_id: agenda,
            provider: "practice".into(),
            intent_id: None,
            amount_cents: fee.amount_cents,
            currency: fee.currency,
            status: PaymentStatus::AtPractice,
            created_at: now,
            updated_at: now,
        };
        match self.store.insert_payment(&row).await {
            Ok(()) | Err(StoreError::Conflict(ConflictKind::Duplicate)) => {}
            Err(e) => tracing::warn!(error = %e, "recording pay-at-the-practice failed"),
        }
    }

    // --- state, release, capture ------------------------------------------------------------

    /// The payment of an appointment, if it has one.
    pub async fn payment_of(&self, id: &ReservationId) -> AppResult<Option<PaymentRow>> {
        Ok(self.store.payment(id).await?)
    }

    /// Cancels the authorisation of an appointment (no-op unless it is authorised).
    pub async fn release_payment(&self, id: &ReservationId) -> AppResult<()> {
        let Some(p) = self.store.payment(id).await? else {
            return Ok(());
        };
        if p.status != PaymentStatus::Authorised {
            return Ok(());
        }
        self.settle(&p, false).await.map(|_| ())
    }

    /// Captures (`capture`) or releases one authorised payment; the new status, or `None`
    /// when the provider could not be reached (left for the next sweep).
    async fn settle(&self, p: &PaymentRow, capture: bool) -> AppResult<Option<PaymentStatus>> {
        let provider = self.payments.provider();
        let Some(intent) = p.intent_id.as_deref() else {
            return Ok(None);
        };
        let id = p.reservation_id.as_str();
        let result = if capture {
            provider
                .capture(intent, &idempotency_key(Operation::Capture, id, None))
                .await
        } else {
            provider
                .release(intent, &idempotency_key(Operation::Release, id, None))
                .await
        };
        let to = match result {
            Ok(i) => match i.status {
                IntentStatus::Succeeded => PaymentStatus::Captured,
                IntentStatus::Canceled => PaymentStatus::Released,
                _ => return Ok(None),
            },
            Err(PaymentError::Unavailable(e)) => {
                tracing::warn!(error = %e, "payment provider unavailable; will retry");
                return Ok(None);
            }
            Err(e) => {
                tracing::warn!(error = %e, capture, "settling a payment failed");
                PaymentStatus::Failed
            }
        };
        self.store
            .transition_payment(&PaymentTransition {
                reservation_id: &p.reservation_id,
                from: &[PaymentStatus::Authorised],
                to,
                intent_id: None,
                now: Timestamp::now(),
            })
            .await?;
        Ok(Some(to))
    }

    /// One run of the sweep at `now`: captures authorised payments whose appointment has
    /// ended, releases those whose appointment is no longer live. Tests call it with a
    /// `now` after the slot instead of waiting.
    pub async fn settle_payments(&self, now: Timestamp) -> AppResult<SettleReport> {
        let mut report = SettleReport::default();
        if !self.payments.provider().online() {
            return Ok(report);
        }
        for open in self.store.payments_to_settle(now, 200).await? {
            let capture = open.reservation_status == ReservationStatus::Booked;
            match self.settle(&open.payment, capture).await? {
                Some(PaymentStatus::Captured) => report.captured += 1,
                Some(PaymentStatus::Released) => report.released += 1,
                Some(_) => report.failed += 1,
                None => report.retry += 1,
            }
        }
        Ok(report)
    }

    /// Every 30 seconds, the sweep (only when payments are taken online).
    pub fn spawn_payment_sweeper(self: &Arc<Self>) {
        if !self.payments.provider().online() {
            return;
        }
        let app = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(app) = app.upgrade() else { return };
                match app.settle_payments(Timestamp::now()).await {
                    Ok(r) if r != SettleReport::default() => tracing::info!(
                        captured = r.captured,
                        released = r.released,
                        failed = r.failed,
                        retry = r.retry,
                        "payments settled"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "payment sweep failed; will retry"),
                }
            }
        });
    }

    // --- cancellation by the practice ---------------------------------------------------------

    /// The practice (practitioner or assistant) cancels an appointment that has not ended;
    /// an authorised payment is released. Patients get 403; anyone else 404.
    pub async fn practice_cancel(&self, caller: &Caller, id: &str) -> AppResult<Appointment> {
        let p = self.participation(caller, id).await?;
        if p.side != Side::Practice {
            return Err(AppError::Forbidden(
                "only the practice can cancel this way; patients use /appointments/{id}/cancel",
            ));
        }
        let a = p.appointment;
        match a.row.status {
            ReservationStatus::Cancelled => {
                self.release_or_log(&a.row.id).await;
                return Ok(a);
            }
            ReservationStatus::Booked if a.row.end <= Timestamp::now() => {
                return Err(AppError::Conflict(
                    "already-ended",
                    "an appointment that has ended cannot be cancelled".into(),
                ))
            }
            ReservationStatus::Booked => {}
            _ => return Err(StoreError::Conflict(ConflictKind::NotLive).into()),
        }
        let outbox = match &a.patient {
            Some(patient) => {
                let view = self.view(&a.row.agenda_id).await?;
                self.outbox_for(
                    crate::notify::Event::CancelledByPractice,
                    &view,
                    patient,
                    &a.row.id,
                    a.row.start,
                    a.row.end,
                )
                .await
            }
            None => OutboxWrite::default(),
        };
        let out = self
            .store
            .cancel_with(&a.row.id, Timestamp::now(), &outbox)
            .await;
        self.agendas.invalidate(&a.row.agenda_id);
        let row = match out? {
            Some(row) => {
                self.wake_outbox(&outbox);
                row
            }
            None => unchanged_by_cancel(
                self.store
                    .reservation(&a.row.id)
                    .await?
                    .ok_or(AppError::NotFound("appointment"))?,
            )?,
        };
        // A dose implies the ones after it, as when the patient cancels.
        for later in self.store.series_of(&a.row.id).await? {
            if later.start > a.row.start && later.status == ReservationStatus::Booked {
                let out = self.store.cancel(&later.id, Timestamp::now()).await;
                self.agendas.invalidate(&later.agenda_id);
                out?;
            }
        }
        self.release_or_log(&a.row.id).await;
        Ok(Appointment { row, ..a })
    }

    /// Releases now if possible; otherwise the sweep does it (the appointment is cancelled).
    pub async fn release_or_log(&self, id: &ReservationId) {
        if let Err(e) = self.release_payment(id).await {
            tracing::warn!(error = %e, "releasing a payment failed; the sweep will retry");
        }
    }

    // --- webhooks ---------------------------------------------------------------------------

    /// A provider's webhook: verified, refused if replayed, then reconciled.
    pub async fn payment_webhook(
        &self,
        headers: &axum::http::HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> AppResult<()> {
        let provider = self.payments.provider();
        let event = provider.webhook_event(headers, body, now)?;
        let name = provider.name();
        if event.id.is_empty() || event.id.len() > 255 {
            return Err(WebhookError::BadPayload.into());
        }
        if self.store.payment_event_seen(name, &event.id).await? {
            return Err(WebhookError::Replayed.into());
        }
        if let Some(intent) = &event.intent {
            self.reconcile(&event.kind, intent).await?;
        }
        // Recorded after processing: a failure above lets the provider deliver it again.
        if !self
            .store
            .record_payment_event(name, &event.id, now)
            .await?
        {
            return Err(WebhookError::Replayed.into());
        }
        Ok(())
    }

    async fn reconcile(&self, kind: &EventKind, intent: &crate::payments::Intent) -> AppResult<()> {
        let payment = match self.store.payment_by_intent(&intent.id).await? {
            Some(p) => Some(p),
            // An authorisation we never heard back from: found by its appointment id.
            None => match &intent.appointment_id {
                Some(a) => self
                    .store
                    .payment(&ReservationId(a.clone()))
                    .await?
                    .filter(|p| {
                        p.intent_id.is_none() || p.intent_id.as_deref() == Some(&intent.id)
                    }),
                None => None,
            },
        };
        let Some(p) = payment else {
            // Not ours (another integration on the same account): acknowledged.
            return Ok(());
        };
        let (from, to): (&[PaymentStatus], PaymentStatus) = match kind {
            EventKind::Succeeded => (
                &[
                    PaymentStatus::Pending,
                    PaymentStatus::Authorised,
                    PaymentStatus::Failed,
                ],
                PaymentStatus::Captured,
            ),
            EventKind::Canceled => (
                &[
                    PaymentStatus::Pending,
                    PaymentStatus::Authorised,
                    PaymentStatus::Failed,
                ],
                PaymentStatus::Released,
            ),
            EventKind::Failed => (&[PaymentStatus::Pending], PaymentStatus::Failed),
            EventKind::Authorised => {
                if !matches!(p.status, PaymentStatus::Pending | PaymentStatus::Failed) {
                    return Ok(());
                }
                // Keep it only if its appointment is booked or its hold still live.
                let live = self
                    .store
                    .reservation(&p.reservation_id)
                    .await?
                    .is_some_and(|r| match r.status {
                        ReservationStatus::Booked => true,
                        ReservationStatus::Held => {
                            r.expires_at.is_some_and(|t| t > Timestamp::now())
                        }
                        _ => false,
                    });
                let moved = self
                    .store
                    .transition_payment(&PaymentTransition {
                        reservation_id: &p.reservation_id,
                        from: &[PaymentStatus::Pending, PaymentStatus::Failed],
                        to: PaymentStatus::Authorised,
                        intent_id: Some(&intent.id),
                        now: Timestamp::now(),
                    })
                    .await?;
                if let (Some(row), false) = (moved, live) {
                    // The booking never happened: nothing may stay held on the card.
                    self.settle(&row, false).await?;
                }
                return Ok(());
            }
            EventKind::Other(_) => return Ok(()),
        };
        self.store
            .transition_payment(&PaymentTransition {
                reservation_id: &p.reservation_id,
                from,
                to,
                intent_id: Some(&intent.id),
                now: Timestamp::now(),
            })
            .await?;
        Ok(())
    }
}

/// A cancellation that changed nothing: fine when somebody cancelled it meanwhile; a 409 when
/// the practice has started the visit (the store keeps such an appointment), never a 200 that
/// looks like a cancellation.
pub(crate) fn unchanged_by_cancel(row: ReservationRow) -> AppResult<ReservationRow> {
    if row.status == ReservationStatus::Cancelled {
        return Ok(row);
    }
    if row.visit_step() != VisitStep::Booked {
        return Err(AppError::Conflict(
            "visit-started",
            "the practice has started this visit: it cannot be cancelled".into(),
        ));
    }
    Err(StoreError::Conflict(ConflictKind::NotLive).into())
}
